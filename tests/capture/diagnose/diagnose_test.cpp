// Whole reports: the done criteria (T4 + Llama fp32 + verl actor-only override; GPT-OSS sinks per
// HF name), --env, --attn-implementation strings, and the JSON rendering.
#include <nlohmann/json.hpp>

#include "capture/diagnose/render.h"
#include "tests/capture/diagnose/diagnose_fixture.h"

namespace attnscope::test {
namespace {

TEST(Report, DoneCriterionT4LlamaFp32VerlActorOnly) {
  DiagnoseReport r = t4_llama_fp32_verl();
  const ImplVerdict* fa2 = nullptr;
  for (const auto& h : r.hf)
    if (h.name == "flash_attention_2") fa2 = &h;
  ASSERT_NE(fa2, nullptr);
  EXPECT_FALSE(fa2->verdict.supported);
  EXPECT_TRUE(fa2->verdict.has("fa2.arch"));   // Ampere or newer
  EXPECT_TRUE(fa2->verdict.has("fa2.dtype"));  // fp16/bf16 only
  std::string text = render_diagnose_text(r);
  EXPECT_NE(text.find("FlashAttention only supports Ampere GPUs or newer."), std::string::npos);
  EXPECT_NE(text.find("FlashAttention only support fp16 and bf16 data type"), std::string::npos);
  EXPECT_NE(text.find("the critic still asks for flash_attention_2"), std::string::npos) << text;
  EXPECT_NE(text.find("+critic.model.override_config.attn_implementation=sdpa"), std::string::npos);
  EXPECT_NE(text.find("from_pretrained(..., attn_implementation=\"sdpa\")"), std::string::npos);
  // fp32 SDPA on a T4 is the math backend: what the training roles pay is its backward too.
  EXPECT_NE(text.find("runs the math backend"), std::string::npos) << text;
  EXPECT_NE(text.find("; its backward, which the actor runs, holds "), std::string::npos) << text;
  // Every reason is tagged with a severity and names a source.
  for (const auto& h : r.hf)
    for (const auto& x : h.verdict.reasons) EXPECT_FALSE(x.source.empty()) << h.name << " " << x.code;
  // Attention memory at full context (4096) for eager vs fused.
  ASSERT_EQ(r.memory.size(), 3u);
  EXPECT_EQ(r.memory[0].seq, 4096);
  EXPECT_GT(r.memory[0].backward_bytes, 50 * r.memory[2].backward_bytes);
  EXPECT_EQ(r.memory[0].layers, 32);
}

TEST(Report, GptOssSaysWhatEachHfNameDoesWithTheSinks) {
  DiagnoseOptions o;
  o.gpu = "H100";
  o.local_gpu = false;
  o.config_file = hf_sample("gpt-oss-20b.json");
  DiagnoseReport r;
  ASSERT_EQ(build_diagnose_report(o, &r), "");
  ASSERT_TRUE(r.model.sinks);
  std::map<std::string, const ImplVerdict*> hf;
  for (const auto& h : r.hf) hf[h.name] = &h;
  ASSERT_TRUE(hf.count("eager") && hf.count("sdpa") && hf.count("flash_attention_2") && hf.count("flash_attention_3"));
  EXPECT_TRUE(hf["eager"]->verdict.supported);
  EXPECT_TRUE(hf["eager"]->verdict.has("hf.gptoss.eager"));
  EXPECT_FALSE(hf["sdpa"]->verdict.supported);
  EXPECT_TRUE(hf["sdpa"]->verdict.has("hf.gptoss.no_sdpa"));
  // Version unknown: all three eras, each tagged with its transformers range.
  const Verdict& fa2 = hf["flash_attention_2"]->verdict;
  const Reason* dropped = find(fa2, "hf.gptoss.fa_sinks_dropped");
  const Reason* refused = find(fa2, "hf.gptoss.fa_refused");
  const Reason* redirect = find(fa2, "hf.gptoss.fa_redirect");
  ASSERT_TRUE(dropped && refused && redirect);
  EXPECT_EQ(dropped->severity, Severity::Silent);
  EXPECT_NE(dropped->source.find("<5.0"), std::string::npos);
  EXPECT_EQ(refused->severity, Severity::Error);
  EXPECT_NE(redirect->source.find(">=5.3"), std::string::npos);
  ASSERT_TRUE(hf.count("kernels-community/vllm-flash-attn3"));
  EXPECT_TRUE(hf["kernels-community/vllm-flash-attn3"]->verdict.has("hub.vllm_fa3.sinks"));
  // The seed wrapper's quirks are listed for a sink model.
  ASSERT_TRUE(hf.count("seed triton sink wrapper"));
  EXPECT_TRUE(hf["seed triton sink wrapper"]->verdict.has("seed.sinks_none"));
  // Both layer types are judged (sliding and full).
  EXPECT_EQ(r.model.layer_types.size(), 2u);
  std::string text = render_diagnose_text(r);
  EXPECT_NE(text.find("sinks (gpt_oss):"), std::string::npos);
  // On Hopper with bf16 the sink-capable hub kernel is offered.
  bool offered = false;
  for (const auto& f : r.fixes) offered = offered || f.line.find("kernels-community/vllm-flash-attn3") != std::string::npos;
  EXPECT_TRUE(offered);
  // The fallback for GPT-OSS is eager (no SDPA support).
  bool eager_fix = false, sdpa_fix = false;
  for (const auto& f : r.fixes) {
    eager_fix = eager_fix || f.line == "from_pretrained(..., attn_implementation=\"eager\")";
    sdpa_fix = sdpa_fix || f.line == "from_pretrained(..., attn_implementation=\"sdpa\")";
  }
  EXPECT_TRUE(eager_fix);
  EXPECT_FALSE(sdpa_fix);
}

TEST(Report, EnvFileNamesTheGpuAndTheUndefinedSymbol) {
  DiagnoseOptions o;
  o.local_gpu = false;
  o.env_file = fixture("env_t4_undefined_symbol.json");
  o.config_file = hf_sample("llama-2-7b.json");
  DiagnoseReport r;
  ASSERT_EQ(build_diagnose_report(o, &r), "");
  EXPECT_TRUE(r.env.present);
  EXPECT_EQ(r.env.version("transformers"), "4.51.3");
  EXPECT_EQ(r.device.name, "Tesla T4");
  EXPECT_EQ(r.device.sm(), 75);
  EXPECT_EQ(r.device.driver, "550.54.15");
  const ImplVerdict* fa2 = nullptr;
  for (const auto& h : r.hf)
    if (h.name == "flash_attention_2") fa2 = &h;
  ASSERT_NE(fa2, nullptr);
  const Reason* u = find(fa2->verdict, "fa.undefined_symbol");
  ASSERT_NE(u, nullptr);
  EXPECT_NE(u->text.find("torch 2.6.0+cu124"), std::string::npos);
  EXPECT_NE(u->text.find("_ZN3c105Error"), std::string::npos);
  // The dtype warning is the 4.51 wording ("Flash Attention 2.0 ... `torch_dtype`").
  DiagnoseOptions o2 = o;
  o2.overrides.dtype = "fp32";
  DiagnoseReport r2;
  ASSERT_EQ(build_diagnose_report(o2, &r2), "");
  for (const auto& h : r2.hf)
    if (h.name == "flash_attention_2") {
      const Reason* d = find(h.verdict, "hf.fa2.dtype");
      ASSERT_NE(d, nullptr);
      EXPECT_NE(d->text.find("Flash Attention 2.0 only supports"), std::string::npos);
      EXPECT_NE(d->source.find("[installed 4.51.3]"), std::string::npos);
    }
  // --gpu that differs from the env's GPU is noted.
  DiagnoseOptions o3 = o;
  o3.gpu = "A100";
  DiagnoseReport r3;
  ASSERT_EQ(build_diagnose_report(o3, &r3), "");
  ASSERT_FALSE(r3.device_notes.empty());
  EXPECT_EQ(r3.device_notes[0].code, "device.env_differs");
}

TEST(Report, AttnImplementationStrings) {
  ModelInfo m = model("gpt-oss-20b.json");
  DeviceInfo h100 = gpu("H100");
  // A filesystem path: refused, with the working recipe.
  AttnImplCheck p = check_attn_implementation("/home/u/triton_attention_sink_hf/flash_attention_triton_sink.py", m,
                                              m.layers[0], h100, PyEnv{});
  EXPECT_EQ(p.kind, "path");
  EXPECT_FALSE(p.verdict.supported);
  EXPECT_TRUE(p.verdict.has("hf.attn.path"));
  EXPECT_TRUE(has_text(p.verdict, "AttentionInterface.register"));
  EXPECT_TRUE(has_text(p.verdict, "org/repo[@rev][:func]"));
  EXPECT_TRUE(p.verdict.has("seed.sinks_none"));  // the seed's kernel file
  // A relative path with one slash looks like a hub repo: said so.
  AttnImplCheck q = check_attn_implementation("kernels/my_attention.py", m, m.layers[0], h100, PyEnv{});
  EXPECT_EQ(q.kind, "path");
  EXPECT_TRUE(has_text(q.verdict, "matches the hub pattern"));
  // Unknown name: the accepted ones are listed (GPT-OSS: no sdpa in transformers' list).
  AttnImplCheck u = check_attn_implementation("flash_attn2", m, m.layers[0], h100, PyEnv{});
  EXPECT_EQ(u.kind, "unknown");
  const Reason* un = find(u.verdict, "hf.attn.unknown");
  ASSERT_NE(un, nullptr);
  EXPECT_NE(un->text.find("Specified `attn_implementation=\"flash_attn2\"` is not supported."), std::string::npos);
  EXPECT_EQ(un->text.find("attn_implementation=sdpa"), std::string::npos);
  EXPECT_TRUE(has_text(u.verdict, "accepted names: eager, sdpa"));
  // A hub kernel name and a registered one.
  AttnImplCheck h = check_attn_implementation("kernels-community/vllm-flash-attn3", m, m.layers[0], h100, PyEnv{});
  EXPECT_EQ(h.kind, "hub-kernel");
  EXPECT_TRUE(h.verdict.supported);
  AttnImplCheck e = check_attn_implementation("eager", m, m.layers[0], h100, PyEnv{});
  EXPECT_EQ(e.kind, "registered");
  EXPECT_TRUE(e.verdict.supported);
  // Every registered name resolves without looping back into the string check.
  for (const char* n : {"eager", "sdpa", "flash_attention_2", "flash_attention_3", "flex_attention",
                        "paged|sdpa", "paged|flash_attention_2", "paged|flex_attention"}) {
    AttnImplCheck x = check_attn_implementation(n, m, m.layers[0], h100, PyEnv{});
    EXPECT_TRUE(x.kind == "registered" || x.kind == "paged") << n;
    EXPECT_FALSE(x.resolves_to.empty()) << n;
  }
  AttnImplCheck pg = check_attn_implementation("paged|eager", m, m.layers[0], h100, PyEnv{});
  EXPECT_EQ(pg.kind, "paged");
}

TEST(Report, JsonCarriesEveryPart) {
  DiagnoseReport r = t4_llama_fp32_verl();
  nlohmann::json j = nlohmann::json::parse(render_diagnose_json(r));
  EXPECT_EQ(j["format"], "attnscope-diagnose");
  EXPECT_EQ(j["device"]["sm"], 75);
  EXPECT_EQ(j["layer"]["dtype"], "fp32");
  ASSERT_TRUE(j["transformers"].is_array());
  bool fa2 = false;
  for (const auto& h : j["transformers"])
    if (h["name"] == "flash_attention_2") {
      fa2 = true;
      EXPECT_FALSE(h["verdict"]["supported"].get<bool>());
      for (const auto& x : h["verdict"]["reasons"]) {
        std::string sev = x["severity"];
        EXPECT_TRUE(sev == "error" || sev == "warning" || sev == "silent" || sev == "note");
        EXPECT_FALSE(x["source"].get<std::string>().empty());
      }
    }
  EXPECT_TRUE(fa2);
  ASSERT_TRUE(j["verl"].is_object());
  bool critic = false;
  for (const auto& ro : j["verl"]["roles"])
    if (ro["role"] == "critic") {
      critic = true;
      EXPECT_EQ(ro["attn_implementation"], "flash_attention_2");
      EXPECT_EQ(ro["compute_dtype"], "bf16");
    }
  EXPECT_TRUE(critic);
  EXPECT_TRUE(j["fixes"].is_array());
  EXPECT_GE(j["fixes"].size(), 2u);
  EXPECT_TRUE(j["memory"].is_array());
  EXPECT_TRUE(j["log"].is_null());
  EXPECT_TRUE(j["run"].is_null());
}

TEST(Report, LogInsideTheReport) {
  DiagnoseOptions o;
  o.gpu = "T4";
  o.local_gpu = false;
  o.log_file = fixture("verl_t4_critic.log");
  DiagnoseReport r;
  ASSERT_EQ(build_diagnose_report(o, &r), "");
  EXPECT_EQ(r.log_lines, 9);
  EXPECT_GE(r.log.size(), 5u);
  std::string text = render_diagnose_text(r);
  EXPECT_NE(text.find("line 9 [error] (WorkerDict pid=2531) RuntimeError: FlashAttention only supports Ampere GPUs or newer."),
            std::string::npos)
      << text;
}

}  // namespace
}  // namespace attnscope::test

