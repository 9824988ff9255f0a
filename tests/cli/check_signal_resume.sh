#!/usr/bin/env bash
# check_signal_resume.sh OUT_DIR CONFIG MPIRUN_AND_MOFE... : the preemption path without Slurm.
#  1. an uninterrupted run gives the reference final loss;
#  2. the same run gets SIGUSR1 (through mpirun, which forwards it to every rank) mid-run: it
#     must checkpoint at a step boundary and exit with 75 (resumable);
#     MOFE_TEST_SIGNAL=TERM or INT sends that instead, for a launcher that turns it into a
#     checkpoint (tools/launch.sh, #11 item 18);
#  3. `--resume auto` continues from that checkpoint and must end with the same final loss.
set -u
sig=${MOFE_TEST_SIGNAL:-USR1}
out=$1 config=$2
shift 2
args=(train --config "$config" --steps 60 --log-every 10 --checkpoint-every 0)
rm -rf "$out"
"$@" "${args[@]}" --out-dir "$out/ref" >/dev/null || { echo "FAIL: reference run"; exit 1; }
ref=$(tail -n1 "$out/ref/metrics.jsonl" | grep -oE '"loss":[0-9.eE+-]+')

"$@" "${args[@]}" --out-dir "$out/run" > "$out/first.log" 2>&1 &
pid=$!
for _ in $(seq 600); do
  [ -f "$out/run/metrics.jsonl" ] && [ "$(wc -l < "$out/run/metrics.jsonl")" -ge 15 ] && break
  sleep 0.1
done
kill -"$sig" "$pid"
wait "$pid"
rc=$?
cat "$out/first.log" | grep -E 'stop signal|checkpoint|stopped'
[ "$rc" -eq 75 ] || { echo "FAIL: interrupted (SIG$sig) run exited $rc, expected 75"; exit 1; }
steps_done=$(wc -l < "$out/run/metrics.jsonl")
[ "$steps_done" -lt 60 ] || { echo "FAIL: the signal arrived too late to test anything"; exit 1; }
[ -f "$out/run/checkpoints/latest" ] || { echo "FAIL: no checkpoint published"; exit 1; }

"$@" "${args[@]}" --out-dir "$out/run" --resume auto > "$out/second.log" 2>&1 || { cat "$out/second.log"; echo "FAIL: resumed run"; exit 1; }
grep -E 'resumed from' "$out/second.log"
got=$(tail -n1 "$out/run/metrics.jsonl" | grep -oE '"loss":[0-9.eE+-]+')
echo "reference $ref, interrupted at step $steps_done and resumed: $got"
[ "$ref" = "$got" ] || { echo "FAIL: final loss differs after resume"; exit 1; }
[ "$(wc -l < "$out/run/metrics.jsonl")" -eq 60 ] || { echo "FAIL: metrics do not hold 60 steps"; exit 1; }
