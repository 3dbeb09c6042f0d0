#!/usr/bin/env python3
"""Backward peer timings for attnscope's GPU bench: torch SDPA's FlashAttention-2 backward (dq, dk, dv for
a given dO, the forward's graph retained), on bench/peers.py's cases without sinks (torch has no sink
backward), timed like the forward peers (triton.testing.do_bench median, 25 ms warm-up, 200 ms).

  python3 bench/peers_backward.py --json peers_bwd.jsonl [--cases a,b]

Each JSON line: {"source": "torch", "case", "impl": "sdpa_flash_bwd", "ms", "tflops", "peak_mib"} (TFLOP/s
counts the backward's 2.5x the forward's FLOPs, as FlashAttention's benchmarks do), or an "error".
"""
import argparse
import json
import math
import sys

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from peers import CASES, visible_pairs  # noqa: E402


def main():
    import torch
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel
    import triton.testing

    ap = argparse.ArgumentParser()
    ap.add_argument("--json")
    ap.add_argument("--cases", default="")
    a = ap.parse_args()
    dev = torch.device("cuda")
    out = open(a.json, "w") if a.json else None
    for name, B, Hq, Hkv, N, D, causal, sinks, window in CASES:
        if sinks or (a.cases and name not in a.cases.split(",")):
            continue
        rec = {"source": "torch", "case": name, "impl": "sdpa_flash_bwd"}
        try:
            g = torch.Generator(device=dev).manual_seed(1)
            mk = lambda h: torch.randn(B, h, N, D, device=dev, dtype=torch.bfloat16, generator=g).requires_grad_()
            q, k, v = mk(Hq), mk(Hkv), mk(Hkv)
            do = torch.randn(B, Hq, N, D, device=dev, dtype=torch.bfloat16, generator=g)
            attn_mask, is_causal = None, causal
            if window:
                i = torch.arange(N, device=dev)
                attn_mask, is_causal = (i[None, :] <= i[:, None]) & (i[None, :] > i[:, None] - window), False
            with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
                o = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, is_causal=is_causal,
                                                   scale=1.0 / math.sqrt(D), enable_gqa=Hq != Hkv)
            bwd = lambda: torch.autograd.grad(o, (q, k, v), do, retain_graph=True)
            bwd()
            torch.cuda.synchronize()
            base = torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()
            grads = bwd()
            torch.cuda.synchronize()
            peak = torch.cuda.max_memory_allocated() - base
            del grads
            ms = triton.testing.do_bench(bwd, warmup=25, rep=200, return_mode="median")
            flops = 2.5 * 4.0 * B * Hq * visible_pairs(N, causal, window) * D
            rec.update(ms=ms, tflops=flops / (ms * 1e9), peak_mib=peak / 2**20)
            print(f"{name:40s} sdpa_flash_bwd {ms:10.3f} {rec['tflops']:9.1f} {rec['peak_mib']:10.1f}", flush=True)
            del q, k, v, do, o
        except Exception as e:  # noqa: BLE001 - a refusal is a result
            rec["error"] = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
            print(f"{name:40s} sdpa_flash_bwd  -  {rec['error'][:90]}", flush=True)
        torch.cuda.empty_cache()
        if out:
            out.write(json.dumps(rec) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
