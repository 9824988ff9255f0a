#!/usr/bin/env bash
# Tokenize the bundled tiny datasets (data/tiny, every format) into HDF5 shards.
#   tools/make_tiny_dataset.sh MOFE_BINARY OUT_DIR [RANKS]
set -euo pipefail
mofe=$1 out=$2 np=${3:-2}
root=$(cd "$(dirname "$0")/.." && pwd)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
rm -rf "$out"
mpirun -np "$np" --oversubscribe "$mofe" preprocess --tokenizer "$root/data/tokenizer.model" \
  --out "$out" --max-seq-len 129 --val-fraction 0.1 \
  "$root"/data/tiny/*_test.csv "$root/data/tiny/mmlu_hf.jsonl" "$root/data/tiny/medmcqa.jsonl" \
  "$root/data/tiny/ori_pqal.json" "$root/data/tiny/sujet_finance.jsonl" \
  "$root/data/tiny/alpaca.jsonl" "$root/data/tiny/prompt_response.jsonl" "$root/data/tiny/corpus.txt"
