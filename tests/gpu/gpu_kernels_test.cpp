// GPU backend tests: FA2's acceptance rule over a random sweep (seed printed), GPU vs CPU versions
// in ULPs, the probe against the kernel's own output, verdict refusals, and error paths.
// Environment: ATTNSCOPE_GPU_SEED fixes the sweep seed, ATTNSCOPE_GPU_SWEEP the number of
// configurations (default 240), ATTNSCOPE_GPU_SMALL=1 keeps every shape tiny (compute-sanitizer).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <random>
#include <sstream>

#include "kernels/torch_plan.h"
#include "tests/gpu/gpu_compare.h"
#include "tests/gpu/gpu_plugin.h"

namespace attnscope {
namespace {

using gputest::plugin;
using gputest::run_gpu;

// Releases the plugin's handle and stream at the end (compute-sanitizer's leak check sees the rest).
class ClosePlugin : public ::testing::Environment {
 public:
  void TearDown() override {
    if (plugin().opened) plugin().api->close();
  }
};
const auto* const kClose = ::testing::AddGlobalTestEnvironment(new ClosePlugin);

uint64_t env_u64(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : fallback;
}
bool small_only() { return env_u64("ATTNSCOPE_GPU_SMALL", 0) != 0; }

uint64_t sweep_seed() {
  static const uint64_t seed = [] {
    uint64_t s = env_u64("ATTNSCOPE_GPU_SEED", std::random_device{}());
    std::printf("[ attnscope ] GPU sweep seed = %llu (set ATTNSCOPE_GPU_SEED to repeat)\n",
                static_cast<unsigned long long>(s));
    return s;
  }();
  return seed;
}

RunOptions one_shot() {
  RunOptions o;
  o.warmup = 0;
  o.repeats = 1;
  o.keep_intermediates = false;
  return o;
}

// A random explicit mask [B, 1, Nq, Nk]: boolean (80% attend) or additive (N(0, 2)) in the model
// dtype, as a model hands it over (torch's fused backends take an additive mask only in the query's
// dtype): the fp64 reference then sees the bias the kernels see (an fp32 mask rounded by cuDNN alone
// put 0.35% into its LSE at |bias| ~ 6).
void add_random_mask(LayerSpec& s, Inputs& in, std::mt19937_64& rng, bool boolean) {
  s.mask = boolean ? MaskKind::ExplicitBool : MaskKind::ExplicitAdditive;
  in.mask = Tensor(DType::F32, {s.batch, 1, s.seq_q, s.seq_k});
  std::uniform_real_distribution<float> u(0, 1);
  std::normal_distribution<float> n(0, 2);
  for (float& x : in.mask.data) x = boolean ? (u(rng) < 0.8f ? 1.0f : 0.0f) : round_to(s.dtype, n(rng));
}

struct Config {
  std::string impl;
  LayerSpec spec;
  int explicit_mask = 0;  // 0 none, 1 bool, 2 additive
};

Config draw(std::mt19937_64& rng, int idx) {
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint64_t>(n)); };
  Config c;
  static const char* kImpls[] = {"flash2", "sink", "sdpa:efficient"};
  c.impl = kImpls[idx % 3];
  const bool eff = c.impl == "sdpa:efficient";
  LayerSpec& s = c.spec;
  s.dtype = pick(2) ? DType::BF16 : DType::F16;
  if (eff && pick(5) == 0) s.dtype = DType::F32;
  static const int kDims[] = {32, 40, 59, 64, 80, 96, 111, 128, 192, 256};
  static const int kEffDims[] = {32, 40, 64, 80, 96, 128, 192, 256};
  s.head_dim = eff ? kEffDims[pick(8)] : kDims[pick(10)];
  s.head_dim_v = s.head_dim;
  const bool big = !small_only() && idx % 45 == 7;  // a few long sequences (the fp64 reference is CPU)
  const int group = eff ? 1 : (1 << pick(4));         // GQA 1/2/4/8 (SDPA's efficient kernel has no GQA)
  s.heads_kv = big ? 1 : 1 + pick(2);
  s.heads_q = s.heads_kv * group;
  s.batch = big ? 1 : 1 + pick(2);
  const int maxn = small_only() ? 80 : 300;
  s.seq_q = big ? 1 + pick(4096) : 1 + pick(maxn);
  s.seq_k = pick(2) ? s.seq_q : (big ? 1 + pick(4096) : 1 + pick(maxn));
  if (big && pick(2)) s.seq_q = 1 + pick(64);  // decode-like: few queries, many keys
  s.causal = pick(2);
  s.align = (c.impl != "flash2" && c.impl != "sink" && pick(2)) ? CausalAlign::TopLeft : CausalAlign::BottomRight;
  const int w = pick(10);
  if (w < 2) {  // FA2 (left, right) window
    s.window_left = pick(s.seq_k + 1);
    s.window_right = pick(3) ? pick(s.seq_k + 1) : -1;
  } else if (w < 4) {  // HF sliding window
    s.sliding_window = 1 + pick(std::max(1, s.seq_k));
    s.causal = true;
  }
  if (c.impl == "sink") s.sinks = pick(7) != 0;
  if (!eff && pick(7) == 0) s.softcap = 30.0f;
  if (pick(10) == 0) {
    s.mask = MaskKind::Padding;
    s.kv_lengths.resize(s.batch);
    for (int& l : s.kv_lengths) l = pick(s.seq_k + 1);
  }
  if (eff && s.mask == MaskKind::None && pick(4) == 0) c.explicit_mask = 1 + pick(2);
  return c;
}

