#!/usr/bin/env bash
# check_eval.sh OUT MOFE TRAINED_RUN TINY_DATA : mofe eval after the bundled tiny job.
#  1. the same accuracies and predictions on 1, 2 and 4 ranks, experts spread (ep 2, 4) or not;
#  2. on held-out questions (data/tiny_heldout, never trained on) the trained model is clearly
#     above chance (acc - 2 stderr > 1/3 for PubMedQA's yes/no/maybe) and above an untrained
#     model of the same shape; its results file has the harness's keys;
#  3. shared-context scoring (one forward pass per question) gives the log-likelihoods of one
#     request at a time, on 1, 2 and 4 ranks with experts spread (#12);
#  4. a multi-task run equals the separate runs, task by task; --limit counts per subtask;
#     --log-samples writes the harness's per-sample lines.
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
  grep -E '^\{"command":"eval"' "$out/np$1-ep$2.log"
  [ "$(preds "$out/np$1-ep$2.json")" = "$(preds "$out/np1-ep1.json")" ] \
    || fail "predictions on $1 ranks (ep $2) differ from 1 rank"
done

"${mpirun[@]}" -np 2 "$mofe" train --config "$root/jobs/tiny-mofe.cfg" --data "$data" \
  --tokenizer "$root/data/tokenizer.model" --steps 1 --lr 1e-12 --out-dir "$out/untrained" \
  > "$out/untrained.log" 2>&1 || fail "untrained model"
"$mofe" eval --model "$out/untrained" "${heldout[@]}" --output "$out/untrained.json" \
  > "$out/untrained-eval.log" 2>&1 || fail "eval of the untrained model"

acc() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"]["pubmedqa"]["acc,none"])' "$1"; }
err() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"]["pubmedqa"]["acc_stderr,none"])' "$1"; }
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
for key in "acc,none" "acc_stderr,none" "acc_norm,none" "acc_norm_stderr,none" alias n-samples \
  n-shot configs versions higher_is_better group_subtasks config; do
  grep -q "\"$key\"" "$out/np1-ep1.json" || fail "results lack '$key'"
done

# 3. Shared context vs one request at a time, on 1, 2 and 4 ranks; 4. multi-task = separate runs.
pool=(--fewshot-data "pubmedqa=$root/data/tiny/ori_pqal.json")
both=(--task mmlu,pubmedqa --data "$root/data/tiny_heldout" --data "$root/data/tiny_heldout/ori_pqal.json"
  "${pool[@]}" --num-fewshot 2 --limit 8)
# In float64 the packed sequence must give each request's number to 1e-9 relative: the
# algorithm is exact. In float32 the same inputs in another batch already differ by ~2e-6
# absolute (OpenBLAS's kernels depend on the batch's size), so there the bound is 1e-5.
for dt in float64 float32; do
  "$mofe" eval --model "$trained" "${both[@]}" --no-shared-context --dtype $dt \
    --output "$out/alone-$dt.json" > "$out/alone-$dt.log" 2>&1 \
    || { tail "$out/alone-$dt.log"; fail "eval --no-shared-context"; }
done
close() {  # A B TOL : the same documents, log-likelihoods within TOL relative
  python3 - "$1" "$2" "$3" <<'EOF' || fail "log-likelihoods differ: $1 vs $2"
import json, sys
a, b = (json.load(open(p))["mofe"]["predictions"] for p in sys.argv[1:3])
key = lambda p: (p["task"], p["doc"])
a, b = {key(p): p["loglik"] for p in a}, {key(p): p["loglik"] for p in b}
assert a.keys() == b.keys(), "different documents"
worst = max(abs(x - y) / max(1e-12, abs(y)) for k in a for x, y in zip(a[k], b[k]))
print("max relative difference %.2e over %d documents (bound %s)" % (worst, len(a), sys.argv[3]))
sys.exit(0 if worst <= float(sys.argv[3]) else 1)
EOF
}
for layout in "1 1" "2 2" "4 2" "4 4"; do
  set -- $layout
  "${mpirun[@]}" -np "$1" "$mofe" eval --model "$trained" "${both[@]}" --ep-size "$2" \
    --dtype float64 --output "$out/shared64-np$1-ep$2.json" > "$out/shared64-np$1-ep$2.log" 2>&1 \
    || { tail "$out/shared64-np$1-ep$2.log"; fail "multi-task eval on $1 ranks"; }
  close "$out/shared64-np$1-ep$2.json" "$out/alone-float64.json" 1e-9
