// The fixes diagnose proposes for what the report found, each with what it costs, cheapest first.
#include "capture/diagnose/fixes.h"

#include <algorithm>

#include "capture/diagnose/diagnose.h"
#include "kernels/format.h"
#include "kernels/implementation.h"

namespace attnscope {

std::string fallback_name(const ModelInfo& m, const LayerSpec& s) {
  if (s.softcap > 0 || m.softcap > 0) return "eager";
  return hf_model_flags(m.model_type).supports_sdpa ? "sdpa" : "eager";
}


namespace {

struct Candidate {
  double cost;  // the order key: cheapest first
  Fix f;
};

bool has_silent(const Verdict& v) {
  for (const auto& x : v.reasons)
    if (x.severity == Severity::Silent) return true;
  return false;
}

// What switching to the fallback costs, in words and as an order key.
struct FallbackCost {
  std::string name;  // "sdpa" or "eager"
  double key = 4;
  std::string text;
};
FallbackCost fallback_cost(const DiagnoseReport& r) {
  FallbackCost fc;
  fc.name = fallback_name(r.model, r.spec);
  const LayerSpec& s = r.spec;
  if (fc.name == "sdpa") {
    const ImplVerdict* fbv = nullptr;
    for (const auto& h : r.hf)
      if (h.name == fc.name) fbv = &h;
    const std::string be = fbv ? fbv->sdpa_backend : "";
    fc.key = be == "flash" ? 1 : be == "efficient" || be == "cudnn" ? 2 : 3;
    fc.text = "SDPA runs its " + (be.empty() ? std::string("chosen") : be) + " backend here";
    if (be == "math")
      fc.text += ": S and P materialised (" + format_bytes(model_bytes("sdpa:math", s)) + " per layer at this shape)";
    else
      fc.text += ": O(N) extra memory like FA2, typically 1.2-2x slower than FA2 where FA2 runs; same result "
                 "within dtype rounding";
  } else {
    fc.text = "eager materialises S and P: " + format_bytes(model_bytes("eager", s)) +
              " per layer at this shape, quadratic in the sequence length";
    if (r.model.sinks) fc.text += "; the only HF path that honours GPT-OSS's sinks on every GPU";
    else if (s.softcap > 0) fc.text += "; applies the softcap, which sdpa drops";
  }
  return fc;
}

// FlashAttention-2's state in the report.
struct Fa2State {
  const ImplVerdict* v = nullptr;
  bool broken = false;      // refused
  bool silent = false;      // runs but changes the result silently
  bool arch_ok = false;     // a GPU FA2 runs on (sm80+)
  bool only_dtype = false;  // refused for the fp32 dtype alone
};
Fa2State fa2_state(const DiagnoseReport& r) {
  Fa2State st;
  for (const auto& h : r.hf)
    if (h.name == "flash_attention_2") st.v = &h;
  st.broken = st.v && !st.v->verdict.supported;
  st.silent = st.v && has_silent(st.v->verdict);
  st.arch_ok = r.device.is_gpu() && r.device.cc_major >= 8;
  st.only_dtype = st.broken && st.arch_ok;
  if (st.v)
    for (const auto& x : st.v->verdict.reasons)
      if (x.severity == Severity::Error && x.code != "fa2.dtype") st.only_dtype = false;
  return st;
}

// Lines that keep a fused kernel: FA2 in bf16, the flash-attn package repaired, GPT-OSS's hub FA3.
void keep_fused_lines(const DiagnoseReport& r, const Fa2State& fa2, std::vector<Candidate>* c) {
  if (fa2.only_dtype)
    c->push_back({0.1,
                  {0, "transformers", "from_pretrained(..., dtype=torch.bfloat16, attn_implementation=\"flash_attention_2\")",
                   "the GPU runs FA2; only the fp32 dtype is refused", "none: keeps FlashAttention-2 (bf16 rounding)"}});
  if (fa2.v && fa2.arch_ok)
    for (const auto& x : fa2.v->verdict.reasons) {
      if (x.code == "fa.undefined_symbol" || x.code == "fa.import_error")
        c->push_back({0.2,
                      {0, "pip", "pip install --force-reinstall --no-build-isolation flash-attn",
                       "the installed flash_attn binary does not match torch (" + x.text.substr(0, 120) + ")",
                       "a rebuild (minutes to an hour); keeps FA2"}});
      if (x.code == "hf.fa2.not_installed" || x.code == "hf.fa2.too_old")
        c->push_back({0.3,
                      {0, "pip", "pip install kernels   # transformers >= 4.56 then loads kernels-community/flash-attn2",
                       "flash_attn is missing or too old; the hub build needs no compiler",
                       "a download; keeps FA2 (hub build)"}});
    }
  // GPT-OSS on Hopper, bf16, inference: the sink-capable hub kernel. Inference only: its backward
  // does not support sinks, so a verl (training) report skips it.
  const LayerSpec& s = r.spec;
  if (r.model.sinks && !r.verl.present && r.device.is_gpu() && r.device.sm() == 90 && s.dtype == DType::BF16 &&
      s.heads_q <= 64)
    c->push_back({0.5,
                  {0, "transformers", "from_pretrained(..., attn_implementation=\"kernels-community/vllm-flash-attn3\")",
                   "sink-capable FA3 build for Hopper + bf16 (its backward does not support sinks: train with eager)",
                   "pip install kernels; inference only"}});
}

// The fallback's cost inside verl: attention computes in the training roles' FSDP param_dtype, and
// the actor and the critic train, so a fallback that materialises S and P pays in its backward too.
FallbackCost verl_role_cost(const DiagnoseReport& r, const FallbackCost& fb) {
  FallbackCost rc = fb;
  for (const auto& ro : r.verl.roles) {
    if (ro.role != "critic" && ro.role != "actor") continue;
    LayerSpec cs = r.spec;
    if (auto d = parse_dtype(ro.compute_dtype)) cs.dtype = *d;
    std::string quadratic = fb.name == "eager" ? "eager" : "";  // the fallback whose backward is quadratic
    if (fb.name == "sdpa") {
      const ImplVerdict sv = hf_verdict("sdpa", r.model, cs, r.device, r.env, true);
      if (sv.sdpa_backend == "math") {
        quadratic = "sdpa:math";
        rc.key = 3;
        rc.text = "SDPA in " + ro.compute_dtype + " on this GPU runs the math backend: S and P materialised (" +
                  format_bytes(model_bytes("sdpa:math", cs)) +
                  " per layer at this shape); still the cheapest path that runs here (on pre-Ampere GPUs "
                  "fp16 compute would let SDPA use its memory-efficient kernel, at fp16's overflow risk)";
      } else if (!sv.sdpa_backend.empty()) {
        rc.text = "SDPA in " + ro.compute_dtype + " runs its " + sv.sdpa_backend +
                  " backend here: O(N) extra memory like FA2, typically 1.2-2x slower than FA2 where FA2 runs";
      }
    }
    if (!quadratic.empty())
      rc.text += "; its backward, which the " + ro.role + " runs, holds " +
                 format_bytes(model_bytes_backward(quadratic, cs)) + " per layer at this shape";
    break;
  }
  return rc;
}

// verl's config lines, one per failing role.
void verl_lines(const DiagnoseReport& r, const FallbackCost& fb, std::vector<Candidate>* c) {
  if (!r.verl.present) return;
  bool actor_bad = false, critic_bad = false, rollout_bf16 = false, rm_bad = false;
  std::string actor_src, critic_src;
  for (const auto& ro : r.verl.roles) {
    const bool bad = ro.enabled && (!ro.verdict.supported || has_silent(ro.verdict));
    const bool hf_attn = !ro.attn_implementation.empty() && ro.attn_implementation != fb.name;
    if ((ro.role == "actor" || ro.role == "ref") && bad && hf_attn) actor_bad = true, actor_src = ro.attn_source;
    if (ro.role == "critic" && bad && hf_attn) critic_bad = true, critic_src = ro.attn_source;
    if (ro.role == "rollout" && ro.verdict.has("vllm.bf16_arch")) rollout_bf16 = true;
    if (ro.role == "reward_model" && bad) rm_bad = true;
  }
  const FallbackCost rc = verl_role_cost(r, fb);
  auto line = [&](const std::string& key, const std::string& src) {
    // `+key` appends; Hydra refuses it when the key is already in the YAML, so say key=value then.
    const bool in_yaml = src.find(key) != std::string::npos;
    return (in_yaml ? "" : "+") + key + "=" + fb.name;
  };
  if (actor_bad)
    c->push_back({rc.key - 0.02,
                  {0, "verl", line("actor_rollout_ref.model.override_config.attn_implementation", actor_src),
                   "actor, ref (and an HF rollout) load with " +
                       std::string(actor_src == "verl default" ? "verl's default flash_attention_2" : "the override that fails"),
                   rc.text}});
  if (critic_bad)
    c->push_back({rc.key - 0.01,
                  {0, "verl", line("critic.model.override_config.attn_implementation", critic_src),
                   "the critic reads only critic.model.override_config: it still asks for flash_attention_2", rc.text}});
  if (rollout_bf16)
    c->push_back({0.4,
                  {0, "verl", "actor_rollout_ref.rollout.dtype=float16",
                   "the rollout engine refuses bf16 on GPUs before sm80", "fp16 range (overflow risk in long rollouts)"}});
  if (rm_bad)
    c->push_back({5,
                  {0, "verl", "reward_model.enable=False   # or patch RewardModelWorker's attn_implementation",
                   "verl hard-codes flash_attention_2 for the reward model; no config key changes it",
                   "a function reward instead of a model, or a code change"}});
}

// transformers' attn_implementation lines: FA2 where sdpa drops the softcap, the fallback, eager.
void transformers_lines(const DiagnoseReport& r, const FallbackCost& fb, const Fa2State& fa2,
                        std::vector<Candidate>* c) {
  bool sdpa_silent = false;
  for (const auto& h : r.hf)
    if (h.name == "sdpa")
      for (const auto& x : h.verdict.reasons)
        sdpa_silent = sdpa_silent || (x.severity == Severity::Silent && x.code != "hf.sdpa.default_falls_back");
  if (sdpa_silent && fb.name == "eager" && !fa2.broken && !fa2.silent && fa2.v)
    c->push_back({1.5, {0, "transformers", "from_pretrained(..., attn_implementation=\"flash_attention_2\")",
                        "sdpa (transformers' default) drops the softcap silently; FA2 applies it (flash-attn >= 2.6)",
                        "none beyond installing flash-attn 2.6+; keeps a fused kernel"}});
  if (fa2.broken || fa2.silent || sdpa_silent || r.verl.present)
    c->push_back({fb.key, {0, "transformers", "from_pretrained(..., attn_implementation=\"" + fb.name + "\")",
                           sdpa_silent && !fa2.broken && !fa2.silent
                               ? "transformers' default sdpa changes the result silently here"
                               : (fa2.silent && !fa2.broken ? "flash_attention_2 changes the result silently here"
                                                            : "flash_attention_2 cannot run here"),
                           fb.text}});
  if (fb.name == "sdpa" && (fa2.broken || fa2.silent))
    c->push_back({4.5, {0, "transformers", "from_pretrained(..., attn_implementation=\"eager\")",
                        "the reference path: every feature, no fused kernel",
                        "materialises S and P: " + format_bytes(model_bytes("eager", r.spec)) + " per layer at this shape"}});
}

// Registered functions the env probed: the mask function they lack (one line, no cost), and a name
// that trains where theirs cannot.
void registered_function_lines(const DiagnoseReport& r, const FallbackCost& fb, std::vector<Candidate>* c) {
  for (const auto& f : r.env.attention_functions) {
    if (!f.mask_function && f.forward_error.empty())
      c->push_back({0.05,
                    {0, "transformers",
                     "from transformers.masking_utils import AttentionMaskInterface, sdpa_mask; "
                     "AttentionMaskInterface.register(\"" + f.name + "\", sdpa_mask)",
                     "\"" + f.name + "\" receives attention_mask=None: padded batches are attended as if unpadded",
                     "none: the function then receives the [B, 1, N, N] bool mask SDPA takes (it must apply it)"}});
    if (f.forward_error.empty() && !f.trains())
      c->push_back({fb.key + 0.5,
                    {0, "transformers", "from_pretrained(..., attn_implementation=\"" + fb.name + "\")  # for the roles that train",
                     "\"" + f.name + "\" " + (f.backward == "detached" ? "passes no gradient to q, k, v" : "has no backward") +
                         ": " + f.backward_error,
                     fb.text}});
  }
}

}  // namespace

std::vector<Fix> rank_fixes(const DiagnoseReport& r) {
  std::vector<Candidate> c;
  const FallbackCost fb = fallback_cost(r);
  const Fa2State fa2 = fa2_state(r);
  keep_fused_lines(r, fa2, &c);
  verl_lines(r, fb, &c);
  transformers_lines(r, fb, fa2, &c);
  registered_function_lines(r, fb, &c);
  // A release that predates the model type: nothing about attn_implementation helps until
  // transformers has it.
  for (const auto& h : r.hf)
    if (h.predicted.code == "hf.model.unknown_type") {
      const std::string since = hf_model_flags(r.model.model_type).since;
      c = {{0, {0, "pip", "pip install -U \"transformers>=" + since + "\"",
                "transformers " + r.env.version("transformers") + " does not know the model type " +
                    r.model.model_type + " (first in " + since + ")",
                "a newer transformers in every worker's environment (verl and vLLM pin their own ranges: "
                "check them)"}}};
      break;
    }
  std::stable_sort(c.begin(), c.end(), [](const Candidate& a, const Candidate& b) { return a.cost < b.cost; });
  std::vector<Fix> out;
  for (auto& x : c) {
    bool dup = false;
    for (const auto& f : out) dup = dup || f.line == x.f.line;
    if (dup) continue;
    x.f.rank = static_cast<int>(out.size()) + 1;
    out.push_back(x.f);
  }
  return out;
}

}  // namespace attnscope