// The flash kernel path for the tests that follow: "sm80" forces the mma.sync kernel on an sm90 GPU
// (ATTNSCOPE_FLASH_PATH, read at each run); "" lets the plugin choose (the wgmma kernel on 9.x).
class FlashPathScope {
 public:
  explicit FlashPathScope(const std::string& path) {
    if (path.empty()) unsetenv("ATTNSCOPE_FLASH_PATH");
    else setenv("ATTNSCOPE_FLASH_PATH", path.c_str(), 1);
  }
  ~FlashPathScope() { unsetenv("ATTNSCOPE_FLASH_PATH"); }
};
// Both kernel paths where the GPU has two (9.x), else the one it has.
std::vector<std::string> flash_paths() {
  if (plugin().dev.cc_major == 9) return {"", "sm80"};
  return {""};
}

void sweep(const std::string& path) {
  FlashPathScope scope(path);
  const uint64_t seed = sweep_seed();
  // ATTNSCOPE_GPU_SWEEP configurations on the plugin's path, ATTNSCOPE_GPU_SWEEP_SM80 on the forced one.
  const uint64_t dflt = env_u64("ATTNSCOPE_GPU_SWEEP", small_only() ? 30 : 240);
  const int n = static_cast<int>(path.empty() ? dflt : env_u64("ATTNSCOPE_GPU_SWEEP_SM80", dflt));
  std::mt19937_64 rng(seed);
  int ran = 0, refused = 0;
  // flash2, sink, efficient vs their CPU versions, [impl][0: bf16, 1: fp16]. Apart because an fp16 ulp
  // is 8x finer than a bf16 one while the tensor cores' fp32 accumulation (not IEEE-ordered) errs the
  // same: on the H200 (probe of stop 17, 120 + 20 configurations) every configuration under 99.9%
  // within 2 ulps was fp16 (99.82-99.88%), bf16 ones were all above.
  gputest::UlpCount fused_ulps[3][2];
  int per_impl[3] = {0, 0, 0};
  for (int idx = 0; ran < n && idx < 20 * n; ++idx) {
    Config c = draw(rng, idx);
    Inputs in = random_inputs(c.spec, seed + 1000003ull * idx, Distribution::Normal);
    if (c.explicit_mask) add_random_mask(c.spec, in, rng, c.explicit_mask == 1);
    const Verdict v = plugin().api->check(c.impl, c.spec, plugin().dev);
    if (!v.supported) {
      ++refused;
      continue;
    }
    ++ran;
    const std::string what = "config #" + std::to_string(idx) + " " + gputest::describe(c.impl, c.spec) +
                             " seed=" + std::to_string(seed);
    SCOPED_TRACE(what);
    RunResult g = run_gpu(c.impl, c.spec, in, one_shot());
    ASSERT_TRUE(g.ran) << g.error;
    RunOptions o = one_shot();
    RunResult ref = run_reference(c.spec, in, o);
    LayerSpec eager_spec = c.spec;
    eager_spec.softmax_dtype = DType::F32;  // the rule's baseline: eager with an fp32 softmax
    RunResult eager = cpu_implementation("eager")->run(eager_spec, in, o);
    const gputest::ErrStats e = gputest::error_vs(c.spec, in, g, ref, true);
    const double eager_err = gputest::max_abs_visible(c.spec, in, eager.out, ref.out);
    EXPECT_EQ(e.nan, 0) << "NaN/Inf in the output or LSE";
    EXPECT_EQ(e.empty_bad, 0) << "rows without a key must output 0";
    EXPECT_EQ(e.lse_bad_empty, 0) << "rows without a key must have LSE -inf";
    if (c.spec.dtype == DType::F32) {
      EXPECT_LE(e.max_abs, 1e-4) << "fp32 error vs fp64";
    } else {
      EXPECT_LE(e.max_abs, 2 * eager_err + 1e-5) << "FA2 rule: max|out - fp64| = " << e.max_abs
                                                 << ", eager (fp32 softmax) = " << eager_err;
    }
    EXPECT_LE(e.lse_rel, 1e-3) << "LSE relative error";
    // The same algorithm on the CPU (same tiles and rounding points).
    RunOptions same_tiles = o;
    same_tiles.kv_tile = g.kv_tile;
    RunResult cpu = cpu_implementation(c.impl)->run(c.spec, in, same_tiles);
    if (c.spec.dtype == DType::F32) {  // fp32: ULPs of fp32 measure summation order; relative error
      EXPECT_LE(gputest::rel_frobenius(g.out, cpu.out), 1e-5) << "fp32 GPU vs CPU " << c.impl;
      continue;
    }
    const int k = c.impl == "flash2" ? 0 : c.impl == "sink" ? 1 : 2;
    const gputest::UlpCount u = gputest::ulp_count(c.spec.dtype, g.out, cpu.out, 2);
    fused_ulps[k][c.spec.dtype == DType::F16 ? 1 : 0].add(u);
    ++per_impl[k];
    // A tiny layer (Nq 1: 512 elements) may not reach 99% on a handful of elements: 16 may differ.
    EXPECT_TRUE(u.fraction() >= 0.99 || u.total - u.within <= 16)
        << "GPU vs CPU " << c.impl << ": " << u.within << "/" << u.total << " within 2 ulps, worst " << u.worst
        << " at " << u.first_bad;
    if (u.fraction() < 0.999)  // what pulls the aggregate below its bound: the configuration, named
      std::printf("[ attnscope ] below 99.9%%: %s: %.4f%% within 2 ulps, worst %lld at %lld\n", what.c_str(),
                  100.0 * u.fraction(), static_cast<long long>(u.worst), static_cast<long long>(u.first_bad));
  }
  std::printf("[ attnscope ] sweep (flash path %s): %d configurations ran (flash2 %d, sink %d, efficient %d), %d "
              "refused draws\n",
              path.empty() ? "chosen by the plugin" : path.c_str(), ran, per_impl[0], per_impl[1], per_impl[2], refused);
  const char* names[] = {"flash2", "sink", "efficient"};
  const char* dtypes[] = {"bf16", "fp16"};
  for (int k = 0; k < 3; ++k)
    for (int d = 0; d < 2; ++d)
      std::printf("[ attnscope ] %s vs CPU (%s): %.5f%% of %lld elements within 2 ulps, %.5f%% over %d "
                  "configurations (worst %lld)\n",
                  names[k], dtypes[d], 100.0 * fused_ulps[k][d].fraction(),
                  static_cast<long long>(fused_ulps[k][d].total), 100.0 * fused_ulps[k][d].mean_fraction(),
                  fused_ulps[k][d].configs, static_cast<long long>(fused_ulps[k][d].worst));
  EXPECT_GE(ran, std::min(n, 200));  // the issue's >= 200 random configurations (on the chosen path)
  // bf16: 99.9% for the FA2 kernels, 99% for the memory-efficient one; fp16: 99.8% and 99%. Over a
  // sweep, not a handful: the sanitizer runs' 3 configurations put one small fp16 sink layer at
  // 99.87% of 6432 elements and the aggregate with it (each configuration is held to 99% above).
  // The mean over configurations, not over elements: the fp32 accumulation's order error grows with
  // the keys summed (about Nk x 2^-24 of the sum of |P V| against an fp16 ulp of 2^-11 of the
  // output), so one long fp16 layer sits lower and, by its size, decided an element-weighted figure:
  // stop 19's sink fp16 Nk 3201 draw, 99.69% within 2 ulps on both kernel paths, was 601k of the
  // 624k sink fp16 elements of its sweep (the other 12 sink draws: all above 99.9%).
  if (ran < 30) {
    std::printf("[ attnscope ] %d configurations: aggregate bounds need 30\n", ran);
    return;
  }
  for (int d = 0; d < 2; ++d) {
    const double fused_bound = d == 0 ? 0.999 : 0.998;
    EXPECT_GE(fused_ulps[0][d].mean_fraction(), fused_bound) << "flash2 GPU vs CPU within 2 ulps, " << dtypes[d];
    EXPECT_GE(fused_ulps[1][d].mean_fraction(), fused_bound) << "sink GPU vs CPU within 2 ulps, " << dtypes[d];
    EXPECT_GE(fused_ulps[2][d].mean_fraction(), 0.99) << "efficient GPU vs CPU within 2 ulps, " << dtypes[d];
  }
}

