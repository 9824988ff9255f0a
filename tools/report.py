#!/usr/bin/python3
"""tools/report.py OUT_DIR [--out DIR]: the paper-shaped tables and plots of a jobs/mini (or
jobs/paper) run directory (#15).

Reads OUT_DIR/runs-*.json (one per training run or untuned model: experiment, method, where its
metrics.jsonl, training log, results JSON and routing report are), and writes to DIR (default
OUT_DIR/report):
  table1.md/.csv   efficiency vs performance: size, method, trainable, s/step, loss, accuracies
  table2.md/.csv   MoFE vs the PEFT baselines (and PERFT)
  domain.md/.csv   accuracy by number of medical experts (Table 3)
  compose.md/.csv  accuracy by the base-finance-medical counts of the experts (Table 4)
  basemodel.md/.csv  accuracy by the model the experts were merged onto (Table 5)
  strategy.md/.csv  instruction tuning, post-pretraining first, medical experts (Table 6)
  partial.md/.csv  accuracy and cost by number of frozen experts
  loss_*.png, accuracy.png, trainable_vs_time.png, routing_*.png, REPORT.md
REPORT.md states, for each claim of the paper the miniature can test, whether it holds here.

matplotlib (python3-matplotlib, Debian) draws the pictures: its Agg backend writes PNGs with
no display, and bar charts with error bars and heatmaps need no hand-written layout (gnuplot
would need a script per plot type and its own data files).
"""
import argparse
import csv
import glob
import json
import math
import os
import re
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

TASKS = [("mmlu", "MMLU"), ("pubmedqa", "PubMedQA"), ("sujet-finance", "Finance")]


def fail(msg):
    print(f"report: {msg}", file=sys.stderr)
    sys.exit(2)


