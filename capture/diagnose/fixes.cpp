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


std::vector<Fix> rank_fixes(const DiagnoseReport& r) {
  struct Cand {
    double cost;
    Fix f;
  };
  std::vector<Cand> c;
  const std::string fb = fallback_name(r.model, r.spec);
  const ImplVerdict* fa2 = nullptr;
  const ImplVerdict* fbv = nullptr;
  for (const auto& h : r.hf) {
    if (h.name == "flash_attention_2") fa2 = &h;
    if (h.name == fb) fbv = &h;
  }
  const LayerSpec& s = r.spec;

  // What the fallback costs, in words and as an order key.
  double fb_cost = 4;
  std::string fb_cost_text;
  if (fb == "sdpa") {
    std::string be = fbv ? fbv->sdpa_backend : "";
    if (be == "flash") fb_cost = 1;
    else if (be == "efficient" || be == "cudnn") fb_cost = 2;
    else fb_cost = 3;
    fb_cost_text = "SDPA runs its " + (be.empty() ? std::string("chosen") : be) + " backend here";
    if (be == "math")
      fb_cost_text += ": S and P materialised (" + format_bytes(model_bytes("sdpa:math", s)) + " per layer at this shape)";
    else
      fb_cost_text += ": O(N) extra memory like FA2, typically 1.2-2x slower than FA2 where FA2 runs; same result "
                      "within dtype rounding";
  } else {
    fb_cost_text = "eager materialises S and P: " + format_bytes(model_bytes("eager", s)) +
                   " per layer at this shape, quadratic in the sequence length";
    if (r.model.sinks) fb_cost_text += "; the only HF path that honours GPT-OSS's sinks on every GPU";
    else if (s.softcap > 0) fb_cost_text += "; applies the softcap, which sdpa drops";
  }

  bool fa2_broken = fa2 && !fa2->verdict.supported;
  bool fa2_silent = false;
  if (fa2)
    for (const auto& x : fa2->verdict.reasons) fa2_silent = fa2_silent || x.severity == Severity::Silent;
  bool arch_ok = r.device.is_gpu() && r.device.cc_major >= 8;
  bool only_dtype = fa2_broken && arch_ok;
  if (fa2)
    for (const auto& x : fa2->verdict.reasons)
      if (x.severity == Severity::Error && x.code != "fa2.dtype") only_dtype = false;

  // 0: keep FA2 where only the dtype stands in the way.
  if (only_dtype)
    c.push_back({0.1,
                 {0, "transformers", "from_pretrained(..., dtype=torch.bfloat16, attn_implementation=\"flash_attention_2\")",
                  "the GPU runs FA2; only the fp32 dtype is refused", "none: keeps FlashAttention-2 (bf16 rounding)"}});
  // 0: package problems on a GPU that runs FA2.
  if (fa2 && arch_ok) {
    for (const auto& x : fa2->verdict.reasons) {
      if (x.code == "fa.undefined_symbol" || x.code == "fa.import_error")
        c.push_back({0.2,
                     {0, "pip", "pip install --force-reinstall --no-build-isolation flash-attn",
                      "the installed flash_attn binary does not match torch (" + x.text.substr(0, 120) + ")",
                      "a rebuild (minutes to an hour); keeps FA2"}});
      if (x.code == "hf.fa2.not_installed" || x.code == "hf.fa2.too_old")
        c.push_back({0.3,
                     {0, "pip", "pip install kernels   # transformers >= 4.56 then loads kernels-community/flash-attn2",
                      "flash_attn is missing or too old; the hub build needs no compiler",
                      "a download; keeps FA2 (hub build)"}});
    }
  }
  // GPT-OSS on Hopper, bf16, inference: the sink-capable hub kernel.
  // Inference only: its backward does not support sinks, so a verl (training) report skips it.
  if (r.model.sinks && !r.verl.present && r.device.is_gpu() && r.device.sm() == 90 && s.dtype == DType::BF16 &&
      s.heads_q <= 64)
    c.push_back({0.5,
                 {0, "transformers", "from_pretrained(..., attn_implementation=\"kernels-community/vllm-flash-attn3\")",
                  "sink-capable FA3 build for Hopper + bf16 (its backward does not support sinks: train with eager)",
                  "pip install kernels; inference only"}});

  // verl lines, per failing role.
  if (r.verl.present) {
    bool actor_bad = false, critic_bad = false, rollout_bf16 = false, rm_bad = false;
    std::string actor_src, critic_src;
    for (const auto& ro : r.verl.roles) {
      bool bad = ro.enabled && (!ro.verdict.supported || [&] {
                   for (const auto& x : ro.verdict.reasons)
                     if (x.severity == Severity::Silent) return true;
                   return false;
                 }());
      bool hf_attn = !ro.attn_implementation.empty() && ro.attn_implementation != fb;
      if ((ro.role == "actor" || ro.role == "ref") && bad && hf_attn) {
        actor_bad = true;
        actor_src = ro.attn_source;
      }
      if (ro.role == "critic" && bad && hf_attn) {
        critic_bad = true;
        critic_src = ro.attn_source;
      }
      if (ro.role == "rollout" && ro.verdict.has("vllm.bf16_arch")) rollout_bf16 = true;
      if (ro.role == "reward_model" && bad) rm_bad = true;
    }
    // The fallback's cost inside verl: attention computes in the roles' FSDP param_dtype.
    std::string role_cost = fb_cost_text;
    double role_cost_key = fb_cost;
    if (fb == "sdpa") {
      for (const auto& ro : r.verl.roles)
        if (ro.role == "critic" || ro.role == "actor") {
          LayerSpec cs = s;
          if (auto d = parse_dtype(ro.compute_dtype)) cs.dtype = *d;
          ImplVerdict sv = hf_verdict("sdpa", r.model, cs, r.device, r.env, true);
          if (sv.sdpa_backend == "math") {
            role_cost_key = 3;
            role_cost = "SDPA in " + ro.compute_dtype + " on this GPU runs the math backend: S and P materialised (" +
                        format_bytes(model_bytes("sdpa:math", cs)) +
                        " per layer at this shape); still the cheapest path that runs here (on pre-Ampere GPUs "
                        "fp16 compute would let SDPA use its memory-efficient kernel, at fp16's overflow risk)";
          } else if (!sv.sdpa_backend.empty()) {
            role_cost = "SDPA in " + ro.compute_dtype + " runs its " + sv.sdpa_backend +
                        " backend here: O(N) extra memory like FA2, typically 1.2-2x slower than FA2 where FA2 runs";
          }
          break;
        }
    }
    auto line = [&](const std::string& key, const std::string& src) {
      // `+key` appends; Hydra refuses it when the key is already in the YAML, so say key=value then.
      bool in_yaml = src.find(key) != std::string::npos;
      return (in_yaml ? "" : "+") + key + "=" + fb;
    };
    if (actor_bad)
      c.push_back({role_cost_key - 0.02,
                   {0, "verl", line("actor_rollout_ref.model.override_config.attn_implementation", actor_src),
                    "actor, ref (and an HF rollout) load with " + std::string(actor_src == "verl default"
                                                                                  ? "verl's default flash_attention_2"
                                                                                  : "the override that fails"),
                    role_cost}});
    if (critic_bad)
      c.push_back({role_cost_key - 0.01,
                   {0, "verl", line("critic.model.override_config.attn_implementation", critic_src),
                    "the critic reads only critic.model.override_config: it still asks for flash_attention_2",
                    role_cost}});
    if (rollout_bf16)
      c.push_back({0.4,
                   {0, "verl", "actor_rollout_ref.rollout.dtype=float16",
                    "the rollout engine refuses bf16 on GPUs before sm80", "fp16 range (overflow risk in long rollouts)"}});
    if (rm_bad)
      c.push_back({5,
                   {0, "verl", "reward_model.enable=False   # or patch RewardModelWorker's attn_implementation",
                    "verl hard-codes flash_attention_2 for the reward model; no config key changes it",
                    "a function reward instead of a model, or a code change"}});
  }
  bool sdpa_silent = false;
  for (const auto& h : r.hf)
    if (h.name == "sdpa")
      for (const auto& x : h.verdict.reasons)
        sdpa_silent = sdpa_silent || (x.severity == Severity::Silent && x.code != "hf.sdpa.default_falls_back");
  if (sdpa_silent && fb == "eager" && !fa2_broken && !fa2_silent && fa2)
    c.push_back({1.5, {0, "transformers", "from_pretrained(..., attn_implementation=\"flash_attention_2\")",
                       "sdpa (transformers' default) drops the softcap silently; FA2 applies it (flash-attn >= 2.6)",
                       "none beyond installing flash-attn 2.6+; keeps a fused kernel"}});
  // The plain transformers line.
  if (fa2_broken || fa2_silent || sdpa_silent || r.verl.present)
    c.push_back({fb_cost, {0, "transformers", "from_pretrained(..., attn_implementation=\"" + fb + "\")",
                           sdpa_silent && !fa2_broken && !fa2_silent
                               ? "transformers' default sdpa changes the result silently here"
                               : (fa2_silent && !fa2_broken ? "flash_attention_2 changes the result silently here"
                                                            : "flash_attention_2 cannot run here"),
                           fb_cost_text}});
  if (fb == "sdpa" && (fa2_broken || fa2_silent))
    c.push_back({4.5, {0, "transformers", "from_pretrained(..., attn_implementation=\"eager\")",
                       "the reference path: every feature, no fused kernel",
                       "materialises S and P: " + format_bytes(model_bytes("eager", s)) + " per layer at this shape"}});

  // Registered functions the env probed: the mask function they lack (one line, no cost), and a
  // name that trains where theirs cannot.
  for (const auto& f : r.env.attention_functions) {
    if (!f.mask_function && f.forward_error.empty())
      c.push_back({0.05,
                   {0, "transformers",
                    "from transformers.masking_utils import AttentionMaskInterface, sdpa_mask; "
                    "AttentionMaskInterface.register(\"" + f.name + "\", sdpa_mask)",
                    "\"" + f.name + "\" receives attention_mask=None: padded batches are attended as if unpadded",
                    "none: the function then receives the [B, 1, N, N] bool mask SDPA takes (it must apply it)"}});
    if (f.forward_error.empty() && !f.trains())
      c.push_back({fb_cost + 0.5,
                   {0, "transformers", "from_pretrained(..., attn_implementation=\"" + fb + "\")  # for the roles that train",
                    "\"" + f.name + "\" " + (f.backward == "detached" ? "passes no gradient to q, k, v" : "has no backward") +
                        ": " + f.backward_error,
                    fb_cost_text}});
  }

  // A release that predates the model type: nothing about attn_implementation helps until transformers has it.
  for (const auto& h : r.hf)
    if (h.predicted.code == "hf.model.unknown_type") {
      std::string since = hf_model_flags(r.model.model_type).since;
      c.clear();
      c.push_back({0, {0, "pip", "pip install -U \"transformers>=" + since + "\"",
                       "transformers " + r.env.version("transformers") + " does not know the model type " +
                           r.model.model_type + " (first in " + since + ")",
                       "a newer transformers in every worker's environment (verl and vLLM pin their own ranges: "
                       "check them)"}});
      break;
    }
  std::stable_sort(c.begin(), c.end(), [](const Cand& a, const Cand& b) { return a.cost < b.cost; });
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
