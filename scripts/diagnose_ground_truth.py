#!/usr/bin/env python3
"""Ground truth for `attnscope diagnose`: what transformers really does with each attn_implementation.

Builds tiny Llama-shaped and GPT-OSS-shaped models from configs with random weights (nothing is
downloaded), loads each with every attn_implementation in every dtype, runs one forward pass on the
GPU when there is one, and records as JSON:

  * the exception transformers (or the kernel) raises at load and at the first forward, verbatim;
  * every warning and log record transformers emits while doing so;
  * the implementation the model really ended up with (config._attn_implementation);
  * the largest logit difference against the eager model with the same weights, so silent changes
    (GPT-OSS's sinks dropped on the plain flash_attn path) show up as numbers.

Run it on the GPU machine in the Python environment under test, next to the env script:

    python scripts/attnscope-env.py -o env.json
    python scripts/diagnose_ground_truth.py -o ground_truth.json
    attnscope diagnose --env env.json --config samples/hf/gpt-oss-20b.json --json -o predicted.json

Hub kernels (kernels-community/...) download code from the Hub; they are skipped unless --hub.

Another transformers release, without touching the installed one (the GPU machine has no network: the
wheels travel in .whl/, see tests/fixtures/device_h200_tf4513/README):

    python -m pip install --no-deps --no-index --target /tmp/tf .whl/tf451/*.whl
    PYTHONPATH=/tmp/tf python scripts/attnscope-env.py -o env.json
    PYTHONPATH=/tmp/tf python scripts/diagnose_ground_truth.py -o ground_truth.json

A release that predates GPT-OSS (< 4.55) has no GptOssConfig: its GPT-OSS cases load the config.json the way
from_pretrained does and record the release's refusal of the model type.

By default every case runs in this one Python process, in order. transformers keeps process-wide state
between from_pretrained calls (lazy_import_flash_attention caches a kernel name before importing it,
logger.warning_once prints a text once), so a case can behave differently after an earlier one: a hub
kernel that failed to import once loads "fine" the second time and fails at the first forward. Pass
--isolate to run each case in a fresh spawned process (what a user's single from_pretrained sees); each
record then says "process": "fresh" instead of "shared".
"""
import argparse
import contextlib
import importlib.util
import io
import json
import logging
import os
import sys
import time
import traceback
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))

IMPLS = [
    "eager",
    "sdpa",
    "flash_attention_2",
    "flash_attention_3",
    "flex_attention",
    "paged|eager",
    "no_such_attention",                                   # unknown name
    "/tmp/triton_attention_sink_hf/flash_attention_triton_sink.py",  # a filesystem path (seed users)
    "triton_attention_sink/flash_attention_triton_sink.py",  # one slash: looks like a hub repo
]
HUB_IMPLS = ["kernels-community/flash-attn2", "kernels-community/vllm-flash-attn3"]