TEST(GpuSweep, AcceptanceRuleAndCpuAgreement) {
  ATTNSCOPE_REQUIRE_GPU();
  for (const std::string& path : flash_paths()) {
    SCOPED_TRACE("flash path " + (path.empty() ? std::string("chosen by the plugin") : path));
    sweep(path);
  }
}

// What a random layer may have (draw_layer).
struct Draw {
  bool fp32 = false;   // fp32 layers too
  bool eager = false;  // GPT-OSS's sinks (either softmax dtype) and Gemma 2's softcap
  std::vector<int> dims = {32, 59, 64, 96, 128, 256};
  int min_seq = 1;
};

// A random layer: dtype, head dims incl. odd ones, GQA, Nq != Nk, causal either alignment, windows,
// padding (some rows with no key) and explicit masks.
LayerSpec draw_layer(std::mt19937_64& rng, Inputs* in, int idx, const Draw& d) {
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint64_t>(n)); };
  LayerSpec s;
  s.dtype = d.fp32 && pick(3) == 0 ? DType::F32 : pick(2) ? DType::BF16 : DType::F16;
  s.head_dim = s.head_dim_v = d.dims[static_cast<size_t>(pick(static_cast<int>(d.dims.size())))];
  s.heads_kv = 1 + pick(2);
  s.heads_q = s.heads_kv * (1 << pick(3));
  s.batch = 1 + pick(2);
  s.seq_q = d.min_seq + pick(small_only() ? 64 : 200);
  s.seq_k = pick(2) ? s.seq_q : d.min_seq + pick(small_only() ? 64 : 260);
  s.causal = pick(2);
  s.align = pick(2) ? CausalAlign::TopLeft : CausalAlign::BottomRight;
  if (pick(4) == 0) s.sliding_window = 1 + pick(s.seq_k), s.causal = true;
  if (d.eager && pick(3) == 0) {  // GPT-OSS: sinks, softmax in the model dtype (or fp32)
    s.sinks = true;
    s.softmax_dtype = pick(2) ? s.dtype : DType::F32;
  }
  if (d.eager && pick(6) == 0) s.softcap = 50.0f;
  *in = random_inputs(s, sweep_seed() + 77 * idx, Distribution::Normal);
  const int m = pick(6);
  if (m == 0) {
    s.mask = MaskKind::Padding;
    s.kv_lengths.resize(s.batch);
    for (int& l : s.kv_lengths) l = pick(s.seq_k + 1);
  } else if (m == 1) {
    add_random_mask(s, *in, rng, pick(2));
  }
  return s;
}

