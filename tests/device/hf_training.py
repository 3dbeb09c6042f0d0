#!/usr/bin/env python3
"""Device checks for training (issue 12, item 6) with real transformers: the backward of registered
attention functions, judged by attnscope.

On the GPU machine (torch, transformers, triton; nothing is downloaded: tiny models from configs
with random weights), with the functions tests/device/attnscope_device_attention.py registers:

  1. triton_sink_fwd (our minimal Triton forward-only sink kernel, an autograd.Function without a
     backward) on a tiny GPT-OSS: the forward runs and passes attnscope's acceptance rule; the
     dump records the backward as missing with torch's exception, attnscope reports it, and
     `attnscope-env.py --import` + `attnscope diagnose` give the verl actor an error and the ref a
     note for it.
  2. drop_dsinks (right forward, a backward that returns no sinks gradient) on the same model: its
     dq/dk/dv pass FA2's rule per tensor and dsinks is rejected (its divergence is |dsinks_fp64|).
  3. HF eager and sdpa (Llama) and eager (GPT-OSS): every gradient tensor passes the rule.
  4. A left-padded batch through no_mask_sdpa (registered without a mask function): the dump says
     the padding was dropped and the replay fails where masked_sdpa (with sdpa_mask registered)
     passes; the last-token logits of the padded sequence against it run alone are recorded for
     no_mask_sdpa, masked_sdpa and sdpa (the transformers version where this holds).
  5. A packed row (position_ids restarting, no mask) through sdpa: the dump carries cu_seqlens and
     the replay passes (transformers' packed-sequence mask); through no_mask_sdpa it fails.

Writes OUT/hf_training.json (every figure) and prints one line per check. Exit 1 on a failed
expectation, 0 otherwise.

usage: hf_training.py [--attnscope BIN] [--out DIR] [--cpu]
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
sys.path.insert(0, HERE)

NO_BACKWARD = "You must implement either the backward or vjp method"


def run(cmd, env=None):
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=env)
    if p.returncode not in (0, 1):
        raise RuntimeError("%s failed (%d): %s" % (" ".join(map(str, cmd)), p.returncode, p.stderr.strip()[-2000:]))
    return p.stdout


class Checks:
    def __init__(self):
        self.rows, self.failures = [], []

    def expect(self, what, ok, detail=""):
        self.rows.append({"check": what, "ok": bool(ok), "detail": detail})
        print("%s  %s%s" % ("PASS" if ok else "FAIL", what, ("  (" + detail + ")") if detail else ""))
        if not ok:
            self.failures.append("%s: %s" % (what, detail))


def tiny(torch, kind, impl):
    """hf_replay's tiny Llama (GQA) or GPT-OSS (sinks, sliding window), random weights, bf16."""
    import transformers
    from hf_replay import tiny_models
    models = {name: (cls, cfg) for name, cls, cfg, _ in tiny_models(torch, transformers)}
    cls, cfg = models["llama-gqa" if kind == "llama" else "gpt-oss-sinks"]
    torch.manual_seed(0)
    model = cls._from_config(cfg, attn_implementation=impl, torch_dtype=torch.bfloat16)
    with torch.no_grad():
        for mod in model.modules():  # learned sinks around the row max, so they matter
            if hasattr(mod, "sinks") and isinstance(mod.sinks, torch.nn.Parameter):
                mod.sinks.copy_(torch.randn_like(mod.sinks) + 2.0)
    return model


def record(torch, model, out_dir, ids, backward=True, layers=(0,), **call):
    from attnscope_dump import record_attention
    with record_attention(out_dir, layers=list(layers), backward=backward, dout_seed=1, model=model) as rec, \
            torch.no_grad():
        model(input_ids=ids, **call)
    return rec


def replay(binary, tensors, spec, cap, cpu, backward=True):
    cmd = [binary, "run", "--spec", spec, "--inputs", tensors, "--import-run", "fn=%s:out" % tensors, "--impl",
           "eager", "--json", "--quiet", "-o", cap] + (["--backward"] if backward else []) + (["--cpu"] if cpu else [])
    rep = json.loads(run(cmd))
    return {r["label"]: r for r in rep["runs"]}


