#include "capture/analysis.h"

#include <gtest/gtest.h>

#include <cmath>

#include "capture/session.h"
#include "capture/spec_io.h"

namespace attnscope {
namespace {

Capture small_capture(LayerSpec s, std::vector<std::string> impls, bool what_if = false) {
  SessionOptions o;
  o.impls = std::move(impls);
  o.what_if = what_if;
  o.force_cpu = true;
  Capture cap;
  EXPECT_EQ(run_session(s, random_inputs(s, 3, Distribution::Normal), o, &cap), "");
  return cap;
}

TEST(Divergence, IdenticalRunsAreZeroEverywhere) {
  LayerSpec s;
  s.seq_q = s.seq_k = 40;
  Capture cap = small_capture(s, {"flash2"});
  const RunResult& f = cap.runs[0];
  Divergence d = compare(cap, f, f);
  ASSERT_TRUE(d.comparable);
  EXPECT_EQ(d.max_abs, 0);
  EXPECT_EQ(d.rel_fro, 0);
  EXPECT_NEAR(d.cosine, 1, 1e-12);
  EXPECT_EQ(d.ulp_within_1, 1);
  EXPECT_EQ(d.ulp_hist[0], d.rows_compared * s.head_dim_v);
  EXPECT_TRUE(d.worst_rows.empty());
}

TEST(Divergence, APlantedErrorIsFoundWithItsHeadRowAndUlps) {
  LayerSpec s;
  s.batch = 2;
  s.heads_q = 4;
  s.heads_kv = 4;
  s.seq_q = s.seq_k = 50;
  Capture cap = small_capture(s, {"flash2"});
  RunResult bad = cap.runs[0];
  bad.label = "planted";
  const int64_t idx = ((1 * 4 + 2) * 50 + 17) * 64 + 5;
  bad.out.data[idx] = round_to(DType::BF16, bad.out.data[idx] + 0.5f);
  Divergence d = compare(cap, bad, cap.runs[0]);
  EXPECT_NEAR(d.max_abs, 0.5, 0.01);
  EXPECT_EQ(d.worst.b, 1);
  EXPECT_EQ(d.worst.h, 2);
  EXPECT_EQ(d.worst.row, 17);
  EXPECT_EQ(d.worst.col, 5);
  ASSERT_FALSE(d.worst_rows.empty());
  EXPECT_EQ(d.worst_rows[0].row, 17);
  EXPECT_GT(d.per_head[1 * 4 + 2].max_abs, 0.4);
  EXPECT_EQ(d.per_head[0].max_abs, 0);
  int64_t far = 0;
  for (size_t k = 4; k < d.ulp_hist.size(); ++k) far += d.ulp_hist[k];
  EXPECT_EQ(far, 1);
  bad.out.data[idx + 1] = std::nanf("");
  Divergence n = compare(cap, bad, cap.runs[0]);
  EXPECT_TRUE(n.first_nan_a.found);
  EXPECT_TRUE(n.first_nan_a.nan);
  EXPECT_EQ(n.first_nan_a.col, 6);
  EXPECT_FALSE(acceptance(cap, bad).pass);
}

TEST(Acceptance, GptOssSinkPassesAndTheWhatIfFlash2Fails) {
  LayerSpec s = default_spec();
  s.seq_q = s.seq_k = 96;
  s.heads_q = 16;
  s.heads_kv = 2;
  Capture cap = small_capture(s, {"eager", "flash2", "sink"}, true);
  ASSERT_GT(cap.acceptance_baseline, 0);
  const RunResult* sink = cap.find("sink");
  const RunResult* wif = cap.find("flash2 (what-if)");
  const RunResult* f2 = cap.find("flash2");
  ASSERT_TRUE(sink && wif && f2);
  EXPECT_TRUE(acceptance(cap, *sink).pass) << acceptance(cap, *sink).text;
  EXPECT_TRUE(acceptance(cap, *cap.find("eager")).pass);
  EXPECT_FALSE(f2->ran);
  EXPECT_TRUE(f2->verdict.has("fa2.sinks"));
  EXPECT_EQ(wif->what_if_dropped, std::vector<WhatIfDrop>{WhatIfDrop::Sinks});
  Acceptance a = acceptance(cap, *wif);
  EXPECT_TRUE(a.applicable);
  EXPECT_FALSE(a.pass);
  // eager's P against fp64: the argmax key agrees on nearly every row.
  Divergence d = compare_to_reference(cap, *cap.find("eager"));
  ASSERT_TRUE(d.p_compared);
  EXPECT_GT(d.p_argmax_agree, 0.9);
  EXPECT_TRUE(d.lse_compared);
  EXPECT_LT(compare_to_reference(cap, *sink).lse_max_rel, 1e-3);
}

TEST(Acceptance, Fp32UsesTheRelativeFrobeniusRule) {
  LayerSpec s;
  s.dtype = DType::F32;
  s.softmax_dtype = DType::F32;
  s.seq_q = s.seq_k = 30;
  Capture cap = small_capture(s, {"eager", "sdpa"});
  for (const auto& r : cap.runs) {
    Acceptance a = acceptance(cap, r);
    EXPECT_TRUE(a.applicable);
    EXPECT_TRUE(a.pass) << r.label << ": " << a.text;
    EXPECT_DOUBLE_EQ(a.bound, 1e-5);
  }
}

TEST(Rows, FullyMaskedRowsAreLeftOutAndCounted) {
  LayerSpec s;
  s.seq_q = 20;
  s.seq_k = 10;
  s.causal = true;  // bottom-right: rows 0..9 see no key
  Capture cap = small_capture(s, {"flash2", "eager"});
  Divergence d = compare_to_reference(cap, *cap.find("flash2"));
  EXPECT_EQ(d.rows_unattended, 10 * s.heads_q);
  EXPECT_EQ(d.rows_compared, 10 * s.heads_q);
  // FA2 convention: a row with no key outputs 0.
  EXPECT_EQ(cap.find("flash2")->out.data[0], 0.0f);
}

}  // namespace
}  // namespace attnscope
