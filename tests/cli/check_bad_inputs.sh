#!/usr/bin/env bash
# check_bad_inputs.sh OUT BUILD_DIR TOKENIZER : bad input gets one clear line, exit 2, before any
# work, naming the file and field (#11 items 5, 6, 7, 10, 19), and what is asked for is kept.
set -u
out=$1 build=$2 tok=$3
mofe=$build/mofe
root=$(cd "$(dirname "$0")/../.." && pwd)
fail() { echo "FAIL: $*"; exit 1; }
quiet() { "$@" > "$out/last.log" 2>&1 || { tail -n 20 "$out/last.log"; fail "$*"; }; }
refused() {  # REGEX CMD... : exit 2, one mofe line matching REGEX
  "$root/tests/cli/expect_exit.sh" 2 "$1" "${@:2}" > "$out/refused.log" 2>&1 \
    || { cat "$out/refused.log"; fail "not refused as expected: ${*:2}"; }
  grep -m1 -E "^mofe: error" "$out/refused.log"
}
rm -rf "$out"
mkdir -p "$out"
cd "$out"
quiet "$build/mofe_make_hf_model" hf --seed 1 --num-layers 2 --dtype float32 --tokenizer "$tok"

# --- item 5: a model config is validated wherever a model is read ---------------------------
edit() {  # DIR KEY VALUE : a copy of hf with config.json's KEY set to VALUE (JSON)
  rm -rf "$1"; cp -r hf "$1"
  python3 - "$1/config.json" "$2" "$3" <<'EOF'
import json, sys
p, k, v = sys.argv[1:]
c = json.load(open(p)); c[k] = json.loads(v); json.dump(c, open(p, "w"))
EOF
}
edit heads0 num_attention_heads 0
refused "config.json': model config: num_attention_heads must be positive" "$mofe" import heads0 m1
refused "num_attention_heads must be positive" "$mofe" train --model heads0 --steps 1 --data synthetic
edit fewer num_hidden_layers 1
refused "tensor 'model.layers.1.* is not part of the model .*config.json' describes" "$mofe" import fewer m2
refused "is not part of the model" "$mofe" eval --model fewer --task mcq \
  --data "$root/data/tiny_heldout/mcq.jsonl" --tokenizer "$tok"
refused "is not part of the model" "$mofe" export fewer exported
edit minus num_hidden_layers -1
refused "num_hidden_layers must be positive" "$mofe" import minus m3
edit eps rms_norm_eps -0.5
refused "rms_norm_eps must be positive" "$mofe" import eps m4
edit theta rope_theta 0
refused "rope_theta must be positive" "$mofe" import theta m5
edit positions max_position_embeddings 0
refused "max_position_embeddings must be positive" "$mofe" import positions m6
[ ! -e m1 ] && [ ! -e m2 ] && [ ! -e m6 ] || fail "a refused import left an output"
quiet "$mofe" import hf m
python3 - m/model.json <<'EOF'
import json, sys
p = sys.argv[1]; j = json.load(open(p)); j["config"]["num_hidden_layers"] = 1; json.dump(j, open(p + ".edited", "w"))
EOF
rm -rf medited && cp -r m medited && mv m/model.json.edited medited/model.json
refused "does not hold the tensors .*model.json' describes" "$mofe" export medited e2

