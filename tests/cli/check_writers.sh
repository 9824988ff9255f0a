#!/usr/bin/env bash
# check_writers.sh OUT BUILD_DIR TOKENIZER [TRIALS] : nothing lost, nothing mixed (#11 item 1).
#  1. an output that is, contains or lies inside an input is refused before any write: merge
#     into the base model's own directory, import onto its source, export inside the model,
#     preprocess into the directory of its input; the inputs stay as they were;
#  2. every writer (import, export, merge, preprocess), killed with SIGKILL or SIGTERM at a
#     random moment while it replaces an existing output, leaves either the untouched old output
#     or the complete new one, and what is there passes the reader's checks.
set -u
out=$1 build=$2 tok=$3 trials=${4:-4}
mofe=$build/mofe
root=$(cd "$(dirname "$0")/../.." && pwd)
fail() { echo "FAIL: $*"; exit 1; }
quiet() { "$@" > "$out/last.log" 2>&1 || { tail -n 20 "$out/last.log"; fail "$*"; }; }
rm -rf "$out"
mkdir -p "$out"
cd "$out"

# Two models large enough that writing takes a while (6M parameters, several shards).
shape=(--hidden-size 256 --intermediate-size 688 --num-layers 8 --num-heads 4 --num-kv-heads 2
       --tokenizer "$tok" --shard-size 4000000)
quiet "$build/mofe_make_hf_model" hfA --seed 1 "${shape[@]}"
quiet "$build/mofe_make_hf_model" hfB --seed 2 "${shape[@]}"
quiet "$mofe" import hfA mA
quiet "$mofe" import hfB mB
for m in A B; do
  cat > merge$m.yml <<YML
base_model: m$m
gate_mode: random
dtype: float32
experts_per_token: 2
experts:
  - source_model: hfA
  - source_model: hfB
YML
done

# --- 1. refusals ----------------------------------------------------------------------------
fingerprint_model() { grep -m1 '"checksum"' "$1/model.json"; }
before=$(fingerprint_model mA)
"$root/tests/cli/expect_exit.sh" 2 "OUT_DIR 'mA' is the input" "$mofe" merge mergeA.yml mA \
  || fail "merging into the base model's directory was not refused"
[ "$(fingerprint_model mA)" = "$before" ] && [ -s mA/dense.h5 ] || fail "the base model was touched"
"$root/tests/cli/expect_exit.sh" 2 "lies inside the input" "$mofe" export mA mA/hf \
  || fail "an export inside its model was not refused"
"$root/tests/cli/expect_exit.sh" 2 "OUT_DIR 'hfA' is the input" "$mofe" import hfA hfA \
  || fail "an import onto its source was not refused"
mkdir -p data && cp "$root/data/tiny/prompt_response.jsonl" data/
"$root/tests/cli/expect_exit.sh" 2 "contains the input" "$mofe" preprocess --tokenizer "$tok" \
  --out data data/prompt_response.jsonl || fail "a preprocess over its input was not refused"
[ -s data/prompt_response.jsonl ] || fail "the preprocess input was touched"

# --- 2. killed writers ----------------------------------------------------------------------
# What a reader sees of an output, as one line: equal for equal content.
view_model() {  # a mofe model directory: its checksum, and every tensor file passes its CRCs
  [ -f "$1/model.json" ] || { echo "no model.json"; return; }
  "$mofe" export "$1" "$out/check-$$" > /dev/null 2>&1 || { echo "unreadable"; return; }
  rm -rf "$out/check-$$"
  fingerprint_model "$1"
}
view_hf() {  # a Hugging Face directory: index, config and the bytes of every shard
  [ -f "$1/model.safetensors.index.json" ] || { echo "no index"; return; }
  (cd "$1" && cat model.safetensors.index.json config.json $(ls model-*.safetensors) | sha1sum)
}
view_data() {  # a dataset: its manifest, and every shard validates
  [ -f "$1/manifest.json" ] || { echo "no manifest"; return; }
  "$mofe" inspect "$1" > /dev/null 2>&1 || { echo "unreadable"; return; }
  sha1sum < "$1/manifest.json"
}

# writer NAME VIEW OLD_CMD... -- NEW_CMD... : OUT holds OLD's result, then NEW is killed trials
# times at random moments; each time OUT must read as OLD's or NEW's complete result.
writer() {
  local name=$1 view=$2
  shift 2
  local old=() new=()
  while [ "$1" != "--" ]; do old+=("$1"); shift; done
  shift
  new=("$@")
  local target=$out/$name
  # The two reference results, and how long the new one takes.
  rm -rf "$target"; quiet "${old[@]}"; local want_old; want_old=$($view "$target")
  mv "$target" "$out/$name.old"
  local t0; t0=$(date +%s%N)
  quiet "${new[@]}"
  local took=$(( ($(date +%s%N) - t0) / 1000000 )); local want_new; want_new=$($view "$target")
  [ "$want_old" != "$want_new" ] || fail "$name: the two references are the same"
  local kills=(KILL TERM) seen_old=0 seen_new=0
  for ((t = 0; t < trials; ++t)); do
    rm -rf "$target" "$target".tmp-*; cp -a "$out/$name.old" "$target"
    local sig=${kills[$((t % 2))]} delay=$(( RANDOM % (took + 1) ))
    "${new[@]}" > /dev/null 2>&1 &
    local pid=$!
    sleep "$(awk -v d="$delay" 'BEGIN { printf "%.3f", d / 1000 }')"
    kill -s "$sig" $pid 2>/dev/null
    wait $pid 2>/dev/null
    local got; got=$($view "$target")
    if [ "$got" = "$want_old" ]; then seen_old=$((seen_old + 1))
    elif [ "$got" = "$want_new" ]; then seen_new=$((seen_new + 1))
    else fail "$name: SIG$sig after ${delay} ms left neither the old nor the new output ($got)"; fi
  done
  echo "$name: $trials kills in [0, $took] ms: old output $seen_old times, new $seen_new times, never a mix"
}

writer import view_model "$mofe" import hfA "$out/import" -- "$mofe" import hfB "$out/import"
writer export view_hf "$mofe" export mA "$out/export" -- "$mofe" export mB "$out/export"
writer merge view_model "$mofe" merge mergeA.yml "$out/merge" -- "$mofe" merge mergeB.yml "$out/merge" --seed 9
writer preprocess view_data \
  "$mofe" preprocess --tokenizer "$tok" --out "$out/preprocess" "$root/data/tiny/alpaca.jsonl" -- \
  "$mofe" preprocess --tokenizer "$tok" --out "$out/preprocess" "$root/data/tiny/medmcqa.jsonl" \
  "$root/data/tiny/mmlu_hf.jsonl" "$root/data/tiny/prompt_response.jsonl"
echo PASS