// eager: transformers' eager_attention_forward op by op, against kernels/cpu/eager_cpu.cpp, rounding
// point by point, each step on its own input. Scores and probabilities within 1 ulp. The P·V step is
// cuBLAS's GEMM under torch's default, which lets cuBLAS split the key sum and round the partial sums
// to the model dtype (gputest::split_sum_allowance): P·V of the GPU's own P must be within 1 ulp of
// the CPU's product of that P, or within four such roundings, on every element; the output against
// the CPU's output on the rows whose probabilities all agree, the same on 99% of them. Not the output end to end
// within 1 ulp: ATTNSCOPE_GPU_SEED=1580153624 ATTNSCOPE_GPU_SMALL=1 draws a layer (bf16, D = 256,
// Nq = Nk = 45) whose P·V cuBLAS splits: 4.8% of its outputs 2-4 ulps from the single rounding
// (device run of 2026-12-02), one near zero 14868 ulps (an absolute 0.0005).
TEST(GpuEager, MatchesCpuEagerStepByStep) {
  ATTNSCOPE_REQUIRE_GPU();
  std::mt19937_64 rng(sweep_seed() ^ 0xEA9E5);
  gputest::UlpCount out_all, probs_all, pv_all, pv_one_ulp;
  int64_t rows = 0, rows_apart = 0;
  for (int idx = 0; idx < 36; ++idx) {
    Inputs in;
    const LayerSpec s = draw_layer(rng, &in, idx, Draw{.eager = true});
    SCOPED_TRACE(gputest::describe("eager", s));
    RunOptions o = one_shot();
    o.keep_intermediates = true;
    RunResult g = run_gpu("eager", s, in, o);
    ASSERT_TRUE(g.ran) << g.error;
    RunResult c = cpu_implementation("eager")->run(s, in, o);
    ASSERT_EQ(g.scores.numel(), c.scores.numel());
    ASSERT_EQ(g.probs.numel(), c.probs.numel());
    ASSERT_EQ(g.out.numel(), c.out.numel());
    EXPECT_GE(gputest::ulp_count(s.dtype, g.scores, c.scores, 1).fraction(), 0.99) << "scores";
    const auto up = gputest::ulp_count(s.dtype, g.probs, c.probs, 1);
    EXPECT_GE(up.fraction(), 0.99) << "probs: worst " << up.worst << " ulps at " << up.first_bad;
    probs_all.add(up);
    // The output on the rows whose probabilities agree.
    const std::vector<bool> same_p = gputest::rows_within(s.dtype, g.probs, c.probs, s.seq_k, 1);
    const std::vector<double> allow_c = gputest::split_sum_allowance(s, in, c.probs);
    const auto u = gputest::ulp_count(s.dtype, g.out, c.out, 1, &same_p, s.head_dim_v, &allow_c);
    EXPECT_GE(u.fraction(), 0.99) << "out (rows with the same P): worst " << u.worst << " ulps at " << u.first_bad;
    out_all.add(u);
    const int64_t apart = std::count(same_p.begin(), same_p.end(), false);
    // Flips are rare: most rows must be compared end to end (else the check above says little).
    EXPECT_LE(2 * apart, static_cast<int64_t>(same_p.size())) << apart << " rows with a P apart";
    rows += static_cast<int64_t>(same_p.size());
    rows_apart += apart;
    // The GEMM step on the GPU's own P, every row.
    const Tensor pv = gputest::pv_from_probs(s, in, g.probs);
    const std::vector<double> allow_g = gputest::split_sum_allowance(s, in, g.probs);
    const auto upv = gputest::ulp_count(s.dtype, g.out, pv, 1, nullptr, 1, &allow_g);
    pv_one_ulp.add(gputest::ulp_count(s.dtype, g.out, pv, 1));  // reported: how often cuBLAS split
    EXPECT_EQ(upv.within, upv.total) << "P·V of the GPU's P: worst " << upv.worst << " ulps at " << upv.first_bad;
    pv_all.add(upv);
  }
  std::printf("[ attnscope ] eager vs CPU: probs %.4f%%, out %.4f%% (%lld of %lld rows with a P apart left out), "
              "P·V of the GPU's P %.4f%% within 1 ulp or the split sum's roundings (%.4f%% within 1 ulp)\n",
              100 * probs_all.fraction(), 100 * out_all.fraction(), static_cast<long long>(rows_apart),
              static_cast<long long>(rows), 100 * pv_all.fraction(), 100 * pv_one_ulp.fraction());
}

// The reference of that GEMM step is the CPU eager's own: from the CPU's P it gives the CPU's output
// bit for bit (no GPU needed).
TEST(GpuEager, PvFromProbsIsTheCpuEagersProduct) {
  std::mt19937_64 rng(sweep_seed() ^ 0x9F);
  for (int idx = 0; idx < 12; ++idx) {
    Inputs in;
    const LayerSpec s = draw_layer(rng, &in, idx, Draw{.eager = true});
    SCOPED_TRACE(gputest::describe("eager", s));
    RunOptions o = one_shot();
    o.keep_intermediates = true;
    RunResult c = cpu_implementation("eager")->run(s, in, o);
    ASSERT_TRUE(c.ran) << c.error;
    const Tensor pv = gputest::pv_from_probs(s, in, c.probs);
    ASSERT_EQ(pv.numel(), c.out.numel());
    int64_t differ = 0;
    for (int64_t i = 0; i < pv.numel(); ++i)
      differ += pv.data[i] != c.out.data[i] && !(std::isnan(pv.data[i]) && std::isnan(c.out.data[i]));
    EXPECT_EQ(differ, 0) << "of " << pv.numel();
  }
}

TEST(GpuEager, Fp32CloseToCpu) {
  ATTNSCOPE_REQUIRE_GPU();
  LayerSpec s;
  s.dtype = DType::F32;
  s.batch = 2, s.heads_q = 8, s.heads_kv = 2, s.seq_q = 100, s.seq_k = 130, s.head_dim = s.head_dim_v = 64;
  s.causal = true;
  Inputs in = random_inputs(s, sweep_seed(), Distribution::Normal);
  RunResult g = run_gpu("eager", s, in, one_shot());
  ASSERT_TRUE(g.ran) << g.error;
  RunResult ref = run_reference(s, in, one_shot());
  double num = 0, den = 0;
  for (int64_t i = 0; i < g.out.numel(); ++i) {
    num += std::pow(double(g.out.data[i]) - ref.out.data[i], 2);
    den += std::pow(double(ref.out.data[i]), 2);
  }
  EXPECT_LE(std::sqrt(num / den), 1e-5) << "fp32: relative Frobenius vs fp64";
}

