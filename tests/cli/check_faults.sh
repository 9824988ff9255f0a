#!/usr/bin/env bash
# check_faults.sh SCENARIO OUT_DIR CONFIG MPIRUN_AND_MOFE... : provoke one failure on purpose with
# MOFE_FAULT (src/core/fault.h) and check that the job ends the way the operations contract says.
#
#   kill-during-write  rank 1 is killed (-9) while writing a (full) checkpoint: the job ends, the previous
#                      checkpoint stays `latest`; --resume auto removes the partial one, resumes
#                      from the previous and ends with the loss of an uninterrupted run
#   before-manifest    rank 0 vanishes before state.json: nothing new is published
#   before-latest      rank 0 vanishes after the rename, before `latest`: the renamed directory
#                      is ignored and removed on resume, which starts from the previous one
#   throw              rank 1 throws at step 2: "[rank 1/2 step 2] ..." and the job aborts
#                      (steps count from 1 everywhere: MOFE_FAULT, prefixes, progress lines)
#   exit               rank 1 vanishes at step 2 without a word: the job ends, never hangs
#   hang               rank 1 hangs at step 2: --step-timeout aborts, naming the collective
#   hang-default       rank 1 hangs at step 5 and no --step-timeout is given: the default (auto,
#                      20 x the slowest of the first 3 steps, here with --watchdog-floor 5) aborts
#   nan                NaN loss at step 2 only: that update is skipped, training goes on; NaN at
#                      every step: stops after --max-bad-steps
#   one-rank-stop      only rank 1 gets the stop request: all ranks checkpoint the same step, 75
#   bad-switch         a malformed MOFE_FAULT is a usage error (exit 2) naming the variable
set -u
scenario=$1 out=$2 config=$3
shift 3
launch=("$@")
args=(train --config "$config" --steps 6 --checkpoint-every 2 --log-every 1)
rm -rf "$out"
mkdir -p "$out"
fail() { echo "FAIL ($scenario): $*"; exit 1; }

# run NAME FAULT EXTRA_ARGS... : one job under a hard time limit; sets rc, log in $out/NAME.log.
run() {
  local name=$1 fault=$2
  shift 2
  local t0=$SECONDS
  # (mpirun itself exits 137 when a rank was killed by signal 9: the clock tells a hang apart)
  MOFE_FAULT=$fault timeout -k 10 180 "${launch[@]}" "${args[@]}" "$@" >"$out/$name.log" 2>&1
  rc=$?
  ((SECONDS - t0 < 175)) || { tail -n 20 "$out/$name.log"; fail "$name hung"; }
}
final_loss() { tail -n1 "$1/metrics.jsonl" | grep -oE '"loss":[0-9.eE+-]+'; }
latest() { cat "$1/checkpoints/latest" 2>/dev/null; }
expect_log() { grep -qE "$2" "$out/$1.log" || { tail -n 20 "$out/$1.log"; fail "$1: no line matching '$2'"; }; }

# resume_and_compare RUN_DIR: the interrupted run resumed to the end must match a clean run.
resume_and_compare() {
  run ref "" --out-dir "$out/ref"
  [ "$rc" -eq 0 ] || { tail "$out/ref.log"; fail "reference run exited $rc"; }
  run resumed "" --out-dir "$1" --resume auto
  [ "$rc" -eq 0 ] || { tail -n 20 "$out/resumed.log"; fail "resumed run exited $rc"; }
  expect_log resumed "resumed from .*step_00000002"
  [ -z "$(ls -d "$1"/checkpoints/*.tmp 2>/dev/null)" ] || fail "a partial checkpoint was left behind"
  # The metrics read 1..6, once each: what the crash wrote after the checkpoint is gone (#11 12).
  local steps
  steps=$(grep -oE '"step":[0-9]+' "$1/metrics.jsonl" | cut -d: -f2 | tr '\n' ' ')
  [ "$steps" = "1 2 3 4 5 6 " ] || fail "metrics steps after resume: $steps"
  local a b
  a=$(final_loss "$out/ref") b=$(final_loss "$1")
  echo "uninterrupted $a, interrupted and resumed $b"
  [ "$a" = "$b" ] || fail "final loss differs after resume"
}

