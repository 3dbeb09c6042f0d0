// verl configs: what each role really asks transformers for, in which dtype, and the fix lines.
#include "tests/capture/diagnose/diagnose_fixture.h"

namespace attnscope::test {
namespace {

struct Analysed {
  VerlConfigPtr cfg;
  std::vector<Reason> refusals;
  VerlReport rep;
};

Analysed analyse(const std::string& yaml, const std::vector<std::string>& overrides = {},
              const std::string& gpu_name = "T4", const std::string& model_file = "llama-2-7b.json",
              const PyEnv& e = PyEnv{}) {
  Analysed s;
  std::string err = parse_verl_yaml(yaml, "test.yaml", overrides, &s.cfg, &s.refusals);
  EXPECT_EQ(err, "");
  if (!s.cfg) return s;
  ModelInfo m = model(model_file);
  s.rep = analyse_verl(*s.cfg, "test.yaml", overrides, m, m.layers[0], gpu(gpu_name), e);
  return s;
}

const VerlRole& role(const VerlReport& r, const std::string& name) {
  for (const auto& ro : r.roles)
    if (ro.role == name) return ro;
  static VerlRole none;
  ADD_FAILURE() << "no role " << name;
  return none;
}

std::string sample_yaml() {
  std::ifstream f(src("samples/verl/ppo_actor_override_only.yaml"));
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST(Verl, ActorOverrideDoesNotReachTheCritic) {
  Analysed s = analyse(sample_yaml());
  const VerlRole& actor = role(s.rep, "actor");
  EXPECT_EQ(actor.attn_implementation, "sdpa");
  EXPECT_EQ(actor.attn_source, "actor_rollout_ref.model.override_config.attn_implementation");
  EXPECT_TRUE(actor.verdict.supported);
  const VerlRole& ref = role(s.rep, "ref");
  EXPECT_EQ(ref.attn_implementation, "sdpa");
  const VerlRole& critic = role(s.rep, "critic");
  EXPECT_TRUE(critic.enabled);  // adv_estimator gae
  EXPECT_EQ(critic.attn_implementation, "flash_attention_2");
  EXPECT_EQ(critic.attn_source, "verl default");
  EXPECT_FALSE(critic.verdict.supported);
  EXPECT_TRUE(critic.verdict.has("verl.critic_no_inherit"));
  EXPECT_TRUE(critic.verdict.has("fa2.arch"));
  // verl loads the critic as AutoModelForTokenClassification: transformers names that class.
  EXPECT_TRUE(has_text(critic.verdict, "the current dype in LlamaForTokenClassification is torch.float32"));
  const Reason* r = find(critic.verdict, "verl.critic_no_inherit");
  ASSERT_NE(r, nullptr);
  EXPECT_NE(r->source.find("verl"), std::string::npos);
  // The rollout is vLLM: its own backend; bf16 on a T4 is refused by vLLM.
  const VerlRole& rollout = role(s.rep, "rollout");
  EXPECT_EQ(rollout.engine, "vLLM");
  EXPECT_TRUE(rollout.verdict.has("verl.rollout_own_backend"));
  EXPECT_TRUE(rollout.verdict.has("vllm.bf16_arch"));
}

TEST(Verl, MixedPrecisionDecidesTheComputeDtype) {
  // Loaded in fp32 (actor default), computed in bf16 (FSDP param_dtype default).
  Analysed s = analyse(sample_yaml(), {}, "A100");
  const VerlRole& critic = role(s.rep, "critic");
  EXPECT_EQ(critic.load_dtype, "fp32");
  EXPECT_EQ(critic.compute_dtype, "bf16");
  EXPECT_TRUE(critic.verdict.has("verl.mixed_precision"));
  EXPECT_TRUE(critic.verdict.has("hf.fa2.dtype"));    // the load-time warning only
  EXPECT_FALSE(critic.verdict.has("fa2.dtype"));      // the kernel sees bf16
  EXPECT_TRUE(critic.verdict.supported);              // FA2 runs on an A100 in bf16
  // param_dtype fp32 through a Hydra override: now the kernel sees fp32 and refuses.
  Analysed t = analyse(sample_yaml(), {"+critic.model.fsdp_config.mixed_precision.param_dtype=fp32"}, "A100");
  const VerlRole& c2 = role(t.rep, "critic");
  EXPECT_EQ(c2.compute_dtype, "fp32");
  EXPECT_EQ(c2.compute_dtype_source, "critic.model.fsdp_config.mixed_precision.param_dtype");
  EXPECT_TRUE(c2.verdict.has("fa2.dtype"));
  EXPECT_FALSE(c2.verdict.supported);
}

TEST(Verl, HydraOverridesApplyAndRefuseLikeHydra) {
  // + adds a key that is not there: the critic override fixes the critic.
  Analysed s = analyse(sample_yaml(), {"+critic.model.override_config.attn_implementation=sdpa"});
  EXPECT_TRUE(s.refusals.empty());
  EXPECT_EQ(role(s.rep, "critic").attn_implementation, "sdpa");
  EXPECT_TRUE(role(s.rep, "critic").verdict.supported);
  // A plain override of a missing key is refused, with Hydra's wording.
  Analysed t = analyse(sample_yaml(), {"critic.model.override_config.attn_implementation=sdpa"});
  ASSERT_EQ(t.refusals.size(), 1u);
  EXPECT_EQ(t.refusals[0].code, "verl.hydra_missing_key");
  EXPECT_NE(t.refusals[0].text.find("Could not override 'critic.model.override_config.attn_implementation'"),
            std::string::npos);
  EXPECT_NE(t.refusals[0].text.find("+critic.model.override_config.attn_implementation=sdpa"), std::string::npos);
  EXPECT_EQ(role(t.rep, "critic").attn_implementation, "flash_attention_2");
  // + on a key the YAML already has is refused too; a plain override changes it.
  Analysed u = analyse(sample_yaml(), {"+actor_rollout_ref.model.override_config.attn_implementation=eager"});
  ASSERT_EQ(u.refusals.size(), 1u);
  EXPECT_EQ(u.refusals[0].code, "verl.hydra_exists");
  Analysed w = analyse(sample_yaml(), {"actor_rollout_ref.model.override_config.attn_implementation=eager"});
  EXPECT_TRUE(w.refusals.empty());
  EXPECT_EQ(role(w.rep, "actor").attn_implementation, "eager");
  // ++ forces, ~ deletes.
  Analysed x = analyse(sample_yaml(), {"++critic.model.override_config.attn_implementation=eager",
                                    "~actor_rollout_ref.model.override_config.attn_implementation"});
  EXPECT_TRUE(x.refusals.empty());
  EXPECT_EQ(role(x.rep, "critic").attn_implementation, "eager");
  EXPECT_EQ(role(x.rep, "actor").attn_implementation, "flash_attention_2");
  EXPECT_EQ(role(x.rep, "actor").attn_source, "verl default");
}

TEST(Verl, MissingKeysUseVerlDefaultsAndSaySo) {
  Analysed s = analyse("trainer:\n  total_epochs: 1\n");
  EXPECT_EQ(s.rep.strategy, "fsdp");
  EXPECT_EQ(s.rep.adv_estimator, "gae");
  const VerlRole& actor = role(s.rep, "actor");
  EXPECT_EQ(actor.attn_implementation, "flash_attention_2");
  EXPECT_TRUE(actor.verdict.has("verl.default_fa2"));
  EXPECT_EQ(actor.load_dtype, "fp32");
  EXPECT_EQ(actor.compute_dtype, "bf16");
  bool strategy_note = false, mp_note = false, section = false;
  for (const auto& n : s.rep.notes) {
    strategy_note = strategy_note || n.code == "verl.missing.strategy";
    mp_note = mp_note || n.code == "verl.missing.mixed_precision";
    section = section || n.code == "verl.missing.actor_rollout_ref";
  }
  EXPECT_TRUE(strategy_note);
  EXPECT_TRUE(mp_note);
  EXPECT_TRUE(section);
}

TEST(Verl, GrpoHasNoCriticAndTheRewardModelIsHardCoded) {
  Analysed s = analyse("algorithm:\n  adv_estimator: grpo\nreward_model:\n  enable: true\n");
  EXPECT_FALSE(role(s.rep, "critic").enabled);
  const VerlRole& rm = role(s.rep, "reward_model");
  EXPECT_TRUE(rm.enabled);
  EXPECT_EQ(rm.attn_implementation, "flash_attention_2");
  EXPECT_TRUE(rm.verdict.has("verl.reward_hardcoded"));
  EXPECT_FALSE(rm.verdict.supported);  // on a T4
}

TEST(Verl, RemovePaddingDependsOnTheImplementationAndVersion) {
  std::string y =
      "actor_rollout_ref:\n  model:\n    use_remove_padding: true\n    override_config:\n      attn_implementation: sdpa\n";
  Analysed old = analyse(y, {}, "A100", "llama-2-7b.json", env("4.51.3", "2.7.4"));
  EXPECT_TRUE(role(old.rep, "actor").remove_padding);
  EXPECT_TRUE(role(old.rep, "actor").verdict.has("verl.rmpad_sdpa_cross"));
  const Reason* r = find(role(old.rep, "actor").verdict, "verl.rmpad_sdpa_cross");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->severity, Severity::Silent);
  Analysed neu = analyse(y, {}, "A100", "llama-2-7b.json", env("4.57.1", "2.8.3"));
  EXPECT_FALSE(role(neu.rep, "actor").verdict.has("verl.rmpad_sdpa_cross"));
  EXPECT_TRUE(role(neu.rep, "actor").verdict.has("verl.rmpad_sdpa_mask"));
  std::string f = "actor_rollout_ref:\n  model:\n    use_remove_padding: true\n";
  Analysed fa = analyse(f, {}, "A100", "llama-2-7b.json", env("4.57.1", "2.8.3"));
  EXPECT_TRUE(role(fa.rep, "actor").verdict.has("verl.rmpad"));
  // GPT-OSS is not in the old rmpad model list.
  Analysed g = analyse(f, {}, "H100", "gpt-oss-20b.json", PyEnv{});
  EXPECT_TRUE(role(g.rep, "actor").verdict.has("verl.rmpad_models"));
}

TEST(Verl, InterpolationsResolve) {
  std::string y =
      "base: sdpa\nactor_rollout_ref:\n  model:\n    override_config:\n      attn_implementation: ${base}\n"
      "critic:\n  model:\n    override_config:\n      attn_implementation: ${oc.select:nowhere.key,eager}\n";
  Analysed s = analyse(y);
  EXPECT_EQ(role(s.rep, "actor").attn_implementation, "sdpa");
  EXPECT_EQ(role(s.rep, "critic").attn_implementation, "eager");
  EXPECT_EQ(verl_get(*s.cfg, "actor_rollout_ref.model.override_config.attn_implementation"), "sdpa");
}

TEST(Verl, MegatronDoesNotUseHfAttention) {
  Analysed s = analyse("actor_rollout_ref:\n  actor:\n    strategy: megatron\n");
  EXPECT_TRUE(role(s.rep, "actor").verdict.has("verl.megatron"));
}

TEST(Verl, FixLinesForTheDoneCriterion) {
  DiagnoseReport r;
  ASSERT_EQ(build_diagnose_report(t4_llama_fp32_verl_options(), &r), "");
  std::vector<std::string> lines;
  for (const auto& f : r.fixes) lines.push_back(f.line);
  auto has = [&](const std::string& l) { return std::find(lines.begin(), lines.end(), l) != lines.end(); };
  EXPECT_TRUE(has("+critic.model.override_config.attn_implementation=sdpa"));
  EXPECT_TRUE(has("from_pretrained(..., attn_implementation=\"sdpa\")"));
  // The actor already uses sdpa: no actor line is needed.
  EXPECT_FALSE(has("+actor_rollout_ref.model.override_config.attn_implementation=sdpa"));
  // Ranks are 1..n in order.
  for (size_t i = 0; i < r.fixes.size(); ++i) EXPECT_EQ(r.fixes[i].rank, static_cast<int>(i) + 1);
  // Without the actor override both lines are printed.
  DiagnoseOptions o2 = t4_llama_fp32_verl_options();
  o2.verl_overrides = {"~actor_rollout_ref.model.override_config.attn_implementation"};
  DiagnoseReport r2;
  ASSERT_EQ(build_diagnose_report(o2, &r2), "");
  std::vector<std::string> l2;
  for (const auto& f : r2.fixes) l2.push_back(f.line);
  EXPECT_NE(std::find(l2.begin(), l2.end(), "+actor_rollout_ref.model.override_config.attn_implementation=sdpa"),
            l2.end());
  EXPECT_NE(std::find(l2.begin(), l2.end(), "+critic.model.override_config.attn_implementation=sdpa"), l2.end());
}

}  // namespace
}  // namespace attnscope::test

