#!/usr/bin/env bash
# jobs/pipeline.sh --profile mini|paper [--quick] [--dry-run] [--slurm] [--only STEP]
#                  [--out DIR] [EXPERIMENT ...]
# The MoFE paper's experiments as one chain of mofe commands (#15). jobs/mini/run.sh runs it in
# miniature from bundled data on a CPU; jobs/paper/run.sh at the paper's scale from the inputs
# named in jobs/paper/paths (TinyLlama and the datasets; nothing is downloaded).
# Experiments (default: all seven):
#   table1   efficiency vs performance: full fine-tuning vs MoFE on each size, and the untuned
#            merged model (paper Table 1)
#   table2   MoFE vs LoRA, QLoRA, DoRA (Table 2), and PERFT-R / PERFT-E beside them
#   domain   0, 2 or 4 medical experts in a 4-expert MoFE model (Table 3)
#   compose  base-finance-medical expert counts 0-0-4, 0-2-2, 0-4-0, 3-1-0, 2-2-0, 1-3-0 (Table 4)
#   basemodel  the general, medical or finance model as the base of 2 medical + 2 finance
#            experts (Table 5)
#   strategy base experts + instruction tuning; base experts + post-pretraining on medical and
#            general text, then instruction tuning; medical experts + instruction tuning (Table 6)
#   partial  k of 4 experts frozen in full fine-tuning, k = 0..4 (Appendix A)
# The chain, each step one command:
#   data-*      mofe preprocess: general, medical, finance, instruct (MMLU + MedMCQA)
#   base        mini: a dense Llama of the tiny shape pre-trained on the general data;
#               paper: TinyLlama imported
#   expert-*    dense fine-tunes of the base: the medical and the finance expert (mini: of
#               the MLP only, --train-parts ffn, so that what they learn is what a merge keeps)
#   dense-*     mini only: full fine-tunes of the base on a domain, the domain bases of basemodel
#               (paper: the experts themselves are full fine-tunes and serve as those bases)
#   post-*      strategy: the merged model post-pre-trained (mofe mode) on medical + general text
#   moe-*       mofe merge (mergekit-moe YAML, hidden gate) of base + experts
#   train-*     the runs of each experiment on the instruct data
#   eval-*      mofe eval on held-out MMLU, PubMedQA and Sujet-Finance questions
#   report      tools/report.py: the paper-shaped tables, plots and REPORT.md
# Every step is restartable: a step whose output is complete (OUT/steps/NAME.done) is skipped;
# a step whose input is missing stops the chain naming the step and the file (exit 2).
#   --quick    the same graph with few steps (what CI runs)
#   --dry-run  print the graph (step <- inputs -> output) and run nothing
#   --only S   run step S alone (its inputs must be complete): one job of a scheduler
#   --slurm    submit every unfinished step as its own sbatch job (--only S), each depending
#              (afterok) on the jobs of its inputs; prints the job ids
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
self=$root/jobs/pipeline.sh
args=("$@")
profile="" quick=0 dry=0 slurm=0 out="" only="" experiments=()
usage() { echo "jobs/pipeline.sh: $1 (see the header of jobs/pipeline.sh)" >&2; exit 2; }
while (($#)); do
  case $1 in
    --profile) profile=${2:-}; shift ;;
    --quick) quick=1 ;;
    --dry-run) dry=1 ;;
    --slurm) slurm=1 ;;
    --out) out=${2:-}; shift ;;
    --only) only=${2:-}; shift ;;
    table1|table2|domain|compose|basemodel|strategy|partial) experiments+=("$1") ;;
    *) usage "unknown argument '$1' (experiments: table1 table2 domain compose basemodel strategy partial)" ;;
  esac
  shift