def load_env_script():
    """Reuse scripts/attnscope-env.py's recorder for the environment block."""
    path = os.path.join(HERE, "attnscope-env.py")
    spec = importlib.util.spec_from_file_location("attnscope_env", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class Capture(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.records = []

    def emit(self, record):
        try:
            self.records.append({"logger": record.name, "level": record.levelname, "message": record.getMessage()})
        except Exception as e:  # a broken record must not hide the result
            self.records.append({"logger": record.name, "level": "ERROR", "message": "unformattable: %r" % e})


@contextlib.contextmanager
def recording():
    """Collects transformers' log records, Python warnings and stderr prints."""
    handler = Capture()
    tlog = logging.getLogger("transformers")
    old_level = tlog.level
    tlog.addHandler(handler)
    tlog.setLevel(logging.INFO)
    err = io.StringIO()
    with warnings.catch_warnings(record=True) as wlist:
        warnings.simplefilter("always")
        with contextlib.redirect_stderr(err):
            try:
                yield handler, wlist, err
            finally:
                tlog.removeHandler(handler)
                tlog.setLevel(old_level)


def exc_record(e):
    return {
        "type": type(e).__name__,
        "message": str(e),
        "last_frames": [l.rstrip() for l in traceback.format_exception(type(e), e, e.__traceback__)[-4:]],
    }


GPT_OSS_KWARGS = dict(
    vocab_size=1024, hidden_size=256, intermediate_size=256, num_hidden_layers=2,
    num_attention_heads=8, num_key_value_heads=2, head_dim=64, num_local_experts=4,
    num_experts_per_tok=2, sliding_window=32, max_position_embeddings=512,
    architectures=["GptOssForCausalLM"],
)


def tiny_configs(transformers):
    """Llama- and GPT-OSS-shaped configs, small enough for a CPU, shaped like the real ones.

    A release without GptOssConfig (transformers < 4.55) gets the GPT-OSS config as the config.json a
    checkpoint carries (a dict): each case then loads it the way from_pretrained does, and records what that
    release says about the model type."""
    out = {}
    from transformers import LlamaConfig

    out["llama"] = LlamaConfig(
        vocab_size=1024, hidden_size=256, intermediate_size=512, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
        # the class attnscope names in messages
        architectures=["LlamaForCausalLM"],
    )
    try:
        from transformers import GptOssConfig
    except ImportError:
        out["gpt_oss"] = dict(model_type="gpt_oss", layer_types=["sliding_attention", "full_attention"],
                              **GPT_OSS_KWARGS)
        return out
    try:
        out["gpt_oss"] = GptOssConfig(layer_types=["sliding_attention", "full_attention"], **GPT_OSS_KWARGS)
    except TypeError:
        out["gpt_oss"] = GptOssConfig(**GPT_OSS_KWARGS)
    return out


def config_notes(configs):
    """What AutoConfig.for_model says about a model type the release lacks (a second wording of the refusal)."""
    notes = []
    for name, cfg in configs.items():
        if isinstance(cfg, dict):
            from transformers import AutoConfig

            try:
                AutoConfig.for_model(cfg["model_type"])
                notes.append({"model": name, "for_model": "ok"})
            except Exception as e:  # the release's own wording, recorded verbatim
                notes.append({"model": name, "for_model_error": exc_record(e)})
    return notes


def dtype_kwarg(transformers):
    """transformers 4.56 renamed from_pretrained/from_config's torch_dtype to dtype."""
    from packaging import version  # transformers depends on packaging

    return "dtype" if version.parse(transformers.__version__) >= version.parse("4.56") else "torch_dtype"


def build(cls, cfg, impl, dtype, dkw, seed):
    import torch

    torch.manual_seed(seed)
    kwargs = {dkw: dtype}
    if impl is not None:
        kwargs["attn_implementation"] = impl
    if isinstance(cfg, dict):
        # A checkpoint's config.json: read as from_pretrained reads it (AutoConfig), which is where a release
        # that lacks the model type stops.
        import tempfile
        from transformers import AutoConfig

        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "config.json"), "w") as f:
                json.dump(cfg, f)
            cfg = AutoConfig.from_pretrained(d)
    return cls.from_config(cfg, **kwargs)


