// --verl-config: which attention each verl role really uses, in which dtype. Behaviour reproduced from
// verl/workers/fsdp_workers.py (ActorRolloutRefWorker, CriticWorker, RewardModelWorker) and
// verl/trainer/main_ppo.py; messages.cpp cites the sources.
#include "capture/diagnose/verl.h"

#include <algorithm>

#include "capture/diagnose/custom_attention.h"
#include "capture/diagnose/hf_rules.h"
#include "capture/diagnose/messages.h"

namespace attnscope {

// ---- analysis ------------------------------------------------------------------------------------

namespace {

std::string norm_dtype(const std::string& s, const std::string& dflt) {
  if (s.empty()) return dflt;
  auto d = parse_dtype(s);
  return d ? dtype_name(*d) : s;
}

bool truthy(const std::string& v) {
  std::string l;
  for (char c : v) l += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return l == "true" || l == "1" || l == "yes" || l == "on";
}

struct RoleKeys {
  const char* role;
  const char* override_key;  // where the attn override lives
  const char* fsdp;          // fsdp_config prefix
  const char* rmpad;         // use_remove_padding
  const char* load_default;  // from_pretrained dtype when model_dtype is unset
};

}  // namespace

VerlReport analyse_verl(const VerlConfig& cfg, const std::string& file, const std::vector<std::string>& overrides,
                        const ModelInfo& model, const LayerSpec& spec, const DeviceInfo& dev, const PyEnv& env) {
  VerlReport r;
  r.present = true;
  r.file = file;
  r.overrides = overrides;
  const std::string verlv = env.version("verl");
  const std::string tver = env.version("transformers");
  auto get = [&](const std::string& k, bool* found = nullptr) { return verl_get(cfg, k, found); };

  bool found = false;
  r.strategy = get("actor_rollout_ref.actor.strategy", &found);
  if (!found) {
    r.strategy = "fsdp";
    r.notes.push_back({Severity::Note, "verl.missing.strategy",
                       "actor_rollout_ref.actor.strategy is not set: verl's default fsdp assumed", "verl ppo_trainer.yaml"});
  }
  r.adv_estimator = get("algorithm.adv_estimator", &found);
  if (!found) {
    r.adv_estimator = "gae";
    r.notes.push_back({Severity::Note, "verl.missing.adv_estimator",
                       "algorithm.adv_estimator is not set: verl's default gae assumed (it trains a critic)",
                       "verl ppo_trainer.yaml"});
  }
  if (!verl_has(cfg, "actor_rollout_ref"))
    r.notes.push_back({Severity::Warning, "verl.missing.actor_rollout_ref",
                       "the config has no actor_rollout_ref section: is this a verl PPO trainer config?", "attnscope"});
  bool megatron = r.strategy == "megatron";

  // Which roles exist (verl/trainer/main_ppo.py): critic with GAE (or critic.enable), ref with a KL term,
  // reward model when reward_model.enable.
  std::string critic_enable = get("critic.enable", &found);
  bool use_critic = found ? truthy(critic_enable) : r.adv_estimator == "gae";
  bool kl_reward = truthy(get("algorithm.use_kl_in_reward"));
  bool kl_loss = truthy(get("actor_rollout_ref.actor.use_kl_loss"));
  bool use_ref = kl_reward || kl_loss;
  bool use_rm = truthy(get("reward_model.enable"));

  std::string actor_override = get("actor_rollout_ref.model.override_config.attn_implementation", &found);
  bool actor_overridden = found;
  std::string critic_override = get("critic.model.override_config.attn_implementation", &found);
  bool critic_overridden = found;
  std::string fallback = hf_model_flags(model.model_type).supports_sdpa ? "sdpa" : "eager";

  // Newer verl docs describe per-role keys; say that only those versions read them.
  for (const char* k : {"actor_rollout_ref.actor.attn_implementation", "actor_rollout_ref.ref.attn_implementation",
                        "critic.attn_implementation"})
    if (verl_has(cfg, k))
      r.notes.push_back({Severity::Warning, "verl.per_role_key",
                         std::string(k) + " is set: only verl releases with per-role attention settings (docs of "
                                          "2025-11) read it; verl 0.4-0.6 read model.override_config.attn_implementation",
                         "verl docs/advance/attention_implementation.rst (two revisions)"});

  auto make_role = [&](const std::string& role, const std::string& attn, const std::string& attn_source,
                       const std::string& fsdp_prefix, const std::string& load_default,
                       const std::string& rmpad_key) {
    VerlRole ro;
    ro.role = role;
    ro.engine = megatron ? "Megatron-Core" : "FSDP (HF transformers)";
    ro.attn_implementation = attn;
    ro.attn_source = attn_source;
    bool f = false;
    std::string md = get(fsdp_prefix + ".model_dtype", &f);
    ro.load_dtype = norm_dtype(md, load_default);
    ro.load_dtype_source = f ? fsdp_prefix + ".model_dtype" : "verl default for " + role;
    std::string pd = get(fsdp_prefix + ".mixed_precision.param_dtype", &f);
    ro.compute_dtype = norm_dtype(pd, "bf16");
    ro.compute_dtype_source =
        f ? fsdp_prefix + ".mixed_precision.param_dtype" : "verl default (FSDP MixedPrecision param_dtype bf16)";
    ro.remove_padding = truthy(get(rmpad_key));
    return ro;
  };

  auto judge = [&](VerlRole& ro, bool training) {
    LayerSpec s = spec;
    if (auto d = parse_dtype(ro.compute_dtype)) {
      bool model_softmax = s.softmax_dtype != DType::F32;
      s.dtype = *d;
      s.softmax_dtype = model_softmax ? *d : DType::F32;
    }
    if (megatron) {
      ro.verdict.add(Severity::Note, "verl.megatron",
                     "Megatron-Core builds its own attention (TransformerEngine): override_config.attn_implementation "
                     "does not apply",
                     "verl/workers/megatron_workers.py");
      return;
    }
    // verl loads the critic and the reward model as AutoModelForTokenClassification: that class
    // is the one transformers names in its messages (e.g. "Qwen2ForTokenClassification").
    ModelInfo as_loaded = model;
    if ((ro.role == "critic" || ro.role == "reward_model") && !as_loaded.hf_class.empty()) {
      auto at = as_loaded.hf_class.find("ForCausalLM");
      if (at != std::string::npos) as_loaded.hf_class.replace(at, 11, "ForTokenClassification");
    }
    ImplVerdict iv;
    static const std::vector<std::string> known = {"eager", "sdpa", "flash_attention_2", "flash_attention_3",
                                                   "flex_attention"};
    std::string base_name = ro.attn_implementation.rfind("paged|", 0) == 0 ? ro.attn_implementation.substr(6)
                                                                            : ro.attn_implementation;
    bool custom = std::find(known.begin(), known.end(), base_name) == known.end() &&
                  base_name.find('/') == std::string::npos;
    std::string ext = get(ro.role == "critic" ? "critic.model.external_lib" : "actor_rollout_ref.model.external_lib");
    const PyAttentionFunction* probed = custom ? env.attention_function(ro.attn_implementation) : nullptr;
    if (probed) {
      // The env probed the registered function: whether this role can train with it, and its mask.
      iv = custom_attention_verdict(*probed, training, env);
      if (ext.empty())
        iv.verdict.add(Severity::Warning, "verl.custom_no_external_lib",
                       "\"" + ro.attn_implementation + "\" is registered by " + probed->module +
                           " in the probed environment, but this config sets no " +
                           (ro.role == "critic" ? "critic" : "actor_rollout_ref") +
                           ".model.external_lib: verl's workers import it only through that key",
                       "verl/utils/import_utils.py import_external_libs");
    } else if (custom && !ext.empty()) {
      // A name registered by the user's module: transformers accepts it once the module ran
      // AttentionInterface.register; what it computes is not visible from here.
      iv.verdict.add(Severity::Note, "verl.custom_attention",
                     "\"" + ro.attn_implementation + "\" is not a built-in name; it works if " + ext +
                         " (external_lib, imported by each worker before from_pretrained) registers it with "
                         "AttentionInterface.register. attnscope cannot see what it computes: dump q/k/v and its "
                         "output and compare with `attnscope run --import-run NAME=out.safetensors`",
                     "verl/utils/import_utils.py import_external_libs; transformers AttentionInterface");
      if (model.sinks)
        iv.verdict.add(Severity::Warning, "verl.custom_sinks",
                       "the model has learned sinks: a custom attention function must take them from kwargs "
                       "(s_aux / module.sinks) or they are silently dropped",
                       "models/gpt_oss/modeling_gpt_oss.py (s_aux=self.sinks)");
    } else {
      iv = hf_verdict(ro.attn_implementation, as_loaded, s, dev, env, training);
    }
    // The load-time dtype is what transformers' dispatch check sees; compute runs in param_dtype.
    if (auto ld = parse_dtype(ro.load_dtype); ld && *ld == DType::F32 &&
                                              ro.attn_implementation.find("flash") != std::string::npos) {
      Verdict w;
      LayerSpec ls = s;
      ls.dtype = DType::F32;
      add_message(&w, "hf.fa2.dtype", tver,
                  {{"cls", as_loaded.hf_class.empty() ? "the model class" : as_loaded.hf_class},
                   {"dtype", "torch.float32"}});
      for (auto& x : w.reasons)
        ro.verdict.add(x.severity, x.code, "at load (weights in fp32): " + x.text, x.source);
    }
    if (ro.load_dtype != ro.compute_dtype)
      add_message(&ro.verdict, "verl.mixed_precision", verlv, {{"param", ro.compute_dtype}, {"load", ro.load_dtype}});
    for (const auto& x : iv.verdict.reasons) ro.verdict.add(x.severity, x.code, x.text, x.source);
    if (ro.remove_padding) {
      if (ro.attn_implementation.find("flash") != std::string::npos)
        add_message(&ro.verdict, "verl.rmpad", verlv);
      else {
        add_message(&ro.verdict, "verl.rmpad_sdpa_cross", tver, {{"impl", ro.attn_implementation}});
        add_message(&ro.verdict, "verl.rmpad_sdpa_mask", tver, {{"impl", ro.attn_implementation}});
      }
      if (!model.model_type.empty()) {
        static const char* kRmpad[] = {"llama", "mistral", "gemma", "qwen2"};
        bool listed = false;
        for (const char* t : kRmpad) listed = listed || model.model_type == t;
        if (!listed)
          add_message(&ro.verdict, "verl.rmpad_models", verlv,
                      {{"model", model.model_type}, {"supported", "dict_keys(['llama', 'mistral', 'gemma', 'qwen2'])"}});
      }
      const PyPackage* fa = env.pkg("flash_attn");
      if (env.present && (!fa || !fa->installed || !fa->import_error.empty()))
        add_message(&ro.verdict, "verl.rmpad_flash_attn_import", verlv);
    }
  };

  const std::string actor_src =
      actor_overridden ? "actor_rollout_ref.model.override_config.attn_implementation" : "verl default";
  const std::string actor_attn = actor_overridden ? actor_override : "flash_attention_2";

  // actor
  {
    VerlRole ro = make_role("actor", actor_attn, actor_src, "actor_rollout_ref.actor.fsdp_config", "fp32",
                            "actor_rollout_ref.model.use_remove_padding");
    judge(ro, true);
    if (!actor_overridden) add_message(&ro.verdict, "verl.default_fa2", verlv);
    r.roles.push_back(ro);
  }
  // rollout
  {
    std::string name = get("actor_rollout_ref.rollout.name", &found);
    if (!found) name = "vllm";
    VerlRole ro;
    ro.role = "rollout";
    std::string rdt = get("actor_rollout_ref.rollout.dtype", &found);
    ro.load_dtype = norm_dtype(rdt, "bf16");
    ro.load_dtype_source = found ? "actor_rollout_ref.rollout.dtype" : "verl default (bfloat16)";
    ro.compute_dtype = ro.load_dtype;
    ro.compute_dtype_source = ro.load_dtype_source;
    if (name == "hf") {
      ro.engine = "HF generate (FSDP model)";
      ro.attn_implementation = actor_attn;
      ro.attn_source = actor_src + " (shared with the actor)";
      ro.compute_dtype = r.roles[0].compute_dtype;
      ro.compute_dtype_source = "the actor's FSDP param_dtype";
      judge(ro, false);
    } else {
      ro.engine = name == "sglang" ? "SGLang" : (name == "vllm" ? "vLLM" : name);
      ro.attn_implementation = "";
      auto be = env.env_vars.find("VLLM_ATTENTION_BACKEND");
      ro.attn_source = be != env.env_vars.end() ? "VLLM_ATTENTION_BACKEND=" + be->second : "the engine's own choice";
      add_message(&ro.verdict, "verl.rollout_own_backend", verlv, {{"engine", ro.engine}});
      if (dev.is_gpu() && dev.cc_major < 8) {
        if (ro.engine == "vLLM") add_message(&ro.verdict, "vllm.fa2_turing", env.version("vllm"));
        if (ro.load_dtype == "bf16")
          add_message(&ro.verdict, "vllm.bf16_arch", env.version("vllm"),
                      {{"gpu", dev.name}, {"major", std::to_string(dev.cc_major)}, {"minor", std::to_string(dev.cc_minor)}});
      }
      if (model.sinks)
        ro.verdict.add(Severity::Note, "vllm.sinks",
                       "GPT-OSS sinks in the rollout are the engine's business: vLLM runs them on its FA3 fork "
                       "(Hopper), TRITON_ATTN or FlashInfer-TRTLLM (Blackwell); backends without sinks refuse rather "
                       "than drop them",
                       "vllm issues #22331, #40153; PRs #22313, #28660");
    }
    r.roles.push_back(ro);
  }
  // ref
  {
    VerlRole ro = make_role("ref", actor_attn, actor_src + (actor_overridden ? " (shared with the actor)" : ""),
                            "actor_rollout_ref.ref.fsdp_config", "bf16", "actor_rollout_ref.model.use_remove_padding");
    ro.enabled = use_ref;
    judge(ro, false);
    if (!use_ref)
      ro.verdict.add(Severity::Note, "verl.ref_off",
                     "no reference policy: algorithm.use_kl_in_reward and actor_rollout_ref.actor.use_kl_loss are off",
                     "verl/trainer/main_ppo.py");
    r.roles.push_back(ro);
  }
  // critic
  {
    std::string attn = critic_overridden ? critic_override : "flash_attention_2";
    std::string src = critic_overridden ? "critic.model.override_config.attn_implementation" : "verl default";
    VerlRole ro = make_role("critic", attn, src, "critic.model.fsdp_config", "fp32", "critic.model.use_remove_padding");
    ro.enabled = use_critic;
    judge(ro, true);
    if (!critic_overridden) {
      if (actor_overridden && actor_override != "flash_attention_2")
        add_message(&ro.verdict, "verl.critic_no_inherit", verlv);
      else
        add_message(&ro.verdict, "verl.default_fa2", verlv);
    }
    if (!use_critic)
      ro.verdict.add(Severity::Note, "verl.critic_off",
                     "no critic: algorithm.adv_estimator is " + r.adv_estimator + " (only gae trains a critic)",
                     "verl/trainer/main_ppo.py");
    r.roles.push_back(ro);
  }
  // reward model
  {
    VerlRole ro;
    ro.role = "reward_model";
    ro.enabled = use_rm;
    ro.engine = megatron ? "Megatron-Core" : "FSDP (HF transformers)";
    ro.attn_implementation = "flash_attention_2";
    ro.attn_source = "hard-coded in RewardModelWorker";
    ro.load_dtype = ro.compute_dtype = "bf16";
    ro.load_dtype_source = ro.compute_dtype_source = "hard-coded torch_dtype=torch.bfloat16";
    if (use_rm) {
      judge(ro, false);
      add_message(&ro.verdict, "verl.reward_hardcoded", verlv);
    } else {
      ro.verdict.add(Severity::Note, "verl.rm_off", "reward_model.enable is off: rewards come from a function",
                     "verl ppo_trainer.yaml");
    }
    r.roles.push_back(ro);
  }

  // Missing keys worth knowing about.
  if (!verl_has(cfg, "actor_rollout_ref.actor.fsdp_config.mixed_precision"))
    r.notes.push_back({Severity::Note, "verl.missing.mixed_precision",
                       "actor_rollout_ref.actor.fsdp_config.mixed_precision is not set: verl computes in bf16 "
                       "(param_dtype), reduces in fp32",
                       "verl/workers/fsdp_workers.py"});
  if (!verl_has(cfg, "actor_rollout_ref.model.path"))
    r.notes.push_back({Severity::Warning, "verl.missing.model_path",
                       "actor_rollout_ref.model.path is not set: pass --config with the model's config.json so the "
                       "layer shape is known",
                       "attnscope"});
  (void)fallback;
  return r;
}

}  // namespace attnscope
