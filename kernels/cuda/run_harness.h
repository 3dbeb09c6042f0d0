// The measurement harness every GPU implementation runs under (STYLE.md: time with CUDA events after
// a warm-up, many repeats, median; flush L2 between repeats; NaN-poisoned outputs). In order:
// memory estimate before any allocation, upload, outputs, the family's prepare, warm-up and timed
// repeats under CUPTI (each kernel record tagged with its repeat through external correlation),
// the same repeats again with CUPTI's kernel tracing off (its overhead), download, the family's
// extra results, the probe variant once (checked bit for bit against the timed kernel), peak
// memory. NVTX ranges (nvtx_ranges.h) name the implementation, each phase and each launch; CUPTI
// brings them back into RunResult::ranges on the kernels' time axis (zero: the first warm-up launch).
#pragma once
#include <string>

#include "kernels/cuda/device_state.h"
#include "kernels/cuda/gpu_impl.h"
#include "kernels/implementation.h"

namespace attnscope::cuda {

// Throws GpuFailure / std::exception; backend.cpp turns them into RunResult::error.
void run_measured(const std::string& impl, GpuImpl& family, const LayerSpec& spec, const Inputs& in,
                  const RunOptions& opt, DeviceState& st, RunResult* r);

}  // namespace attnscope::cuda
