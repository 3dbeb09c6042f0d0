#include "kernels/cuda/cudnn_attention.h"

#include <dlfcn.h>

#include <cmath>
#include <cstdlib>
#include <mutex>
#include <unordered_map>

#include "kernels/cuda/cuda_check.h"
#include "kernels/torch_plan.h"

#if ATTNSCOPE_HAVE_CUDNN_FRONTEND

#include <filesystem>
#include <functional>
#include <map>

#define CUDNN_FRONTEND_SKIP_JSON_LIB
#include <cudnn_frontend.h>

#include "kernels/cuda/hf_mask.h"
#include "kernels/memory_model.h"

// The frontend's dynamic loading resolves every cuDNN call through this handle.
namespace cudnn_frontend {
void* cudnn_dlhandle = nullptr;
}

namespace fe = cudnn_frontend;

// One check per API (kernels/cuda/cuda_check.h): cuDNN's status codes and the frontend's error_t.
#define ATTNSCOPE_CUDNN_CHECK(expr)                                                                      \
  do {                                                                                                   \
    cudnnStatus_t attnscope_s_ = (expr);                                                                 \
    if (attnscope_s_ != CUDNN_STATUS_SUCCESS)                                                            \
      throw ::attnscope::cuda::GpuFailure(std::string(fe::detail::get_error_string(attnscope_s_)) +      \
                                              " in " #expr " at " + __FILE__ + ":" + std::to_string(__LINE__), \
                                          false, attnscope_s_ == CUDNN_STATUS_ALLOC_FAILED);             \
  } while (0)
#define ATTNSCOPE_CUDNN_FE_CHECK(expr)                                                                   \
  do {                                                                                                   \
    auto attnscope_e_ = (expr);                                                                          \
    if (!attnscope_e_.is_good())                                                                         \
      throw ::attnscope::cuda::GpuFailure("cuDNN frontend: " + attnscope_e_.get_message() + " in " #expr \
                                              " at " + __FILE__ + ":" + std::to_string(__LINE__),        \
                                          false, false);                                                 \
  } while (0)

