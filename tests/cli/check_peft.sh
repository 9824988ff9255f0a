#!/usr/bin/env bash
# check_peft.sh OUT MOFE TINY_DATA TOKENIZER : the PEFT baselines end to end on the bundled data.
#  1. lora, dora and qlora each train the tiny model (2 ranks, experts spread) and the loss
#     falls; the parameter line and every progress line name the mode;
#  2. the run exported in peft's format (base + adapter) and read back with eval --adapter gives
#     the checkpoint's log-likelihoods bit for bit; --merge-adapters gives them to 1e-5;
#  3. an exported adapter starts a new mofe run (train --adapter);
#  4. a resume on another base, and an adapter that does not fit the model, are refused (exit 2)
#     before any work;
#  5. --dry-run prints the paper's trainable counts for TinyLlama (LoRA r 8 on q,k,v,o:
#     2,252,800; DoRA 2,354,176) whatever the number of experts.
set -u
out=$1 mofe=$2 data=$3 tok=$4
root=$(cd "$(dirname "$0")/../.." && pwd)
mpirun=(mpirun --oversubscribe --allow-run-as-root --bind-to none)
fail() { echo "FAIL: $*"; exit 1; }
rm -rf "$out"
mkdir -p "$out"
common=(--config "$root/jobs/tiny-mofe.cfg" --data "$data" --tokenizer "$tok" --steps 60 --lr 1e-2
        --log-every 20 --lora-targets q_proj,v_proj,w1,w2,w3)
heldout=(--task pubmedqa --data "$root/data/tiny_heldout/ori_pqal.json" --limit 40 --tokenizer "$tok")
loglik() { python3 -c "import json,sys; print(json.dumps([p['loglik'] for p in json.load(open(sys.argv[1]))['mofe']['predictions']]))" "$1"; }

for mode in lora dora qlora; do
  "${mpirun[@]}" -np 2 "$mofe" train "${common[@]}" --mode "$mode" --out-dir "$out/$mode" \
    > "$out/$mode.log" 2>&1 || { tail "$out/$mode.log"; fail "$mode training"; }
  grep -E "^parameters \(mode $mode\)" "$out/$mode.log" || fail "$mode: no parameter line naming the mode"
  [ "$(grep -cE "^$mode step " "$out/$mode.log")" -ge 3 ] || fail "$mode: progress lines do not name the mode"
  first=$(head -n1 "$out/$mode/metrics.jsonl" | grep -oE '"loss":[0-9.eE+-]+' | cut -d: -f2)
  last=$(tail -n1 "$out/$mode/metrics.jsonl" | grep -oE '"loss":[0-9.eE+-]+' | cut -d: -f2)
  echo "$mode: loss $first -> $last"
  awk -v f="$first" -v l="$last" 'BEGIN { exit !(l < 0.95 * f) }' || fail "$mode: the loss did not fall"

  # Interchange: base + peft adapter, and merged.
  "$mofe" export "$out/$mode" "$out/$mode-hf" > "$out/$mode-export.log" 2>&1 || fail "$mode export"
  "$mofe" export "$out/$mode" "$out/$mode-merged" --merge-adapters > /dev/null 2>&1 || fail "$mode merge"
  for f in adapter_config.json adapter_model.safetensors; do
    [ -s "$out/$mode-hf/adapter/$f" ] || fail "$mode: no $f"
  done
  grep -q '"peft_type": "LORA"' "$out/$mode-hf/adapter/adapter_config.json" || fail "peft_type"
  "$mofe" eval --model "$out/$mode" "${heldout[@]}" --output "$out/$mode-ckpt.json" > /dev/null 2>&1 \
    || fail "$mode: eval of the checkpoint"
  "$mofe" eval --model "$out/$mode-hf" --adapter "$out/$mode-hf/adapter" "${heldout[@]}" \
    --output "$out/$mode-peft.json" > /dev/null 2>&1 || fail "$mode: eval with --adapter"
  "$mofe" eval --model "$out/$mode-merged" "${heldout[@]}" --output "$out/$mode-merged.json" \
    > /dev/null 2>&1 || fail "$mode: eval of the merged model"
  [ "$(loglik "$out/$mode-ckpt.json")" = "$(loglik "$out/$mode-peft.json")" ] \
    || fail "$mode: the exported peft adapter does not give the checkpoint's log-likelihoods"
  python3 - "$out/$mode-ckpt.json" "$out/$mode-merged.json" <<'EOF' || fail "$mode: merged model differs"
import json, sys
a, b = ([x for p in json.load(open(f))["mofe"]["predictions"] for x in p["loglik"]] for f in sys.argv[1:])
worst = max(abs(x - y) / max(abs(x), 1e-3) for x, y in zip(a, b))
print(f"merged vs adapters: max relative difference of {len(a)} log-likelihoods {worst:.2e}")
sys.exit(0 if len(a) == len(b) and worst < 1e-5 else 1)
EOF
done

# A peft adapter starts a mofe run; its settings (DoRA, r, targets) come from adapter_config.json.
"${mpirun[@]}" -np 2 "$mofe" train --config "$root/jobs/tiny-mofe.cfg" --data "$data" --tokenizer "$tok" \
  --mode lora --model "$out/dora-hf" --adapter "$out/dora-hf/adapter" --steps 2 --out-dir "$out/continued" \
  > "$out/continued.log" 2>&1 || { tail "$out/continued.log"; fail "train --adapter"; }
grep -E "^train: mode dora \(r 8" "$out/continued.log" || fail "the adapter's DoRA setting was not taken"

# Refused before any work, exit 2, one line.
"$root/tests/cli/expect_exit.sh" 2 "was trained on the seeded initialisation \(seed 1234\), this run starts from the seeded initialisation \(seed 99\)" \
  "${mpirun[@]}" -np 2 "$mofe" train "${common[@]}" --mode lora --out-dir "$out/lora" --resume auto --seed 99 \
  || fail "a resume on another base was not refused"
"$root/tests/cli/expect_exit.sh" 2 "has shape \[8, 128\], this model needs \[8, 64\]: the adapter's base model differs" \
  "$mofe" train --mode lora --adapter "$out/lora-hf/adapter" --hidden-size 64 --vocab-size 384 --ep-size 1 \
  --data synthetic --out-dir "$out/misfit" || fail "an adapter for another base was not refused"

# The paper's counts from the dry run (nothing is built: TinyLlama with 8 experts is 6.4B).
tl=(--hidden-size 2048 --intermediate-size 5632 --num-layers 22 --num-heads 32 --num-kv-heads 4
    --vocab-size 32000 --max-positions 2048 --lora-targets q_proj,k_proj,v_proj,o_proj --dry-run)
for e in 2 4 8; do
  "$mofe" train "${tl[@]}" --num-experts $e --mode lora | tee "$out/dry-lora-$e.log" | head -1
  grep -q "2252800 trainable" "$out/dry-lora-$e.log" || fail "LoRA trainable count ($e experts)"
  "$mofe" train "${tl[@]}" --num-experts $e --mode dora | grep -q "2354176 trainable" \
    || fail "DoRA trainable count ($e experts)"
done
"$mofe" train "${tl[@]}" --num-experts 8 --mode qlora | tee "$out/dry-qlora.log" | grep -E "nf4" \
  || fail "qlora dry run: no nf4 storage"
echo "PASS"
