#!/usr/bin/env bash
# tools/bench_eval.sh [MODEL] : mofe eval throughput (questions/s) on 1 and 2 ranks, experts
# spread or not, for the tiny model (default: runs/tiny-mofe from tools/run_tiny.sh) on the
# held-out PubMedQA and MMLU files. One JSON line per run.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-runs/tiny-mofe}
build=${BUILD:-build}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
for task in "pubmedqa data/tiny_heldout/ori_pqal.json" "mmlu data/tiny_heldout"; do
  set -- $task
  for layout in "1 1 2" "2 1 1" "2 2 1"; do
    read -r np ep threads <<< "$layout"
    mpirun --oversubscribe --bind-to none -np "$np" "$build/mofe" eval --model "$model" \
      --task "$1" --data "$2" --ep-size "$ep" --threads "$threads" 2>/dev/null \
      | grep '^{"acc"' | sed "s/}\$/,\"ep_size\":$ep,\"threads_per_rank\":$threads}/"
  done
done
