// CUPTI activity tracing of one run. Two windows:
//  - markers: the attnscope NVTX ranges (nvtx_ranges.h) over the whole run, from open() to close();
//  - kernels: kernels (CONCURRENT_KERNEL), copies, memsets, device allocations (MEMORY2), CUPTI's
//    overhead, and the runtime and driver API records that external correlation needs, from
//    begin_kernels() to pause_kernels(). Each kernel record is tagged with its repeat through an
//    external correlation id (CUPTI emits an external correlation record only beside an API
//    activity record; enabling the launch APIs one by one delivered none on the H200).
// A run may open several kernel windows (the forward's, the backward's): end_kernels() takes each
// window's kernels, close() the ranges. The records are decoded in cupti_records.cpp. Failures
// degrade to "no records" with the reason.
#pragma once
#include <cstdint>
#include <string>

#include "kernels/cuda/cupti_records.h"

namespace attnscope::cuda {

class CuptiTrace {
 public:
  // Registers the buffer callbacks once per process; false (with why) when CUPTI is unusable.
  static bool init(std::string* why);
  static bool available();
  static const std::string& why_not();
  // CUPTI's clock in ns (the clock of every record); 0 without CUPTI.
  static uint64_t timestamp();

  ~CuptiTrace();  // disables whatever is still enabled (a run that threw)
  // Clears what an earlier run left and records NVTX markers until close().
  void open();
  // Records kernels and the rest until pause_kernels(). Throws GpuFailure when CUPTI refuses.
  void begin_kernels();
  // Tags the launches that follow with `repeat` (-1 = warm-up) until pop_repeat().
  void push_repeat(int repeat);
  void pop_repeat();
  // Synchronises the device and stops recording kernels (NVTX markers go on).
  void pause_kernels();
  // pause_kernels(), then flushes and takes the window's kernels (attributed to their repeats) on
  // the axis whose zero is t0_ns; the NVTX markers stay for close().
  AssembledTrace end_kernels(uint64_t t0_ns, TraceCounts* counts);
  // Flushes, stops the markers and pairs them into the run's ranges on the same axis.
  AssembledTrace close(uint64_t t0_ns, TraceCounts* counts);
  bool kernels_on() const { return kernels_; }

 private:
  bool markers_ = false, kernels_ = false;
};

}  // namespace attnscope::cuda
