#!/usr/bin/env bash
# Build mofe and its GPU tests against the LibTorch inside an installed PyTorch (2.x with CUDA)
# and the NCCL of pip's nvidia-nccl package, on a GPU machine.
#   bash tools/gpu_build.sh [BUILD_DIR [extra cmake args]]
# builds mofe and mofe_gpu_tests, runs ctest -L gpu (a test skips where no GPU is visible), then
# a bf16-mixed vs fp32 step benchmark on the GPU (BENCH=0 skips it).
# Needs, besides PyTorch: cmake, ninja, g++, Open MPI, Boost.Program_options, nlohmann-json,
# GoogleTest (tools/setup.sh installs them on Debian).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build-gpu}
shift || true
py=${PYTHON:-python3}
torch_prefix=$($py -c 'import torch; print(torch.utils.cmake_prefix_path)')
nccl_root=${NCCL_ROOT:-$($py -c 'import nvidia.nccl as n; print(list(n.__path__)[0])' 2>/dev/null || true)}
echo "torch $($py -c 'import torch; print(torch.__version__, torch.version.cuda)'), NCCL at ${nccl_root:-<none>}"
nccl_flags=(-DMOFE_WITH_NCCL=OFF)
[ -n "$nccl_root" ] && nccl_flags=(-DMOFE_WITH_NCCL=ON -DNCCL_ROOT="$nccl_root")
NCCL_ROOT=$nccl_root cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$torch_prefix" -DMOFE_WITH_CUDA=ON -DMOFE_BUILD_TESTS=ON \
  -DMOFE_SLURM_TESTS=OFF "${nccl_flags[@]}" "$@"
# Only what runs there: the CPU test suites run where MPI singletons work (CI).
cmake --build "$dir" -j "$(nproc)" --target mofe mofe_gpu_tests
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
(cd "$dir" && ctest -L gpu --output-on-failure --timeout 600)
if [ "${BENCH:-1}" = 1 ]; then
  "$dir/mofe" bench --device cuda --preset tinyllama --experts 2,4,8 --modes mofe,full \
    --precision fp32,bf16-mixed --steps 5 --json "$dir/bench-gpu.json"
fi