def grads_of(fn_run):
    return {g: v for g, v in (fn_run.get("backward", {}).get("gradients") or {}).items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--attnscope", default=os.path.join(ROOT, "build", "attnscope"))
    ap.add_argument("--out", default=os.environ.get("OUT", "/tmp/hf_training"))
    ap.add_argument("--seq", type=int, default=48)
    ap.add_argument("--cpu", action="store_true", help="replay on attnscope's CPU implementations")
    args = ap.parse_args()
    import torch
    import transformers
    import attnscope_device_attention  # noqa: F401 (registers the functions)
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
    os.makedirs(args.out, exist_ok=True)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    c = Checks()
    figures = {"torch": torch.__version__, "transformers": transformers.__version__, "device": device}
    gen = torch.Generator(device="cpu").manual_seed(3)
    ids = torch.randint(0, 1000, (1, args.seq), generator=gen).to(device)

    # 1. The Triton forward-only sink kernel.
    if "triton_sink_fwd" in ALL_ATTENTION_FUNCTIONS:
        model = tiny(torch, "gpt_oss", "triton_sink_fwd").to(device)
        d = os.path.join(args.out, "triton_sink_fwd")
        rec = record(torch, model, d, ids)
        t, s = rec.files[0]
        runs = replay(args.attnscope, t, s, os.path.join(d, "cap.h5"), args.cpu)
        fn = runs["fn"]
        c.expect("triton_sink_fwd: forward passes FA2's rule", fn["acceptance"]["pass"], fn["acceptance"]["text"])
        err = fn.get("backward", {}).get("error", "")
        c.expect("triton_sink_fwd: no backward, reported with torch's exception", NO_BACKWARD in err, err[:160])
        # Training the model itself fails the same way (the user hit it at the first backward).
        try:
            model.train()
            model(input_ids=ids).logits.float().sum().backward()
            c.expect("triton_sink_fwd: loss.backward() raises", False, "it did not raise")
        except NotImplementedError as e:
            c.expect("triton_sink_fwd: loss.backward() raises NotImplementedError", NO_BACKWARD in str(e), str(e)[:120])
        figures["triton_sink_fwd"] = {"forward": fn["acceptance"], "backward_error": err}
        # The environment probe and diagnose: error for the actor (trains), note for ref (infers).
        env = dict(os.environ, PYTHONPATH=HERE + os.pathsep + os.environ.get("PYTHONPATH", ""))
        env_json = os.path.join(args.out, "env.json")
        run([sys.executable, os.path.join(ROOT, "scripts", "attnscope-env.py"), "--import", "attnscope_device_attention",
             "-o", env_json], env=env)
        with open(env_json) as f:
            probes = {p["name"]: p for p in json.load(f)["attention_functions"]["functions"]}
        figures["env_probes"] = probes
        p = probes.get("triton_sink_fwd", {})
        c.expect("env probe: triton_sink_fwd has no backward", NO_BACKWARD in (p.get("backward_error") or ""), str(p)[:200])
        c.expect("env probe: no_mask_sdpa has no mask function, masked_sdpa has one",
                 probes.get("no_mask_sdpa", {}).get("mask_function") is False and
                 probes.get("masked_sdpa", {}).get("mask_function") is True)
        yaml = os.path.join(args.out, "verl.yaml")
        with open(yaml, "w") as f:
            f.write("actor_rollout_ref:\n  model:\n    external_lib: attnscope_device_attention\n    override_config:\n"
                    "      attn_implementation: triton_sink_fwd\n  actor:\n    use_kl_loss: true\n")
        diag = json.loads(run([args.attnscope, "diagnose", "--env", env_json, "--config",
                               os.path.join(ROOT, "samples", "hf", "gpt-oss-20b.json"), "--verl-config", yaml, "--json"]))
        roles = {r["role"]: r for r in diag.get("verl", {}).get("roles", [])}
        sev = {role: [x["severity"] for x in r["verdict"]["reasons"] if x["code"] == "hf.custom.no_backward"]
               for role, r in roles.items()}
        c.expect("diagnose: actor error, ref note for the missing backward",
                 sev.get("actor") == ["error"] and sev.get("ref") == ["note"], json.dumps(sev))
        figures["diagnose_roles"] = sev
    else:
        c.expect("triton_sink_fwd registered (needs triton and a GPU)", False, "not registered here")

    # 2. A backward that drops dSinks.
    model = tiny(torch, "gpt_oss", "drop_dsinks").to(device)
    d = os.path.join(args.out, "drop_dsinks")
    rec = record(torch, model, d, ids, layers=(0, 1))
    for t, s in rec.files:
        g = grads_of(replay(args.attnscope, t, s, t.replace(".safetensors", ".h5"), args.cpu)["fn"])
        name = os.path.basename(t)
        for k in ("dq", "dk", "dv"):
            c.expect("drop_dsinks %s: %s passes" % (name, k), g.get(k, {}).get("acceptance", {}).get("pass"),
                     g.get(k, {}).get("acceptance", {}).get("text", "missing"))
        ds = g.get("dsinks", {})
        c.expect("drop_dsinks %s: dsinks rejected with its divergence" % name,
                 ds.get("acceptance", {}).get("pass") is False and ds.get("vs_reference", {}).get("max_abs", 0) > 0.01,
                 ds.get("acceptance", {}).get("text", "missing"))
        figures.setdefault("drop_dsinks", {})[name] = g

    # 3. HF eager and sdpa gradients pass the rule.
    for kind, impl in (("llama", "eager"), ("llama", "sdpa"), ("gpt_oss", "eager")):
        model = tiny(torch, kind, impl).to(device)
        d = os.path.join(args.out, "%s_%s" % (kind, impl))
        rec = record(torch, model, d, ids, layers=(0, 1))
        for t, s in rec.files:
            g = grads_of(replay(args.attnscope, t, s, t.replace(".safetensors", ".h5"), args.cpu)["fn"])
            want = ("dq", "dk", "dv") + (("dsinks",) if kind == "gpt_oss" else ())
            bad = [k for k in want if not g.get(k, {}).get("acceptance", {}).get("pass")]
            c.expect("%s %s %s: every gradient passes" % (kind, impl, os.path.basename(t)), not bad,
                     "; ".join("%s %s" % (k, g.get(k, {}).get("acceptance", {}).get("text", "missing")) for k in bad))
            figures.setdefault("hf_gradients", {})["%s_%s_%s" % (kind, impl, os.path.basename(t))] = g

    # 4. Left padding through a registered function without a mask function.
    B, pad = 2, 12
    ids2 = torch.randint(0, 1000, (B, args.seq), generator=gen).to(device)
    mask = torch.ones_like(ids2)
    mask[1, :pad] = 0
    logit_diff = {}
    for impl in ("no_mask_sdpa", "masked_sdpa", "sdpa"):
        model = tiny(torch, "llama", impl).to(device).eval()
        with torch.no_grad():
            padded = model(input_ids=ids2, attention_mask=mask).logits[1, -1].float()
            alone = model(input_ids=ids2[1:, pad:]).logits[0, -1].float()
        logit_diff[impl] = float((padded - alone).abs().max())
        d = os.path.join(args.out, "padded_" + impl)
        rec = record(torch, model, d, ids2, backward=False, attention_mask=mask)
        t, s = rec.files[0]
        runs = replay(args.attnscope, t, s, os.path.join(d, "cap.h5"), args.cpu, backward=False)
        from safetensors import safe_open
        with safe_open(t, "pt") as f:
            meta = f.metadata()
        dropped = "padding_dropped" in meta
        if impl == "no_mask_sdpa":
            c.expect("no_mask_sdpa: the dump says the padding was dropped", dropped, meta.get("function_attention_mask"))
            c.expect("no_mask_sdpa: the replay against the model's padding fails", not runs["fn"]["acceptance"]["pass"],
                     runs["fn"]["acceptance"]["text"])
        else:
            c.expect("%s: mask received, replay passes" % impl, not dropped and runs["fn"]["acceptance"]["pass"],
                     runs["fn"]["acceptance"]["text"])
    c.expect("last-token logits of the padded sequence: no_mask_sdpa far off, masked_sdpa and sdpa close",
             logit_diff["no_mask_sdpa"] > 10 * max(logit_diff["masked_sdpa"], logit_diff["sdpa"]), json.dumps(logit_diff))
    figures["padded_last_token_logit_max_abs_diff"] = logit_diff

    # 5. A packed row through sdpa (transformers' packed-sequence mask) and through no_mask_sdpa.
    lengths = [10, 17, 6, args.seq - 33]
    pos = torch.cat([torch.arange(n) for n in lengths])[None].to(device)
    for impl, should_pass in (("sdpa", True), ("no_mask_sdpa", False)):
        model = tiny(torch, "llama", impl).to(device).eval()
        d = os.path.join(args.out, "packed_" + impl)
        # use_cache=False as verl's remove-padding forward: transformers looks for packed sequences
        # only without a cache (a DynamicCache would make it skip the detection).
        rec = record(torch, model, d, ids, backward=False, position_ids=pos, use_cache=False)
        t, s = rec.files[0]
        with open(s) as f:
            cu = json.load(f).get("cu_seqlens")
        runs = replay(args.attnscope, t, s, os.path.join(d, "cap.h5"), args.cpu, backward=False)
        c.expect("packed %s: cu_seqlens recorded %s, replay %s" % (impl, cu, "passes" if should_pass else "fails"),
                 cu == [0, 10, 27, 33, args.seq] and runs["fn"]["acceptance"]["pass"] == should_pass,
                 runs["fn"]["acceptance"]["text"])

    figures["checks"] = c.rows
    figures["failures"] = c.failures
    with open(os.path.join(args.out, "hf_training.json"), "w") as f:
        json.dump(figures, f, indent=2, default=str)
    print("hf_training: %d checks, %d failed (transformers %s, torch %s, %s)" % (
        len(c.rows), len(c.failures), transformers.__version__, torch.__version__, device))
    return 1 if c.failures else 0


if __name__ == "__main__":
    sys.exit(main())
