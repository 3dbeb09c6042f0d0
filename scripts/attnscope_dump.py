#!/usr/bin/env python3
"""attnscope_dump: record attention layers of a real Hugging Face model for attnscope.

During one forward pass it records, for each chosen layer, exactly what the model's attention
implementation received and returned: q, k, v after RoPE ([batch, heads, seq, head_dim], the
order HF's attention functions get), the learned sinks, the mask, the scale, the sliding window
and the softcap, and the output it produced. Each layer becomes

    DIR/layerNNN.safetensors   q, k, v [, sinks] [, mask] and out (bhnd) as the model computed them
    DIR/layerNNN.json          the layer as an attnscope --spec file

so that

    attnscope run --spec DIR/layer000.json --inputs DIR/layer000.safetensors \\
                  --import-run hf=DIR/layer000.safetensors:out -o layer0.h5

replays the layer under eager / sdpa / flash2 / sink next to what the model itself computed.

It works for whatever attn_implementation the model runs, including a function registered with
transformers' AttentionInterface.register (the seed's Triton sink wrapper, a hub kernel): it wraps
the functions in transformers' ALL_ATTENTION_FUNCTIONS and the eager attention of the loaded
modeling modules for as long as the recorder is active.

Python use:

    from attnscope_dump import record_attention
    with record_attention("dump/", layers=[0, 5]) as rec:
        model(input_ids)
    print(rec.files)

Command line (a quick dump of a model id or a local model folder):

    python3 scripts/attnscope_dump.py meta-llama/Llama-3.2-1B --layers 0,5 --seq 256 -o dump/

Its cost too (--time, or record_attention(..., time=True); CUDA only): the recorded function runs
again on the recorded inputs, timed with CUDA events (warm-up, then repeats with the L2 cache
flushed before each, as attnscope times its own), once more under torch.profiler for its kernels
(name, start, duration, grid, block, registers, shared memory) and once for its peak extra device
memory. The record goes into the .safetensors metadata ("attnscope_timing", JSON; the format is in
capture/outside_timing.h), and `--import-run` makes it the run's times, kernel records and peak, so
the Timeline, Memory panel, report and export-trace show the function's kernels beside attnscope's.
A layer dumped without --time is "not timed" there, never 0 ms.

Training (an option, since it runs a backward pass): with backward=True (--backward) each recorded
call is run once more through the same function on copies of q, k, v (and the sinks) that require
grad, with a seeded dO, and the gradients it produced are stored beside the output:

    do, dq, dk, dv [, dsinks]    (bhnd; dsinks [Hq]); then attnscope run ... --backward judges them

A function that cannot run a backward is recorded as exactly that: the exception's type and
message in the file's metadata (backward_error), e.g. a custom autograd.Function without one:
"NotImplementedError: You must implement either the backward or vjp method for your custom
autograd.Function to use it with backward mode AD." A function whose output does not depend on its
inputs through autograd (it detached them) is recorded the same way; sinks it gave no gradient
(None) are noted (dsinks_none) and read by attnscope as 0.

The mask the model was called with (a forward pre-hook on the model: record_attention(...,
model=model)) is recorded beside the one the function received; when the model's batch had
padding and the function got none, the file says padding_dropped and the spec keeps the model's
padding (what the layer should have computed), so the replay shows what dropping it costs.
Packed calls (batch 1 with position_ids that restart, or the cu_seq_lens_q/k kwargs HF's flash
path passes) become the spec's cu_seqlens.

torch and transformers are imported only when a model is recorded; the file-writing part
(write_layer) also takes numpy arrays.
"""
import argparse
import json
import os
import sys

__all__ = ["record_attention", "write_layer", "AttentionRecorder", "time_attention", "timing_record",
           "kernels_and_ranges_from_trace", "main"]

_DTYPES = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16"}


def _dtype_name(x):
    """attnscope's name for a torch or numpy dtype ("fp32", "fp16", "bf16")."""
    name = str(getattr(x, "dtype", x)).replace("torch.", "")
    if name not in _DTYPES:
        raise ValueError("attnscope reads float32, float16 and bfloat16 tensors, not %s" % name)
    return _DTYPES[name]


def _is_torch(x):
    return type(x).__module__.startswith("torch")


def _shape(x):
    return tuple(int(d) for d in x.shape)


def _as_saveable(x, torch_mode):
    if torch_mode:
        return x.detach().to("cpu").contiguous()
    import numpy as np
    return np.ascontiguousarray(x)


def _save(path, tensors, metadata):
    """One .safetensors file through the safetensors package (torch or numpy flavour)."""
    torch_mode = any(_is_torch(t) for t in tensors.values())
    tensors = {k: _as_saveable(v, torch_mode) for k, v in tensors.items()}
    if torch_mode:
        from safetensors.torch import save_file
    else:
        from safetensors.numpy import save_file
    save_file(tensors, path, metadata=metadata)


