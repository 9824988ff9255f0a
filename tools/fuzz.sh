#!/usr/bin/env bash
# tools/fuzz.sh [SECONDS] : libFuzzer (clang) + ASan/UBSan on the safetensors parser for a
# bounded time. Needs clang and libclang-rt-14-dev (tools/setup.sh installs them). A finding
# is left as crash-* in build-fuzz/ and makes the script fail.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
# Without clang's libFuzzer runtime there is nothing to run: exit 77 (ctest reports "skipped").
command -v clang++ >/dev/null && [ -e "$(clang++ -print-file-name=libclang_rt.fuzzer-x86_64.a)" ] \
  || [ -n "$(find /usr/lib/llvm-*/lib/clang -name 'libclang_rt.fuzzer-x86_64.a' 2>/dev/null)" ] \
  || { echo "fuzz.sh: clang++ with libFuzzer not found (apt install clang libclang-rt-14-dev)"; exit 77; }
out=build-fuzz
mkdir -p "$out/corpus"
clang++ -std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -Iinclude src/io/safetensors.cpp tests/fuzz/fuzz_safetensors.cpp -o "$out/fuzz_safetensors"
cp -n tests/fuzz/corpus/* "$out/corpus/" 2>/dev/null || true
cd "$out"
./fuzz_safetensors -max_total_time="$secs" -max_len=4096 -print_final_stats=1 corpus 2>&1 | tail -n 12
