#include "kernels/cuda/impl_eager.h"

#include <algorithm>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <vector>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/hf_mask.h"
#include "kernels/cuda/plan_runner.h"
#include "kernels/cuda/torch_ops.h"
#include "kernels/format.h"
#include "kernels/torch_plan.h"

namespace attnscope::cuda {

namespace {

namespace tl = torchlike;

constexpr int64_t kIntermediateBudget = int64_t{256} << 20;  // S and P copied back when they fit
// torch keeps one cuBLAS workspace per handle, allocated at the first GEMM and never freed, so
// max_memory_allocated around a call does not see it: here it is held uncounted too.
constexpr size_t kCublasWorkspace = size_t{32} << 20;  // torch's size on Hopper

DType dtype_of(TType t) { return t == TType::F32 ? DType::F32 : t == TType::F16 ? DType::F16 : DType::BF16; }

class TorchPlanImpl final : public GpuImpl {
 public:
  TorchPlanImpl(const LayerSpec& s, cublasHandle_t cublas, int sm_count, bool math)
      : spec_(s), math_(math), runner_(build(1)) {
    env_.cublas = cublas;
    env_.sm_count = sm_count;
  }

  int64_t workspace_bytes() const override {
    const int64_t e = spec_.dtype == DType::F32 ? 4 : 2;
    const int64_t mask = int64_t{spec_.batch} * spec_.seq_q * spec_.seq_k * e;
    return static_cast<int64_t>(runner_.pool_bytes()) + mask + static_cast<int64_t>(kCublasWorkspace) +
           kIntermediateBudget / 2;
  }
  bool counts_own_output() const override { return true; }

  void prepare(DeviceArena& arena, const DeviceInputs& in, void* out, float* lse) override {
    arena_ = &arena;
    out_ = out;
    lse_ = lse;
    const cudaStream_t st = nullptr;  // setup on the legacy stream, synchronised below
    if (in.mask && in.m_head_stride != 0) runner_ = PlanRunner(build(spec_.heads_q));  // a per-head mask
    const TorchPlan& p = runner_.plan();
    // The plan's worst case, allocated once; its tensors are counted one by one in collect().
    runner_.set_pool(arena.alloc(runner_.pool_bytes(), "torch plan pool (tensors counted as torch allocates them)",
                                 false));
    runner_.bind(p.q, in.q);
    runner_.bind(p.k, in.k);
    runner_.bind(p.v, in.v);
    if (p.sinks >= 0) {  // module.sinks is a model-dtype parameter
      const PlanTensor& t = p.tensors[static_cast<size_t>(p.sinks)];
      void* d = arena.alloc(static_cast<size_t>(t.bytes()), "sinks (model dtype)", false);
      tl::copy(tl::View::dense(t.type, d, t.shape), tl::View::dense(TType::F32, const_cast<float*>(in.sinks), t.shape),
               st);
      runner_.bind(p.sinks, d);
    }
    if (p.mask >= 0) {  // what transformers builds before the call
      const PlanTensor& t = p.tensors[static_cast<size_t>(p.mask)];
      void* d = arena.alloc(static_cast<size_t>(t.bytes()), "attention mask (built by transformers)", false);
      HfMaskParams mp;
      mp.batch = static_cast<int>(t.shape[0]), mp.heads = static_cast<int>(t.shape[1]);
      mp.seq_q = spec_.seq_q, mp.seq_k = spec_.seq_k;
      mp.diag_offset = spec_.diag_offset();
      spec_.effective_window(&mp.window_left, &mp.window_right);
      mp.kv_len = in.kv_len;
      mp.mask = in.mask, mp.mask_kind = in.mask_kind;
      mp.m_batch_stride = in.m_batch_stride, mp.m_head_stride = in.m_head_stride, mp.m_row_stride = in.m_row_stride;
      const HfMaskForm form = t.type == TType::Bool ? HfMaskForm::Bool
                              : math_              ? HfMaskForm::AdditiveInf
                                                   : HfMaskForm::AdditiveMin;
      build_hf_mask(d, t.type, form, mp, st);
      runner_.bind(p.mask, d);
    }
    void* ws = arena.alloc(kCublasWorkspace, "cuBLAS workspace (torch's persists across calls)", false);
    ATTNSCOPE_CUBLAS_CHECK(cublasSetWorkspace(env_.cublas, ws, kCublasWorkspace));
    bound_ = true;
    ATTNSCOPE_CUDA_CHECK(cudaDeviceSynchronize());
  }