namespace attnscope::test {
namespace {

TEST(Verl, CustomNamesNeedExternalLibAndPathsAreRefused) {
  // The seed's mistake: a file path as attn_implementation.
  std::string y =
      "actor_rollout_ref:\n  model:\n    override_config:\n      attn_implementation: "
      "/home/u/triton_attention_sink_hf/flash_attention_triton_sink.py\n";
  VerlConfigPtr cfg;
  std::vector<Reason> refusals;
  ASSERT_EQ(parse_verl_yaml(y, "t.yaml", {}, &cfg, &refusals), "");
  ModelInfo m = model("gpt-oss-20b.json");
  VerlReport r = analyse_verl(*cfg, "t.yaml", {}, m, m.layers[0], gpu("H100"), PyEnv{});
  const VerlRole* actor = nullptr;
  for (const auto& ro : r.roles)
    if (ro.role == "actor") actor = &ro;
  ASSERT_NE(actor, nullptr);
  EXPECT_FALSE(actor->verdict.supported);
  EXPECT_TRUE(actor->verdict.has("hf.attn.path"));
  EXPECT_TRUE(has_text(actor->verdict, "actor_rollout_ref.model.external_lib"));
  EXPECT_TRUE(actor->verdict.has("seed.sinks_none"));
  // A registered name with external_lib: accepted, with what attnscope cannot see said plainly.
  std::string z =
      "actor_rollout_ref:\n  model:\n    external_lib: my_attn\n    override_config:\n      attn_implementation: "
      "triton_sink\n";
  ASSERT_EQ(parse_verl_yaml(z, "t.yaml", {}, &cfg, &refusals), "");
  r = analyse_verl(*cfg, "t.yaml", {}, m, m.layers[0], gpu("H100"), PyEnv{});
  for (const auto& ro : r.roles)
    if (ro.role == "actor") {
      EXPECT_TRUE(ro.verdict.supported);
      EXPECT_TRUE(ro.verdict.has("verl.custom_attention"));
      EXPECT_TRUE(ro.verdict.has("verl.custom_sinks"));
    }
}

}  // namespace
}  // namespace attnscope::test
