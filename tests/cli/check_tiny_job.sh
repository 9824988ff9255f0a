#!/usr/bin/env bash
# check_tiny_job.sh CMD...: run the tiny default job; pass iff it succeeds and its final loss is
# below 40% of the first step's (the synthetic language goes from ln 256 = 5.5 to about 1.3).
set -eu
prev=""; out=""
for a in "$@"; do [ "$prev" = "--out-dir" ] && out=$a; prev=$a; done
"$@"
metrics=$out/metrics.jsonl
first=$(head -n1 "$metrics" | grep -oE '"loss":[0-9.eE+-]+' | cut -d: -f2)
last=$(tail -n1 "$metrics" | grep -oE '"loss":[0-9.eE+-]+' | cut -d: -f2)
echo "first loss $first, last loss $last"
awk -v f="$first" -v l="$last" 'BEGIN { exit !(l < 0.4 * f) }' || { echo "FAIL: loss did not fall below 40% of its start"; exit 1; }
