// --log: real messages from verl/transformers/flash-attn/vLLM/PyTorch logs are recognised, each with
// its line number, cause, fix and source; unrelated lines are not.
#include "tests/capture/diagnose/diagnose_fixture.h"

namespace attnscope::test {
namespace {

std::map<int, LogFinding> by_line(const std::vector<LogFinding>& f) {
  std::map<int, LogFinding> m;
  for (const auto& x : f) m[x.line] = x;
  return m;
}

TEST(Log, VerlCriticOnT4) {
  std::vector<LogFinding> f;
  int lines = 0;
  ASSERT_EQ(load_log_file(fixture("verl_t4_critic.log"), &f, &lines), "");
  EXPECT_EQ(lines, 9);
  auto m = by_line(f);
  ASSERT_TRUE(m.count(2));
  EXPECT_EQ(m[2].code, "hf.fa2.dtype");
  EXPECT_EQ(m[2].severity, Severity::Warning);
  ASSERT_TRUE(m.count(3));
  EXPECT_EQ(m[3].code, "hf.fa2.cpu_init");
  ASSERT_TRUE(m.count(4));
  EXPECT_EQ(m[4].code, "vllm.fa2_turing");
  ASSERT_TRUE(m.count(5));
  EXPECT_EQ(m[5].code, "vllm.backend");
  EXPECT_FALSE(m.count(6));  // "epoch 0, step 1"
  ASSERT_TRUE(m.count(7));
  EXPECT_EQ(m[7].code, "sdpa.efficient_not_used");
  EXPECT_FALSE(m.count(8));  // a traceback frame
  ASSERT_TRUE(m.count(9));
  EXPECT_EQ(m[9].code, "fa2.arch");
  EXPECT_EQ(m[9].severity, Severity::Error);
  EXPECT_NE(m[9].cause.find("older than sm80"), std::string::npos);
  EXPECT_NE(m[9].fix.find("+critic.model.override_config.attn_implementation=sdpa"), std::string::npos);
  EXPECT_NE(m[9].source.find("flash-attn 2.x"), std::string::npos);
}

TEST(Log, MiscFailures) {
  std::vector<LogFinding> f;
  ASSERT_EQ(load_log_file(fixture("misc_failures.log"), &f, nullptr), "");
  auto m = by_line(f);
  struct Want {
    int line;
    const char* code;
    Severity sev;
  };
  const Want want[] = {{2, "fa.undefined_symbol", Severity::Error}, {3, "hf.fa2.not_installed", Severity::Error},
                       {4, "vllm.bf16_arch", Severity::Error},      {5, "hf.attn.unknown", Severity::Error},
                       {6, "oom", Severity::Error},                 {7, "vllm.sinks_fa3", Severity::Error},
                       {9, "verl.hydra_missing_key", Severity::Error}};
  for (const auto& w : want) {
    ASSERT_TRUE(m.count(w.line)) << "line " << w.line << " not recognised";
    EXPECT_EQ(m[w.line].code, w.code) << "line " << w.line;
    EXPECT_EQ(m[w.line].severity, w.sev) << "line " << w.line;
    EXPECT_FALSE(m[w.line].cause.empty());
    EXPECT_FALSE(m[w.line].fix.empty());
    EXPECT_FALSE(m[w.line].source.empty());
  }
  EXPECT_FALSE(m.count(1));   // "Traceback (most recent call last):"
  EXPECT_FALSE(m.count(8));   // Hydra's first line: explained on the next one
  EXPECT_FALSE(m.count(10));  // a training metric line
  // A filesystem path as attn_implementation is called out as such.
  EXPECT_NE(m[5].cause.find("filesystem path"), std::string::npos);
  EXPECT_NE(m[5].cause.find("flash_attention_triton_sink.py"), std::string::npos);
  EXPECT_NE(m[2].fix.find("reinstall"), std::string::npos);
}

TEST(Log, EmptyAndUnrelatedTextFindsNothing) {
  EXPECT_TRUE(scan_log_text("").empty());
  EXPECT_TRUE(scan_log_text("loss 0.1\nloss 0.09\nall good\n").empty());
  // "undefined symbol" from an unrelated library is not an attention finding.
  EXPECT_TRUE(scan_log_text("ImportError: libfoo.so: undefined symbol: bar\n").empty());
}

// Every message the catalogue scans for is explained by its own entry when a log line quotes it: the scan
// order (first matching pattern wins) puts no entry behind another that would take its lines.
TEST(Log, EveryCatalogueQuoteIsExplainedByItsOwnEntry) {
  int scanned = 0;
  for (const auto& t : library_texts()) {
    if (!t.log.pattern) continue;
    ++scanned;
    std::string line = "[rank0]: " + log_quote(t);
    auto found = scan_log_text(line + "\n");
    ASSERT_EQ(found.size(), 1u) << t.code << ": " << line;
    EXPECT_EQ(found[0].code, t.code) << line;
    EXPECT_EQ(found[0].severity, t.severity) << t.code;
  }
  EXPECT_GE(scanned, 40);
}

}  // namespace
}  // namespace attnscope::test
