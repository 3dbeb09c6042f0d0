#!/usr/bin/env python3
"""torch's own SDPA math backward against HF-style eager under autograd, fp32, on the outlier inputs of
Cpu/BackwardSweep.OutlierChannelsStayWithinTheKnownExcess instance 10 (tests/kernels/backward_test.cpp): how
often torch's math fails the 2x rule there, which the test's math multiple follows.

  python3 bench/torch_math_outliers.py [SEEDS]     # on the device: CPU and CUDA (TF32 off), 200 seeds by default
"""
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
B, Hq, Hk, N, D = 2, 4, 2, 64, 96
scale = D ** -0.5
def eager(q, k, v):
    k = k.repeat_interleave(Hq // Hk, 1); v = v.repeat_interleave(Hq // Hk, 1)
    w = torch.matmul(q, k.transpose(2, 3)) * scale
    mask = torch.ones(N, N, dtype=torch.bool, device=q.device).tril()
    w = w.masked_fill(~mask, float("-inf"))
    w = torch.softmax(w, dim=-1, dtype=torch.float32).to(q.dtype)
    return torch.matmul(w, v)
def math(q, k, v):
    with sdpa_kernel(SDPBackend.MATH):
        return F.scaled_dot_product_attention(q, k.repeat_interleave(Hq // Hk, 1), v.repeat_interleave(Hq // Hk, 1),
                                              is_causal=True)
def grads(fn, q, k, v, do, dt):
    q, k, v = (x.to(dt).detach().requires_grad_() for x in (q, k, v))
    o = fn(q, k, v); o.backward(do.to(dt))
    return {"dq": q.grad.double(), "dk": k.grad.double(), "dv": v.grad.double()}
def rel(a, b): return ((a - b).norm() / b.norm()).item()
for dev in ("cpu", "cuda"):
    fails = {"dq": 0, "dk": 0, "dv": 0}; worst = {"dq": 0.0, "dk": 0.0, "dv": 0.0}; ratios = []
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    for seed in range(n):
        g = torch.Generator().manual_seed(seed)
        q = torch.randn(B, Hq, N, D, generator=g); k = torch.randn(B, Hk, N, D, generator=g)
        v = torch.randn(B, Hk, N, D, generator=g); do = torch.randn(B, Hq, N, D, generator=g)
        for c in (3, D // 2 + 1): q[..., c] *= 20; k[..., c] *= 20
        q, k, v, do = (x.to(dev) for x in (q, k, v, do))
        ref = grads(eager, q, k, v, do, torch.float64)
        e = grads(eager, q, k, v, do, torch.float32)
        m = grads(math, q, k, v, do, torch.float32)
        for t in fails:
            re, rm = rel(e[t], ref[t]), rel(m[t], ref[t])
            bound = max(1e-5, 2 * re)
            if rm > bound: fails[t] += 1
            worst[t] = max(worst[t], rm / bound)
            if t == "dk": ratios.append(rm / re)
    ratios.sort()
    print(f"{dev}: {n} seeds; torch math fp32 over max(1e-5, 2x HF eager fp32) rel-Frobenius: fails {fails}, "
          f"worst ratio to the bound {worst}; dk math/eager median {ratios[len(ratios)//2]:.2f} max {ratios[-1]:.2f}")