def load_runs(root):
    runs = []
    for meta_file in sorted(glob.glob(os.path.join(root, "runs-*.json"))):
        with open(meta_file) as f:
            meta = json.load(f)
        r = dict(meta)
        ev = os.path.join(root, meta["eval"])
        if not os.path.isfile(ev):
            fail(f"{meta_file}: its results '{ev}' are missing (run its eval step)")
        with open(ev) as f:
            results = json.load(f)["results"]
        r["acc"] = {}
        for key, _ in TASKS:
            res = results.get(key)
            if res is None:
                fail(f"'{ev}' has no results for task '{key}'")
            r["acc"][key] = (res["acc,none"], res.get("acc_stderr,none", float("nan")))
        r["losses"], r["step_time"], r["trainable"] = [], float("nan"), None
        if meta.get("train"):
            mf = os.path.join(root, meta["train"], "metrics.jsonl")
            if not os.path.isfile(mf):
                fail(f"{meta_file}: '{mf}' is missing (run its train step)")
            with open(mf) as f:
                lines = [json.loads(l) for l in f if l.strip()]
            r["losses"] = [l["loss"] for l in lines]
            times = [l["step_time_s"] for l in lines[1:]] or [l["step_time_s"] for l in lines]
            r["step_time"] = sorted(times)[len(times) // 2]  # median: the machine is noisy
            log = os.path.join(root, "logs", meta["train"] + ".log")
            if os.path.isfile(log):
                m = re.search(r"trainable \((\d+)\)", open(log).read())
                if m:
                    r["trainable"] = int(m.group(1))
        r["routing_csv"] = os.path.join(root, meta["routing"])
        runs.append(r)
    if not runs:
        fail(f"'{root}' holds no runs-*.json: not a jobs/mini or jobs/paper run directory")
    return runs


def fmt_acc(a):
    acc, se = a
    return f"{acc:.3f} ± {se:.3f}" if not math.isnan(se) else f"{acc:.3f}"


def final_loss(r):
    v = r["losses"][-5:]
    return sum(v) / len(v) if v else float("nan")


def write_table(out, name, title, header, rows):
    with open(os.path.join(out, name + ".csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    md = [f"### {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    md += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    text = "\n".join(md) + "\n"
    with open(os.path.join(out, name + ".md"), "w") as f:
        f.write(text)
    return text


def cells(r):
    trainable = f"{r['trainable']:,}" if r["trainable"] is not None else "—"
    st = f"{r['step_time']:.3f}" if not math.isnan(r["step_time"]) else "—"
    loss = f"{final_loss(r):.3f}" if r["losses"] else "—"
    return [trainable, st, loss] + [fmt_acc(r["acc"][k]) for k, _ in TASKS]


ACC_HEAD = ["trainable", "s/step (median)", "final loss (mean of 5)"] + [t for _, t in TASKS]


def plot_losses(out, exp, runs):
    fig, ax = plt.subplots(figsize=(7, 4))
    for r in runs:
        if r["losses"]:
            ax.plot(range(1, len(r["losses"]) + 1), r["losses"], label=r["name"])
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.set_title(f"{exp}: training loss per method")
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = os.path.join(out, f"loss_{exp}.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return os.path.basename(path)


def plot_accuracy(out, runs):
    fig, ax = plt.subplots(figsize=(max(7, 0.45 * len(runs) + 2), 4.5))
    width = 0.8 / len(TASKS)
    for i, (key, title) in enumerate(TASKS):
        xs = [j + i * width for j in range(len(runs))]
        accs = [r["acc"][key][0] for r in runs]
        errs = [0 if math.isnan(r["acc"][key][1]) else r["acc"][key][1] for r in runs]
        ax.bar(xs, accs, width, yerr=errs, capsize=2, label=title)
    ax.set_xticks([j + width for j in range(len(runs))])
    ax.set_xticklabels([f"{r['experiment']}\n{r['name']}" for r in runs], rotation=60, fontsize=6)
    ax.set_ylabel("held-out accuracy (± stderr)")
    ax.set_title("accuracy per method and size")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "accuracy.png"), dpi=110)
    plt.close(fig)
    return "accuracy.png"


def plot_trainable_vs_time(out, runs):
    fig, ax = plt.subplots(figsize=(6, 4))
    for r in runs:
        if r["trainable"] and not math.isnan(r["step_time"]):
            ax.scatter(r["trainable"], r["step_time"])
            ax.annotate(f"{r['experiment']}/{r['name']}", (r["trainable"], r["step_time"]), fontsize=6)
    ax.set_xscale("log")
    ax.set_xlabel("trainable parameters")
    ax.set_ylabel("s per step (median)")
    ax.set_title("trainable parameters vs time per step")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "trainable_vs_time.png"), dpi=110)
    plt.close(fig)
    return "trainable_vs_time.png"


def plot_routing(out, r):
    """Share of token slots per layer x expert, one panel per domain (routing report)."""
    path = r["routing_csv"]
    if not os.path.isfile(path):
        return None
    share = {}
    with open(path) as f:
        for row in csv.DictReader(f):
            share.setdefault(row["group"], {})[(int(row["layer"]), int(row["expert"]))] = float(row["share"])
    groups = sorted(share)
    if not groups:
        return None
    L = 1 + max(l for g in groups for l, _ in share[g])
    E = 1 + max(e for g in groups for _, e in share[g])
    fig, axes = plt.subplots(1, len(groups), figsize=(2.2 * len(groups) + 1, 2.8), squeeze=False)
    for ax, g in zip(axes[0], groups):
        grid = [[share[g].get((l, e), 0.0) for e in range(E)] for l in range(L)]
        im = ax.imshow(grid, vmin=0, vmax=1, cmap="viridis", aspect="auto")
        ax.set_title(g[:22], fontsize=7)
        ax.set_xlabel("expert", fontsize=7)
        ax.set_ylabel("layer", fontsize=7)
        ax.set_xticks(range(E))
        ax.set_yticks(range(L))
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8, label="share of token slots")
    name = f"routing_{r['experiment']}_{r['name']}.png"
    fig.savefig(os.path.join(out, name), dpi=110)
    plt.close(fig)
    return name


def verdict(ok):
    return "holds here" if ok else "does not hold here"


