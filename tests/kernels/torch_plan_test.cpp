// The torch plans against what torch did on the H200 (bench/results/2026-12-01-h200/torch_plans.json,
// written by bench/torch_plans.py): every allocation and free of HF's eager and torch's math
// backend in order, and the peak torch.cuda.max_memory_allocated saw.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "kernels/acceptance.h"
#include "kernels/cpu/cpu_common.h"
#include "kernels/implementation.h"
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

// ---- autograd's backward through HF's eager (hf_eager_backward_plan) --------------------------

std::vector<PlanOpKind> backward_kinds(const TorchPlan& p) {
  std::vector<PlanOpKind> k;
  for (size_t i = static_cast<size_t>(p.backward_begin); i < p.events.size(); ++i)
    if (p.events[i].kind == PlanEvent::Kind::Op) k.push_back(p.ops[static_cast<size_t>(p.events[i].index)].kind);
  return k;
}
int64_t rounded(const TorchPlan& p, int id) { return torch_alloc_bytes(p.tensors[static_cast<size_t>(id)].bytes()); }

TEST(TorchPlanBackward, LlamaRunsAutogradsNodesInTheEnginesOrder) {
  LayerSpec s = spec_of(bench_cases()[7]);  // llama-3-8b: GQA 32/8
  s.seq_q = s.seq_k = 1024;
  const TorchPlan p = hf_eager_backward_plan(s);
  ASSERT_GT(p.backward_begin, 0);
  const std::vector<PlanOpKind> want = {
      PlanOpKind::Transpose12, PlanOpKind::GemmDP,    PlanOpKind::GemmDV,    PlanOpKind::Cast,
      PlanOpKind::Mul,         PlanOpKind::SoftmaxBackward, PlanOpKind::Cast, PlanOpKind::MulScalar,
      PlanOpKind::GemmDQ,      PlanOpKind::GemmDK,    PlanOpKind::SumGroups, PlanOpKind::SumGroups};
  EXPECT_EQ(backward_kinds(p), want);
  // The forward's ops are the inference plan's, in the same order.
  const TorchPlan f = hf_eager_plan(s);
  ASSERT_EQ(p.ops.size(), f.ops.size() + want.size());
  for (size_t i = 0; i < f.ops.size(); ++i) EXPECT_EQ(p.ops[i].kind, f.ops[i].kind) << i;
  // Shapes: dO arrives as the output is laid out; the gradients as the inputs.
  auto shape = [&](int id) { return p.tensors[static_cast<size_t>(id)].shape; };
  EXPECT_EQ(shape(p.dout), (std::vector<int64_t>{1, 1024, 32, 128}));
  EXPECT_EQ(shape(p.dq), (std::vector<int64_t>{1, 32, 1024, 128}));
  EXPECT_EQ(shape(p.dk), (std::vector<int64_t>{1, 8, 1024, 128}));
  EXPECT_EQ(shape(p.dv), (std::vector<int64_t>{1, 8, 1024, 128}));
  EXPECT_EQ(p.dsinks, -1);
  // The softmax backward reads the saved fp32 output and writes fp32; the casts around it.
  const PlanOp& sb = p.ops[f.ops.size() + 5];
  EXPECT_EQ(p.tensors[static_cast<size_t>(sb.in[0])].type, TType::F32);
  EXPECT_EQ(p.tensors[static_cast<size_t>(sb.in[1])].type, TType::F32);
  EXPECT_EQ(p.tensors[static_cast<size_t>(sb.out)].type, TType::F32);
  // Saved at the backward's start: the repeat_kv copies, the fp32 softmax output and P.
  std::vector<std::string> saved;
  for (int id : p.alive_at(p.backward_begin)) saved.push_back(p.tensors[static_cast<size_t>(id)].name);
  std::sort(saved.begin(), saved.end());
  EXPECT_EQ(saved, (std::vector<std::string>{"attn_weights (.to(query.dtype))", "key_states (repeat_kv)",
                                             "softmax (fp32)", "value_states (repeat_kv)"}));
}

