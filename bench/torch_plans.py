#!/usr/bin/env python3
"""What torch really does for one attention call: the allocation plan (every alloc and free of the
caching allocator, in order, with the Python line that caused it) and the kernels it launches (names,
durations), for HF's own eager_attention_forward (Llama's: fp32 softmax; GPT-OSS's: sink column, softmax
in the model dtype) and SDPA's backends, on bench/peers.py's cases. attnscope's GPU eager and sdpa:math
follow these plans step by step and its memory model is checked against them.

  python3 bench/torch_plans.py -o torch_plans.json [--cases a,b] [--backward]

--backward adds "hf_eager_bwd": HF's eager forward and one autograd backward (retain_graph=False), the
events of both in order with `backward_begin` the index of the backward's first, peak_bytes the
backward's peak over the inputs, dO and the output as bench/peers_backward.py measures it, and the
backward's kernels: what kernels/torch_plan.cpp's hf_eager_backward_plan follows; and "sdpa_math_bwd", the
same for SDPA's math backend (cases without sinks).
"""
import argparse
import json
import math
import sys
import time
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from peers import CASES, causal_mask_4d, hf_functions  # noqa: E402


def trace(fn):
    """Allocation events of one call (after a warm call), peak extra bytes, and the kernels launched."""
    fn()
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    torch.cuda.memory._record_memory_history(max_entries=100000)
    o = fn()
    torch.cuda.synchronize()
    snap = torch.cuda.memory._snapshot()
    torch.cuda.memory._record_memory_history(enabled=None)
    peak = torch.cuda.max_memory_allocated() - base
    del o
    events = device_events(snap)
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        o = fn()
        torch.cuda.synchronize()
    del o
    kernels = cuda_kernels(prof)
    return {"peak_bytes": peak, "events": events, "kernels": kernels}


def device_events(snap=None):
    """The caching allocator's allocs and completed frees recorded so far (or in `snap`), in order, each
    with the first Python line outside torch that caused it ("" from autograd's C++ engine)."""
    snap = snap or torch.cuda.memory._snapshot()
    events = []
    for e in snap["device_traces"][0] if snap["device_traces"] else []:
        if e["action"] not in ("alloc", "free_completed"):
            continue
        where = ""
        for fr in e.get("frames", []):
            fname = fr.get("filename", "")
            if fname.endswith(".py") and "torch/" not in fname:
                where = f"{fname.rsplit('/', 1)[-1]}:{fr.get('line')} {fr.get('name', '')}"
                break
        events.append({"action": e["action"], "bytes": e["size"], "where": where})
    return events


def cuda_kernels(prof):
    """The CUDA kernels a torch.profiler session saw: name and device time."""
    return [{"name": ev.name[:160], "us": round(ev.device_time, 2)} for ev in prof.events()
            if ev.device_type == torch.autograd.DeviceType.CUDA]


