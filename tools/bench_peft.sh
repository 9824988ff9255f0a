#!/usr/bin/env bash
# tools/bench_peft.sh [OUT_DIR] : the PEFT baselines against mofe mode on the `ref` preset
# (hidden 512, ffn 1376, 8 layers, vocab 32000, top-2, seq 256 x batch 4), 2, 4 and 8 experts,
# 1 rank x 2 threads, LoRA/DoRA/QLoRA r 8 on q,v (the reference measurement of peft 0.10).
#   1. step times and FLOP ratios: every mode in ONE run, so that time ratios share the
#      machine's state (this machine is noisy; compare ratios, not absolute times across runs);
#   2. peak memory: each mode in its own process, so no configuration inherits the allocator
#      slack of an earlier one.
# Writes OUT_DIR/times.json, OUT_DIR/memory-<mode>.json and prints a Markdown table.
# MODES and EXPERTS (comma lists) choose other modes and counts (tools/bench_perft.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/bench-peft}
build=${BUILD:-build}
steps=${STEPS:-4}
modes=${MODES:-mofe,lora,dora,qlora}
experts=${EXPERTS:-2,4,8}
mkdir -p "$out"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
common=(--preset ref --experts "$experts" --threads 2 --lora-r 8 --lora-targets q_proj,v_proj)
"$build/mofe" bench "${common[@]}" --modes "$modes" --steps "$steps" \
  --json "$out/times.json" > "$out/times.log" 2>&1
for mode in ${modes//,/ }; do
  "$build/mofe" bench "${common[@]}" --modes "$mode" --steps 2 --warmup 1 \
    --json "$out/memory-$mode.json" > "$out/memory-$mode.log" 2>&1
done
python3 - "$out" "$modes" <<'EOF'
import json, sys, os
out = sys.argv[1]
t = json.load(open(os.path.join(out, "times.json")))
mem = {}
for mode in sys.argv[2].split(","):
    for r in json.load(open(os.path.join(out, f"memory-{mode}.json")))["results"]:
        mem[(r["experts"], mode)] = r
ratio = {(v["experts"], v["mode"]): v for v in t["vs_mofe"]}
print(f"peak matmul {t['peak_matmul_gflops_per_rank']:.0f} GFLOP/s per rank ({t['blas']})\n")
print("| experts | mode | trainable | s/step | tok/s | GFLOP/step | MFU | time/mofe | FLOPs/mofe | error | peak MB (own run) | of which before the run | run MB | estimate MB | memory/mofe | run memory/mofe |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for r in t["results"]:
    e, m = r["experts"], r["mode"]
    v = ratio.get((e, m))
    own = mem[(e, m)]["peak_rss_mb_per_rank"]
    base = mem[(e, "mofe")]["peak_rss_mb_per_rank"]
    run = mem[(e, m)]["run_peak_mb_per_rank"]
    run_base = mem[(e, "mofe")]["run_peak_mb_per_rank"]
    cols = [e, m, r["trainable_parameters"], f"{r['step_time_s']:.3f}", f"{r['tokens_per_s']:.0f}",
            f"{r['flops_per_rank']['total'] / 1e9:.1f}", f"{100 * r['mfu']:.1f}%",
            f"{v['time_ratio_over_mofe']:.3f}" if v else "1", f"{v['flop_ratio_over_mofe']:.3f}" if v else "1",
            f"{100 * v['time_vs_flop_ratio_error']:+.1f}%" if v else "", f"{own:.0f}",
            f"{mem[(e, m)]['baseline_rss_mb_per_rank']:.0f}", f"{run:.0f}",
            f"{mem[(e, m)]['estimated_peak_mb_per_rank']:.0f}", f"{own / base:.2f}", f"{run / run_base:.2f}"]
    print("| " + " | ".join(str(c) for c in cols) + " |")
EOF
