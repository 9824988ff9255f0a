#!/usr/bin/env bash
# check_resume_rules.sh OUT CONFIG MPIRUN_AND_MOFE... : a resume is correct or refused (#11 item 4).
#  1. a checkpoint of 4 steps; resumes that would be silently wrong are refused before any work,
#     exit 2, one line naming the setting, its value in the checkpoint and now: another mode,
#     model shape, top-k, seed (here also the seeded frozen experts), PEFT setting;
#  2. a resume with another global batch (half the micro-batch) is fine: the data continues at
#     the next sample, as state.json's sample count shows.
set -u
out=$1 config=$2
shift 2
launch=("$@")
root=$(cd "$(dirname "$0")/../.." && pwd)
fail() { echo "FAIL: $*"; exit 1; }
rm -rf "$out"
mkdir -p "$out"
args=(train --config "$config" --log-every 100 --out-dir "$out/run")
"${launch[@]}" "${args[@]}" --steps 4 > "$out/first.log" 2>&1 || { tail "$out/first.log"; fail "first run"; }
refused() {  # REGEX EXTRA_ARGS...
  local regex=$1
  shift
  "$root/tests/cli/expect_exit.sh" 2 "$regex" "${launch[@]}" "${args[@]}" --steps 8 --resume auto "$@" \
    > "$out/refused.log" 2>&1 || { cat "$out/refused.log"; fail "not refused: $*"; }
  grep -E "$regex" "$out/refused.log"
}
refused "--mode is \"mofe\" in the checkpoint and \"full\" in this run" --mode full
refused "num_hidden_layers is 4 in the checkpoint and 2 in this run" --num-layers 2
refused "num_experts_per_tok is 2 in the checkpoint and 1 in this run" --experts-per-token 1
refused "trained on the seeded initialisation \(seed 1234\), this run starts from the seeded initialisation \(seed 7\)" --seed 7
[ -f "$out/run/checkpoints/step_00000004/state.json" ] || fail "a refusal touched the checkpoint"
samples() { grep -oE '"samples": [0-9]+' "$1/state.json" | grep -oE '[0-9]+'; }
first=$(samples "$out/run/checkpoints/step_00000004")
# The tiny job: 2 ranks x micro-batch 8 = 16 samples a step; resumed with micro-batch 4: 8.
"${launch[@]}" "${args[@]}" --steps 6 --resume auto --micro-batch 4 > "$out/second.log" 2>&1 \
  || { tail "$out/second.log"; fail "resume with another global batch"; }
grep -E "resumed from .*step_00000004" "$out/second.log" || fail "did not resume"
second=$(samples "$out/run/checkpoints/step_00000006")
echo "samples after 4 steps of 16: $first; after 2 more of 8: $second"
[ "$first" -eq 64 ] && [ "$second" -eq 80 ] || fail "the data position is not kept in samples"
echo PASS
