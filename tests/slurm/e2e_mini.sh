#!/usr/bin/env bash
# The quick miniature pipeline (#15) submitted to a real local Slurm cluster
# (tools/slurm_up.sh, needs root): jobs/mini/run.sh --quick --slurm submits one job per step,
# each after its inputs' jobs (afterok); every job must finish and the report appear, and a
# second --slurm submission finds nothing left to do.
#   bash tests/slurm/e2e_mini.sh BUILD_DIR
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
work=$(mktemp -d /tmp/mofe-slurm-mini.XXXXXX)
chmod 755 "$work"
fail() { echo "FAIL: $*"; exit 1; }
bash "$root/tools/slurm_up.sh" > "$work/slurm-up.log" 2>&1 || { cat "$work/slurm-up.log"; exit 1; }
trap 'bash "$root/tools/slurm_down.sh"' EXIT
export MOFE=$build/mofe
bash "$root/jobs/mini/run.sh" --quick --slurm --out "$work/mini" > "$work/submit.log" 2>&1 \
  || { cat "$work/submit.log"; fail "submission"; }
n=$(grep -c "submitted as job" "$work/submit.log")
echo "submitted $n jobs"
[ "$n" -ge 40 ] || { cat "$work/submit.log"; fail "expected one job per step"; }
for _ in $(seq 900); do   # until the queue is empty (or 15 minutes)
  [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break
  sleep 1
done
[ -z "$(squeue -h -o %i)" ] || { squeue; fail "jobs still queued after 15 minutes"; }
[ -s "$work/mini/report/REPORT.md" ] || { tail -n 20 "$work"/mini/logs/*.slurm.out | tail -n 60; fail "no report"; }
bash "$root/jobs/mini/run.sh" --quick --dry-run --out "$work/mini" | awk '{print $1}' > "$work/steps"
while read -r s; do
  [ -e "$work/mini/steps/$s.done" ] || fail "step $s never finished under Slurm"
done < "$work/steps"
bash "$root/jobs/mini/run.sh" --quick --slurm --out "$work/mini" > "$work/again.log" 2>&1 || fail "second submission"
! grep -q "submitted as job" "$work/again.log" || fail "a second submission resubmitted finished steps"
echo "PASS: $n jobs, report $(wc -c < "$work/mini/report/REPORT.md") bytes"
rm -rf "$work"