# --- item 6: non-finite scores are an error naming the document -----------------------------
rm -rf nan && cp -r hf nan
python3 - nan <<'EOF'
import json, struct, sys, glob
for path in glob.glob(sys.argv[1] + "/*.safetensors"):
    data = bytearray(open(path, "rb").read())
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    t = header.get("model.norm.weight")
    if t:
        a, b = t["data_offsets"]
        data[8 + n + a:8 + n + b] = struct.pack("<f", float("nan")) * ((b - a) // 4)
        open(path, "wb").write(data)
EOF
refused "mcq.jsonl:1: the log-likelihood of choice 0 is nan" "$mofe" eval --model nan --task mcq \
  --data "$root/data/tiny_heldout/mcq.jsonl" --tokenizer "$tok" --limit 3

# --- item 19: eval options checked before the model is loaded --------------------------------
for bad in 1 -5 100000; do
  refused "--max-length $bad must be between 2 and the model's max_position_embeddings" \
    "$mofe" eval --model m --task mcq --data "$root/data/tiny_heldout/mcq.jsonl" --tokenizer "$tok" --max-length $bad
done
refused "--output: cannot write '/nonexistent/dir/r.json'" "$mofe" eval --model m --task mcq \
  --data "$root/data/tiny_heldout/mcq.jsonl" --tokenizer "$tok" --output /nonexistent/dir/r.json

# --- item 7: every merge YAML field checked; the dtype asked for is the dtype stored ---------
quiet "$build/mofe_make_hf_model" hf2 --seed 2 --num-layers 2 --dtype float32 --tokenizer "$tok"
merge_yml() {  # FILE DTYPE EXTRA_EXPERT_LINES
  printf "base_model: hf\ngate_mode: random\n%bexperts_per_token: 2\nexperts:\n  - source_model: hf\n%b  - source_model: hf2\n" "$2" "$3" > "$1"
}
merge_yml nan.yml "dtype: float32\n" "    residual_scale: .nan\n"
refused "residual_scale nan must be a finite number > 0" "$mofe" merge nan.yml moe
merge_yml noise.yml "" "    noise_scale: -1\n"
refused "experts\[0\] \(.*hf\): noise_scale -1.0* must be a finite number >= 0" "$mofe" merge noise.yml moe
for d in int8 banana; do
  merge_yml $d.yml "dtype: $d\n" ""
  refused "dtype '$d' is not one mergekit writes" "$mofe" merge $d.yml moe
done
merge_yml bf16.yml "dtype: bfloat16\n" ""
quiet "$mofe" merge bf16.yml moe
grep -q '"source_dtype": "BF16"' moe/model.json || fail "merge recorded another dtype than bfloat16"
quiet "$mofe" export moe moe-hf
python3 - moe-hf <<'EOF' || fail "the merged model is not stored in bfloat16"
import json, struct, sys, glob
dtypes = set()
for path in glob.glob(sys.argv[1] + "/*.safetensors"):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    dtypes |= {v["dtype"] for k, v in json.loads(data[8:8 + n]).items() if k != "__metadata__"}
print("merged model exported in", sorted(dtypes))
sys.exit(0 if dtypes == {"BF16"} else 1)
EOF

# --- item 10: a mixed-dtype model keeps each tensor's dtype through import and export --------
rm -rf mixed && cp -r hf mixed
python3 - mixed <<'EOF'
import json, struct, sys, glob, array
# Rewrite every safetensors file: embeddings as F16, the rest as stored (F32).
for path in glob.glob(sys.argv[1] + "/*.safetensors"):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n]); body = data[8 + n:]
    out, tensors, at = {}, [], 0
    for k, v in header.items():
        if k == "__metadata__": out[k] = v; continue
        a, b = v["data_offsets"]; raw = body[a:b]
        if k == "model.embed_tokens.weight":
            f = array.array("f"); f.frombytes(raw)
            raw = b"".join(struct.pack("<e", x) for x in f); v = dict(v, dtype="F16")
        out[k] = dict(v, data_offsets=[at, at + len(raw)]); tensors.append(raw); at += len(raw)
    h = json.dumps(out).encode(); h += b" " * ((8 - len(h) % 8) % 8)
    open(path, "wb").write(struct.pack("<Q", len(h)) + h + b"".join(tensors))
EOF
quiet "$mofe" import mixed mixed-m
quiet "$mofe" export mixed-m mixed-hf
python3 - mixed-hf <<'EOF' || fail "the mixed-dtype model lost its dtypes"
import json, struct, sys, glob
got = {}
for path in glob.glob(sys.argv[1] + "/*.safetensors"):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    got.update({k: v["dtype"] for k, v in json.loads(data[8:8 + n]).items() if k != "__metadata__"})
others = {v for k, v in got.items() if k != "model.embed_tokens.weight"}
print("embeddings", got["model.embed_tokens.weight"], "others", sorted(others))
sys.exit(0 if got["model.embed_tokens.weight"] == "F16" and others == {"F32"} else 1)
EOF

# --- item 19: a checkpoint whose state.json lies about its step ------------------------------
quiet "$mofe" train --config "$root/jobs/tiny-synthetic.cfg" --ep-size 1 --steps 2 --out-dir run
python3 - run/checkpoints/step_00000002/state.json <<'EOF'
import json, sys
p = sys.argv[1]; j = json.load(open(p)); j["step"] = -1; json.dump(j, open(p, "w"))
EOF
refused "--resume: 'run/checkpoints/step_00000002/state.json': step -1 does not match the directory's name" \
  "$mofe" train --config "$root/jobs/tiny-synthetic.cfg" --ep-size 1 --steps 4 --out-dir run \
  --resume run/checkpoints/step_00000002
echo PASS
