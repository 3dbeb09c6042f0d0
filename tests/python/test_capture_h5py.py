"""A capture written by `attnscope run` is plain HDF5: h5py + numpy read every dataset, bf16 is
uint16 + attribute dtype="bfloat16" (and ml_dtypes.bfloat16 when installed), fp16 is float16, the
spec is JSON, the reference output matches numpy's own attention, and h5dump -H reads the file.

usage: test_capture_h5py.py ATTNSCOPE_BINARY WORK_DIR
"""
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import attnscope_testlib as lib  # noqa: E402

np = lib.need("numpy")
h5py = lib.need("h5py")
ml_dtypes = lib.optional("ml_dtypes")

BIN, WORK = sys.argv[1], sys.argv[2]
os.makedirs(WORK, exist_ok=True)
NP_DTYPE = {"fp32": np.float32, "fp16": np.float16, "bf16": np.uint16}
ATTR_DTYPE = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}
checked = 0


def attr_str(v):
    return v.decode("utf-8") if isinstance(v, (bytes, np.bytes_)) else str(v)


def decoded(ds):
    """A tensor dataset as float32 values, through its dtype attribute."""
    kind = attr_str(ds.attrs["dtype"])
    raw = ds[()]
    if kind == "bfloat16":
        assert raw.dtype == np.uint16, (ds.name, raw.dtype)
        vals = lib.bf16_bits_to_f32(np, raw)
        if ml_dtypes is not None:
            via = raw.view(ml_dtypes.bfloat16).astype(np.float32)
            assert np.array_equal(via, vals, equal_nan=True), ds.name
        return vals
    if kind == "float16":
        assert raw.dtype == np.float16, (ds.name, raw.dtype)
        return raw.astype(np.float32)
    assert kind == "float32" and raw.dtype == np.float32, (ds.name, kind, raw.dtype)
    return raw


