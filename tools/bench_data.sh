#!/usr/bin/env bash
# Data-pipeline benchmark: preprocessing throughput on 1 and 2 ranks, and loader throughput
# against what training consumes. Input: the bundled tiny datasets repeated REPEAT times.
#   bash tools/bench_data.sh [REPEAT]     (after building: build/mofe)
set -euo pipefail
cd "$(dirname "$0")/.."
repeat=${1:-40}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for f in medmcqa.jsonl sujet_finance.jsonl alpaca.jsonl mmlu_hf.jsonl; do
  for _ in $(seq "$repeat"); do cat "data/tiny/$f"; done > "$work/$f"
done
for np in 1 2; do
  mpirun -np "$np" --oversubscribe build/mofe preprocess --tokenizer data/tokenizer.model \
    --out "$work/ds$np" --max-seq-len 129 "$work"/*.jsonl | grep '^preprocess:'
done
mpirun -np 2 --oversubscribe build/mofe bench --preset tiny --experts 4 --modes mofe --steps 5 \
  --threads 1 --data "$work/ds2" | grep -E '^loader|"loader' -A5 | head -8