  void launch(cudaStream_t s) override {
    env_.stream = s;
    runner_.run(env_);
  }

  // Once more, untimed: count each allocation as torch would, read S, P and the LSE right after
  // their last writer, and leave the output in the harness's [B, Hq, Nq, Dv] buffer.
  void collect(RunResult* r, const RunOptions& opt, cudaStream_t s) override {
    env_.stream = s;
    const TorchPlan& p = runner_.plan();
    const LayerSpec& sp = spec_;
    const int64_t rows = int64_t{sp.batch} * sp.heads_q * sp.seq_q, Nk = sp.seq_k;
    const bool fits = 2 * rows * Nk * 4 <= kIntermediateBudget;
    const bool keep = opt.keep_intermediates && fits;
    if (opt.keep_intermediates && !fits)
      r->verdict.add(Severity::Note, "gpu.intermediates_budget",
                     "S and P (" + format_bytes(2 * rows * Nk * 4) + " as fp32 on the host) exceed the " +
                         format_bytes(kIntermediateBudget) + " budget and were not copied back",
                     "attnscope GPU backend");
    const PlanTensor& ts = p.tensors[static_cast<size_t>(p.scores)];
    const PlanTensor& tp = p.tensors[static_cast<size_t>(p.probs)];
    const PlanTensor& tl_from = p.tensors[static_cast<size_t>(p.lse_from)];
    void* s_copy = keep ? arena_->alloc(static_cast<size_t>(ts.bytes()), "S (capture)", false) : nullptr;
    const int64_t pe = ttype_bytes(tp.type);
    void* p_copy = keep ? arena_->alloc(static_cast<size_t>(rows * Nk * pe), "P (capture)", false) : nullptr;
    const int w_s = runner_.last_writer(p.scores), w_p = runner_.last_writer(p.probs),
              w_l = runner_.last_writer(p.lse_from);
    runner_.run(env_, [&](const PlanEvent& e) {
      if (e.kind != PlanEvent::Kind::Op) {
        const PlanTensor& t = p.tensors[static_cast<size_t>(e.index)];
        const int64_t b = torch_alloc_bytes(t.bytes());
        arena_->account(e.kind == PlanEvent::Kind::Alloc ? b : -b, t.name);
        return;
      }
      if (e.index == w_l)
        tl::row_logsumexp(lse_, runner_.ptr(p.lse_from), tl_from.type, rows, tl_from.shape.back(),
                          tl_from.shape.back(), s);
      if (keep && e.index == w_s)
        ATTNSCOPE_CUDA_CHECK(cudaMemcpyAsync(s_copy, runner_.ptr(p.scores), static_cast<size_t>(ts.bytes()),
                                             cudaMemcpyDeviceToDevice, s));
      if (keep && e.index == w_p)
        ATTNSCOPE_CUDA_CHECK(cudaMemcpy2DAsync(p_copy, static_cast<size_t>(Nk * pe), runner_.ptr(p.probs),
                                               static_cast<size_t>(p.probs_row_stride * pe),
                                               static_cast<size_t>(Nk * pe), static_cast<size_t>(rows),
                                               cudaMemcpyDeviceToDevice, s));
    });
    // The output, still held at the end of the call: HF's is [B, Nq, Hq, Dv] (transposed), math's
    // [B, Hq, Nq, Dv].
    const PlanTensor& to = p.tensors[static_cast<size_t>(p.out)];
    const tl::View dst = tl::View::dense(to.type, out_, {sp.batch, sp.heads_q, sp.seq_q, sp.head_dim_v});
    tl::View src = dst;
    src.data = runner_.ptr(p.out);
    if (p.out_bnhd) {
      const int64_t H = sp.heads_q, N = sp.seq_q, D = sp.head_dim_v;
      const int64_t st[4] = {N * H * D, D, H * D, 1};
      std::copy(std::begin(st), std::end(st), src.stride);
    }
    tl::copy(dst, src, s);
    if (keep) {
      r->scores = download(s_copy, dtype_of(ts.type), {sp.batch, sp.heads_q, sp.seq_q, Nk}, s);
      r->probs = download(p_copy, dtype_of(tp.type), {sp.batch, sp.heads_q, sp.seq_q, Nk}, s);
    }
    ATTNSCOPE_CUDA_CHECK(cudaStreamSynchronize(s));
  }

