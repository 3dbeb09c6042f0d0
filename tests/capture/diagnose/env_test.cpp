// --env: scripts/attnscope-env.py's output is what parse_env_json reads.
#include <cstdlib>

#include "tests/capture/diagnose/diagnose_fixture.h"

namespace attnscope::test {
namespace {

TEST(Env, FixtureFields) {
  PyEnv e;
  ASSERT_EQ(load_env_file(fixture("env_t4_undefined_symbol.json"), &e), "");
  EXPECT_TRUE(e.present);
  EXPECT_EQ(e.python, "3.10.12");
  EXPECT_EQ(e.version("torch"), "2.6.0+cu124");
  EXPECT_EQ(e.version("kernels"), "");
  ASSERT_NE(e.pkg("flash_attn"), nullptr);
  EXPECT_NE(e.pkg("flash_attn")->import_error.find("undefined symbol"), std::string::npos);
  EXPECT_EQ(e.torch_cuda, "12.4");
  EXPECT_TRUE(e.torch_cuda_available);
  ASSERT_EQ(e.gpus.size(), 1u);
  EXPECT_EQ(e.gpus[0].cc_major, 7);
  EXPECT_EQ(e.gpus[0].cc_minor, 5);
  EXPECT_EQ(e.driver, "550.54.15");
  EXPECT_EQ(e.env_vars.at("CUDA_VISIBLE_DEVICES"), "0");
}

TEST(Env, ScriptOutputRoundTrips) {
  if (std::system("python3 --version > /dev/null 2>&1") != 0) GTEST_SKIP() << "python3 not available";
  std::string out = std::string(ATTNSCOPE_BINARY_DIR) + "/diagnose_test_env_roundtrip.json";
  std::string cmd = "python3 " + src("scripts/attnscope-env.py") + " -o " + out + " 2> /dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  PyEnv e;
  ASSERT_EQ(load_env_file(out, &e), "");
  EXPECT_TRUE(e.present);
  EXPECT_FALSE(e.python.empty());
  // Every package the script knows is recorded, installed or not.
  for (const char* p : {"torch", "transformers", "flash_attn", "kernels", "vllm", "verl"})
    EXPECT_NE(e.pkg(p), nullptr) << p;
  // A report built from it names the environment's facts (whatever this machine has).
  DiagnoseOptions o;
  o.local_gpu = false;
  o.gpu = "A100";
  o.env_file = out;
  o.config_file = hf_sample("llama-2-7b.json");
  DiagnoseReport r;
  ASSERT_EQ(build_diagnose_report(o, &r), "");
  for (const auto& h : r.hf)
    if (h.name == "flash_attention_2") {
      const PyPackage* fa = e.pkg("flash_attn");
      if (!fa->installed) {
        EXPECT_TRUE(h.verdict.has("hf.fa2.not_installed") || h.verdict.has("hf.fa2.kernels_fallback") ||
                    h.verdict.has("hf.fa2.no_gpu_at_all"));
      }
      EXPECT_FALSE(h.verdict.has("hf.fa2.package_unknown"));
    }
}

}  // namespace
}  // namespace attnscope::test
