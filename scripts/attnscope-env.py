#!/usr/bin/env python3
"""Record the attention-relevant parts of this Python environment for `attnscope diagnose --env`.

Run it with the Python your training/inference uses (the one verl or transformers runs in):

    python scripts/attnscope-env.py -o env.json
    attnscope diagnose --env env.json --config config.json ...

Standard library only. For each package it records the installed distribution version and the
exact error `import <package>` raises (an undefined symbol in flash_attn_2_cuda is the classic),
plus torch's CUDA build, the GPUs torch sees (compute capability, memory), the driver, and the
environment variables that change attention backends. Nothing is sent anywhere.

With --import MODULE (repeatable; the module your workers import to call
AttentionInterface.register, e.g. verl's external_lib) it also probes every attention function
registered beyond transformers' own: one tiny forward and backward (GQA, causal, on the GPU when
torch sees one), recording whether the backward runs (or the exception's type and message: a
custom autograd.Function without one raises NotImplementedError), whether the output depends on
q/k/v through autograd at all, and whether a mask function is registered under the same name
(AttentionMaskInterface; without one transformers passes attention_mask=None). Probing needs torch
and transformers; without them the section says why.
"""
import argparse
import datetime
import importlib
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
import traceback

# import name -> distribution names to try (the first one installed wins)
PACKAGES = {
    "torch": ["torch"],
    "transformers": ["transformers"],
    "flash_attn": ["flash-attn", "flash_attn"],
    "flash_attn_interface": ["flash_attn_3", "flash-attn-3"],  # FlashAttention 3 (Hopper)
    "kernels": ["kernels"],
    "vllm": ["vllm"],
    "sglang": ["sglang"],
    "verl": ["verl"],
    "accelerate": ["accelerate"],
    "triton": ["triton", "pytorch-triton"],
    "xformers": ["xformers"],
    "flashinfer": ["flashinfer-python", "flashinfer"],
}

ENV_VARS = [
    "CUDA_VISIBLE_DEVICES",
    "VLLM_ATTENTION_BACKEND",
    "VLLM_USE_V1",
    "VLLM_FLASH_ATTN_VERSION",
    "VERL_ATTN_IMPLEMENTATION",
    "FLASH_ATTENTION_DETERMINISTIC",
    "TORCH_CUDA_ARCH_LIST",
    "PYTORCH_CUDA_ALLOC_CONF",
    "HF_HUB_OFFLINE",
]


def dist_version(names):
    for n in names:
        try:
            return importlib.metadata.version(n)
        except importlib.metadata.PackageNotFoundError:
            continue
        except Exception:  # broken metadata: treat as absent, the import tells the rest
            continue
    return None


def import_error(module):
    """The exact last line of the exception `import module` raises, or None."""
    try:
        importlib.import_module(module)
        return None
    except BaseException as e:  # ImportError, OSError (undefined symbol), RuntimeError ...
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        line = traceback.format_exception_only(type(e), e)[-1].strip()
        return line


def torch_info():
    info = {"cuda": None, "cuda_available": False, "cudnn": None, "bf16_supported": None}
    gpus = []
    try:
        import torch  # noqa: F401
    except BaseException:
        return info, gpus
    import torch

    info["cuda"] = getattr(torch.version, "cuda", None)
    try:
        info["cuda_available"] = bool(torch.cuda.is_available())
    except Exception as e:
        info["cuda_error"] = "%s: %s" % (type(e).__name__, e)
    try:
        v = torch.backends.cudnn.version()
        info["cudnn"] = str(v) if v is not None else None
    except Exception:
        pass
    if info["cuda_available"]:
        try:
            info["bf16_supported"] = bool(torch.cuda.is_bf16_supported())
        except Exception:
            pass
        for i in range(torch.cuda.device_count()):
            try:
                p = torch.cuda.get_device_properties(i)
                gpus.append({
                    "index": i,
                    "name": p.name,
                    "capability": [p.major, p.minor],
                    "memory_bytes": int(p.total_memory),
                })
            except Exception as e:
                gpus.append({"index": i, "error": "%s: %s" % (type(e).__name__, e)})
    return info, gpus


