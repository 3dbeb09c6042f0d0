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

double max_abs(const Tensor& a) {
  double m = 0;
  for (float x : a.data) m = std::max(m, std::fabs(double(x)));
  return m;
}

// What a GPU backward is judged against: the fp64 reference, and eager with an fp32 softmax in the
// same dtype (FlashAttention's rule takes its error as the baseline).
struct Baselines {
  RunResult ref, eager;
};
Baselines baselines(const LayerSpec& s, const Inputs& in, const RunOptions& o) {
  Baselines b;
  b.ref = run_reference(s, in, o);
  LayerSpec e = s;
  e.softmax_dtype = DType::F32;
  b.eager = cpu_implementation("eager")->run(e, in, o);
  EXPECT_TRUE(b.ref.grad.ran && b.eager.grad.ran);
  return b;
}

// Gradient `name` of a GPU run: written everywhere (a NaN/Inf is a poisoned element left unwritten)
// and within FlashAttention's bound of fp64 given the baseline's error (kernels/acceptance.h
// gradient_baseline). False after a NaN/Inf.
bool expect_rule(const Gradients& g, const Gradients& ref, double baseline, const char* name, DType dt) {
  const Tensor& gt = *gradient(g, name);
  const Tensor& rt = *gradient(ref, name);
  for (float x : gt.data)
    if (!std::isfinite(x)) {
      ADD_FAILURE() << name << " has NaN/Inf (unwritten?)";
      return false;
    }
  const double err = max_abs_diff(gt, rt);
  const double bound = gradient_bound(baseline, dt, max_abs(rt));
  EXPECT_LE(err, bound) << name << ": max|GPU - fp64| " << err << ", the rule's bound " << bound;
  return true;
}

// The seed of a randomised test (ATTNSCOPE_GPU_SEED, else fresh), printed.
uint64_t test_seed(const char* what) {
  const char* env = std::getenv("ATTNSCOPE_GPU_SEED");
  const uint64_t seed = env && *env ? std::strtoull(env, nullptr, 10) : std::random_device{}();
  std::printf("[ attnscope ] %s seed = %llu\n", what, static_cast<unsigned long long>(seed));
  return seed;
}

RunOptions backward_options(int repeats) {
  RunOptions o;
  o.warmup = 0, o.repeats = repeats, o.keep_intermediates = false, o.backward = true;
  return o;
}

// A random layer for the torch plans' backwards: each dtype once first (idx 0, 1, 2: bf16, fp16,
// fp32), a head dim from `dims`, GQA, Nq != Nk, causal, windows, padding (down to a sequence with no
// key when `empty_rows`).
template <class Pick>
LayerSpec draw_plan_layer(Pick& pick, int idx, const std::vector<int>& dims, bool empty_rows) {
  LayerSpec s;
  const int dt = idx < 3 ? idx : pick(3);
  s.dtype = dt == 0 ? DType::BF16 : dt == 1 ? DType::F16 : DType::F32;
  s.head_dim = s.head_dim_v = dims[static_cast<size_t>(pick(static_cast<int>(dims.size())))];
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
    for (int& l : s.kv_lengths) l = empty_rows ? pick(s.seq_k + 1) : 1 + pick(s.seq_k);
  }
  return s;
}

// A torch plan's backward (eager, sdpa:math) on the GPU, two timed repeats: forward and backward ran,
// and the backward arena, which counted the plan's allocations, peaked at the memory model.
RunResult run_plan_backward(const std::string& impl, const LayerSpec& s, const Inputs& in) {
  RunResult g = run_gpu(impl, s, in, backward_options(2));
  EXPECT_TRUE(g.ran) << g.error;
  EXPECT_TRUE(g.grad.ran) << g.grad.error;
  EXPECT_EQ(g.grad.times_ms.size(), 2u);
  EXPECT_EQ(g.grad.peak_bytes, g.grad.model_bytes);
  return g;
}