// Probe: O rebuilt from the probe's tiles equals the kernel's O; the probe variant's O is bitwise
// the timed variant's; skipped tiles are marked.
// sdpa:math against the CPU version of torch 2.11's math backend: fp32 throughout, so only the
// GEMMs' summation order differs; outputs agree to the model dtype's last bit almost everywhere.
TEST(GpuMath, MatchesCpuMath) {
  ATTNSCOPE_REQUIRE_GPU();
  std::mt19937_64 rng(sweep_seed() ^ 0x3A7B);
  gputest::UlpCount out_all;
  for (int idx = 0; idx < 30; ++idx) {
    Inputs in;
    const LayerSpec s = draw_layer(rng, &in, idx, Draw{.fp32 = true});
    SCOPED_TRACE(gputest::describe("sdpa:math", s));
    RunOptions o = one_shot();
    o.keep_intermediates = true;
    RunResult g = run_gpu("sdpa:math", s, in, o);
    ASSERT_TRUE(g.ran) << g.error;
    EXPECT_EQ(g.sdpa_backend, "math");
    RunResult c = cpu_implementation("sdpa:math")->run(s, in, o);
    ASSERT_TRUE(c.ran) << c.error;
    if (s.dtype == DType::F32) {
      EXPECT_LE(gputest::rel_frobenius(g.out, c.out), 1e-5);
    } else {
      const auto u = gputest::ulp_count(s.dtype, g.out, c.out, 1);
      out_all.add(u);
      EXPECT_GE(u.fraction(), 0.99) << "out: worst " << u.worst << " ulps at " << u.first_bad;
    }
    // S and P stay fp32: the GEMM order is the only difference.
    ASSERT_EQ(g.scores.dtype, DType::F32);
    ASSERT_EQ(g.probs.numel(), c.probs.numel());
    double worst = 0;
    for (int64_t i = 0; i < g.probs.numel(); ++i)
      worst = std::max(worst, std::fabs(double(g.probs.data[i]) - c.probs.data[i]));
    EXPECT_LE(worst, 1e-5) << "probs";
    // Fully masked rows are 0 (the safe softmax), never NaN.
    for (float x : g.out.data) ASSERT_FALSE(std::isnan(x));
    for (int64_t r = 0; r < g.lse.numel(); ++r) {
      if (std::isfinite(c.lse.data[r])) {
        EXPECT_NEAR(g.lse.data[r], c.lse.data[r], 1e-4 * (1 + std::fabs(c.lse.data[r])));
      }
    }
  }
  std::printf("[ attnscope ] sdpa:math vs CPU: out %.4f%% within 1 ulp\n", 100 * out_all.fraction());
}

// eager and sdpa:math count memory as torch.cuda.max_memory_allocated would: the plan's allocations
// one by one, so the measured peak is the model's, to the byte, and the timeline is torch's.
TEST(GpuTorchPlan, PeakAndTimelineAreTorchs) {
  ATTNSCOPE_REQUIRE_GPU();
  LayerSpec s;
  s.dtype = DType::BF16, s.batch = 2, s.heads_q = 8, s.heads_kv = 2, s.seq_q = s.seq_k = 300;
  s.head_dim = s.head_dim_v = 64, s.causal = true;
  for (bool sinks : {false, true}) {
    s.sinks = sinks;
    s.softmax_dtype = sinks ? DType::BF16 : DType::F32;
    Inputs in = random_inputs(s, 5, Distribution::Normal);
    for (const char* impl : {"eager", "sdpa:math"}) {
      if (sinks && std::string(impl) != "eager") continue;
      SCOPED_TRACE(std::string(impl) + (sinks ? " (sinks)" : ""));
      RunResult r = run_gpu(impl, s, in, one_shot());
      ASSERT_TRUE(r.ran) << r.error;
      const TorchPlan p = std::string(impl) == "eager" ? hf_eager_plan(s) : torch_math_plan(s);
      EXPECT_EQ(r.peak_bytes, p.peak_bytes());
      EXPECT_EQ(r.model_bytes, p.peak_bytes());
      const std::vector<int64_t> trace = p.allocation_trace();
      ASSERT_EQ(r.memory.size(), trace.size());
      for (size_t i = 0; i < trace.size(); ++i) EXPECT_EQ(r.memory[i].bytes, trace[i]) << r.memory[i].what;
      std::printf("[ attnscope ] %s: %s\n", impl, r.kernel_path.c_str());
    }
  }
}

