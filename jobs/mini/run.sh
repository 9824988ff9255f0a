#!/usr/bin/env bash
# jobs/mini/run.sh [--quick] [--dry-run] [--slurm] [--only STEP] [--out DIR] [EXPERIMENT ...]
# The MoFE paper's experiments in miniature, from bundled data only, on a CPU: a small dense
# base pre-trained here, medical and finance experts fine-tuned from it, merged with the hidden
# gate, every experiment's runs, evaluation and the report (runs/mini/report/REPORT.md).
# All experiments take about 17 minutes on 2 cores; --quick (what CI runs) about two.
# The graph and options: jobs/pipeline.sh.
exec bash "$(dirname "$0")/../pipeline.sh" --profile mini "$@"
