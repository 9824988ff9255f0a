#!/usr/bin/env bash
# tools/bench_precision.sh [OUT_DIR] : frozen-weight storage, --precision and --recompute in
# `mofe` mode on the `ref` preset with 8 experts (hidden 512, ffn 1376, 8 layers, vocab 32000,
# top-2, seq 256 x batch 4), 1 rank x 2 threads:
#   1. step times: every configuration in ONE run, so the time ratios share the machine's state;
#   2. peak memory: each configuration in its own process (no configuration inherits the
#      allocator slack of an earlier one), against plain fp32 (frozen fp32, no recompute).
# Writes OUT_DIR/times.json, OUT_DIR/memory-*.json and prints a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/bench-precision}
build=${BUILD:-build}
steps=${STEPS:-3}
mkdir -p "$out"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
common=(--preset ref --experts 8 --modes mofe --threads 2)
# name  frozen  precision  recompute
configs=(
  "fp32 fp32 none" "fp32 fp32 moe" "fp32 fp32 attention" "fp32 fp32 full"
  "bf16 fp32 none" "bf16 fp32 full"
  "bf16 bf16-mixed none" "bf16 bf16-mixed moe" "bf16 bf16-mixed attention" "bf16 bf16-mixed full")
"$build/mofe" bench "${common[@]}" --frozen-dtype fp32,bf16 --precision fp32,bf16-mixed \
  --recompute none,moe,attention,full --steps "$steps" --json "$out/times.json" \
  > "$out/times.log" 2>&1
for c in "${configs[@]}"; do
  read -r frozen precision recompute <<< "$c"
  "$build/mofe" bench "${common[@]}" --frozen-dtype "$frozen" --precision "$precision" \
    --recompute "$recompute" --steps 2 --warmup 1 \
    --json "$out/memory-$frozen-$precision-$recompute.json" > "$out/memory.log" 2>&1
done
python3 - "$out" "${configs[@]}" <<'PY'
import json, os, sys
out, configs = sys.argv[1], [c.split() for c in sys.argv[2:]]
t = json.load(open(os.path.join(out, "times.json")))
times = {(r["frozen_dtype"], r["precision"], r["recompute"]): r for r in t["results"]}
mem = {tuple(c): json.load(open(os.path.join(out, "memory-%s-%s-%s.json" % tuple(c))))["results"][0]
       for c in configs}
plain, plain_t = mem[("fp32", "fp32", "none")], times[("fp32", "fp32", "none")]
print(f"peak matmul {t['peak_matmul_gflops_per_rank']:.0f} GFLOP/s per rank ({t['blas']})\n")
print("| frozen | precision | recompute | s/step | time/plain | tok/s | peak MB (own run) | run MB | peak/plain | run/plain |")
print("|---|---|---|---|---|---|---|---|---|---|")
for c in configs:
    r, m = times[tuple(c)], mem[tuple(c)]
    print("| " + " | ".join(str(x) for x in [
        *c, f"{r['step_time_s']:.3f}", f"{r['step_time_s'] / plain_t['step_time_s']:.3f}",
        f"{r['tokens_per_s']:.0f}", f"{m['peak_rss_mb_per_rank']:.0f}", f"{m['run_peak_mb_per_rank']:.0f}",
        f"{m['peak_rss_mb_per_rank'] / plain['peak_rss_mb_per_rank']:.3f}",
        f"{m['run_peak_mb_per_rank'] / plain['run_peak_mb_per_rank']:.3f}"]) + " |")
PY
