#!/usr/bin/env bash
# check_perft.sh OUT MOFE TINY_DATA TOKENIZER PRETRAINED : PERFT (#14) end to end.
#  1. perft-r, perft-e, perft-s, perft-d each train the tiny model from its seeded
#     initialisation on 2 ranks with experts spread and the loss falls (last < 0.95 first);
#     the parameter and progress lines name the mode. Then each fine-tunes the pretrained tiny
#     MoE (the bundled tiny job's checkpoint: PERFT adapts a trained MoE) and held-out PubMedQA
#     accuracy is clearly above chance (acc - 2 stderr > 1/3);
#  2. the export (base + OUT/perft) read back with eval --adapter gives the checkpoint's
#     log-likelihoods bit for bit; eval's routing report covers perft-r's adapter routers;
#  3. refused before work, exit 2: a resume with another --perft-rank, --merge-adapters of
#     PERFT adapters, adapters on another base;
#  4. --dry-run prints the closed-form trainable counts for TinyLlama's shapes.
set -u
out=$1 mofe=$2 data=$3 tok=$4 pretrained=$5
root=$(cd "$(dirname "$0")/../.." && pwd)
mpirun=(mpirun --oversubscribe --allow-run-as-root --bind-to none)
fail() { echo "FAIL: $*"; exit 1; }
rm -rf "$out"
mkdir -p "$out"
common=(--config "$root/jobs/tiny-mofe.cfg" --data "$data" --tokenizer "$tok" --log-every 20)
seeded=("${common[@]}" --steps 60 --lr 1e-2)
tuned=("${common[@]}" --model "$pretrained" --steps 40)
heldout=(--task pubmedqa --data "$root/data/tiny_heldout/ori_pqal.json" --tokenizer "$tok")
loglik() { python3 -c "import json,sys; print(json.dumps([p['loglik'] for p in json.load(open(sys.argv[1]))['mofe']['predictions']]))" "$1"; }
loss() { "$2" -n1 "$1" | grep -oE '"loss":[0-9.eE+-]+' | cut -d: -f2; }  # FILE head|tail

for mode in perft-r perft-e perft-s perft-d; do
  extra=()
  [ "$mode" = perft-r ] && extra=(--perft-aux-coef 0.01)
  [ "$mode" = perft-d ] && extra=(--perft-adapter parallel --perft-act gelu)
  "${mpirun[@]}" -np 2 "$mofe" train "${seeded[@]}" --mode "$mode" "${extra[@]}" \
    --out-dir "$out/$mode-seeded" > "$out/$mode-seeded.log" 2>&1 \
    || { tail "$out/$mode-seeded.log"; fail "$mode training"; }
  grep -E "^parameters \(mode $mode\)" "$out/$mode-seeded.log" || fail "$mode: no parameter line naming the mode"
  [ "$(grep -cE "^$mode step " "$out/$mode-seeded.log")" -ge 3 ] || fail "$mode: progress lines do not name the mode"
  first=$(loss "$out/$mode-seeded/metrics.jsonl" head) last=$(loss "$out/$mode-seeded/metrics.jsonl" tail)
  echo "$mode: loss $first -> $last"
  awk -v f="$first" -v l="$last" 'BEGIN { exit !(l < 0.95 * f) }' || fail "$mode: the loss did not fall"

  "${mpirun[@]}" -np 2 "$mofe" train "${tuned[@]}" --mode "$mode" "${extra[@]}" --out-dir "$out/$mode" \
    > "$out/$mode.log" 2>&1 || { tail "$out/$mode.log"; fail "$mode fine-tuning the tiny job"; }
  "$mofe" eval --model "$out/$mode" "${heldout[@]}" --output "$out/$mode-ckpt.json" \
    > "$out/$mode-eval.log" 2>&1 || { tail "$out/$mode-eval.log"; fail "$mode: eval of the checkpoint"; }
  python3 - "$out/$mode-ckpt.json" "$mode" <<'PY' || fail "$mode: held-out accuracy not clearly above chance"
