// The torch plans against what torch did on the H200 (bench/results/2026-12-01-h200/torch_plans.json,
// written by bench/torch_plans.py): every allocation and free of HF's eager and torch's math
// backend in order, and the peak torch.cuda.max_memory_allocated saw.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

#include "kernels/torch_plan.h"
#include "tests/kernels/bench_cases.h"

namespace attnscope {
namespace {

using nlohmann::json;
using testdata::bench_cases;
using testdata::recorded;
using testdata::spec_of;
using testdata::BenchCase;

const json* plan_of(const std::string& cas, const std::string& tag) {
  for (const auto& c : recorded()["cases"])
    if (c["case"] == cas && c["plans"].contains(tag)) return &c["plans"][tag];
  return nullptr;
}

std::vector<int64_t> measured_trace(const json& p) {
  std::vector<int64_t> t;
  for (const auto& e : p["events"]) {
    const int64_t b = torch_alloc_bytes(e["bytes"].get<int64_t>());
    t.push_back(e["action"] == "alloc" ? b : -b);
  }
  return t;
}

void expect_matches(const TorchPlan& plan, const json& measured, const std::string& what) {
  SCOPED_TRACE(what + ": " + plan.what);
  const int64_t peak = measured["peak_bytes"].get<int64_t>();
  // The bound is 5%; the plan follows torch allocation by allocation, so it is exact to
  // the allocator's 512-byte rounding.
  EXPECT_NEAR(static_cast<double>(plan.peak_bytes()), static_cast<double>(peak), 0.05 * peak);
  EXPECT_EQ(plan.peak_bytes(), peak);
  const std::vector<int64_t> want = measured_trace(measured), got = plan.allocation_trace();
  ASSERT_EQ(got.size(), want.size()) << "number of allocations and frees";
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(got[i], want[i]) << "allocator event " << i;
}

TEST(TorchPlan, RecordedFileIsThere) {
  ASSERT_TRUE(recorded().is_object()) << "bench/results/2026-12-01-h200/torch_plans.json missing";
  EXPECT_EQ(recorded()["torch"], "2.11.0+cu130");
  EXPECT_EQ(recorded()["cases"].size(), bench_cases().size());
}

TEST(TorchPlan, HfEagerAllocatesWhatTorchAllocatedOnEveryBenchCase) {
  for (const BenchCase& c : bench_cases()) {
    const json* m = plan_of(c.name, "hf_eager");
    ASSERT_NE(m, nullptr) << c.name;
    expect_matches(hf_eager_plan(spec_of(c)), *m, c.name);
  }
}

TEST(TorchPlan, MathAllocatesWhatTorchAllocatedOnEveryBenchCase) {
  int n = 0;
  for (const BenchCase& c : bench_cases()) {
    const json* m = plan_of(c.name, "sdpa_math");
    if (!m) {
      EXPECT_TRUE(c.sinks) << c.name << ": no recorded math plan";
      continue;
    }
    expect_matches(torch_math_plan(spec_of(c)), *m, c.name);
    ++n;
  }
  EXPECT_EQ(n, 7);
}

TEST(TorchPlan, EagerStepsFollowTheLlamaFunction) {
  LayerSpec s = spec_of(bench_cases()[0]);
  const TorchPlan p = hf_eager_plan(s);
  std::vector<PlanOpKind> kinds;
  for (const auto& o : p.ops) kinds.push_back(o.kind);
  const std::vector<PlanOpKind> want = {PlanOpKind::GemmQK,  PlanOpKind::MulScalar, PlanOpKind::AddBroadcast,
                                        PlanOpKind::Cast,    PlanOpKind::Softmax,   PlanOpKind::Cast,
                                        PlanOpKind::GemmPV,  PlanOpKind::Transpose12};
  EXPECT_EQ(kinds, want);
  EXPECT_TRUE(p.out_bnhd);
  EXPECT_EQ(p.probs_row_stride, s.seq_k);
  // fp16: the half_to_float softmax reads fp16 directly: no fp32 copy, and the peak (masked
  // scores, fp32 softmax, its fp16 cast) is 1 GiB less at this shape.
  s.dtype = DType::F16;
  const TorchPlan h = hf_eager_plan(s);
  EXPECT_EQ(h.ops.size(), p.ops.size() - 1);
  EXPECT_EQ(p.peak_bytes() - h.peak_bytes(), int64_t{1} << 30);
  // fp32: no casts at all.
  s.dtype = DType::F32;
  const TorchPlan f = hf_eager_plan(s);
  EXPECT_EQ(f.ops.size(), p.ops.size() - 2);
}

TEST(TorchPlan, GptOssStepsDropTheSinkColumnAfterTheSoftmax) {
  const LayerSpec s = spec_of(bench_cases()[3]);
  const TorchPlan p = hf_eager_plan(s);
  std::vector<PlanOpKind> kinds;
  for (const auto& o : p.ops) kinds.push_back(o.kind);
  const std::vector<PlanOpKind> want = {PlanOpKind::RepeatHeads, PlanOpKind::RepeatHeads,  PlanOpKind::GemmQK,
                                        PlanOpKind::MulScalar,   PlanOpKind::AddBroadcast, PlanOpKind::CatSink,
                                        PlanOpKind::RowMax,      PlanOpKind::AddBroadcast, PlanOpKind::Softmax,
                                        PlanOpKind::GemmPV,      PlanOpKind::Transpose12};
  EXPECT_EQ(kinds, want);
  EXPECT_EQ(p.probs_row_stride, s.seq_k + 1);
  EXPECT_EQ(p.ops[9].lda, s.seq_k + 1);
  EXPECT_EQ(p.ops[9].cols, s.seq_k);
  EXPECT_EQ(p.tensors[static_cast<size_t>(p.lse_from)].shape.back(), s.seq_k + 1);
  EXPECT_EQ(p.tensors[static_cast<size_t>(p.scores)].shape.back(), s.seq_k);
}

TEST(TorchPlan, MathMasksAsTransformersPassesThem) {
  LayerSpec s = spec_of(bench_cases()[0]);
  EXPECT_EQ(sdpa_mask_input(s), MaskInput::IsCausal);
  s.seq_q = 100;  // bottom-right causal with Nq != Nk: transformers passes a boolean mask
  EXPECT_EQ(sdpa_mask_input(s), MaskInput::Bool4D);
  const TorchPlan p = torch_math_plan(s);
  EXPECT_EQ(p.tensors[static_cast<size_t>(p.mask)].type, TType::Bool);
  s.align = CausalAlign::TopLeft;
  EXPECT_EQ(sdpa_mask_input(s), MaskInput::IsCausal);
  s.causal = false;
  EXPECT_EQ(sdpa_mask_input(s), MaskInput::None);
  EXPECT_EQ(eager_mask_input(s), MaskInput::None);
  s.mask = MaskKind::ExplicitAdditive;
  EXPECT_EQ(sdpa_mask_input(s), MaskInput::Additive4D);
  // fp32 layers: no upcast copies, and the output is the matmul's own result.
  s = spec_of(bench_cases()[0]);
  s.dtype = DType::F32;
  const TorchPlan f = torch_math_plan(s);
  for (const auto& o : f.ops) EXPECT_NE(o.kind, PlanOpKind::Cast);
  EXPECT_EQ(f.tensors[static_cast<size_t>(f.out)].type, TType::F32);
}

TEST(TorchPlan, EveryTensorIsFreedOnceExceptTheOutput) {
  for (const BenchCase& c : bench_cases())
    for (const TorchPlan& p : {hf_eager_plan(spec_of(c)), torch_math_plan(spec_of(c))}) {
      std::vector<int> allocs(p.tensors.size()), frees(p.tensors.size());
      for (const auto& e : p.events) {
        if (e.kind == PlanEvent::Kind::Alloc) ++allocs[static_cast<size_t>(e.index)];
        if (e.kind == PlanEvent::Kind::Free) ++frees[static_cast<size_t>(e.index)];
      }
      for (size_t i = 0; i < p.tensors.size(); ++i) {
        SCOPED_TRACE(std::string(c.name) + ": " + p.tensors[i].name);
        EXPECT_EQ(allocs[i], p.tensors[i].external ? 0 : 1);
        EXPECT_EQ(frees[i], p.tensors[i].external || static_cast<int>(i) == p.out ? 0 : 1);
      }
      EXPECT_EQ(p.end_bytes(), torch_alloc_bytes(p.tensors[static_cast<size_t>(p.out)].bytes()));
    }
}


// The GPU runs a plan out of one pool allocated up front: every tensor gets a place in it where no
// tensor alive at the same time overlaps it, and the pool stays at the peak torch measured.
TEST(TorchPlan, PlacesFitThePeakWithoutOverlap) {
  for (const BenchCase& c : bench_cases())
    for (const TorchPlan& p : {hf_eager_plan(spec_of(c)), torch_math_plan(spec_of(c))}) {
      SCOPED_TRACE(std::string(c.name) + ": " + p.what);
      std::vector<int64_t> off;
      const int64_t pool = p.place(&off);
      EXPECT_EQ(pool, p.peak_bytes());
      std::vector<int> live;
      for (const auto& e : p.events) {
        if (e.kind == PlanEvent::Kind::Free) live.erase(std::find(live.begin(), live.end(), e.index));
        if (e.kind != PlanEvent::Kind::Alloc) continue;
        const size_t a = static_cast<size_t>(e.index);
        const int64_t a0 = off[a], a1 = a0 + torch_alloc_bytes(p.tensors[a].bytes());
        EXPECT_EQ(a0 % 512, 0);
        EXPECT_LE(a1, pool);
        for (int other : live) {
          const size_t b = static_cast<size_t>(other);
          const int64_t b0 = off[b], b1 = b0 + torch_alloc_bytes(p.tensors[b].bytes());
          EXPECT_TRUE(a1 <= b0 || b1 <= a0) << p.tensors[a].name << " overlaps " << p.tensors[b].name;
        }
        live.push_back(e.index);
      }
    }
}

}  // namespace
}  // namespace attnscope
