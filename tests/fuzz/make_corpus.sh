#!/usr/bin/env bash
# Writes the seed corpus under tests/fuzz/corpus/ (committed; rerun after a format change).
# Small files on purpose: libFuzzer's mutations reach every field of a small input quickly.
#   tests/fuzz/make_corpus.sh [path/to/attnscope]    (default: build/attnscope)
# Needs python3 with numpy and h5py.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="$(realpath "${1:-$root/build/attnscope}")"
c="$root/tests/fuzz/corpus"
rm -rf "$c"
mkdir -p "$c"/{npy,safetensors,h5_tensors,spec,hf_config,verl_yaml,log_scan,env_json,capture}

python3 - "$c" <<'PY'
import json, struct, sys
import numpy as np, h5py
c = sys.argv[1]
rng = np.random.default_rng(1)
np.save(f"{c}/npy/f32_2x3.npy", rng.standard_normal((2, 3)).astype("<f4"))
np.save(f"{c}/npy/f16_4.npy", rng.standard_normal(4).astype("<f2"))
np.save(f"{c}/npy/i64_3.npy", np.array([1, -2, 3], dtype="<i8"))
np.save(f"{c}/npy/bool_2x2.npy", np.array([[True, False], [False, True]]))
np.save(f"{c}/npy/f64_scalar.npy", np.float64(0.5))
np.save(f"{c}/npy/f32_fortran.npy", np.asfortranarray(rng.standard_normal((2, 2)).astype("<f4")))
with open(f"{c}/npy/v2_f32_2.npy", "wb") as f:  # format 2.0: a 4-byte header length
    np.lib.format.write_array(f, np.array([1.5, -2.0], dtype="<f4"), version=(2, 0))

def safetensors(path, tensors, meta=None):
    header, blobs, off = {}, b"", 0
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(raw)]}
        blobs += raw
        off += len(raw)
    if meta is not None:
        header["__metadata__"] = meta
    h = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + blobs)
f32 = rng.standard_normal((1, 2, 3, 4)).astype("<f4")
bf16 = (f32.view("<u4") >> 16).astype("<u2")
safetensors(f"{c}/safetensors/qkv.safetensors",
            {"q": ("F32", [1, 2, 3, 4], f32.tobytes()), "k": ("F16", [1, 2, 3, 4], f32.astype("<f2").tobytes()),
             "v": ("BF16", [1, 2, 3, 4], bf16.tobytes())}, {"format": "pt"})
safetensors(f"{c}/safetensors/ints.safetensors",
            {"mask": ("BOOL", [2, 2], bytes([1, 0, 0, 1])), "n": ("I64", [2], np.array([7, 9], "<i8").tobytes())})

with h5py.File(f"{c}/h5_tensors/qkv.h5", "w") as f:
    f["q"] = rng.standard_normal((1, 2, 3, 4)).astype("f4")
    f["k"] = rng.standard_normal((1, 2, 3, 4)).astype("f2")
    v = f.create_dataset("v", data=bf16.reshape(1, 2, 3, 4))
    v.attrs["dtype"] = "bfloat16"
    f["mask"] = np.array([[True, False], [False, True]])
PY

cp "$root"/samples/gpt-oss-20b.json "$root"/samples/gemma-2-9b.json "$root"/samples/failing-t4-fp32-flash2.json "$c/spec/"
cp "$root"/samples/hf/gpt-oss-20b.json "$root"/samples/hf/gemma-2-9b.json "$root"/samples/hf/phi-2.json "$c/hf_config/"
cp "$root"/samples/verl/ppo_actor_override_only.yaml "$c/verl_yaml/"
cat >"$c/verl_yaml/interpolations.yaml" <<'YAML'
model_path: ~/models/llama
actor_rollout_ref:
  model: {path: "${model_path}", override_config: {attn_implementation: flash_attention_2}}
  rollout: {name: vllm, dtype: bfloat16}
critic:
  model: {path: "${actor_rollout_ref.model.path}", use_remove_padding: true}
  strategy: fsdp
YAML
cp "$root"/tests/diagnose/fixtures/*.log "$c/log_scan/"
cp "$root"/tests/diagnose/fixtures/env_t4_undefined_symbol.json "$root"/tests/fixtures/device_h100/env.json "$c/env_json/"

# Captures: a tiny GPT-OSS-shaped layer (sinks, GQA, bf16) with a what-if run and a probe, whole
# intermediates; and the same over a zero budget (stored rows + max-pooled overview).
cd "$(mktemp -d)"
cat >tiny.json <<'JSON'
{"name": "fuzz seed", "batch": 1, "seq": 8, "heads_q": 2, "heads_kv": 1, "head_dim": 8, "dtype": "bf16",
 "causal": true, "sinks": true, "softmax_dtype": "model"}
JSON
ATTNSCOPE_NO_GPU=1 "$bin" run --spec tiny.json --impl eager,flash2,sink --what-if --probe b=0,h=1,rows=0:4 --quiet -o "$c/capture/tiny.h5"
ATTNSCOPE_NO_GPU=1 "$bin" run --spec tiny.json --impl eager,sdpa:math --budget 0 --quiet -o "$c/capture/rows.h5"
du -ab "$c" | sort -n | tail -5