def nvidia_smi():
    """Driver version and GPUs from nvidia-smi (works without torch)."""
    exe = shutil.which("nvidia-smi")
    if not exe:
        return None, []
    try:
        out = subprocess.run(
            [exe, "--query-gpu=index,name,compute_cap,memory.total,driver_version",
             "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=20).stdout
    except Exception:
        return None, []
    driver, gpus = None, []
    for line in out.strip().splitlines():
        f = [x.strip() for x in line.split(",")]
        if len(f) < 5:
            continue
        g = {"index": int(f[0]) if f[0].isdigit() else len(gpus), "name": f[1]}
        if "." in f[2]:
            a, b = f[2].split(".", 1)
            if a.isdigit() and b.isdigit():
                g["capability"] = [int(a), int(b)]
        try:
            g["memory_bytes"] = int(float(f[3]) * 1024 * 1024)  # MiB
        except ValueError:
            pass
        gpus.append(g)
        driver = f[4]
    return driver, gpus


BUILTIN_ATTENTION = {"eager", "sdpa", "flash_attention_2", "flash_attention_3", "flash_attention_4",
                     "flex_attention", "paged_attention"}


def _registered_names():
    """(transformers' attention interface, mask interface or None, names beyond its own)."""
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
    try:
        from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS
    except ImportError:  # transformers before masking_utils (< 4.53)
        ALL_MASK_ATTENTION_FUNCTIONS = None
    names = []
    for attr in ("_local_mapping", "_global_mapping"):
        for name in getattr(ALL_ATTENTION_FUNCTIONS, attr, {}) or {}:
            base = name[6:] if name.startswith("paged|") else name
            if base not in BUILTIN_ATTENTION and name not in names:
                names.append(name)
    return ALL_ATTENTION_FUNCTIONS, ALL_MASK_ATTENTION_FUNCTIONS, names


def probe_attention_function(name, fn, masks):
    """One tiny forward + backward through a registered attention function."""
    import torch
    entry = {"name": name, "module": getattr(fn, "__module__", "") or "", "forward_error": None,
             "backward": None, "backward_error": None,
             "mask_function": bool(masks is not None and name in (getattr(masks, "_global_mapping", None) or masks))}
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    entry["device"] = device
    B, Hq, Hkv, N, D = 1, 4, 2, 16, 64

    class Stub(torch.nn.Module):  # what HF's attention functions read from the attention module
        def __init__(self):
            super().__init__()
            self.is_causal, self.layer_idx, self.num_key_value_groups = True, 0, Hq // Hkv
            self.scaling, self.head_dim, self.attention_dropout = D ** -0.5, D, 0.0
            self.sinks = torch.nn.Parameter(torch.zeros(Hq))  # for functions that read GPT-OSS's sinks

    torch.manual_seed(0)
    q = torch.randn(B, Hq, N, D, device=device, dtype=dtype, requires_grad=True)
    k = torch.randn(B, Hkv, N, D, device=device, dtype=dtype, requires_grad=True)
    v = torch.randn(B, Hkv, N, D, device=device, dtype=dtype, requires_grad=True)
    try:
        result = fn(Stub().to(device), q, k, v, None, scaling=D ** -0.5, dropout=0.0)
        out = result[0] if isinstance(result, (tuple, list)) else result
    except Exception as e:
        entry["forward_error"] = "%s: %s" % (type(e).__name__, str(e).strip())
        return entry
    if not getattr(out, "requires_grad", False):
        entry["backward"] = "detached"
        entry["backward_error"] = "the output does not depend on q, k, v through autograd (requires_grad=False)"
        return entry
    try:
        out.float().square().sum().backward()
        got = [t.grad is not None for t in (q, k, v)]
        entry["backward"] = "ok" if all(got) else "partial"
        if not all(got):
            entry["backward_error"] = "no gradient for %s" % ", ".join(n for n, g in zip("qkv", got) if not g)
    except Exception as e:
        entry["backward"] = "error"
        entry["backward_error"] = "%s: %s" % (type(e).__name__, str(e).strip())
    return entry


def attention_functions(imports):
    """Probes of the attention functions registered beyond transformers' own (after `imports`)."""
    for m in imports:
        try:
            importlib.import_module(m)
        except Exception as e:
            return {"error": "import %s failed: %s: %s" % (m, type(e).__name__, e), "functions": []}
    try:
        interface, masks, names = _registered_names()
    except Exception as e:
        return {"error": "%s: %s" % (type(e).__name__, e), "functions": []}
    return {"error": None, "imports": list(imports),
            "functions": [probe_attention_function(n, interface[n], masks) for n in names]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--output", help="write here instead of stdout")
    ap.add_argument("--import", dest="imports", action="append", default=[],
                    help="a module that registers attention functions (AttentionInterface.register); "
                         "its functions are probed for a backward and a mask function")
    args = ap.parse_args()

    packages = {}
    for mod, dists in PACKAGES.items():
        ver = dist_version(dists)
        entry = {"version": ver, "installed": ver is not None, "import_error": None}
        # Import only what is installed: importing vllm/sglang is slow but tells the truth.
        if ver is not None:
            entry["import_error"] = import_error(mod)
        packages[mod] = entry

    tinfo, tgpus = torch_info()
    driver, sgpus = nvidia_smi()
    report = {
        "format": "attnscope-env",
        "version": 1,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "executable": sys.executable,
        "platform": platform.platform(),
        "packages": packages,
        "torch": tinfo,
        "gpus": tgpus or sgpus,
        "driver": driver,
        "env": {k: os.environ[k] for k in ENV_VARS if k in os.environ},
    }
    if args.imports:
        report["attention_functions"] = attention_functions(args.imports)
    text = json.dumps(report, indent=2)
    if args.output:
        with open(args.output, "w") as f:
            f.write(text + "\n")
        print("wrote %s" % args.output, file=sys.stderr)
    else:
        print(text)


if __name__ == "__main__":
    main()