// sdpa:cudnn: torch's graph through the frontend; FlashAttention's acceptance rule against fp64,
// the LSE against the reference's, and sdpa's own choice on Hopper.
TEST(GpuCudnn, AcceptanceRuleAndLse) {
  ATTNSCOPE_REQUIRE_GPU();
  LayerSpec probe;
  probe.dtype = DType::BF16;
  const Verdict cv = plugin().api->check("sdpa:cudnn", probe, plugin().dev);
  if (!cv.supported) {
    std::string why;
    for (const auto& r : cv.reasons)
      if (r.severity == Severity::Error) why = r.text;
    GTEST_SKIP() << why;
  }
  std::mt19937_64 rng(sweep_seed() ^ 0xC0D);
  for (int idx = 0; idx < 24; ++idx) {
    // cuDNN: head dims a multiple of 8 up to 256, at least two keys.
    Inputs in;
    const LayerSpec s = draw_layer(rng, &in, idx, Draw{.dims = {40, 64, 96, 128, 256}, .min_seq = 2});
    SCOPED_TRACE(gputest::describe("sdpa:cudnn", s));
    RunResult g = run_gpu("sdpa:cudnn", s, in, one_shot());
    ASSERT_TRUE(g.ran) << g.error;
    RunResult ref = run_reference(s, in, one_shot());
    LayerSpec eager_spec = s;
    eager_spec.softmax_dtype = DType::F32;
    RunResult eager = cpu_implementation("eager")->run(eager_spec, in, one_shot());
    const double eager_err = gputest::max_abs_visible(s, in, eager.out, ref.out);
    const gputest::ErrStats e = gputest::error_vs(s, in, g, ref, true);
    EXPECT_EQ(e.nan, 0);
    EXPECT_LE(e.max_abs, 2 * eager_err + 1e-5) << "FA2 rule: cuDNN " << e.max_abs << ", eager (fp32 softmax) "
                                               << eager_err;
    EXPECT_LE(e.lse_rel, 1e-3);
    EXPECT_TRUE(g.verdict.has("gpu.cudnn.library"));
  }
  // torch 2.11's own choice on an H200/H100: cuDNN.
  if (plugin().dev.cc_major == 9) {
    LayerSpec s;
    s.dtype = DType::BF16, s.heads_q = 8, s.heads_kv = 2, s.seq_q = s.seq_k = 256, s.head_dim = s.head_dim_v = 128;
    s.causal = true;
    RunResult r = run_gpu("sdpa", s, random_inputs(s, 1, Distribution::Normal), one_shot());
    ASSERT_TRUE(r.ran) << r.error;
    EXPECT_EQ(r.sdpa_backend, "cudnn");
    for (const auto& x : r.verdict.reasons)
      if (x.code == "gpu.cudnn.library") std::printf("[ attnscope ] %s\n", x.text.c_str());
  }
}

void check_probe(const std::string& impl, LayerSpec s, ProbeSpec where, bool expect_skips) {
  SCOPED_TRACE(gputest::describe(impl, s));
  Inputs in = random_inputs(s, sweep_seed() + 5, Distribution::Normal);
  RunOptions o = one_shot();
  o.probe = where;
  o.probe.enabled = true;
  RunResult g = run_gpu(impl, s, in, o);
  ASSERT_TRUE(g.ran) << g.error;
  ASSERT_FALSE(g.probe.empty());
  EXPECT_TRUE(g.verdict.has("gpu.probe_bitwise")) << "probe variant output differs from the timed kernel's";
  EXPECT_FALSE(g.verdict.has("gpu.probe_differs"));
  const ProbeData& p = g.probe;
  ASSERT_EQ(p.kv_tile, g.kv_tile);
  const int64_t tile = p.kv_tile;
  ASSERT_EQ(p.n_tiles, (s.seq_k + tile - 1) / tile);
  const int hk = where.head / s.kv_group();
  const int64_t Nk = s.seq_k, Dv = s.head_dim_v, T = p.n_tiles;
  int64_t checked = 0, bad = 0, worst = 0;
  for (int r = where.row_begin; r < where.row_end; ++r) {
    const int64_t pr = r - where.row_begin;
    const double m_last = p.row_max.data[pr * T + T - 1];
    double L = p.row_sum.data[pr * T + T - 1];
    if (s.sinks) L += std::exp(double(in.sinks[where.head]) - m_last);
    for (int64_t d = 0; d < Dv; ++d) {
      double acc = 0, mag = 0;  // mag: the sum of |p v|, what the kernel's fp32 accumulation errs against
      for (int64_t t = 0; t < T; ++t) {
        const double mt = p.row_max.data[pr * T + t];
        double part = 0, part_mag = 0;
        for (int64_t j = t * tile; j < std::min(Nk, (t + 1) * tile); ++j) {
          const double pv =
              double(p.p.data[pr * Nk + j]) * in.v.data[((int64_t(where.batch) * s.heads_kv + hk) * Nk + j) * Dv + d];
          part += pv;
          part_mag += std::fabs(pv);
        }
        if (part != 0) acc += part * std::exp(mt - m_last);
        mag += part_mag * std::exp(mt - m_last);
      }
      const float rebuilt = L > 0 ? round_to(s.dtype, static_cast<float>(acc / L)) : 0.0f;
      const float kernel = g.out.data[((int64_t(where.batch) * s.heads_q + where.head) * s.seq_q + r) * Dv + d];
      ++checked;
      if (s.dtype == DType::F32) {  // fp32: the rebuilt sum runs in another order; relative bound
        if (std::fabs(rebuilt - kernel) > 2e-6 + 1e-5 * std::fabs(kernel)) ++bad;
        continue;
      }
      const int64_t u = ulp_distance(s.dtype, rebuilt, kernel);
      worst = std::max(worst, u);
      // An output that cancels to far below its terms (|o| << sum |p v| / L) is compared against the
      // fp32 accumulation's own error, 2^-20 of the terms' sum: seen once in 16384 at head dim 256.
      const double fp32_bound = L > 0 ? std::ldexp(mag / L, -20) : 0.0;
      if (u > 2 && std::fabs(double(rebuilt) - double(kernel)) > fp32_bound) ++bad;
    }
  }
  EXPECT_EQ(bad, 0) << bad << " of " << checked << " probed outputs differ from the rebuilt ones by > 2 ulps (worst "
                    << worst << ")";
  int used = 0;
  for (uint8_t u : p.tile_used) used += u;
  if (expect_skips) EXPECT_LT(used, T) << "tiles outside the window must be skipped";
  else EXPECT_EQ(used, T);
}

