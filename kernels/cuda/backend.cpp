// The plugin's API table (kernels/gpu_backend.h): open the device, verdicts, and run one
// implementation under CUDA events, CUPTI activity tracing and NVTX ranges. Every failure ends in
// RunResult::error; after a sticky CUDA error the context is reported lost for later runs.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cupti.h>
#include <nvtx3/nvToolsExt.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cupti_trace.h"
#include "kernels/cuda/device_arena.h"
#include "kernels/cuda/eager.h"
#include "kernels/cuda/efficient_kernel.h"
#include "kernels/cuda/flash_dispatch.h"
#include "kernels/format.h"
#include "kernels/gpu_backend.h"

namespace attnscope::cuda {

namespace {

using Clock = std::chrono::steady_clock;
constexpr int64_t kIntermediateBudget = int64_t{256} << 20;  // S and P copied back when they fit
constexpr size_t kCublasWorkspace = size_t{32} << 20;        // cuBLAS's recommended size on Hopper

struct State {
  std::mutex mu;  // one run at a time: CUPTI and the handle are process-wide
  bool open = false;
  DeviceInfo dev;
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;
  bool context_lost = false;
  std::string lost_why;
  int l2_bytes = 0;
};
State& state() {
  static State s;
  return s;
}

struct NvtxRange {
  explicit NvtxRange(const std::string& name) { nvtxRangePushA(name.c_str()); }
  ~NvtxRange() { nvtxRangePop(); }
};

// Which kernel family an implementation name runs, and the SDPA backend behind it.
struct Plan {
  std::string family;  // "eager", "flash", "sink", "efficient", "cudnn"
  std::string sdpa_backend;
};

Plan plan_for(const std::string& impl, const LayerSpec& spec, const DeviceInfo& dev, Verdict* v) {
  Plan plan;
  if (impl == "eager") {
    *v = check_eager(spec, dev);
    plan.family = "eager";
  } else if (impl == "flash2") {
    *v = check_flash2(spec, dev);
    plan.family = "flash";
  } else if (impl == "sink") {
    *v = check_sink(spec, dev);
    plan.family = "sink";
  } else if (impl == "sdpa" || impl.rfind("sdpa:", 0) == 0) {
    const std::string forced = impl == "sdpa" ? "" : impl.substr(5);
    std::string chosen;
    *v = check_sdpa(spec, dev, forced, &chosen);
    plan.sdpa_backend = chosen;
    plan.family = chosen == "flash" ? "flash" : chosen == "efficient" ? "efficient" : chosen == "math" ? "eager" : chosen;
  } else {
    v->add(Severity::Error, "gpu.unknown_impl", "unknown implementation '" + impl + "'", "attnscope GPU backend");
  }
  const char* src = "attnscope GPU backend";
  if (plan.family == "flash" || plan.family == "sink") {
    const int hd = flash_compiled_head_dim(std::max(spec.head_dim, spec.head_dim_v));
    if (hd > 0 && spec.dtype != DType::F32 && !flash_instantiated(spec.dtype, hd))
      v->add(Severity::Error, "gpu.not_compiled",
             std::string(dtype_name(spec.dtype)) + " x head dim " + std::to_string(hd) +
                 " is not compiled in this build (ATTNSCOPE_CI_REDUCED)",
             src);
  } else if (plan.family == "efficient") {
    int optin = 0;
    if (dev.is_gpu() && !dev.named) cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, 0);
    const size_t need = efficient_smem_bytes(spec.head_dim, spec.head_dim_v);
    if (optin > 0 && need > static_cast<size_t>(optin))
      v->add(Severity::Error, "gpu.efficient.smem",
             "the memory-efficient kernel needs " + std::to_string(need) + " bytes of shared memory per block, the "
             "device allows " + std::to_string(optin),
             src);
  } else if (plan.family == "cudnn") {
    v->add(Severity::Error, "gpu.cudnn", "sdpa:cudnn (cuDNN graph API) is not part of this build of the GPU backend",
           src);
  }
  return plan;
}

// Bytes the run allocates beyond its inputs (what peak_bytes will show), estimated before launch.
int64_t estimate_bytes(const Plan& plan, const LayerSpec& s) {
  const int64_t e = s.dtype == DType::F32 ? 4 : 2;
  const int64_t rows = int64_t{s.batch} * s.heads_q * s.seq_q;
  int64_t bytes = rows * s.head_dim_v * e + rows * 4;  // out + lse
  if (plan.family == "eager") bytes += 2 * rows * s.seq_k * e + static_cast<int64_t>(kCublasWorkspace);
  return bytes;
}
int64_t input_bytes(const LayerSpec& s, const Inputs& in) {
  const int64_t e = s.dtype == DType::F32 ? 4 : 2;
  return (in.q.numel() + in.k.numel()) * e + in.v.numel() * e + int64_t(in.sinks.size()) * 4 + in.mask.numel() * 4 +
         int64_t(s.batch) * 4;
}

// Host float tensor -> device buffer in the spec dtype.
void* upload(DeviceArena& arena, const Tensor& t, DType dt, const std::string& what, cudaStream_t st) {
  const size_t n = static_cast<size_t>(t.numel());
  if (dt == DType::F32) {
    void* d = arena.alloc(n * 4, what, false);
    ATTNSCOPE_CUDA_CHECK(cudaMemcpyAsync(d, t.data.data(), n * 4, cudaMemcpyHostToDevice, st));
    ATTNSCOPE_CUDA_CHECK(cudaStreamSynchronize(st));
    return d;
  }
  std::vector<uint16_t> bits(n);
  for (size_t i = 0; i < n; ++i)
    bits[i] = dt == DType::F16 ? f32_to_f16_bits(t.data[i]) : f32_to_bf16_bits(t.data[i]);
  void* d = arena.alloc(n * 2, what, false);
  ATTNSCOPE_CUDA_CHECK(cudaMemcpyAsync(d, bits.data(), n * 2, cudaMemcpyHostToDevice, st));
  ATTNSCOPE_CUDA_CHECK(cudaStreamSynchronize(st));
  return d;
}

// Device buffer in `dt` -> host Tensor of floats.
Tensor download(const void* d, DType dt, std::vector<int64_t> shape, cudaStream_t st) {
  Tensor t(dt, std::move(shape));
  const size_t n = static_cast<size_t>(t.numel());
  if (dt == DType::F32) {
    ATTNSCOPE_CUDA_CHECK(cudaMemcpyAsync(t.data.data(), d, n * 4, cudaMemcpyDeviceToHost, st));
    ATTNSCOPE_CUDA_CHECK(cudaStreamSynchronize(st));
    return t;
  }
  std::vector<uint16_t> bits(n);
  ATTNSCOPE_CUDA_CHECK(cudaMemcpyAsync(bits.data(), d, n * 2, cudaMemcpyDeviceToHost, st));
  ATTNSCOPE_CUDA_CHECK(cudaStreamSynchronize(st));
  for (size_t i = 0; i < n; ++i)
    t.data[i] = dt == DType::F16 ? f16_bits_to_f32(bits[i]) : bf16_bits_to_f32(bits[i]);
  return t;
}

// Fills a 16-bit/32-bit output buffer with NaN so unwritten elements cannot pass as results.
void poison(void* d, DType dt, size_t n, cudaStream_t st) {
  // 0xFFFF is a NaN in fp16 and bf16; 0xFFFFFFFF is a NaN in fp32.
  ATTNSCOPE_CUDA_CHECK(cudaMemsetAsync(d, 0xFF, n * (dt == DType::F32 ? 4 : 2), st));
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

bool api_open(DeviceInfo* dev, std::string* why) {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.open) {
    *dev = s.dev;
    return true;
  }
  try {
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e == cudaErrorInsufficientDriver) {  // no driver, or one older than this runtime
      int drv = 0, rt = 0;
      cudaDriverGetVersion(&drv);
      cudaRuntimeGetVersion(&rt);
      *why = drv == 0 ? std::string(kNoDriver) : cuda_driver_too_old(drv, rt);
      return false;
    }
    if (e != cudaSuccess) {
      *why = std::string("cudaGetDeviceCount: ") + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")";
      return false;
    }
    if (count == 0) {
      *why = "no CUDA device";
      return false;
    }
    std::string cupti_why;
    CuptiTrace::init(&cupti_why);  // before the context exists; optional: runs still time with events
    ATTNSCOPE_CUDA_CHECK(cudaSetDevice(0));
    cudaDeviceProp prop{};
    ATTNSCOPE_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    DeviceInfo d;
    d.kind = DeviceInfo::Kind::Cuda;
    d.name = prop.name;
    d.cc_major = prop.major;
    d.cc_minor = prop.minor;
    d.mem_total = static_cast<int64_t>(prop.totalGlobalMem);
    size_t free_b = 0, total_b = 0;
    ATTNSCOPE_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
    d.mem_free = static_cast<int64_t>(free_b);
    d.sm_count = prop.multiProcessorCount;
    d.bf16 = prop.major >= 8;
    int drv = 0;
    cudaDriverGetVersion(&drv);
    d.driver = "CUDA driver API " + std::to_string(drv / 1000) + "." + std::to_string((drv % 1000) / 10);
    s.l2_bytes = prop.l2CacheSize;
    ATTNSCOPE_CUDA_CHECK(cudaStreamCreateWithFlags(&s.stream, cudaStreamNonBlocking));
    ATTNSCOPE_CUBLAS_CHECK(cublasCreate(&s.cublas));
    ATTNSCOPE_CUBLAS_CHECK(cublasSetStream(s.cublas, s.stream));
    // Keep fp32 GEMMs in true fp32 (no TF32), as PyTorch's default for matmul.
    ATTNSCOPE_CUBLAS_CHECK(cublasSetMathMode(s.cublas, CUBLAS_DEFAULT_MATH));
    s.dev = d;
    s.open = true;
    *dev = d;
    return true;
  } catch (const std::exception& e) {
    *why = e.what();
    return false;
  }
}