def _mask_to_bool(mask, nq, nk):
    """HF masks -> a visibility mask [B|1, H|1, Nq, Nk] (True = attend), or None if it is not 0/-inf-like.

    4-D float masks are additive (0 where visible, a very negative value where masked); 4-D bool masks
    are True where visible (SDPA's convention); 2-D masks [B, Nk] are padding masks (1 = real token).
    """
    if mask is None:
        return None
    torch_mode = _is_torch(mask)
    if len(mask.shape) == 2:
        vis = mask[:, None, None, :] != 0
        vis = vis.expand(mask.shape[0], 1, nq, mask.shape[1]) if torch_mode else \
            __import__("numpy").broadcast_to(vis, (mask.shape[0], 1, nq, mask.shape[1]))
    elif len(mask.shape) == 4:
        if str(mask.dtype).endswith("bool"):
            vis = mask
        else:
            m = mask.float() if torch_mode else mask.astype("float32")
            masked = m < -1e4  # HF uses finfo(dtype).min; anything this negative is a hard mask
            if bool((m[~masked] != 0).any()):
                return None  # a real additive bias (ALiBi-like): keep it additive
            vis = ~masked
    else:
        raise ValueError("attention mask of rank %d is not understood" % len(mask.shape))
    if vis.shape[-2] != nq or vis.shape[-1] != nk:
        vis = vis[..., -nq:, :nk]  # HF may pass a mask sliced to the cache length
    return vis


def _structural(nq, nk, causal, window, torch_mode, device=None, cu_seqlens=None):
    """The visibility causal + HF sliding window imply (bottom-right aligned, as HF with a cache),
    each packed sequence (cu_seqlens) on its own."""
    if torch_mode:
        import torch
        i = torch.arange(nq, device=device)[:, None] + (nk - nq)
        j = torch.arange(nk, device=device)[None, :]
        vis = torch.ones(nq, nk, dtype=torch.bool, device=device)
    else:
        import numpy as np
        i = np.arange(nq)[:, None] + (nk - nq)
        j = np.arange(nk)[None, :]
        vis = np.ones((nq, nk), dtype=bool)
    if causal:
        vis = vis & (j <= i)
    if window:
        vis = vis & (j > i - window)
    if cu_seqlens is not None:
        seg = [0] * nk
        for n in range(len(cu_seqlens) - 1):
            for t in range(cu_seqlens[n], cu_seqlens[n + 1]):
                seg[t] = n
        if torch_mode:
            import torch
            sg = torch.tensor(seg, device=device)
        else:
            import numpy as np
            sg = np.asarray(seg)
        vis = vis & (sg[:nq, None] == sg[None, :])
    return vis


# ---- the cost of the recorded function (--time) ----------------------------------------------

TIMING_KEY = "attnscope_timing"          # the .safetensors metadata key attnscope reads
TIMING_FORMAT = "attnscope-outside-timing"
TIMING_VERSION = 1
# Kineto's categories: CPU-side record_function ranges, and the launch API calls whose
# "correlation" ties each kernel to the range it was launched in.
_ANNOTATION = "user_annotation"
_GPU_ANNOTATION = "gpu_user_annotation"
_NOT_LAUNCHES = ("kernel", "gpu_memcpy", "gpu_memset", _ANNOTATION, _GPU_ANNOTATION)


