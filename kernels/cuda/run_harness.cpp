#include "kernels/cuda/run_harness.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <optional>
#include <stdexcept>
#include <vector>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cupti_trace.h"
#include "kernels/cuda/device_inputs.h"
#include "kernels/cuda/l2_flush.h"
#include "kernels/cuda/nvtx_ranges.h"
#include "kernels/format.h"

namespace attnscope::cuda {

namespace {

using Clock = std::chrono::steady_clock;
constexpr const char* kSource = "attnscope GPU backend";

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

struct Events {
  std::vector<cudaEvent_t> ev;
  explicit Events(int n) : ev(n) {
    for (auto& x : ev) ATTNSCOPE_CUDA_CHECK(cudaEventCreate(&x));
  }
  ~Events() {
    for (auto& x : ev) cudaEventDestroy(x);
  }
};

// Where CUPTI delivered no external correlation ids, the repeat follows from launch order: one
// stream, and every launch of the implementation issues the same number of kernels. False when
// that does not hold either (the records keep repeat -2).
bool tag_repeats_by_order(std::vector<KernelRecord>& kernels, int warmup, int repeats) {
  const int launches = warmup + repeats;
  const size_t n = kernels.size();
  if (launches <= 0 || n % static_cast<size_t>(launches) != 0) return false;
  const size_t per = n / static_cast<size_t>(launches);
  for (size_t i = 0; i < n; ++i) {
    const int launch_idx = static_cast<int>(i / per);
    kernels[i].repeat = launch_idx < warmup ? -1 : launch_idx - warmup;
  }
  return true;
}

// A kernel window's records into `kernels`, with what went wrong on the way as warnings
// (`pass`: "" for the forward, "backward: " for the backward).
void keep_kernels(AssembledTrace a, const TraceCounts& counts, int warmup, int repeats, const std::string& pass,
                  std::vector<KernelRecord>* kernels, Verdict* v) {
  *kernels = std::move(a.kernels);
  // The flush between repeats is the measurement's (and launched outside any repeat's correlation
  // id): dropped before the records without one are counted.
  std::erase_if(*kernels, [](const KernelRecord& k) { return is_l2_flush(k.name); });
  a.untagged = static_cast<int>(std::count_if(kernels->begin(), kernels->end(),
                                              [](const KernelRecord& k) { return k.repeat == -2; }));
  if (kernels->empty())
    v->add(Severity::Warning, "gpu.cupti_empty",
           pass + "CUPTI delivered no kernel records (" + std::to_string(counts.memsets) + " memset, " +
               std::to_string(counts.overhead) + " overhead records)",
           kSource);
  if (a.untagged > 0) {
    const std::string why = pass + std::to_string(a.untagged) + " of " + std::to_string(kernels->size()) +
                            " kernel records came without an external correlation record (" +
                            std::to_string(counts.api) + " launch API records, " + std::to_string(counts.external) +
                            " external correlation records)";
    if (tag_repeats_by_order(*kernels, warmup, repeats))
      v->add(Severity::Warning, "gpu.cupti_repeats_by_order", why + ": repeats assigned by launch order", kSource);
    else
      v->add(Severity::Warning, "gpu.cupti_repeats_unknown", why + ": their repeat is unknown (-2)", kSource);
  }
  if (counts.dropped > 0)
    v->add(Severity::Warning, "gpu.cupti_dropped", pass + std::to_string(counts.dropped) + " CUPTI records dropped",
           kSource);
}

// The run's NVTX ranges into the result.
void keep_ranges(AssembledTrace a, const TraceCounts& counts, RunResult* r) {
  r->ranges = std::move(a.ranges);
  if (nvtx_to_cupti() && r->ranges.empty())
    r->verdict.add(Severity::Warning, "gpu.nvtx_empty",
                   "no attnscope NVTX range arrived through CUPTI (" + std::to_string(counts.markers) +
                       " marker records of any domain)",
                   kSource);
  if (a.unpaired_markers > 0)
    r->verdict.add(Severity::Warning, "gpu.nvtx_unpaired",
                   std::to_string(a.unpaired_markers) + " NVTX range starts or ends without their pair were dropped",
                   kSource);
}

using Launch = std::function<void(cudaStream_t)>;

// `n` untimed launches in a phase range, each tagged repeat -1 when traced.
void warm_up(const Launch& launch, int n, const char* phase, const char* kind, cudaStream_t stream, CuptiTrace* trace) {
  NvtxRange range(NvtxLevel::Phase, phase);
  for (int w = 0; w < n; ++w) {
    NvtxRange one(NvtxLevel::Launch, std::string(kind) + " " + std::to_string(w));
    if (trace) trace->push_repeat(-1);
    launch(stream);
    if (trace) trace->pop_repeat();
  }
}

// What is written before each timed launch, outside its events: 256 MiB (or twice the L2, if more)
// by a kernel (l2_flush.h), so that the launch finds the cache full of another kernel's dirty lines, as
// triton.testing.do_bench leaves it (its cache.zero_() of 256 MiB) and as a model's previous kernels
// do. Flushed for every layer, not only for inputs that would fit: with 192 MiB of inputs (llama2 b1
// n8192) torch's cuDNN fprop kernel measured 0.888 ms back to back and 0.990 ms after do_bench's
// flush, its flash kernel 1.72 ms either way (H200, stop 19): the peers' state is the one we time in.
struct L2Flush {
  void* ptr = nullptr;
  size_t bytes = 0;
  void before(int i, cudaStream_t stream) const {
    if (ptr) l2_flush(ptr, bytes, static_cast<unsigned>(i), stream);
  }
};

// `repeats` launches between CUDA events, the L2 flushed before each (outside the events), each in
// an NVTX range "<kind> i" inside a phase range; with a trace, each launch's kernels are tagged
// with its repeat. Returns the events' times (ms). Cancel is checked before each launch; progress
// goes from p0 to p1.
std::vector<double> time_repeats(const Launch& launch, int repeats, const char* phase, const char* kind,
                                 const L2Flush& flush, cudaStream_t stream, CuptiTrace* trace, const RunOptions& opt,
                                 double p0, double p1) {
  NvtxRange range(NvtxLevel::Phase, phase);
  Events ev(2 * repeats);
  for (int i = 0; i < repeats; ++i) {
    if (opt.cancel && opt.cancel->load()) throw std::runtime_error("cancelled");
    flush.before(i, stream);  // outside the launch's range and events
    NvtxRange one(NvtxLevel::Launch, std::string(kind) + " " + std::to_string(i));
    if (trace) trace->push_repeat(i);
    ATTNSCOPE_CUDA_CHECK(cudaEventRecord(ev.ev[2 * i], stream));
    launch(stream);
    ATTNSCOPE_CUDA_CHECK(cudaEventRecord(ev.ev[2 * i + 1], stream));
    if (trace) trace->pop_repeat();
    if (opt.progress) opt.progress(p0 + (p1 - p0) * (i + 1) / repeats);
  }
  ATTNSCOPE_CUDA_CHECK(cudaStreamSynchronize(stream));
  std::vector<double> ms(repeats);
  for (int i = 0; i < repeats; ++i) {
    float t = 0;
    ATTNSCOPE_CUDA_CHECK(cudaEventElapsedTime(&t, ev.ev[2 * i], ev.ev[2 * i + 1]));
    ms[i] = t;
  }
  return ms;
}

// The probe variant once, never timed; its output must equal the timed kernel's bit for bit.
void run_probe(GpuImpl& family, const LayerSpec& s, const RunOptions& opt, DeviceArena& arena, cudaStream_t stream,
               RunResult* r, const std::string& impl, Clock::time_point t0) {
  const ProbeSpec& pr = opt.probe;
  const int B = s.batch, Hq = s.heads_q, Nq = s.seq_q, Nk = s.seq_k, Dv = s.head_dim_v;
  if (pr.batch < 0 || pr.batch >= B || pr.head < 0 || pr.head >= Hq || pr.row_begin < 0 || pr.row_end > Nq ||
      pr.row_begin >= pr.row_end) {
    r->verdict.add(Severity::Warning, "gpu.probe_range",
                   "probe b=" + std::to_string(pr.batch) + " h=" + std::to_string(pr.head) + " rows=" +
                       std::to_string(pr.row_begin) + ":" + std::to_string(pr.row_end) + " is outside the layer",
                   kSource);
    return;
  }
  NvtxRange range(NvtxLevel::Phase, "probe");
  const auto t_probe = Clock::now();
  const int prow = pr.row_end - pr.row_begin;
  const int tile = family.kv_tile();
  const int tiles = (Nk + tile - 1) / tile;
  const int64_t rows = int64_t{B} * Hq * Nq;
  FlashParams pf;
  pf.probe_batch = pr.batch, pf.probe_head = pr.head, pf.probe_row_begin = pr.row_begin, pf.probe_row_end = pr.row_end;
  pf.probe_tiles = tiles;
  pf.probe_p = arena.alloc_as<float>(size_t(prow) * Nk, "probe p", false);
  pf.probe_max = arena.alloc_as<float>(size_t(prow) * tiles, "probe max", false);
  pf.probe_sum = arena.alloc_as<float>(size_t(prow) * tiles, "probe sum", false);
  pf.probe_tile_used = arena.alloc_as<uint8_t>(tiles, "probe tiles", false);
  pf.out = arena.alloc(static_cast<size_t>(rows * Dv * (s.dtype == DType::F32 ? 4 : 2)), "probe out", false);
  pf.lse = arena.alloc_as<float>(static_cast<size_t>(rows), "probe lse", false);
  ATTNSCOPE_CUDA_CHECK(cudaMemsetAsync(pf.probe_p, 0, size_t(prow) * Nk * 4, stream));
  ATTNSCOPE_CUDA_CHECK(cudaMemsetAsync(pf.probe_tile_used, 0, tiles, stream));
  poison(pf.out, s.dtype, static_cast<size_t>(rows * Dv), stream);
  if (!family.launch_probe(pf, stream)) return;
  ATTNSCOPE_CUDA_CHECK(cudaStreamSynchronize(stream));
  r->probe.where = pr;
  r->probe.kv_tile = tile;
  r->probe.n_tiles = tiles;
  r->probe.p = download(pf.probe_p, DType::F32, {prow, Nk}, stream);
  r->probe.p.dtype = s.dtype;  // values are exactly representable in the input dtype
  r->probe.row_max = download(pf.probe_max, DType::F32, {prow, tiles}, stream);
  r->probe.row_sum = download(pf.probe_sum, DType::F32, {prow, tiles}, stream);
  r->probe.tile_used.resize(tiles);
  ATTNSCOPE_CUDA_CHECK(cudaMemcpy(r->probe.tile_used.data(), pf.probe_tile_used, tiles, cudaMemcpyDeviceToHost));
  const Tensor po = download(pf.out, s.dtype, {B, Hq, Nq, Dv}, stream);
  int64_t differ = 0;
  for (int64_t i = 0; i < po.numel(); ++i)
    if (std::memcmp(&po.data[i], &r->out.data[i], 4) != 0) ++differ;
  if (differ == 0)
    r->verdict.add(Severity::Note, "gpu.probe_bitwise",
                   "the probe variant's output is bitwise identical to the timed kernel's", kSource);
  else
    r->verdict.add(Severity::Warning, "gpu.probe_differs",
                   std::to_string(differ) + " output elements of the probe variant differ from the timed kernel's",
                   kSource);
  r->spans.push_back({impl + "/probe", std::chrono::duration<double, std::micro>(t_probe - t0).count(),
                      std::chrono::duration<double, std::micro>(Clock::now() - t_probe).count(), 0});
}

// The backward after the forward, timed and traced the same way, its memory in an arena of its own
// (its peak is beyond the inputs, dO and the forward's outputs, which stay allocated).
void run_backward(const std::string& impl, GpuImpl& family, const LayerSpec& s, const Inputs& in,
                  const RunOptions& opt, DeviceState& st, DeviceArena& fwd_arena, const L2Flush& flush,
                  Clock::time_point t0, CuptiTrace& trace, uint64_t zero_ns, RunResult* r) {
  Gradients& g = r->grad;
  if (const std::string why = family.no_backward(); !why.empty()) {
    g.error = why;
    return;
  }
  if (in.dout.empty()) {
    g.error = "no dO for the backward";
    return;
  }
  cudaStream_t stream = st.stream;
  size_t free_b = 0, total_b = 0;
  ATTNSCOPE_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
  const int64_t need = family.backward_bytes() + int64_t(in.dout.numel()) * 2;
  if (need > static_cast<int64_t>(free_b)) {
    g.error = "backward skipped: needs an estimated " + format_bytes(need) + ", the GPU has " +
              format_bytes(static_cast<int64_t>(free_b)) + " free";
    return;
  }
  auto span = [&](const std::string& name, Clock::time_point a) {
    g.spans.push_back({name, std::chrono::duration<double, std::micro>(a - t0).count(),
                       std::chrono::duration<double, std::micro>(Clock::now() - a).count(), 0});
  };
  const void* ddout = upload(fwd_arena, in.dout, s.dtype, "dO", stream);
  DeviceArena arena(t0);
  family.prepare_backward(arena, ddout, stream);
  // Traced in a kernel window of its own, on the forward's time axis (after its phases); a failure
  // inside it still closes it, so the forward's ranges come back.
  bool traced = false;
  struct Window {
    CuptiTrace& trace;
    bool& open;
    ~Window() {
      if (!open) return;
      try {
        trace.pause_kernels();
      } catch (const GpuFailure&) {  // the failure in flight is the one to report
      }
    }
  } window{trace, traced};
  try {
    trace.begin_kernels();
    traced = true;
  } catch (const GpuFailure&) {
  }
  const auto t_run = Clock::now();
  const Launch launch = [&family](cudaStream_t stream) { family.launch_backward(stream); };
  warm_up(launch, opt.warmup, "backward warm-up", "backward warm-up", stream, traced ? &trace : nullptr);
  const int repeats = std::max(1, opt.repeats);
  g.times_ms = time_repeats(launch, repeats, "backward repeats", "backward repeat", flush, stream,
                            traced ? &trace : nullptr, opt, 0.95, 0.99);
  span(impl + "/bwd/run", t_run);
  if (traced) {
    TraceCounts counts;
    traced = false;  // end_kernels closes the window
    keep_kernels(trace.end_kernels(zero_ns, &counts), counts, opt.warmup, repeats, "backward: ", &g.kernels,
                 &r->verdict);
  }
  g.median_ms = median(g.times_ms);
  const auto t_down = Clock::now();
  family.collect_backward(&g, stream);
  span(impl + "/bwd/download", t_down);
  g.peak_bytes = arena.peak();
  g.model_bytes = model_bytes_backward(impl, s);
  arena.release();
  g.memory = arena.events();
  g.ran = true;
}

}  // namespace

void run_measured(const std::string& impl, GpuImpl& family, const LayerSpec& s, const Inputs& in,
                  const RunOptions& opt, DeviceState& st, RunResult* r) {
  const auto t0 = Clock::now();
  auto span = [&](const std::string& name, Clock::time_point a) {
    r->spans.push_back({name, std::chrono::duration<double, std::micro>(a - t0).count(),
                        std::chrono::duration<double, std::micro>(Clock::now() - a).count(), 0});
  };
  const DType dt = s.dtype;
  const int64_t e = dt == DType::F32 ? 4 : 2;
  const int B = s.batch, Hq = s.heads_q, Nq = s.seq_q, Dv = s.head_dim_v;
  const int64_t rows = int64_t{B} * Hq * Nq;
  cudaStream_t stream = st.stream;

  // Memory: estimated before anything is allocated; an implementation that cannot fit is skipped.
  size_t free_b = 0, total_b = 0;
  ATTNSCOPE_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
  const bool own = family.counts_own_output();
  const int64_t extra = (own ? 0 : rows * Dv * e + rows * 4) + family.workspace_bytes(), inputs = input_bytes(s, in);
  if (extra + inputs > static_cast<int64_t>(free_b)) {
    const std::string text = "skipped: needs an estimated " + format_bytes(extra) + " beyond the inputs (" +
                             format_bytes(inputs) + "), the GPU has " + format_bytes(static_cast<int64_t>(free_b)) +
                             " free";
    r->verdict.add(Severity::Error, "gpu.memory_estimate", text, kSource);
    r->error = text;
    return;
  }

  // NVTX markers over the whole run (CUPTI records them from here), the implementation's range first.
  CuptiTrace trace;
  trace.open();
  std::optional<NvtxRange> whole;
  whole.emplace(NvtxLevel::Implementation, impl);

  DeviceArena arena(t0);
  struct Release {  // on every exit, before the arena frees: e.g. the cuBLAS workspace binding
    GpuImpl& f;
    ~Release() { f.release(); }
  } release{family};
  const auto t_up = Clock::now();
  DeviceInputs din;
  {
    NvtxRange range(NvtxLevel::Phase, "upload");
    din = upload_inputs(arena, s, in, stream);
  }
  span(impl + "/upload", t_up);

  size_t free_before = 0, free_after = 0;
  ATTNSCOPE_CUDA_CHECK(cudaMemGetInfo(&free_before, &total_b));
  void* dout = arena.alloc(static_cast<size_t>(rows * Dv * e), "out", !own);
  float* dlse = arena.alloc_as<float>(static_cast<size_t>(rows), "lse", !own);
  family.prepare(arena, din, dout, dlse);
  ATTNSCOPE_CUDA_CHECK(cudaMemGetInfo(&free_after, &total_b));
  r->kernel_path = family.path();
  r->kv_tile = family.kv_tile();
  r->block_m = family.block_m();

  L2Flush flush;  // not counted in the layer's peak: the measurement's, not the layer's
  flush.bytes = std::max(size_t{256} << 20, static_cast<size_t>(st.l2_bytes) * 2);
  // A layer that leaves less than the flush (and the backward's estimate) free is timed without one.
  const size_t keep_free = flush.bytes + (opt.backward ? static_cast<size_t>(family.backward_bytes()) : 0);
  if (flush.bytes > 0 && free_after > keep_free)
    flush.ptr = arena.alloc(flush.bytes, "l2 flush (measurement)", false);
  else if (flush.bytes > 0)
    r->verdict.add(Severity::Note, "gpu.no_l2_flush",
                   "timed without the L2 flush between repeats: " + format_bytes(static_cast<int64_t>(flush.bytes)) +
                       " would not leave room for the layer",
                   kSource);

  poison(dout, dt, static_cast<size_t>(rows * Dv), stream);
  ATTNSCOPE_CUDA_CHECK(cudaMemsetAsync(dlse, 0xFF, rows * 4, stream));

  bool traced = false;
  try {
    trace.begin_kernels();
    traced = true;
  } catch (const GpuFailure& ex) {
    r->verdict.add(Severity::Warning, "gpu.cupti_off", std::string("no CUPTI kernel records: ") + ex.what(), kSource);
  }
  // The run's time axis starts at the first warm-up launch: runs line up on the Timeline.
  const uint64_t zero_ns = CuptiTrace::timestamp();
  const auto t_run = Clock::now();
  const Launch launch = [&family](cudaStream_t stream) { family.launch(stream); };
  warm_up(launch, opt.warmup, "warm-up", "warm-up", stream, traced ? &trace : nullptr);
  const int repeats = std::max(1, opt.repeats);
  r->times_ms = time_repeats(launch, repeats, "timed repeats", "repeat", flush, stream,
                             traced ? &trace : nullptr, opt, 0.0, 0.45);
  r->median_ms = median(r->times_ms);
  if (traced) {
    TraceCounts counts;
    keep_kernels(trace.end_kernels(zero_ns, &counts), counts, opt.warmup, repeats, "", &r->kernels, &r->verdict);
    // The same repeats with CUPTI recording nothing but NVTX markers: the events' median against
    // the traced one is CUPTI's overhead on this run (cupti_overhead_pct).
    r->times_untraced_ms = time_repeats(launch, repeats, "untraced repeats", "untraced", flush, stream,
                                        nullptr, opt, 0.45, 0.9);
    r->median_untraced_ms = median(r->times_untraced_ms);
  }
  span(impl + "/run", t_run);
  if (opt.progress) opt.progress(0.95);

  const auto t_down = Clock::now();
  {
    NvtxRange range(NvtxLevel::Phase, "download");
    family.collect(r, opt, stream);  // first: a family that owns its output fills out/lse here
    r->out = download(dout, dt, {B, Hq, Nq, Dv}, stream);
    r->lse = download(dlse, DType::F32, {B, Hq, Nq}, stream);
  }
  span(impl + "/download", t_down);

  if (opt.probe.enabled) run_probe(family, s, opt, arena, stream, r, impl, t0);
  if (opt.backward) {
    try {
      run_backward(impl, family, s, in, opt, st, arena, flush, t0, trace, zero_ns, r);
    } catch (const std::logic_error& e) {  // a plan or shape the backward cannot run: its error, not the run's
      r->grad = Gradients();
      r->grad.error = std::string("backward failed: ") + e.what();
    } catch (const GpuFailure& e) {
      // A library's refusal (cuDNN's check_support) or an allocation the backward could not get:
      // the backward's error, the forward stands. A lost context is the run's failure.
      if (e.sticky) throw;
      r->grad = Gradients();
      r->grad.error = std::string("backward failed: ") + e.what();
    }
  }

  whole.reset();
  if (CuptiTrace::available()) {
    TraceCounts counts;
    keep_ranges(trace.close(zero_ns, &counts), counts, r);
  }

  r->peak_bytes = arena.peak();
  const int64_t seen = static_cast<int64_t>(free_before) - static_cast<int64_t>(free_after);
  // cudaMalloc rounds to 2 MiB pages: a gap beyond that means memory we did not count.
  if (seen > r->peak_bytes + (int64_t{8} << 20))
    r->verdict.add(Severity::Note, "gpu.memory_crosscheck",
                   "cudaMemGetInfo saw " + format_bytes(seen) + " allocated, tracked " + format_bytes(r->peak_bytes),
                   kSource);
  family.release();  // idempotent; Release repeats it
  arena.release();
  r->memory = arena.events();
  r->ran = true;
  if (opt.progress) opt.progress(1.0);
}

}  // namespace attnscope::cuda