TEST(TorchPlanBackward, PeakIsAtTheSoftmaxBackwardAndBelowTheAnalyticBound) {
  LayerSpec s = spec_of(bench_cases()[7]);
  s.seq_q = s.seq_k = 2048;
  const int64_t S = int64_t{s.batch} * s.heads_q * s.seq_q * s.seq_k;  // scores
  const int64_t rep = int64_t{s.batch} * s.heads_q * s.seq_k * s.head_dim * 2;  // one repeat_kv copy / per-head grad
  const int64_t grads = int64_t{s.batch} * (s.heads_q * s.seq_q + 2 * s.heads_kv * s.seq_k) * s.head_dim * 2;
  // bf16: saved fp32 y, the fp32 copy of dP, the softmax backward's tmp = grad * y and its fp32
  // result (16 bytes a score, as torch measured on the H200), the key copy still saved, dV per query
  // head waiting for its group sum.
  const TorchPlan p = hf_eager_backward_plan(s);
  EXPECT_EQ(p.backward_peak_bytes(), 16 * S + rep + rep);
  // fp16's softmax backward writes fp16 directly (half_to_float): 14 bytes a score.
  s.dtype = DType::F16;
  EXPECT_EQ(hf_eager_backward_plan(s).backward_peak_bytes(), 14 * S + 2 * rep);
  // fp32: y, dP, tmp, dX (16 bytes a score; the per-head gradients are fp32 too).
  s.dtype = DType::F32;
  EXPECT_EQ(hf_eager_backward_plan(s).backward_peak_bytes(), 16 * S + 4 * rep);
  // Every buffer of the backward alive at once bounds it from above.
  s.dtype = DType::BF16;
  const int64_t analytic = S * (4 + 2 + 4 + 4 + 4 + 2) + 2 * rep + grads + 2 * rep;
  EXPECT_LT(hf_eager_backward_plan(s).backward_peak_bytes(), analytic);
  EXPECT_EQ(model_bytes_backward("eager", s), hf_eager_backward_plan(s).backward_peak_bytes());
}

// ---- autograd's backward through SDPA's math backend (torch_math_backward_plan) -----------------

TEST(TorchPlanBackward, MathRunsInFp32AndRoundsTheGradientsOnceAtTheEnd) {
  LayerSpec s = spec_of(bench_cases()[7]);  // llama-3-8b: GQA 32/8, bf16
  s.seq_q = s.seq_k = 1024;
  const TorchPlan p = torch_math_backward_plan(s);
  ASSERT_GT(p.backward_begin, 0);
  const std::vector<PlanOpKind> want = {
      PlanOpKind::Cast,      PlanOpKind::GemmDP,    PlanOpKind::GemmDV, PlanOpKind::Mul,
      PlanOpKind::SoftmaxBackward, PlanOpKind::GemmDQ, PlanOpKind::GemmDK, PlanOpKind::MulScalar,
      PlanOpKind::SumGroups, PlanOpKind::SumGroups, PlanOpKind::MulScalar, PlanOpKind::Cast,
      PlanOpKind::Cast,      PlanOpKind::Cast};
  EXPECT_EQ(backward_kinds(p), want);
  const TorchPlan f = torch_math_plan(s);
  ASSERT_EQ(p.ops.size(), f.ops.size() + want.size());
  for (size_t i = 0; i < f.ops.size(); ++i) EXPECT_EQ(p.ops[i].kind, f.ops[i].kind) << i;
  // Every tensor the backward allocates is fp32 but the three gradients it returns.
  for (size_t i = static_cast<size_t>(p.backward_begin); i < p.events.size(); ++i) {
    const PlanEvent& e = p.events[i];
    if (e.kind != PlanEvent::Kind::Alloc) continue;
    const bool grad = e.index == p.dq || e.index == p.dk || e.index == p.dv;
    EXPECT_EQ(p.tensors[static_cast<size_t>(e.index)].type, grad ? TType::BF16 : TType::F32)
        << p.tensors[static_cast<size_t>(e.index)].name;
  }
  auto shape = [&](int id) { return p.tensors[static_cast<size_t>(id)].shape; };
  EXPECT_EQ(shape(p.dout), (std::vector<int64_t>{1, 32, 1024, 128}));  // SDPA's output layout
  EXPECT_EQ(shape(p.dq), (std::vector<int64_t>{1, 32, 1024, 128}));
  EXPECT_EQ(shape(p.dk), (std::vector<int64_t>{1, 8, 1024, 128}));
  EXPECT_EQ(shape(p.dv), (std::vector<int64_t>{1, 8, 1024, 128}));
  // Saved at the backward's start: both BmmBackward0s' operands (P is also _safe_softmax's result).
  std::vector<std::string> saved;
  for (int id : p.alive_at(p.backward_begin)) saved.push_back(p.tensors[static_cast<size_t>(id)].name);
  std::sort(saved.begin(), saved.end());
  EXPECT_EQ(saved, (std::vector<std::string>{"attn (_safe_softmax)", "key^T * sqrt(scale)", "query * sqrt(scale)",
                                             "value (repeat_interleave)"}));
  // fp32 layers have no .to(float): no casts at either end, the value saved is the input itself.
  s.dtype = DType::F32;
  s.heads_kv = s.heads_q;
  const TorchPlan p32 = torch_math_backward_plan(s);
  EXPECT_EQ(backward_kinds(p32),
            (std::vector<PlanOpKind>{PlanOpKind::GemmDP, PlanOpKind::GemmDV, PlanOpKind::Mul,
                                     PlanOpKind::SoftmaxBackward, PlanOpKind::GemmDQ, PlanOpKind::GemmDK,
                                     PlanOpKind::MulScalar, PlanOpKind::MulScalar}));
}