std::vector<std::string> api_names() {
  return {"eager", "sdpa", "flash2", "sink", "sdpa:flash", "sdpa:efficient", "sdpa:math"};
}

Verdict api_check(const std::string& impl, const LayerSpec& spec, const DeviceInfo& dev) {
  Verdict v;
  plan_for(impl, spec, dev, &v);
  return v;
}

// The body of run(): throws GpuFailure / std::exception, caught by api_run.
void run_impl(const std::string& impl, const LayerSpec& spec, const Inputs& in, const RunOptions& opt,
              RunResult* r) {
  State& st = state();
  const auto t0 = Clock::now();
  auto since_us = [&](Clock::time_point t) { return std::chrono::duration<double, std::micro>(t - t0).count(); };
  auto span = [&](const std::string& name, Clock::time_point a) {
    r->spans.push_back({name, since_us(a), std::chrono::duration<double, std::micro>(Clock::now() - a).count(), 0});
  };

  // The check's reasons are the caller's (Session shows check()); a run adds only what it learnt
  // itself (memory estimate, CUPTI, probe), except a refusal, which carries the whole verdict.
  Verdict checked;
  const Plan plan = plan_for(impl, spec, st.dev, &checked);
  r->sdpa_backend = plan.sdpa_backend;
  r->model_bytes = model_bytes(plan.family == "eager" && impl != "eager" ? "sdpa:math" : impl, spec);
  if (!checked.supported) {
    r->verdict = checked;
    for (const auto& reason : r->verdict.reasons)
      if (reason.severity == Severity::Error) {
        r->error = "refused: " + reason.text;
        break;
      }
    return;
  }
  if (std::string e = spec.validate(); !e.empty()) {
    r->error = "layer spec: " + e;
    return;
  }
  if (std::string e = in.check_against(spec); !e.empty()) {
    r->error = "inputs: " + e;
    return;
  }

  // Memory: estimated before anything is allocated; an implementation that cannot fit is skipped.
  size_t free_b = 0, total_b = 0;
  ATTNSCOPE_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
  const int64_t extra = estimate_bytes(plan, spec), inputs = input_bytes(spec, in);
  if (extra + inputs > static_cast<int64_t>(free_b)) {
    const std::string text = "skipped: needs an estimated " + format_bytes(extra) + " beyond the inputs (" + format_bytes(inputs) +
                             "), the GPU has " + format_bytes(static_cast<int64_t>(free_b)) + " free";
    r->verdict.add(Severity::Error, "gpu.memory_estimate", text, "attnscope GPU backend");
    r->error = text;
    return;
  }

  const DType dt = spec.dtype;
  const int64_t e = dt == DType::F32 ? 4 : 2;
  const int B = spec.batch, Hq = spec.heads_q, Hkv = spec.heads_kv, Nq = spec.seq_q, Nk = spec.seq_k;
  const int D = spec.head_dim, Dv = spec.head_dim_v;
  cudaStream_t stream = st.stream;
  DeviceArena arena(t0);

  // Inputs (not counted in peak_bytes).
  auto t_up = Clock::now();
  const void* dq;
  const void* dk;
  const void* dv;
  const float* dsinks = nullptr;
  const float* dmask = nullptr;
  int* dkv = nullptr;
  {
    NvtxRange range(impl + "/upload");
    dq = upload(arena, in.q, dt, "q", stream);
    dk = upload(arena, in.k, dt, "k", stream);
    dv = upload(arena, in.v, dt, "v", stream);
    if (spec.sinks) {
      Tensor sk(DType::F32, {Hq});
      sk.data = in.sinks;
      dsinks = static_cast<const float*>(upload(arena, sk, DType::F32, "sinks", stream));
    }
    if (spec.mask == MaskKind::ExplicitBool || spec.mask == MaskKind::ExplicitAdditive)
      dmask = static_cast<const float*>(upload(arena, in.mask, DType::F32, "mask", stream));
    if (spec.mask == MaskKind::Padding) {
      std::vector<int> lens(B, Nk);
      for (int b = 0; b < B && b < static_cast<int>(spec.kv_lengths.size()); ++b)
        lens[b] = std::min(std::max(spec.kv_lengths[b], 0), Nk);
      dkv = arena.alloc_as<int>(B, "kv_lengths", false);
      ATTNSCOPE_CUDA_CHECK(cudaMemcpyAsync(dkv, lens.data(), B * sizeof(int), cudaMemcpyHostToDevice, stream));
    }
  }
  span(impl + "/upload", t_up);

  size_t free_before = 0;
  ATTNSCOPE_CUDA_CHECK(cudaMemGetInfo(&free_before, &total_b));
  // Outputs and workspace (counted).
  const int64_t rows = int64_t{B} * Hq * Nq;
  void* dout = arena.alloc(static_cast<size_t>(rows * Dv * e), "out", true);
  float* dlse = arena.alloc_as<float>(static_cast<size_t>(rows), "lse", true);

  int wl = -1, wr = -1;
  spec.effective_window(&wl, &wr);
  const float scale = static_cast<float>(spec.effective_scale());
  int64_t mb = 0, mh = 0, mr = 0;
  int mask_kind = 0;
  if (dmask) {
    mask_kind = spec.mask == MaskKind::ExplicitBool ? 1 : 2;
    const auto& sh = in.mask.shape;  // [B|1, H|1, Nq, Nk]
    mr = sh[3];
    mh = sh[1] == 1 ? 0 : sh[2] * sh[3];
    mb = sh[0] == 1 ? 0 : sh[1] * sh[2] * sh[3];
  }

  FlashParams fp;
  EagerParams ep;
  void* dS = nullptr;
  void* dP = nullptr;
  void* workspace = nullptr;
  const bool fused = plan.family != "eager";
  if (fused) {
    fp.q = dq, fp.k = dk, fp.v = dv, fp.out = dout, fp.lse = dlse;
    fp.sinks = plan.family == "sink" ? dsinks : nullptr;
    fp.kv_len = dkv;
    fp.mask = plan.family == "efficient" ? dmask : nullptr;
    fp.mask_kind = plan.family == "efficient" ? mask_kind : 0;
    fp.q_row_stride = D, fp.q_head_stride = int64_t{Nq} * D, fp.q_batch_stride = int64_t{Hq} * Nq * D;
    fp.k_row_stride = D, fp.k_head_stride = int64_t{Nk} * D, fp.k_batch_stride = int64_t{Hkv} * Nk * D;
    fp.v_row_stride = Dv, fp.v_head_stride = int64_t{Nk} * Dv, fp.v_batch_stride = int64_t{Hkv} * Nk * Dv;
    fp.o_row_stride = Dv, fp.o_head_stride = int64_t{Nq} * Dv, fp.o_batch_stride = int64_t{Hq} * Nq * Dv;
    fp.m_batch_stride = mb, fp.m_head_stride = mh, fp.m_row_stride = mr;
    fp.batch = B, fp.heads_q = Hq, fp.heads_kv = Hkv, fp.group = Hq / Hkv;
    fp.seq_q = Nq, fp.seq_k = Nk, fp.d = D, fp.dv = Dv;
    fp.vec16 = D % 8 == 0 && Dv % 8 == 0;  // cudaMalloc bases are 256-byte aligned
    fp.scale = scale;
    fp.softcap = spec.softcap;
    fp.diag_offset = spec.diag_offset();
    fp.window_left = wl, fp.window_right = wr;
    // Heaviest row blocks first when the work per block grows with the row (causal); the measurement
    // switch ATTNSCOPE_FLASH_FORWARD_ORDER=1 keeps launch order (bench/gpu_bench.sh compares both).
    const char* fwd = std::getenv("ATTNSCOPE_FLASH_FORWARD_ORDER");
    fp.reverse_blocks = wr >= 0 && !(fwd && *fwd && std::string(fwd) != "0");
  } else {
    const bool math = impl != "eager";  // sdpa:math: eager's steps with an fp32 softmax, no sinks
    ep.dtype = dt;
    ep.batch = B, ep.heads_q = Hq, ep.heads_kv = Hkv, ep.seq_q = Nq, ep.seq_k = Nk, ep.d = D, ep.dv = Dv;
    ep.q = dq, ep.k = dk, ep.v = dv, ep.out = dout, ep.lse = dlse;
    dS = arena.alloc(static_cast<size_t>(rows * Nk * e), "scores", true);
    dP = arena.alloc(static_cast<size_t>(rows * Nk * e), "probs", true);
    ep.scores = dS, ep.probs = dP;
    ep.scale = scale;  // fp32, unrounded, as PyTorch's tensor * Python scalar (and eager_cpu.cpp)
    ep.softcap = spec.softcap;
    ep.sinks = math ? nullptr : dsinks;
    ep.model_dtype_softmax = !math && spec.softmax_dtype != DType::F32;
    ep.diag_offset = spec.diag_offset();
    ep.window_left = wl, ep.window_right = wr;
    ep.kv_len = dkv;
    ep.mask = dmask, ep.mask_kind = mask_kind;
    ep.m_batch_stride = mb, ep.m_head_stride = mh, ep.m_row_stride = mr;
    workspace = arena.alloc(kCublasWorkspace, "cublas workspace", true);
    ATTNSCOPE_CUBLAS_CHECK(cublasSetWorkspace(st.cublas, workspace, kCublasWorkspace));
  }
  size_t free_after = 0;
  ATTNSCOPE_CUDA_CHECK(cudaMemGetInfo(&free_after, &total_b));

  // The sink kernel on a layer without sinks is plain attention: the Sinks=false instantiation.
  const bool sink_variant = plan.family == "sink" && spec.sinks;
  auto launch = [&](bool probe) {
    if (plan.family == "eager") run_eager(st.cublas, ep, stream);
    else if (plan.family == "efficient") run_efficient(dt, fp, probe, stream);
    else run_flash(dt, fp, sink_variant, probe, stream);
  };

  // L2 flush between repeats where the inputs would otherwise stay cached (STYLE.md).
  void* flush = nullptr;
  const size_t flush_bytes = static_cast<size_t>(st.l2_bytes) * 2;
  if (input_bytes(spec, in) < static_cast<int64_t>(flush_bytes) && flush_bytes > 0)
    flush = arena.alloc(flush_bytes, "l2 flush (measurement)", false);

  poison(dout, dt, static_cast<size_t>(rows * Dv), stream);
  ATTNSCOPE_CUDA_CHECK(cudaMemsetAsync(dlse, 0xFF, rows * 4, stream));

  CuptiTrace trace;
  bool traced = false;
  try {
    trace.begin();
    traced = true;
  } catch (const GpuFailure& ex) {
    r->verdict.add(Severity::Warning, "gpu.cupti_off", std::string("no CUPTI kernel records: ") + ex.what(),
                   "attnscope GPU backend");
  }
  auto t_run = Clock::now();
  {
    NvtxRange range(impl + "/warmup");
    for (int w = 0; w < opt.warmup; ++w) {
      if (traced) trace.push_repeat(-1);
      launch(false);
      if (traced) trace.pop_repeat();
    }
  }
  const int repeats = std::max(1, opt.repeats);
  std::vector<cudaEvent_t> ev(2 * repeats);
  for (auto& x : ev) ATTNSCOPE_CUDA_CHECK(cudaEventCreate(&x));
  struct EventGuard {
    std::vector<cudaEvent_t>& ev;
    ~EventGuard() {
      for (auto& x : ev) cudaEventDestroy(x);
    }
  } guard{ev};
  {
    NvtxRange range(impl + "/repeats");
    for (int i = 0; i < repeats; ++i) {
      if (opt.cancel && opt.cancel->load()) throw std::runtime_error("cancelled");
      if (flush) ATTNSCOPE_CUDA_CHECK(cudaMemsetAsync(flush, i & 0xff, flush_bytes, stream));
      if (traced) trace.push_repeat(i);
      ATTNSCOPE_CUDA_CHECK(cudaEventRecord(ev[2 * i], stream));
      launch(false);
      ATTNSCOPE_CUDA_CHECK(cudaEventRecord(ev[2 * i + 1], stream));
      if (traced) trace.pop_repeat();
      if (opt.progress) opt.progress(0.9 * (i + 1) / repeats);
    }
    ATTNSCOPE_CUDA_CHECK(cudaStreamSynchronize(stream));
  }
  span(impl + "/run", t_run);
  if (traced) {
    TraceCounts counts;
    r->kernels = trace.end(&counts);
    // Where CUPTI delivered no external correlation ids, the repeat follows from launch order: one
    // stream, and every launch of the implementation issues the same number of kernels.
    const int launches = opt.warmup + repeats;
    const size_t n = r->kernels.size();
    bool untagged = false;
    for (const auto& k : r->kernels) untagged |= k.repeat == -2;
    if (untagged && n % static_cast<size_t>(launches) == 0) {
      const size_t per = n / static_cast<size_t>(launches);
      for (size_t i = 0; i < n; ++i) {
        const int launch_idx = static_cast<int>(i / per);
        r->kernels[i].repeat = launch_idx < opt.warmup ? -1 : launch_idx - opt.warmup;
      }
    }
    if (r->kernels.empty())
      r->verdict.add(Severity::Warning, "gpu.cupti_empty",
                     "CUPTI delivered no kernel records (" + std::to_string(counts.memsets) + " memset, " +
                         std::to_string(counts.overhead) + " overhead records)",
                     "attnscope GPU backend");
    if (counts.dropped > 0)
      r->verdict.add(Severity::Warning, "gpu.cupti_dropped", std::to_string(counts.dropped) + " CUPTI records dropped",
                     "attnscope GPU backend");
  }
  for (int i = 0; i < repeats; ++i) {
    float ms = 0;
    ATTNSCOPE_CUDA_CHECK(cudaEventElapsedTime(&ms, ev[2 * i], ev[2 * i + 1]));
    r->times_ms.push_back(ms);
  }
  r->median_ms = median(r->times_ms);

  // Results of the timed (normal) variant.
  auto t_down = Clock::now();
  {
    NvtxRange range(impl + "/download");
    r->out = download(dout, dt, {B, Hq, Nq, Dv}, stream);
    r->lse = download(dlse, DType::F32, {B, Hq, Nq}, stream);
    if (!fused && opt.keep_intermediates && 2 * rows * Nk * 4 <= kIntermediateBudget) {
      r->scores = download(dS, dt, {B, Hq, Nq, Nk}, stream);
      r->probs = download(dP, dt, {B, Hq, Nq, Nk}, stream);
    } else if (!fused && opt.keep_intermediates) {
      r->verdict.add(Severity::Note, "gpu.intermediates_budget",
                     "S and P (" + format_bytes(2 * rows * Nk * 4) + " as fp32 on the host) exceed the " +
                         format_bytes(kIntermediateBudget) + " budget and were not copied back",
                     "attnscope GPU backend");
    }
  }
  span(impl + "/download", t_down);

  // Probe: the Probe=true variant, run once more, never timed.
  const ProbeSpec& pr = opt.probe;
  if (fused && pr.enabled) {
    if (pr.batch < 0 || pr.batch >= B || pr.head < 0 || pr.head >= Hq || pr.row_begin < 0 || pr.row_end > Nq ||
        pr.row_begin >= pr.row_end) {
      r->verdict.add(Severity::Warning, "gpu.probe_range",
                     "probe b=" + std::to_string(pr.batch) + " h=" + std::to_string(pr.head) + " rows=" +
                         std::to_string(pr.row_begin) + ":" + std::to_string(pr.row_end) + " is outside the layer",
                     "attnscope GPU backend");
    } else {
      NvtxRange range(impl + "/probe");
      auto t_probe = Clock::now();
      const int prow = pr.row_end - pr.row_begin;
      const int tiles = (Nk + 63) / 64;
      float* pp = arena.alloc_as<float>(size_t(prow) * Nk, "probe p", false);
      float* pm = arena.alloc_as<float>(size_t(prow) * tiles, "probe max", false);
      float* ps = arena.alloc_as<float>(size_t(prow) * tiles, "probe sum", false);
      uint8_t* pu = arena.alloc_as<uint8_t>(tiles, "probe tiles", false);
      void* pout = arena.alloc(static_cast<size_t>(rows * Dv * e), "probe out", false);
      float* plse = arena.alloc_as<float>(static_cast<size_t>(rows), "probe lse", false);
      ATTNSCOPE_CUDA_CHECK(cudaMemsetAsync(pp, 0, size_t(prow) * Nk * 4, stream));
      ATTNSCOPE_CUDA_CHECK(cudaMemsetAsync(pu, 0, tiles, stream));
      poison(pout, dt, static_cast<size_t>(rows * Dv), stream);
      FlashParams pf = fp;
      pf.out = pout, pf.lse = plse;
      pf.probe_batch = pr.batch, pf.probe_head = pr.head, pf.probe_row_begin = pr.row_begin, pf.probe_row_end = pr.row_end;
      pf.probe_tiles = tiles, pf.probe_p = pp, pf.probe_max = pm, pf.probe_sum = ps, pf.probe_tile_used = pu;
      if (plan.family == "efficient") run_efficient(dt, pf, true, stream);
      else run_flash(dt, pf, sink_variant, true, stream);
      ATTNSCOPE_CUDA_CHECK(cudaStreamSynchronize(stream));
      r->probe.where = pr;
      r->probe.kv_tile = 64;
      r->probe.n_tiles = tiles;
      r->probe.p = download(pp, DType::F32, {prow, Nk}, stream);
      r->probe.p.dtype = dt;  // values are exactly representable in the input dtype
      r->probe.row_max = download(pm, DType::F32, {prow, tiles}, stream);
      r->probe.row_sum = download(ps, DType::F32, {prow, tiles}, stream);
      r->probe.tile_used.resize(tiles);
      ATTNSCOPE_CUDA_CHECK(cudaMemcpy(r->probe.tile_used.data(), pu, tiles, cudaMemcpyDeviceToHost));
      // The probe variant must compute what the timed kernel computed, bit for bit.
      Tensor po = download(pout, dt, {B, Hq, Nq, Dv}, stream);
      int64_t differ = 0;
      for (int64_t i = 0; i < po.numel(); ++i)
        if (std::memcmp(&po.data[i], &r->out.data[i], 4) != 0) ++differ;
      if (differ == 0)
        r->verdict.add(Severity::Note, "gpu.probe_bitwise",
                       "the probe variant's output is bitwise identical to the timed kernel's", "attnscope GPU backend");
      else
        r->verdict.add(Severity::Warning, "gpu.probe_differs",
                       std::to_string(differ) + " output elements of the probe variant differ from the timed kernel's",
                       "attnscope GPU backend");
      span(impl + "/probe", t_probe);
    }
  }

  r->peak_bytes = arena.peak();
  const int64_t seen = static_cast<int64_t>(free_before) - static_cast<int64_t>(free_after);
  // cudaMalloc rounds to 2 MiB pages: a gap beyond that means memory we did not count.
  if (seen > r->peak_bytes + (int64_t{8} << 20))
    r->verdict.add(Severity::Note, "gpu.memory_crosscheck",
                   "cudaMemGetInfo saw " + format_bytes(seen) + " allocated, tracked " + format_bytes(r->peak_bytes),
                   "attnscope GPU backend");
  if (workspace) cublasSetWorkspace(st.cublas, nullptr, 0);
  arena.release();
  r->memory = arena.events();
  r->ran = true;
  if (opt.progress) opt.progress(1.0);
}

