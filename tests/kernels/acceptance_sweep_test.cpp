// Every CPU implementation against the fp64 reference, with FA2's acceptance rule: max abs error
// <= 2 x that of eager with an fp32 softmax in the same dtype, + 1e-5 (fp32: rel. Frobenius).
#include <gtest/gtest.h>

#include <cstdio>
#include <random>

#include "tests/kernels/test_util.h"

namespace attnscope {
namespace {

using testing::describe;
using testing::spec_of;
using testing::SweepCase;

std::vector<SweepCase> sweep() {
  std::vector<SweepCase> v = {
      // Odd head dims (FA2's tests use 40, 59, 111), GQA 1/4/8, Nq != Nk, ragged tiles.
      {40, 4, 4, 67, 67, DType::BF16, true, CausalAlign::BottomRight, 0, -1, -1, false, 0},
      {59, 8, 2, 33, 130, DType::F16, true, CausalAlign::BottomRight, 0, -1, -1, false, 0},
      {80, 8, 1, 100, 100, DType::BF16, false, CausalAlign::BottomRight, 0, -1, -1, false, 0},
      {111, 4, 1, 65, 129, DType::F16, false, CausalAlign::BottomRight, 0, 17, 5, false, 0},
      {256, 2, 2, 70, 70, DType::BF16, true, CausalAlign::BottomRight, 0, -1, -1, false, 50.0f},
      {64, 8, 8, 96, 96, DType::BF16, true, CausalAlign::BottomRight, 40, -1, -1, true, 0},   // GPT-OSS-like
      {64, 8, 1, 130, 130, DType::BF16, true, CausalAlign::BottomRight, 0, -1, -1, true, 0},
      {128, 4, 4, 50, 77, DType::F16, true, CausalAlign::TopLeft, 0, -1, -1, false, 0},
      {32, 8, 4, 1, 200, DType::BF16, true, CausalAlign::BottomRight, 0, -1, -1, false, 0},  // decode step
      {96, 4, 2, 64, 64, DType::F32, true, CausalAlign::BottomRight, 0, -1, -1, false, 0},
      {48, 8, 4, 129, 129, DType::F16, true, CausalAlign::BottomRight, 64, -1, -1, true, 30.0f},
  };
  return v;
}

class AcceptanceSweep : public ::testing::TestWithParam<SweepCase> {};

TEST_P(AcceptanceSweep, EveryImplementationAgreesWithinDtypeError) {
  const SweepCase c = GetParam();
  const LayerSpec s = spec_of(c);
  ASSERT_EQ(s.validate(), "");
  std::random_device rd;
  const uint64_t seed = rd();  // fresh inputs every run; printed on failure
  SCOPED_TRACE(describe(c) + " seed=" + std::to_string(seed));
  Inputs in = random_inputs(s, seed, seed % 3 == 0 ? Distribution::Outliers : Distribution::Normal);
  RunOptions opt;
  opt.threads = 2;
  RunResult ref = run_reference(s, in, opt);
  ASSERT_TRUE(ref.ran);

  LayerSpec base = s;
  base.softmax_dtype = DType::F32;
  RunResult eager = cpu_implementation("eager")->run(base, in, opt);
  const double baseline = testing::max_abs_error(s, in, eager.out, ref.out);
  const double bound = 2 * baseline + 1e-5;

  int checked = 0;
  for (const std::string name : {"eager", "sdpa", "sdpa:efficient", "sdpa:math", "flash2", "sink"}) {
    const Implementation* im = cpu_implementation(name);
    Verdict v = im->check(s, cpu_device());
    if (!v.supported) continue;
    RunResult r = im->run(s, in, opt);
    ASSERT_TRUE(r.ran) << name << ": " << r.error;
    for (float x : r.out.data) ASSERT_FALSE(std::isnan(x)) << name << " left an output unwritten";
    if (s.dtype == DType::F32) {
      double num = 0, den = 0;
      for (int64_t k = 0; k < r.out.numel(); ++k) {
        double d = static_cast<double>(r.out.data[k]) - ref.out.data[k];
        num += d * d;
        den += static_cast<double>(ref.out.data[k]) * ref.out.data[k];
      }
      EXPECT_LE(std::sqrt(num / den), 1e-5) << name;
    } else {
      EXPECT_LE(testing::max_abs_error(s, in, r.out, ref.out), bound) << name << " baseline=" << baseline;
    }
    if (name != "eager" && name != "sdpa:math" && !(name == "sdpa" && r.sdpa_backend == "math")) {
      EXPECT_LE(testing::max_lse_rel_error(s, in, r.lse, ref.lse), 1e-3) << name << " LSE";
    }
    ++checked;
  }
  EXPECT_GE(checked, 2);
}

INSTANTIATE_TEST_SUITE_P(Cpu, AcceptanceSweep, ::testing::ValuesIn(sweep()));

TEST(Sinks, ReproduceGptOssEagerOnAHandCheckedCase) {
  // One head, D = 1, scale 1, causal, sink logit 0.5, fp32:
  //   row 0 sees s = [1]      -> m = 1, out = 1 / (1 + e^-0.5)                         = 0.6224593
  //   row 1 sees s = [1, 2]   -> m = 2, out = (e^-1 * 1 + 1 * 3) / (e^-1 + 1 + e^-1.5) = 2.1168191
  // (p_ij = exp(S_ij - m) / (sum_j exp(S_ij - m) + exp(s_h - m)), REFERENCE.md "Sinks").
  LayerSpec s;
  Inputs in;
  testing::hand_checked_sink_layer(&s, &in);
  const double want0 = 1.0 / (1.0 + std::exp(-0.5));
  const double want1 = (std::exp(-1.0) + 3.0) / (std::exp(-1.0) + 1.0 + std::exp(-1.5));
  EXPECT_NEAR(want0, 0.6224593, 1e-7);
  EXPECT_NEAR(want1, 2.1168191, 1e-7);
  RunOptions opt;
  for (const RunResult& r : {run_reference(s, in, opt), cpu_implementation("eager")->run(s, in, opt),
                             cpu_implementation("sink")->run(s, in, opt)}) {
    EXPECT_NEAR(r.out.data[0], want0, 1e-6) << r.impl;
    EXPECT_NEAR(r.out.data[1], want1, 1e-6) << r.impl;
    // LSE includes the sink: log(e^1 + e^0.5) for row 0.
    EXPECT_NEAR(r.lse.data[0], std::log(std::exp(1.0) + std::exp(0.5)), 1e-5) << r.impl;
  }
  // Eager's P rows sum to less than 1: the missing mass went to the sink.
  RunResult e = cpu_implementation("eager")->run(s, in, opt);
  EXPECT_NEAR(e.probs.data[0], 1.0 / (1.0 + std::exp(-0.5)), 1e-6);
  EXPECT_LT(e.probs.data[2] + e.probs.data[3], 1.0f);
}

TEST(Threads, ResultsDoNotDependOnTheThreadCount) {
  LayerSpec s;
  s.batch = 2;
  s.heads_q = 4;
  s.heads_kv = 2;
  s.seq_q = s.seq_k = 70;
  s.causal = true;
  Inputs in = random_inputs(s, 7, Distribution::Normal);
  for (const char* name : {"eager", "flash2", "sink"}) {
    RunOptions one, many;
    one.threads = 1;
    many.threads = 3;
    RunResult a = cpu_implementation(name)->run(s, in, one), b = cpu_implementation(name)->run(s, in, many);
    EXPECT_EQ(a.out.data, b.out.data) << name;
  }
}

}  // namespace
}  // namespace attnscope