namespace attnscope::test {
namespace {

TEST(Report, RunMeasuresTheFallbackAgainstFp64) {
  // A small layer so the CPU run takes well under a second.
  DiagnoseOptions o;
  o.gpu = "T4";
  o.local_gpu = false;
  o.overrides.dtype = "fp16";
  o.run = true;
  o.run_seq = 64;
  DiagnoseReport r;
  ASSERT_EQ(build_diagnose_report(o, &r), "");
  ASSERT_FALSE(r.runs.empty()) << r.run_note;
  bool fallback = false;
  for (const auto& d : r.runs) {
    EXPECT_TRUE(d.ran) << d.label << ": " << d.error;
    EXPECT_EQ(d.seq, 64);
    EXPECT_GT(d.max_abs_vs_fp64, 0.0);  // fp16 rounding is visible
    EXPECT_LT(d.max_abs_vs_fp64, 1e-2);
    EXPECT_TRUE(d.acceptance_applicable);
    EXPECT_TRUE(d.acceptance_pass) << d.label << ": " << d.acceptance;
    fallback = fallback || d.impl == "sdpa";
  }
  EXPECT_TRUE(fallback);
  EXPECT_NE(r.run_note.find("Nq=64"), std::string::npos) << r.run_note;
}

}  // namespace
}  // namespace attnscope::test

