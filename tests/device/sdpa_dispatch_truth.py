#!/usr/bin/env python3
"""Ground truth for attnscope's SDPA dispatcher: which backend torch.nn.functional.scaled_dot_product_attention
picks on this GPU (torch._fused_sdp_choice) for random layers, and the warnings each fused backend prints
when it is forced and refuses (torch.nn.attention.sdpa_kernel([backend])).

  python3 tests/device/sdpa_dispatch_truth.py -o sdpa_dispatch_h200.json [--n 200] [--seed 7]

Each case records the layer the way attnscope's LayerSpec says it (batch, seq_q, seq_k, heads_q,
heads_kv, head_dim, head_dim_v, dtype, causal + alignment, mask kind, enable_gqa) and what torch did:
  "choice": the backend torch picks by itself ("flash", "efficient", "math", "cudnn"),
  "forced": {backend: {"ok": bool, "warnings": [...], "error": "..."}} for flash, efficient, cudnn.
How a layer is handed to torch (the same as HF's sdpa_attention_forward on transformers 5.x):
  causal top-left, square or not -> is_causal=True, attn_mask=None
  causal bottom-right, Nq != Nk  -> attn_mask = bool [Nq, Nk] lower-right triangle, is_causal=False
  padding                        -> attn_mask = bool [B, 1, Nq, Nk] (keys past kv_len masked)
  bool / additive                -> attn_mask = bool / float (model dtype) [B, 1, Nq, Nk]
  GQA                            -> enable_gqa=True (no repeat_kv), as HF does on torch >= 2.5 when
                                    attn_mask is None; with a mask HF repeats K/V first: "gqa_repeat"
"""
import argparse
import json
import random
import re
import sys
import warnings

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

NAMES = {SDPBackend.MATH: "math", SDPBackend.FLASH_ATTENTION: "flash",
         SDPBackend.EFFICIENT_ATTENTION: "efficient", SDPBackend.CUDNN_ATTENTION: "cudnn"}
DT = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def draw(rng, idx):
    dims = [8, 16, 24, 32, 40, 48, 59, 64, 72, 80, 96, 111, 112, 128, 160, 192, 200, 224, 256, 264, 288, 320]
    c = {}
    c["dtype"] = rng.choices(["bf16", "fp16", "fp32"], weights=[5, 3, 2])[0]
    c["batch"] = rng.choice([1, 1, 2, 3, 4])
    hkv = rng.choice([1, 2, 4, 8, 16])
    group = rng.choice([1, 1, 1, 2, 4, 8])
    c["heads_kv"], c["heads_q"] = hkv, hkv * group
    c["head_dim"] = rng.choice(dims)
    c["head_dim_v"] = c["head_dim"] if rng.random() < 0.85 else rng.choice(dims)
    n = rng.choice([1, 7, 63, 64, 65, 100, 128, 255, 256, 300, 512, 777, 1024])
    c["seq_q"] = n
    c["seq_k"] = n if rng.random() < 0.6 else rng.choice([1, 64, 100, 129, 256, 511, 1024, 1500])
    c["mask"] = rng.choices(["none", "causal", "padding", "bool", "additive"], weights=[4, 4, 2, 2, 2])[0]
    c["causal"] = c["mask"] == "causal"
    c["causal_align"] = "top-left"
    if c["causal"] and c["seq_q"] != c["seq_k"] and rng.random() < 0.5:
        c["causal_align"] = "bottom-right"
    # Every 10th case: a float32 layer with an odd head dim and GQA, to exercise rarely met paths.
    if idx % 10 == 9:
        c["head_dim"] = c["head_dim_v"] = rng.choice([59, 111, 288])
    return c