def compare(claim, task, better, worse, label_better, label_worse):
    """A claim that run `better` beats run `worse` on `task`, by more than two standard errors
    of the difference."""
    a, b = better["acc"][task], worse["acc"][task]
    diff = a[0] - b[0]
    se = math.sqrt((0 if math.isnan(a[1]) else a[1]) ** 2 + (0 if math.isnan(b[1]) else b[1]) ** 2)
    return (claim, f"{label_better} {fmt_acc(a)} vs {label_worse} {fmt_acc(b)}: difference "
            f"{diff:+.3f} ± {se:.3f}", verdict(diff > 2 * se) if se > 0 else verdict(diff > 0))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root")
    ap.add_argument("--out")
    ap.add_argument("--command", help="the pipeline command that made the runs (for REPORT.md)")
    a = ap.parse_args()
    out = a.out or os.path.join(a.root, "report")
    os.makedirs(out, exist_ok=True)
    runs = load_runs(a.root)
    by = {}
    for r in runs:
        by.setdefault(r["experiment"], []).append(r)
    named = {(r["experiment"], r["name"]): r for r in runs}
    md = ["# MoFE in miniature: report", ""]
    try:
        commit = subprocess.run(["git", "-C", os.path.dirname(os.path.abspath(__file__)), "rev-parse",
                                 "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = "?"
    made = f"`{a.command}`, then " if a.command else ""
    md += [f"Made by {made}`tools/report.py` at commit {commit or '?'}. Accuracies are on held-out "
           "questions, ± their standard error; s/step is the median step time of the run.", ""]
    claims = []
    pics = []
    if "table1" in by:
        rows = [[r["name"].split("-")[0], r["method"]] + cells(r) for r in by["table1"]]
        md.append(write_table(out, "table1", "Table 1: efficiency vs performance", ["size", "method"] + ACC_HEAD, rows))
        pics.append(plot_losses(out, "table1", by["table1"]))
        m2, m4 = named.get(("table1", "2x-mofe")), named.get(("table1", "4x-mofe"))
        f4 = named.get(("table1", "4x-full"))
        if m2 and m4 and m2["trainable"] and m4["trainable"]:
            claims.append(("MoFE's trainable size stays (nearly) fixed as experts are added: only the "
                           "router grows", f"2x {m2['trainable']:,}, 4x {m4['trainable']:,}",
                           verdict(m4["trainable"] < 1.05 * m2["trainable"])))
        if m4 and f4:
            claims.append(("MoFE trains fewer parameters and is faster per step than full fine-tuning",
                           f"4x: {m4['trainable']:,} vs {f4['trainable']:,} trainable, "
                           f"{m4['step_time']:.3f} vs {f4['step_time']:.3f} s/step",
                           verdict(m4["trainable"] < f4["trainable"] and m4["step_time"] < f4["step_time"])))
    if "table2" in by:
        rows = [[r["method"]] + cells(r) for r in by["table2"]]
        md.append(write_table(out, "table2", "Table 2: MoFE vs PEFT (4 experts)", ["method"] + ACC_HEAD, rows))
        pics.append(plot_losses(out, "table2", by["table2"]))
        mofe = named.get(("table2", "4x-mofe"))
        peft = [r for r in by["table2"] if r["method"] in ("lora", "qlora", "dora")]
        if mofe and peft:
            best = max(peft, key=lambda r: r["acc"]["mmlu"][0])
            claims.append(("MoFE is more accurate than LoRA, QLoRA and DoRA (MMLU-format)",
                           f"mofe {fmt_acc(mofe['acc']['mmlu'])}, best PEFT ({best['method']}) "
                           f"{fmt_acc(best['acc']['mmlu'])}",
                           verdict(mofe["acc"]["mmlu"][0] > best["acc"]["mmlu"][0])))
    if "domain" in by:
        rows = [[r["name"].replace("med", "")] + cells(r) for r in by["domain"]]
        md.append(write_table(out, "domain", "Table 3: medical experts in a 4-expert MoFE model",
                              ["medical experts"] + ACC_HEAD, rows))
        pics.append(plot_losses(out, "domain", by["domain"]))
        d0, d4 = named.get(("domain", "med0")), named.get(("domain", "med4"))
        if d0 and d4:
            claims.append(compare("Medical experts raise medical (PubMedQA) accuracy", "pubmedqa", d4, d0,
                                  "4 medical", "0"))
    if "compose" in by:
        rows = [[r["name"]] + cells(r) for r in by["compose"]]
        md.append(write_table(out, "compose", "Table 4: compositions of 4 experts (base-finance-medical)",
                              ["base-finance-medical"] + ACC_HEAD, rows))
        pics.append(plot_losses(out, "compose", by["compose"]))
        c004, c040 = named.get(("compose", "0-0-4")), named.get(("compose", "0-4-0"))
        if c004 and c040:
            claims.append(compare("Finance experts raise finance accuracy (4 finance vs 4 medical experts)",
                                  "sujet-finance", c040, c004, "0-4-0", "0-0-4"))
            claims.append(compare("Medical experts raise medical accuracy (4 medical vs 4 finance experts)",
                                  "pubmedqa", c004, c040, "0-0-4", "0-4-0"))
    if "basemodel" in by:
        rows = [[r["name"]] + cells(r) for r in by["basemodel"]]
        md.append(write_table(out, "basemodel", "Table 5: the base model of 2 medical + 2 finance experts",
                              ["base model"] + ACC_HEAD, rows))
        pics.append(plot_losses(out, "basemodel", by["basemodel"]))
        g = named.get(("basemodel", "general"))
        for dom, task in [("medical", "pubmedqa"), ("finance", "sujet-finance")]:
            b = named.get(("basemodel", dom))
            if g and b:
                claims.append(compare(f"A {dom} base model raises {dom} accuracy over the general base",
                                      task, b, g, f"{dom} base", "general base"))
    if "strategy" in by:
        rows = [[r["name"]] + cells(r) for r in by["strategy"]]
        md.append(write_table(out, "strategy", "Table 6: training strategy", ["strategy"] + ACC_HEAD, rows))
        pics.append(plot_losses(out, "strategy", by["strategy"]))
        plain = named.get(("strategy", "base-instruct"))
        post = named.get(("strategy", "base-post-instruct"))
        med = named.get(("strategy", "medical-instruct"))
        if plain and post:
            claims.append(compare("Post-pretraining on medical text before instruction tuning raises medical "
                                  "accuracy", "pubmedqa", post, plain, "post-pretrained", "instruction only"))
        if plain and med:
            claims.append(compare("Medical experts beat base experts on medical questions (both instruction-tuned)",
                                  "pubmedqa", med, plain, "medical experts", "base experts"))
    if "partial" in by:
        rows = [[r["name"].replace("frozen", "")] + cells(r) for r in by["partial"]]
        md.append(write_table(out, "partial", "Appendix A: k of 4 experts frozen (full fine-tuning)",
                              ["frozen experts"] + ACC_HEAD, rows))
        pics.append(plot_losses(out, "partial", by["partial"]))
        t = [r["trainable"] for r in by["partial"] if r["trainable"]]
        if len(t) == len(by["partial"]):
            claims.append(("Each frozen expert removes its FFN from the trainable count",
                           ", ".join(f"{x:,}" for x in t), verdict(all(a > b for a, b in zip(t, t[1:])))))
    pics.append(plot_accuracy(out, runs))
    pics.append(plot_trainable_vs_time(out, runs))
    for r in runs:
        if r["method"] == "mofe" and r["name"] in ("4x-mofe", "med2"):
            p = plot_routing(out, r)
            if p:
                pics.append(p)
    md += ["## The paper's claims, in miniature", "", "| claim | measured | verdict |", "|---|---|---|"]
    md += [f"| {c} | {m} | {v} |" for c, m, v in claims]
    md += ["", "## Pictures", ""] + [f"![{p}]({p})" for p in pics]
    with open(os.path.join(out, "REPORT.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    print(f"report: {len(runs)} runs, {len(pics)} pictures, {len(claims)} claims -> {out}/REPORT.md")


if __name__ == "__main__":
    main()
