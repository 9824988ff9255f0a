#!/usr/bin/env bash
# check_relayout_resume.sh OUT_DIR MPIRUN MOFE TRAIN_ARGS... : resume on another layout.
#  1. reference: 4 ranks (EP 2 x DP 2), micro-batch 4, 8 steps, uninterrupted;
#  2. the same job is stopped after step 4 (a stop request, as from Slurm) and checkpoints;
#  3. it resumes on 2 ranks with EP 1 x DP 2 and --grad-accum 2: the same global batch of 16
#     samples per step, now made of other micro-batches on other ranks holding other experts.
# The loader is defined on the global sample index, so steps 5-8 see the same samples: their
# losses must match the reference within float32 reduction-order noise (not bitwise).
set -u
out=$1 mpirun=$2 mofe=$3
shift 3
common=("$@" --steps 8 --micro-batch 4 --log-every 1 --checkpoint-every 0)
fail() { echo "FAIL: $*"; exit 1; }
rm -rf "$out"
mkdir -p "$out"

"$mpirun" -np 4 --oversubscribe "$mofe" train "${common[@]}" --ep-size 2 --grad-accum 1 \
  --out-dir "$out/ref" >"$out/ref.log" 2>&1 || { tail "$out/ref.log"; fail "reference run"; }
MOFE_FAULT=step:stop:*:4 "$mpirun" -np 4 --oversubscribe "$mofe" train "${common[@]}" \
  --ep-size 2 --grad-accum 1 --out-dir "$out/run" >"$out/first.log" 2>&1
rc=$?
[ "$rc" -eq 75 ] || { tail "$out/first.log"; fail "stopped run exited $rc, expected 75"; }
"$mpirun" -np 2 "$mofe" train "${common[@]}" --ep-size 1 --grad-accum 2 --out-dir "$out/run" \
  --resume auto >"$out/second.log" 2>&1 || { tail "$out/second.log"; fail "resumed run"; }
grep -E "resumed from .*step_00000004" "$out/second.log" || fail "did not resume from step 4"

losses() { grep -oE '"loss":[0-9.eE+-]+' "$1" | cut -d: -f2; }
paste <(losses "$out/ref/metrics.jsonl") <(losses "$out/run/metrics.jsonl") | awk '
  { d = $1 - $2; if (d < 0) d = -d; rel = d / $1
    printf "step %d: 4 ranks EP2xDP2 %.6f | %s %.6f | rel diff %.1e\n", NR, $1,
           NR <= 4 ? "same run       " : "resumed EP1xDP2", $2, rel
    if (rel > 1e-4) bad = 1; n = NR }
  END { if (n != 8) { print "FAIL: " n " steps in the metrics, expected 8"; exit 1 }
        if (bad) { print "FAIL: the loss curve does not continue within 1e-4"; exit 1 } }'