namespace attnscope::cuda {

namespace {

constexpr const char* kSource = "attnscope GPU backend";

// torch's uids (MHA.cpp enum UIDS): the graph is keyed by them in the variant pack.
enum Uid : int64_t { kQ, kK, kV, kO, kBias, kScale, kSeed, kOffset, kLse, kDO, kDQ, kDK, kDV };

// cuDNN 9 keeps its engines in sibling libraries (libcudnn_graph, libcudnn_engines_*, ...) that
// libcudnn.so.9 opens by name: given a path, load them from the same folder first.
void preload_siblings(const std::string& lib) {
  const std::filesystem::path dir = std::filesystem::path(lib).parent_path();
  if (dir.empty()) return;
  for (const char* name : {"libcudnn_graph.so.9", "libcudnn_engines_precompiled.so.9",
                           "libcudnn_engines_runtime_compiled.so.9", "libcudnn_heuristic.so.9", "libcudnn_ops.so.9",
                           "libcudnn_adv.so.9", "libcudnn_cnn.so.9"}) {
    const std::filesystem::path p = dir / name;
    std::error_code ec;
    if (std::filesystem::exists(p, ec)) dlopen(p.c_str(), RTLD_NOW | RTLD_GLOBAL);
  }
}

CudnnLibrary load() {
  CudnnLibrary l;
  const char* env = std::getenv("ATTNSCOPE_CUDNN_LIBRARY");
  const std::string lib = env && *env ? env : "libcudnn.so.9";
  // The frontend opens the CUDA runtime by name too: the one this plugin was built against.
  setenv("CUDNN_FRONTEND_CUDART_LIB_NAME", ("libcudart.so." + std::to_string(CUDART_VERSION / 1000)).c_str(), 0);
  if (lib.find('/') != std::string::npos) preload_siblings(lib);
  dlerror();
  void* h = dlopen(lib.c_str(), RTLD_NOW | RTLD_GLOBAL);
  if (!h) {
    const char* e = dlerror();
    l.why = "cannot load " + lib + " (" + (e ? e : "unknown dlopen error") +
            "); install cuDNN 9 or point ATTNSCOPE_CUDNN_LIBRARY at a libcudnn.so.9 (torch's copy is in "
            "site-packages/nvidia/cudnn/lib)";
    return l;
  }
  fe::cudnn_dlhandle = h;
  try {
    l.version_number = static_cast<long>(fe::detail::get_backend_version());
  } catch (const std::exception& e) {
    l.why = lib + " loaded, but cudnnGetVersion failed: " + e.what();
    return l;
  }
  const long v = l.version_number;
  l.version = std::to_string(v / 10000) + "." + std::to_string((v % 10000) / 100) + "." + std::to_string(v % 100);
  Dl_info info{};
  void* sym = dlsym(h, "cudnnGetVersion");
  l.path = sym && dladdr(sym, &info) && info.dli_fname ? info.dli_fname : lib;
  if (v < 90000) {
    l.why = "cuDNN " + l.version + " at " + l.path + " is older than 9.0, which torch's cuDNN attention needs";
    return l;
  }
  l.available = true;
  return l;
}

struct Handle {
  cudnnHandle_t h = nullptr;
  Handle() { ATTNSCOPE_CUDNN_CHECK(fe::detail::create_handle(&h)); }
};
cudnnHandle_t handle() {
  static Handle hd;  // process-wide, as torch's per-device handle; created on first use
  return hd.h;
}

// Everything that shapes a graph (torch's MHAParams): dims, strides, dtype, causal, bias, stats;
// the backward's graphs in a cache of their own (torch's mhagraphbackwardcache).
std::string graph_key(const LayerSpec& s, bool causal, const std::vector<int64_t>& bias_dims, bool stats,
                      bool backward) {
  std::string k = std::to_string(s.batch) + "," + std::to_string(s.heads_q) + "," + std::to_string(s.heads_kv) + "," +
                  std::to_string(s.seq_q) + "," + std::to_string(s.seq_k) + "," + std::to_string(s.head_dim) + "," +
                  std::to_string(s.head_dim_v) + "," + dtype_name(s.dtype) + (causal ? ",causal" : "") +
                  (stats ? ",stats" : "") + (backward ? ",backward" : "");
  for (int64_t d : bias_dims) k += ",b" + std::to_string(d);
  return k;
}

std::vector<int64_t> dense_strides(const std::vector<int64_t>& dims) {
  std::vector<int64_t> st(dims.size(), 1);
  for (int i = static_cast<int>(dims.size()) - 2; i >= 0; --i) st[static_cast<size_t>(i)] = st[static_cast<size_t>(i) + 1] * dims[static_cast<size_t>(i) + 1];
  return st;
}

// A dense [B, H, N, D]-ordered tensor of the graph (torch hands cuDNN contiguous tensors here).
std::shared_ptr<fe::graph::Tensor_attributes> dense_tensor(fe::graph::Graph& g, int64_t uid, const char* name,
                                                          const std::vector<int64_t>& dims) {
  return g.tensor(fe::graph::Tensor_attributes().set_uid(uid).set_name(name).set_dim(dims).set_stride(dense_strides(dims)));
}

// The tensors both of torch's graphs declare: the fp32 scale passed by value, Q, K, V (dense
// [B, H, N, D]), the bias where there is one; the dims of O (and of dO).
struct GraphInputs {
  std::shared_ptr<fe::graph::Tensor_attributes> scale, q, k, v, bias;
  std::vector<int64_t> qd, kd, vd, od;
};
GraphInputs declare_inputs(fe::graph::Graph& g, const LayerSpec& s, const std::vector<int64_t>& bias_dims) {
  g.set_io_data_type(s.dtype == DType::BF16 ? fe::DataType_t::BFLOAT16 : fe::DataType_t::HALF)
      .set_intermediate_data_type(fe::DataType_t::FLOAT)
      .set_compute_data_type(fe::DataType_t::FLOAT);
  GraphInputs t;
  t.scale = g.tensor(fe::graph::Tensor_attributes()
                         .set_uid(kScale)
                         .set_name("Attn_scale")
                         .set_dim({1, 1, 1, 1})
                         .set_stride({1, 1, 1, 1})
                         .set_is_pass_by_value(true)
                         .set_data_type(fe::DataType_t::FLOAT));
  t.qd = {s.batch, s.heads_q, s.seq_q, s.head_dim};
  t.kd = {s.batch, s.heads_kv, s.seq_k, s.head_dim};
  t.vd = {s.batch, s.heads_kv, s.seq_k, s.head_dim_v};
  t.od = {s.batch, s.heads_q, s.seq_q, s.head_dim_v};
  t.q = dense_tensor(g, kQ, "Q", t.qd);
  t.k = dense_tensor(g, kK, "K", t.kd);
  t.v = dense_tensor(g, kV, "V", t.vd);
  if (!bias_dims.empty()) t.bias = dense_tensor(g, kBias, "bias", bias_dims);
  return t;
}

void build(fe::graph::Graph& g) {
  ATTNSCOPE_CUDNN_FE_CHECK(g.validate());
  ATTNSCOPE_CUDNN_FE_CHECK(g.build_operation_graph(handle()));
  ATTNSCOPE_CUDNN_FE_CHECK(g.create_execution_plans({fe::HeurMode_t::A}));
  ATTNSCOPE_CUDNN_FE_CHECK(g.check_support(handle()));
  ATTNSCOPE_CUDNN_FE_CHECK(g.build_plans(handle()));
}

// The graph `key` names, declared by `declare` and built on first use, then cached per shape (as
// torch's mhagraphcache; the forward's and the backward's keys differ).
std::shared_ptr<fe::graph::Graph> cached_graph(const std::string& key,
                                               const std::function<void(fe::graph::Graph&)>& declare) {
  static std::map<std::string, std::shared_ptr<fe::graph::Graph>> cache;
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  auto g = std::make_shared<fe::graph::Graph>();
  declare(*g);
  build(*g);
  cache[key] = g;
  return g;
}

// build_graph of torch's MHA.cpp, in the frontend's words.
std::shared_ptr<fe::graph::Graph> graph_for(const LayerSpec& s, bool causal, const std::vector<int64_t>& bias_dims,
                                            bool stats) {
  return cached_graph(graph_key(s, causal, bias_dims, stats, false), [&](fe::graph::Graph& g) {
    GraphInputs in = declare_inputs(g, s, bias_dims);
    auto opts = fe::graph::SDPA_attributes()
                    .set_name("CUDNN_SDPA")
                    .set_generate_stats(stats)
                    .set_causal_mask(causal)
                    .set_attn_scale(in.scale);
    if (in.bias) opts.set_bias(in.bias);
    auto [O, Stats] = g.sdpa(in.q, in.k, in.v, opts);
    O->set_uid(kO).set_output(true).set_dim(in.od).set_stride(dense_strides(in.od));
    if (Stats) Stats->set_uid(kLse).set_output(true).set_data_type(fe::DataType_t::FLOAT);
  });
}

// build_graph_backward of torch's MHA.cpp: Q, K, V, O, dO and the forward's stats (the LSE, fp32
// [B, Hq, Nq, 1]) in; dQ, dK, dV out in the inputs' layouts (empty_like), no dBias (a mask needs no
// gradient), cuDNN's own GQA (dK, dV per KV head); the same scale and causal mask as the forward.
std::shared_ptr<fe::graph::Graph> backward_graph_for(const LayerSpec& s, bool causal,
                                                     const std::vector<int64_t>& bias_dims) {
  return cached_graph(graph_key(s, causal, bias_dims, true, true), [&](fe::graph::Graph& g) {
    GraphInputs in = declare_inputs(g, s, bias_dims);
    auto opts = fe::graph::SDPA_backward_attributes()
                    .set_name("CUDNN_SDPA_BACKWARD")
                    .set_causal_mask(causal)
                    .set_attn_scale(in.scale);
    if (in.bias) opts.set_bias(in.bias);
    auto O = dense_tensor(g, kO, "O", in.od);
    auto dO = dense_tensor(g, kDO, "DO", in.od);
    const std::vector<int64_t> sd = {s.batch, s.heads_q, s.seq_q, 1};
    auto stats = g.tensor(fe::graph::Tensor_attributes()
                              .set_uid(kLse)
                              .set_name("Stats")
                              .set_dim(sd)
                              .set_stride(dense_strides(sd))
                              .set_data_type(fe::DataType_t::FLOAT));
    auto [dQ, dK, dV] = g.sdpa_backward(in.q, in.k, in.v, O, dO, stats, opts);
    dQ->set_uid(kDQ).set_output(true).set_dim(in.qd).set_stride(dense_strides(in.qd));
    dK->set_uid(kDK).set_output(true).set_dim(in.kd).set_stride(dense_strides(in.kd));
    dV->set_uid(kDV).set_output(true).set_dim(in.vd).set_stride(dense_strides(in.vd));
  });
}

class CudnnImpl final : public GpuImpl {
 public:
  explicit CudnnImpl(const LayerSpec& s) : spec_(s) {}
  int64_t workspace_bytes() const override {
    // The output, a boolean mask's bias, and the stats pass's scratch; the plan's workspace is small
    // (256 B on the H200) and known only once the graph exists.
    const int64_t e = spec_.dtype == DType::F32 ? 4 : 2;
    const int64_t rows = int64_t{spec_.batch} * spec_.heads_q * spec_.seq_q;
    return 2 * rows * spec_.head_dim_v * e + int64_t{spec_.batch} * spec_.seq_q * spec_.seq_k * e + (int64_t{16} << 20);
  }
  bool counts_own_output() const override { return true; }