done
((${#experiments[@]})) || experiments=(table1 table2 domain compose basemodel strategy partial)
wants() { [[ " ${experiments[*]} " == *" $1 "* ]]; }  # EXPERIMENT: is it among those run?
quick_flag=""
((quick == 0)) || quick_flag="--quick "
mofe=${MOFE:-$root/build/mofe}
np=${NP:-2}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
mpirun=(mpirun --oversubscribe --allow-run-as-root --bind-to none -np "$np")

# ---- the profile: inputs, shapes, step counts, hyper-parameters ---------------------------
case $profile in
  mini)
    if [ -z "$out" ]; then out=$root/runs/mini; ((quick == 0)) || out+=-quick; fi
    tok=$root/data/tokenizer.model
    d=$root/data/tiny h=$root/data/tiny_heldout
    k=$root/data/domains
    general=("$d/mmlu_hf.jsonl" "$d"/*_test.csv "$d/alpaca.jsonl" "$d/prompt_response.jsonl" "$d/corpus.txt"
             "$k/general_corpus.txt" "$k/general_train.json" "$k/general_train.jsonl")
    # A domain's knowledge: made-up drugs and companies that only its corpus and training
    # questions mention (data/README.md); held out: questions on the entities only the corpus
    # named, in the PubMedQA and Sujet-Finance formats.
    medical=("$d/medmcqa.jsonl" "$k/medical_corpus.txt" "$k/medical_train.json")
    finance=("$d/sujet_finance.jsonl" "$k/finance_corpus.txt" "$k/finance_train.jsonl")
    instruct=("$d/mmlu_hf.jsonl" "$d/medmcqa.jsonl" "$k/medical_instruct.json" "$k/finance_instruct.jsonl")
    postpretrain=("$k/medical_corpus.txt" "$k/general_corpus.txt" "$d/corpus.txt")
    eval_mmlu=$h eval_pubmedqa=$k/medical_heldout.json eval_finance=$k/finance_heldout.jsonl
    sizes=(2x 4x) seq=128 max_seq=129 base_inputs=data-general
    base_cmd() {  # a dense Llama of the bundled tiny shape, pre-trained on the general data
      "${mpirun[@]}" "$mofe" train --hidden-size 128 --intermediate-size 344 --num-layers 4 \
        --num-heads 4 --num-kv-heads 2 --vocab-size 384 --model dense --ep-size 1 \
        --data "$out/data-general" "${common[@]}" --steps "$base_steps" --lr 3e-3 --out-dir "$out/base"
    }
    # The base pre-trains long enough (1500 steps) that its attention reads the general facts
    # out at "Answer:" (data/README.md): the experts' MLPs then only add facts, and the merge
    # keeps them. Runs use a low learning rate (as the paper's 3e-5 is low for TinyLlama) so
    # that tuning the attention does not wash out what the experts' MLPs answer with.
    if ((quick)); then base_steps=30 expert_steps=15 run_steps=8 limit=(--limit 30)
    else base_steps=1500 expert_steps=600 run_steps=150 limit=(); fi
    common=(--tokenizer "$tok" --micro-batch 8 --seq-len "$seq" --log-every 25 --checkpoint-every 0)
    run_hparams=(--lr 3e-4 --warmup-steps 2)
    expert_opts=(--mode full --train-parts ffn --lr 1e-2 --warmup-steps 2)
    dense_opts=(--mode full --lr 3e-3 --warmup-steps 2)
    domain_base() { echo "dense-$1"; }
    ;;
  paper)
    paths=${PATHS:-$root/jobs/paper/paths}
    [ -f "$paths" ] || usage "no inputs file '$paths' (copy jobs/paper/paths.example and fill it in)"
    # shellcheck source=/dev/null
    source "$paths"
    for v in TINYLLAMA MMLU_TRAIN MEDMCQA_TRAIN SUJET_TRAIN GENERAL_TEXT MEDICAL_TEXT MMLU_TEST PUBMEDQA SUJET_TEST; do
      [ -n "${!v:-}" ] || usage "$paths does not set $v"
      ((dry)) || [ -e "${!v}" ] || usage "$paths: $v='${!v}' does not exist"
    done
    [ -n "$out" ] || out=$root/runs/paper
    tok=$TINYLLAMA/tokenizer.model
    general=("$GENERAL_TEXT") medical=("$MEDMCQA_TRAIN") finance=("$SUJET_TRAIN")
    postpretrain=("$MEDICAL_TEXT" "$GENERAL_TEXT")
    instruct=("$MMLU_TRAIN" "$MEDMCQA_TRAIN")
    eval_mmlu=$MMLU_TEST eval_pubmedqa=$PUBMEDQA eval_finance=$SUJET_TEST
    sizes=(2x 4x 8x) seq=${SEQ_LEN:-2048} max_seq=$((seq + 1)) base_inputs=""
    base_cmd() { "$mofe" import "$TINYLLAMA" "$out/base"; }
    base_steps=0 expert_steps=${EXPERT_STEPS:-200} run_steps=${RUN_STEPS:-20} limit=()
    ((quick)) && expert_steps=2 run_steps=2 limit=(--limit 20)
    # The paper: batch 4, gradient accumulation 512, lr 3e-5 with a linear schedule, top-2.
    common=(--tokenizer "$tok" --micro-batch 4 --grad-accum "${GRAD_ACCUM:-512}" --seq-len "$seq"
            --log-every 1 --checkpoint-every 5 --precision "${PRECISION:-bf16-mixed}")
    run_hparams=(--lr 3e-5 --warmup-steps 0 --weight-decay 0.01)
    expert_opts=(--mode full "${run_hparams[@]}")  # the paper's experts: full fine-tunes
    domain_base() { echo "expert-$1"; }
    ;;
  *) usage "--profile mini or --profile paper" ;;
esac
[ -x "$mofe" ] || ((dry)) || usage "no mofe binary at $mofe (build first, or set MOFE)"

# ---- steps ----------------------------------------------------------------------------------
# step NAME "INPUTS" OUTPUT CMD... : runs CMD unless OUT/steps/NAME.done says it finished.
((dry)) || mkdir -p "$out/steps" "$out/logs"
printed=() evals=()
declare -A job
step() {
  local name=$1 inputs=$2 output=$3
  shift 3
  [ -z "$only" ] || [ "$only" = "$name" ] || return 0
  [[ " ${printed[*]-} " == *" $name "* ]] && return 0  # each step once (merges are shared)
  printed+=("$name")
  if ((dry)); then
    printf '%-26s <- %-44s -> %s\n' "$name" "${inputs:-(inputs)}" "${output#$out/}"
    return 0
  fi
  if [ -e "$out/steps/$name.done" ] && [ -e "$output" ]; then
    echo "step $name: done before, skipped"
    return 0
  fi
  if ((slurm)); then  # one job per step, after the jobs of its inputs
    local deps="" f
    for f in $inputs; do [ -n "${job[$f]:-}" ] && deps+=${deps:+:}${job[$f]}; done
    local a=() x
    for x in "${args[@]}"; do [ "$x" = --slurm ] || a+=("$x"); done
    job[$name]=$(sbatch --parsable --job-name "mofe-$name" --ntasks "$np" \
      --output "$out/logs/$name.slurm.out" ${deps:+--dependency=afterok:$deps --kill-on-invalid-dep=yes} \
      --wrap "bash '$self' $(printf "'%s' " "${a[@]}") --only '$name'")
    echo "step $name: submitted as job ${job[$name]}${deps:+ after $deps}"
    return 0
  fi
  local f
  for f in $inputs; do  # NAME.done holds the path of that step's output
    local made
    made=$(cat "$out/steps/$f.done" 2>/dev/null || true)
    [ -n "$made" ] && [ -e "$made" ] \
      || { echo "step $name: its input '${made:-$out/$f}' (step $f) is missing or incomplete (run that step first)" >&2; exit 2; }
  done
  local t0=$SECONDS rc=0
  rm -rf "$output"
  "$@" > "$out/logs/$name.log" 2>&1 || rc=$?
  if ((rc)); then
    echo "step $name failed (exit $rc): see $out/logs/$name.log" >&2
    tail -n 5 "$out/logs/$name.log" >&2
    exit 1
  fi
  echo "$output" > "$out/steps/$name.done"
  echo "step $name: $((SECONDS - t0)) s"
}
run_step() { local name=$1 inputs=$2; shift 2; step "$name" "$inputs" "$out/$name" "$@"; }

# ---- data, base, experts ----------------------------------------------------------------------
pre=("${mpirun[@]}" "$mofe" preprocess --tokenizer "$tok" --max-seq-len "$max_seq" --val-fraction 0.1)
run_step data-general "" "${pre[@]}" --out "$out/data-general" "${general[@]}"
run_step data-medical "" "${pre[@]}" --out "$out/data-medical" "${medical[@]}"
run_step data-finance "" "${pre[@]}" --out "$out/data-finance" "${finance[@]}"
run_step data-instruct "" "${pre[@]}" --out "$out/data-instruct" "${instruct[@]}"
! wants strategy || run_step data-postpretrain "" "${pre[@]}" --out "$out/data-postpretrain" "${postpretrain[@]}"
run_step base "$base_inputs" base_cmd
# finetune NAME DOMAIN OPTIONS...: a dense fine-tune of the base on the domain's data.
finetune() {
  local name=$1 dom=$2
  shift 2
  run_step "$name" "base data-$dom" "${mpirun[@]}" "$mofe" train --model "$out/base" --ep-size 1 \
    --data "$out/data-$dom" "${common[@]}" --steps "$expert_steps" "$@" --out-dir "$out/$name"
}
for dom in medical finance; do
  finetune "expert-$dom" "$dom" "${expert_opts[@]}"
  if [ "$profile" = mini ] && wants basemodel; then finetune "dense-$dom" "$dom" "${dense_opts[@]}"; fi
done

# ---- merges -----------------------------------------------------------------------------------
prompt_of() {  # DOMAIN SLOT: the slot-th expert of a domain gets prompts of its own
  local -a base=("Which of these is a animal?" "Which of these is a fruit?"
                 "Which of these is a color?" "Which of these is a vehicle?")
  local -a medical=("Should patients take the drug?" "Which of these is a organ?"
                    "Patients in this trial received the drug." "Which of these is a drug?")
  local -a finance=("Answer the question about this financial news."
                    "Profits at the company keep growing." "Which of these is a currency?" "Shares keep falling.")
  local -n list=$1
  echo "[\"${list[$(($2 % 4))]}\"]"
}
# merge NAME [--base STEP] EXPERT... : the base (or STEP's model) + these experts (base |
# medical | finance), hidden gate.
merge() {
  local name=$1 base=base e slot=0
  shift
  if [ "${1:-}" = --base ]; then base=$2; shift 2; fi
  local inputs=$base
  local yml=$out/$name.yml
  # Written by the run that does the step (under --slurm each job walks the graph: only the
  # merge's own job writes its YAML).
  if ! ((dry)) && { [ -z "$only" ] || [ "$only" = "$name" ]; }; then
    { echo "base_model: $out/$base"; echo "gate_mode: hidden"; echo "dtype: float32"
      echo "experts_per_token: 2"; echo "experts:"
      for e in "$@"; do
        local src=$out/base
        [ "$e" = base ] || src=$out/expert-$e
        echo "  - source_model: $src"; echo "    positive_prompts: $(prompt_of "$e" $slot)"
        slot=$((slot + 1))
      done; } > "$yml.tmp.$$" && mv "$yml.tmp.$$" "$yml"
  fi
  for e in "$@"; do [ "$e" = base ] || inputs+=" expert-$e"; done
  inputs=$(tr ' ' '\n' <<< "$inputs" | sort -u | tr '\n' ' ')
  run_step "$name" "${inputs% }" "${mpirun[@]}" "$mofe" merge "$yml" "$out/$name" --tokenizer "$tok" \
    --allow-identical-experts
}
# mix NB NF NM: the expert list of NB base, NF finance and NM medical experts, in that order;
# merged as moe-cNBNFNM, so experiments that ask for the same mix share one model (and, through
# train_eval, its runs).
mix() {
  local i
  for ((i = 0; i < $1; i++)); do echo -n "base "; done
  for ((i = 0; i < $2; i++)); do echo -n "finance "; done
  for ((i = 0; i < $3; i++)); do echo -n "medical "; done
}
# A composition of SIZE experts: the base, medical, finance and the base again, repeated.
composition() {
  local n=${1%x} i mix=(base medical finance base)
  for ((i = 0; i < n; i++)); do echo -n "${mix[$((i % 4))]} "; done
}

# ---- runs -------------------------------------------------------------------------------------
# train_eval EXPERIMENT NAME MODEL METHOD [OPTIONS...]: trains MODEL with --mode METHOD (METHOD
# "untuned": evaluates MODEL as merged) and evaluates it on the held-out questions; writes
# OUT/runs-EXPERIMENT-NAME.json, what the report reads. The steps are named by what they run
# (model, method, options), so a run two experiments share (Table 3's 4 medical experts are
# Table 4's 0-0-4 and Table 6's medical experts) trains and evaluates once.
train_eval() {
  local exp=$1 name=$2 model=$3 method=$4
  shift 4
  local opts=$*
  opts=${opts//--/}
  local run=$model-$method${opts:+-${opts// /_}} evaluated input
  if [ "$method" = untuned ]; then
    evaluated=$out/$model input=$model
  else
    run_step "train-$run" "$model data-instruct" "${mpirun[@]}" "$mofe" train --model "$out/$model" \
      --mode "$method" --data "$out/data-instruct" "${common[@]}" --steps "$run_steps" \
      "${run_hparams[@]}" --out-dir "$out/train-$run" "$@"
    evaluated=$out/train-$run input=train-$run
  fi
  step "eval-$run" "$input" "$out/eval-$run.json" "${mpirun[@]}" "$mofe" eval --model "$evaluated" \
    --task mmlu,pubmedqa,sujet-finance --data "$eval_mmlu" --data "$eval_pubmedqa" \
    --data "$eval_finance" --tokenizer "$tok" "${limit[@]}" \
    --routing-report "$out/routing-$run.csv" --output "$out/eval-$run.json"
  [[ " ${evals[*]-} " == *" eval-$run "* ]] || evals+=("eval-$run")
  ((dry)) || [ -n "$only" ] || printf '{"experiment": "%s", "name": "%s", "model": "%s", "method": "%s", "options": "%s", "train": "%s", "eval": "%s", "routing": "%s"}\n' \
    "$exp" "$name" "$model" "$method" "$*" "$( [ "$method" = untuned ] || echo "train-$run")" \
    "eval-$run.json" "routing-$run.csv" > "$out/runs-$exp-$name.json"
}

for exp in "${experiments[@]}"; do
  case $exp in
    table1)
      for size in "${sizes[@]}"; do
        # shellcheck disable=SC2046
        merge "moe-$size" $(composition "$size")
        train_eval table1 "$size-untuned" "moe-$size" untuned
        train_eval table1 "$size-full" "moe-$size" full
        train_eval table1 "$size-mofe" "moe-$size" mofe
      done ;;
    table2)
      for size in "${sizes[@]:1:1}"; do  # the paper's medium size (4 experts)
        # shellcheck disable=SC2046
        merge "moe-$size" $(composition "$size")
        for m in mofe perft-r perft-e; do train_eval table2 "$size-$m" "moe-$size" "$m"; done
        for m in lora qlora dora; do
          train_eval table2 "$size-$m" "moe-$size" "$m" --lora-targets q_proj,k_proj,v_proj,o_proj
        done
      done ;;
    domain)
      for k in 0 2 4; do
        # shellcheck disable=SC2046
        merge "moe-c$((4 - k))0$k" $(mix $((4 - k)) 0 $k)
        train_eval domain "med$k" "moe-c$((4 - k))0$k" mofe
      done ;;
    compose)  # base-finance-medical counts of the 4 experts
      for c in 0-0-4 0-2-2 0-4-0 3-1-0 2-2-0 1-3-0; do
        IFS=- read -r nb nf nm <<< "$c"
        # shellcheck disable=SC2046
        merge "moe-c$nb$nf$nm" $(mix "$nb" "$nf" "$nm")
        train_eval compose "$c" "moe-c$nb$nf$nm" mofe
      done ;;
    basemodel)  # 2 medical + 2 finance experts on each base
      for b in general medical finance; do
        bstep=base
        [ "$b" = general ] || bstep=$(domain_base "$b")
        merge "moe-b$b" --base "$bstep" medical medical finance finance
        train_eval basemodel "$b" "moe-b$b" mofe
      done ;;
    strategy)
      # shellcheck disable=SC2046
      merge moe-c400 $(mix 4 0 0)
      # shellcheck disable=SC2046
      merge moe-c004 $(mix 0 0 4)
      train_eval strategy base-instruct moe-c400 mofe
      run_step post-pretrain "moe-c400 data-postpretrain" "${mpirun[@]}" "$mofe" train \
        --model "$out/moe-c400" --mode mofe --data "$out/data-postpretrain" "${common[@]}" \
        --steps "$run_steps" "${run_hparams[@]}" --out-dir "$out/post-pretrain"
      train_eval strategy base-post-instruct post-pretrain mofe
      train_eval strategy medical-instruct moe-c004 mofe ;;
    partial)
      # shellcheck disable=SC2046
      merge moe-4x $(composition 4x)
      frozen=("" 0 0,1 0,1,2 0,1,2,3)
      for k in 0 1 2 3 4; do
        opts=()
        [ -n "${frozen[$k]}" ] && opts=(--freeze-experts "${frozen[$k]}")
        train_eval partial "frozen$k" moe-4x full "${opts[@]}"
      done ;;
  esac
done

step report "${evals[*]}" "$out/report/REPORT.md" /usr/bin/python3 "$root/tools/report.py" "$out" \
  --out "$out/report" --command "jobs/$profile/run.sh ${quick_flag}${experiments[*]}"
((dry || slurm)) || [ -n "$only" ] || echo "report: $out/report/REPORT.md"
