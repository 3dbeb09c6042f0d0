// The catalogue of library texts: one text per code and version, every entry complete, log quotes that
// stay what the text says.
#include <cctype>
#include <map>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

#include "kernels/library_texts.h"

namespace attnscope {
namespace {

TEST(LibraryTexts, RangesDoNotOverlapForOneCode) {
  // For a code with several entries, any version matches at most one entry (one text per version).
  for (const std::string v : {"2.8.3", "4.36.0", "4.51.3", "4.55.2", "4.56.0", "4.57.1", "5.0.0", "5.2.1", "5.3.0",
                              "5.17.0", "6.0"}) {
    std::map<std::string, int> hits;
    for (const auto& t : library_texts())
      if (version_in(v, t.since, t.until)) hits[t.code]++;
    for (const auto& [code, n] : hits) EXPECT_LE(n, 1) << code << " at " << v;
  }
}

TEST(LibraryTexts, VersionCompare) {
  EXPECT_LT(compare_versions("4.9.0", "4.10.0"), 0);
  EXPECT_EQ(compare_versions("2.8.0+cu128", "2.8"), 0);
  EXPECT_GT(compare_versions("5.0.0.dev0", "4.57.1"), 0);
  EXPECT_TRUE(version_in("4.57.1", "4.55", "5.0"));
  EXPECT_FALSE(version_in("5.0.0", "4.55", "5.0"));
  EXPECT_TRUE(version_in("1.0", "", ""));
  auto e = texts_for("hf.gptoss.fa_sinks_dropped", "");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(version_range(*e[0]), "transformers >=4.55,<5.0");
  EXPECT_EQ(texts_for("hf.gptoss.fa_sinks_dropped", "5.1.0").size(), 0u);
}

TEST(LibraryTexts, EveryEntryHasTextWhereAndALibrary) {
  std::set<std::string> libraries = {"transformers", "flash-attn", "torch", "verl", "vllm", "hub-kernel", "attnscope"};
  for (const auto& t : library_texts()) {
    ASSERT_NE(t.text, nullptr) << t.code;
    EXPECT_GT(std::string(t.text).size(), 10u) << t.code;
    EXPECT_EQ(std::string(t.text).find("approximate"), std::string::npos) << t.code << ": marker leaked into the text";
    EXPECT_TRUE(libraries.count(t.library)) << t.code << ": " << t.library;
    EXPECT_GT(std::string(t.where).size(), 3u) << t.code;
    if (t.log.pattern) {
      EXPECT_FALSE(log_pattern(t).empty()) << t.code;
      EXPECT_TRUE(t.log.cause && *t.log.cause) << t.code << ": a scanned message says what causes it";
      EXPECT_TRUE(t.log.fix && *t.log.fix) << t.code << ": a scanned message says what fixes it";
    }
  }
}

TEST(LibraryTexts, FillAndLookup) {
  EXPECT_EQ(library_text("fa2.arch"), "FlashAttention only supports Ampere GPUs or newer.");
  EXPECT_EQ(fill_text("a {x} b {y}", {{"x", "1"}}), "a 1 b {y}");
  EXPECT_EQ(fill_text("{v}", {{"v", "{kept}"}}), "{kept}");  // a value is not filled again
  EXPECT_NE(library_text("no.such.code").find("no.such.code"), std::string::npos);
  std::string t = library_text("sdpa.dtype", {{"allowed", "{Half, BFloat16}"}, {"dtype", "float"}});
  EXPECT_EQ(t, "Expected query, key and value to all be of dtype: {Half, BFloat16}. Got Query dtype: float, Key "
               "dtype: float, and Value dtype: float instead.");
}

// A quote elides parts of the text ("...") or prefixes the exception type; its words are still the text's, so a
// text changed here changes its quote with it.
TEST(LibraryTexts, LogQuotesAreTheTextsWords) {
  auto words = [](const std::string& s) {
    std::set<std::string> w;
    std::string cur;
    for (char c : s + " ") {
      if (std::isalpha(static_cast<unsigned char>(c))) cur += c;
      else {
        if (cur.size() >= 4) w.insert(cur);
        cur.clear();
      }
    }
    return w;
  };
  // Exception types a log prefixes, and placeholder values a quote shows ("kernels-community/...", "<name>").
  const std::set<std::string> prefixes = {"ImportError", "KeyError",          "AssertionError", "RuntimeError",
                                          "InductorError", "LoweringException", "DeprecationWarning", "BACKEND",
                                          "name",          "community"};
  for (const auto& t : library_texts()) {
    // A text that embeds the library's message as {error} (attnscope's words around it) quotes it as logs show it.
    if (!t.log.quote || std::string(t.text).find("{error}") != std::string::npos) continue;
    std::set<std::string> text = words(t.text);
    for (const auto& w : words(t.log.quote))
      if (!prefixes.count(w)) {
        EXPECT_TRUE(text.count(w)) << t.code << ": quote word '" << w << "' is not in the text";
      }
  }
}

}  // namespace
}  // namespace attnscope