def check_capture(path, dtype, spec_fields):
    global checked
    with h5py.File(path, "r") as f:
        assert int(f.attrs["format_version"]) == 3
        spec = json.loads(attr_str(f.attrs["spec"]))
        for key in ("batch", "heads_q", "heads_kv", "head_dim"):
            assert spec[key] == spec_fields[key], (key, spec[key])
        assert spec["dtype"] == dtype
        B, Hq, Hkv, D = spec["batch"], spec["heads_q"], spec["heads_kv"], spec["head_dim"]
        Nq, Nk, Dv = spec["seq_q"], spec["seq_k"], spec["head_dim_v"]
        env = f["env"].attrs
        assert attr_str(env["backend"]) in ("cpu", "cuda")
        assert "attnscope run" in attr_str(env["command_line"]) or attr_str(env["command_line"]) != ""

        # Every dataset in the file reads with plain h5py.
        datasets = []
        f.visititems(lambda name, obj: datasets.append(name) if isinstance(obj, h5py.Dataset) else None)
        assert len(datasets) > 10, datasets
        for name in datasets:
            ds = f[name]
            data = ds[()]
            assert data.shape == ds.shape
            if "dtype" in ds.attrs:
                vals = decoded(ds)
                assert vals.dtype == np.float32
            checked += 1

        # Inputs in the layer's dtype, shaped [B, H, N, D].
        for name, shape in (("q", (B, Hq, Nq, D)), ("k", (B, Hkv, Nk, D)), ("v", (B, Hkv, Nk, Dv))):
            ds = f["inputs"][name]
            assert ds.shape == shape, (name, ds.shape, shape)
            assert ds.dtype == NP_DTYPE[dtype], (name, ds.dtype)
            assert attr_str(ds.attrs["dtype"]) == ATTR_DTYPE[dtype]
        q, k, v = (decoded(f["inputs"][n]) for n in ("q", "k", "v"))

        # The fp64 reference is what numpy computes from the stored inputs.
        ref = decoded(f["reference"]["out"])
        want = lib.attention_fp64(np, q, k, v, spec.get("scale") or None, spec["causal"])
        err = np.max(np.abs(ref - want))
        assert err < 1e-5, "reference differs from numpy by %g" % err

        # Runs: each group's tensors, verdict and timeline records.
        labels = []
        for g in f["runs"].values():
            labels.append(attr_str(g.attrs["label"]))
            verdict = g["verdict"][()]
            assert set(verdict.dtype.names) == {"severity", "code", "text", "source"}
            for sev in verdict["severity"]:
                assert attr_str(sev) in ("error", "warning", "silent", "note")
            assert set(g["spans"].dtype.names) >= {"name", "start_us", "dur_us", "thread"}
            assert set(g["kernels"].dtype.names) >= {"name", "grid", "block", "registers", "correlation"}
            assert set(g["memory"].dtype.names) == {"t_us", "bytes", "what"}
            # Version 3: NVTX ranges / profiler annotations and the repeats timed without tracing.
            assert set(g["ranges"].dtype.names) == {"name", "start_us", "dur_us", "depth"}
            assert g["times_untraced_ms"].ndim == 1 and "median_untraced_ms" in g.attrs
            tensors = [t for t in attr_str(g.attrs["tensors"]).split(",") if t]
            if int(g.attrs["ran"]):
                assert "out" in tensors, labels[-1]
            if "out" in tensors:
                out = g["out"]
                assert out.shape == (B, Hq, Nq, Dv)
                if not attr_str(g.attrs["what_if_dropped"]).strip("[]"):  # a what-if may change the dtype
                    assert out.dtype == NP_DTYPE[dtype], (labels[-1], out.dtype)
                o = decoded(out)
                assert np.isfinite(o).all(), labels[-1]
                if labels[-1] == "eager":  # the others may compute something else on purpose (what-if, sink)
                    tol = {"fp32": 1e-4, "fp16": 5e-3, "bf16": 4e-2}[dtype]
                    e = np.max(np.abs(o - want))
                    assert e < tol, "%s: max abs error %g vs numpy" % (labels[-1], e)
            if "lse" in tensors:
                assert g["lse"].shape == (B, Hq, Nq) and g["lse"].dtype == np.float32
            mode = attr_str(g.attrs["intermediates"])
            assert mode in ("whole", "rows", "none")
            if mode == "whole" and "probs" in tensors:
                p = decoded(g["probs"])
                assert p.shape == (B, Hq, Nq, Nk)
                sums = p.astype(np.float64).sum(axis=-1)
                assert np.allclose(sums, 1.0, atol=0.05 if dtype != "fp32" else 1e-5), "P rows sum to 1"
        assert "eager" in labels, labels
        print("%s: %d datasets read, runs %s" % (os.path.basename(path), len(datasets), labels))


