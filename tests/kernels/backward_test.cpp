// The backward pass: the fp64 reference against finite differences, every CPU implementation's
// dQ, dK, dV, dSinks against it with FA2's acceptance rule per gradient tensor (error <= 2x that of
// eager with an fp32 softmax in the same dtype, + 1e-5), and hand-checked sink gradients.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <set>

#include "kernels/acceptance.h"
#include "kernels/cpu/reference.h"
#include "tests/kernels/test_util.h"

namespace attnscope {
namespace {

// dO with the rows that see no key zeroed (random_dout's rule), rows as the product decides them.
Tensor seeded_dout(const LayerSpec& s, uint64_t seed) { return random_dout(s, seed, attended_rows(s, Inputs{})); }

struct Named {
  const char* name;
  const Tensor Gradients::*t;
};
constexpr Named kGrads[] = {{"dq", &Gradients::dq}, {"dk", &Gradients::dk}, {"dv", &Gradients::dv},
                            {"dsinks", &Gradients::dsinks}};

// ---- the reference against finite differences ----

struct FdCase {
  int hq, hkv, nq, nk, d;
  bool causal;
  int sliding;
  bool sinks;
  float softcap;
  MaskKind mask;
};

class ReferenceFiniteDifferences : public ::testing::TestWithParam<FdCase> {};

TEST_P(ReferenceFiniteDifferences, GradientsMatchCentralDifferences) {
  const FdCase c = GetParam();
  LayerSpec s;
  s.batch = 2;
  s.heads_q = c.hq;
  s.heads_kv = c.hkv;
  s.seq_q = c.nq;
  s.seq_k = c.nk;
  s.head_dim = s.head_dim_v = c.d;
  s.dtype = DType::F32;
  s.causal = c.causal;
  s.sliding_window = c.sliding;
  s.sinks = c.sinks;
  s.softcap = c.softcap;
  s.mask = c.mask;
  if (c.mask == MaskKind::Padding) s.kv_lengths = {c.nk, c.nk - 3};
  ASSERT_EQ(s.validate(), "");
  std::random_device rd;
  const uint64_t seed = rd();
  SCOPED_TRACE("seed=" + std::to_string(seed));
  Inputs in = random_inputs(s, seed, Distribution::Normal);
  if (c.mask == MaskKind::ExplicitAdditive) {
    in.mask = Tensor(DType::F32, {1, 1, s.seq_q, s.seq_k});
    std::mt19937 g(static_cast<uint32_t>(seed));
    std::uniform_real_distribution<float> u(-2.0f, 1.0f);
    for (float& x : in.mask.data) x = u(g);
  }
  in.dout = seeded_dout(s, seed);
  RunOptions opt;
  opt.backward = true;
  RunResult ref = run_reference(s, in, opt);
  ASSERT_TRUE(ref.grad.ran) << ref.grad.error;

  auto loss = [&](const Inputs& x) {
    std::vector<double> out = cpu::reference_output_f64(s, x);
    double l = 0;
    for (size_t k = 0; k < out.size(); ++k) l += out[k] * x.dout.data[k];
    return l;
  };
  // Central differences on a sample of elements of every input; the step as the floats took it.
  std::mt19937 pick(static_cast<uint32_t>(seed));
  int checked = 0;
  auto probe = [&](const char* name, float* x, const Tensor* grad, int64_t idx, float analytic) {
    (void)grad;
    const float saved = *x;
    const double h = 1e-3 * std::max(1.0f, std::abs(saved));
    *x = static_cast<float>(saved + h);
    const double xp = *x;
    const double lp = loss(in);
    *x = static_cast<float>(saved - h);
    const double xm = *x;
    const double lm = loss(in);
    *x = saved;
    const double fd = (lp - lm) / (xp - xm);
    EXPECT_NEAR(analytic, fd, 2e-4 * std::max(1.0, std::abs(fd))) << name << "[" << idx << "]";
    ++checked;
  };
  for (int t = 0; t < 12; ++t) {
    int64_t iq = std::uniform_int_distribution<int64_t>(0, in.q.numel() - 1)(pick);
    probe("q", &in.q.data[iq], &ref.grad.dq, iq, ref.grad.dq.data[iq]);
    int64_t ik = std::uniform_int_distribution<int64_t>(0, in.k.numel() - 1)(pick);
    probe("k", &in.k.data[ik], &ref.grad.dk, ik, ref.grad.dk.data[ik]);
    int64_t iv = std::uniform_int_distribution<int64_t>(0, in.v.numel() - 1)(pick);
    probe("v", &in.v.data[iv], &ref.grad.dv, iv, ref.grad.dv.data[iv]);
  }
  if (s.sinks)
    for (int h = 0; h < s.heads_q; ++h) probe("sinks", &in.sinks[h], &ref.grad.dsinks, h, ref.grad.dsinks.data[h]);
  EXPECT_GE(checked, 36);
}

INSTANTIATE_TEST_SUITE_P(
    Cpu, ReferenceFiniteDifferences,
    ::testing::Values(FdCase{2, 2, 9, 9, 5, false, 0, false, 0, MaskKind::None},
                      FdCase{4, 2, 11, 11, 7, true, 0, true, 0, MaskKind::None},        // GQA + sinks
                      FdCase{2, 1, 7, 13, 6, true, 4, true, 0, MaskKind::None},         // window, Nq != Nk
                      FdCase{2, 2, 8, 8, 4, true, 0, false, 3.0f, MaskKind::Padding},   // softcap + padding
                      FdCase{2, 2, 6, 10, 5, false, 0, true, 0, MaskKind::ExplicitAdditive}));

// ---- every implementation against the reference, per gradient tensor ----

using testing::describe;
using testing::spec_of;
using testing::SweepCase;

std::vector<SweepCase> sweep() {
  return {
      // Odd head dims (FA2's tests use 40, 59, 111), GQA 1/4/8, Nq != Nk, ragged tiles.
      {40, 4, 4, 67, 67, DType::BF16, true, CausalAlign::BottomRight, 0, -1, -1, false, 0, false},
      {59, 8, 2, 33, 130, DType::F16, true, CausalAlign::BottomRight, 0, -1, -1, false, 0, false},
      {111, 4, 1, 65, 129, DType::F16, false, CausalAlign::BottomRight, 0, 17, 5, false, 0, false},
      {80, 8, 1, 100, 100, DType::BF16, false, CausalAlign::BottomRight, 0, -1, -1, false, 0, true},
      {128, 4, 4, 50, 77, DType::F16, true, CausalAlign::TopLeft, 0, -1, -1, false, 0, false},
      {64, 8, 8, 96, 96, DType::BF16, true, CausalAlign::BottomRight, 40, -1, -1, true, 0, false},  // GPT-OSS-like
      {64, 8, 1, 130, 130, DType::BF16, true, CausalAlign::BottomRight, 0, -1, -1, true, 0, false},
      {48, 8, 4, 129, 129, DType::F16, true, CausalAlign::BottomRight, 64, -1, -1, true, 30.0f, false},
      {256, 2, 2, 70, 70, DType::BF16, true, CausalAlign::BottomRight, 0, -1, -1, false, 50.0f, true},
      {32, 8, 4, 1, 200, DType::BF16, true, CausalAlign::BottomRight, 0, -1, -1, false, 0, false},  // decode step
      {96, 4, 2, 64, 64, DType::F32, true, CausalAlign::BottomRight, 0, -1, -1, false, 0, false},
      {40, 4, 2, 70, 70, DType::F32, true, CausalAlign::BottomRight, 24, -1, -1, true, 0, true},  // only eager
  };
}

// Judges every supported implementation's gradients against the reference with the product's
// rule (kernels/acceptance.h). `multiple` widens the 2x for the fused kernels' known algorithmic
// excess on the `widened` tensors, `math_multiple` for SDPA math's (below).
void check_gradients(const LayerSpec& s, const Inputs& in, double multiple, double math_multiple,
                     const std::set<std::string>& widened) {
  RunOptions opt;
  opt.threads = 2;
  opt.backward = true;
  RunResult ref = run_reference(s, in, opt);
  ASSERT_TRUE(ref.grad.ran) << ref.grad.error;
  EXPECT_EQ(ref.grad.dsinks.empty(), !s.sinks);

  LayerSpec base = s;
  base.softmax_dtype = DType::F32;
  RunResult eager = cpu_implementation("eager")->run(base, in, opt);
  ASSERT_TRUE(eager.grad.ran) << eager.grad.error;

  int checked = 0;
  for (const std::string name : {"eager", "sdpa", "sdpa:efficient", "sdpa:math", "flash2", "sink"}) {
    const Implementation* im = cpu_implementation(name);
    if (!im->check(s, cpu_device()).supported) continue;
    RunResult r = im->run(s, in, opt);
    ASSERT_TRUE(r.grad.ran) << name << ": " << r.grad.error;
    for (const Named& g : kGrads) {
      const Tensor& t = r.grad.*g.t;
      const Tensor& want = ref.grad.*g.t;
      if (want.empty()) {
        EXPECT_TRUE(t.empty()) << name << " " << g.name;
        continue;
      }
      ASSERT_EQ(t.shape, want.shape) << name << " " << g.name;
      for (float x : t.data) ASSERT_FALSE(std::isnan(x)) << name << " left " << g.name << " unwritten";
      const bool math = name.find("math") != std::string::npos || (name == "sdpa" && r.sdpa_backend == "math");
      const double m = !widened.count(g.name) || name == "eager" ? 1.0 : math ? math_multiple : multiple;
      const double baseline = gradient_baseline(g.name, s, in, eager, ref);
      ASSERT_TRUE(std::isfinite(baseline) && baseline >= 0) << "eager's " << g.name << ": " << baseline;
      if (s.dtype == DType::F32) {
        EXPECT_LE(rel_fro_diff(t, want), m * gradient_bound_fp32(baseline)) << name << " " << g.name;
      } else {
        double biggest = 0;
        for (float x : want.data) biggest = std::max(biggest, static_cast<double>(std::abs(x)));
        EXPECT_LE(max_abs_diff(t, want), m * gradient_bound(baseline, s.dtype, biggest))
            << name << " " << g.name << " baseline=" << baseline;
      }
    }
    EXPECT_GT(r.grad.model_bytes, 0) << name;
    EXPECT_FALSE(r.grad.spans.empty()) << name;
    ++checked;
  }
  EXPECT_GE(checked, s.dtype == DType::F32 && s.sinks ? 1 : 2);
}

class BackwardSweep : public ::testing::TestWithParam<SweepCase> {};

// Normal inputs, as flash-attn's own backward tests: every gradient within the 2x rule.
TEST_P(BackwardSweep, EveryGradientAgreesWithinDtypeError) {
  const SweepCase c = GetParam();
  const LayerSpec s = spec_of(c);
  ASSERT_EQ(s.validate(), "");
  std::random_device rd;
  const uint64_t seed = rd();  // fresh inputs every run; printed on failure
  SCOPED_TRACE(describe(c) + " seed=" + std::to_string(seed));
  Inputs in = random_inputs(s, seed, Distribution::Normal);
  in.dout = seeded_dout(s, seed);
  check_gradients(s, in, 1.0, 1.0, {});
}

// Massive activation channels (x20 in two channels of q and k). FA2's backward takes
// D = rowsum(dO ∘ O) from the output rounded to bf16/fp16, not from its own P: the error of D
// is common to a whole row of dS = P (dP - D) and lands in dQ (and dK, dsinks; not dV) along
// the P-weighted mean of k, which the outlier channels make large. Where a row's P is nearly
// one-hot the exact dS of its top key is nearly 0 and eager, whose softmax backward is
// self-consistent (Σ_j g_j y_j from its own P), gets it nearly exactly, while the kernel's is
// δD: on the decode shape (Nq = 1, Nk = 200) dQ errors of 1.5x to 75x eager's were measured,
// and 0.05-0.7x once D was taken from P itself (an experiment, not what the kernel does). The
// GPU kernel behaves the same; the report shows it per tensor. Here: multi-row shapes, the
// fused kernels' dQ, dK and dsinks within 8x, dV within 2x; the decode shape is left out.
// SDPA math scales q and k by sqrt(scale) each before their product, as torch's
// _scaled_dot_product_attention_math does: two more roundings of the outlier channels than eager's
// one scaling of the product. torch's own math backward fails the 2x rule against HF eager on these
// inputs (fp32, d96, Hq 4 / Hkv 2, N 64, causal; H200 and its CPU, torch 2.11, 300 seeds,
// bench/torch_math_outliers.py): dK on 6% of them, dQ on 2.5%, worst 2.5x the bound, dV never. Ours,
// faithful to it, failed dK 3 times in 60 runs at 1.1-1.3x. Math: dQ and dK within 4x.
TEST_P(BackwardSweep, OutlierChannelsStayWithinTheKnownExcess) {
  const SweepCase c = GetParam();
  if (c.nq == 1) GTEST_SKIP() << "decode shape: FA2's D from the rounded O dominates dQ (see the comment)";
  const LayerSpec s = spec_of(c);
  std::random_device rd;
  const uint64_t seed = rd();
  SCOPED_TRACE(describe(c) + " outliers seed=" + std::to_string(seed));
  Inputs in = random_inputs(s, seed, Distribution::Outliers);
  in.dout = seeded_dout(s, seed);
  check_gradients(s, in, 8.0, 4.0, {"dq", "dk", "dsinks"});
}

INSTANTIATE_TEST_SUITE_P(Cpu, BackwardSweep, ::testing::ValuesIn(sweep()));

// dsinks' baseline (kernels/acceptance.h dsinks_baseline): the GPU suite's seeded layer 1126446370 #13
// (fp16, one head, 57 rows, D 96, causal, keys past 42 padded), on which the GPU sink kernel and its
// CPU version agree within 2 ulps. Their dsinks, derived from the stored output as FA2 derives them,
// is 6 ulps from fp64 where eager's softmax backward is under one: eager's own error fails it; the
// same formula on eager's output errs 3.9 ulps, and 2x of that is the bound it is held to.
TEST(BackwardSinks, DsinksBaselineIsFa2sFormulaOnEagersOutputWhereThatIsLarger) {
  LayerSpec s;
  s.dtype = s.softmax_dtype = DType::F16;
  s.batch = 1, s.heads_q = s.heads_kv = 1, s.seq_q = s.seq_k = 57, s.head_dim = s.head_dim_v = 96;
  s.causal = true, s.sinks = true;
  s.mask = MaskKind::Padding, s.kv_lengths = {42};
  ASSERT_EQ(s.validate(), "");
  const uint64_t seed = 1126446370ull;
  Inputs in = random_inputs(s, seed + 7919ull * 13, Distribution::Normal);
  in.dout = random_dout(s, seed + 104729ull * 13, {});
  RunOptions opt;
  opt.backward = true;
  const RunResult ref = run_reference(s, in, opt);
  LayerSpec base = s;
  base.softmax_dtype = DType::F32;
  const RunResult eager = cpu_implementation("eager")->run(base, in, opt);
  const RunResult sink = cpu_implementation("sink")->run(s, in, opt);
  ASSERT_TRUE(ref.grad.ran && eager.grad.ran && sink.grad.ran);
  const double err = max_abs_diff(sink.grad.dsinks, ref.grad.dsinks);
  const double eager_own = max_abs_diff(eager.grad.dsinks, ref.grad.dsinks);
  const double baseline = gradient_baseline("dsinks", s, in, eager, ref);
  const double ulp = ulp_at(DType::F16, ref.grad.dsinks.data[0]);
  std::printf("[ attnscope ] dsinks: sink %.2f ulps, eager %.2f, FA2's formula on eager's output %.2f\n", err / ulp,
              eager_own / ulp, baseline / ulp);
  EXPECT_GT(err, gradient_bound(eager_own, s.dtype, std::abs(ref.grad.dsinks.data[0])));
  EXPECT_GT(baseline, 2 * eager_own);
  EXPECT_LE(err, gradient_bound(baseline, s.dtype, std::abs(ref.grad.dsinks.data[0])));
}

// ---- hand-checked sinks ----

TEST(BackwardSinks, MatchTheClosedFormOnAHandCheckedCase) {
  // One head, D = 1, scale 1, causal, sink logit 0.5, fp32, dO = [1, 1]:
  //   row 0: keys [1],    m = 1: p = [a], p_sink = a·e^-0.5 with a = 1 / (1 + e^-0.5)
  //   row 1: keys [1, 2], v = [1, 3]
  // dsinks = -Σ_i p_sink,i · D_i, D_i = dO_i · O_i (the sink column has no V row).
  LayerSpec s;
  Inputs in;
  testing::hand_checked_sink_layer(&s, &in);
  in.dout = Tensor(DType::F32, {1, 1, 2, 1});
  in.dout.data = {1, 1};
  const double z0 = 1 + std::exp(-0.5);                               // row 0 in units of e^1
  const double o0 = 1 / z0, ps0 = std::exp(-0.5) / z0;
  const double z1 = std::exp(-1.0) + 1 + std::exp(-1.5);              // row 1 in units of e^2
  const double o1 = (std::exp(-1.0) * 1 + 3) / z1, ps1 = std::exp(-1.5) / z1;
  const double dsinks = -(ps0 * o0 + ps1 * o1);
  // dV_1 = p_11 · dO_1 (only row 1 sees key 1): p_11 = 1 / z1.
  const double dv1 = 1 / z1;
  RunOptions opt;
  opt.backward = true;
  for (const char* name : {"reference", "eager", "sink"}) {
    RunResult r = std::string(name) == "reference" ? run_reference(s, in, opt) : cpu_implementation(name)->run(s, in, opt);
    ASSERT_TRUE(r.grad.ran) << name << ": " << r.grad.error;
    EXPECT_NEAR(r.grad.dsinks.data[0], dsinks, 1e-6) << name;
    EXPECT_NEAR(r.grad.dv.data[1], dv1, 1e-6) << name;
  }
}

TEST(BackwardSinks, GptOssEagerInBf16KeepsTheSinkGradient) {
  // GPT-OSS's eager (model-dtype softmax, max subtracted in bf16) against fp64: dsinks is within
  // the bf16 rule, and far from 0 (the share of the mass the sinks take is real).
  LayerSpec s;
  s.batch = 2;
  s.heads_q = 4;
  s.heads_kv = 2;
  s.seq_q = s.seq_k = 48;
  s.head_dim = s.head_dim_v = 32;
  s.causal = true;
  s.sinks = true;
  s.sliding_window = 16;
  s.softmax_dtype = DType::BF16;
  Inputs in = random_inputs(s, 11, Distribution::Normal);
  in.dout = seeded_dout(s, 11);
  RunOptions opt;
  opt.backward = true;
  RunResult ref = run_reference(s, in, opt);
  RunResult e = cpu_implementation("eager")->run(s, in, opt);
  ASSERT_TRUE(e.grad.ran);
  double norm = 0;
  for (float x : ref.grad.dsinks.data) norm = std::max(norm, static_cast<double>(std::abs(x)));
  EXPECT_GT(norm, 0.1);
  EXPECT_LT(max_abs_diff(e.grad.dsinks, ref.grad.dsinks), 0.05 * norm);
  // The bf16 gradient is bf16: every value representable.
  for (float x : e.grad.dsinks.data) EXPECT_EQ(x, round_to(DType::BF16, x));
}

// sdpa:math's backward runs in fp32 end to end (the forward upcast q, k, v): its only rounding is each
// gradient's final .to(dtype), so every element is within half an ulp of the fp64 gradient plus
// fp32's accumulation error, where eager's bf16 intermediates are several ulps off.
TEST(Backward, MathRoundsEachGradientOnceFromFp32) {
  for (const DType dt : {DType::BF16, DType::F16}) {
    LayerSpec s;
    s.dtype = dt;
    s.batch = 2, s.heads_q = 4, s.heads_kv = 2, s.seq_q = 48, s.seq_k = 64, s.head_dim = s.head_dim_v = 32;
    s.causal = true;
    Inputs in = random_inputs(s, 11, Distribution::Normal);
    in.dout = seeded_dout(s, 12);
    RunOptions opt;
    opt.backward = true;
    RunResult math = cpu_implementation("sdpa:math")->run(s, in, opt);
    RunResult ref = run_reference(s, in, opt);
    ASSERT_TRUE(math.grad.ran && ref.grad.ran) << math.grad.error;
    for (const Named& g : {kGrads[0], kGrads[1], kGrads[2]}) {
      const Tensor& t = math.grad.*g.t;
      const Tensor& want = ref.grad.*g.t;
      double biggest = 0;
      for (float x : want.data) biggest = std::max(biggest, static_cast<double>(std::abs(x)));
      int64_t over = 0;
      for (int64_t k = 0; k < t.numel(); ++k)
        over += std::abs(static_cast<double>(t.data[k]) - want.data[k]) >
                0.5 * ulp_at(dt, want.data[k]) + 1e-5 * biggest;
      EXPECT_EQ(over, 0) << dtype_name(dt) << " " << g.name << ": elements beyond half an ulp of fp64";
    }
  }
}

TEST(Backward, WithoutDoutTheGradientsSayWhy) {
  LayerSpec s;
  s.seq_q = s.seq_k = 16;
  Inputs in = random_inputs(s, 3, Distribution::Normal);
  RunOptions opt;
  opt.backward = true;
  for (const char* name : {"eager", "flash2"}) {
    RunResult r = cpu_implementation(name)->run(s, in, opt);
    EXPECT_TRUE(r.ran);
    EXPECT_FALSE(r.grad.ran) << name;
    EXPECT_NE(r.grad.error.find("dO"), std::string::npos) << r.grad.error;
  }
  in.dout = Tensor(s.dtype, {1, 1, 2, 3});
  RunResult r = cpu_implementation("sink")->run(s, in, opt);
  EXPECT_NE(r.grad.error.find("do: shape [1, 1, 2, 3]"), std::string::npos) << r.grad.error;
}

TEST(Backward, ResultsDoNotDependOnTheThreadCount) {
  LayerSpec s;
  s.batch = 2;
  s.heads_q = 4;
  s.heads_kv = 2;
  s.seq_q = s.seq_k = 70;
  s.causal = true;
  Inputs in = random_inputs(s, 7, Distribution::Normal);
  in.dout = seeded_dout(s, 7);
  for (const char* name : {"eager", "flash2", "sink"}) {
    RunOptions one, many;
    one.threads = 1;
    many.threads = 3;
    one.backward = many.backward = true;
    RunResult a = cpu_implementation(name)->run(s, in, one), b = cpu_implementation(name)->run(s, in, many);
    for (const Named& g : kGrads) EXPECT_EQ((a.grad.*g.t).data, (b.grad.*g.t).data) << name << " " << g.name;
  }
}

TEST(Backward, SeededDoutIsDeterministicAndZeroOnlyWhereNoKeyIsVisible) {
  LayerSpec s;
  s.batch = 2;
  s.seq_q = s.seq_k = 20;
  s.mask = MaskKind::Padding;
  s.kv_lengths = {20, 0};  // batch 1 sees nothing
  Tensor a = seeded_dout(s, 5), b = seeded_dout(s, 5), c = seeded_dout(s, 6);
  EXPECT_EQ(a.data, b.data);
  EXPECT_NE(a.data, c.data);
  const int64_t half = a.numel() / 2;
  int zeros_first = 0;
  for (int64_t k = 0; k < half; ++k) zeros_first += a.data[k] == 0;
  EXPECT_EQ(zeros_first, 0);
  for (int64_t k = half; k < a.numel(); ++k) ASSERT_EQ(a.data[k], 0.0f);
  // q, k, v do not move when dO is drawn.
  EXPECT_EQ(random_inputs(s, 5, Distribution::Normal).q.data, random_inputs(s, 5, Distribution::Normal).q.data);
}

}  // namespace
}  // namespace attnscope