def one_case(name, cfg, impl, dtype, device, eager_logits, args, transformers, torch):
    from transformers import AutoModelForCausalLM

    rec = {"model": name, "attn_implementation": impl, "dtype": str(dtype).replace("torch.", ""), "device": device}
    dkw = dtype_kwarg(transformers)
    t0 = time.time()
    with recording() as (handler, wlist, err):
        model = None
        try:
            model = build(AutoModelForCausalLM, cfg, impl, dtype, dkw, args.seed)
            rec["load"] = "ok"
            rec["resolved"] = getattr(model.config, "_attn_implementation", None)
        except BaseException as e:
            if isinstance(e, KeyboardInterrupt):
                raise
            rec["load"] = "error"
            rec["load_error"] = exc_record(e)
        if model is not None:
            try:
                model.to(device).eval()
                g = torch.Generator().manual_seed(args.seed + 1)
                ids = torch.randint(0, model.config.vocab_size, (2, args.seq), generator=g).to(device)
                mask = torch.ones_like(ids)
                if args.padding:
                    mask[1, : args.seq // 4] = 0  # left padding on the second row
                with torch.no_grad():
                    logits = model(input_ids=ids, attention_mask=mask).logits.float()
                rec["forward"] = "ok"
                if eager_logits is not None and eager_logits.shape == logits.shape:
                    d = (logits - eager_logits.to(logits.device)).abs()
                    rec["max_abs_logit_diff_vs_eager"] = float(d.max())
                    rec["mean_abs_logit_diff_vs_eager"] = float(d.mean())
                rec["_logits"] = logits.cpu()
            except BaseException as e:
                if isinstance(e, KeyboardInterrupt):
                    raise
                rec["forward"] = "error"
                rec["forward_error"] = exc_record(e)
        rec["log"] = handler.records
        rec["warnings"] = [{"category": w.category.__name__, "message": str(w.message)} for w in wlist]
        printed = err.getvalue().strip()
        if printed:
            rec["stderr"] = printed.splitlines()[-20:]
    rec["seconds"] = round(time.time() - t0, 3)
    del model
    if device == "cuda":
        torch.cuda.empty_cache()
    return rec


def isolated_case(name, impl, dtype_name, device, args_dict, queue):
    """One case in a fresh process: its own eager reference first (eager touches no kernel cache)."""
    try:
        import torch
        import transformers

        args = argparse.Namespace(**args_dict)
        cfg = tiny_configs(transformers)[name]
        dtype = getattr(torch, dtype_name)
        eager = one_case(name, cfg, "eager", dtype, device, None, args, transformers, torch)
        if impl == "eager":
            eager.pop("_logits", None)
            queue.put(eager)
            return
        rec = one_case(name, cfg, impl, dtype, device, eager.pop("_logits", None), args, transformers, torch)
        rec.pop("_logits", None)
        queue.put(rec)
    except BaseException as e:  # report, never hang the parent
        queue.put({"model": name, "attn_implementation": impl, "dtype": dtype_name, "device": device,
                   "load": "error", "load_error": exc_record(e), "harness_error": True, "log": [], "warnings": []})


def run_isolated(name, impl, dtype_name, device, args):
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=isolated_case, args=(name, impl, dtype_name, device, vars(args), q))
    p.start()
    try:
        rec = q.get(timeout=args.case_timeout)
    except Exception as e:  # queue.Empty: the child died or hung
        rec = {"model": name, "attn_implementation": impl, "dtype": dtype_name, "device": device, "load": "error",
               "load_error": {"type": "HarnessError", "message": "no result in %ds (exit code %s): %r" % (
                   args.case_timeout, p.exitcode, e), "last_frames": []},
               "harness_error": True, "log": [], "warnings": []}
    p.join(timeout=30)
    if p.is_alive():
        p.kill()
    return rec


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--output", default="ground_truth.json")
    ap.add_argument("--seq", type=int, default=64, help="tokens per row (above the GPT-OSS window of 32)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--padding", action="store_true", help="left-pad the second row")
    ap.add_argument("--hub", action="store_true", help="also try hub kernels (downloads them)")
    ap.add_argument("--cpu", action="store_true", help="stay on the CPU even with a GPU")
    ap.add_argument("--dtypes", default="float32,float16,bfloat16")
    ap.add_argument("--isolate", action="store_true", help="run each case in a fresh spawned process")
    ap.add_argument("--case-timeout", type=int, default=300, help="seconds per isolated case")
    args = ap.parse_args()

    envmod = load_env_script()
    import torch
    import transformers

    packages = {}
    for mod, dists in envmod.PACKAGES.items():
        ver = envmod.dist_version(dists)
        packages[mod] = {"version": ver, "installed": ver is not None,
                         "import_error": envmod.import_error(mod) if ver else None}
    tinfo, tgpus = envmod.torch_info()
    device = "cuda" if torch.cuda.is_available() and not args.cpu else "cpu"

    impls = IMPLS + (HUB_IMPLS if args.hub else [])
    dtypes = [getattr(torch, d) for d in args.dtypes.split(",")]
    configs = tiny_configs(transformers)
    results, skipped = [], []
    for name, cfg in configs.items():
        if isinstance(cfg, str):
            skipped.append({"model": name, "why": cfg})
            continue
        for dtype in dtypes:
            if args.isolate:
                for impl in impls:
                    r = run_isolated(name, impl, str(dtype).replace("torch.", ""), device, args)
                    r["process"] = "fresh"
                    results.append(r)
                    print("%-8s %-9s %-62s load=%-5s forward=%s (fresh process)" % (
                        name, r["dtype"], impl, r["load"], r.get("forward", "-")), file=sys.stderr)
                continue
            eager = one_case(name, cfg, "eager", dtype, device, None, args, transformers, torch)
            eager["process"] = "shared"
            eager_logits = eager.pop("_logits", None)
            results.append(eager)
            for impl in impls:
                if impl == "eager":
                    continue
                r = one_case(name, cfg, impl, dtype, device, eager_logits, args, transformers, torch)
                r.pop("_logits", None)
                r["process"] = "shared"
                results.append(r)
                print("%-8s %-9s %-62s load=%-5s forward=%s%s" % (
                    name, r["dtype"], impl, r["load"], r.get("forward", "-"),
                    "  diff=%.3g" % r["max_abs_logit_diff_vs_eager"] if "max_abs_logit_diff_vs_eager" in r else ""),
                    file=sys.stderr)
    if not args.hub:
        skipped.append({"attn_implementation": HUB_IMPLS, "why": "hub kernels download code; pass --hub"})

    out = {
        "format": "attnscope-diagnose-ground-truth",
        "version": 1,
        "python": sys.version.split()[0],
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "packages": packages,
        "torch_info": tinfo,
        "gpus": tgpus,
        "device": device,
        "seq": args.seq,
        "padding": args.padding,
        "isolate": args.isolate,
        "results": results,
        "skipped": skipped,
        "config_notes": config_notes(configs),
    }
    with open(args.output, "w") as f:
        json.dump(out, f, indent=2, default=str)
    print("wrote %s (%d cases)" % (args.output, len(results)), file=sys.stderr)


if __name__ == "__main__":
    main()
