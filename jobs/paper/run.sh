#!/usr/bin/env bash
# jobs/paper/run.sh [--slurm] [--dry-run] [--quick] [--only STEP] [--out DIR] [EXPERIMENT ...]
# The paper's experiments at full scale (TinyLlama experts, 2/4/8 of them, the paper's batch 4 x
# accumulation 512, lr 3e-5 linear) from the inputs in jobs/paper/paths (PATHS=FILE for
# another; start from jobs/paper/paths.example). Under Slurm: --slurm submits each step as a job
# depending on its inputs' jobs (NP ranks each). The graph and options: jobs/pipeline.sh.
exec bash "$(dirname "$0")/../pipeline.sh" --profile paper "$@"
