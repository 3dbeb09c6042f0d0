// Attention functions registered with AttentionInterface.register, as attnscope-env.py --import
// probed them: no backward is an error where verl trains (actor, critic) and a note where it only
// infers (ref, rollout); no mask function is a silent reason with its fix line.
#include "capture/diagnose/custom_attention.h"

#include "capture/diagnose/env.h"
#include "capture/diagnose/log_scan.h"
#include "capture/diagnose/verl.h"
#include "capture/diagnose/verl_config.h"
#include "diagnose_fixture.h"

namespace attnscope::test {
namespace {

PyEnv probed_env() {
  PyEnv e;
  EXPECT_EQ(load_env_file(fixture("env_h200_registered_attention.json"), &e), "");
  return e;
}

TEST(CustomAttention, TheEnvFileCarriesTheProbes) {
  PyEnv e = probed_env();
  ASSERT_EQ(e.attention_functions.size(), 3u);
  const PyAttentionFunction* f = e.attention_function("paged|triton_sink");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->backward, "error");
  EXPECT_FALSE(f->mask_function);
  EXPECT_FALSE(f->trains());
  EXPECT_TRUE(e.attention_function("trained_attn")->trains());
  PyEnv bad;
  EXPECT_EQ(parse_env_json(R"({"format": "attnscope-env", "attention_functions": {"functions": [{"name": "x", "mask_function": "no"}]}})", "e.json",
                           &bad),
            "e.json: attention_functions.functions[0].mask_function: expected true/false");
  EXPECT_EQ(parse_env_json(R"({"format": "attnscope-env", "attention_functions": {"functions": [{"module": "m"}]}})", "e.json", &bad),
            "e.json: attention_functions.functions[0].name: expected the registered name");
}

TEST(CustomAttention, NoBackwardIsAnErrorForTrainingAndANoteForInference) {
  PyEnv e = probed_env();
  const PyAttentionFunction& f = *e.attention_function("triton_sink");
  Verdict train, infer;
  add_custom_attention_reasons(&train, f, true, e);
  add_custom_attention_reasons(&infer, f, false, e);
  EXPECT_FALSE(train.supported);
  const Reason* r = find(train, "hf.custom.no_backward");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->severity, Severity::Error);
  EXPECT_NE(r->text.find("NotImplementedError: You must implement either the backward or vjp method"), std::string::npos);
  EXPECT_NE(r->source.find("transformers"), std::string::npos);
  EXPECT_NE(r->source.find("5.17.0"), std::string::npos) << r->source;  // keyed to the installed version
  EXPECT_NE(find(train, "torch.autograd.no_backward"), nullptr);
  EXPECT_TRUE(infer.supported);
  EXPECT_EQ(find(infer, "hf.custom.no_backward")->severity, Severity::Note);
  // No mask function: silent, with the fix line, in both.
  for (const Verdict* v : {&train, &infer}) {
    const Reason* m = find(*v, "hf.custom.no_mask");
    ASSERT_NE(m, nullptr);
    EXPECT_EQ(m->severity, Severity::Silent);
    EXPECT_NE(m->text.find("AttentionMaskInterface.register(\"triton_sink\", sdpa_mask)"), std::string::npos) << m->text;
  }
  // A detached output trains silently wrong: an error too; with a mask function, no mask reason.
  Verdict d;
  add_custom_attention_reasons(&d, *e.attention_function("detached_attn"), true, e);
  EXPECT_EQ(find(d, "hf.custom.detached")->severity, Severity::Error);
  EXPECT_EQ(find(d, "hf.custom.no_mask"), nullptr);
  Verdict ok;
  add_custom_attention_reasons(&ok, *e.attention_function("trained_attn"), true, e);
  EXPECT_TRUE(ok.reasons.empty());
}

TEST(CustomAttention, VerlRolesThatTrainFailAndInferenceRolesGetANote) {
  std::string y =
      "actor_rollout_ref:\n  model:\n    external_lib: my_attn\n    override_config:\n      attn_implementation: "
      "triton_sink\ncritic:\n  model:\n    external_lib: my_attn\n    override_config:\n      attn_implementation: "
      "triton_sink\nalgorithm:\n  adv_estimator: gae\n";
  VerlConfigPtr cfg;
  std::vector<Reason> refusals;
  ASSERT_EQ(parse_verl_yaml(y, "t.yaml", {}, &cfg, &refusals), "");
  ModelInfo m = model("llama-2-7b.json");
  VerlReport r = analyse_verl(*cfg, "t.yaml", {}, m, m.layers[0], gpu("H200"), probed_env());
  int checked = 0;
  for (const auto& ro : r.roles) {
    if (ro.attn_implementation != "triton_sink") continue;  // ref is judged even where this config leaves it off
    const Reason* x = find(ro.verdict, "hf.custom.no_backward");
    ASSERT_NE(x, nullptr) << ro.role;
    const bool trains = ro.role == "actor" || ro.role == "critic";
    EXPECT_EQ(x->severity, trains ? Severity::Error : Severity::Note) << ro.role;
    EXPECT_EQ(ro.verdict.supported, !trains) << ro.role;
    EXPECT_NE(find(ro.verdict, "hf.custom.no_mask"), nullptr) << ro.role;
    ++checked;
  }
  EXPECT_GE(checked, 3) << "actor, ref and critic at least";
}

TEST(CustomAttention, TheReportListsTheProbedNamesAndTheFixLines) {
  DiagnoseOptions o;
  o.gpu = "H200";
  o.local_gpu = false;
  o.config_file = hf_sample("llama-2-7b.json");
  o.env_file = fixture("env_h200_registered_attention.json");
  o.attn_implementation = "triton_sink";
  DiagnoseReport r;
  ASSERT_EQ(build_diagnose_report(o, &r), "");
  bool listed = false;
  for (const auto& h : r.hf)
    if (h.name == "triton_sink") {
      listed = true;
      EXPECT_NE(h.outcome.find("cannot train"), std::string::npos) << h.outcome;
      EXPECT_NE(h.outcome.find("attention_mask=None"), std::string::npos) << h.outcome;
    }
  EXPECT_TRUE(listed);
  ASSERT_TRUE(r.requested.has_value());
  EXPECT_NE(r.requested->kind.find("my_attn.triton_sink"), std::string::npos) << r.requested->kind;
  EXPECT_TRUE(r.requested->verdict.has("hf.custom.no_backward"));
  bool mask_fix = false, train_fix = false;
  for (const auto& f : r.fixes) {
    mask_fix |= f.line.find("AttentionMaskInterface.register(\"triton_sink\", sdpa_mask)") != std::string::npos;
    train_fix |= f.line.find("# for the roles that train") != std::string::npos;
  }
  EXPECT_TRUE(mask_fix);
  EXPECT_TRUE(train_fix);
}

TEST(CustomAttention, TheLogScannerExplainsTheMissingBackward) {
  std::vector<LogFinding> f;
  int lines = 0;
  std::string log = tmp_file("no_backward.log",
                             "step 0 loss 2.31\nTraceback (most recent call last):\n  File \"train.py\", line 9\n"
                             "NotImplementedError: You must implement either the backward or vjp method for your custom "
                             "autograd.Function to use it with backward mode AD.\n");
  ASSERT_EQ(load_log_file(log, &f, &lines), "");
  bool found = false;
  for (const auto& x : f) found |= x.code == "torch.autograd.no_backward";
  EXPECT_TRUE(found);
}

}  // namespace
}  // namespace attnscope::test