  void prepare(DeviceArena& arena, const DeviceInputs& in, void* out, float* lse) override {
    const LayerSpec& s = spec_;
    arena_ = &arena;
    out_ = out;
    lse_ = lse;
    q_ = in.q, k_ = in.k, v_ = in.v;
    const int64_t e = 2;
    const int64_t rows = int64_t{s.batch} * s.heads_q * s.seq_q;
    // The output is the call's (torch's at::empty_like(q)): counted here, the harness's buffer uncounted.
    arena.account(torch_alloc_bytes(rows * s.head_dim_v * e), "output");
    const MaskInput mi = sdpa_mask_input(s);
    causal_ = mi == MaskInput::IsCausal;
    if (mi == MaskInput::Bool4D || mi == MaskInput::Additive4D) {
      const int heads = in.mask && in.m_head_stride != 0 ? s.heads_q : 1;
      bias_dims_ = {s.batch, heads, s.seq_q, s.seq_k};
      const int64_t bytes = int64_t{s.batch} * heads * s.seq_q * s.seq_k * e;
      // A boolean mask becomes a bias inside scaled_dot_product_attention (counted); an additive one
      // is the caller's tensor (not counted).
      bias_ = arena.alloc(static_cast<size_t>(bytes), mi == MaskInput::Bool4D ? "attn_mask bias (cuDNN)" : "attn_mask",
                          mi == MaskInput::Bool4D);
      HfMaskParams mp;
      mp.batch = s.batch, mp.heads = heads, mp.seq_q = s.seq_q, mp.seq_k = s.seq_k;
      mp.diag_offset = s.diag_offset();
      s.effective_window(&mp.window_left, &mp.window_right);
      mp.kv_len = in.kv_len;
      mp.mask = in.mask, mp.mask_kind = in.mask_kind;
      mp.m_batch_stride = in.m_batch_stride, mp.m_head_stride = in.m_head_stride, mp.m_row_stride = in.m_row_stride;
      build_hf_mask(bias_, ttype_of(s.dtype), mi == MaskInput::Bool4D ? HfMaskForm::AdditiveCudnn : HfMaskForm::AdditiveMin,
                    mp, nullptr);
      ATTNSCOPE_CUDA_CHECK(cudaDeviceSynchronize());
    }
    graph_ = graph_for(s, causal_, bias_dims_, false);
    int64_t ws = 0;
    ATTNSCOPE_CUDNN_FE_CHECK(graph_->get_workspace_size(ws));
    workspace_bytes_ = ws;
    // torch allocates the workspace from its caching allocator inside the call: counted.
    workspace_ = ws > 0 ? arena.alloc(static_cast<size_t>(ws), "cuDNN workspace", true) : nullptr;
  }