done
"$mofe" eval --model "$trained" "${both[@]}" --output "$out/shared-np1-ep1.json" \
  > "$out/shared-np1-ep1.log" 2>&1 || fail "multi-task eval"
grep -E '^\{"command":"eval"' "$out/shared-np1-ep1.log"
close "$out/shared-np1-ep1.json" "$out/alone-float32.json" 1e-5
# --precision bf16-mixed (#13): 16-bit activations and matmuls, float32 log-softmax; the same
# documents' log-likelihoods within bf16's resolution of float32's.
"$mofe" eval --model "$trained" "${both[@]}" --precision bf16-mixed --output "$out/shared-bf16.json" \
  > "$out/shared-bf16.log" 2>&1 || { tail "$out/shared-bf16.log"; fail "eval --precision bf16-mixed"; }
close "$out/shared-bf16.json" "$out/alone-float32.json" 5e-2
# --limit 8 over the held-out MMLU subject(s): 8 per subtask, in file order.
python3 - "$out/shared-np1-ep1.json" <<'EOF' || fail "--limit is not per subtask"
import json, sys
j = json.load(open(sys.argv[1]))
subs = [k for k in j["n-samples"] if k.startswith("mmlu_")]
assert subs and all(j["n-samples"][k]["effective"] == 8 for k in subs), j["n-samples"]
docs = [p["doc"] for p in j["mofe"]["predictions"] if p["task"] == "mmlu"]
assert docs == sorted(docs), docs
print("limit 8 per subtask:", {k: j["n-samples"][k] for k in subs})
EOF
for t in mmlu pubmedqa; do
  case $t in
    mmlu) one=(--task mmlu --data "$root/data/tiny_heldout") ;;
    pubmedqa) one=(--task pubmedqa --data "$root/data/tiny_heldout/ori_pqal.json" "${pool[@]}") ;;
  esac
  "$mofe" eval --model "$trained" "${one[@]}" --num-fewshot 2 --limit 8 --output "$out/only-$t.json" \
    --log-samples > "$out/only-$t.log" 2>&1 || { tail "$out/only-$t.log"; fail "eval $t alone"; }
  python3 - "$out/only-$t.json" "$out/shared-np1-ep1.json" "$t" <<'EOF' || fail "multi-task $t differs from its own run"
import json, sys
one, many, t = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3]
for k, v in one["results"].items():
    assert many["results"][k] == v, (k, v, many["results"][k])
print(t, "alone = in the multi-task run:", len(one["results"]), "rows")
EOF
done
# The harness's per-sample lines: one file per subtask, every key the harness writes.
ls "$out"/samples_pubmedqa_*.jsonl > /dev/null 2>&1 || fail "no samples_pubmedqa_*.jsonl"
python3 - "$out"/samples_pubmedqa_*.jsonl <<'EOF' || fail "log-samples lines lack the harness's keys"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert len(lines) == 8, len(lines)
keys = {"doc_id", "doc", "target", "arguments", "resps", "filtered_resps", "filter", "metrics",
        "doc_hash", "prompt_hash", "target_hash", "acc", "acc_norm"}
for l in lines:
    assert keys <= l.keys(), keys - l.keys()
    assert len(l["arguments"]) == 3 and l["arguments"]["gen_args_0"]["arg_1"] == " yes"
    float(l["filtered_resps"][0][0]); assert l["filtered_resps"][0][1] in ("True", "False")
print("log samples:", len(lines), "lines with", sorted(lines[0].keys()))
EOF
echo PASS