TEST(TorchPlanBackward, MathPeaksAtTheSoftmaxBackwardWithFourFp32Scores) {
  LayerSpec s = spec_of(bench_cases()[7]);
  s.seq_q = s.seq_k = 2048;
  const int64_t S = int64_t{s.batch} * s.heads_q * s.seq_q * s.seq_k;
  const int64_t head32 = int64_t{s.batch} * s.heads_q * s.seq_k * s.head_dim * 4;  // one fp32 [B, Hq, N, D]
  // Saved P, dP, the softmax backward's tmp and its result (16 bytes a score), with the saved q·sf and
  // kᵀ·sf and the value's per-query-head gradient (the saved repeated value went with P·V's node).
  EXPECT_EQ(torch_math_backward_plan(s).backward_peak_bytes(), 16 * S + 3 * head32);
  EXPECT_EQ(model_bytes_backward("sdpa:math", s), torch_math_backward_plan(s).backward_peak_bytes());
}

TEST(TorchPlanBackward, GptOssScattersTheMaxGradientAndSumsTheSinkColumn) {
  const LayerSpec s = spec_of(bench_cases()[3]);
  const TorchPlan p = hf_eager_backward_plan(s);
  const std::vector<PlanOpKind> want = {
      PlanOpKind::Transpose12, PlanOpKind::GemmDP,      PlanOpKind::GemmDV,       PlanOpKind::SliceBackward,
      PlanOpKind::Mul,         PlanOpKind::SoftmaxBackward, PlanOpKind::MulScalar, PlanOpKind::RowSum,     PlanOpKind::Fill,
      PlanOpKind::MaxBackward, PlanOpKind::AddBroadcast, PlanOpKind::SinkColumnSum, PlanOpKind::MulScalar,
      PlanOpKind::GemmDQ,      PlanOpKind::GemmDK,      PlanOpKind::SumGroups,    PlanOpKind::SumGroups};
  EXPECT_EQ(backward_kinds(p), want);
  ASSERT_GE(p.dsinks, 0);
  EXPECT_EQ(p.tensors[static_cast<size_t>(p.dsinks)].shape, (std::vector<int64_t>{64}));
  // The scaling's backward reads cat's slice of the gradient: rows Nk + 1 apart.
  const PlanOp& mul = p.ops[p.ops.size() - 5];
  EXPECT_EQ(mul.kind, PlanOpKind::MulScalar);
  EXPECT_EQ(mul.lda, s.seq_k + 1);
  // The max indices were kept from the forward (int64, one a row).
  bool idx = false;
  for (int id : p.alive_at(p.backward_begin)) idx |= p.tensors[static_cast<size_t>(id)].type == TType::I64;
  EXPECT_TRUE(idx);
}

TEST(TorchPlanBackward, EveryTensorIsFreedOnceExceptTheGradients) {
  for (const BenchCase& c : bench_cases())
    for (int variant = 0; variant < 3; ++variant) {
      LayerSpec s = spec_of(c);
      if (variant == 1) s.softcap = 50, s.dtype = DType::F16;
      if (variant == 2) s.dtype = DType::F32, s.softmax_dtype = DType::F32;
      const TorchPlan p = hf_eager_backward_plan(s);
      std::vector<int> allocs(p.tensors.size()), frees(p.tensors.size());
      for (const auto& e : p.events) {
        if (e.kind == PlanEvent::Kind::Alloc) ++allocs[static_cast<size_t>(e.index)];
        if (e.kind == PlanEvent::Kind::Free) ++frees[static_cast<size_t>(e.index)];
      }
      const std::vector<int> kept = {p.dq, p.dk, p.dv, p.dsinks};
      for (size_t i = 0; i < p.tensors.size(); ++i) {
        SCOPED_TRACE(c.name + " variant " + std::to_string(variant) + ": " + p.tensors[i].name);
        const bool grad = std::find(kept.begin(), kept.end(), static_cast<int>(i)) != kept.end();
        EXPECT_EQ(allocs[i], p.tensors[i].external ? 0 : 1);
        EXPECT_EQ(frees[i], p.tensors[i].external || grad ? 0 : 1);
      }
      int64_t end = 0;
      for (int id : kept)
        if (id >= 0) end += rounded(p, id);
      EXPECT_EQ(p.end_bytes(), end);
      // Every op reads tensors alive at that point.
      std::vector<bool> live(p.tensors.size());
      for (size_t i = 0; i < p.tensors.size(); ++i) live[i] = p.tensors[i].external;
      for (const auto& e : p.events) {
        if (e.kind == PlanEvent::Kind::Alloc) live[static_cast<size_t>(e.index)] = true;
        if (e.kind == PlanEvent::Kind::Free) live[static_cast<size_t>(e.index)] = false;
        if (e.kind != PlanEvent::Kind::Op) continue;
        const PlanOp& o = p.ops[static_cast<size_t>(e.index)];
        for (int in : o.in) EXPECT_TRUE(live[static_cast<size_t>(in)]) << plan_op_name(o.kind) << " reads a dead tensor";
        EXPECT_TRUE(live[static_cast<size_t>(o.out)]) << plan_op_name(o.kind) << " writes a dead tensor";
      }
    }
}

