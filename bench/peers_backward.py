#!/usr/bin/env python3
"""Backward peer timings for attnscope's GPU bench: each torch SDPA backend's backward (flash, cuDNN,
memory-efficient, math: dq, dk, dv for a given dO, timed with the forward's graph retained), on bench/peers.py's
cases without sinks (torch has no sink backward), timed like the forward peers (triton.testing.do_bench median, 25 ms warm-up, 200 ms); and
transformers' eager_attention_forward under autograd on every case ("hf_eager_bwd": Llama's, GPT-OSS's
with sinks), whose peak is what attnscope's eager backward models (kernels/torch_plan.h
hf_eager_backward_plan): the saved tensors and every gradient buffer, beyond the inputs, dO and the output.

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
    from torch.nn.attention import SDPBackend

    ap = argparse.ArgumentParser()
    ap.add_argument("--json")
    ap.add_argument("--cases", default="")
    a = ap.parse_args()
    dev = torch.device("cuda")
    out = open(a.json, "w") if a.json else None
    backends = [("sdpa_flash_bwd", SDPBackend.FLASH_ATTENTION), ("sdpa_cudnn_bwd", SDPBackend.CUDNN_ATTENTION),
                ("sdpa_efficient_bwd", SDPBackend.EFFICIENT_ATTENTION), ("sdpa_math_bwd", SDPBackend.MATH)]
    for name, B, Hq, Hkv, N, D, causal, sinks, window in CASES:
        if sinks or (a.cases and name not in a.cases.split(",")):
            continue
        for impl, backend in backends:
            rec = sdpa_backward(impl, backend, name, B, Hq, Hkv, N, D, causal, window, dev)
            if out:
                out.write(json.dumps(rec) + "\n")
    for rec in hf_eager_backward(a, dev):
        if out:
            out.write(json.dumps(rec) + "\n")
    return 0


def sdpa_backward(impl, backend, name, B, Hq, Hkv, N, D, causal, window, dev):
    """One SDPA backend's backward on one case: dq, dk, dv for a given dO, timed with the forward's graph
    retained; peak = training_peak's (what autograd saved for the backward counts: 4 GiB of fp32 scores
    for the math backend on gpt-oss n4096, a few MiB of LSE for the fused ones)."""
    import torch
    import torch.nn.functional as F
    from torch.nn.attention import sdpa_kernel
    import triton.testing

    rec = {"source": "torch", "case": name, "impl": impl}
    try:
        g = torch.Generator(device=dev).manual_seed(1)
        mk = lambda h: torch.randn(B, h, N, D, device=dev, dtype=torch.bfloat16, generator=g).requires_grad_()
        q, k, v = mk(Hq), mk(Hkv), mk(Hkv)
        do = torch.randn(B, Hq, N, D, device=dev, dtype=torch.bfloat16, generator=g)
        attn_mask, is_causal = None, causal
        if window:
            i = torch.arange(N, device=dev)
            attn_mask, is_causal = (i[None, :] <= i[:, None]) & (i[None, :] > i[:, None] - window), False
        def fwd():
            with sdpa_kernel(backend):
                return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, is_causal=is_causal,
                                                      scale=1.0 / math.sqrt(D), enable_gqa=Hq != Hkv)
        peak = training_peak(fwd, (q, k, v), do)
        o = fwd()
        bwd = lambda: torch.autograd.grad(o, (q, k, v), do, retain_graph=True)
        ms = triton.testing.do_bench(bwd, warmup=25, rep=200, return_mode="median")
        flops = 2.5 * 4.0 * B * Hq * visible_pairs(N, causal, window) * D
        rec.update(ms=ms, tflops=flops / (ms * 1e9), peak_mib=peak / 2**20)
        print(f"{name:40s} {impl:18s} {ms:10.3f} {rec['tflops']:9.1f} {rec['peak_mib']:10.1f}", flush=True)
    except Exception as e:  # noqa: BLE001 - a refusal (or an OOM) is a result
        rec["error"] = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        print(f"{name:40s} {impl:18s}  -  {rec['error'][:90]}", flush=True)
    torch.cuda.empty_cache()
    return rec


def training_peak(fwd, leaves, do):
    """One forward then one backward with retain_graph=False (saved tensors released as torch's engine
    runs): max_memory_allocated from before the forward, less the output (its 512-byte rounded size),
    the inputs and dO being allocated before. What attnscope's backward peaks count."""
    import torch

    for t in leaves:
        t.grad = None
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    o = fwd()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    torch.autograd.backward(o, do)
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() - base - (o.untyped_storage().nbytes() + 511) // 512 * 512
    del o
    for t in leaves:
        t.grad = None
    return peak


def hf_eager_backward(a, dev):
    """HF's eager under autograd, one backward with retain_graph=False (saved tensors released as
    torch's engine runs): peak = max_memory_allocated during the forward's graph and the backward,
    less the inputs, dO and the output (their 512-byte rounded sizes), as attnscope counts it."""
    from types import SimpleNamespace

    import torch
    from peers import causal_mask_4d, hf_functions

    llama_eager, gptoss_eager = hf_functions()
    for name, B, Hq, Hkv, N, D, causal, sinks, window in CASES:
        if a.cases and name not in a.cases.split(","):
            continue
        rec = {"source": "torch", "case": name, "impl": "hf_eager_bwd"}
        try:
            fn = gptoss_eager if sinks else llama_eager
            if fn is None:
                raise RuntimeError("this transformers has no GPT-OSS eager_attention_forward")
            dt = torch.bfloat16
            g = torch.Generator(device=dev).manual_seed(1)
            mk = lambda h: torch.randn(B, h, N, D, device=dev, dtype=dt, generator=g).requires_grad_()
            q, k, v = mk(Hq), mk(Hkv), mk(Hkv)
            do = torch.randn(B, N, Hq, D, device=dev, dtype=dt, generator=g)  # attn_output is [B, N, Hq, D]
            mask = causal_mask_4d(B, N, dt, dev, causal, window)
            module = SimpleNamespace(num_key_value_groups=Hq // Hkv, training=False)
            if sinks:
                module.sinks = (2.0 + torch.randn(Hq, device=dev, generator=g)).to(dt).requires_grad_()
            leaves = (q, k, v, module.sinks) if sinks else (q, k, v)
            peak = training_peak(lambda: fn(module, q, k, v, mask, 1.0 / math.sqrt(D))[0], leaves, do)
            rec.update(peak_mib=peak / 2**20)
            print(f"{name:40s} hf_eager_bwd {'':10s} {'':9s} {rec['peak_mib']:10.1f}", flush=True)
            del q, k, v, do, mask, module
        except Exception as e:  # noqa: BLE001 - a refusal (OOM) is a result
            rec["error"] = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
            print(f"{name:40s} hf_eager_bwd  -  {rec['error'][:90]}", flush=True)
        torch.cuda.empty_cache()
        yield rec


if __name__ == "__main__":
    sys.exit(main())