  std::string path() const override {
    return runner_.plan().what + ", op by op as torch runs it (cuBLAS, TensorIterator-style kernels)";
  }
  void release() override {
    if (bound_) cublasSetWorkspace(env_.cublas, nullptr, 0);
    bound_ = false;
  }

  // The backward: autograd's plan (hf_eager_backward_plan, torch_math_backward_plan) on the same
  // runner. Its forward section runs once in prepare_backward, untimed, leaving the tensors autograd
  // saves in their pinned places; each timed launch replays the backward section alone (as
  // torch.autograd.grad with retain_graph=True would, where the saved tensors outlive a call).
  std::string no_backward() const override { return ""; }
  int64_t backward_bytes() const override {
    const TorchPlan bp = backward_plan();
    std::vector<int64_t> off;
    const int64_t dout = int64_t{spec_.batch} * spec_.heads_q * spec_.seq_q * spec_.head_dim_v *
                         (spec_.dtype == DType::F32 ? 4 : 2);
    return bp.place(&off, bp.backward_begin) + dout;
  }
  void prepare_backward(DeviceArena& arena, const void* dout, cudaStream_t s) override {
    bwd_arena_ = &arena;
    TorchPlan plan = backward_plan();
    const int pin = plan.backward_begin;
    bwd_ = std::make_unique<PlanRunner>(std::move(plan), pin);
    const TorchPlan& bp = bwd_->plan();
    const TorchPlan& fp = runner_.plan();
    if (bp.backward_begin < 0 || bp.dout < 0 || bp.dq < 0 || bp.dk < 0 || bp.dv < 0)
      throw std::logic_error(std::string(math_ ? "sdpa:math" : "eager") + " backward: the plan has no backward section");
    bwd_->set_pool(arena.alloc(bwd_->pool_bytes(), "autograd plan pool (tensors counted as torch allocates them)",
                               false));
    // The forward's inputs, on the device already (the forward arena outlives the backward).
    bwd_->bind(bp.q, runner_.ptr(fp.q));
    bwd_->bind(bp.k, runner_.ptr(fp.k));
    bwd_->bind(bp.v, runner_.ptr(fp.v));
    if (bp.mask >= 0) bwd_->bind(bp.mask, runner_.ptr(fp.mask));
    if (bp.sinks >= 0) bwd_->bind(bp.sinks, runner_.ptr(fp.sinks));
    if (math_) {  // SDPA's output is [B, Hq, Nq, Dv]: dO as it is
      bwd_->bind(bp.dout, const_cast<void*>(dout));
    } else {  // dO [B, Hq, Nq, Dv] as attn_output.grad [B, Nq, Hq, Dv] (the transposed output's gradient)
      const PlanTensor& tg = bp.tensors[static_cast<size_t>(bp.dout)];
      void* g = arena.alloc(static_cast<size_t>(tg.bytes()), "dO as attn_output.grad [B, Nq, Hq, Dv]", false);
      const int64_t H = spec_.heads_q, N = spec_.seq_q, D = spec_.head_dim_v;
      tl::View src = tl::View::dense(tg.type, const_cast<void*>(dout), tg.shape);
      const int64_t st[4] = {N * H * D, D, N * D, 1};  // [B, Nq, Hq, Dv] read from [B, Hq, Nq, Dv]
      std::copy(std::begin(st), std::end(st), src.stride);
      tl::copy(tl::View::dense(tg.type, g, tg.shape), src, s);
      bwd_->bind(bp.dout, g);
    }
    // The forward under autograd, once: what the backward's nodes saved.
    env_.stream = s;
    bwd_->run(env_, nullptr, 0, bp.backward_begin);
    ATTNSCOPE_CUDA_CHECK(cudaStreamSynchronize(s));
  }
  void launch_backward(cudaStream_t s) override {
    env_.stream = s;
    bwd_->run(env_, nullptr, bwd_->plan().backward_begin);
  }
  // Once more, untimed: the saved tensors are counted as alive at the start, then every gradient
  // buffer as autograd allocates and frees it; the gradients downloaded.
  void collect_backward(Gradients* g, cudaStream_t s) override {
    env_.stream = s;
    const TorchPlan& bp = bwd_->plan();
    auto account = [&](int id, int sign) {
      const PlanTensor& t = bp.tensors[static_cast<size_t>(id)];
      bwd_arena_->account(sign * torch_alloc_bytes(t.bytes()), t.name);
    };
    for (int id : bp.alive_at(bp.backward_begin)) account(id, 1);
    bwd_->run(env_, [&](const PlanEvent& e) {
      if (e.kind != PlanEvent::Kind::Op) account(e.index, e.kind == PlanEvent::Kind::Alloc ? 1 : -1);
    }, bp.backward_begin);
    auto fetch = [&](int id) {
      const PlanTensor& t = bp.tensors[static_cast<size_t>(id)];
      return download(bwd_->ptr(id), dtype_of(t.type), t.shape, s);
    };
    g->dq = fetch(bp.dq);
    g->dk = fetch(bp.dk);
    g->dv = fetch(bp.dv);
    if (bp.dsinks >= 0) g->dsinks = fetch(bp.dsinks);
    ATTNSCOPE_CUDA_CHECK(cudaStreamSynchronize(s));
  }