// The GPU replays the backward many times after one forward: the saved tensors keep their places.
TEST(TorchPlanBackward, PinnedPlacesKeepTheSavedTensors) {
  for (const BenchCase& c : bench_cases()) {
    const TorchPlan p = hf_eager_backward_plan(spec_of(c));
    SCOPED_TRACE(c.name);
    std::vector<int64_t> off;
    const int64_t pool = p.place(&off, p.backward_begin);
    EXPECT_GE(pool, p.backward_peak_bytes());
    const std::vector<int> saved = p.alive_at(p.backward_begin);
    std::vector<int> live;
    auto overlaps = [&](int a, int b) {
      const int64_t a0 = off[static_cast<size_t>(a)], a1 = a0 + rounded(p, a);
      const int64_t b0 = off[static_cast<size_t>(b)], b1 = b0 + rounded(p, b);
      return !(a1 <= b0 || b1 <= a0);
    };
    for (size_t i = 0; i < p.events.size(); ++i) {
      const PlanEvent& e = p.events[i];
      if (e.kind == PlanEvent::Kind::Free && static_cast<int>(i) < p.backward_begin)
        live.erase(std::find(live.begin(), live.end(), e.index));
      if (e.kind != PlanEvent::Kind::Alloc) continue;
      for (int other : live) EXPECT_FALSE(overlaps(e.index, other)) << p.tensors[static_cast<size_t>(e.index)].name;
      if (static_cast<int>(i) >= p.backward_begin) {
        for (int sv : saved) EXPECT_FALSE(overlaps(e.index, sv)) << p.tensors[static_cast<size_t>(e.index)].name;
      }
      if (static_cast<int>(i) < p.backward_begin) live.push_back(e.index);
    }
  }
}

// The backward plan's wiring (which tensor each op reads, GEMM shapes and strides, rounding
// points), checked without a GPU: every op executed on the host with the GPU runner's semantics,
// each result rounded to its tensor's type, freed tensors unreadable; the gradients must be the
// CPU eager backward's (kernels/cpu/eager_backward.cpp) up to summation order.
class HostPlan {
 public:
  explicit HostPlan(const TorchPlan& p) : p_(p), t_(p.tensors.size()) {}
  std::vector<float>& at(int id) { return t_[static_cast<size_t>(id)]; }
  void run() {
    for (const PlanEvent& e : p_.events) {
      const size_t i = static_cast<size_t>(e.index);
      if (e.kind == PlanEvent::Kind::Alloc) t_[i].assign(static_cast<size_t>(p_.tensors[i].numel()), NAN);
      else if (e.kind == PlanEvent::Kind::Free) t_[i] = {};
      else op(p_.ops[i]);
    }
  }

