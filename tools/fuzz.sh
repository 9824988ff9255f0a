#!/usr/bin/env bash
# tools/fuzz.sh [SECONDS] : libFuzzer (clang) + ASan/UBSan for a bounded time on the safetensors
# parser and on the dataset readers (CSV, JSON lines), SECONDS split between them. Needs clang and libclang-rt-14-dev (tools/setup.sh installs them). A finding
# is left as crash-* in build-fuzz/ and makes the script fail.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
# Without clang's libFuzzer runtime there is nothing to run: exit 77 (ctest reports "skipped").
command -v clang++ >/dev/null && [ -e "$(clang++ -print-file-name=libclang_rt.fuzzer-x86_64.a)" ] \
  || [ -n "$(find /usr/lib/llvm-*/lib/clang -name 'libclang_rt.fuzzer-x86_64.a' 2>/dev/null)" ] \
  || { echo "fuzz.sh: clang++ with libFuzzer not found (apt install clang libclang-rt-14-dev)"; exit 77; }
out=build-fuzz
mkdir -p "$out/corpus" "$out/corpus-records"
flags=(-std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Iinclude)
clang++ "${flags[@]}" src/io/safetensors.cpp src/core/atomic_file.cpp tests/fuzz/fuzz_safetensors.cpp -o "$out/fuzz_safetensors"
clang++ "${flags[@]}" src/data/formats.cpp src/data/templates.cpp tests/fuzz/fuzz_records.cpp \
  -o "$out/fuzz_records"
cp -n tests/fuzz/corpus/* "$out/corpus/" 2>/dev/null || true
# Seeds for the readers: a format byte, then real rows of the bundled data.
i=0
for f in data/tiny/*_test.csv data/tiny/mmlu_hf.jsonl data/tiny/medmcqa.jsonl data/tiny/ori_pqal.json \
         data/tiny/sujet_finance.jsonl data/tiny/alpaca.jsonl data/tiny/prompt_response.jsonl; do
  [ -f "$f" ] || continue
  { printf "\\$(printf '%03o' $i)"; head -c 3000 "$f"; } > "$out/corpus-records/seed-$i"
  i=$((i + 1))
done
cd "$out"
half=$(( (secs + 1) / 2 ))
./fuzz_safetensors -max_total_time="$half" -max_len=4096 -print_final_stats=1 corpus 2>&1 | tail -n 6
./fuzz_records -max_total_time="$half" -max_len=8192 -print_final_stats=1 corpus-records 2>&1 | tail -n 6
