// The fused families: flash2 and sink (the sm90 wgmma kernel on 9.x, the sm80 mma.sync kernel
// elsewhere), and sdpa's memory-efficient backend. Parameters come from set_params_fprop.
#include "kernels/cuda/impl_fused.h"

#include <algorithm>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/efficient_kernel.h"
#include "kernels/cuda/flash_bwd_params.h"
#include "kernels/cuda/flash_dispatch.h"

namespace attnscope::cuda {

namespace {

// A [rows, from] matrix copied into the first columns of a [rows, to] one (or back): the head-dim
// padding flash_attn's Python wrapper does with F.pad before the kernel and undoes after it.
void copy_columns(void* dst, int dst_cols, const void* src, int src_cols, int cols, int64_t rows, cudaStream_t s) {
  ATTNSCOPE_CUDA_CHECK(cudaMemcpy2DAsync(dst, size_t(dst_cols) * 2, src, size_t(src_cols) * 2, size_t(cols) * 2,
                                         static_cast<size_t>(rows), cudaMemcpyDeviceToDevice, s));
}

class FlashImpl final : public GpuImpl {
 public:
  FlashImpl(const LayerSpec& s, const DeviceInfo& dev, bool sink_family) : spec_(s), sink_family_(sink_family) {
    path_ = choose_flash_path(dev.cc_major, s.dtype, s.head_dim, s.head_dim_v, nullptr);
    // The TMA reads 16-byte rows: on the sm90 path a head dim that is not a multiple of 8 runs on
    // zero-padded copies, as flash_attn's wrapper pads (and allocates) before calling its kernel.
    padded_ = path_ == FlashPath::Sm90 && s.head_dim % 8 != 0;
    d_pad_ = (s.head_dim + 7) / 8 * 8;
  }
  int64_t workspace_bytes() const override {
    if (!padded_) return 0;
    const LayerSpec& s = spec_;
    return (int64_t{s.batch} * (s.heads_q * int64_t{s.seq_q} * 2 + s.heads_kv * int64_t{s.seq_k} * 2)) * d_pad_ * 2;
  }
  void prepare(DeviceArena& arena, const DeviceInputs& in, void* out, float* lse) override {
    // The sink kernel on a layer without sinks is plain attention: the Sinks=false instantiation.
    const FusedInputsUse use{sink_family_ && spec_.sinks, false};
    src_ = in, out_ = out, lse_ = lse;
    if (!padded_) {
      p_ = set_params_fprop(spec_, in, out, lse, use);
      return;
    }
    const LayerSpec& s = spec_;
    q_rows_ = int64_t{s.batch} * s.heads_q * s.seq_q;
    kv_rows_ = int64_t{s.batch} * s.heads_kv * s.seq_k;
    DeviceInputs padded = in;
    padded.q = alloc_zeroed(arena, q_rows_, "q (head dim padded)");
    padded.k = alloc_zeroed(arena, kv_rows_, "k (head dim padded)");
    padded.v = alloc_zeroed(arena, kv_rows_, "v (head dim padded)");
    out_pad_ = alloc_zeroed(arena, q_rows_, "out (head dim padded)");
    LayerSpec sp = s;
    sp.head_dim = sp.head_dim_v = d_pad_;
    sp.scale = s.effective_scale();  // 1/sqrt of the real head dim
    p_ = set_params_fprop(sp, padded, out_pad_, lse, use);
  }
  void launch(cudaStream_t s) override {
    pad_in(s);
    run_flash(path_, spec_.dtype, p_, p_.sinks != nullptr, false, s);
    pad_out(out_, s);
  }
  bool launch_probe(const FlashParams& probe, cudaStream_t s) override {
    pad_in(s);
    FlashParams pp = with_probe(p_, probe);
    if (padded_) pp.out = out_pad_;  // the timed output was downloaded already
    run_flash(path_, spec_.dtype, pp, p_.sinks != nullptr, true, s);
    pad_out(probe.out, s);
    return true;
  }
  int kv_tile() const override { return flash_kv_tile(path_, compiled_head_dim(), p_); }
  int block_m() const override { return flash_block_m(path_, compiled_head_dim(), p_); }
  std::string path() const override {
    return path_ == FlashPath::Sm90 ? "sm90 wgmma+TMA, warp-specialised" : "sm80 mma.sync";
  }

