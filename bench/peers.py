#!/usr/bin/env python3
"""Peer timings for attnscope's GPU bench: HF's own eager_attention_forward (transformers' Llama
function; GPT-OSS's with sinks), with the 4D mask built outside the timed call as the model builds
it, and PyTorch SDPA's backends (math, flash, memory-efficient, cuDNN via
torch.nn.attention.sdpa_kernel) on the ANCHORS.md shapes, bf16, timed like ANCHORS.md
(triton.testing.do_bench median, 25 ms warm-up, 200 ms of repeats).

  python3 bench/peers.py --json peers.jsonl [--cases a,b]
  python3 bench/peers.py --merge ours.jsonl peers.jsonl     # table of ratios ours/peer

Each line of the JSON output: {"source": "torch", "case", "impl", "ms", "tflops", "peak_mib", "rel_err"}
or {"source", "case", "impl", "error"}. impl: hf_eager, sdpa_math, sdpa_flash, sdpa_efficient, sdpa_cudnn.
peak_mib is torch.cuda.max_memory_allocated during one call beyond what was allocated before it (the
inputs and the mask). Case names match attnscope_gpu_bench's.
"""
import argparse
import json
import math
import sys

# (name, B, Hq, Hkv, N, D, causal, sinks, window) - the same list as bench/gpu_bench.cpp
CASES = [
    ("llama2-7b_b4_n2048_d128_causal", 4, 32, 32, 2048, 128, True, False, 0),
    ("llama2-7b_b1_n8192_d128_causal", 1, 32, 32, 8192, 128, True, False, 0),
    ("b2_h32_n4096_d64_noncausal", 2, 32, 32, 4096, 64, False, False, 0),
    ("gpt-oss-20b_n4096_d64_causal_sinks", 1, 64, 8, 4096, 64, True, True, 0),
    ("gpt-oss-20b_n4096_d64_window128_sinks", 1, 64, 8, 4096, 64, True, True, 128),
    ("gpt-oss-20b_nosinks_n4096_d64_causal", 1, 64, 8, 4096, 64, True, False, 0),
    ("gemma-2_n4096_d256_causal", 1, 16, 8, 4096, 256, True, False, 0),
    ("llama-3-8b_n16384_d128_causal", 1, 32, 8, 16384, 128, True, False, 0),
    ("b2_h32_n4096_d128_noncausal", 2, 32, 32, 4096, 128, False, False, 0),
]


def visible_pairs(n, causal, window):
    if not causal:
        return n * n
    if window:
        return sum(min(i + 1, window) for i in range(n))
    return n * (n + 1) // 2


def call_peak(fn):
    """One call of fn and the bytes torch's caching allocator had in use at its peak beyond what was
    allocated before it (torch.cuda.max_memory_allocated, as attnscope's arenas count)."""
    import torch
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    result = fn()
    torch.cuda.synchronize()
    return result, torch.cuda.max_memory_allocated() - base


def hf_functions():
    """transformers' own eager_attention_forward: Llama's (fp32 softmax) and GPT-OSS's (sinks)."""
    from transformers.models.llama import modeling_llama
    try:
        from transformers.models.gpt_oss import modeling_gpt_oss
        gptoss = modeling_gpt_oss.eager_attention_forward
    except Exception:  # noqa: BLE001 - older transformers
        gptoss = None
    return modeling_llama.eager_attention_forward, gptoss


def causal_mask_4d(B, N, dt, dev, causal, window):
    """What transformers' masking_utils hands eager: [B, 1, N, N] in the model dtype, 0 or finfo.min."""
    import torch
    if not causal and not window:
        return None
    i = torch.arange(N, device=dev)
    vis = i[None, :] <= i[:, None]
    if window:
        vis = vis & (i[None, :] > i[:, None] - window)
    m = torch.zeros(N, N, dtype=dt, device=dev).masked_fill(~vis, torch.finfo(dt).min)
    return m[None, None].expand(B, 1, N, N).contiguous()


