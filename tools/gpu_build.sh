#!/usr/bin/env bash
# Build mofe and its GPU tests against the LibTorch inside an installed PyTorch (2.x with CUDA)
# and the NCCL of pip's nvidia-nccl package, on a GPU machine.
#   bash tools/gpu_build.sh [BUILD_DIR [extra cmake args]]   then: (cd BUILD_DIR && ctest -L gpu)
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
  -DCMAKE_PREFIX_PATH="$torch_prefix" -DMOFE_WITH_CUDA=ON "${nccl_flags[@]}" "$@"
# Only what runs there: the CPU test suites run where MPI singletons work (CI).
cmake --build "$dir" -j "$(nproc)" --target mofe mofe_gpu_tests
