#!/usr/bin/env bash
# End-to-end preemption test on a real local Slurm cluster (tools/slurm_up.sh, needs root):
# submit the training job with sbatch, send it the preemption signal mid-run
# (scancel --signal=USR1 --batch), and check that it checkpoints, requeues, resumes and ends
# with the same final loss as an uninterrupted run.
#   bash tests/slurm/e2e_preempt.sh BUILD_DIR
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
work=$(mktemp -d /tmp/mofe-slurm-e2e.XXXXXX)
chmod 755 "$work"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
bash "$root/tools/slurm_up.sh" > "$work/slurm-up.log" 2>&1 || { cat "$work/slurm-up.log"; exit 1; }
trap 'bash "$root/tools/slurm_down.sh"' EXIT

steps=150
args="--steps $steps --log-every 25"
mpirun -np 2 --oversubscribe "$build/mofe" train --config "$root/jobs/tiny-synthetic.cfg" $args \
  --out-dir "$work/ref" > "$work/ref.log" 2>&1 || { cat "$work/ref.log"; exit 1; }
ref=$(tail -n1 "$work/ref/metrics.jsonl" | grep -oE '"loss":[0-9.eE+-]+')

id=$(cd "$root" && MOFE="$build/mofe" CONFIG="$root/jobs/tiny-synthetic.cfg" \
     MOFE_ARGS="$args --out-dir $work/run" \
     sbatch --parsable --ntasks=2 --output="$work/job-%j.out" slurm/train.sbatch) || exit 1
echo "submitted job $id"
for _ in $(seq 1200); do   # until the run is well under way (or 120 s)
  [ -f "$work/run/metrics.jsonl" ] && [ "$(wc -l < "$work/run/metrics.jsonl")" -ge 20 ] && break
  sleep 0.1
done
scancel --signal=USR1 --batch "$id"
deadline=$(( $(date +%s) + 300 ))
while [ -n "$(squeue -h -j "$id" -o %A 2>/dev/null)" ]; do
  [ "$(date +%s)" -lt "$deadline" ] || { scancel "$id"; echo "FAIL: job $id timed out"; cat "$work"/job-*.out; exit 1; }
  sleep 1
done
state=$(scontrol show job "$id" -o | grep -oE 'JobState=[A-Z_]+' | cut -d= -f2)
restarts=$(scontrol show job "$id" -o | grep -oE 'Restarts=[0-9]+' | cut -d= -f2)
cat "$work"/job-*.out | grep -E 'restart|stop signal|checkpoint|resumed|requeue|done'
got=$(tail -n1 "$work/run/metrics.jsonl" | grep -oE '"loss":[0-9.eE+-]+')
echo "job $id: state $state, restarts $restarts; final $got, uninterrupted $ref"
[ "$state" = COMPLETED ] || { echo "FAIL: job state $state"; exit 1; }
[ "${restarts:-0}" -ge 1 ] || { echo "FAIL: the job was not requeued"; exit 1; }
grep -q 'resumed from' "$work"/job-*.out || { echo "FAIL: the restart did not resume"; exit 1; }
[ "$got" = "$ref" ] || { echo "FAIL: final loss differs from the uninterrupted run"; exit 1; }
echo "PASS"
rm -rf "$work"