 private:
  const PlanTensor& T(int id) const { return p_.tensors[static_cast<size_t>(id)]; }
  const std::vector<float>& in(int id) {
    const std::vector<float>& v = at(id);
    EXPECT_EQ(static_cast<int64_t>(v.size()), T(id).numel()) << T(id).name << " read while not alive";
    return v;
  }
  // The element of `b` that broadcasting against `out` pairs with out's flat index (shapes right-aligned,
  // b's size-1 and missing dims repeated).
  static size_t broadcast_index(const PlanTensor& out, const PlanTensor& b, int64_t idx) {
    const size_t no = out.shape.size(), nb = b.shape.size();
    int64_t bi = 0, stride = 1;
    for (size_t k = 0; k < no; ++k) {
      const size_t d = no - 1 - k;
      const int64_t coord = idx % out.shape[d];
      idx /= out.shape[d];
      if (k >= nb) continue;
      const int64_t bd = b.shape[nb - 1 - k];
      bi += (bd == 1 ? 0 : coord) * stride;
      stride *= bd;
    }
    return static_cast<size_t>(bi);
  }
  static float rd(TType t, double x) {
    const float f = static_cast<float>(x);
    return t == TType::BF16 ? round_to(DType::BF16, f) : t == TType::F16 ? round_to(DType::F16, f) : f;
  }
  void op(const PlanOp& o) {
    const PlanTensor& out = T(o.out);
    std::vector<float>& y = at(o.out);
    ASSERT_EQ(static_cast<int64_t>(y.size()), out.numel()) << out.name << " written while not alive";
    const TType ot = out.type;
    const int64_t last = out.shape.empty() ? 1 : out.shape.back(), rows = out.numel() / std::max<int64_t>(1, last);
    switch (o.kind) {
      case PlanOpKind::Cast:
      case PlanOpKind::MulScalar:
      case PlanOpKind::DivScalar:
      case PlanOpKind::Tanh: {
        const std::vector<float>& x = in(o.in[0]);
        const int64_t lda = o.lda > 0 ? o.lda : last;
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t j = 0; j < last; ++j) {
            const float a = x[static_cast<size_t>(r * lda + j)];
            const float s = static_cast<float>(o.scalar);
            const float v = o.kind == PlanOpKind::Cast ? a : o.kind == PlanOpKind::MulScalar ? a * s
                          : o.kind == PlanOpKind::DivScalar ? a / s : std::tanh(a);
            y[static_cast<size_t>(r * last + j)] = rd(ot, v);
          }
        return;
      }
      case PlanOpKind::RepeatHeads:
      case PlanOpKind::SumGroups: {
        const bool sum = o.kind == PlanOpKind::SumGroups;
        const PlanTensor& src = T(o.in[0]);
        const std::vector<float>& x = in(o.in[0]);
        const int64_t B = out.shape[0], inner = out.numel() / (B * out.shape[1]);
        const int64_t Hs = src.shape[1], Ho = out.shape[1];
        for (int64_t b = 0; b < B; ++b)
          for (int64_t h = 0; h < Ho; ++h)
            for (int64_t e = 0; e < inner; ++e) {
              float acc = 0;
              if (sum)
                for (int64_t g = 0; g < Hs / Ho; ++g) acc += x[static_cast<size_t>(((b * Hs) + h * (Hs / Ho) + g) * inner + e)];
              else
                acc = x[static_cast<size_t>((b * Hs + h / (Ho / Hs)) * inner + e)];
              y[static_cast<size_t>((b * Ho + h) * inner + e)] = rd(ot, acc);
            }
        return;
      }
      case PlanOpKind::AddBroadcast: {  // b broadcast over its size-1 and missing leading dims; out may be a
        const std::vector<float> a = in(o.in[0]);
        const std::vector<float>& m = in(o.in[1]);
        for (int64_t idx = 0; idx < out.numel(); ++idx)
          y[static_cast<size_t>(idx)] =
              rd(ot, a[static_cast<size_t>(idx)] + static_cast<float>(o.scalar) * m[broadcast_index(out, T(o.in[1]), idx)]);
        return;
      }
      case PlanOpKind::WhereScalars: {  // out = cond ? t : f, cond broadcast
        const std::vector<float>& c = in(o.in[0]);
        const float t = in(o.in[1])[0], f = in(o.in[2])[0];
        for (int64_t idx = 0; idx < out.numel(); ++idx)
          y[static_cast<size_t>(idx)] = c[broadcast_index(out, T(o.in[0]), idx)] != 0 ? t : f;
        return;
      }
      case PlanOpKind::Tril: {
        const std::vector<float>& x = in(o.in[0]);
        for (int64_t i = 0; i < out.shape[0]; ++i)
          for (int64_t j = 0; j < last; ++j) y[static_cast<size_t>(i * last + j)] = j <= i ? x[static_cast<size_t>(i * last + j)] : 0.0f;
        return;
      }
      case PlanOpKind::IsNegInf: {
        const std::vector<float>& x = in(o.in[0]);
        for (size_t e = 0; e < y.size(); ++e) y[e] = std::isinf(x[e]) && x[e] < 0 ? 1.0f : 0.0f;
        return;
      }
      case PlanOpKind::AllLastDim: {
        const std::vector<float>& x = in(o.in[0]);
        const int64_t c = T(o.in[0]).shape.back();
        for (int64_t r = 0; r < rows; ++r) {
          bool all = true;
          for (int64_t j = 0; j < c; ++j) all = all && x[static_cast<size_t>(r * c + j)] != 0;
          y[static_cast<size_t>(r)] = all ? 1.0f : 0.0f;
        }
        return;
      }
      case PlanOpKind::WhereRowsZero: {  // in place: rows whose flag is set become `zero`
        const std::vector<float>& flag = in(o.in[0]);
        const float zero = in(o.in[1])[0];
        for (int64_t r = 0; r < rows; ++r)
          if (flag[static_cast<size_t>(r)] != 0)
            for (int64_t j = 0; j < last; ++j) y[static_cast<size_t>(r * last + j)] = zero;
        return;
      }
      case PlanOpKind::Fill:
        std::fill(y.begin(), y.end(), static_cast<float>(o.scalar));
        return;
      case PlanOpKind::CatSink: {
        const std::vector<float>& a = in(o.in[0]);
        const std::vector<float>& sk = in(o.in[1]);
        const int64_t H = out.shape[1], N = out.shape[2];
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t j = 0; j < last; ++j)
            y[static_cast<size_t>(r * last + j)] =
                j < last - 1 ? a[static_cast<size_t>(r * (last - 1) + j)] : sk[static_cast<size_t>(r / N % H)];
        return;
      }
      case PlanOpKind::RowMax:
      case PlanOpKind::RowArgMax:
      case PlanOpKind::RowSum: {
        const std::vector<float>& x = in(o.in[0]);
        const int64_t c = T(o.in[0]).shape.back();
        for (int64_t r = 0; r < rows; ++r) {
          const float* xr = &x[static_cast<size_t>(r * c)];
          float mx = -INFINITY, sum = 0;
          int64_t arg = 0;
          for (int64_t j = 0; j < c; ++j) {
            sum += xr[j];
            if (xr[j] > mx) mx = xr[j], arg = j;
          }
          y[static_cast<size_t>(r)] = o.kind == PlanOpKind::RowMax ? mx
                                    : o.kind == PlanOpKind::RowSum ? rd(ot, sum) : static_cast<float>(arg);
        }
        return;
      }
      case PlanOpKind::SliceBackward: {
        const std::vector<float>& x = in(o.in[0]);
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t j = 0; j < last; ++j)
            y[static_cast<size_t>(r * last + j)] = j < o.cols ? x[static_cast<size_t>(r * o.cols + j)] : 0.0f;
        return;
      }
      case PlanOpKind::MaxBackward: {
        y = in(o.in[0]);
        const std::vector<float>& idx = in(o.in[1]);
        const std::vector<float>& g = in(o.in[2]);
        for (int64_t r = 0; r < rows; ++r) y[static_cast<size_t>(r * last + static_cast<int64_t>(idx[static_cast<size_t>(r)]))] = g[static_cast<size_t>(r)];
        return;
      }
      case PlanOpKind::SinkColumnSum: {
        const PlanTensor& gt = T(o.in[0]);
        const std::vector<float>& x = in(o.in[0]);
        const int64_t B = gt.shape[0], H = gt.shape[1], N = gt.shape[2], K1 = gt.shape[3];
        for (int64_t h = 0; h < H; ++h) {
          float sum = 0;
          for (int64_t b = 0; b < B; ++b)
            for (int64_t i = 0; i < N; ++i) sum += x[static_cast<size_t>(((b * H + h) * N + i) * K1 + K1 - 1)];
          y[static_cast<size_t>(h)] = rd(ot, sum);
        }
        return;
      }
      case PlanOpKind::Softmax:
      case PlanOpKind::SoftmaxBackward: {
        const std::vector<float>& x = in(o.in[0]);
        for (int64_t r = 0; r < rows; ++r) {
          const float* xr = &x[static_cast<size_t>(r * last)];
          float* yr = &y[static_cast<size_t>(r * last)];
          if (o.kind == PlanOpKind::Softmax) {
            float mx = -INFINITY, sum = 0;
            for (int64_t j = 0; j < last; ++j) mx = std::max(mx, xr[j]);
            for (int64_t j = 0; j < last; ++j) sum += std::exp(xr[j] - mx);
            for (int64_t j = 0; j < last; ++j) yr[j] = rd(ot, std::exp(xr[j] - mx) / sum);
          } else {
            const float* sr = &in(o.in[1])[static_cast<size_t>(r * last)];  // xr: tmp = grad * y
            float sum = 0;
            for (int64_t j = 0; j < last; ++j) sum += xr[j];
            for (int64_t j = 0; j < last; ++j) yr[j] = rd(ot, xr[j] - sr[j] * sum);
          }
        }
        return;
      }
      case PlanOpKind::Mul: {
        const std::vector<float>& a = in(o.in[0]);
        const std::vector<float>& b = in(o.in[1]);
        for (size_t e = 0; e < y.size(); ++e) y[e] = rd(ot, a[e] * b[e]);
        return;
      }
      case PlanOpKind::TanhBackward: {
        const std::vector<float>& g = in(o.in[0]);
        const std::vector<float>& t = in(o.in[1]);
        for (size_t e = 0; e < y.size(); ++e) y[e] = rd(ot, g[e] * (1.0f - t[e] * t[e]));
        return;
      }
      case PlanOpKind::Transpose12: {
        const PlanTensor& src = T(o.in[0]);
        const std::vector<float>& x = in(o.in[0]);
        const int64_t B = src.shape[0], H = src.shape[1], N = src.shape[2], D = src.shape[3];
        for (int64_t b = 0; b < B; ++b)
          for (int64_t h = 0; h < H; ++h)
            for (int64_t n = 0; n < N; ++n)
              for (int64_t d = 0; d < D; ++d)
                y[static_cast<size_t>(((b * N + n) * H + h) * D + d)] = x[static_cast<size_t>(((b * H + h) * N + n) * D + d)];
        return;
      }
      case PlanOpKind::GemmQK:
      case PlanOpKind::GemmDP:
      case PlanOpKind::GemmPV:
      case PlanOpKind::GemmDQ:
      case PlanOpKind::GemmDV:
      case PlanOpKind::GemmDK: {
        const PlanTensor& at_ = T(o.in[0]);
        const PlanTensor& bt = T(o.in[1]);
        const std::vector<float>& a = in(o.in[0]);
        const std::vector<float>& bm = in(o.in[1]);
        const int64_t BH = out.shape[0] * out.shape[1], M = out.shape[2], Nn = out.shape[3];
        const int64_t a_rows = at_.shape[2], a_ld = o.lda > 0 ? o.lda : at_.shape[3];
        const int64_t b_rows = bt.shape[2], b_ld = bt.shape[3];
        for (int64_t z = 0; z < BH; ++z) {
          const float* A = &a[static_cast<size_t>(z * a_rows * a_ld)];
          const float* Bp = &bm[static_cast<size_t>(z * b_rows * b_ld)];
          for (int64_t i = 0; i < M; ++i)
            for (int64_t j = 0; j < Nn; ++j) {
              float acc = 0;
              if (o.kind == PlanOpKind::GemmQK || o.kind == PlanOpKind::GemmDP) {  // a·bᵀ
                for (int64_t k = 0; k < a_ld; ++k) acc += A[i * a_ld + k] * Bp[j * b_ld + k];
              } else if (o.kind == PlanOpKind::GemmPV || o.kind == PlanOpKind::GemmDQ) {  // a[:, :cols]·b
                for (int64_t k = 0; k < o.cols; ++k) acc += A[i * a_ld + k] * Bp[k * b_ld + j];
              } else {  // a[:, :cols]ᵀ·b over a's rows
                for (int64_t k = 0; k < a_rows; ++k) acc += A[k * a_ld + i] * Bp[k * b_ld + j];
              }
              y[static_cast<size_t>((z * M + i) * Nn + j)] = rd(ot, acc);
            }
        }
        return;
      }
      default:
        FAIL() << "no host version of " << plan_op_name(o.kind);
    }
  }
  const TorchPlan& p_;
  std::vector<std::vector<float>> t_;
};

