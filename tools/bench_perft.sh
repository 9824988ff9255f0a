#!/usr/bin/env bash
# tools/bench_perft.sh [OUT_DIR] : PERFT's variants (#14) against mofe mode and LoRA on the
# `ref` preset with 8 experts, 1 rank x 2 threads (PERFT D_B 8, 4 adapters top-2; LoRA r 8 on
# q,v): step time, tokens/s, peak memory, trainable parameters, FLOPs and each variant's time
# against its FLOP prediction relative to mofe mode. Same method as tools/bench_peft.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
MODES=${MODES:-mofe,lora,perft-r,perft-e,perft-s} EXPERTS=${EXPERTS:-8} \
  exec bash tools/bench_peft.sh "${1:-runs/bench-perft}"