def trace_backward(fwd, leaves, do):
    """HF eager's forward then backward: allocation events of both (after a warm pair), the backward's
    peak over what was allocated after the forward less the output, and the backward's kernels."""
    def clear():
        for t in leaves:
            t.grad = None
    clear()
    torch.autograd.backward(fwd(), do)
    torch.cuda.synchronize()
    clear()
    torch.cuda.empty_cache()
    base = torch.cuda.memory_allocated()
    torch.cuda.memory._record_memory_history(max_entries=100000)
    o = fwd()
    torch.cuda.synchronize()
    n_fwd = len(device_events())
    out_bytes = (o.untyped_storage().nbytes() + 511) // 512 * 512
    torch.cuda.reset_peak_memory_stats()
    torch.autograd.backward(o, do)
    torch.cuda.synchronize()
    events = device_events()
    torch.cuda.memory._record_memory_history(enabled=None)
    peak = torch.cuda.max_memory_allocated() - base - out_bytes
    del o
    clear()
    from torch.profiler import ProfilerActivity, profile
    o = fwd()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        torch.autograd.backward(o, do)
        torch.cuda.synchronize()
    del o
    clear()
    kernels = cuda_kernels(prof)
    return {"peak_bytes": peak, "backward_begin": n_fwd, "events": events, "kernels": kernels}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-o", "--out", required=True)
    ap.add_argument("--cases", default="")
    ap.add_argument("--backward", action="store_true")
    a = ap.parse_args()
    dev = torch.device("cuda")
    llama_eager, gptoss_eager = hf_functions()
    import transformers
    res = {"torch": torch.__version__, "transformers": transformers.__version__,
           "cudnn": torch.backends.cudnn.version(), "gpu": torch.cuda.get_device_name(), "cases": []}
    for name, B, Hq, Hkv, N, D, causal, sinks, window in CASES:
        if a.cases and name not in a.cases.split(","):
            continue
        t0 = time.time()
        dt = torch.bfloat16
        g = torch.Generator(device=dev).manual_seed(1)
        q = torch.randn(B, Hq, N, D, device=dev, dtype=dt, generator=g)
        k = torch.randn(B, Hkv, N, D, device=dev, dtype=dt, generator=g)
        v = torch.randn(B, Hkv, N, D, device=dev, dtype=dt, generator=g)
        G = Hq // Hkv
        scale = 1.0 / math.sqrt(D)
        mask = causal_mask_4d(B, N, dt, dev, causal, window)
        module = SimpleNamespace(num_key_value_groups=G, training=False)
        if sinks:
            module.sinks = (2.0 + torch.randn(Hq, device=dev, generator=g)).to(dt)
        rec = {"case": name, "plans": {}}
        fns = []
        if sinks and gptoss_eager:
            fns.append(("hf_eager", lambda: gptoss_eager(module, q, k, v, mask, scale)[0]))
        elif not sinks:
            fns.append(("hf_eager", lambda: llama_eager(module, q, k, v, mask, scale)[0]))
            sdpa_mask, is_causal = None, causal
            if window:  # no is_causal for a window: the visible pairs as a bool mask
                sdpa_mask, is_causal = mask == 0, False
            for backend, tag in ((SDPBackend.MATH, "sdpa_math"), (SDPBackend.CUDNN_ATTENTION, "sdpa_cudnn"),
                                 (SDPBackend.FLASH_ATTENTION, "sdpa_flash"),
                                 (SDPBackend.EFFICIENT_ATTENTION, "sdpa_efficient")):
                def f(backend=backend):
                    with sdpa_kernel(backend):
                        return F.scaled_dot_product_attention(q, k, v, attn_mask=sdpa_mask, is_causal=is_causal,
                                                              scale=scale, enable_gqa=G > 1)
                fns.append((tag, f))
        if a.backward and (gptoss_eager or not sinks):
            do = torch.randn(B, N, Hq, D, device=dev, dtype=dt, generator=g)  # attn_output is [B, N, Hq, D]
            leaves = [t.requires_grad_() for t in (q, k, v)]
            if sinks:
                leaves.append(module.sinks.requires_grad_())
            eager = gptoss_eager if sinks else llama_eager
            try:
                rec["plans"]["hf_eager_bwd"] = trace_backward(lambda: eager(module, q, k, v, mask, scale)[0], leaves, do)
            except Exception as e:  # noqa: BLE001 - a refusal (OOM) is a result
                rec["plans"]["hf_eager_bwd"] = {"error": (str(e).strip().splitlines() or [type(e).__name__])[0][:300]}
            if not sinks:  # SDPA's math backend under autograd: what a GPU sdpa:math backward would follow
                do_bhnd = do.transpose(1, 2).contiguous()  # sdpa's output is [B, Hq, N, D]
                sdpa_mask, is_causal = None, causal
                if window:
                    sdpa_mask, is_causal = mask == 0, False

                def math_fwd():
                    with sdpa_kernel(SDPBackend.MATH):
                        return F.scaled_dot_product_attention(q, k, v, attn_mask=sdpa_mask, is_causal=is_causal,
                                                              scale=scale, enable_gqa=G > 1)
                try:
                    rec["plans"]["sdpa_math_bwd"] = trace_backward(math_fwd, leaves, do_bhnd)
                except Exception as e:  # noqa: BLE001 - a refusal (OOM) is a result
                    rec["plans"]["sdpa_math_bwd"] = {
                        "error": (str(e).strip().splitlines() or [type(e).__name__])[0][:300]}
                del do_bhnd
            for t in leaves:
                t.requires_grad_(False)
            del do
            torch.cuda.empty_cache()
        for tag, fn in fns:
            try:
                rec["plans"][tag] = trace(fn)
            except Exception as e:  # noqa: BLE001 - a refusal (no kernel, OOM) is a result
                rec["plans"][tag] = {"error": str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__}
                torch.cuda.empty_cache()
        res["cases"].append(rec)
        summary = ", ".join(f"{t} {p.get('peak_bytes', 0) / 2**20:.0f} MiB/{len(p.get('kernels', []))}k"
                            if "error" not in p else f"{t} error" for t, p in rec["plans"].items())
        print(f"{name:40s} {time.time() - t0:5.1f}s  {summary}", flush=True)
        del q, k, v, mask
        torch.cuda.empty_cache()
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