def run_peers(args):
    from types import SimpleNamespace

    import torch
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel
    import triton.testing

    dev = torch.device("cuda")
    out = open(args.json, "w") if args.json else None
    llama_eager, gptoss_eager = hf_functions()
    import transformers
    print(f"device: {torch.cuda.get_device_name()} torch {torch.__version__} transformers {transformers.__version__} "
          f"cuDNN {torch.backends.cudnn.version()}")
    print(f"{'case':40s} {'impl':16s} {'ms':>10s} {'TFLOP/s':>9s} {'peak MiB':>10s} {'rel err':>9s}")

    for name, B, Hq, Hkv, N, D, causal, sinks, window in CASES:
        if args.cases and name not in args.cases.split(","):
            continue
        dt = torch.bfloat16
        g = torch.Generator(device=dev).manual_seed(1)
        q = torch.randn(B, Hq, N, D, device=dev, dtype=dt, generator=g)
        k = torch.randn(B, Hkv, N, D, device=dev, dtype=dt, generator=g)
        v = torch.randn(B, Hkv, N, D, device=dev, dtype=dt, generator=g)
        s = (2.0 + torch.randn(Hq, device=dev, generator=g)).to(dt) if sinks else None
        scale = 1.0 / math.sqrt(D)
        G = Hq // Hkv
        i = torch.arange(N, device=dev)
        vis = torch.ones(N, N, dtype=torch.bool, device=dev)
        if causal:
            vis = i[None, :] <= i[:, None]
        if window:
            vis = vis & (i[None, :] > i[:, None] - window)
        flops = 4.0 * B * Hq * visible_pairs(N, causal, window) * D
        # The model builds the mask once per forward, before the attention function: not timed or counted.
        mask = causal_mask_4d(B, N, dt, dev, causal, window)
        module = SimpleNamespace(num_key_value_groups=G, training=False)
        if sinks:
            module.sinks = s

        # fp64 reference on the slice attnscope uses: batch 0, kv head 0's query heads, last 128 rows.
        rows = min(128, N)
        qs = q[0, :G, N - rows:].double()
        ks, vs = k[0, 0].double(), v[0, 0].double()
        sc = qs @ ks.T * scale
        sc = sc.masked_fill(~vis[N - rows:], float("-inf"))
        if sinks:
            sk = s[:G].double()[:, None, None].expand(G, rows, 1)
            comb = torch.cat([sc, sk], dim=-1)
            p = torch.softmax(comb, dim=-1)[..., :-1]
        else:
            p = torch.softmax(sc, dim=-1)
        ref = p @ vs

        # transformers' own functions return [B, N, H, D] (transposed back for the error).
        def hf_eager():
            fn = gptoss_eager if sinks else llama_eager
            return fn(module, q, k, v, mask, scale)[0].transpose(1, 2)

        def sdpa(backend):
            attn_mask = None
            is_causal = causal
            if window:
                attn_mask, is_causal = vis, False
            def f():
                with sdpa_kernel(backend):
                    return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, is_causal=is_causal,
                                                          scale=scale, enable_gqa=G > 1)
            return f

        impls = []
        if not sinks or gptoss_eager:
            impls.append(("hf_eager", hf_eager))
        if not sinks:
            impls += [("sdpa_math", sdpa(SDPBackend.MATH)),
                      ("sdpa_flash", sdpa(SDPBackend.FLASH_ATTENTION)),
                      ("sdpa_efficient", sdpa(SDPBackend.EFFICIENT_ATTENTION)),
                      ("sdpa_cudnn", sdpa(SDPBackend.CUDNN_ATTENTION))]
        for impl, fn in impls:
            rec = {"source": "torch", "case": name, "impl": impl}
            try:
                torch.cuda.synchronize()
                torch.cuda.empty_cache()
                o, peak = call_peak(fn)
                got = o[0, :G, N - rows:].double()
                rel = (torch.linalg.norm(got - ref) / torch.linalg.norm(ref)).item()
                del o
                ms = triton.testing.do_bench(fn, warmup=25, rep=200, return_mode="median")
                rec.update(ms=ms, tflops=flops / (ms * 1e9), peak_mib=peak / 2**20, rel_err=rel)
                print(f"{name:40s} {impl:16s} {ms:10.3f} {rec['tflops']:9.1f} {rec['peak_mib']:10.1f} {rel:9.1e}")
            except Exception as e:  # a peer that refuses (no kernel, OOM) is a result too
                msg = str(e).strip().splitlines()
                rec["error"] = msg[0][:200] if msg else type(e).__name__
                print(f"{name:40s} {impl:16s} {'-':>10s}  {rec['error'][:90]}")
                torch.cuda.empty_cache()
            sys.stdout.flush()
            if out:
                out.write(json.dumps(rec) + "\n")
                out.flush()
        del q, k, v, mask
        torch.cuda.empty_cache()


def merge(ours_path, peers_path):
    rows = {}
    for path in (ours_path, peers_path):
        for line in open(path):
            line = line.strip()
            if line:
                r = json.loads(line)
                rows[(r["case"], r["source"], r["impl"])] = r
    # ours -> the peer it stands for
    pairs = [("eager", "hf_eager"), ("sdpa:math", "sdpa_math"), ("sdpa:cudnn", "sdpa_cudnn"), ("flash2", "sdpa_flash"),
             ("sdpa:efficient", "sdpa_efficient"), ("sink", "sdpa_flash"), ("sink", "hf_eager"), ("flash2", "sdpa_cudnn")]
    print(f"{'case':40s} {'ours':15s} {'peer':15s} {'ours ms':>9s} {'peer ms':>9s} {'ratio':>7s} {'ours err':>9s} {'peer err':>9s}")
    for name, *_ in CASES:
        for ours, peer in pairs:
            a = rows.get((name, "attnscope", ours))
            b = rows.get((name, "torch", peer))
            if not a or not b:
                continue
            if "ms" not in a or "ms" not in b:
                why = a.get("error") or b.get("error") or ""
                print(f"{name:40s} {ours:15s} {peer:15s} {'-':>9s} {'-':>9s} {'-':>7s}  {why[:60]}")
                continue
            print(f"{name:40s} {ours:15s} {peer:15s} {a['ms']:9.3f} {b['ms']:9.3f} {a['ms'] / b['ms']:7.2f} "
                  f"{a['rel_err']:9.1e} {b['rel_err']:9.1e}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json")
    ap.add_argument("--cases", default="")
    ap.add_argument("--merge", nargs=2, metavar=("OURS", "PEERS"))
    a = ap.parse_args()
    if a.merge:
        merge(*a.merge)
    else:
        run_peers(a)