// The small layers both host-execution tests draw: bf16, fp16, fp32 in turn, GQA for variants 0-2,
// a cross-attention shape (Nk 33) for `cross_variant`, non-causal for variant 1, a window for 3.
LayerSpec host_plan_layer(int variant, int cross_variant) {
  LayerSpec s;
  s.dtype = variant % 3 == 0 ? DType::BF16 : variant % 3 == 1 ? DType::F16 : DType::F32;
  s.batch = 1 + variant % 2;
  s.heads_kv = 2, s.heads_q = variant < 3 ? 4 : 2;
  s.head_dim = s.head_dim_v = variant == 4 ? 40 : 32;
  s.seq_q = 19 + 7 * variant, s.seq_k = variant == cross_variant ? 33 : s.seq_q;
  s.causal = variant != 1;
  if (variant == 3) s.sliding_window = 8;
  return s;
}

// A [B, Nq, Nk] mask tensor for the host plan: value(b, i, j) at every place.
template <class F>
void fill_host_mask(const LayerSpec& s, std::vector<float>* m, F value) {
  const int64_t B = s.batch, Nq = s.seq_q, Nk = s.seq_k;
  m->resize(static_cast<size_t>(B * Nq * Nk));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < Nq; ++i)
      for (int64_t j = 0; j < Nk; ++j) (*m)[static_cast<size_t>((b * Nq + i) * Nk + j)] = value(static_cast<int>(b), i, j);
}

