#!/usr/bin/env python3
"""attnscope's sdpa:cudnn against torch's own cuDNN backend on the same tensors: torch runs
scaled_dot_product_attention under sdpa_kernel(CUDNN_ATTENTION) and saves q, k, v and its output;
attnscope runs sdpa:cudnn on those inputs with torch's output imported as a run, and `attnscope diff`
compares the two. Same library, same graph: the outputs should agree to bf16/fp16 rounding (most
elements bitwise where both load the same cuDNN).

  python3 tests/device/cudnn_vs_torch.py --attnscope build/attnscope [-o out_dir]

Prints one line per layer (max abs, share within 1 ulp, the cuDNN attnscope loaded) and exits 1 when
an output differs by more than 2 ulps anywhere.
"""
import argparse
import json
import math
import os
import re
import subprocess
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch.nn.attention import SDPBackend, sdpa_kernel

# (name, dtype, B, Hq, Hkv, Nq, Nk, D, causal, padding)
LAYERS = [
    ("bf16_causal_d128", torch.bfloat16, 2, 16, 16, 512, 512, 128, True, False),
    ("bf16_gqa_d64", torch.bfloat16, 1, 32, 8, 777, 777, 64, True, False),
    ("fp16_noncausal_d256", torch.float16, 1, 8, 4, 300, 1024, 256, False, False),
    ("bf16_padding_d96", torch.bfloat16, 3, 8, 8, 256, 256, 96, False, True),
    ("bf16_nq_ne_nk_topleft", torch.bfloat16, 2, 8, 2, 100, 400, 128, True, False),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--attnscope", required=True)
    ap.add_argument("-o", "--out", default="/tmp/cudnn_vs_torch")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    dev = torch.device("cuda")
    print(f"torch {torch.__version__}, its cuDNN {torch.backends.cudnn.version()}, "
          f"ATTNSCOPE_CUDNN_LIBRARY={os.environ.get('ATTNSCOPE_CUDNN_LIBRARY', '(default libcudnn.so.9)')}")
    worst_ulps = 0
    for name, dt, B, Hq, Hkv, Nq, Nk, D, causal, padding in LAYERS:
        g = torch.Generator(device=dev).manual_seed(3)
        q = torch.randn(B, Hq, Nq, D, device=dev, dtype=dt, generator=g)
        k = torch.randn(B, Hkv, Nk, D, device=dev, dtype=dt, generator=g)
        v = torch.randn(B, Hkv, Nk, D, device=dev, dtype=dt, generator=g)
        spec = {"name": name, "batch": B, "seq_q": Nq, "seq_k": Nk, "heads_q": Hq, "heads_kv": Hkv, "head_dim": D,
                "dtype": "bf16" if dt == torch.bfloat16 else "fp16", "causal": causal, "causal_align": "top-left"}
        mask, kk, vv = None, k, v
        if padding:
            lens = [Nk - 17 * (b + 1) for b in range(B)]
            spec["mask"], spec["kv_lengths"] = "padding", lens
            keep = torch.arange(Nk, device=dev)[None, :] < torch.tensor(lens, device=dev)[:, None]
            mask = keep[:, None, None, :].expand(B, 1, Nq, Nk)
        if Hq != Hkv and mask is not None:  # transformers repeats K/V when it passes a mask
            kk, vv = k.repeat_interleave(Hq // Hkv, 1), v.repeat_interleave(Hq // Hkv, 1)
        with sdpa_kernel([SDPBackend.CUDNN_ATTENTION]):
            out = F.scaled_dot_product_attention(q, kk, vv, attn_mask=mask, is_causal=causal and mask is None,
                                                 scale=1.0 / math.sqrt(D), enable_gqa=Hq != Hkv and mask is None)
        torch.cuda.synchronize()
        st = os.path.join(a.out, name + ".safetensors")
        save_file({"q": q.contiguous(), "k": k.contiguous(), "v": v.contiguous(), "out": out.contiguous()}, st)
        sp = os.path.join(a.out, name + ".json")
        with open(sp, "w") as f:
            json.dump(spec, f)
        cap = os.path.join(a.out, name + ".h5")
        run = subprocess.run([a.attnscope, "run", "--spec", sp, "--inputs", st, "--import-run", "torch_cudnn=" + st + ":out",
                              "--impl", "sdpa:cudnn", "--quiet", "-o", cap], capture_output=True, text=True)
        if run.returncode != 0:
            print(f"{name:26s} attnscope run failed: {run.stderr.strip()[:300]}")
            worst_ulps = max(worst_ulps, 1 << 20)
            continue
        diff = subprocess.run([a.attnscope, "diff", cap, "sdpa:cudnn", "torch_cudnn"], capture_output=True, text=True)
        rep = subprocess.run([a.attnscope, "report", cap], capture_output=True, text=True).stdout
        lib = re.search(r"cuDNN (\d+\.\d+\.\d+) \(([^)]*)\)", rep)
        mx = re.search(r"max abs\s+([0-9.eE+-]+)", diff.stdout)
        within = re.search(r"within 1 ulp ([0-9.]+)%", diff.stdout)
        hist = re.findall(r"\[(\d+),(\d+)\):(\d+)", diff.stdout)
        top = max((int(lo) for lo, hi, n in hist if int(n) > 0), default=0)
        worst_ulps = max(worst_ulps, top)
        print(f"{name:26s} max abs {mx.group(1) if mx else '?':>10s}  within 1 ulp {within.group(1) if within else '?':>7s}%  "
              f"worst bucket >= {top} ulp  cuDNN {lib.group(1) if lib else '?'} ({lib.group(2) if lib else '?'})")
        if not mx:
            print(diff.stdout + diff.stderr)
    print("worst ulp bucket:", worst_ulps)
    return 0 if worst_ulps <= 2 else 1


if __name__ == "__main__":
    sys.exit(main())