TEST(GpuBackward, FlashAndSinkMatchTheirCpuVersionsAndTheRule) {
  ATTNSCOPE_REQUIRE_GPU();
  const uint64_t seed = test_seed("backward");
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
    const RunOptions o = backward_options(1);
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
    ASSERT_TRUE(cpu.grad.ran);
    const Baselines b = baselines(s, in, o);
    for (int k = 0; k < 4; ++k) {
      if (gradient(g.grad, names[k])->empty()) continue;
      if (!expect_rule(g.grad, b.ref.grad, gradient_baseline(names[k], s, in, b.eager, b.ref), names[k], s.dtype)) return;
      ulps[k].add(gputest::ulp_count(s.dtype, *gradient(g.grad, names[k]), *gradient(cpu.grad, names[k]), 2));
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
  const uint64_t seed = test_seed("eager backward");
  std::mt19937_64 rng(seed);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint64_t>(n)); };
  const int n = std::getenv("ATTNSCOPE_GPU_SMALL") ? 3 : 12;
  int ran = 0;
  gputest::UlpCount ulps[4];
  const char* names[] = {"dq", "dk", "dv", "dsinks"};
  for (int idx = 0; idx < 10 * n && ran < n; ++idx) {
    LayerSpec s = draw_plan_layer(pick, idx, {32, 40, 64, 111, 128}, false);
    if (pick(5) == 0) s.softcap = 20.0f;
    if (idx % 3 == 1) s.sinks = true, s.softmax_dtype = pick(4) ? s.dtype : DType::F32;  // GPT-OSS's mostly
    const Verdict v = plugin().api->check("eager", s, plugin().dev);
    if (!v.supported) continue;
    Inputs in = random_inputs(s, seed + 7919ull * idx, Distribution::Normal);
    in.dout = random_dout(s, seed + 104729ull * idx, {});
    SCOPED_TRACE("config #" + std::to_string(idx) + " " + gputest::describe("eager", s));
    const RunOptions o = backward_options(2);
    const RunResult g = run_plan_backward("eager", s, in);
    if (!g.grad.ran) return;
    ++ran;
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
      ulps[k].add(gputest::ulp_count(s.dtype, gt, ct, 2));
      // its own CPU version's error is the baseline
      expect_rule(g.grad, ref.grad, max_abs_diff(*gradient(cpu.grad, names[k]), *gradient(ref.grad, names[k])),
                  names[k], s.dtype);
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
    const RunOptions o = backward_options(1);
    const Baselines b = baselines(s, in, o);
    const RunResult& ref = b.ref;
    const RunResult& eager = b.eager;
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
        if (!expect_rule(g.grad, ref.grad, gradient_baseline(names[k], s, in, eager, ref), names[k], s.dtype)) return;
        if (k < 3) grad_ulps.add(gputest::ulp_count(s.dtype, gt, *gradient(cpu.grad, names[k]), 2));
      }
    }
  }
  std::printf("[ attnscope ] varlen: %d runs; out vs CPU %.4f%%, gradients vs CPU %.4f%% within 2 ulps\n", ran,
              100.0 * out_ulps.fraction(), 100.0 * grad_ulps.fraction());
  EXPECT_GE(ran, 4) << "too few packed runs (flash2 and sink on 4 layers, where compiled)";
  EXPECT_GE(out_ulps.fraction(), 0.99);
  EXPECT_GE(grad_ulps.fraction(), 0.99);
}

// sdpa:cudnn's backward: cuDNN's backward graph as torch builds it, against fp64 by FlashAttention's
// rule per gradient (the CPU eager's error as the baseline; cuDNN has no CPU version). Causal, GQA,
// padding masks (a bias) and both dtypes; the backward's peak is its arena's, its model printed.
TEST(GpuBackward, CudnnPassesTheRule) {
  ATTNSCOPE_REQUIRE_GPU();
  const uint64_t seed = test_seed("cudnn backward");
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
    RunOptions o = backward_options(2);
    o.warmup = 1;
    RunResult g = run_gpu("sdpa:cudnn", s, in, o);
    ASSERT_TRUE(g.ran) << g.error;
    ASSERT_TRUE(g.grad.ran) << g.grad.error;
    ++ran;
    EXPECT_EQ(g.grad.times_ms.size(), 2u);
    // Under compute-sanitizer CUPTI is off (the forward says so): nothing to trace then.
    if (!g.verdict.has("gpu.cupti_off")) {
      EXPECT_FALSE(g.grad.kernels.empty()) << "no backward kernels traced";
    }
    std::printf("[ attnscope ] cudnn backward %s: peak %lld B, model %lld B\n", gputest::describe("sdpa:cudnn", s).c_str(),
                static_cast<long long>(g.grad.peak_bytes), static_cast<long long>(g.grad.model_bytes));
    const Baselines b = baselines(s, in, o);
    for (int k = 0; k < 3; ++k) {
      ASSERT_EQ(gradient(g.grad, names[k])->shape, gradient(b.ref.grad, names[k])->shape) << names[k];
      if (!expect_rule(g.grad, b.ref.grad, gradient_baseline(names[k], s, in, b.eager, b.ref), names[k], s.dtype)) return;
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
  const uint64_t seed = test_seed("math backward");
  std::mt19937_64 rng(seed);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint64_t>(n)); };
  const int n = std::getenv("ATTNSCOPE_GPU_SMALL") ? 3 : 10;
  int ran = 0;
  const char* names[] = {"dq", "dk", "dv"};
  gputest::UlpCount ulps[3];
  for (int idx = 0; idx < 10 * n && ran < n; ++idx) {
    const LayerSpec s = draw_plan_layer(pick, idx, {32, 40, 64, 128}, true);
    if (!plugin().api->check("sdpa:math", s, plugin().dev).supported) continue;
    Inputs in = random_inputs(s, seed + 7919ull * idx, Distribution::Normal);
    in.dout = random_dout(s, seed + 104729ull * idx, attended_rows(s, in));
    SCOPED_TRACE("config #" + std::to_string(idx) + " " + gputest::describe("sdpa:math", s));
    const RunOptions o = backward_options(2);
    const RunResult g = run_plan_backward("sdpa:math", s, in);
    if (!g.grad.ran) return;
    ++ran;
    const RunResult cpu = cpu_implementation("sdpa:math")->run(s, in, o);
    ASSERT_TRUE(cpu.grad.ran);
    const Baselines b = baselines(s, in, o);
    for (int k = 0; k < 3; ++k) {
      const Tensor& gt = *gradient(g.grad, names[k]);
      const Tensor& ct = *gradient(cpu.grad, names[k]);
      ASSERT_EQ(gt.shape, ct.shape) << names[k];
      if (s.dtype == DType::F32) {
        EXPECT_LE(gputest::rel_frobenius(gt, ct), 1e-5) << names[k] << ": relative Frobenius GPU vs CPU";
        continue;
      }
      if (!expect_rule(g.grad, b.ref.grad, gradient_baseline(names[k], s, in, b.eager, b.ref), names[k], s.dtype)) return;
      ulps[k].add(gputest::ulp_count(s.dtype, gt, ct, 1));
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
