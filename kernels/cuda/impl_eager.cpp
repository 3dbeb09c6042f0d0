#include "kernels/cuda/impl_eager.h"

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/eager.h"
#include "kernels/format.h"

namespace attnscope::cuda {

namespace {

constexpr int64_t kIntermediateBudget = int64_t{256} << 20;  // S and P copied back when they fit
constexpr size_t kCublasWorkspace = size_t{32} << 20;        // cuBLAS's recommended size on Hopper

class EagerImpl final : public GpuImpl {
 public:
  EagerImpl(const LayerSpec& s, cublasHandle_t cublas, bool math) : spec_(s), cublas_(cublas), math_(math) {}
  int64_t workspace_bytes() const override {
    return 2 * rows() * spec_.seq_k * elem() + static_cast<int64_t>(kCublasWorkspace);
  }
  void prepare(DeviceArena& arena, const DeviceInputs& in, void* out, float* lse) override {
    const LayerSpec& s = spec_;
    EagerParams& ep = p_;
    ep.dtype = s.dtype;
    ep.batch = s.batch, ep.heads_q = s.heads_q, ep.heads_kv = s.heads_kv, ep.seq_q = s.seq_q, ep.seq_k = s.seq_k;
    ep.d = s.head_dim, ep.dv = s.head_dim_v;
    ep.q = in.q, ep.k = in.k, ep.v = in.v, ep.out = out, ep.lse = lse;
    ep.scores = arena.alloc(static_cast<size_t>(rows() * s.seq_k * elem()), "scores", true);
    ep.probs = arena.alloc(static_cast<size_t>(rows() * s.seq_k * elem()), "probs", true);
    ep.scale = static_cast<float>(s.effective_scale());  // fp32, unrounded, as tensor * Python scalar
    ep.softcap = s.softcap;
    ep.sinks = math_ ? nullptr : in.sinks;
    ep.model_dtype_softmax = !math_ && s.softmax_dtype != DType::F32;
    ep.diag_offset = s.diag_offset();
    s.effective_window(&ep.window_left, &ep.window_right);
    ep.kv_len = in.kv_len;
    ep.mask = in.mask, ep.mask_kind = in.mask_kind;
    ep.m_batch_stride = in.m_batch_stride, ep.m_head_stride = in.m_head_stride, ep.m_row_stride = in.m_row_stride;
    void* workspace = arena.alloc(kCublasWorkspace, "cublas workspace", true);
    ATTNSCOPE_CUBLAS_CHECK(cublasSetWorkspace(cublas_, workspace, kCublasWorkspace));
    bound_ = true;
  }
  void launch(cudaStream_t s) override { run_eager(cublas_, p_, s); }
  void collect(RunResult* r, const RunOptions& opt, cudaStream_t s) override {
    if (!opt.keep_intermediates) return;
    const LayerSpec& sp = spec_;
    if (2 * rows() * sp.seq_k * 4 <= kIntermediateBudget) {
      r->scores = download(p_.scores, sp.dtype, {sp.batch, sp.heads_q, sp.seq_q, sp.seq_k}, s);
      r->probs = download(p_.probs, sp.dtype, {sp.batch, sp.heads_q, sp.seq_q, sp.seq_k}, s);
    } else {
      r->verdict.add(Severity::Note, "gpu.intermediates_budget",
                     "S and P (" + format_bytes(2 * rows() * sp.seq_k * 4) + " as fp32 on the host) exceed the " +
                         format_bytes(kIntermediateBudget) + " budget and were not copied back",
                     "attnscope GPU backend");
    }
  }
  std::string path() const override { return "cuBLAS + softmax kernel"; }
  void release() override {
    if (bound_) cublasSetWorkspace(cublas_, nullptr, 0);
    bound_ = false;
  }

 private:
  int64_t rows() const { return int64_t{spec_.batch} * spec_.heads_q * spec_.seq_q; }
  int64_t elem() const { return spec_.dtype == DType::F32 ? 4 : 2; }
  LayerSpec spec_;
  cublasHandle_t cublas_;
  bool math_;
  bool bound_ = false;
  EagerParams p_;
};

}  // namespace

std::unique_ptr<GpuImpl> make_eager_impl(const LayerSpec& s, cublasHandle_t cublas, bool math) {
  return std::make_unique<EagerImpl>(s, cublas, math);
}

}  // namespace attnscope::cuda
