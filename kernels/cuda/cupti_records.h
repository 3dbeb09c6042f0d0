// CUPTI activity records -> attnscope's KernelRecords and RangeRecords. Apart from CUPTI's
// buffers and callbacks (cupti_trace.cpp) so that CI, without a GPU, feeds it synthetic buffers
// laid out as CUPTI lays them out and walked with CUPTI's own cuptiActivityGetNextRecord.
//
// Two steps: decode_record() copies what a record says as it arrives (names and domains are
// CUPTI's strings, valid only while the buffer is); assemble() pairs NVTX start/end markers into
// ranges, attributes each kernel to its repeat through the external correlation records and puts
// every time on the run's axis (nanoseconds since t0 -> microseconds).
#pragma once
#include <cupti.h>

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "kernels/result.h"

namespace attnscope::cuda {

// The kernel record struct changes between CUDA minor versions: chosen here, in one place.
#if CUPTI_API_VERSION >= 130000
using KernelActivity = CUpti_ActivityKernel10;
#elif CUPTI_API_VERSION >= 18
using KernelActivity = CUpti_ActivityKernel9;
#else
#error "attnscope needs CUPTI from CUDA 12 or newer"
#endif
using MarkerActivity = CUpti_ActivityMarker2;
using ApiActivity = CUpti_ActivityAPI;
using ExternalCorrelationActivity = CUpti_ActivityExternalCorrelation;

struct TraceCounts {
  int kernels = 0, memcpys = 0, memsets = 0, memory = 0, overhead = 0, dropped = 0;
  int external = 0;     // external correlation records (one per launch API record while a repeat is pushed)
  int api = 0;          // launch API records (runtime and driver): what external correlation hangs on
  int markers = 0;      // NVTX marker records of any domain
  int other = 0;        // records of kinds attnscope does not read
  int64_t memory_alloc_bytes = 0;  // MEMORY2 allocations seen inside the traced window
};

struct RawKernel {
  std::string name;     // demangled
  uint64_t start = 0, end = 0;
  int grid[3] = {0, 0, 0}, block[3] = {0, 0, 0};
  int regs = 0, smem_static = 0, smem_dynamic = 0;
  uint32_t stream = 0, correlation = 0;
};

struct RawMarker {
  uint32_t id = 0;
  uint64_t timestamp = 0;
  bool start = false;   // a range start (else its end)
  std::string name;     // start markers only
  std::string domain;   // "" for NVTX's default domain
};

struct RawTrace {
  std::vector<RawKernel> kernels;
  std::vector<RawMarker> markers;
  std::unordered_map<uint32_t, uint64_t> external;  // correlation id -> external id (repeat + 2)
  TraceCounts counts;
  void clear() { *this = RawTrace{}; }
};

// Copies one record into `out` (kinds it does not read are counted as other).
void decode_record(const CUpti_Activity* rec, RawTrace* out);

// Repeats travel as external correlation ids: repeat + 2 (0 is not a valid id, -1 is the warm-up).
inline uint64_t external_id_of_repeat(int repeat) { return static_cast<uint64_t>(repeat + 2); }

struct AssembledTrace {
  std::vector<KernelRecord> kernels;   // start order; repeat -2 where no external correlation arrived
  std::vector<RangeRecord> ranges;     // the domain's ranges in start order, depth by nesting
  int untagged = 0;                    // kernels left at repeat -2
  int unpaired_markers = 0;            // a start without its end or the reverse (dropped)
};

// `t0_ns`: the run's zero (CUPTI's clock, the first warm-up launch); `domain`: the NVTX domain kept.
AssembledTrace assemble(const RawTrace& raw, uint64_t t0_ns, const std::string& domain);

}  // namespace attnscope::cuda