import json, sys
r = json.load(open(sys.argv[1]))["results"]["pubmedqa"]
acc, se = r["acc,none"], r["acc_stderr,none"]
print(f"{sys.argv[2]}: held-out PubMedQA acc {acc:.3f} (stderr {se:.3f}), chance 0.333")
sys.exit(0 if acc - 2 * se > 1 / 3 else 1)
PY
  "$mofe" export "$out/$mode" "$out/$mode-hf" > "$out/$mode-export.log" 2>&1 || fail "$mode export"
  for f in perft_config.json perft_adapters.safetensors; do
    [ -s "$out/$mode-hf/perft/$f" ] || fail "$mode: no perft/$f"
  done
  grep -q "\"variant\": \"$mode\"" "$out/$mode-hf/perft/perft_config.json" || fail "$mode: variant not named"
  "$mofe" eval --model "$out/$mode-hf" --adapter "$out/$mode-hf/perft" "${heldout[@]}" \
    --output "$out/$mode-perft.json" > /dev/null 2>&1 || fail "$mode: eval with --adapter"
  [ "$(loglik "$out/$mode-ckpt.json")" = "$(loglik "$out/$mode-perft.json")" ] \
    || fail "$mode: the exported adapters do not give the checkpoint's log-likelihoods"
done

# perft-r's adapter routers in the routing report: one row per group x layer x adapter, the
# same counts on 2 ranks with experts spread.
for np in 1 2; do
  "${mpirun[@]}" -np $np "$mofe" eval --model "$out/perft-r" "${heldout[@]}" --ep-size $np \
    --routing-report "$out/routing-np$np.csv" > "$out/routing-np$np.log" 2>&1 || fail "routing report"
done
[ "$(wc -l < "$out/routing-np1-adapters.csv")" -eq 17 ] || fail "adapter routing: 4 layers x 4 adapters + header"
cmp -s "$out/routing-np1-adapters.csv" "$out/routing-np2-adapters.csv" || fail "adapter routing differs on 2 ranks"
grep -A1 "adapter routing" "$out/routing-np1.log"

# Refused before any work, exit 2, one line.
"$root/tests/cli/expect_exit.sh" 2 "--perft-rank is 8 in the checkpoint and 4 in this run" \
  "${mpirun[@]}" -np 2 "$mofe" train "${tuned[@]}" --mode perft-e --perft-rank 4 --out-dir "$out/perft-e" --resume auto \
  || fail "a resume with another --perft-rank was not refused"
"$root/tests/cli/expect_exit.sh" 2 "fold into no weight" \
  "$mofe" export "$out/perft-r" "$out/merged" --merge-adapters || fail "--merge-adapters of PERFT was not refused"
"${mpirun[@]}" -np 1 "$mofe" train --hidden-size 64 --vocab-size 384 --ep-size 1 --steps 1 --data synthetic \
  --out-dir "$out/small" > /dev/null 2>&1 || fail "small model"
"$root/tests/cli/expect_exit.sh" 2 "hidden_size 128, the model has 64: the adapters were made for another base" \
  "$mofe" eval --model "$out/small" --adapter "$out/perft-r-hf/perft" "${heldout[@]}" \
  || fail "PERFT adapters for another base were not refused"

# Closed-form trainable counts, nothing built (TinyLlama's shapes, 8 experts, D_B 16, N_a 4):
# per layer R 4*2*2048*16 + 4*2048, E 8*2*2048*16, S 2*2048*16, D 4*2*2048*16; 22 layers.
tl=(--hidden-size 2048 --intermediate-size 5632 --num-layers 22 --num-heads 32 --num-kv-heads 4
    --vocab-size 32000 --max-positions 2048 --num-experts 8 --perft-rank 16 --dry-run)
for pair in perft-r:5947392 perft-e:11534336 perft-s:1441792 perft-d:5767168; do
  "$mofe" train "${tl[@]}" --mode "${pair%%:*}" | head -1 | tee "$out/dry.log"
  grep -q "${pair##*:} trainable" "$out/dry.log" || fail "${pair%%:*}: trainable count"
done
echo "PASS"