  void launch(cudaStream_t stream) override { execute_forward(*graph_, out_, nullptr, workspace_, stream); }

  // The LSE from the same graph with stats (what torch builds when gradients are needed), once,
  // untimed, into the harness's buffer; its output into scratch, compared with the timed one's.
  void collect(RunResult* r, const RunOptions& opt, cudaStream_t stream) override {
    (void)opt;
    const LayerSpec& s = spec_;
    auto g = graph_for(s, causal_, bias_dims_, true);
    int64_t ws = 0;
    ATTNSCOPE_CUDNN_FE_CHECK(g->get_workspace_size(ws));
    void* w = ws > 0 ? arena_->alloc(static_cast<size_t>(ws), "cuDNN workspace (stats pass)", false) : nullptr;
    const int64_t rows = int64_t{s.batch} * s.heads_q * s.seq_q;
    void* o2 = arena_->alloc(static_cast<size_t>(rows * s.head_dim_v * 2), "output (stats pass)", false);
    execute_forward(*g, o2, lse_, w, stream);
    const Tensor a = download(out_, s.dtype, {rows * s.head_dim_v}, stream);
    const Tensor b = download(o2, s.dtype, {rows * s.head_dim_v}, stream);
    int64_t differ = 0;
    for (int64_t i = 0; i < a.numel(); ++i) differ += a.data[i] != b.data[i] && !(std::isnan(a.data[i]) && std::isnan(b.data[i]));
    const CudnnLibrary& lib = cudnn_library();
    r->verdict.add(Severity::Note, "gpu.cudnn.library",
                   "cuDNN " + lib.version + " (" + lib.path + "), plan workspace " + std::to_string(workspace_bytes_) +
                       " B; the LSE comes from the same graph with stats, whose output " +
                       (differ ? "differs in " + std::to_string(differ) + " elements" : "is bitwise identical"),
                   kSource);
  }

