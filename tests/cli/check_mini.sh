#!/usr/bin/env bash
# check_mini.sh OUT MOFE : the paper's miniature pipeline (jobs/mini, #15) end to end, --quick.
#  1. every step of the graph (--dry-run lists them) finishes and leaves its output;
#  2. the report has every table with the expected rows and columns, and valid PNGs of
#     non-trivial size;
#  3. a second run skips every step (restartable);
#  4. a step whose input is missing stops with one line naming the step and the file, exit 2.
set -u
out=$1 mofe=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
fail() { echo "FAIL: $*"; exit 1; }
rm -rf "$out" "$out-lone"
MOFE=$mofe bash "$root/jobs/mini/run.sh" --quick --out "$out" --dry-run > "$out.graph" || fail "--dry-run"
[ ! -e "$out" ] || fail "--dry-run wrote $out"
steps=$(awk '{print $1}' "$out.graph")
echo "graph: $(echo "$steps" | wc -l) steps"
MOFE=$mofe bash "$root/jobs/mini/run.sh" --quick --out "$out" > "$out.log" 2>&1 || { tail -20 "$out.log"; fail "the quick pipeline"; }
for s in $steps; do
  [ -e "$out/steps/$s.done" ] || fail "step $s did not finish"
done
out_of() { awk -v s="$1" '$1 == s {print $NF}' "$out.graph"; }
for s in $steps; do [ -e "$out/$(out_of "$s")" ] || fail "step $s: no output $(out_of "$s")"; done

python3 - "$out/report" <<'PY' || fail "report"
import csv, os, sys
d = sys.argv[1]
accs = ["MMLU", "PubMedQA", "Finance"]
cols = ["trainable", "s/step (median)", "final loss (mean of 5)"] + accs
want = {"table1": (["size", "method"], {("2x", "full"), ("2x", "mofe"), ("2x", "untuned"),
                                        ("4x", "full"), ("4x", "mofe"), ("4x", "untuned")}),
        "table2": (["method"], {(m,) for m in ["mofe", "lora", "qlora", "dora", "perft-r", "perft-e"]}),
        "domain": (["medical experts"], {("0",), ("2",), ("4",)}),
        "compose": (["base-finance-medical"], {(c,) for c in ["0-0-4", "0-2-2", "0-4-0", "3-1-0", "2-2-0", "1-3-0"]}),
        "basemodel": (["base model"], {("general",), ("medical",), ("finance",)}),
        "strategy": (["strategy"], {("base-instruct",), ("base-post-instruct",), ("medical-instruct",)}),
        "partial": (["frozen experts"], {(str(k),) for k in range(5)})}
for name, (keys, rows) in want.items():
    with open(os.path.join(d, name + ".csv")) as f:
        r = list(csv.reader(f))
    assert r[0] == keys + cols, (name, r[0])
    got = {tuple(row[:len(keys)]) for row in r[1:]}
    assert got == rows, (name, got)
    assert os.path.getsize(os.path.join(d, name + ".md")) > 200, name
    for row in r[1:]:
        for c in row[len(keys) + 3:]:
            float(c.split(" ")[0])  # an accuracy in every accuracy cell
text = open(os.path.join(d, "REPORT.md")).read()
for t in ["Table 1", "Table 2", "Table 3", "Table 4", "Table 5", "Table 6", "Appendix A", "claims"]:
    assert t in text, t
pngs = [p for p in os.listdir(d) if p.endswith(".png")]
need = {"loss_table1.png", "loss_table2.png", "loss_domain.png", "loss_partial.png", "loss_compose.png",
        "loss_basemodel.png", "loss_strategy.png", "accuracy.png", "trainable_vs_time.png"}
assert need <= set(pngs), need - set(pngs)
assert any(p.startswith("routing_") for p in pngs), "no routing picture"
for p in pngs:
    b = open(os.path.join(d, p), "rb").read()
    assert b[:8] == b"\x89PNG\r\n\x1a\n" and len(b) > 10000, (p, len(b))
    assert p in text, f"{p} not in REPORT.md"
print(f"report: 7 tables as expected, {len(pngs)} PNGs")
PY

MOFE=$mofe bash "$root/jobs/mini/run.sh" --quick --out "$out" > "$out.again" 2>&1 || fail "second run"
! grep -E "^step [^ ]+: [0-9]+ s$" "$out.again" || fail "a second run redid finished steps"
grep -q "step report: done before, skipped" "$out.again" || fail "a second run did not skip the report"

err=$(MOFE=$mofe bash "$root/jobs/mini/run.sh" --quick --out "$out-lone" --only train-moe-2x-mofe 2>&1 >/dev/null)
rc=$?
echo "$err"
[ "$rc" -eq 2 ] || fail "a step without its input: exit $rc, expected 2"
echo "$err" | grep -q "step train-moe-2x-mofe: its input '$out-lone/moe-2x' (step moe-2x) is missing" \
  || fail "the message does not name the step and the file"
echo "PASS"