  // The backward: FA2's algorithm on mma.sync for both forward paths (its buffers are FA2's: dq_accum
  // in fp32, dK/dV per query head where a group shares a KV head).
  std::string no_backward() const override {
    if (spec_.dtype == DType::F32) return "the flash backward is fp16/bf16 only";
    const int hd = flash_compiled_head_dim(FlashPath::Sm80, std::max(spec_.head_dim, spec_.head_dim_v));
    if (hd == 0 || !flash_bwd_instantiated(spec_.dtype, hd))
      return std::string(dtype_name(spec_.dtype)) + " x head dim " + std::to_string(hd) +
             " of the flash backward is not compiled in this build (ATTNSCOPE_CI_REDUCED)";
    return "";
  }
  int64_t backward_bytes() const override {
    const LayerSpec& s = spec_;
    const int64_t e = 2, rows = int64_t{s.batch} * s.heads_q * s.seq_q;
    const int64_t kv_q = int64_t{s.batch} * s.heads_q * s.seq_k, kv = int64_t{s.batch} * s.heads_kv * s.seq_k;
    int64_t b = rows * 4 + rows * s.head_dim * (4 + e) + kv * (s.head_dim + s.head_dim_v) * e;
    if (s.kv_group() > 1) b += kv_q * (s.head_dim + s.head_dim_v) * e;
    return b + int64_t{s.heads_q} * 8;
  }
  void prepare_backward(DeviceArena& arena, const void* dout, cudaStream_t st) override {
    const LayerSpec& s = spec_;
    const DType dt = s.dtype;
    const int64_t rows = int64_t{s.batch} * s.heads_q * s.seq_q;
    const int64_t kv_q = int64_t{s.batch} * s.heads_q * s.seq_k, kv = int64_t{s.batch} * s.heads_kv * s.seq_k;
    FlashBwdParams& bp = bwd_;
    bp.fwd = set_params_fprop(s, src_, out_, lse_, {sink_family_ && s.sinks, false});
    bp.dout = dout;
    bp.dsum = arena.alloc_as<float>(static_cast<size_t>(rows), "bwd: D = rowsum(dO*O)", true);
    bp.dq_accum = arena.alloc_as<float>(static_cast<size_t>(rows * s.head_dim), "bwd: dq_accum (fp32)", true);
    bp.dq = arena.alloc(static_cast<size_t>(rows * s.head_dim * 2), "dq", true);
    bp.dk = arena.alloc(static_cast<size_t>(kv * s.head_dim * 2), "dk", true);
    bp.dv = arena.alloc(static_cast<size_t>(kv * s.head_dim_v * 2), "dv", true);
    if (s.kv_group() > 1) {
      bp.dk_head = arena.alloc(static_cast<size_t>(kv_q * s.head_dim * 2), "bwd: dk per query head", true);
      bp.dv_head = arena.alloc(static_cast<size_t>(kv_q * s.head_dim_v * 2), "bwd: dv per query head", true);
    } else {
      bp.dk_head = bp.dk, bp.dv_head = bp.dv;
    }
    if (bp.fwd.sinks) {
      bp.dsink_accum = arena.alloc_as<float>(static_cast<size_t>(s.heads_q), "bwd: dsinks (fp32)", true);
      bp.dsinks = arena.alloc_as<float>(static_cast<size_t>(s.heads_q), "dsinks", true);
    }
    poison(bp.dq, dt, static_cast<size_t>(rows * s.head_dim), st);
    poison(bp.dk, dt, static_cast<size_t>(kv * s.head_dim), st);
    poison(bp.dv, dt, static_cast<size_t>(kv * s.head_dim_v), st);
  }
  void launch_backward(cudaStream_t st) override {
    if (bwd_.dsink_accum) ATTNSCOPE_CUDA_CHECK(cudaMemsetAsync(bwd_.dsink_accum, 0, spec_.heads_q * 4, st));
    run_flash_bwd(spec_.dtype, bwd_, bwd_.fwd.sinks != nullptr, st);
  }
  void collect_backward(Gradients* g, cudaStream_t st) override {
    const LayerSpec& s = spec_;
    g->dq = download(bwd_.dq, s.dtype, {s.batch, s.heads_q, s.seq_q, s.head_dim}, st);
    g->dk = download(bwd_.dk, s.dtype, {s.batch, s.heads_kv, s.seq_k, s.head_dim}, st);
    g->dv = download(bwd_.dv, s.dtype, {s.batch, s.heads_kv, s.seq_k, s.head_dim_v}, st);
    if (s.sinks) {
      if (bwd_.dsinks) {
        g->dsinks = download(bwd_.dsinks, DType::F32, {s.heads_q}, st);
      } else {  // the flash2 family ignores the sinks: their gradient is 0 (as the CPU version says)
        g->dsinks = Tensor(DType::F32, {s.heads_q}, 0.0f);
      }
      g->dsinks.dtype = s.dtype;  // stored rounded to the model dtype
    }
  }

