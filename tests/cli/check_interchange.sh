#!/usr/bin/env bash
# check_interchange.sh OUT BUILD_DIR TINY_DATA TOKENIZER : the model life cycle end to end.
#  1. two synthetic Hugging Face Llamas (bf16, sharded) stand in for TinyLlama and a fine-tune;
#  2. import -> export -> re-import: the same tensors (same checksum of every tensor's CRC);
#  3. a dense model fine-tuned with `mofe train --model` (2 ranks) ...
#  4. ... is merged as an expert (`mofe merge`, 2 ranks, mergekit YAML, gate_mode hidden);
#  5. the MoE trains in mofe mode on 2 ranks, experts spread (ep 2); its checkpoint records
#     where the frozen experts come from instead of copying them;
#  6. the checkpoint exports to a Hugging Face Mixtral directory that imports again.
set -u
out=$1 build=$2 data=$3 tok=$4
mpirun=(mpirun --oversubscribe --allow-run-as-root --bind-to none -np 2)
mofe=$build/mofe
fail() { echo "FAIL: $*"; exit 1; }
run() { echo "+ $*"; "$@" > "$out/last.log" 2>&1 || { tail -n 20 "$out/last.log"; fail "$1 ${2:-}"; }; grep -E "imported|exported|merged|done:" "$out/last.log"; }
rm -rf "$out"
mkdir -p "$out"
cd "$out"

run "$build/mofe_make_hf_model" base --seed 1 --shard-size 600000 --tokenizer "$tok"
run "$build/mofe_make_hf_model" other --seed 2 --tokenizer "$tok"
[ "$(ls base/*.safetensors | wc -l)" -gt 1 ] || fail "the base model should be sharded"

run "$mofe" import base base-mofe
run "$mofe" export base-mofe base-hf
run "$mofe" import base-hf base-mofe2
a=$(grep -m1 '"checksum"' base-mofe/model.json) b=$(grep -m1 '"checksum"' base-mofe2/model.json)
[ "$a" = "$b" ] || fail "re-import differs: $a vs $b"

train=(train --data "$data" --tokenizer "$tok" --seq-len 64 --micro-batch 4 --log-every 100)
run "${mpirun[@]}" "$mofe" "${train[@]}" --model base --steps 4 --out-dir ft
# Dense: the MLPs trained and sit in the checkpoint's dense file (no expert files).
h5ls ft/checkpoints/step_00000004/dense.h5 | grep -q "^m:layers.0.mlp.gate_proj.weight" \
  || fail "the dense fine-tune did not train its MLP"

cat > moe.yml <<YML
base_model: base
gate_mode: hidden
dtype: bfloat16
experts_per_token: 2
experts:
  - source_model: base
    positive_prompts: ["Question: which of the following is a general fact?"]
  - source_model: ft
    positive_prompts: ["Answer the multiple choice question about medicine."]
    negative_prompts: ["stock market"]
  - source_model: other
    positive_prompts: ["The company's quarterly earnings"]
  - source_model: other
    positive_prompts: ["A legal contract states"]
YML
run "${mpirun[@]}" "$mofe" merge moe.yml moe
grep -q '"num_local_experts": 4' moe/model.json || fail "merged model is not a 4-expert Mixtral"

run "${mpirun[@]}" "$mofe" "${train[@]}" --model moe --ep-size 2 --steps 4 --out-dir run
grep -q '"source": "model"' run/checkpoints/step_00000004/state.json || fail "frozen expert source not recorded"
[ ! -d run/checkpoints/step_00000004/experts ] || [ -z "$(ls run/checkpoints/step_00000004/experts)" ] \
  || fail "frozen experts were copied into the checkpoint"

run "$mofe" export run run-hf --dtype float32
grep -q MixtralForCausalLM run-hf/config.json || fail "export is not Mixtral"
grep -q '"model.layers.3.block_sparse_moe.experts.3.w2.weight"' run-hf/model.safetensors.index.json \
  || fail "Mixtral tensor names missing"
[ -f run-hf/tokenizer.model ] || fail "tokenizer not copied"
run "$mofe" import run-hf run-mofe
run "${mpirun[@]}" "$mofe" "${train[@]}" --model run-mofe --ep-size 2 --steps 1 --out-dir again
echo "PASS"
