"""scripts/attnscope_dump.py writes what attnscope reads directly.

Part 1 (numpy + safetensors): a GPT-OSS-like call (GQA, sliding window, sinks, HF's additive mask
with left padding) whose output numpy computes in fp64 with GPT-OSS's sink math; write_layer()
stores it, and `attnscope run --spec --inputs --import-run hf=...:out` replays it: attnscope's fp64
reference agrees with the dumped output, so scale, window, sinks and mask mean the same thing on
both sides.
Part 2: tiny random Llama (eager, sdpa, a function registered with AttentionInterface.register)
and GPT-OSS (eager, sliding window + sinks, left-padded batch) recorded with transformers
(dump_tiny_models.py) replay in attnscope with the model's own output matching attnscope's eager.
Without torch here it replays the recording committed in data/hf_dumps (made on the GPU machine).

usage: test_dump.py ATTNSCOPE_BINARY WORK_DIR
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts"))
import attnscope_testlib as lib  # noqa: E402

np = lib.need("numpy")
h5py = lib.need("h5py")
import attnscope_dump  # noqa: E402  (imports neither torch nor transformers)

BIN, WORK = sys.argv[1], sys.argv[2]
os.makedirs(WORK, exist_ok=True)
assert "torch" not in sys.modules and "transformers" not in sys.modules, "attnscope_dump imported torch eagerly"


def gpt_oss_probs(q, k, v, sinks, scale, window, vis):
    """HF GPT-OSS eager math in fp64: P with the sink column in the softmax (then dropped), the
    sink's share, and K/V repeated over the GQA groups."""
    q, k, v = (np.asarray(t, np.float64) for t in (q, k, v))
    Hq, Nq = q.shape[1], q.shape[2]
    Hkv, Nk = k.shape[1], k.shape[2]
    kr, vr = np.repeat(k, Hq // Hkv, axis=1), np.repeat(v, Hq // Hkv, axis=1)
    s = np.einsum("bhid,bhjd->bhij", q, kr) * scale
    i = np.arange(Nq)[:, None] + (Nk - Nq)
    j = np.arange(Nk)[None, :]
    allowed = (j <= i) & (j > i - window) & vis
    s = np.where(allowed, s, -np.inf)
    sk = np.asarray(sinks, np.float64)[None, :, None, None]
    m = np.maximum(s.max(axis=-1, keepdims=True), sk)
    e = np.exp(s - m)
    z = e.sum(axis=-1, keepdims=True) + np.exp(sk - m)
    return e / z, np.exp(sk - m) / z, kr, vr


def gpt_oss_attention(q, k, v, sinks, scale, window, vis):
    p, _, _, vr = gpt_oss_probs(q, k, v, sinks, scale, window, vis)
    return np.einsum("bhij,bhjd->bhid", p, vr)


def read_run(cap, label):
    with h5py.File(cap, "r") as f:
        g = f[label] if label == "reference" else f["runs"][label]
        ds = g["out"]
        kind = ds.attrs["dtype"]
        kind = kind.decode() if isinstance(kind, bytes) else kind
        raw = ds[()]
        return lib.bf16_bits_to_f32(np, raw) if kind == "bfloat16" else raw.astype(np.float32)


def part_numpy():
    try:
        import safetensors.numpy  # noqa: F401
    except ImportError:
        print("SKIPPED part 1: python package 'safetensors' not installed (pip install safetensors)")
        return 0
    rng = np.random.default_rng(5)
    B, Hq, Hkv, Nq, Nk, D, W = 2, 4, 2, 16, 16, 32, 6
    q = rng.standard_normal((B, Hq, Nq, D)).astype(np.float16)
    k = rng.standard_normal((B, Hkv, Nk, D)).astype(np.float16)
    v = rng.standard_normal((B, Hkv, Nk, D)).astype(np.float16)
    sinks = rng.standard_normal(Hq).astype(np.float16)
    scale = 0.125
    # HF's 4-D additive mask: causal + window + left padding of 3 tokens in batch 1.
    vis = np.ones((B, 1, Nq, Nk), bool)
    vis[1, :, :, :3] = False
    i = np.arange(Nq)[:, None]
    j = np.arange(Nk)[None, :]
    hf_vis = vis & ((j <= i) & (j > i - W))[None, None]
    mask = np.where(hf_vis, 0.0, np.finfo(np.float16).min).astype(np.float16)
    out = gpt_oss_attention(q, k, v, sinks, scale, W, vis)
    out16 = np.nan_to_num(out).astype(np.float16)  # rows with no visible key: 0 (only padded queries)
    out_bnhd = np.ascontiguousarray(out16.transpose(0, 2, 1, 3))  # what HF's functions return
    # The probabilities an eager-style function returns next to its output (uniform over the
    # visible keys here: only their shape and their arrival in the capture matter).
    weights = np.where(hf_vis, 1.0, 0.0).repeat(Hq, axis=1)
    weights = (weights / np.maximum(weights.sum(-1, keepdims=True), 1)).astype(np.float16)
    t, s = attnscope_dump.write_layer(WORK, "layer000", q, k, v, out_bnhd, scale=scale, causal=True,
                                      sliding_window=W, sinks=sinks, mask=mask, softmax_dtype="model",
                                      out_layout="bnhd", weights=weights)
    with open(s) as f:
        spec = json.load(f)
    assert spec["mask"] == "bool" and spec["sinks"] and spec["sliding_window"] == W, spec
    cap = os.path.join(WORK, "layer000.h5")
    lib.attnscope(BIN, "run", "--spec", s, "--inputs", t, "--import-run", "hf=%s:out" % t, "--impl", "eager",
                  "--cpu", "--quiet", "-o", cap)
    ref = read_run(cap, "reference")
    hf = read_run(cap, "hf")
    with h5py.File(cap, "r") as f:
        probs = f["runs"]["hf"]["probs"][()]
    assert probs.shape == (B, Hq, Nq, Nk) and np.array_equal(probs, weights), "the function's P did not arrive"
    rows = hf_vis.any(axis=-1)[:, 0]  # [B, Nq] rows with a visible key
    err = np.max(np.abs(ref - hf)[np.broadcast_to(rows[:, None, :, None], ref.shape)])
    assert err < 2e-3, "dumped output vs attnscope's fp64 reference: %g" % err
    print("ok: numpy dump (GQA, window %d, sinks, padded mask) replays; max |hf - fp64| = %.2g" % (W, err))
    # The same call without padding needs no mask at all: causal + window describe it.
    mask2 = np.where(((j <= i) & (j > i - W))[None, None].repeat(B, 0), 0.0, np.finfo(np.float16).min)
    t2, s2 = attnscope_dump.write_layer(WORK, "nomask", q, k, v, out16, scale=scale, sliding_window=W,
                                        sinks=sinks, mask=mask2.astype(np.float16))
    with open(s2) as f:
        assert json.load(f)["mask"] == "none"
    try:
        attnscope_dump.write_layer(WORK, "bad", q, k, v, out16[:, :, :, :5])
        raise AssertionError("a wrong output shape was accepted")
    except ValueError as e:
        assert "output" in str(e)
    print("ok: structural masks dropped, wrong shapes refused")
    return 2


def gpt_oss_gradients(q, k, v, sinks, scale, window, vis, dout):
    """fp64 gradients of sum(out * dO) through the same math (GQA groups summed)."""
    p, psink, kr, vr = gpt_oss_probs(q, k, v, sinks, scale, window, vis)
    q, dout = np.asarray(q, np.float64), np.asarray(dout, np.float64)
    B, Hq, Nq, D = q.shape
    Hkv, Nk, g = np.shape(k)[1], np.shape(k)[2], Hq // np.shape(k)[1]
    dp = np.einsum("bhid,bhjd->bhij", dout, vr)
    Dsum = (p * dp).sum(-1, keepdims=True)
    ds = p * (dp - Dsum)
    dq = np.einsum("bhij,bhjd->bhid", ds, kr) * scale
    dk = np.einsum("bhij,bhid->bhjd", ds, q).reshape(B, Hkv, g, Nk, D).sum(2) * scale
    dv = np.einsum("bhij,bhid->bhjd", p, dout).reshape(B, Hkv, g, Nk, -1).sum(2)
    dsinks = -(psink * Dsum).sum(axis=(0, 2, 3))
    return dq, dk, dv, dsinks


def part_gradients():
    """The backward through the dump format: gradients a function produced for a seeded dO (here
    numpy's fp64 ones, rounded to fp16) are stored beside its output and judged by attnscope per
    tensor; a function recorded without a backward is reported as exactly that."""
    try:
        import safetensors.numpy  # noqa: F401
    except ImportError:
        print("SKIPPED gradients: python package 'safetensors' not installed")
        return 0
    rng = np.random.default_rng(7)
    B, Hq, Hkv, N, D, W = 1, 4, 2, 24, 32, 8
    q, k, v = (rng.standard_normal(sh).astype(np.float16) for sh in ((B, Hq, N, D), (B, Hkv, N, D), (B, Hkv, N, D)))
    sinks = rng.standard_normal(Hq).astype(np.float16)
    dout = rng.standard_normal((B, Hq, N, D)).astype(np.float16)
    vis = np.ones((B, 1, N, N), bool)
    out = gpt_oss_attention(q, k, v, sinks, 0.125, W, vis).astype(np.float16)
    dq, dk, dv, dsinks = gpt_oss_gradients(q, k, v, sinks, 0.125, W, vis, dout)
    grads = {"do": dout, "dq": dq.astype(np.float16), "dk": dk.astype(np.float16), "dv": dv.astype(np.float16),
             "dsinks": dsinks.astype(np.float16)}
    t, s = attnscope_dump.write_layer(WORK, "trained", q, k, v, out, scale=0.125, sliding_window=W, sinks=sinks,
                                      softmax_dtype="model", grads=grads)
    cap = os.path.join(WORK, "trained.h5")
    lib.attnscope(BIN, "run", "--spec", s, "--inputs", t, "--import-run", "fn=%s:out" % t, "--impl", "eager",
                  "--backward", "--cpu", "--quiet", "-o", cap)
    _, rep, _ = lib.attnscope(BIN, "report", cap, "--json")
    runs = {r["label"]: r for r in json.loads(rep)["runs"]}
    with h5py.File(cap, "r") as f:
        assert np.array_equal(f["inputs"]["do"][()], dout), "the file's dO was not the one the backward used"
    g = runs["fn"]["backward"]["gradients"]
    for name in ("dq", "dk", "dv", "dsinks"):
        assert g[name]["acceptance"]["pass"], "%s: %s" % (name, g[name])
    print("ok: a function's gradients (fp64 rounded to fp16) import and pass per tensor: %s"
          % ", ".join("%s %.2g" % (n, g[n]["vs_reference"]["max_abs"]) for n in ("dq", "dk", "dv", "dsinks")))
    # The same function recorded without a backward: the exception stands in the run.
    msg = ("NotImplementedError: You must implement either the backward or vjp method for your custom "
           "autograd.Function to use it with backward mode AD.")
    t2, s2 = attnscope_dump.write_layer(WORK, "forward_only", q, k, v, out, scale=0.125, sliding_window=W,
                                        sinks=sinks, softmax_dtype="model", grads={"do": dout},
                                        extra_metadata={"backward_error": msg})
    cap2 = os.path.join(WORK, "forward_only.h5")
    lib.attnscope(BIN, "run", "--spec", s2, "--inputs", t2, "--import-run", "triton=%s:out" % t2, "--impl", "eager",
                  "--backward", "--cpu", "--quiet", "-o", cap2)
    _, rep2, _ = lib.attnscope(BIN, "report", cap2, "--json")
    run = {r["label"]: r for r in json.loads(rep2)["runs"]}["triton"]
    assert not run["backward"]["ran"] and msg in run["backward"]["error"], run["backward"]
    assert any(r["code"] == "outside.no_backward" and r["severity"] == "error" for r in run["verdict"]["reasons"])
    _, text, _ = lib.attnscope(BIN, "report", cap2)
    assert "no gradients: no backward: NotImplementedError" in text, text
    print("ok: a function without a backward is recorded and reported with torch's exception")
    # Packed calls: cu_seqlens become the spec's, refused when they do not describe one row.
    t3, s3 = attnscope_dump.write_layer(WORK, "packed", q, k, v, out, scale=0.125, cu_seqlens=[0, 10, 17, 24])
    with open(s3) as f:
        assert json.load(f)["cu_seqlens"] == [0, 10, 17, 24]
    try:
        attnscope_dump.write_layer(WORK, "bad_packed", q, k, v, out, cu_seqlens=[0, 10, 20])
        raise AssertionError("cu_seqlens not ending at the token count were accepted")
    except ValueError as e:
        assert "cu_seqlens" in str(e)
    print("ok: packed calls carry cu_seqlens")
    return 3


def replay(root, cases):
    """Replays recorded HF layers: attnscope's eager on the dumped q/k/v agrees with the model's output."""
    n = 0
    for c in cases:
        t, s = (os.path.join(root, f) for f in c["files"])
        with open(s) as f:
            spec = json.load(f)
        # Captures go to the scratch folder, never beside the (committed) recording.
        cap = os.path.join(WORK, "replay_%d.h5" % n)
        lib.attnscope(BIN, "run", "--spec", s, "--inputs", t, "--import-run", "hf=%s:out" % t, "--impl", "eager",
                      "--cpu", "--quiet", "-o", cap)
        eager, hf = read_run(cap, "eager"), read_run(cap, "hf")
        # Rows with at least one visible key (HF gives padded query rows a uniform softmax instead).
        Nq, Nk, W = spec["seq_q"], spec["seq_k"], spec["sliding_window"]
        i = np.arange(Nq)[:, None] + (Nk - Nq)
        j = np.arange(Nk)[None, :]
        vis = np.ones((Nq, Nk), bool)
        if spec["causal"]:
            vis &= j <= i
        if W:
            vis &= j > i - W
        vis = np.broadcast_to(vis, (1, 1, Nq, Nk))
        with h5py.File(cap, "r") as f:
            if "mask" in f["inputs"]:
                vis = vis & (f["inputs"]["mask"][()] != 0)
        rows = np.broadcast_to(vis.any(axis=-1)[..., None], eager.shape)
        err = float(np.max(np.abs(eager - hf)[rows]))
        assert err < 0.05, "%s (%s): HF output vs attnscope eager %g" % (c["case"], os.path.basename(t), err)
        print("ok: %s %s (%s, window %d, sinks %s, mask %s) replayed: max |hf - eager| = %.3g"
              % (c["case"], os.path.basename(t), spec["dtype"], W, spec["sinks"], spec["mask"], err))
        n += 1
    return n


def part_torch():
    """Real transformers models: recorded here when torch is importable, else the committed recording."""
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as e:
        data = os.path.join(HERE, "data", "hf_dumps")
        if not os.path.exists(os.path.join(data, "cases.json")):
            print("SKIPPED part 2: torch/transformers not importable (%s) and no committed recording" % e)
            return 0
        with open(os.path.join(data, "cases.json")) as f:
            meta = json.load(f)
        print("torch not importable here: replaying the recording made with transformers %s, torch %s"
              % (meta["transformers"], meta["torch"]))
        return replay(data, meta["cases"])
    import dump_tiny_models
    out = os.path.join(WORK, "hf")
    dump_tiny_models.main(out)
    with open(os.path.join(out, "cases.json")) as f:
        meta = json.load(f)
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
    assert not hasattr(ALL_ATTENTION_FUNCTIONS["sdpa"], "__wrapped__"), "the recorder left its wrappers behind"
    return replay(out, meta["cases"])


def part_timing():
    """--time's record without a GPU: torch.profiler's trace (made up, kineto_trace.py) -> kernels
    attributed to their call by correlation, the L2 flush left out, phases nested; the record
    written beside the tensors is what attnscope imports as the run's cost."""
    try:
        import safetensors.numpy  # noqa: F401
    except ImportError:
        print("SKIPPED timing part: python package 'safetensors' not installed")
        return 0
    import kineto_trace
    ev = kineto_trace.synthetic_trace("my_attn", warmup=2, repeats=4)
    kernels, ranges = attnscope_dump.kernels_and_ranges_from_trace(ev, "my_attn")
    per_call = len(kineto_trace.TRITON_SINK_CALL)
    assert len(kernels) == (2 + 4) * per_call, [k["name"][:30] for k in kernels]
    assert not any("FillFunctor" in k["name"] for k in kernels), "the L2 flush was counted as the function's"
    reps = [k["repeat"] for k in kernels]
    assert reps == sorted(reps) and reps[0] == -1 and reps[-1] == 3, reps
    triton = [k for k in kernels if k["name"] == "_sink_attn_fwd"]
    assert [k["repeat"] for k in triton] == [-1, -1, 0, 1, 2, 3]
    assert triton[0]["grid"] == [2, 8, 1] and triton[0]["registers"] == 128 and triton[0]["shared_memory"] == 32768
    warm = next(r for r in ranges if r["name"] == "warm-up")
    assert warm["start_us"] == 0.0 and warm["depth"] == 1, warm
    depth = {r["name"]: r["depth"] for r in ranges}
    assert depth["my_attn"] == 0 and depth["timed repeats"] == 1 and depth["repeat 3"] == 2, depth
    assert all(k["start_us"] > 0 for k in kernels), "kernels run after the first warm-up call starts"
    # A kernel whose launch call is missing falls back to the GPU-side copy of the ranges.
    corr = triton[3]["correlation"]
    ev2 = [e for e in ev if not (e.get("cat") in ("cuda_runtime", "cuda_driver") and e["args"]["correlation"] == corr)]
    k2, _ = attnscope_dump.kernels_and_ranges_from_trace(ev2, "my_attn")
    assert [k["repeat"] for k in k2 if k["correlation"] == corr] == [1], "GPU-side range fallback"
    try:
        attnscope_dump.kernels_and_ranges_from_trace([e for e in ev if e.get("cat") == "kernel"], "my_attn")
        raise AssertionError("a trace without the record_function ranges was accepted")
    except ValueError as e:
        assert "record_function" in str(e)

    rec = attnscope_dump.timing_record(function="my_attn", warmup=2, repeats=4, times_ms=[0.02, 0.021, 0.019, 0.02],
                                       profiled_times_ms=[0.023, 0.022, 0.024, 0.023], peak_bytes=65536,
                                       kernels=kernels, ranges=ranges, device="made-up GPU")
    try:
        attnscope_dump.timing_record(function="f", warmup=1, repeats=3, times_ms=[0.1], profiled_times_ms=None,
                                     peak_bytes=0, kernels=[], ranges=[])
        raise AssertionError("a time count unlike the repeats was accepted")
    except ValueError:
        pass
    rng = np.random.default_rng(3)
    q = rng.standard_normal((1, 4, 16, 32)).astype(np.float16)
    k = rng.standard_normal((1, 2, 16, 32)).astype(np.float16)
    v = rng.standard_normal((1, 2, 16, 32)).astype(np.float16)
    out = lib.attention_fp64(np, q, k, v, causal=True).astype(np.float16)
    t, s = attnscope_dump.write_layer(WORK, "timed", q, k, v, out, causal=True, timing=rec)
    t0, s0 = attnscope_dump.write_layer(WORK, "untimed", q, k, v, out, causal=True)
    for tensors, spec, label, timed in ((t, s, "timed", True), (t0, s0, "untimed", False)):
        cap = os.path.join(WORK, label + ".h5")
        lib.attnscope(BIN, "run", "--spec", spec, "--inputs", tensors, "--import-run", "mine=%s:out" % tensors,
                      "--impl", "eager", "--cpu", "--quiet", "-o", cap)
        _, js, _ = lib.attnscope(BIN, "report", cap, "--json")
        r = {x["label"]: x for x in json.loads(js)["runs"]}["mine"]
        assert r["timed"] is timed, r
        if timed:
            assert abs(r["median_ms"] - 0.023) < 1e-9 and r["kernels"] == len(kernels) and r["peak_bytes"] == 65536, r
            assert r["cupti_overhead_pct"] > 0, r
        else:
            assert r["median_ms"] is None and r["peak_bytes"] is None, r
        with h5py.File(cap, "r") as f:  # the records, readable with plain h5py
            g = f["runs"]["mine"]
            assert len(g["kernels"]) == (len(kernels) if timed else 0)
            assert len(g["ranges"]) == (len(ranges) if timed else 0)
            if timed:
                assert set(g["kernels"][()]["repeat"].tolist()) == {-1, 0, 1, 2, 3}
    print("ok: timing record from a profiler trace (%d kernels, flush left out, %d ranges) imported as the run's cost;"
          " without it: not timed" % (len(kernels), len(ranges)))
    return 1


def main():
    n = part_numpy() + part_timing() + part_gradients() + part_torch()
    if n == 0:
        lib.skip("neither safetensors nor torch is installed: nothing to check beyond the import")
    print("%d passed, 0 failed" % n)


if __name__ == "__main__":
    main()