TEST(GpuProbe, Flash2RebuildsOutput) {
  ATTNSCOPE_REQUIRE_GPU();
  for (const std::string& path : flash_paths()) {
  FlashPathScope scope(path);
  LayerSpec s;
  s.dtype = DType::BF16, s.batch = 2, s.heads_q = 4, s.heads_kv = 2, s.seq_q = 200, s.seq_k = 300;
  s.head_dim = s.head_dim_v = 64;
  check_probe("flash2", s, {true, 1, 3, 60, 130}, false);
  s.dtype = DType::F16, s.head_dim = s.head_dim_v = 111, s.causal = true;
  check_probe("flash2", s, {true, 0, 1, 0, 200}, false);
  }
}

TEST(GpuProbe, SinkSkipsTilesOutsideTheWindow) {
  ATTNSCOPE_REQUIRE_GPU();
  for (const std::string& path : flash_paths()) {
  FlashPathScope scope(path);
  LayerSpec s;
  s.dtype = DType::BF16, s.batch = 1, s.heads_q = 8, s.heads_kv = 2, s.seq_q = 640, s.seq_k = 640;
  s.head_dim = s.head_dim_v = 64, s.sinks = true, s.sliding_window = 128, s.causal = true;
  check_probe("sink", s, {true, 0, 5, 512, 576}, true);
  s.sliding_window = 0, s.head_dim = s.head_dim_v = 256;
  check_probe("sink", s, {true, 0, 0, 100, 164}, true);  // causal: tiles past the diagonal skipped
  }
}

TEST(GpuProbe, EfficientRebuildsOutput) {
  ATTNSCOPE_REQUIRE_GPU();
  LayerSpec s;
  s.dtype = DType::F16, s.batch = 1, s.heads_q = 3, s.heads_kv = 3, s.seq_q = 150, s.seq_k = 190;
  s.head_dim = s.head_dim_v = 96, s.causal = true;
  check_probe("sdpa:efficient", s, {true, 0, 2, 10, 40}, true);  // keys <= 103: tile 2 skipped
  s.dtype = DType::F32, s.causal = false;
  check_probe("sdpa:efficient", s, {true, 0, 0, 0, 150}, false);
}

// Each compiled head dim and both Sinks branches, with fixed shapes: a template flag that is
// silently the wrong constant shows up as a wrong answer here.
TEST(GpuSwitches, EveryCompiledHeadDimAndSinkFlag) {
  ATTNSCOPE_REQUIRE_GPU();
  for (const std::string& path : flash_paths())
  for (DType dt : {DType::F16, DType::BF16})
    for (int hd : {32, 64, 96, 128, 192, 256})
      for (bool sinks : {false, true}) {
        LayerSpec s;
        s.dtype = dt, s.batch = 1, s.heads_q = 2, s.heads_kv = 1, s.seq_q = 70, s.seq_k = 130;
        s.head_dim = s.head_dim_v = hd, s.causal = true, s.sinks = sinks;
        const std::string impl = sinks ? "sink" : "flash2";
        FlashPathScope scope(path);
        SCOPED_TRACE(gputest::describe(impl, s) + " path " + path);
        Verdict v = plugin().api->check(impl, s, plugin().dev);
        if (v.has("gpu.not_compiled")) continue;  // ATTNSCOPE_CI_REDUCED build
        ASSERT_TRUE(v.supported);
        Inputs in = random_inputs(s, sweep_seed() + hd, Distribution::Normal);
        RunResult g = run_gpu(impl, s, in, one_shot());
        ASSERT_TRUE(g.ran) << g.error;
        RunOptions same_tiles = one_shot();
        same_tiles.kv_tile = g.kv_tile;
        const bool want_sm90 = path.empty() && plugin().dev.cc_major == 9 && !v.has("gpu.flash_path");
        EXPECT_EQ(g.kernel_path.rfind(want_sm90 ? "sm90" : "sm80", 0), 0u) << g.kernel_path;
        RunResult c = cpu_implementation(impl)->run(s, in, same_tiles);
        // Per shape 99% (a 70-row layer has few elements); the sweep checks 99.9% over millions.
        EXPECT_GE(gputest::ulp_count(dt, g.out, c.out, 2).fraction(), 0.99);
        // Sinks change the answer: the flag must reach the kernel.
        if (sinks) {
          LayerSpec ns = s;
          ns.sinks = false;
          RunResult without = run_gpu("sink", ns, in, one_shot());
          ASSERT_TRUE(without.ran) << without.error;
          EXPECT_LT(gputest::ulp_count(dt, g.out, without.out, 0).fraction(), 0.5);
        }
      }
}