TEST(TorchPlanBackward, HostExecutionGivesTheCpuEagerGradients) {
  int cases = 0;
  for (int variant = 0; variant < 9; ++variant) {
    LayerSpec s = host_plan_layer(variant, 2);
    if (variant == 4) s.softcap = 20.0f;
    if (variant == 5) {
      s.mask = MaskKind::Padding;
      s.kv_lengths = {s.seq_k, 11};
    }
    // GPT-OSS (sinks, the softmax in the model dtype) in bf16 and fp16; sinks with an fp32 softmax.
    if (variant >= 6) s.sinks = true, s.heads_q = 4, s.softmax_dtype = variant == 8 ? DType::F32 : s.dtype;
    if (variant == 6) s.softcap = 20.0f;  // softcap's backward before the sink column's
    if (variant == 7) s.sliding_window = 6;
    SCOPED_TRACE("variant " + std::to_string(variant));
    Inputs in = random_inputs(s, 100 + variant, Distribution::Normal);
    in.dout = random_dout(s, 200 + variant, {});
    RunOptions o;
    o.backward = true, o.keep_intermediates = false;
    const RunResult cpu = cpu_implementation("eager")->run(s, in, o);
    ASSERT_TRUE(cpu.grad.ran) << cpu.grad.error;
    const TorchPlan p = hf_eager_backward_plan(s);
    HostPlan h(p);
    h.at(p.q) = in.q.data, h.at(p.k) = in.k.data, h.at(p.v) = in.v.data;
    if (p.sinks >= 0)
      for (float x : in.sinks) h.at(p.sinks).push_back(round_to(s.dtype, x));
    const int64_t B = s.batch, H = s.heads_q, Nq = s.seq_q, Dv = s.head_dim_v;
    if (p.mask >= 0)  // transformers' additive eager mask: 0 where visible, the dtype's lowest where not
      fill_host_mask(s, &h.at(p.mask),
                     [&](int b, int64_t i, int64_t j) { return s.visible(b, i, j) ? 0.0f : dtype_lowest(s.dtype); });
    std::vector<float>& g = h.at(p.dout);
    g.resize(static_cast<size_t>(B * Nq * H * Dv));
    for (int64_t b = 0; b < B; ++b)
      for (int64_t hh = 0; hh < H; ++hh)
        for (int64_t i = 0; i < Nq; ++i)
          for (int64_t d = 0; d < Dv; ++d)
            g[static_cast<size_t>(((b * Nq + i) * H + hh) * Dv + d)] =
                in.dout.data[static_cast<size_t>(((b * H + hh) * Nq + i) * Dv + d)];
    h.run();
    if (::testing::Test::HasFatalFailure()) return;
    const std::pair<int, const Tensor*> grads[] = {
        {p.dq, &cpu.grad.dq}, {p.dk, &cpu.grad.dk}, {p.dv, &cpu.grad.dv}, {p.dsinks, &cpu.grad.dsinks}};
    for (const auto& [id, ct] : grads) {
      if (id < 0) {
        EXPECT_TRUE(ct->empty());
        continue;
      }
      const std::vector<float>& got = h.at(id);
      ASSERT_EQ(static_cast<int64_t>(got.size()), ct->numel()) << p.tensors[static_cast<size_t>(id)].name;
      double num = 0, den = 0, worst = 0;
      for (size_t e = 0; e < got.size(); ++e) {
        const double d = double(got[e]) - ct->data[e];
        num += d * d, den += double(ct->data[e]) * ct->data[e];
        worst = std::max(worst, std::fabs(d) / (std::fabs(double(ct->data[e])) + 1e-3));
      }
      // Same rounding points, other summation orders: bit for bit on most layers, an fp16 ulp here
      // and there (measured: relative Frobenius 4e-5 at most, fp32 3e-7).
      const double tol = s.dtype == DType::F32 ? 1e-5 : 1e-3;
      EXPECT_LE(std::sqrt(num / std::max(den, 1e-30)), tol) << p.tensors[static_cast<size_t>(id)].name;
      EXPECT_LE(worst, s.dtype == DType::F32 ? 1e-3 : 0.05) << p.tensors[static_cast<size_t>(id)].name;
    }
    ++cases;
  }
  EXPECT_EQ(cases, 9);
}

