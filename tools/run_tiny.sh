#!/usr/bin/env bash
# Set up (apt, idempotent), build mofe, tokenize the bundled tiny datasets into HDF5 and run the
# tiny default job on 2 ranks.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DMOFE_BUILD_TESTS=OFF
cmake --build build -j "$(nproc)" --target mofe
bash tools/make_tiny_dataset.sh build/mofe runs/tiny-data 2
# tools/launch.sh: mpirun, with Ctrl-C and SIGTERM turned into a checkpoint and exit 75.
exec bash tools/launch.sh -np 2 --oversubscribe build/mofe train --config jobs/tiny-mofe.cfg "$@"
