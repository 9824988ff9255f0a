#!/usr/bin/env bash
# tools/launch.sh MPIRUN_ARGS... : mpirun, with SIGTERM and SIGINT turned into a checkpoint.
#   bash tools/launch.sh -np 2 build/mofe train --config jobs/tiny-mofe.cfg
# mofe answers SIGUSR1, SIGTERM and SIGINT alike: every rank finishes its step, they write a
# checkpoint and exit with 75 ("resumable"). Open MPI's mpirun forwards SIGUSR1 to the ranks,
# but on SIGTERM or SIGINT it tears the job down itself and exits 1, whatever the ranks did.
# This wrapper takes TERM and INT (Ctrl-C, a batch system's kill) and hands mpirun a USR1
# instead, then exits with mpirun's own code: 75 after the checkpoint. (Under Slurm,
# slurm/train.sbatch does the same; srun forwards TERM itself.)
set -u
export OMPI_ALLOW_RUN_AS_ROOT=${OMPI_ALLOW_RUN_AS_ROOT:-1} OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=${OMPI_ALLOW_RUN_AS_ROOT_CONFIRM:-1}
# Its own session, so that a Ctrl-C reaches the job only through this script.
setsid mpirun "$@" &
pid=$!
forward() { kill -USR1 "$pid" 2>/dev/null; }
trap forward TERM INT
rc=0
while :; do
  wait "$pid"; rc=$?
  kill -0 "$pid" 2>/dev/null || break  # wait returns early when a trapped signal arrives
done
exit "$rc"
