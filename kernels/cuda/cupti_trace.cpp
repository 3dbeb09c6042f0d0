#include "kernels/cuda/cupti_trace.h"

#include <cuda_runtime.h>
#include <cupti.h>

#include <cstdlib>
#include <mutex>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/nvtx_ranges.h"

namespace attnscope::cuda {

namespace {

constexpr size_t kBufferBytes = 8 << 20;  // 8 MB activity buffers, 8-byte aligned

struct Store {
  std::mutex mu;
  RawTrace raw;
};
Store& store() {
  static Store s;
  return s;
}

bool g_inited = false, g_ok = false;
std::string g_why;

void CUPTIAPI buffer_requested(uint8_t** buffer, size_t* size, size_t* max_records) {
  *buffer = static_cast<uint8_t*>(std::aligned_alloc(8, kBufferBytes));
  *size = *buffer ? kBufferBytes : 0;
  *max_records = 0;
}

void CUPTIAPI buffer_completed(CUcontext, uint32_t, uint8_t* buffer, size_t, size_t valid) {
  Store& s = store();
  std::lock_guard<std::mutex> lock(s.mu);
  CUpti_Activity* rec = nullptr;
  while (cuptiActivityGetNextRecord(buffer, valid, &rec) == CUPTI_SUCCESS) decode_record(rec, &s.raw);
  size_t dropped = 0;
  cuptiActivityGetNumDroppedRecords(nullptr, 0, &dropped);
  s.raw.counts.dropped += static_cast<int>(dropped);
  std::free(buffer);
}

// The kernel window's kinds. KIND_KERNEL would serialise kernels: CONCURRENT_KERNEL instead.
const CUpti_ActivityKind kKernelKinds[] = {CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL, CUPTI_ACTIVITY_KIND_MEMCPY,
                                           CUPTI_ACTIVITY_KIND_MEMSET,            CUPTI_ACTIVITY_KIND_MEMORY2,
                                           CUPTI_ACTIVITY_KIND_OVERHEAD,          CUPTI_ACTIVITY_KIND_EXTERNAL_CORRELATION};

// The API records that carry the external correlation: every runtime and driver API call in the
// kernel window (our kernels' <<<>>> through the runtime, cuBLAS and cuDNN through the driver).
// cuptiActivityEnableRuntimeApi/EnableDriverApi for the launch calls alone returned success on the
// H200 (CUPTI 13.0, driver 580) yet delivered no API record and so no external correlation record:
// the whole kinds, whose host cost lands in the traced repeats that cupti_overhead_pct measures
// against the untraced ones.
const CUpti_ActivityKind kApiKinds[] = {CUPTI_ACTIVITY_KIND_RUNTIME, CUPTI_ACTIVITY_KIND_DRIVER};

void enable_api_records() {
  for (CUpti_ActivityKind k : kApiKinds) ATTNSCOPE_CUPTI_CHECK(cuptiActivityEnable(k));
}

// Best effort, never throws: it also undoes a partial enable after a CUPTI failure.
void disable_kernel_window() {
  for (CUpti_ActivityKind k : kApiKinds) cuptiActivityDisable(k);
  for (CUpti_ActivityKind k : kKernelKinds) cuptiActivityDisable(k);
}

}  // namespace

bool CuptiTrace::init(std::string* why) {
  if (!g_inited) {
    g_inited = true;
    try {
      ATTNSCOPE_CUPTI_CHECK(cuptiActivityRegisterCallbacks(buffer_requested, buffer_completed));
      g_ok = true;
    } catch (const GpuFailure& e) {
      g_why = e.what();
    }
  }
  if (!g_ok && why) *why = g_why;
  return g_ok;
}
bool CuptiTrace::available() { return g_ok; }
const std::string& CuptiTrace::why_not() { return g_why; }

uint64_t CuptiTrace::timestamp() {
  uint64_t t = 0;
  if (g_ok) cuptiGetTimestamp(&t);
  return t;
}

CuptiTrace::~CuptiTrace() {
  if (kernels_) disable_kernel_window();
  if (markers_) cuptiActivityDisable(CUPTI_ACTIVITY_KIND_MARKER);
}

void CuptiTrace::open() {
  if (!g_ok) return;
  cuptiActivityFlushAll(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED);  // what an earlier, failed run left
  {
    Store& s = store();
    std::lock_guard<std::mutex> lock(s.mu);
    s.raw.clear();
  }
  nvtx_setup();
  markers_ = cuptiActivityEnable(CUPTI_ACTIVITY_KIND_MARKER) == CUPTI_SUCCESS;
}

void CuptiTrace::begin_kernels() {
  if (!g_ok) throw GpuFailure("CUPTI unavailable: " + g_why, false, false);
  kernels_ = true;  // the destructor undoes a partial enable
  for (CUpti_ActivityKind k : kKernelKinds) ATTNSCOPE_CUPTI_CHECK(cuptiActivityEnable(k));
  enable_api_records();
}

void CuptiTrace::push_repeat(int repeat) {
  if (!kernels_) return;
  ATTNSCOPE_CUPTI_CHECK(
      cuptiActivityPushExternalCorrelationId(CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0, external_id_of_repeat(repeat)));
}
void CuptiTrace::pop_repeat() {
  if (!kernels_) return;
  uint64_t id = 0;
  ATTNSCOPE_CUPTI_CHECK(cuptiActivityPopExternalCorrelationId(CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0, &id));
}

void CuptiTrace::pause_kernels() {
  if (!kernels_) return;
  ATTNSCOPE_CUDA_CHECK(cudaDeviceSynchronize());
  kernels_ = false;
  disable_kernel_window();
}

AssembledTrace CuptiTrace::end_kernels(uint64_t t0_ns, TraceCounts* counts) {
  if (!g_ok) return {};
  pause_kernels();
  ATTNSCOPE_CUPTI_CHECK(cuptiActivityFlushAll(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED));
  Store& s = store();
  std::lock_guard<std::mutex> lock(s.mu);
  // The window's kernel-side records leave the store; the markers (and their count) stay.
  RawTrace window;
  window.kernels = std::move(s.raw.kernels);
  window.external = std::move(s.raw.external);
  window.counts = s.raw.counts;
  s.raw.kernels.clear();
  s.raw.external.clear();
  s.raw.counts = TraceCounts{};
  s.raw.counts.markers = window.counts.markers;
  if (counts) *counts = window.counts;
  return assemble(window, t0_ns, kNvtxDomain);
}

AssembledTrace CuptiTrace::close(uint64_t t0_ns, TraceCounts* counts) {
  if (!g_ok) return {};
  pause_kernels();
  ATTNSCOPE_CUDA_CHECK(cudaDeviceSynchronize());
  ATTNSCOPE_CUPTI_CHECK(cuptiActivityFlushAll(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED));
  if (markers_) {
    markers_ = false;
    cuptiActivityDisable(CUPTI_ACTIVITY_KIND_MARKER);
  }
  Store& s = store();
  std::lock_guard<std::mutex> lock(s.mu);
  if (counts) *counts = s.raw.counts;
  RawTrace markers;
  markers.markers = std::move(s.raw.markers);
  AssembledTrace a = assemble(markers, t0_ns, kNvtxDomain);
  s.raw.clear();
  return a;
}

}  // namespace attnscope::cuda