void api_run(const std::string& impl, const LayerSpec& spec, const Inputs& in, const RunOptions& opt,
             RunResult* r) {
  State& st = state();
  std::lock_guard<std::mutex> lock(st.mu);
  r->impl = impl;
  r->label = impl;
  r->backend = "cuda";
  r->device = st.dev.describe();
  r->ran = false;
  if (!st.open) {
    r->error = "GPU backend not opened";
    return;
  }
  if (st.context_lost) {
    r->error = "CUDA context lost after an earlier error (" + st.lost_why + "); restart attnscope to use the GPU again";
    return;
  }
  try {
    run_impl(impl, spec, in, opt, r);
  } catch (const GpuFailure& e) {
    r->ran = false;
    r->out = Tensor();
    r->error = e.oom ? std::string("CUDA out of memory: ") + e.what() : e.what();
    // A launch error can be reported by a later call: look once more, then decide stickiness.
    cudaError_t late = cudaDeviceSynchronize();
    if (e.sticky || is_sticky(late)) {
      st.context_lost = true;
      st.lost_why = e.what();
      r->error += "; the CUDA context is lost (sticky error): later GPU runs in this process will fail";
    } else {
      cudaGetLastError();  // clear a non-sticky error
    }
  } catch (const std::exception& e) {
    r->ran = false;
    r->error = e.what();
  }
}

void api_close() {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  if (!s.open) return;
  if (!s.context_lost) {
    cuptiActivityFlushAll(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED);
    if (s.cublas) cublasDestroy(s.cublas);
    if (s.stream) cudaStreamDestroy(s.stream);
  }
  s.cublas = nullptr;
  s.stream = nullptr;
  s.open = false;
}

bool api_healthy() {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  return !s.context_lost;
}

const GpuBackendApi kApi = {kGpuBackendAbi, &api_open, &api_names, &api_check, &api_run, &api_close, &api_healthy};

}  // namespace

}  // namespace attnscope::cuda

extern "C" __attribute__((visibility("default"))) const attnscope::GpuBackendApi* attnscope_gpu_backend() {
  return &attnscope::cuda::kApi;
}
