// The diagnose verb itself, through the built binary. tests/CMakeLists.txt makes attnscope_app_tests depend on
// the attnscope target, so building these tests builds the binary: a missing binary is a failure, not a skip
// (ctest would otherwise report the CLI tests as passed without running them).
#include <array>
#include <cstdio>
#include <filesystem>
#include <memory>

#include <nlohmann/json.hpp>

#include "tests/capture/diagnose/diagnose_fixture.h"

namespace attnscope::test {
namespace {

struct Shell {
  int code = -1;
  std::string out;
};

Shell run(const std::string& args) {
  Shell s;
  std::string cmd = std::string(ATTNSCOPE_BINARY_DIR) + "/attnscope " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return s;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) s.out.append(buf.data(), n);
  int st = pclose(p);
  s.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return s;
}

std::string binary() { return std::string(ATTNSCOPE_BINARY_DIR) + "/attnscope"; }
bool have_binary() { return std::filesystem::exists(binary()); }
#define REQUIRE_BINARY() \
  ASSERT_TRUE(have_binary()) << binary() << " is not built: build the attnscope target (ninja attnscope)"

TEST(CmdDiagnose, DoneCriterion) {
  REQUIRE_BINARY();
  Shell s = run("diagnose --gpu T4 --config " + hf_sample("llama-2-7b.json") +
                " --dtype float32 --verl-config " + src("samples/verl/ppo_actor_override_only.yaml"));
  ASSERT_EQ(s.code, 0) << s.out;
  for (const char* want : {"FlashAttention only supports Ampere GPUs or newer.",
                           "FlashAttention only support fp16 and bf16 data type",
                           "the critic still asks for flash_attention_2",
                           "+actor_rollout_ref.model.override_config.attn_implementation=sdpa",
                           "+critic.model.override_config.attn_implementation=sdpa",
                           "from_pretrained(..., attn_implementation=\"sdpa\")"})
    EXPECT_NE(s.out.find(want), std::string::npos) << want;
}

TEST(CmdDiagnose, JsonAndOverridesAndErrors) {
  REQUIRE_BINARY();
  Shell s = run("diagnose --json --gpu H100 --config " + hf_sample("gpt-oss-20b.json") + " --verl-config " +
                src("samples/verl/ppo_actor_override_only.yaml") +
                " -- +critic.model.override_config.attn_implementation=eager");
  ASSERT_EQ(s.code, 0) << s.out;
  nlohmann::json j = nlohmann::json::parse(s.out);
  EXPECT_EQ(j["verl"]["overrides"][0], "+critic.model.override_config.attn_implementation=eager");
  for (const auto& ro : j["verl"]["roles"])
    if (ro["role"] == "critic") {
      EXPECT_EQ(ro["attn_implementation"], "eager");
    }
  // Bad input: exit 2, the file named.
  std::string bad = tmp_file("cli_bad.yaml", "a: [1,\n");
  Shell b = run("diagnose --verl-config " + bad);
  EXPECT_EQ(b.code, 2);
  EXPECT_NE(b.out.find(bad), std::string::npos) << b.out;
  Shell u = run("diagnose --gpu T4 stray");
  EXPECT_EQ(u.code, 2);
  Shell h = run("diagnose --help");
  EXPECT_EQ(h.code, 0);
  EXPECT_NE(h.out.find("--verl-config"), std::string::npos);
}

// The recorded H100 environment through the binary: the JSON carries the predicted load/forward outcome of
// the requested name (GPT-OSS flash_attention_2 with transformers 5.17.0 and no kernels package: the kernel
// import fails at load; a retry in the same process loads and fails at the first forward).
TEST(CmdDiagnose, PredictedOutcomeInJson) {
  REQUIRE_BINARY();
  Shell s = run("diagnose --json --no-local-gpu --env " + src("tests/fixtures/device_h100/env.json") + " --config " +
                src("samples/hf/gpt-oss-20b.json") + " --attn-implementation flash_attention_2");
  ASSERT_EQ(s.code, 0) << s.out;
  nlohmann::json j = nlohmann::json::parse(s.out);
  const auto& p = j["requested"]["predicted"];
  EXPECT_EQ(p["stage"], "load");
  EXPECT_EQ(p["exception"], "ImportError");
  EXPECT_EQ(p["code"], "hf.kernels.missing");
  EXPECT_EQ(p["lazy_kernel"], "kernels-community/vllm-flash-attn3");
  EXPECT_EQ(j["requested"]["retried"]["stage"], "forward");
  EXPECT_EQ(j["requested"]["retried"]["exception"], "KeyError");
  bool redirect = false;
  for (const auto& r : j["requested"]["verdict"]["reasons"]) redirect = redirect || r["code"] == "hf.gptoss.fa_redirect";
  EXPECT_TRUE(redirect);
  // The text report says the same in words.
  Shell t = run("diagnose --no-local-gpu --env " + src("tests/fixtures/device_h100/env.json") + " --config " +
                src("samples/hf/llama-3-8b.json") + " --dtype bf16 --attn-implementation 'paged|eager'");
  ASSERT_EQ(t.code, 0) << t.out;
  EXPECT_NE(t.out.find("predicted: loads; the first forward fails (ValueError: hf.paged.no_cache)"), std::string::npos)
      << t.out;
}

}  // namespace
}  // namespace attnscope::test