// Refusals come from the shared rules before anything is launched; they need no GPU.
TEST(GpuVerdicts, RefusalsWithoutAGpu) {
  ATTNSCOPE_REQUIRE_PLUGIN();
  const DeviceInfo t4 = *named_gpu("T4");
  const DeviceInfo h100 = *named_gpu("H100");
  LayerSpec s;
  s.dtype = DType::BF16;
  Verdict v = plugin().api->check("flash2", s, t4);
  EXPECT_FALSE(v.supported);
  EXPECT_TRUE(v.has("fa2.arch"));
  s.dtype = DType::F32;
  EXPECT_TRUE(plugin().api->check("flash2", s, h100).has("fa2.dtype"));
  s.dtype = DType::BF16;
  s.sinks = true;
  EXPECT_TRUE(plugin().api->check("flash2", s, h100).has("fa2.sinks"));
  EXPECT_TRUE(plugin().api->check("sink", s, h100).supported);
  EXPECT_TRUE(plugin().api->check("sdpa", s, h100).has("sdpa.sinks"));
  s.sinks = false;
  s.head_dim = s.head_dim_v = 320;
  EXPECT_TRUE(plugin().api->check("flash2", s, h100).has("fa2.head_dim"));
  s.head_dim = s.head_dim_v = 64;
  // cuDNN: available where libcudnn loads (an error naming why otherwise), a note naming the version.
  Verdict cud = plugin().api->check("sdpa:cudnn", s, h100);
  EXPECT_TRUE(cud.has("gpu.cudnn"));
  for (const auto& r : cud.reasons)
    if (r.code == "gpu.cudnn") std::printf("[ attnscope ] sdpa:cudnn: %s\n", r.text.c_str());
  std::string chosen;
  s.mask = MaskKind::Padding;
  s.kv_lengths = {10};
  // torch 2.11 takes cuDNN first on sm90 (a mask is fine there); an A100 tries flash first.
  Verdict sd = plugin().api->check("sdpa", s, h100);
  EXPECT_TRUE(sd.has("sdpa.backend"));
  EXPECT_TRUE(plugin().api->check("sdpa", s, *named_gpu("A100")).has("sdpa.flash.attn_mask"));
  EXPECT_TRUE(plugin().api->check("bogus", s, h100).has("gpu.unknown_impl"));
}

TEST(GpuErrors, RefusedRunLaunchesNothing) {
  ATTNSCOPE_REQUIRE_GPU();
  LayerSpec s;
  s.dtype = DType::F32;
  Inputs in = random_inputs(s, 1, Distribution::Normal);
  RunResult r = run_gpu("flash2", s, in, one_shot());
  EXPECT_FALSE(r.ran);
  EXPECT_EQ(r.error.rfind("refused: ", 0), 0u) << r.error;
  EXPECT_NE(r.error.find("FlashAttention only support fp16 and bf16 data type"), std::string::npos);
  EXPECT_TRUE(r.kernels.empty());
}

TEST(GpuErrors, TooBigIsSkippedWithTheEstimate) {
  ATTNSCOPE_REQUIRE_GPU();
  LayerSpec s;
  s.dtype = DType::BF16, s.batch = 1, s.heads_q = s.heads_kv = 8, s.seq_q = s.seq_k = 131072;
  s.head_dim = s.head_dim_v = 32;
  Inputs in = random_inputs(s, 1, Distribution::Normal);
  RunResult r = run_gpu("eager", s, in, one_shot());  // S and P: 2 x 8 x 131072^2 x 2 bytes = 512 GiB
  EXPECT_FALSE(r.ran);
  // Refused before any allocation, by the shared memory rule (eager.oom: HF's footprint) or by the
  // backend's own estimate of what it allocates (gpu.memory_estimate); both name need and free.
  EXPECT_NE(r.error.find("needs"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("free"), std::string::npos) << r.error;
  EXPECT_TRUE(r.verdict.has("eager.oom") || r.verdict.has("gpu.memory_estimate"));
  EXPECT_TRUE(r.kernels.empty());
  // The GPU still works afterwards.
  LayerSpec ok;
  Inputs in2 = random_inputs(ok, 2, Distribution::Normal);
  EXPECT_TRUE(run_gpu("flash2", ok, in2, one_shot()).ran);
}

// Timing, CUPTI records and memory accounting of a normal run.
TEST(GpuMeasure, KernelsTimesAndMemory) {
  ATTNSCOPE_REQUIRE_GPU();
  LayerSpec s;
  s.dtype = DType::BF16, s.batch = 2, s.heads_q = 8, s.heads_kv = 2, s.seq_q = s.seq_k = 512;
  s.head_dim = s.head_dim_v = 128, s.causal = true;
  Inputs in = random_inputs(s, 3, Distribution::Normal);
  RunOptions o = one_shot();
  o.warmup = 2;
  o.repeats = 5;
  for (const char* impl : {"flash2", "eager", "sdpa"}) {
    SCOPED_TRACE(impl);
    RunResult r = run_gpu(impl, s, in, o);
    ASSERT_TRUE(r.ran) << r.error;
    EXPECT_EQ(r.times_ms.size(), 5u);
    EXPECT_GT(r.median_ms, 0);
    EXPECT_GT(r.peak_bytes, 0);
    EXPECT_GT(r.model_bytes, 0);
    EXPECT_FALSE(r.memory.empty());
    for (const auto& reason : r.verdict.reasons)
      if (reason.code.rfind("gpu.cupti", 0) == 0) std::printf("[ attnscope ] %s: %s\n", impl, reason.text.c_str());
    if (r.verdict.has("gpu.cupti_off")) continue;
    ASSERT_FALSE(r.kernels.empty());
    int timed = 0, warm = 0;
    for (const auto& k : r.kernels) {
      EXPECT_GE(k.start_us, 0);
      EXPECT_GT(k.dur_us, 0);
      EXPECT_GT(k.block[0], 0);
      EXPECT_FALSE(k.name.empty());
      EXPECT_GE(k.repeat, -1);
      (k.repeat >= 0 ? timed : warm)++;
    }
    EXPECT_GT(timed, 0);
    EXPECT_GT(warm, 0);
    if (std::string(impl) == "flash2") {
      EXPECT_NE(r.kernels[0].name.find("flash_fwd"), std::string::npos) << r.kernels[0].name;
      EXPECT_EQ(timed, 5);
      // out + lse only: 2*8*512*128*2 + 2*8*512*4 bytes
      EXPECT_EQ(r.peak_bytes, 2 * 8 * 512 * 128 * 2 + 2 * 8 * 512 * 4);
    }
  }
}

}  // namespace
}  // namespace attnscope