  std::string path() const override { return "cuDNN " + cudnn_library().version + " fused flash attention (graph API)"; }

  // The backward: torch's _scaled_dot_product_cudnn_attention_backward. autograd saved the forward's
  // O and LSE (the stats pass's, in the harness's buffers); dQ, dK, dV are empty_like the inputs and
  // the plan's workspace comes from the caching allocator: all counted.
  std::string no_backward() const override { return ""; }
  int64_t backward_bytes() const override { return model_bytes_backward("sdpa:cudnn", spec_); }
  void prepare_backward(DeviceArena& arena, const void* dout, cudaStream_t st) override {
    const LayerSpec& s = spec_;
    const size_t rows = static_cast<size_t>(int64_t{s.batch} * s.heads_q * s.seq_q);
    const size_t kv = static_cast<size_t>(int64_t{s.batch} * s.heads_kv * s.seq_k);
    dout_ = dout;
    dq_ = arena.alloc(rows * s.head_dim * 2, "dq", true);
    dk_ = arena.alloc(kv * s.head_dim * 2, "dk", true);
    dv_ = arena.alloc(kv * s.head_dim_v * 2, "dv", true);
    bwd_graph_ = backward_graph_for(s, causal_, bias_dims_);
    int64_t ws = 0;
    ATTNSCOPE_CUDNN_FE_CHECK(bwd_graph_->get_workspace_size(ws));
    bwd_workspace_ = ws > 0 ? arena.alloc(static_cast<size_t>(ws), "cuDNN workspace (backward)", true) : nullptr;
    poison(dq_, s.dtype, rows * s.head_dim, st);
    poison(dk_, s.dtype, kv * s.head_dim, st);
    poison(dv_, s.dtype, kv * s.head_dim_v, st);
  }
  void launch_backward(cudaStream_t stream) override {
    execute(*bwd_graph_, {{kO, out_}, {kDO, const_cast<void*>(dout_)}, {kLse, lse_}, {kDQ, dq_}, {kDK, dk_}, {kDV, dv_}},
            bwd_workspace_, stream);
  }
  void collect_backward(Gradients* g, cudaStream_t st) override {
    const LayerSpec& s = spec_;
    g->dq = download(dq_, s.dtype, {s.batch, s.heads_q, s.seq_q, s.head_dim}, st);
    g->dk = download(dk_, s.dtype, {s.batch, s.heads_kv, s.seq_k, s.head_dim}, st);
    g->dv = download(dv_, s.dtype, {s.batch, s.heads_kv, s.seq_k, s.head_dim_v}, st);
  }

