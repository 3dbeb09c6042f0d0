// The flash2/sink backward on the GPU (FlashAttention-2's algorithm) against its CPU version, rounding
// point for rounding point (ULPs), and against fp64 by FlashAttention's rule per gradient tensor
// (kernels/acceptance.h). Random configurations (seed printed), fresh inputs, never zeros.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>

#include "kernels/acceptance.h"
#include "tests/gpu/gpu_compare.h"
#include "tests/gpu/gpu_plugin.h"

namespace attnscope {
namespace {

using gputest::plugin;
using gputest::run_gpu;

double max_abs_diff(const Tensor& a, const Tensor& b) {
  double m = 0;
  for (int64_t i = 0; i < a.numel(); ++i) m = std::max(m, std::fabs(double(a.data[i]) - b.data[i]));
  return m;
}
double max_abs(const Tensor& a) {
  double m = 0;
  for (float x : a.data) m = std::max(m, std::fabs(double(x)));
  return m;
}

TEST(GpuBackward, FlashAndSinkMatchTheirCpuVersionsAndTheRule) {
  ATTNSCOPE_REQUIRE_GPU();
  const char* env = std::getenv("ATTNSCOPE_GPU_SEED");
  const uint64_t seed = env && *env ? std::strtoull(env, nullptr, 10) : std::random_device{}();
  std::printf("[ attnscope ] backward seed = %llu\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint64_t>(n)); };
  const int n = std::getenv("ATTNSCOPE_GPU_SMALL") ? 4 : 24;
  int ran = 0;
  gputest::UlpCount ulps[4];
  const char* names[] = {"dq", "dk", "dv", "dsinks"};
  for (int idx = 0; idx < 20 * n && ran < n; ++idx) {
    LayerSpec s;
    const std::string impl = idx % 2 ? "sink" : "flash2";
    s.dtype = pick(2) ? DType::BF16 : DType::F16;
    static const int kDims[] = {32, 40, 64, 96, 111, 128, 192, 256};
    s.head_dim = s.head_dim_v = kDims[pick(8)];
    s.heads_kv = 1 + pick(3);
    s.heads_q = s.heads_kv * (1 + pick(3));
    s.batch = 1 + pick(2);
    s.seq_q = 17 + pick(300);
    s.seq_k = pick(3) ? s.seq_q : 17 + pick(300);
    s.causal = pick(2);
    if (s.causal && s.seq_q != s.seq_k && pick(2)) s.align = CausalAlign::TopLeft;
    if (pick(4) == 0) s.sliding_window = 16 + pick(80), s.causal = true;
    if (impl == "sink") s.sinks = pick(5) != 0, s.softmax_dtype = s.dtype;
    if (pick(6) == 0) s.softcap = 20.0f;
    if (pick(8) == 0) {
      s.mask = MaskKind::Padding;
      s.kv_lengths.resize(s.batch);
      for (int& l : s.kv_lengths) l = 1 + pick(s.seq_k);
    }
    const Verdict v = plugin().api->check(impl, s, plugin().dev);
    if (!v.supported) continue;
    Inputs in = random_inputs(s, seed + 7919ull * idx, Distribution::Normal);
    in.dout = random_dout(s, seed + 104729ull * idx, {});
    SCOPED_TRACE("config #" + std::to_string(idx) + " " + gputest::describe(impl, s));
    RunOptions o;
    o.warmup = 0, o.repeats = 1, o.keep_intermediates = false, o.backward = true;
    RunResult g = run_gpu(impl, s, in, o);
    ASSERT_TRUE(g.ran) << g.error;
    if (g.grad.error.find("not compiled") != std::string::npos) continue;
    ASSERT_TRUE(g.grad.ran) << g.grad.error;
    ++ran;
    EXPECT_EQ(g.grad.times_ms.size(), 1u);
    EXPECT_GT(g.grad.peak_bytes, 0);
    RunOptions c = o;
    c.kv_tile = g.kv_tile;
    const RunResult cpu = cpu_implementation(impl)->run(s, in, c);
    const RunResult ref = run_reference(s, in, o);
    LayerSpec eager_spec = s;
    eager_spec.softmax_dtype = DType::F32;
    const RunResult eager = cpu_implementation("eager")->run(eager_spec, in, o);
    ASSERT_TRUE(cpu.grad.ran && ref.grad.ran && eager.grad.ran);
    for (int k = 0; k < 4; ++k) {
      const Tensor& gt = *gradient(g.grad, names[k]);
      if (gt.empty()) continue;
      const Tensor& ct = *gradient(cpu.grad, names[k]);
      const Tensor& rt = *gradient(ref.grad, names[k]);
      const Tensor& et = *gradient(eager.grad, names[k]);
      for (float x : gt.data) ASSERT_TRUE(std::isfinite(x)) << names[k] << " has NaN/Inf (unwritten?)";
      const gputest::UlpCount u = gputest::ulp_count(s.dtype, gt, ct, 2);
      ulps[k].add(u);
      const double err = max_abs_diff(gt, rt), bound = gradient_bound(max_abs_diff(et, rt), s.dtype, max_abs(rt));
      EXPECT_LE(err, bound) << names[k] << ": max|GPU - fp64| " << err << ", FA2's bound " << bound;
    }
  }
  for (int k = 0; k < 4; ++k)
    std::printf("[ attnscope ] backward %s vs CPU: %.4f%% of %lld within 2 ulps (worst %lld)\n", names[k],
                100.0 * ulps[k].fraction(), static_cast<long long>(ulps[k].total),
                static_cast<long long>(ulps[k].worst));
  EXPECT_GE(ran, n / 2) << "too few compiled configurations ran";
  for (int k = 0; k < 3; ++k) EXPECT_GE(ulps[k].fraction(), 0.99) << names[k] << " GPU vs CPU within 2 ulps";
}

// HF's eager under autograd on the GPU (hf_eager_backward_plan, cuBLAS and the torch-like kernels)
// against the CPU eager backward, rounding point for rounding point, and against fp64 by the rule
// (its own CPU version's error is the baseline). GPT-OSS's sink layers (the softmax in the model
// dtype: the max's and the sink column's backwards) among them; fp32 layers compared by relative
// Frobenius (cuBLAS sums in another order).
TEST(GpuBackward, EagerMatchesItsCpuVersionAndTheRule) {
  ATTNSCOPE_REQUIRE_GPU();
  const char* env = std::getenv("ATTNSCOPE_GPU_SEED");
  const uint64_t seed = env && *env ? std::strtoull(env, nullptr, 10) : std::random_device{}();
  std::printf("[ attnscope ] eager backward seed = %llu\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint64_t>(n)); };
  const int n = std::getenv("ATTNSCOPE_GPU_SMALL") ? 3 : 12;
  int ran = 0;
  gputest::UlpCount ulps[4];
  const char* names[] = {"dq", "dk", "dv", "dsinks"};
  for (int idx = 0; idx < 10 * n && ran < n; ++idx) {
    LayerSpec s;
    const int dt = idx < 3 ? idx : pick(3);  // each dtype's path at least once
    s.dtype = dt == 0 ? DType::BF16 : dt == 1 ? DType::F16 : DType::F32;
    static const int kDims[] = {32, 40, 64, 111, 128};
    s.head_dim = s.head_dim_v = kDims[pick(5)];
    s.heads_kv = 1 + pick(2);
    s.heads_q = s.heads_kv * (1 + pick(3));
    s.batch = 1 + pick(2);
    s.seq_q = 17 + pick(200);
    s.seq_k = pick(3) ? s.seq_q : 17 + pick(200);
    s.causal = pick(2);
    if (pick(4) == 0) s.sliding_window = 16 + pick(60), s.causal = true;
    if (pick(5) == 0) s.softcap = 20.0f;
    if (pick(6) == 0) {
      s.mask = MaskKind::Padding;
      s.kv_lengths.resize(s.batch);
      for (int& l : s.kv_lengths) l = 1 + pick(s.seq_k);
    }
    if (idx % 3 == 1) s.sinks = true, s.softmax_dtype = pick(4) ? s.dtype : DType::F32;  // GPT-OSS's mostly
    const Verdict v = plugin().api->check("eager", s, plugin().dev);
    if (!v.supported) continue;
    Inputs in = random_inputs(s, seed + 7919ull * idx, Distribution::Normal);
    in.dout = random_dout(s, seed + 104729ull * idx, {});
    SCOPED_TRACE("config #" + std::to_string(idx) + " " + gputest::describe("eager", s));
    RunOptions o;
    o.warmup = 0, o.repeats = 2, o.keep_intermediates = false, o.backward = true;
    RunResult g = run_gpu("eager", s, in, o);
    ASSERT_TRUE(g.ran) << g.error;
    ASSERT_TRUE(g.grad.ran) << g.grad.error;
    ++ran;
    EXPECT_EQ(g.grad.times_ms.size(), 2u);
    // The backward arena counted the plan's allocations: its peak is the memory model's.
    EXPECT_EQ(g.grad.peak_bytes, g.grad.model_bytes);
    const RunResult cpu = cpu_implementation("eager")->run(s, in, o);
    const RunResult ref = run_reference(s, in, o);
    ASSERT_TRUE(cpu.grad.ran && ref.grad.ran);
    for (int k = 0; k < 4; ++k) {
      const Tensor& gt = *gradient(g.grad, names[k]);
      const Tensor& ct = *gradient(cpu.grad, names[k]);
      const Tensor& rt = *gradient(ref.grad, names[k]);
      ASSERT_EQ(gt.shape, ct.shape) << names[k];
      if (ct.empty()) continue;
      bool finite = true;
      for (float x : gt.data) finite &= std::isfinite(x);
      EXPECT_TRUE(finite) << names[k] << " has NaN/Inf (unwritten?)";
      if (!finite) continue;
      if (s.dtype == DType::F32) {
        const double rel = gputest::rel_frobenius(gt, ct);
        EXPECT_LE(rel, 1e-5) << names[k] << ": relative Frobenius GPU vs CPU";
        EXPECT_LE(gputest::rel_frobenius(gt, rt), gradient_bound_fp32(gputest::rel_frobenius(ct, rt)) + 1e-6)
            << names[k];
        continue;
      }
      const gputest::UlpCount u = gputest::ulp_count(s.dtype, gt, ct, 2);
      ulps[k].add(u);
      const double err = max_abs_diff(gt, rt), bound = gradient_bound(max_abs_diff(ct, rt), s.dtype, max_abs(rt));
      EXPECT_LE(err, bound) << names[k] << ": max|GPU - fp64| " << err << ", the rule's bound " << bound;
    }
  }
  for (int k = 0; k < 4; ++k)
    std::printf("[ attnscope ] eager backward %s vs CPU: %.4f%% of %lld within 2 ulps (worst %lld)\n", names[k],
                100.0 * ulps[k].fraction(), static_cast<long long>(ulps[k].total),
                static_cast<long long>(ulps[k].worst));
  EXPECT_GE(ran, n / 2) << "too few configurations ran";
  for (int k = 0; k < 3; ++k) EXPECT_GE(ulps[k].fraction(), 0.99) << names[k] << " GPU vs CPU within 2 ulps";
}

// Packed sequences on the GPU (FA2's varlen semantics through the kernels' sequence bounds): 4
// sequences of different lengths in one row, forward and backward through flash2 and sink, against
// fp64 by FA2's rule (the CPU eager's error as the baseline) and against the CPU version (ULPs; the
// GPU tiles the packed row where the CPU version tiles each sequence from its own first key, so only
// fp32 accumulation orders differ). Causal, with a sliding window, with sinks; bf16 and fp16.
TEST(GpuVarlen, FourPackedSequencesForwardAndBackward) {
  ATTNSCOPE_REQUIRE_GPU();
  struct Case {
    std::vector<int> cu;
    int hq, hkv, d;
    DType dt;
    int window;
    bool sinks;
  };
  const Case cases[] = {{{0, 100, 117, 300, 381}, 4, 2, 64, DType::BF16, 0, false},
                        {{0, 64, 200, 201, 333}, 4, 4, 128, DType::F16, 0, false},
                        {{0, 150, 170, 330, 400}, 8, 2, 64, DType::BF16, 48, true},
                        {{0, 31, 31, 260, 290}, 2, 1, 96, DType::BF16, 0, true}};
  const char* names[] = {"dq", "dk", "dv", "dsinks"};
  gputest::UlpCount out_ulps, grad_ulps;
  int ran = 0;
  for (const Case& c : cases) {
    LayerSpec s;
    s.batch = 1, s.cu_seqlens = c.cu, s.seq_q = s.seq_k = c.cu.back();
    s.heads_q = c.hq, s.heads_kv = c.hkv, s.head_dim = s.head_dim_v = c.d, s.dtype = c.dt;
    s.causal = true, s.sliding_window = c.window, s.sinks = c.sinks;
    if (c.sinks) s.softmax_dtype = s.dtype;
    ASSERT_EQ(s.validate(), "");
    ASSERT_TRUE(plugin().api->supports && plugin().api->supports("flash2", "packed"));
    Inputs in = random_inputs(s, 11 + ran, Distribution::Normal);
    in.dout = random_dout(s, 13 + ran, {});
    RunOptions o;
    o.warmup = 0, o.repeats = 1, o.keep_intermediates = false, o.backward = true;
    const RunResult ref = run_reference(s, in, o);
    LayerSpec eager_spec = s;
    eager_spec.softmax_dtype = DType::F32;
    const RunResult eager = cpu_implementation("eager")->run(eager_spec, in, o);
    ASSERT_TRUE(ref.grad.ran && eager.grad.ran);
    for (const char* impl : {"flash2", "sink"}) {
      if (c.sinks && std::string(impl) == "flash2") continue;  // flash2 refuses sinks
      const Verdict v = plugin().api->check(impl, s, plugin().dev);
      if (!v.supported) continue;
      SCOPED_TRACE(gputest::describe(impl, s) + " cu_seqlens of " + std::to_string(s.packed_count()));
      const RunResult g = run_gpu(impl, s, in, o);
      ASSERT_TRUE(g.ran) << g.error;
      if (g.grad.error.find("not compiled") != std::string::npos) continue;
      ASSERT_TRUE(g.grad.ran) << g.grad.error;
      ++ran;
      const RunResult cpu = cpu_implementation(impl)->run(s, in, o);
      ASSERT_TRUE(cpu.ran && cpu.grad.ran);
      for (float x : g.out.data) ASSERT_TRUE(std::isfinite(x)) << "out has NaN/Inf (unwritten?)";
      const double out_err = max_abs_diff(g.out, ref.out);
      EXPECT_LE(out_err, fa2_bound(max_abs_diff(eager.out, ref.out))) << "out: max|GPU - fp64| " << out_err;
      const gputest::UlpCount uo = gputest::ulp_count(s.dtype, g.out, cpu.out, 2);
      out_ulps.add(uo);
      for (int k = 0; k < 4; ++k) {
        const Tensor& gt = *gradient(g.grad, names[k]);
        if (gt.empty()) continue;
        const Tensor& rt = *gradient(ref.grad, names[k]);
        for (float x : gt.data) ASSERT_TRUE(std::isfinite(x)) << names[k] << " has NaN/Inf (unwritten?)";
        const double err = max_abs_diff(gt, rt);
        const double bound = gradient_bound(max_abs_diff(*gradient(eager.grad, names[k]), rt), s.dtype, max_abs(rt));
        EXPECT_LE(err, bound) << names[k] << ": max|GPU - fp64| " << err << ", FA2's bound " << bound;
        if (k < 3) {
          const gputest::UlpCount u = gputest::ulp_count(s.dtype, gt, *gradient(cpu.grad, names[k]), 2);
          grad_ulps.add(u);
        }
      }
    }
  }
  std::printf("[ attnscope ] varlen: %d runs; out vs CPU %.4f%%, gradients vs CPU %.4f%% within 2 ulps\n", ran,
              100.0 * out_ulps.fraction(), 100.0 * grad_ulps.fraction());
  EXPECT_GE(ran, 4) << "too few packed runs (flash2 and sink on 4 layers, where compiled)";
  EXPECT_GE(out_ulps.fraction(), 0.99);
  EXPECT_GE(grad_ulps.fraction(), 0.99);
}

// sdpa:math's backward is not on the GPU: it says why, in the gradient's error, and the forward runs.
// sdpa:cudnn's backward: cuDNN's backward graph as torch builds it, against fp64 by FlashAttention's
// rule per gradient (the CPU eager's error as the baseline; cuDNN has no CPU version). Causal, GQA,
// padding masks (a bias) and both dtypes; the backward's peak is its arena's, its model printed.
TEST(GpuBackward, CudnnPassesTheRule) {
  ATTNSCOPE_REQUIRE_GPU();
  const char* env = std::getenv("ATTNSCOPE_GPU_SEED");
  const uint64_t seed = env && *env ? std::strtoull(env, nullptr, 10) : std::random_device{}();
  std::printf("[ attnscope ] cudnn backward seed = %llu\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint64_t>(n)); };
  const int n = std::getenv("ATTNSCOPE_GPU_SMALL") ? 3 : 10;
  int ran = 0;
  const char* names[] = {"dq", "dk", "dv"};
  for (int idx = 0; idx < 10 * n && ran < n; ++idx) {
    LayerSpec s;
    s.dtype = idx % 2 ? DType::BF16 : DType::F16;
    static const int kDims[] = {64, 128};
    s.head_dim = s.head_dim_v = kDims[pick(2)];
    s.heads_kv = 1 + pick(2);
    s.heads_q = s.heads_kv * (1 + pick(3));
    s.batch = 1 + pick(2);
    s.seq_q = s.seq_k = 64 + pick(300);
    s.causal = pick(2);
    if (pick(4) == 0) {
      s.mask = MaskKind::Padding;
      s.kv_lengths.resize(s.batch);
      for (int& l : s.kv_lengths) l = 1 + pick(s.seq_k);
    }
    if (!plugin().api->check("sdpa:cudnn", s, plugin().dev).supported) continue;
    Inputs in = random_inputs(s, seed + 7919ull * idx, Distribution::Normal);
    in.dout = random_dout(s, seed + 104729ull * idx, {});
    SCOPED_TRACE("config #" + std::to_string(idx) + " " + gputest::describe("sdpa:cudnn", s));
    RunOptions o;
    o.warmup = 1, o.repeats = 2, o.keep_intermediates = false, o.backward = true;
    RunResult g = run_gpu("sdpa:cudnn", s, in, o);
    ASSERT_TRUE(g.ran) << g.error;
    ASSERT_TRUE(g.grad.ran) << g.grad.error;
    ++ran;
    EXPECT_EQ(g.grad.times_ms.size(), 2u);
    EXPECT_FALSE(g.grad.kernels.empty()) << "no backward kernels traced";
    std::printf("[ attnscope ] cudnn backward %s: peak %lld B, model %lld B\n", gputest::describe("sdpa:cudnn", s).c_str(),
                static_cast<long long>(g.grad.peak_bytes), static_cast<long long>(g.grad.model_bytes));
    const RunResult ref = run_reference(s, in, o);
    LayerSpec eager_spec = s;
    eager_spec.softmax_dtype = DType::F32;
    const RunResult eager = cpu_implementation("eager")->run(eager_spec, in, o);
    ASSERT_TRUE(ref.grad.ran && eager.grad.ran);
    for (int k = 0; k < 3; ++k) {
      const Tensor& gt = *gradient(g.grad, names[k]);
      const Tensor& rt = *gradient(ref.grad, names[k]);
      const Tensor& et = *gradient(eager.grad, names[k]);
      ASSERT_EQ(gt.shape, rt.shape) << names[k];
      for (float x : gt.data) ASSERT_TRUE(std::isfinite(x)) << names[k] << " has NaN/Inf (unwritten?)";
      const double err = max_abs_diff(gt, rt), bound = gradient_bound(max_abs_diff(et, rt), s.dtype, max_abs(rt));
      EXPECT_LE(err, bound) << names[k] << ": max|GPU - fp64| " << err << ", FA2's bound " << bound;
    }
  }
  if (ran == 0) {
    LayerSpec s;
    s.dtype = DType::BF16;
    GTEST_SKIP() << "sdpa:cudnn refused: " << plugin().api->check("sdpa:cudnn", s, plugin().dev).first_error();
  }
  EXPECT_GE(ran, n / 2) << "too few configurations ran";
}

// SDPA's math backend under autograd on the GPU (torch_math_backward_plan: cuBLAS fp32 GEMMs, the
// torch-like kernels) against the CPU sdpa:math backward (fp32 throughout, one rounding per gradient:
// the two differ by summation order only, an ulp at most on an element) and fp64 by the rule; the
// backward arena's peak is the plan's.
TEST(GpuBackward, MathMatchesItsCpuVersionAndTheRule) {
  ATTNSCOPE_REQUIRE_GPU();
  const char* env = std::getenv("ATTNSCOPE_GPU_SEED");
  const uint64_t seed = env && *env ? std::strtoull(env, nullptr, 10) : std::random_device{}();
  std::printf("[ attnscope ] math backward seed = %llu\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint64_t>(n)); };
  const int n = std::getenv("ATTNSCOPE_GPU_SMALL") ? 3 : 10;
  int ran = 0;
  const char* names[] = {"dq", "dk", "dv"};
  gputest::UlpCount ulps[3];
  for (int idx = 0; idx < 10 * n && ran < n; ++idx) {
    LayerSpec s;
    const int dt = idx < 3 ? idx : pick(3);
    s.dtype = dt == 0 ? DType::BF16 : dt == 1 ? DType::F16 : DType::F32;
    static const int kDims[] = {32, 40, 64, 128};
    s.head_dim = s.head_dim_v = kDims[pick(4)];
    s.heads_kv = 1 + pick(2);
    s.heads_q = s.heads_kv * (1 + pick(3));
    s.batch = 1 + pick(2);
    s.seq_q = 17 + pick(200);
    s.seq_k = pick(3) ? s.seq_q : 17 + pick(200);
    s.causal = pick(2);
    if (pick(4) == 0) s.sliding_window = 16 + pick(60), s.causal = true;
    if (pick(5) == 0) {
      s.mask = MaskKind::Padding;
      s.kv_lengths.resize(s.batch);
      for (int& l : s.kv_lengths) l = pick(s.seq_k + 1);
    }
    if (!plugin().api->check("sdpa:math", s, plugin().dev).supported) continue;
    Inputs in = random_inputs(s, seed + 7919ull * idx, Distribution::Normal);
    in.dout = random_dout(s, seed + 104729ull * idx, attended_rows(s, in));
    SCOPED_TRACE("config #" + std::to_string(idx) + " " + gputest::describe("sdpa:math", s));
    RunOptions o;
    o.warmup = 0, o.repeats = 2, o.keep_intermediates = false, o.backward = true;
    RunResult g = run_gpu("sdpa:math", s, in, o);
    ASSERT_TRUE(g.ran) << g.error;
    ASSERT_TRUE(g.grad.ran) << g.grad.error;
    ++ran;
    EXPECT_EQ(g.grad.times_ms.size(), 2u);
    EXPECT_EQ(g.grad.peak_bytes, g.grad.model_bytes);
    const RunResult cpu = cpu_implementation("sdpa:math")->run(s, in, o);
    const RunResult ref = run_reference(s, in, o);
    LayerSpec eager_spec = s;
    eager_spec.softmax_dtype = DType::F32;
    const RunResult eager = cpu_implementation("eager")->run(eager_spec, in, o);
    ASSERT_TRUE(cpu.grad.ran && ref.grad.ran && eager.grad.ran);
    for (int k = 0; k < 3; ++k) {
      const Tensor& gt = *gradient(g.grad, names[k]);
      const Tensor& ct = *gradient(cpu.grad, names[k]);
      const Tensor& rt = *gradient(ref.grad, names[k]);
      ASSERT_EQ(gt.shape, ct.shape) << names[k];
      for (float x : gt.data) ASSERT_TRUE(std::isfinite(x)) << names[k] << " has NaN/Inf (unwritten?)";
      if (s.dtype == DType::F32) {
        EXPECT_LE(gputest::rel_frobenius(gt, ct), 1e-5) << names[k] << ": relative Frobenius GPU vs CPU";
        continue;
      }
      ulps[k].add(gputest::ulp_count(s.dtype, gt, ct, 1));
      const double err = max_abs_diff(gt, rt);
      const double bound = gradient_bound(max_abs_diff(*gradient(eager.grad, names[k]), rt), s.dtype, max_abs(rt));
      EXPECT_LE(err, bound) << names[k] << ": max|GPU - fp64| " << err << ", the rule's bound " << bound;
    }
  }
  for (int k = 0; k < 3; ++k)
    std::printf("[ attnscope ] math backward %s vs CPU: %.4f%% of %lld within 1 ulp (worst %lld)\n", names[k],
                100.0 * ulps[k].fraction(), static_cast<long long>(ulps[k].total), static_cast<long long>(ulps[k].worst));
  EXPECT_GE(ran, n / 2) << "too few configurations ran";
  for (int k = 0; k < 3; ++k) EXPECT_GE(ulps[k].fraction(), 0.999) << names[k] << " GPU vs CPU within 1 ulp";
}

}  // namespace
}  // namespace attnscope
