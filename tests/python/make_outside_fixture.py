#!/usr/bin/env python3
"""Writes tests/fixtures/outside_llama_triton_sink/layer000.{safetensors,json} WITHOUT a GPU.

A stand-in, in scripts/attnscope_dump.py's own output format, for the recording the GPU machine
makes (tests/device/outside_llama.py): layer 0 of a small random Llama (8 query / 2 kv heads,
head dim 64, 128 tokens, bf16) whose attention is the Triton sink kernel called as the widely
shared wrapper calls it (sinks=None, so a sink logit of 0; the mask ignored). Its output is that
kernel's arithmetic done in numpy; its timing record comes from attnscope_dump's own
kernels_and_ranges_from_trace/timing_record over a made-up torch.profiler trace
(kineto_trace.py) with H200-like numbers. The metadata says "synthetic" so nobody mistakes it for
a measurement; the device recording (post_build_profile.sh) is committed beside it as
outside_llama_triton_sink_gpu/, with tests of its own.

usage: make_outside_fixture.py OUT_DIR
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts"))
import attnscope_dump  # noqa: E402
import kineto_trace  # noqa: E402

B, HQ, HKV, N, D = 1, 8, 2, 128, 64
WARMUP, REPEATS = 2, 10


def sink_kernel_output(np, q, k, v, scale):
    """The gpt-oss kernel's arithmetic with no sinks passed: a zero sink logit in the running max
    and the denominator, causal, in float64 (the kernel accumulates in fp32)."""
    q, k, v = (np.asarray(t, np.float64) for t in (q, k, v))
    k = np.repeat(k, HQ // HKV, axis=1)
    v = np.repeat(v, HQ // HKV, axis=1)
    s = np.einsum("bhid,bhjd->bhij", q, k) * scale
    i = np.arange(N)[:, None]
    j = np.arange(N)[None, :]
    s = np.where(j <= i, s, -1.0e6)
    m = np.maximum(s.max(axis=-1, keepdims=True), 0.0)  # the running max starts at the sink (0)
    p = np.exp(s - m)
    return np.einsum("bhij,bhjd->bhid", p, v) / (p.sum(axis=-1, keepdims=True) + np.exp(0.0 - m))


def main(out_dir):
    import numpy as np
    import ml_dtypes
    rng = np.random.default_rng(13)
    bf16 = ml_dtypes.bfloat16
    q = rng.standard_normal((B, HQ, N, D)).astype(bf16)
    k = rng.standard_normal((B, HKV, N, D)).astype(bf16)
    v = rng.standard_normal((B, HKV, N, D)).astype(bf16)
    scale = D ** -0.5
    out = sink_kernel_output(np, q, k, v, scale).astype(np.float32).astype(bf16)
    out_bnhd = np.ascontiguousarray(out.transpose(0, 2, 1, 3))  # what the function returns to HF

    spread = np.random.default_rng(7)
    events = kineto_trace.synthetic_trace("triton_sink", WARMUP, REPEATS,
                                          jitter=lambda i: float(spread.normal(0.0, 0.15)))
    kernels, ranges = attnscope_dump.kernels_and_ranges_from_trace(events, "triton_sink")
    times = [round(0.0139 + float(spread.normal(0, 0.0004)), 6) for _ in range(REPEATS)]
    profiled = [round(t + 0.0019 + float(spread.normal(0, 0.0003)), 6) for t in times]
    # out [B, Hq, N, D] bf16 + LSE [B, Hq, N] fp32 + the transposed copy the function returns
    peak = B * HQ * N * D * 2 + B * HQ * N * 4 + B * HQ * N * D * 2
    timing = attnscope_dump.timing_record(
        function="triton_sink", warmup=WARMUP, repeats=REPEATS, times_ms=times, profiled_times_ms=profiled,
        peak_bytes=peak, kernels=kernels, ranges=ranges, device="NVIDIA H200 (synthetic)",
        environment={"torch": "2.11.0", "cuda": "13.0", "triton": "3.6.0", "transformers": "5.17.0",
                     "compute_capability": "9.0", "synthetic": "tests/python/make_outside_fixture.py, no GPU"},
        l2_flush_bytes=2 * 50 * 2 ** 20)
    t, s = attnscope_dump.write_layer(
        out_dir, "layer000", q, k, v, out_bnhd, scale=scale, causal=True, softmax_dtype="fp32",
        source="tests/python/make_outside_fixture.py (synthetic: replace with the GPU recording)",
        out_layout="bnhd", timing=timing,
        extra_metadata={"attn_implementation": "triton_sink", "layer": 0, "model_type": "llama",
                        "synthetic": "yes: made without a GPU by tests/python/make_outside_fixture.py"})
    import json
    with open(s) as f:
        spec = json.load(f)
    spec["name"] = "llama layer 0 (triton_sink)"
    with open(s, "w") as f:
        json.dump(spec, f, indent=2)
        f.write("\n")
    print(t, s, "%d kernels, %d ranges" % (len(kernels), len(ranges)))


if __name__ == "__main__":
    main(sys.argv[1])
