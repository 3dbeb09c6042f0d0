// Malformed or unreadable inputs give one clear error that names the file (or the option).
#include "tests/capture/diagnose/diagnose_fixture.h"

namespace attnscope::test {
namespace {

DiagnoseOptions base() {
  DiagnoseOptions o;
  o.local_gpu = false;
  o.gpu = "A100";
  return o;
}

std::string build(const DiagnoseOptions& o) {
  DiagnoseReport r;
  return build_diagnose_report(o, &r);
}

TEST(Errors, MalformedYamlNamesFileAndLine) {
  std::string p = tmp_file("bad.yaml", "actor_rollout_ref:\n  model: [unclosed\n  actor: {a: 1\n");
  DiagnoseOptions o = base();
  o.verl_file = p;
  std::string e = build(o);
  EXPECT_NE(e.find(p), std::string::npos) << e;
  EXPECT_NE(e.find("not valid YAML at line"), std::string::npos) << e;
}

TEST(Errors, YamlThatIsNotAMapping) {
  std::string p = tmp_file("list.yaml", "- a\n- b\n");
  DiagnoseOptions o = base();
  o.verl_file = p;
  std::string e = build(o);
  EXPECT_NE(e.find(p), std::string::npos) << e;
  EXPECT_NE(e.find("mapping"), std::string::npos) << e;
}

TEST(Errors, MalformedOverride) {
  DiagnoseOptions o = base();
  o.verl_file = src("samples/verl/ppo_actor_override_only.yaml");
  o.verl_overrides = {"+critic..attn=sdpa"};
  std::string e = build(o);
  EXPECT_NE(e.find("override '+critic..attn=sdpa'"), std::string::npos) << e;
  o.verl_overrides = {"critic.model"};
  e = build(o);
  EXPECT_NE(e.find("expected key=value"), std::string::npos) << e;
  DiagnoseOptions p = base();
  p.verl_overrides = {"+a=b"};
  EXPECT_NE(build(p).find("--verl-config"), std::string::npos);
}

TEST(Errors, MissingFiles) {
  for (int which = 0; which < 4; ++which) {
    DiagnoseOptions o = base();
    std::string p = "/nonexistent/dir/file" + std::to_string(which);
    if (which == 0) o.verl_file = p;
    if (which == 1) o.env_file = p;
    if (which == 2) o.log_file = p;
    if (which == 3) o.config_file = p;
    std::string e = build(o);
    EXPECT_NE(e.find(p), std::string::npos) << which << ": " << e;
  }
}

TEST(Errors, MalformedEnvJson) {
  std::string p = tmp_file("bad_env.json", "{\"format\": \"attnscope-env\", \"packages\": {\"torch\": 3}");
  DiagnoseOptions o = base();
  o.env_file = p;
  std::string e = build(o);
  EXPECT_NE(e.find(p), std::string::npos) << e;
  EXPECT_NE(e.find("not valid JSON"), std::string::npos) << e;
  // Valid JSON, wrong shape: the field is named.
  std::string q = tmp_file("bad_env2.json", "{\"format\": \"attnscope-env\", \"version\": 1, \"packages\": {\"torch\": 3}}");
  o.env_file = q;
  e = build(o);
  EXPECT_NE(e.find(q + ": packages.torch"), std::string::npos) << e;
  // Not an env file at all.
  std::string r = tmp_file("not_env.json", "{\"model_type\": \"llama\"}");
  o.env_file = r;
  e = build(o);
  EXPECT_NE(e.find("attnscope-env"), std::string::npos) << e;
  std::string s = tmp_file("bad_env3.json", "{\"format\": \"attnscope-env\", \"gpus\": [{\"name\": \"T4\", \"capability\": \"7.5\"}]}");
  o.env_file = s;
  e = build(o);
  EXPECT_NE(e.find("gpus[0].capability"), std::string::npos) << e;
}

TEST(Errors, MalformedHfConfig) {
  std::string p = tmp_file("bad_config.json", "{\"num_attention_heads\": 32, ");
  DiagnoseOptions o = base();
  o.config_file = p;
  std::string e = build(o);
  EXPECT_NE(e.find(p), std::string::npos) << e;
}

TEST(Errors, BinaryLog) {
  std::string p = tmp_file("binary.log", std::string("abc\0def", 7));
  DiagnoseOptions o = base();
  o.log_file = p;
  std::string e = build(o);
  EXPECT_NE(e.find(p), std::string::npos) << e;
  EXPECT_NE(e.find("not a text log"), std::string::npos) << e;
}

TEST(Errors, UnknownGpuListsTheKnownOnes) {
  DiagnoseOptions o = base();
  o.gpu = "GTX480";
  std::string e = build(o);
  EXPECT_NE(e.find("--gpu GTX480"), std::string::npos) << e;
  EXPECT_NE(e.find("T4"), std::string::npos) << e;
  EXPECT_NE(e.find("smXY"), std::string::npos) << e;
}

TEST(Errors, NoDriverIsAFindingNotAnError) {
  // No --gpu and no GPU backend: the report is built and says why.
  setenv("ATTNSCOPE_NO_GPU", "1", 1);
  DiagnoseOptions o;
  o.config_file = hf_sample("llama-2-7b.json");
  DiagnoseReport r;
  EXPECT_EQ(build_diagnose_report(o, &r), "");
  if (!r.device.is_gpu()) {
    ASSERT_FALSE(r.device_notes.empty());
    EXPECT_EQ(r.device_notes[0].code, "device.no_gpu");
    EXPECT_NE(r.device_notes[0].text.find("--gpu"), std::string::npos);
  }
}

}  // namespace
}  // namespace attnscope::test
