#!/usr/bin/env bash
# tools/bench_eval.sh [OUT_JSONL] : mofe eval throughput and work per question.
#   MMLU 5-shot (data/tiny_heldout, one-token answers) and PubMedQA 0-shot (held-out
#   ori_pqal.json), on the tiny model (runs/tiny-mofe from tools/run_tiny.sh if present, else a
#   synthetic one of its shape) and on the `ref` preset's shape (hidden 512, 8 layers, 8
#   experts top-2, vocab 32000; synthetic weights), on 1 and 2 ranks (ep 2), with shared-context
#   scoring (the default) and one request at a time (--no-shared-context). OLD=path/to/mofe adds
#   the same runs with another build (e.g. the one before shared-context scoring).
# One JSON line per run (questions/s; forward tokens per question against the harness's count
# for the same requests and the context length), then a table. Env: BUILD (default build),
# REF_LIMIT (MMLU/PubMedQA documents per subtask on the ref shape, default 40).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD:-build}
out=${1:-runs/bench-eval.jsonl}
work=runs/bench-eval
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$work" "$(dirname "$out")"
: > "$out"
tok=data/tokenizer.model
tiny=runs/tiny-mofe
if [ ! -d "$tiny" ]; then
  tiny=$work/tiny
  [ -d "$tiny" ] || "$build/mofe_make_hf_model" "$tiny" --hidden-size 128 --intermediate-size 344 \
    --num-layers 4 --num-heads 4 --num-kv-heads 2 --vocab-size 384 --num-experts 4 \
    --experts-per-token 2 --dtype float32 --tokenizer "$tok" > /dev/null
fi
ref=$work/ref
[ -d "$ref" ] || "$build/mofe_make_hf_model" "$ref" --hidden-size 512 --intermediate-size 1376 \
  --num-layers 8 --num-heads 8 --num-kv-heads 4 --vocab-size 32000 --num-experts 8 \
  --experts-per-token 2 --dtype float32 --tokenizer "$tok" > /dev/null

run() {  # MODEL_NAME MODEL BINARY MODE NP LIMIT TASK ARGS...
  local name=$1 model=$2 bin=$3 mode=$4 np=$5 limit=$6 task=$7
  shift 7
  local extra=()
  [ "$mode" = alone ] && extra+=(--no-shared-context)
  [ "$mode" = old ] && extra=()
  [ "$limit" != 0 ] && extra+=(--limit "$limit")
  local ep=1 threads=2
  [ "$np" = 2 ] && ep=2 threads=1
  mpirun --oversubscribe --bind-to none -np "$np" "$bin" eval --model "$model" "$@" \
    --ep-size "$ep" --threads "$threads" "${extra[@]}" 2> "$work/last.err" \
    | grep -E '^\{"(command|acc)"' \
    | python3 -c '
import json, sys
j = json.loads(sys.stdin.read())
j.update(model=sys.argv[1], mode=sys.argv[2], task=sys.argv[3], ranks=int(sys.argv[4]))
print(json.dumps(j))' "$name" "$mode" "$task" "$np" >> "$out" \
    || { tail "$work/last.err"; exit 1; }
  tail -n1 "$out"
}
modes=(shared alone)
[ -n "${OLD:-}" ] && modes+=(old)
for m in "tiny $tiny 0" "ref $ref ${REF_LIMIT:-40}"; do
  read -r name model limit <<< "$m"
  for np in 1 2; do
    for mode in "${modes[@]}"; do
      bin=$build/mofe
      [ "$mode" = old ] && bin=$OLD
      run "$name" "$model" "$bin" "$mode" "$np" "$limit" mmlu-5shot --task mmlu \
        --data data/tiny_heldout --num-fewshot 5
      run "$name" "$model" "$bin" "$mode" "$np" "$limit" pubmedqa-0shot --task pubmedqa \
        --data data/tiny_heldout/ori_pqal.json
    done
  done
done
python3 - "$out" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("| model | task | ranks | mode | questions | q/s (scoring) | fwd tok/q | harness tok/q | context tok/q | speed-up vs alone |")
print("|---|---|--:|---|--:|--:|--:|--:|--:|--:|")
base = {(r["model"], r["task"], r["ranks"]): r for r in rows if r["mode"] == "alone"}
for r in rows:
    b = base.get((r["model"], r["task"], r["ranks"]))
    qps = r.get("scoring_questions_per_s", r.get("questions_per_s"))
    up = qps / b["scoring_questions_per_s"] if b else float("nan")
    f = lambda k: "%.1f" % r[k] if k in r else "-"
    print("| %s | %s | %d | %s | %d | %.1f | %s | %s | %s | %.2fx |" % (
        r["model"], r["task"], r["ranks"], r["mode"], r["questions"], qps,
        f("forward_tokens_per_question"), f("harness_tokens_per_question"),
        f("context_tokens_per_question"), up))
EOF
