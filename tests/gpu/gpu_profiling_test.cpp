// What a GPU run records about itself (issue 13): kernel records attributed to their repeat through
// CUPTI external correlation (not by launch order), the attnscope NVTX ranges collected through
// CUPTI on the kernels' time axis, the repeats timed again with CUPTI off (its overhead), and the
// environment the plugin reports. Every test skips without a GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <map>

#include "tests/gpu/gpu_plugin.h"

namespace attnscope {
namespace {

using gputest::plugin;
using gputest::run_gpu;

constexpr int kWarmup = 2, kRepeats = 5;

RunResult run_traced(const std::string& impl) {
  LayerSpec s;
  s.heads_q = 8;
  s.heads_kv = 2;
  s.seq_q = s.seq_k = 512;
  s.head_dim = s.head_dim_v = 64;
  s.dtype = DType::BF16;
  s.causal = true;
  Inputs in = random_inputs(s, 5, Distribution::Normal);
  RunOptions o;
  o.warmup = kWarmup;
  o.repeats = kRepeats;
  o.keep_intermediates = false;
  RunResult r = run_gpu(impl, s, in, o);
  for (const auto& why : r.verdict.reasons)
    if (why.code.rfind("gpu.", 0) == 0) std::printf("[ attnscope ] %s: %s: %s\n", impl.c_str(), why.code.c_str(), why.text.c_str());
  return r;
}

const RangeRecord* find_range(const RunResult& r, const std::string& name) {
  for (const RangeRecord& g : r.ranges)
    if (g.name == name) return &g;
  return nullptr;
}

class GpuProfiling : public ::testing::TestWithParam<const char*> {};

TEST_P(GpuProfiling, KernelsCarryTheirRepeatFromExternalCorrelation) {
  ATTNSCOPE_REQUIRE_GPU();
  RunResult r = run_traced(GetParam());
  ASSERT_TRUE(r.ran) << r.error;
  if (r.verdict.has("gpu.cupti_off")) GTEST_SKIP() << "CUPTI unavailable here";
  ASSERT_FALSE(r.kernels.empty());
  EXPECT_FALSE(r.verdict.has("gpu.cupti_repeats_by_order")) << "no external correlation record arrived";
  EXPECT_FALSE(r.verdict.has("gpu.cupti_repeats_unknown"));
  std::map<int, int> per_repeat;
  for (const KernelRecord& k : r.kernels) per_repeat[k.repeat]++;
  EXPECT_EQ(per_repeat.count(-2), 0u);
  ASSERT_EQ(per_repeat.size(), static_cast<size_t>(kRepeats + 1)) << "warm-up and every repeat";
  const int per_launch = per_repeat[0];
  EXPECT_EQ(per_repeat[-1], kWarmup * per_launch);
  for (int i = 0; i < kRepeats; ++i) EXPECT_EQ(per_repeat[i], per_launch) << "repeat " << i;
}

TEST_P(GpuProfiling, NvtxRangesComeBackThroughCuptiAroundTheKernels) {
  ATTNSCOPE_REQUIRE_GPU();
  RunResult r = run_traced(GetParam());
  ASSERT_TRUE(r.ran) << r.error;
  if (r.verdict.has("gpu.cupti_off")) GTEST_SKIP() << "CUPTI unavailable here";
  EXPECT_FALSE(r.verdict.has("gpu.nvtx_empty"));
  EXPECT_FALSE(r.verdict.has("gpu.nvtx_unpaired"));
  const RangeRecord* impl = find_range(r, GetParam());
  ASSERT_NE(impl, nullptr) << "no implementation range";
  EXPECT_EQ(impl->depth, 0);
  for (const char* phase : {"upload", "warm-up", "timed repeats", "untraced repeats", "download"}) {
    const RangeRecord* g = find_range(r, phase);
    ASSERT_NE(g, nullptr) << phase;
    EXPECT_EQ(g->depth, 1) << phase;
    EXPECT_GE(g->start_us, impl->start_us) << phase;
    EXPECT_LE(g->start_us + g->dur_us, impl->start_us + impl->dur_us + 1e-3) << phase;
  }
  // The time axis: zero at the first warm-up launch, the upload before it.
  EXPECT_LT(find_range(r, "upload")->start_us, 0.0);
  EXPECT_NEAR(find_range(r, "warm-up")->start_us, 0.0, 50.0);
  for (int i = 0; i < kRepeats; ++i) {
    const RangeRecord* g = find_range(r, "repeat " + std::to_string(i));
    ASSERT_NE(g, nullptr) << i;
    EXPECT_EQ(g->depth, 2);
    // A repeat's kernels are launched inside its range, so none starts before it.
    for (const KernelRecord& k : r.kernels) {
      if (k.repeat == i) {
        EXPECT_GE(k.start_us, g->start_us) << k.name << " of repeat " << i;
      }
    }
  }
  ASSERT_NE(find_range(r, "warm-up 0"), nullptr);
}

TEST_P(GpuProfiling, TheRepeatsAreTimedAgainWithCuptiOff) {
  ATTNSCOPE_REQUIRE_GPU();
  RunResult r = run_traced(GetParam());
  ASSERT_TRUE(r.ran) << r.error;
  if (r.verdict.has("gpu.cupti_off")) GTEST_SKIP() << "CUPTI unavailable here";
  ASSERT_EQ(r.times_untraced_ms.size(), static_cast<size_t>(kRepeats));
  EXPECT_GT(r.median_untraced_ms, 0.0);
  const double pct = cupti_overhead_pct(r);
  std::printf("[ attnscope ] %s: %.4f ms traced, %.4f ms untraced, CUPTI overhead %+.2f%%\n", GetParam(), r.median_ms,
              r.median_untraced_ms, pct);
  ASSERT_TRUE(std::isfinite(pct));
  EXPECT_LT(std::fabs(pct), 50.0) << "the same kernels: within noise of each other, not another order";
}

INSTANTIATE_TEST_SUITE_P(Impls, GpuProfiling, ::testing::Values("eager", "flash2", "sink"));

TEST(GpuEnvironment, ThePluginReportsTheDeviceClocksAndLibraries) {
  ATTNSCOPE_REQUIRE_GPU();
  GpuEnvironment e;
  ASSERT_NE(plugin().api->environment, nullptr);
  plugin().api->environment(&e);
  for (const auto& [label, value] : environment_lines(e)) std::printf("[ attnscope ] %-22s %s\n", label.c_str(), value.c_str());
  EXPECT_EQ(e.name, plugin().dev.name);
  EXPECT_EQ(e.cc_major, plugin().dev.cc_major);
  EXPECT_EQ(e.cc_minor, plugin().dev.cc_minor);
  EXPECT_GT(e.sm_count, 0);
  EXPECT_GT(e.memory_bytes, int64_t{1} << 30);
  EXPECT_GT(e.sm_clock_max_mhz, 0);
  EXPECT_GT(e.memory_clock_max_mhz, 0);
  EXPECT_FALSE(e.cuda_driver.empty());
  EXPECT_FALSE(e.cuda_runtime.empty());
  EXPECT_FALSE(e.cublas.empty());
  EXPECT_NE(e.cupti.find("API "), std::string::npos);
  EXPECT_FALSE(e.nvtx.empty());
  if (!e.driver.empty()) {
    EXPECT_GT(e.sm_clock_mhz, 0) << "NVML answered the driver but not the clock";
  }
}

}  // namespace
}  // namespace attnscope