namespace attnscope::test {
namespace {

TEST(Report, Gemma2SoftcapIsDroppedSilentlyBySdpa) {
  DiagnoseOptions o;
  o.gpu = "A100";
  o.local_gpu = false;
  o.config_file = hf_sample("gemma-2-9b.json");
  o.overrides.dtype = "bf16";
  DiagnoseReport r;
  ASSERT_EQ(build_diagnose_report(o, &r), "");
  const ImplVerdict* sdpa = nullptr;
  for (const auto& h : r.hf)
    if (h.name == "sdpa") sdpa = &h;
  ASSERT_NE(sdpa, nullptr);
  EXPECT_TRUE(sdpa->verdict.supported);
  const Reason* x = find(sdpa->verdict, "hf.sdpa.softcap_dropped");
  ASSERT_NE(x, nullptr);
  EXPECT_EQ(x->severity, Severity::Silent);
  // The kernel-level refusal is the implementation's; transformers' path drops the feature instead.
  EXPECT_FALSE(sdpa->verdict.has("sdpa.softcap"));
  bool fa2_fix = false;
  for (const auto& f : r.fixes) fa2_fix = fa2_fix || f.line == "from_pretrained(..., attn_implementation=\"flash_attention_2\")";
  EXPECT_TRUE(fa2_fix);
  // Training Gemma 2 with anything but eager draws transformers' warning.
  ModelInfo m = r.model;
  ImplVerdict t = hf_verdict("sdpa", m, r.spec, r.device, PyEnv{}, true);
  EXPECT_TRUE(t.verdict.has("hf.gemma2.train_eager"));
}

}  // namespace
}  // namespace attnscope::test