def _median(xs):
    xs = sorted(xs)
    n = len(xs)
    if n == 0:
        return 0.0
    return xs[n // 2] if n % 2 else 0.5 * (xs[n // 2 - 1] + xs[n // 2])


def _launch_repeat(name):
    """"warm-up 3" -> -1, "repeat 7" -> 7, anything else -> None."""
    kind, _, idx = name.rpartition(" ")
    if not idx.isdigit():
        return None
    return -1 if kind == "warm-up" else int(idx) if kind == "repeat" else None


def _nest(ranges):
    """Depth of each range by nesting (ranges of one thread nest), as attnscope does for NVTX."""
    ranges.sort(key=lambda r: (r["start_us"], -r["dur_us"]))
    ends = []
    for r in ranges:
        while ends and ends[-1] <= r["start_us"]:
            ends.pop()
        r["depth"] = len(ends)
        ends.append(r["start_us"] + r["dur_us"])
    return ranges


def _triple(v):
    if isinstance(v, (list, tuple)) and len(v) == 3:
        return [int(x) for x in v]
    return [0, 0, 0]


def kernels_and_ranges_from_trace(events, function):
    """Kernel records and annotation ranges of the profiled calls, from torch.profiler's Chrome
    trace events (prof.export_chrome_trace).

    The calls ran inside record_function ranges named `function` > "warm-up" / "timed repeats" >
    "warm-up N" / "repeat N". A kernel belongs to the launch range that holds the CPU-side launch
    call carrying its correlation id (or, where that call is missing, to the GPU-side copy of the
    range that holds the kernel); a kernel in no launch range (the L2 flush between repeats) is
    not the function's and is left out. Times: microseconds since the start of the "warm-up"
    range, the zero of attnscope's own runs.
    """
    names = {function, "warm-up", "timed repeats"}
    cpu = [e for e in events if e.get("ph") == "X" and e.get("cat") == _ANNOTATION and
           (e.get("name") in names or _launch_repeat(e.get("name", "")) is not None)]
    gpu = [e for e in events if e.get("ph") == "X" and e.get("cat") == _GPU_ANNOTATION and
           _launch_repeat(e.get("name", "")) is not None]
    if not cpu:
        raise ValueError("the profiler trace holds none of the record_function ranges the calls ran in")
    zero = min((float(e["ts"]) for e in cpu if e["name"] == "warm-up"), default=min(float(e["ts"]) for e in cpu))
    launches = {}
    for e in events:
        args = e.get("args") or {}
        if e.get("ph") == "X" and e.get("cat") not in _NOT_LAUNCHES and "correlation" in args:
            launches[args["correlation"]] = float(e["ts"])

    def repeat_at(ts, ranges):  # half-open: a launch right at a range's end is the next call's
        for r in ranges:
            if float(r["ts"]) <= ts < float(r["ts"]) + float(r.get("dur", 0)):
                return _launch_repeat(r["name"])
        return None

    cpu_launches = [e for e in cpu if _launch_repeat(e["name"]) is not None]
    kernels = []
    for e in events:
        if e.get("ph") != "X" or e.get("cat") != "kernel":
            continue
        args = e.get("args") or {}
        corr = args.get("correlation")
        rep = repeat_at(launches[corr], cpu_launches) if corr in launches else repeat_at(float(e["ts"]), gpu)
        if rep is None:
            continue
        k = {"name": e.get("name", "?"), "start_us": float(e["ts"]) - zero, "dur_us": float(e.get("dur", 0)),
             "grid": _triple(args.get("grid")), "block": _triple(args.get("block")),
             "registers": int(args.get("registers per thread", 0)),
             "shared_memory": int(args.get("shared memory", 0)),  # static + dynamic, as the profiler reports it
             "stream": int(args.get("stream", 0)), "correlation": int(corr or 0), "repeat": rep}
        kernels.append(k)
    kernels.sort(key=lambda k: k["start_us"])
    ranges = _nest([{"name": e["name"], "start_us": float(e["ts"]) - zero, "dur_us": float(e.get("dur", 0))}
                    for e in cpu])
    return kernels, ranges


def timing_record(*, function, warmup, repeats, times_ms, profiled_times_ms, peak_bytes, kernels, ranges,
                  device="", environment=None, l2_flush_bytes=0):
    """The record --import-run reads (capture/outside_timing.h), checked before it is written."""
    if len(times_ms) != repeats or (profiled_times_ms and len(profiled_times_ms) != repeats):
        raise ValueError("one time per repeat expected (%d repeats, %d + %d times)"
                         % (repeats, len(times_ms), len(profiled_times_ms or [])))
    rec = {"format": TIMING_FORMAT, "version": TIMING_VERSION, "producer": "attnscope_dump.py",
           "function": str(function), "device": str(device),
           "environment": {str(k): str(v) for k, v in (environment or {}).items()},
           "warmup": int(warmup), "repeats": int(repeats), "l2_flush_bytes": int(l2_flush_bytes),
           "times_ms": [float(t) for t in times_ms], "peak_bytes": int(peak_bytes),
           "kernels": kernels, "ranges": ranges}
    if profiled_times_ms:
        rec["profiled_times_ms"] = [float(t) for t in profiled_times_ms]
    return rec


def _environment(torch, device):
    import importlib.metadata as md
    env = {"torch": torch.__version__, "cuda": str(torch.version.cuda)}
    for pkg in ("transformers", "triton"):
        try:
            env[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    if torch.backends.cudnn.is_available():
        env["cudnn"] = str(torch.backends.cudnn.version())
    cap = torch.cuda.get_device_capability(device)
    env["compute_capability"] = "%d.%d" % cap
    return env


def time_attention(call, *, function, device, warmup=2, repeats=10):
    """Times `call()` (the recorded attention call on the recorded inputs) on a CUDA device.

    1. warm-up calls, then `repeats` calls between CUDA events, the L2 cache flushed before each
       (outside the events) as attnscope does for its own kernels;
    2. the same under torch.profiler (CPU + CUDA) inside record_function ranges named as
       attnscope's NVTX ranges: its kernels, and the events' times under the profiler;
    3. one call for the peak: max_memory_allocated beyond what was allocated before it.
    Returns the timing record (timing_record). No gradients are taken.
    """
    import json as _json
    import tempfile
    import torch
    from torch.profiler import ProfilerActivity, profile, record_function

    warmup = max(1, int(warmup))  # the first call after recording may still compile or autotune
    dev = torch.device(device)
    props = torch.cuda.get_device_properties(dev)
    l2 = int(getattr(props, "L2_cache_size", 0) or 0)
    flush = torch.empty(max(2 * l2, 1), dtype=torch.uint8, device=dev)

    def timed(n, label=None):
        ev = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(n)]
        for i, (a, b) in enumerate(ev):
            flush.zero_()
            if label:
                with record_function("%s %d" % (label, i)):
                    a.record()
                    call()
                    b.record()
            else:
                a.record()
                call()
                b.record()
        torch.cuda.synchronize(dev)
        return [a.elapsed_time(b) for a, b in ev]

    with torch.no_grad():
        for _ in range(warmup):
            call()
        torch.cuda.synchronize(dev)
        times = timed(repeats)

        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            with record_function(function):
                with record_function("warm-up"):
                    for w in range(warmup):
                        with record_function("warm-up %d" % w):
                            call()
                with record_function("timed repeats"):
                    profiled = timed(repeats, "repeat")
        with tempfile.NamedTemporaryFile(suffix=".json") as tmp:
            prof.export_chrome_trace(tmp.name)
            with open(tmp.name) as f:
                events = _json.load(f).get("traceEvents", [])
        kernels, ranges = kernels_and_ranges_from_trace(events, function)

        del flush
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
        before = torch.cuda.memory_allocated(dev)
        result = call()
        torch.cuda.synchronize(dev)
        peak = torch.cuda.max_memory_allocated(dev) - before
        del result
    return timing_record(function=function, warmup=warmup, repeats=repeats, times_ms=times,
                         profiled_times_ms=profiled, peak_bytes=max(0, peak), kernels=kernels, ranges=ranges,
                         device=torch.cuda.get_device_name(dev), environment=_environment(torch, dev),
                         l2_flush_bytes=2 * l2)


def write_layer(out_dir, name, q, k, v, out, *, scale=None, causal=True, sliding_window=None, sinks=None,
                softcap=None, mask=None, softmax_dtype="fp32", source="attnscope_dump.py", out_layout="bhnd",
                extra_metadata=None, weights=None, grads=None, cu_seqlens=None, timing=None):
    """Writes NAME.safetensors + NAME.json for one attention call; returns (tensor_file, spec_file).

    q [B, Hq, Nq, D], k [B, Hkv, Nk, D], v [B, Hkv, Nk, Dv] as HF's attention functions receive them;
    out [B, Hq, Nq, Dv] (out_layout "bhnd") or [B, Nq, Hq, Dv] ("bnhd", what HF's functions return).
    weights: the attention probabilities [B, Hq, Nq, Nk] the function returned (eager-style
    functions return them; fused kernels return None), stored as "out_probs" so attnscope draws the
    function's own attention map beside its implementations'.
    grads: {"do": dO [B, Hq, Nq, Dv], "dq", "dk", "dv" (bhnd), "dsinks" [Hq]} the function's gradients
    for dO (any may be missing); stored under those names for attnscope run --backward.
    cu_seqlens: [0, end_1, ..., total] for a packed call (batch 1): the spec's cu_seqlens.
    timing: the record time_attention() returns (or timing_record() builds), stored in the
    metadata under "attnscope_timing"; None = not timed.
    Tensors are torch tensors or numpy arrays.
    """
    os.makedirs(out_dir, exist_ok=True)
    B, Hq, Nq, D = _shape(q)
    Bk, Hkv, Nk, Dk = _shape(k)
    Dv = _shape(v)[3]
    if (Bk, Dk) != (B, D) or _shape(v)[:3] != (B, Hkv, Nk):
        raise ValueError("q %s, k %s, v %s do not form one attention call" % (_shape(q), _shape(k), _shape(v)))
    dtype = _dtype_name(q)
    torch_mode = _is_torch(q)
    if out_layout == "bnhd":
        out = out.transpose(1, 2) if torch_mode else out.transpose(0, 2, 1, 3)
    if _shape(out) != (B, Hq, Nq, Dv):
        raise ValueError("output %s does not match q/v: expected %s (bhnd)" % (_shape(out), (B, Hq, Nq, Dv)))
    tensors = {"q": q, "k": k, "v": v, "out": out}
    if weights is not None:
        if _shape(weights) != (B, Hq, Nq, Nk):
            raise ValueError("weights %s: expected the attention probabilities %s" % (_shape(weights), (B, Hq, Nq, Nk)))
        tensors["out_probs"] = weights
    spec = {"name": name, "source": source, "batch": B, "seq_q": Nq, "seq_k": Nk, "heads_q": Hq, "heads_kv": Hkv,
            "head_dim": D, "head_dim_v": Dv, "dtype": dtype, "scale": float(scale) if scale else 0.0,
            "causal": bool(causal), "causal_align": "bottom-right", "sliding_window": int(sliding_window or 0),
            "sinks": sinks is not None, "softcap": float(softcap or 0.0), "mask": "none",
            "softmax_dtype": softmax_dtype}
    if sinks is not None:
        if tuple(_shape(sinks)) != (Hq,):
            raise ValueError("sinks %s: expected one logit per query head (%d)" % (_shape(sinks), Hq))
        tensors["sinks"] = sinks
    if cu_seqlens is not None:
        cu = [int(x) for x in cu_seqlens]
        if B != 1 or Nq != Nk or cu[0] != 0 or cu[-1] != Nq or any(b < a for a, b in zip(cu, cu[1:])):
            raise ValueError("cu_seqlens %s: expected [0, ..., %d] for one packed row (batch 1, got %d)" % (cu, Nq, B))
        spec["cu_seqlens"] = cu
    want = {"do": (B, Hq, Nq, Dv), "dq": (B, Hq, Nq, D), "dk": (B, Hkv, Nk, D), "dv": (B, Hkv, Nk, Dv), "dsinks": (Hq,)}
    for gname, g in (grads or {}).items():
        if g is None:
            continue
        if gname not in want:
            raise ValueError("grads: unknown tensor %r (do, dq, dk, dv, dsinks)" % gname)
        if _shape(g) != want[gname]:
            raise ValueError("%s %s: expected %s" % (gname, _shape(g), want[gname]))
        tensors[gname] = g
    if mask is not None:
        vis = _mask_to_bool(mask, Nq, Nk)
        if vis is None:  # an additive bias: kept as float32, added to the scores
            m = mask.float() if torch_mode else mask.astype("float32")
            tensors["mask"] = m[..., -Nq:, :Nk]
            spec["mask"] = "additive"
        else:
            same = _structural(Nq, Nk, causal, sliding_window, torch_mode, getattr(vis, "device", None),
                               spec.get("cu_seqlens"))
            if not bool((vis == same).all()):  # padding or something else beyond causal + window
                tensors["mask"] = vis.to(dtype=__import__("torch").bool) if torch_mode else vis.astype(bool)
                spec["mask"] = "bool"
    meta = {"producer": "attnscope_dump.py", "layout": "bhnd"}
    meta.update({k: str(v) for k, v in (extra_metadata or {}).items()})
    if timing is not None:
        meta[TIMING_KEY] = json.dumps(timing, separators=(",", ":"))
    tensor_file = os.path.join(out_dir, name + ".safetensors")
    spec_file = os.path.join(out_dir, name + ".json")
    _save(tensor_file, tensors, meta)
    with open(spec_file, "w") as f:
        json.dump(spec, f, indent=2)
        f.write("\n")
    return tensor_file, spec_file


def _describe_mask(mask):
    """A short description of an attention mask for the file's metadata."""
    if mask is None:
        return "None"
    shape = list(_shape(mask))
    text = "%s %s" % (shape, str(mask.dtype).replace("torch.", ""))
    if len(shape) == 2:
        text += ", %d padded positions" % int((mask == 0).sum())
    return text


def _packed_from(kwargs, position_ids, batch, n):
    """cu_seqlens of a packed call, from the kwargs HF's flash path passes (cu_seq_lens_q/k) or from
    position_ids that restart at 0 (one row, several sequences); None when the call is not packed."""
    cq, ck = kwargs.get("cu_seq_lens_q"), kwargs.get("cu_seq_lens_k")
    if cq is not None and (ck is None or bool((cq == ck).all())):
        return [int(x) for x in cq.tolist()], "kwargs cu_seq_lens_q"
    pos = kwargs.get("position_ids", position_ids)
    if pos is None or batch != 1:
        return None, ""
    p = pos.reshape(-1)[:n].tolist()
    starts = [t for t in range(len(p)) if t == 0 or p[t] == 0 or p[t] < p[t - 1]]
    if len(starts) <= 1:
        return None, ""
    return starts + [n], "position_ids"


class AttentionRecorder:
    """Wraps transformers' attention functions while active; see record_attention."""

    def __init__(self, out_dir, layers=None, calls=1, prefix="layer", backward=False, dout_seed=0, model=None,
                 time=False, warmup=2, repeats=10):
        self.out_dir = out_dir
        self.layers = None if layers is None else set(int(x) for x in layers)
        self.calls = int(calls)
        self.prefix = prefix
        self.backward = bool(backward)
        self.dout_seed = int(dout_seed)
        self.model = model
        self.time = bool(time)   # time each recorded call again (time_attention)
        self.warmup = int(warmup)
        self.repeats = int(repeats)
        self.timings = []        # (tensor_file, timing record or None) per recorded call
        self.files = []          # (tensor_file, spec_file) per recorded call
        self.notes = []          # what the recorder found per call ("padding dropped", "no backward: ...")
        self._seen = {}          # layer -> calls recorded
        self._restore = []       # (container, key, original)
        self._model_call = {}    # the model's own attention_mask / position_ids (forward pre-hook)
        self._hook = None

    # -- wrapping --
    def _wrap(self, impl_name, fn):
        rec = self

        def recorded_attention(module, query, key, value, attention_mask, *args, **kwargs):
            result = fn(module, query, key, value, attention_mask, *args, **kwargs)

            def call():  # the recorded call once more, on the same inputs (for --time)
                return fn(module, query, key, value, attention_mask, *args, **kwargs)

            try:
                rec._record(impl_name, fn, module, query, key, value, attention_mask, args, kwargs, result, call)
            except Exception as e:  # recording must never break the model's forward pass
                print("attnscope_dump: layer %s not recorded: %s" % (getattr(module, "layer_idx", "?"), e),
                      file=sys.stderr)
            return result

        recorded_attention.__wrapped__ = fn
        recorded_attention.__name__ = getattr(fn, "__name__", "attention")
        return recorded_attention

    def _pre_hook(self, module, args, kwargs):
        # LlamaForCausalLM.forward(input_ids, attention_mask, position_ids, ...): by keyword or position.
        self._model_call = {"attention_mask": kwargs.get("attention_mask", args[1] if len(args) > 1 else None),
                            "position_ids": kwargs.get("position_ids", args[2] if len(args) > 2 else None)}

    def __enter__(self):
        import transformers  # noqa: F401 (imported only when recording)
        from transformers import modeling_utils
        interface = getattr(modeling_utils, "ALL_ATTENTION_FUNCTIONS", None)
        if interface is None:
            raise RuntimeError("this transformers (%s) has no ALL_ATTENTION_FUNCTIONS; attnscope_dump needs >= 4.48"
                               % transformers.__version__)
        containers = []
        for attr in ("_local_mapping", "_global_mapping"):
            m = getattr(interface, attr, None)
            if isinstance(m, dict):
                containers.append(m)
        if not containers and isinstance(interface, dict):
            containers.append(interface)
        for m in containers:
            for name, fn in list(m.items()):
                if callable(fn) and not hasattr(fn, "__wrapped__"):
                    self._restore.append((m, name, fn))
                    m[name] = self._wrap(name, fn)
        # The eager path is each modeling module's own eager_attention_forward (looked up at call time).
        for modname, mod in list(sys.modules.items()):
            if modname.startswith("transformers.models.") and mod is not None:
                fn = getattr(mod, "eager_attention_forward", None)
                if callable(fn) and not hasattr(fn, "__wrapped__"):
                    self._restore.append((mod, "eager_attention_forward", fn))
                    setattr(mod, "eager_attention_forward", self._wrap("eager", fn))
        if self.model is not None:
            self._hook = self.model.register_forward_pre_hook(self._pre_hook, with_kwargs=True)
        return self

    def __exit__(self, *exc):
        for container, name, fn in reversed(self._restore):
            if isinstance(container, dict):
                container[name] = fn
            else:
                setattr(container, name, fn)
        self._restore = []
        if self._hook is not None:
            self._hook.remove()
            self._hook = None
        return False

    # -- the backward --
    def _gradients(self, fn, module, query, key, value, attention_mask, args, kwargs, layout, dout):
        """Runs fn once more on copies that require grad; returns (grads, error, unused)."""
        import torch
        leaves = [t.detach().clone().requires_grad_(True) for t in (query, key, value)]
        kw = dict(kwargs)
        # One leaf for the sinks wherever the function reads them: the s_aux/sinks kwarg HF passes,
        # or module.sinks (GPT-OSS's eager reads the parameter itself).
        sinks_leaf, swapped = None, None
        source = next((kw[n] for n in ("s_aux", "sinks") if torch.is_tensor(kw.get(n))), None)
        if isinstance(getattr(module, "sinks", None), torch.nn.Parameter):
            swapped = module.sinks
            source = swapped if source is None else source
        if source is not None:
            sinks_leaf = torch.nn.Parameter(source.detach().clone())
            for n in ("s_aux", "sinks"):
                if torch.is_tensor(kw.get(n)):
                    kw[n] = sinks_leaf
            if swapped is not None:
                module.sinks = sinks_leaf
        names = ["dq", "dk", "dv"] + (["dsinks"] if sinks_leaf is not None else [])
        try:
            with torch.enable_grad():
                result = fn(module, *leaves, attention_mask, *args, **kw)
                out = result[0] if isinstance(result, (tuple, list)) else result
                g_out = dout.transpose(1, 2) if layout == "bnhd" else dout
                got = torch.autograd.grad(out, leaves + ([sinks_leaf] if sinks_leaf is not None else []),
                                          grad_outputs=g_out.to(out.dtype), allow_unused=True)
        except Exception as e:  # no backward, a detached output, ...: recorded as what it is
            return {}, "%s: %s" % (type(e).__name__, str(e).strip()), []
        finally:
            if swapped is not None:
                module.sinks = swapped
        grads, unused = {}, []
        for name, g, leaf in zip(names, got, leaves + [sinks_leaf]):
            if g is None:  # the output does not depend on this input through autograd
                unused.append(name)
                g = torch.zeros_like(leaf)
            grads[name] = g.detach()
        return grads, "", unused

    # -- recording --
    def _record(self, impl_name, fn, module, query, key, value, attention_mask, args, kwargs, result, call=None):
        layer = getattr(module, "layer_idx", None)
        if layer is None:
            layer = len(self._seen)
        if self.layers is not None and layer not in self.layers:
            return
        n = self._seen.get(layer, 0)
        if n >= self.calls:
            return
        self._seen[layer] = n + 1
        out = result[0] if isinstance(result, (tuple, list)) else result
        weights = result[1] if isinstance(result, (tuple, list)) and len(result) > 1 else None
        B, Hq, Nq, _ = query.shape
        Nk = key.shape[2]
        # HF's attention functions return [B, Nq, Hq, Dv]; a wrapper that got the layout wrong may not.
        if tuple(out.shape[:3]) == (B, Nq, Hq):
            layout = "bnhd"
        elif tuple(out.shape[:3]) == (B, Hq, Nq):
            layout = "bhnd"
        else:
            raise ValueError("output shape %s matches neither [B, N, H, D] nor [B, H, N, D]" % (tuple(out.shape),))
        config = getattr(module, "config", None)
        scale = kwargs.get("scaling", getattr(module, "scaling", None))
        window = kwargs.get("sliding_window", getattr(module, "sliding_window", None))
        sinks = kwargs.get("s_aux", kwargs.get("sinks", getattr(module, "sinks", None)))
        softcap = kwargs.get("softcap", getattr(config, "attn_logit_softcapping", None))
        causal = bool(getattr(module, "is_causal", True))
        model_type = getattr(config, "model_type", "") or ""
        # GPT-OSS's eager runs its softmax in the model dtype; Llama-style eager in fp32.
        softmax = "model" if model_type == "gpt_oss" else "fp32"
        name = "%s%03d" % (self.prefix, layer) + ("" if self.calls == 1 else "_call%d" % n)
        label = "%s layer %d (%s)" % (getattr(config, "_name_or_path", "") or model_type or "model", layer, impl_name)
        meta = {"attn_implementation": impl_name, "layer": layer, "model_type": model_type}
        notes = []
        # The mask: what the model was called with, beside what the function received.
        model_mask = self._model_call.get("attention_mask")
        meta["function_attention_mask"] = _describe_mask(attention_mask)
        mask = attention_mask
        if self.model is not None:
            meta["model_attention_mask"] = _describe_mask(model_mask)
            padded = model_mask is not None and len(model_mask.shape) == 2 and bool((model_mask == 0).any())
            if padded and attention_mask is None:
                text = ("the model was called with a padding mask (%d padded positions) and the function received "
                        "attention_mask=None: padding dropped (the spec keeps the model's padding)"
                        % int((model_mask == 0).sum()))
                meta["padding_dropped"] = text
                notes.append(text)
                mask = model_mask[:, -Nk:]
        cu, packed_from = _packed_from(kwargs, self._model_call.get("position_ids"), B, Nq)
        if cu is not None and Nq == Nk:
            meta["packed_from"] = packed_from
            notes.append("packed call: %d sequences (cu_seqlens from %s)" % (len(cu) - 1, packed_from))
        else:
            cu = None
        grads = None
        if self.backward:
            import torch
            gen = torch.Generator(device="cpu").manual_seed(self.dout_seed * 1000003 + layer)
            dout = torch.randn((B, Hq, Nq, value.shape[3]), generator=gen).to(query.dtype).to(query.device)
            # Rows that see no key get no gradient (as a training loss gives padded positions none).
            vis = _structural(Nq, Nk, causal, window, True, query.device, cu)[None, None]
            mvis = _mask_to_bool(mask, Nq, Nk) if mask is not None else None
            if mvis is not None:
                vis = vis & mvis.to(query.device)
            dout = dout * vis.any(-1, keepdim=True).expand(B, Hq, Nq, 1).to(dout.dtype)
            grads, error, unused = self._gradients(fn, module, query, key, value, attention_mask, args, kwargs, layout,
                                                   dout)
            grads["do"] = dout
            if error:
                meta["backward_error"] = error
                notes.append("no backward: " + error)
            if unused:
                meta["grads_none"] = ",".join(unused)
                notes.append("no gradient for %s (the output does not depend on it through autograd): stored as 0"
                             % ", ".join(unused))
            if "dsinks" in unused:
                grads.pop("dsinks")  # attnscope reads a missing dsinks as 0 and says so
        timing = None
        if self.time and call is not None:
            if not getattr(query, "is_cuda", False):
                print("attnscope_dump: layer %s not timed: --time needs the model on a CUDA device" % layer,
                      file=sys.stderr)
            else:
                timing = time_attention(call, function=impl_name, device=query.device, warmup=self.warmup,
                                        repeats=self.repeats)
        files = write_layer(self.out_dir, name, query, key, value, out, scale=scale, causal=causal,
                            sliding_window=window, sinks=sinks, softcap=softcap, mask=mask,
                            softmax_dtype=softmax, source="attnscope_dump.py (%s)" % impl_name,
                            out_layout=layout, weights=weights if _is_torch(weights) and weights.dim() == 4 else None,
                            extra_metadata=meta, grads=grads, cu_seqlens=cu, timing=timing)
        spec_file = files[1]
        with open(spec_file) as f:
            spec = json.load(f)
        spec["name"] = label
        with open(spec_file, "w") as f:
            json.dump(spec, f, indent=2)
            f.write("\n")
        self.files.append(files)
        self.timings.append((files[0], timing))
        self.notes.append(notes)
        for t in notes:
            print("attnscope_dump: layer %d (%s): %s" % (layer, impl_name, t), file=sys.stderr)


def record_attention(out_dir, layers=None, calls=1, prefix="layer", backward=False, dout_seed=0, model=None,
                     time=False, warmup=2, repeats=10):
    """Context manager: records the attention calls of `layers` (None = all), `calls` per layer.

    backward: also the gradients each recorded function produces for a seeded dO (dout_seed).
    model: the model being called, to record the mask it was called with (a forward pre-hook).
    time=True also times each recorded call (time_attention: CUDA events, torch.profiler kernels,
    peak memory; `warmup` calls, then `repeats`) and stores the record beside the tensors.
    """
    return AttentionRecorder(out_dir, layers=layers, calls=calls, prefix=prefix, backward=backward,
                             dout_seed=dout_seed, model=model, time=time, warmup=warmup, repeats=repeats)


def _parse_layers(text):
    if text in (None, "", "all"):
        return None
    out = []
    for part in text.split(","):
        if "-" in part:
            a, b = part.split("-", 1)
            out.extend(range(int(a), int(b) + 1))
        else:
            out.append(int(part))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description="Record attention layers of a Hugging Face model for attnscope.")
    ap.add_argument("model", help="model id or local folder (config.json [+ weights])")
    ap.add_argument("-o", "--out", default="attnscope_dump", help="output folder")
    ap.add_argument("--layers", default="0", help="layers to record: 0,3,5-7 or all (default 0)")
    ap.add_argument("--seq", type=int, default=128, help="tokens of random input ids (default 128)")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--prompt", help="a text prompt instead of random token ids (needs the tokenizer)")
    ap.add_argument("--dtype", default="bfloat16", choices=["float32", "float16", "bfloat16"])
    ap.add_argument("--attn-implementation", default=None, help="eager, sdpa, flash_attention_2, a registered name ...")
    ap.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    ap.add_argument("--random-weights", action="store_true",
                    help="build the model from its config with random weights (no weight download)")
    ap.add_argument("--import", dest="imports", action="append", default=[],
                    help="python module to import first (one that calls AttentionInterface.register)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--backward", action="store_true",
                    help="also record the gradients the attention function produces for a seeded dO")
    ap.add_argument("--left-pad", type=int, default=0,
                    help="left-pad the last sequence of the batch by N tokens (an attention_mask with zeros)")
    ap.add_argument("--packed", default=None,
                    help="pack sequences of these lengths into one row (position_ids restart, no mask): 37,93,20")
    ap.add_argument("--time", action="store_true",
                    help="time each recorded call again (CUDA events, torch.profiler kernels, peak memory)")
    ap.add_argument("--warmup", type=int, default=2, help="--time: warm-up calls (default 2, at least 1)")
    ap.add_argument("--repeats", type=int, default=10, help="--time: timed calls (default 10)")
    a = ap.parse_args(argv)
    if a.repeats < 1:
        ap.error("--repeats must be at least 1")

    import importlib
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM
    for m in a.imports:
        importlib.import_module(m)
    torch.manual_seed(a.seed)
    dtype = getattr(torch, a.dtype)
    device = a.device or ("cuda" if torch.cuda.is_available() else "cpu")
    kw = {"torch_dtype": dtype}
    if a.attn_implementation:
        kw["attn_implementation"] = a.attn_implementation
    if a.random_weights:
        config = AutoConfig.from_pretrained(a.model)
        model = AutoModelForCausalLM.from_config(config, **kw)
    else:
        model = AutoModelForCausalLM.from_pretrained(a.model, **kw)
    model = model.to(device).eval()
    call = {}
    if a.prompt:
        from transformers import AutoTokenizer
        tok = AutoTokenizer.from_pretrained(a.model)
        ids = tok([a.prompt] * a.batch, return_tensors="pt")["input_ids"].to(device)
    elif a.packed:
        lengths = [int(x) for x in a.packed.split(",")]
        ids = torch.randint(0, model.config.vocab_size, (1, sum(lengths)), device=device)
        call["position_ids"] = torch.cat([torch.arange(n, device=device) for n in lengths])[None]
    else:
        ids = torch.randint(0, model.config.vocab_size, (a.batch, a.seq), device=device)
    if a.left_pad:
        mask = torch.ones_like(ids)
        mask[-1, :a.left_pad] = 0
        call["attention_mask"] = mask
    with record_attention(a.out, layers=_parse_layers(a.layers), backward=a.backward, dout_seed=a.seed,
                          model=model, time=a.time, warmup=a.warmup, repeats=a.repeats) as rec, torch.no_grad():
        model(input_ids=ids, **call)
    impl = getattr(model.config, "_attn_implementation", "?")
    for (tensor_file, spec_file), (_, timing) in zip(rec.files, rec.timings):
        print("%s  %s" % (tensor_file, spec_file))
        if timing:
            print("  timed: median %.4g ms (%.4g ms under the profiler) over %d repeats, %d kernel records, "
                  "peak %.1f MiB" % (_median(timing["times_ms"]), _median(timing.get("profiled_times_ms", [])),
                                     timing["repeats"], len(timing["kernels"]), timing["peak_bytes"] / 2.0 ** 20))
    if not rec.files:
        print("no attention call recorded (layers %s, attn_implementation %s)" % (a.layers, impl), file=sys.stderr)
        return 1
    t, s = rec.files[0]
    print("replay: attnscope run --spec %s --inputs %s --import-run %s=%s:out%s -o %s.h5"
          % (s, t, impl.replace("/", "_"), t, " --backward" if a.backward else "", os.path.splitext(t)[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
