#!/usr/bin/env python3
"""Why sdpa:cudnn measures 0.87-0.89x torch's cuDNN backend on the long d128 causal cases (RESULTS.md),
when both run the same cuDNN 9.19 kernel (cudnn_generated_fort_native_sdpa_sm90_flash_fprop_wgmma_f16_
knob_7_64x128x128: 890.6 us ours under CUPTI, 907.5 us torch's under its profiler, llama2 b1 n8192)
and bench/peers.py's do_bench says 1.008 ms. Times the same call four ways, in one process:

  do_bench       triton.testing.do_bench as peers.py calls it (256 MB cache clear between calls)
  do_bench_ctx   the same with sdpa_kernel entered once outside the timed function
  graph          triton.testing.do_bench_cudagraph (no host overhead, no cache clear)
  events         CUDA events around 50 back-to-back calls, no cache clear (attnscope's harness when
                 the inputs exceed twice the L2)
  kernel         torch.profiler device time of the cuDNN kernel inside a do_bench-like loop

The ratios between them say whether the gap is host overhead, the cache clear, or the kernel.

  python3 bench/probe_cudnn_timing.py [--json out.jsonl]
"""
import argparse
import json
import math
import sys

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from peers import CASES  # noqa: E402

WANTED = ("llama2-7b_b4_n2048_d128_causal", "llama2-7b_b1_n8192_d128_causal", "llama-3-8b_n16384_d128_causal",
          "gpt-oss-20b_nosinks_n4096_d64_causal")


def main():
    import torch
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.profiler import ProfilerActivity, profile
    import triton.testing

    ap = argparse.ArgumentParser()
    ap.add_argument("--json")
    a = ap.parse_args()
    out = open(a.json, "w") if a.json else None
    dev = torch.device("cuda")
    for name, B, Hq, Hkv, N, D, causal, sinks, window in CASES:
        if name not in WANTED:
            continue
        g = torch.Generator(device=dev).manual_seed(1)
        q = torch.randn(B, Hq, N, D, device=dev, dtype=torch.bfloat16, generator=g)
        k = torch.randn(B, Hkv, N, D, device=dev, dtype=torch.bfloat16, generator=g)
        v = torch.randn(B, Hkv, N, D, device=dev, dtype=torch.bfloat16, generator=g)
        kw = dict(is_causal=causal, scale=1.0 / math.sqrt(D), enable_gqa=Hq != Hkv)

        def with_ctx():
            with sdpa_kernel(SDPBackend.CUDNN_ATTENTION):
                return F.scaled_dot_product_attention(q, k, v, **kw)

        def bare():
            return F.scaled_dot_product_attention(q, k, v, **kw)

        rec = {"case": name}
        rec["do_bench"] = triton.testing.do_bench(with_ctx, warmup=25, rep=200, return_mode="median")
        with sdpa_kernel(SDPBackend.CUDNN_ATTENTION):
            rec["do_bench_ctx"] = triton.testing.do_bench(bare, warmup=25, rep=200, return_mode="median")
            rec["graph"] = triton.testing.do_bench_cudagraph(bare, rep=200, return_mode="median")
            for _ in range(5):
                bare()
            s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            s.record()
            for _ in range(50):
                bare()
            e.record()
            torch.cuda.synchronize()
            rec["events"] = s.elapsed_time(e) / 50
            cache = torch.empty(256 * 2**20 // 4, dtype=torch.int, device=dev)
            with profile(activities=[ProfilerActivity.CUDA]) as prof:
                for _ in range(20):
                    cache.zero_()
                    bare()
                torch.cuda.synchronize()
        ks = [ev.device_time for ev in prof.events()
              if ev.device_type == torch.autograd.DeviceType.CUDA and "sdpa" in ev.name]
        ks.sort()
        rec["kernel"] = ks[len(ks) // 2] / 1000.0 if ks else None
        print(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in rec.items()), flush=True)
        if out:
            out.write(json.dumps(rec) + "\n")
        del q, k, v
        torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