def tensors(c, dev, gqa_repeat):
    dt = DT[c["dtype"]]
    B, Hq, Hkv, Nq, Nk, D, Dv = (c[k] for k in ("batch", "heads_q", "heads_kv", "seq_q", "seq_k", "head_dim",
                                                   "head_dim_v"))
    q = torch.randn(B, Hq, Nq, D, device=dev, dtype=dt)
    k = torch.randn(B, Hkv, Nk, D, device=dev, dtype=dt)
    v = torch.randn(B, Hkv, Nk, Dv, device=dev, dtype=dt)
    if gqa_repeat and Hq != Hkv:
        k = k.repeat_interleave(Hq // Hkv, dim=1)
        v = v.repeat_interleave(Hq // Hkv, dim=1)
    mask, is_causal = None, False
    if c["mask"] == "causal":
        if c["causal_align"] == "top-left":
            is_causal = True
        else:
            i = torch.arange(Nq, device=dev)[:, None]
            j = torch.arange(Nk, device=dev)[None, :]
            mask = j <= i + (Nk - Nq)
    elif c["mask"] == "padding":
        lens = torch.randint(1, Nk + 1, (B,), device=dev)
        mask = (torch.arange(Nk, device=dev)[None, :] < lens[:, None])[:, None, None, :].expand(B, 1, Nq, Nk)
        c["kv_lengths"] = lens.tolist()
    elif c["mask"] == "bool":
        mask = torch.rand(B, 1, Nq, Nk, device=dev) < 0.8
    elif c["mask"] == "additive":
        mask = torch.randn(B, 1, Nq, Nk, device=dev, dtype=dt)
    return q, k, v, mask, is_causal


def clean(msg):
    # One line per reason; drop torch's source locations "(Triggered internally at ...)".
    msg = re.sub(r"\s*\(Triggered internally at [^)]*\)\s*", "", str(msg))
    return msg.strip()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-o", "--out", required=True)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    dev = torch.device("cuda")
    torch.manual_seed(a.seed)
    rng = random.Random(a.seed)
    cap = torch.cuda.get_device_capability()
    out = {"torch": torch.__version__, "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
           "gpu": torch.cuda.get_device_name(), "sm": cap[0] * 10 + cap[1], "seed": a.seed, "cases": []}
    counts = {}
    for idx in range(a.n):
        c = draw(rng, idx)
        gqa = c["heads_q"] != c["heads_kv"]
        # HF (transformers 5.x, torch >= 2.5): enable_gqa only without a mask; else repeat_kv first.
        c["gqa_repeat"] = gqa and c["mask"] not in ("none", "causal") or (gqa and c["causal_align"] == "bottom-right")
        q, k, v, mask, is_causal = tensors(c, dev, c["gqa_repeat"])
        enable_gqa = gqa and not c["gqa_repeat"]
        c["enable_gqa"] = enable_gqa
        try:
            choice = torch._fused_sdp_choice(q, k, v, attn_mask=mask, dropout_p=0.0, is_causal=is_causal,
                                            enable_gqa=enable_gqa)
            c["choice"] = NAMES.get(SDPBackend(choice), str(choice))
        except Exception as e:  # noqa: BLE001 - a refusal is a result
            c["choice"] = "error"
            c["choice_error"] = clean(e).splitlines()[0]
        counts[c["choice"]] = counts.get(c["choice"], 0) + 1
        c["forced"] = {}
        for backend in (SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.CUDNN_ATTENTION):
            rec = {"ok": True, "warnings": []}
            with warnings.catch_warnings(record=True) as w:
                warnings.simplefilter("always")
                try:
                    with sdpa_kernel([backend]):
                        o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=is_causal,
                                                           enable_gqa=enable_gqa)
                    torch.cuda.synchronize()
                    rec["finite"] = bool(torch.isfinite(o).all().item())
                    del o
                except Exception as e:  # noqa: BLE001
                    rec["ok"] = False
                    rec["error"] = clean(e).splitlines()[0] if str(e).strip() else type(e).__name__
                for x in w:
                    for line in clean(x.message).splitlines():
                        if line.strip():
                            rec["warnings"].append(line.strip())
            c["forced"][NAMES[backend]] = rec
        out["cases"].append(c)
        del q, k, v, mask
    torch.cuda.empty_cache()
    with open(a.out, "w") as f:
        json.dump(out, f, indent=1)
    print(f"{len(out['cases'])} cases on {out['gpu']} (sm{out['sm']}), torch {out['torch']}, cudnn {out['cudnn']}: "
          + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