def main():
    for dtype in ("fp32", "fp16", "bf16"):
        spec_path = os.path.join(WORK, "spec_%s.json" % dtype)
        fields = lib.write_spec(spec_path, dtype=dtype, causal=True)
        cap = os.path.join(WORK, "capture_%s.h5" % dtype)
        lib.attnscope(BIN, "run", "--spec", spec_path, "--cpu", "--what-if", "--quiet", "-o", cap)
        check_capture(cap, dtype, fields)

    # Over the intermediates budget: rows and a max-pooled overview, labelled so.
    spec_path = os.path.join(WORK, "spec_big.json")
    fields = lib.write_spec(spec_path, dtype="bf16", seq_q=256, seq_k=600, heads_q=4, heads_kv=4, batch=1)
    cap = os.path.join(WORK, "capture_budget.h5")
    lib.attnscope(BIN, "run", "--spec", spec_path, "--cpu", "--impl", "eager", "--budget", "1", "--quiet", "-o", cap)
    with h5py.File(cap, "r") as f:
        g = f["runs"]["eager"]
        assert attr_str(g.attrs["intermediates"]) == "rows"
        rows = g["rows"][()]
        assert g["probs_rows"].shape == (1, 4, len(rows), 600)
        ov = g["probs_overview"]
        assert ov.dtype == np.float32 and ov.shape[:2] == (1, 4)
        assert int(ov.attrs["pool_k"]) >= 2
        full = g["probs_rows"][()]
        # The overview's max over each pooled block is at least every kept value in it.
        pk, pq = int(ov.attrs["pool_k"]), int(ov.attrs["pool_q"])
        o = ov[()]
        p = lib.bf16_bits_to_f32(np, full)
        for r, row in enumerate(rows):
            for j in range(0, 600, 97):
                assert o[0, 0, row // pq, j // pk] >= p[0, 0, r, j]

    # The backward: /inputs/do and each run's dq/dk/dv read with h5py; the reference's gradients are
    # what numpy's fp64 formulas give from the stored inputs and dO.
    spec_path = os.path.join(WORK, "spec_bwd.json")
    fields = lib.write_spec(spec_path, dtype="bf16", causal=True)
    cap = os.path.join(WORK, "capture_bwd.h5")
    lib.attnscope(BIN, "run", "--spec", spec_path, "--cpu", "--impl", "eager,flash2", "--backward", "--quiet", "-o", cap)
    with h5py.File(cap, "r") as f:
        B, Hq, Hkv, D = fields["batch"], fields["heads_q"], fields["heads_kv"], fields["head_dim"]
        Nq, Nk = fields["seq_q"], fields["seq_k"]
        q, k, v, do = (decoded(f["inputs"][n]).astype(np.float64) for n in ("q", "k", "v", "do"))
        assert do.shape == (B, Hq, Nq, D)
        g = Hq // Hkv
        kr, vr = np.repeat(k, g, axis=1), np.repeat(v, g, axis=1)
        scale = 1.0 / np.sqrt(D)
        sc = np.einsum("bhid,bhjd->bhij", q, kr) * scale
        i, j = np.arange(Nq)[:, None] + (Nk - Nq), np.arange(Nk)[None, :]
        sc = np.where(j <= i, sc, -np.inf)
        p = np.exp(sc - sc.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        dp = np.einsum("bhid,bhjd->bhij", do, vr)
        ds = p * (dp - (p * dp).sum(-1, keepdims=True))
        want = {"dq": np.einsum("bhij,bhjd->bhid", ds, kr) * scale,
                "dk": np.einsum("bhij,bhid->bhjd", ds, q).reshape(B, Hkv, g, Nk, D).sum(2) * scale,
                "dv": np.einsum("bhij,bhid->bhjd", p, do).reshape(B, Hkv, g, Nk, D).sum(2)}
        for name, w in want.items():
            ref = decoded(f["reference"][name])
            assert ref.dtype == np.float32 and ref.shape == w.shape, (name, ref.shape)
            err = np.max(np.abs(ref - w))
            assert err < 1e-4 * max(1.0, np.max(np.abs(w))), "reference %s differs from numpy by %g" % (name, err)
            for run in ("eager", "flash2"):
                ds_ = f["runs"][run][name]
                assert attr_str(ds_.attrs["dtype"]) == "bfloat16" and ds_.shape == w.shape, (run, name)
                assert np.max(np.abs(decoded(ds_) - w)) < 0.05 * max(1.0, np.max(np.abs(w))), (run, name)
        bg = f["runs"]["flash2"]["backward"]
        assert int(bg.attrs["ran"]) == 1 and float(bg.attrs["median_ms"]) > 0
        assert set(bg["spans"].dtype.names) >= {"name", "start_us", "dur_us"} and len(bg["spans"]) == 3
        assert float(f.attrs["acceptance_baseline_dq"]) > 0
    print("ok: gradients (dq, dk, dv), dO and the backward's records read with h5py; the reference's match numpy")

    # h5dump -H reads the layout without the data.
    if shutil.which("h5dump"):
        p = subprocess.run(["h5dump", "-H", os.path.join(WORK, "capture_bf16.h5")], capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        assert "format_version" in p.stdout and 'GROUP "runs"' in p.stdout
        print("h5dump -H: %d lines" % p.stdout.count("\n"))
    else:
        print("note: h5dump not installed (Debian package hdf5-tools): its check is skipped")
    print("ok: %d datasets read with h5py" % checked)


if __name__ == "__main__":
    main()
