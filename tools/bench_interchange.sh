#!/usr/bin/env bash
# tools/bench_interchange.sh [OUT_DIR] [RANKS...] : import and merge at TinyLlama size.
# Writes two synthetic TinyLlama-1.1B Hugging Face directories (bf16, 2.2 GB each; seeded
# weights, since none can be downloaded), then times `mofe import` and `mofe merge` (gate_mode
# hidden, 2 and 4 experts) on each rank count and prints one JSON line per run with time and
# peak memory per rank. Needs ~30 GB of disk in OUT_DIR. Default ranks: 1 2.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/bench-interchange}
shift || true
ranks=("${@:-1 2}")
build=${BUILD:-build}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$out"
for s in 1 2; do
  [ -f "$out/tl$s/config.json" ] || "$build/mofe_make_hf_model" "$out/tl$s" --tinyllama --seed $s \
    --tokenizer data/tokenizer.model >&2
done
for E in 2 4; do
  {
    echo "base_model: tl1"
    echo "gate_mode: hidden"
    echo "experts:"
    for e in $(seq $E); do
      echo "  - source_model: tl$(( (e - 1) % 2 + 1 ))"
      echo "    positive_prompts: [\"topic number $e: a question about subject $e\", \"more on $e\"]"
    done
  } > "$out/moe$E.yml"
done
for np in ${ranks[@]}; do
  launch=(mpirun --oversubscribe --bind-to none -np "$np")
  rm -rf "$out/imported"
  "${launch[@]}" "$build/mofe" import "$out/tl1" "$out/imported" | grep '^{'
  for E in 2 4; do
    rm -rf "$out/moe$E"
    "${launch[@]}" "$build/mofe" merge "$out/moe$E.yml" "$out/moe$E" | grep '^{'
    echo "{\"merged_model_bytes\": $(du -sb "$out/moe$E" | cut -f1), \"experts\": $E, \"ranks\": $np}"
  done
done