 private:
  int compiled_head_dim() const {
    return flash_compiled_head_dim(path_, std::max(spec_.head_dim, spec_.head_dim_v));
  }
  void* alloc_zeroed(DeviceArena& arena, int64_t rows, const char* what) {
    void* d = arena.alloc(static_cast<size_t>(rows * d_pad_ * 2), what, true);
    // The padding columns stay zero for every launch; the legacy stream's memset is finished before
    // the run's (non-blocking) stream touches the buffer.
    ATTNSCOPE_CUDA_CHECK(cudaMemset(d, 0, static_cast<size_t>(rows * d_pad_ * 2)));
    ATTNSCOPE_CUDA_CHECK(cudaStreamSynchronize(nullptr));
    return d;
  }
  void pad_in(cudaStream_t s) {
    if (!padded_) return;
    const int d = spec_.head_dim;
    copy_columns(const_cast<void*>(p_.q), d_pad_, src_.q, d, d, q_rows_, s);
    copy_columns(const_cast<void*>(p_.k), d_pad_, src_.k, d, d, kv_rows_, s);
    copy_columns(const_cast<void*>(p_.v), d_pad_, src_.v, d, d, kv_rows_, s);
  }
  void pad_out(void* dst, cudaStream_t s) {
    if (padded_) copy_columns(dst, spec_.head_dim_v, out_pad_, d_pad_, spec_.head_dim_v, q_rows_, s);
  }

  LayerSpec spec_;
  bool sink_family_;
  FlashPath path_;
  FlashParams p_;
  bool padded_ = false;
  int d_pad_ = 0;
  int64_t q_rows_ = 0, kv_rows_ = 0;
  DeviceInputs src_;
  void* out_ = nullptr;
  float* lse_ = nullptr;
  void* out_pad_ = nullptr;
  FlashBwdParams bwd_;
};

// PyTorch's memory-efficient backend semantics (an explicit boolean or additive attn_mask, no sinks):
// fp16/bf16 on the tensor cores through the sm80 flash kernel's Mask=true variant (PyTorch's own is
// an sm80-generation CUTLASS kernel on every GPU), fp32 on the SIMT kernel (efficient_kernel.cu).
class EfficientImpl final : public GpuImpl {
 public:
  explicit EfficientImpl(const LayerSpec& s) : spec_(s), tensor_cores_(s.dtype != DType::F32) {}
  void prepare(DeviceArena&, const DeviceInputs& in, void* out, float* lse) override {
    p_ = set_params_fprop(spec_, in, out, lse, {false, true});
  }
  void launch(cudaStream_t s) override { run(p_, false, s); }
  bool launch_probe(const FlashParams& probe, cudaStream_t s) override {
    run(with_probe(p_, probe), true, s);
    return true;
  }
  int kv_tile() const override {
    return tensor_cores_ ? flash_kv_tile(FlashPath::Sm80, 64, p_) : kEfficientBlockN;
  }
  int block_m() const override {
    return tensor_cores_ ? flash_block_m(FlashPath::Sm80, 64, p_) : kEfficientBlockM;
  }
  std::string path() const override {
    return tensor_cores_ ? "memory-efficient on sm80 mma.sync" : "memory-efficient (SIMT, fp32)";
  }

 private:
  void run(const FlashParams& p, bool probe, cudaStream_t s) const {
    if (tensor_cores_) run_flash(FlashPath::Sm80, spec_.dtype, p, false, probe, s);
    else run_efficient(spec_.dtype, p, probe, s);
  }
  LayerSpec spec_;
  bool tensor_cores_;
  FlashParams p_;
};

}  // namespace

FlashParams with_probe(const FlashParams& p, const FlashParams& probe) {
  FlashParams r = p;
  r.out = probe.out, r.lse = probe.lse;
  r.probe_batch = probe.probe_batch, r.probe_head = probe.probe_head;
  r.probe_row_begin = probe.probe_row_begin, r.probe_row_end = probe.probe_row_end;
  r.probe_tiles = probe.probe_tiles, r.probe_p = probe.probe_p, r.probe_max = probe.probe_max;
  r.probe_sum = probe.probe_sum, r.probe_tile_used = probe.probe_tile_used;
  return r;
}

std::unique_ptr<GpuImpl> make_flash_impl(const LayerSpec& s, const DeviceInfo& dev, bool sink_family) {
  return std::make_unique<FlashImpl>(s, dev, sink_family);
}
std::unique_ptr<GpuImpl> make_efficient_impl(const LayerSpec& s) { return std::make_unique<EfficientImpl>(s); }

}  // namespace attnscope::cuda
