#!/usr/bin/env bash
# Set up (apt, idempotent), build and run every test. This is what .ci/run calls.
#   bash tools/run_tests.sh             release build in build/, all tests
#   MOFE_SANITIZE=1 bash tools/run_tests.sh   also an ASan/UBSan build of the unit tests
# Whatever an earlier configure cached in the build directory (tools/run_tiny.sh configures
# build/ without tests), this one builds the tests, and it fails when no test ran.
#   BUILD_DIR=dir           another build directory (default build)
#   MOFE_CONFIGURE_ONLY=1   stop after configuring (tests/cli/check_two_commands.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
build=${BUILD_DIR:-build}

# Open MPI refuses root without these; harmless otherwise.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/mofe-ccache} CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-2G}
# Paths relative to the checkout, so a fresh clone elsewhere still hits the cache.
export CCACHE_BASEDIR=$PWD CCACHE_NOHASHDIR=1
jobs=$(nproc)

# As root (CI), also the Slurm end-to-end test: it starts a local cluster (tools/slurm_up.sh).
slurm=OFF
[ "$(id -u)" -eq 0 ] && slurm=ON
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMOFE_WERROR=ON -DMOFE_BUILD_TESTS=ON \
  -DMOFE_SLURM_TESTS=$slurm
[ "${MOFE_CONFIGURE_ONLY:-0}" = 1 ] && exit 0
cmake --build "$build" -j "$jobs"
(cd "$build" && ctest -j "$jobs" --output-on-failure --timeout 900 --no-tests=error)

if [ "${MOFE_SANITIZE:-0}" = 1 ]; then
  # Address + undefined-behaviour sanitizers over the single-process unit tests.
  # LeakSanitizer off: Open MPI and LibTorch keep process-lifetime allocations by design.
  export ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DMOFE_SANITIZE="address;undefined"
  cmake --build build-asan -j "$jobs" --target mofe_unit_tests mofe_fuzz_safetensors mofe_fuzz_records
  build-asan/tests/mofe_fuzz_safetensors 100000 tests/fuzz/corpus/*
  build-asan/tests/mofe_fuzz_records 100000
  # Preprocess.* and MergeWithTokenizer.* load SentencePiece, which needs dlopen(RTLD_DEEPBIND) to keep its embedded
  # protobuf apart from LibTorch's (src/data/spm_shim.cpp); AddressSanitizer forbids deep
  # binding, so those two tests run in the release build only.
  build-asan/tests/mofe_unit_tests --gtest_brief=1 --gtest_filter='-Preprocess.*:MergeWithTokenizer.*'
fi