 private:
  TorchPlan build(int mask_heads) const {
    return math_ ? torch_math_plan(spec_, mask_heads) : hf_eager_plan(spec_, mask_heads);
  }
  // The backward plan with the forward runner's mask broadcast (a per-head mask: Hq heads).
  TorchPlan backward_plan() const {
    const TorchPlan& fp = runner_.plan();
    const int heads = fp.mask >= 0 ? static_cast<int>(fp.tensors[static_cast<size_t>(fp.mask)].shape[1]) : 1;
    return math_ ? torch_math_backward_plan(spec_, heads) : hf_eager_backward_plan(spec_, heads);
  }
  LayerSpec spec_;
  bool math_;
  PlanRunner runner_;
  PlanEnv env_;
  DeviceArena* arena_ = nullptr;
  DeviceArena* bwd_arena_ = nullptr;
  std::unique_ptr<PlanRunner> bwd_;
  void* out_ = nullptr;
  float* lse_ = nullptr;
  bool bound_ = false;
};

}  // namespace

std::unique_ptr<GpuImpl> make_eager_impl(const LayerSpec& s, cublasHandle_t cublas, int sm_count, bool math) {
  LayerSpec spec = s;
  if (math) spec.sinks = false, spec.softcap = 0;  // SDPA has neither (what-if runs drop them)
  return std::make_unique<TorchPlanImpl>(spec, cublas, sm_count, math);
}

}  // namespace attnscope::cuda