 private:
  // One graph on `stream`: the inputs both graphs read (Q, K, V, the scale, the bias), then the
  // graph's own tensors in `pack`.
  void execute(const fe::graph::Graph& g, std::unordered_map<int64_t, void*> pack, void* ws, cudaStream_t stream) {
    ATTNSCOPE_CUDNN_CHECK(fe::detail::set_stream(handle(), stream));
    float scale = static_cast<float>(spec_.effective_scale());
    pack[kQ] = const_cast<void*>(q_), pack[kK] = const_cast<void*>(k_), pack[kV] = const_cast<void*>(v_);
    pack[kScale] = &scale;
    if (bias_) pack[kBias] = bias_;
    ATTNSCOPE_CUDNN_FE_CHECK(g.execute(handle(), pack, ws));
  }
  // The forward graph: its output, and the stats where the graph has them.
  void execute_forward(const fe::graph::Graph& g, void* out, float* stats, void* ws, cudaStream_t stream) {
    std::unordered_map<int64_t, void*> pack = {{kO, out}};
    if (stats) pack[kLse] = stats;
    execute(g, std::move(pack), ws, stream);
  }

  LayerSpec spec_;
  DeviceArena* arena_ = nullptr;
  const void *q_ = nullptr, *k_ = nullptr, *v_ = nullptr;
  void* out_ = nullptr;
  float* lse_ = nullptr;
  void* bias_ = nullptr;
  std::vector<int64_t> bias_dims_;
  bool causal_ = false;
  std::shared_ptr<fe::graph::Graph> graph_;
  void* workspace_ = nullptr;
  int64_t workspace_bytes_ = 0;
  const void* dout_ = nullptr;
  void *dq_ = nullptr, *dk_ = nullptr, *dv_ = nullptr;
  std::shared_ptr<fe::graph::Graph> bwd_graph_;
  void* bwd_workspace_ = nullptr;
};

}  // namespace

const CudnnLibrary& cudnn_library() {
  static std::once_flag once;
  static CudnnLibrary lib;
  std::call_once(once, [] { lib = load(); });
  return lib;
}

std::unique_ptr<GpuImpl> make_cudnn_impl(const LayerSpec& s) { return std::make_unique<CudnnImpl>(s); }

}  // namespace attnscope::cuda

#else  // the frontend headers were not found when the plugin was built

namespace attnscope::cuda {

const CudnnLibrary& cudnn_library() {
  static const CudnnLibrary lib{false,
                                "this GPU backend was built without the cuDNN frontend headers (cudnn_frontend.h: pip "
                                "install nvidia-cudnn-frontend, or configure with -DATTNSCOPE_CUDNN_FRONTEND_INCLUDE=DIR)",
                                "", "", 0};
  return lib;
}

std::unique_ptr<GpuImpl> make_cudnn_impl(const LayerSpec&) { return nullptr; }

}  // namespace attnscope::cuda

#endif
