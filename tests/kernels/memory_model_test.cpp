// The memory model against torch.cuda.max_memory_allocated on the H200 (torch_plans.json), every
// bench case and backend within 5%, and its full-context sentence.
#include <gtest/gtest.h>

#include "kernels/format.h"
#include "kernels/implementation.h"
#include "kernels/memory_model.h"
#include "tests/kernels/bench_cases.h"

namespace attnscope {
namespace {

using testdata::bench_cases;
using testdata::recorded;
using testdata::spec_of;

TEST(MemoryModel, WithinFivePercentOfTorchOnEveryBenchCase) {
  // torch_plans.json tag -> the attnscope implementation that stands for it.
  const std::pair<const char*, const char*> pairs[] = {{"hf_eager", "eager"},
                                                       {"sdpa_math", "sdpa:math"},
                                                       {"sdpa_flash", "flash2"},
                                                       {"sdpa_flash", "sdpa:flash"},
                                                       {"sdpa_efficient", "sdpa:efficient"},
                                                       {"sdpa_cudnn", "sdpa:cudnn"}};
  int checked = 0;
  for (const auto& c : bench_cases())
    for (const auto& [tag, impl] : pairs) {
      const nlohmann::json* m = nullptr;
      for (const auto& rc : recorded()["cases"])
        if (rc["case"] == c.name && rc["plans"].contains(tag)) m = &rc["plans"][tag];
      if (!m || m->contains("error")) continue;
      const double torch_peak = (*m)["peak_bytes"].get<double>();
      const double ours = static_cast<double>(model_bytes(impl, spec_of(c)));
      EXPECT_NEAR(ours / torch_peak, 1.0, 0.05) << c.name << " " << impl << ": model " << format_bytes(ours)
                                                << ", torch " << format_bytes(static_cast<int64_t>(torch_peak));
      ++checked;
    }
  EXPECT_EQ(checked, 9 + 7 + 2 * 7 + 4 + 7);  // eager 9, math 7, flash 7 (x2), efficient 4, cudnn 7
}

TEST(MemoryModel, EagerBackwardWithinFivePercentOfTorchUnderAutograd) {
  int checked = 0;
  for (const auto& c : bench_cases()) {
    const double torch_mib = testdata::recorded_backward_mib("hf_eager_bwd", c.name);
    if (torch_mib <= 0) continue;
    const double ours = static_cast<double>(model_bytes_backward("eager", spec_of(c))) / 1048576.0;
    EXPECT_NEAR(ours / torch_mib, 1.0, 0.05) << c.name << ": model " << ours << " MiB, torch " << torch_mib << " MiB";
    ++checked;
  }
  EXPECT_EQ(checked, 9);  // every bench case, GPT-OSS's with sinks too
}

// sdpa:math's backward plan and sdpa:cudnn's backward model against torch's own backward peak under
// autograd (bench/peers_backward.py's sdpa_math_bwd / sdpa_cudnn_bwd), on every case a device call
// recorded; until one has, the test says so and skips.
TEST(MemoryModel, SdpaBackwardsWithinFivePercentOfTorch) {
  int checked = 0;
  for (const auto& [ours, theirs] : {std::pair<const char*, const char*>{"sdpa:math", "sdpa_math_bwd"},
                                     std::pair<const char*, const char*>{"sdpa:cudnn", "sdpa_cudnn_bwd"}})
    for (const auto& c : bench_cases()) {
      const double torch_mib = testdata::recorded_backward_mib(theirs, c.name);
      if (torch_mib <= 0) continue;
      const double model = static_cast<double>(model_bytes_backward(ours, spec_of(c))) / 1048576.0;
      EXPECT_NEAR(model / torch_mib, 1.0, 0.05) << ours << " " << c.name << ": model " << model << " MiB, torch "
                                                << torch_mib << " MiB";
      ++checked;
    }
  if (checked == 0) GTEST_SKIP() << "no device call has recorded torch's sdpa_math_bwd / sdpa_cudnn_bwd peaks yet";
}

TEST(MemoryModel, EagerPeakNamesWhatIsAliveThen) {
  const MemoryEstimate m = estimate_memory("eager", spec_of(bench_cases()[0]));
  ASSERT_EQ(m.at_peak.size(), 3u);
  EXPECT_EQ(m.at_peak[0].second, int64_t{2} << 30);  // the fp32 copy and the fp32 softmax, 2 GiB each
  EXPECT_EQ(m.at_peak[2].second, int64_t{1} << 30);  // the masked bf16 scores
  EXPECT_EQ(m.mask_bytes, int64_t{4} * 2048 * 2048 * 2);
}

TEST(MemoryModel, Llama3At16kIsOutOfMemoryOnAnH100) {
  LayerSpec s = spec_of(bench_cases()[7]);
  s.seq_q = s.seq_k = 1024;
  s.max_context = 16384;
  EXPECT_EQ(full_context(s), 16384);
  const ContextFit f = fit_at_context("eager", s, full_context(s), nullptr);
  // 80.25 GiB of the call (measured 82176 MiB) + the 512 MiB mask + q, k, v.
  EXPECT_EQ(f.need.peak_bytes, int64_t{82176} << 20);
  ASSERT_TRUE(f.exceeded && f.fits);
  EXPECT_EQ(f.exceeded->name, "NVIDIA H100 80GB HBM3");
  EXPECT_EQ(f.fits->name, "NVIDIA H200");
  EXPECT_EQ(f.sentence,
            "eager at 16384 tokens needs 80.94 GiB: out of memory on an NVIDIA H100 80GB HBM3 (80.00 GiB); fits an "
            "NVIDIA H200 (141.00 GiB)");
  // The fused kernels hold the output and the LSE only.
  const ContextFit g = fit_at_context("flash2", s, 16384, nullptr);
  EXPECT_LT(g.need.total(), int64_t{1} << 30);
  EXPECT_EQ(g.exceeded, std::nullopt);
  // On the GPU the capture ran on, that GPU comes first.
  const auto h200 = named_gpu("H200");
  const ContextFit here = fit_at_context("eager", s, 16384, &*h200);
  EXPECT_EQ(here.sentence.rfind("eager at 16384 tokens needs 80.94 GiB: fits this GPU, NVIDIA H200 (141.00 GiB); out "
                                "of memory on an NVIDIA H100",
                                0),
            0u)
      << here.sentence;
  const ContextFit huge = fit_at_context("eager", s, 131072, nullptr);
  EXPECT_NE(huge.sentence.find("more than any GPU attnscope knows (the largest: an NVIDIA B200"), std::string::npos)
      << huge.sentence;
}

// Training the same layer: the backward holds q, k, v, the mask, the output and dO beside its own
// peak (for eager: autograd's saved tensors and the softmax backward's fp32 buffers, 16 bytes a score
// in bf16), so a length whose forward fits can still run out of memory in the backward.
TEST(MemoryModel, TheBackwardAtFullContextCountsWhatTrainingHolds) {
  LayerSpec s = spec_of(bench_cases()[7]);  // llama-3-8b: GQA 32/8, bf16
  s.seq_q = s.seq_k = 1024;
  s.max_context = 8192;
  const ContextFit f = fit_backward_at_context("eager", s, full_context(s), nullptr);
  LayerSpec t = s;
  t.seq_q = t.seq_k = 8192;
  const int64_t out = int64_t{32} * 8192 * 128 * 2;
  const MemoryEstimate fwd = estimate_memory("eager", t);
  EXPECT_TRUE(f.backward);
  EXPECT_EQ(f.bytes, fwd.input_bytes + fwd.mask_bytes + 2 * out + model_bytes_backward("eager", t));
  EXPECT_GT(model_bytes_backward("eager", t), int64_t{16} * 32 * 8192 * 8192);
  EXPECT_EQ(f.sentence.rfind("eager backward at 8192 tokens needs ", 0), 0u) << f.sentence;
  // Its forward fits a 24 GiB card; its backward does not fit 32 GiB.
  const ContextFit forward = fit_at_context("eager", s, 8192, nullptr);
  ASSERT_TRUE(forward.exceeded && f.exceeded);
  EXPECT_LT(forward.bytes, int64_t{24} << 30);
  EXPECT_GE(f.exceeded->mem_total, int64_t{32} << 30);
  // FA2's backward: dq_accum, the row sums and the per-query-head dK/dV beside the gradients.
  const ContextFit g = fit_backward_at_context("flash2", s, 8192, nullptr);
  EXPECT_LT(g.bytes, int64_t{1} << 30);
  EXPECT_EQ(g.exceeded, std::nullopt);
}

}  // namespace
}  // namespace attnscope
