#!/usr/bin/env bash
# check_eval.sh OUT MOFE TRAINED_RUN TINY_DATA : mofe eval after the bundled tiny job.
#  1. the same accuracies and predictions on 1, 2 and 4 ranks, experts spread (ep 2, 4) or not;
#  2. on held-out questions (data/tiny_heldout, never trained on) the trained model is clearly
#     above chance (acc - 2 stderr > 1/3 for PubMedQA's yes/no/maybe) and above an untrained
#     model of the same shape; its results file has the harness's keys.
set -u
out=$1 mofe=$2 trained=$3 data=$4
root=$(cd "$(dirname "$0")/../.." && pwd)
mpirun=(mpirun --oversubscribe --allow-run-as-root --bind-to none)
fail() { echo "FAIL: $*"; exit 1; }
rm -rf "$out"
mkdir -p "$out"
heldout=(--task pubmedqa --data "$root/data/tiny_heldout/ori_pqal.json")

preds() { grep -E '"predicted"' "$1" | tr -d ' ,'; }
for layout in "1 1" "2 1" "2 2" "4 2" "4 4"; do
  set -- $layout
  "${mpirun[@]}" -np "$1" "$mofe" eval --model "$trained" "${heldout[@]}" --ep-size "$2" \
    --batch-tokens 2048 --output "$out/np$1-ep$2.json" > "$out/np$1-ep$2.log" 2>&1 \
    || { tail "$out/np$1-ep$2.log"; fail "eval on $1 ranks, ep $2"; }
  grep -E '^\{"acc"' "$out/np$1-ep$2.log"
  [ "$(preds "$out/np$1-ep$2.json")" = "$(preds "$out/np1-ep1.json")" ] \
    || fail "predictions on $1 ranks (ep $2) differ from 1 rank"
done

"${mpirun[@]}" -np 2 "$mofe" train --config "$root/jobs/tiny-mofe.cfg" --data "$data" \
  --tokenizer "$root/data/tokenizer.model" --steps 1 --lr 1e-12 --out-dir "$out/untrained" \
  > "$out/untrained.log" 2>&1 || fail "untrained model"
"$mofe" eval --model "$out/untrained" "${heldout[@]}" --output "$out/untrained.json" \
  > "$out/untrained-eval.log" 2>&1 || fail "eval of the untrained model"

acc() { grep -A8 '"pubmedqa": {' "$1" | grep -oE '"acc": [0-9.e-]+' | head -1 | cut -d' ' -f2; }
err() { grep -A8 '"pubmedqa": {' "$1" | grep -oE '"acc_stderr": [0-9.e-]+' | head -1 | cut -d' ' -f2; }
t=$(acc "$out/np1-ep1.json") e=$(err "$out/np1-ep1.json") u=$(acc "$out/untrained.json")
[ -n "$t" ] && [ -n "$e" ] && [ -n "$u" ] || fail "cannot read acc/acc_stderr from the results"
echo "held-out PubMedQA: trained acc $t (stderr $e), untrained $u, chance 0.333"
awk -v t="$t" -v e="$e" -v u="$u" 'BEGIN { exit !(t - 2 * e > 1 / 3 && t > u) }' \
  || fail "trained accuracy is not clearly above chance and the untrained model"
# Routing report: one row per group x layer x expert (4 layers x 4 experts for the tiny model),
# and each layer's shares sum to 1; the same counts on 2 ranks with experts spread.
for np_ep in "1 1" "2 2"; do
  set -- $np_ep
  "${mpirun[@]}" -np "$1" "$mofe" eval --model "$trained" --task sujet-finance \
    --data "$root/data/tiny_heldout/sujet_finance.jsonl" --ep-size "$2" \
    --routing-report "$out/routing-np$1.csv" > "$out/routing-np$1.log" 2>&1 || fail "routing report"
done
[ "$(wc -l < "$out/routing-np1.csv")" -eq 17 ] || fail "routing report should have 16 rows + header"
cmp -s "$out/routing-np1.csv" "$out/routing-np2.csv" || fail "routing counts differ on 2 ranks"
awk -F, 'NR > 1 { s[$2] += $5 } END { for (l in s) if (s[l] < 0.999 || s[l] > 1.001) exit 1 }' \
  "$out/routing-np1.csv" || fail "a layer's routing shares do not sum to 1"
grep -A1 "routing (share" "$out/routing-np1.log"
for key in acc acc_stderr acc_norm acc_norm_stderr n-samples config; do
  grep -q "\"$key\"" "$out/np1-ep1.json" || fail "results lack '$key'"
done
echo PASS
