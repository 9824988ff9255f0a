#!/usr/bin/env bash
# check_mpi_in_dist.sh : every MPI call lives in src/dist (and include/mofe/dist), behind the
# Communicator or a CommBackend, where the collective trace and the byte counters see it
# (#11 item 16). core/error.cpp may turn an MPI error code into text.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
hits=$(cd "$root" && grep -rnE '\bMPI_[A-Z][a-z_]+\s*\(|\.raw\(\)|MPI_COMM_WORLD' src include \
         --include='*.cpp' --include='*.h' \
       | grep -vE '^(src/dist/|include/mofe/dist/)' \
       | grep -vE '^src/core/error\.cpp:[0-9]+:\s*MPI_Error_string' \
       | grep -vE '^[^:]+:[0-9]+:\s*//')
if [ -n "$hits" ]; then
  echo "FAIL: MPI calls outside dist/ (the watchdog cannot name them, no byte is counted):"
  echo "$hits"
  exit 1
fi
echo "PASS: no MPI call outside dist/"