// The math backward plan's wiring on the host against the CPU sdpa:math backward (fp32 throughout,
// one rounding per gradient): is_causal (the tril bias), boolean masks for windows and padding (a
// row with no key: _safe_softmax's zeros), GQA's repeat_interleave sums, fp16/bf16/fp32.
TEST(TorchPlanBackward, HostExecutionGivesTheCpuMathGradients) {
  int cases = 0;
  for (int variant = 0; variant < 6; ++variant) {
    LayerSpec s = host_plan_layer(variant, 1);
    if (variant == 5) {
      s.mask = MaskKind::Padding;
      s.kv_lengths = {s.seq_k, 0};  // the second sequence sees no key at all
    }
    SCOPED_TRACE("variant " + std::to_string(variant));
    Inputs in = random_inputs(s, 300 + variant, Distribution::Normal);
    in.dout = random_dout(s, 400 + variant, attended_rows(s, in));
    RunOptions o;
    o.backward = true, o.keep_intermediates = false;
    const RunResult cpu = cpu_implementation("sdpa:math")->run(s, in, o);
    ASSERT_TRUE(cpu.grad.ran) << cpu.grad.error;
    const TorchPlan p = torch_math_backward_plan(s);
    HostPlan h(p);
    h.at(p.q) = in.q.data, h.at(p.k) = in.k.data, h.at(p.v) = in.v.data;
    if (p.mask >= 0)  // the boolean mask SDPA gets: 1 where the key is visible
      fill_host_mask(s, &h.at(p.mask),
                     [&](int b, int64_t i, int64_t j) { return cpu::key_visible(s, in, b, 0, i, j) ? 1.0f : 0.0f; });
    h.at(p.dout) = in.dout.data;
    h.run();
    if (::testing::Test::HasFatalFailure()) return;
    const std::pair<int, const Tensor*> grads[] = {{p.dq, &cpu.grad.dq}, {p.dk, &cpu.grad.dk}, {p.dv, &cpu.grad.dv}};
    for (const auto& [id, ct] : grads) {
      const std::vector<float>& got = h.at(id);
      ASSERT_EQ(static_cast<int64_t>(got.size()), ct->numel()) << p.tensors[static_cast<size_t>(id)].name;
      double num = 0, den = 0;
      int64_t off = 0;
      for (size_t e = 0; e < got.size(); ++e) {
        const double d = double(got[e]) - ct->data[e];
        num += d * d, den += double(ct->data[e]) * ct->data[e];
        // fp32 all the way, one rounding: a different summation order moves an element by one ulp at most.
        off += std::fabs(d) > ulp_at(s.dtype, ct->data[e]) + 1e-6;
      }
      EXPECT_LE(std::sqrt(num / std::max(den, 1e-30)), s.dtype == DType::F32 ? 1e-5 : 2e-3)
          << p.tensors[static_cast<size_t>(id)].name;
      EXPECT_EQ(off, 0) << p.tensors[static_cast<size_t>(id)].name << ": elements more than an ulp apart";
    }
    ++cases;
  }
  EXPECT_EQ(cases, 6);
}

}  // namespace
}  // namespace attnscope