case "$scenario" in
  kill-during-write)
    # --full-checkpoint: in mofe mode only rank 0 writes (the trainable state); with the frozen
    # experts in the checkpoint, rank 1 writes its experts' files too and can die mid-write.
    args+=(--full-checkpoint)
    run killed "checkpoint-write:kill:1:4" --out-dir "$out/run"
    [ "$rc" -ne 0 ] && [ "$rc" -ne 75 ] || fail "killed run exited $rc"
    [ "$(latest "$out/run")" = step_00000002 ] || fail "latest is '$(latest "$out/run")', not step_00000002"
    [ -d "$out/run/checkpoints/step_00000004.tmp" ] || fail "no partial checkpoint to clean up"
    [ ! -e "$out/run/checkpoints/step_00000004" ] || fail "the partial checkpoint was published"
    resume_and_compare "$out/run"
    expect_log resumed "removing .*step_00000004.tmp"
    ;;
  before-manifest)
    run stopped "checkpoint-manifest:exit:0:4" --out-dir "$out/run"
    [ "$rc" -ne 0 ] || fail "run exited 0"
    [ "$(latest "$out/run")" = step_00000002 ] || fail "latest is '$(latest "$out/run")'"
    [ ! -e "$out/run/checkpoints/step_00000004.tmp/state.json" ] || fail "state.json was written"
    [ ! -e "$out/run/checkpoints/step_00000004" ] || fail "the checkpoint was published"
    ;;
  before-latest)
    run stopped "checkpoint-latest:exit:0:4" --out-dir "$out/run"
    [ "$rc" -ne 0 ] || fail "run exited 0"
    [ "$(latest "$out/run")" = step_00000002 ] || fail "latest is '$(latest "$out/run")'"
    [ -f "$out/run/checkpoints/step_00000004/state.json" ] || fail "the rename did not happen"
    resume_and_compare "$out/run"
    expect_log resumed "removing .*step_00000004:"
    ;;
  throw)
    run failed "step:throw:1:2" --out-dir "$out/run"
    [ "$rc" -ne 0 ] || fail "run exited 0"
    expect_log failed "^\[rank 1/2 step 2\] injected fault at step"
    # One numbering: the failing step is the one after the last progress line.
    expect_log failed "^mofe step +1/6 \|"
    ! grep -qE "^mofe step +2/6 \|" "$out/failed.log" || fail "step 2 printed progress and failed"
    ;;
  exit)
    run failed "step:exit:1:2" --out-dir "$out/run"
    [ "$rc" -ne 0 ] || fail "run exited 0"
    ;;
  hang)
    start=$(date +%s)
    run failed "step:hang:1:2" --out-dir "$out/run" --step-timeout 5
    [ "$rc" -ne 0 ] || fail "run exited 0"
    expect_log failed "watchdog: no progress for [0-9.]+ s \(--step-timeout 5\); collective: (in|last:) "
    echo "watchdog ended the hung job after $(($(date +%s) - start)) s: $(grep -m1 watchdog "$out/failed.log")"
    ;;
  hang-default)
    start=$(date +%s)
    run failed "step:hang:1:5" --out-dir "$out/run" --watchdog-floor 5
    [ "$rc" -ne 0 ] || fail "run exited 0"
    expect_log failed "watchdog: no progress for [0-9.]+ s \(--step-timeout auto: [0-9.]+\); collective: (in|last:) "
    echo "the default watchdog ended the hung job after $(($(date +%s) - start)) s"
    ;;
  nan)
    run once "loss:nan:0:2" --out-dir "$out/once"
    [ "$rc" -eq 0 ] || { tail "$out/once.log"; fail "one NaN step stopped the run ($rc)"; }
    expect_log once "step 2: non-finite loss or gradients, update skipped \(1 in a row\)"
    grep -q '"skipped":true' "$out/once/metrics.jsonl" || fail "metrics do not show the skipped step"
    run always "loss:nan" --out-dir "$out/always" --max-bad-steps 3
    [ "$rc" -ne 0 ] || fail "all-NaN run exited 0"
    expect_log always "3 steps in a row with non-finite loss or gradients"
    ;;
  one-rank-stop)
    run stopped "step:stop:1:2" --out-dir "$out/run"
    [ "$rc" -eq 75 ] || { tail "$out/stopped.log"; fail "exited $rc, expected 75"; }
    expect_log stopped "stop signal: checkpoint of step 2 published [0-9.]+ s after the signal"
    [ "$(latest "$out/run")" = step_00000002 ] || fail "latest is '$(latest "$out/run")'"
    ;;
  bad-switch)
    run bad "checkpoint-write:explode" --out-dir "$out/run"
    [ "$rc" -eq 2 ] || fail "exited $rc, expected 2"
    expect_log bad "MOFE_FAULT='checkpoint-write:explode': unknown action 'explode'"
    ;;
  *) fail "unknown scenario" ;;
esac
echo "PASS ($scenario)"
