#!/usr/bin/env bash
# Install every system dependency of mofe from Debian 12 packages, idempotently.
# Usage: bash tools/setup.sh            (as root, or with sudo available)
# Safe to run again: packages already installed are skipped without touching apt.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

PKGS=(
  # build
  g++ cmake ninja-build ccache pkg-config
  # engine: LibTorch (CPU) and a fast BLAS for it. Without libopenblas0-openmp Debian's
  # LibTorch falls back to the reference BLAS: ~4 instead of ~75 GFLOP/s per core.
  libtorch-dev libopenblas0-openmp
  # tcmalloc for the mofe executable: glibc's heap fragments under a training step's pattern
  # (CMakeLists.txt, MOFE_ALLOCATOR)
  libgoogle-perftools-dev
  # distribution and I/O
  libopenmpi-dev openmpi-bin libhdf5-openmpi-dev hdf5-tools
  libboost-program-options-dev nlohmann-json3-dev libyaml-cpp-dev
  libsentencepiece-dev sentencepiece
  # SHA-256 for the harness's doc/prompt/target hashes in eval's per-sample logs
  libssl-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev
  # the paper report's plots (tools/report.py)
  python3-matplotlib
  # fuzzing the safetensors parser with libFuzzer (tools/fuzz.sh)
  clang libclang-rt-14-dev
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/mofe-apt.log 2>&1 \
    || { tail -n 30 /tmp/mofe-apt.log; echo "setup: apt-get install failed (log: /tmp/mofe-apt.log)" >&2; exit 1; }
fi
echo "setup: all ${#PKGS[@]} packages present"
