// Catalogue entries as diagnose reasons: the source names the library, its range and the version installed.
#include "tests/capture/diagnose/diagnose_fixture.h"

namespace attnscope::test {
namespace {

TEST(Messages, EveryCatalogueEntryBecomesAReasonNamingItsLibrary) {
  for (const auto& t : library_texts()) {
    Verdict v;
    EXPECT_GE(add_message(&v, t.code, ""), 1) << t.code;
    for (const auto& r : v.reasons) EXPECT_NE(r.source.find(t.library), std::string::npos) << t.code;
  }
}

TEST(Messages, SourceSaysTheRangeAndTheInstalledVersion) {
  Verdict v;
  ASSERT_EQ(add_message(&v, "hf.gptoss.fa_sinks_dropped", "4.57.1"), 1);
  EXPECT_EQ(v.reasons[0].severity, Severity::Silent);
  EXPECT_EQ(v.reasons[0].source.rfind("transformers >=4.55,<5.0 [installed 4.57.1] (", 0), 0u) << v.reasons[0].source;
  Verdict none;
  EXPECT_EQ(add_message(&none, "hf.gptoss.fa_sinks_dropped", "5.1.0"), 0);  // another era: no reason
  Verdict unknown;
  ASSERT_EQ(add_message(&unknown, "hf.fa2.not_installed", ""), 2);  // every era, each saying so
  for (const auto& r : unknown.reasons)
    EXPECT_NE(r.source.find("[version unknown: pass --env]"), std::string::npos) << r.source;
  Verdict filled;
  add_message(&filled, "hf.fa2.too_old", "4.51.3", {{"version", "2.0.9"}});
  ASSERT_EQ(filled.reasons.size(), 1u);
  EXPECT_NE(filled.reasons[0].text.find("Detected version 2.0.9."), std::string::npos) << filled.reasons[0].text;
}

}  // namespace
}  // namespace attnscope::test
