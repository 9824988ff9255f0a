#!/usr/bin/env bash
# check_bench.sh OUT MOFE : what mofe bench compares (one rank, the tiny preset, one step).
#  1. lists name each run once: --recompute auto,none is one mofe run and one lora run (auto
#     is none there) and two qlora runs (auto recomputes every layer in qlora mode);
#  2. each mode is set against the mofe run given the same options: qlora with auto and with
#     none both against mofe mode's plain run;
#  3. executed FLOPs = model FLOPs + the recomputed forward, and recomputation leaves the model
#     FLOPs (MFU's numerator) as they were.
set -u
out=$1 mofe=$2
fail() { echo "FAIL: $*"; exit 1; }
rm -rf "$out"
mkdir -p "$out"
"$mofe" bench --preset tiny --experts 2 --modes mofe,lora,qlora --recompute auto,none \
  --steps 1 --warmup 0 --threads 1 --json "$out/bench.json" > "$out/bench.log" 2>&1 ||
  fail "bench exited $? ($(tail -n 3 "$out/bench.log"))"
python3 - "$out/bench.json" <<'PY' || fail "bench report (above)"
import json, sys
rep = json.load(open(sys.argv[1]))
runs = sorted((r["mode"], r["recompute"]) for r in rep["results"])
assert runs == [("lora", "none"), ("mofe", "none"), ("qlora", "full"), ("qlora", "none")], runs
pairs = sorted((v["mode"], v["recompute"]) for v in rep["vs_mofe"])
assert pairs == [("lora", "none"), ("qlora", "full"), ("qlora", "none")], pairs
by = {(r["mode"], r["recompute"]): r["flops_per_rank"] for r in rep["results"]}
full, none = by[("qlora", "full")], by[("qlora", "none")]
assert none["recompute"] == 0 and full["recompute"] > 0, (none, full)
assert abs(full["executed"] - full["total"] - full["recompute"]) <= 1e-9 * full["executed"], full
assert full["total"] == none["total"], (full, none)
for v in rep["vs_mofe"]:
    mofe = by[("mofe", "none")]
    me = by[(v["mode"], v["recompute"])]
    assert abs(v["flop_ratio_over_mofe"] - me["executed"] / mofe["executed"]) < 1e-12, v
print("bench: 4 runs, 3 comparisons with mofe mode, executed FLOPs add the recomputed forward")
PY
echo "bench comparisons OK"