namespace attnscope::test {
namespace {

// A count or float that does not fit is the file's error with the field named (a fuzzer found the
// cast of 1e300 layers to int; it is refused before any cast).
TEST(ModelInfoText, OutOfRangeFieldsAreRefusedByName) {
  const std::string base = R"({"model_type": "llama", "num_attention_heads": 8, "head_dim": 64, )";
  struct Case {
    std::string field, value;
  };
  for (const Case& c : {Case{"num_hidden_layers", "1e300"}, Case{"max_position_embeddings", "-5"},
                        Case{"sliding_window", "4294967296"}, Case{"attn_logit_softcapping", "1e300"},
                        Case{"attention_dropout", "7"}}) {
    ModelInfo m;
    std::string e = model_info_from_text(base + "\"" + c.field + "\": " + c.value + "}", "cfg.json",
                                         SpecOverrides{}, -1, &m);
    EXPECT_NE(e.find("cfg.json: field '" + c.field + "'"), std::string::npos) << c.field << ": " << e;
  }
  ModelInfo m;
  EXPECT_EQ(model_info_from_text(base + R"("num_hidden_layers": 32, "sliding_window": null})", "cfg.json",
                                 SpecOverrides{}, -1, &m),
            "");
  EXPECT_EQ(m.num_layers, 32);
  EXPECT_EQ(m.sliding_window, 0);
}

}  // namespace
}  // namespace attnscope::test
