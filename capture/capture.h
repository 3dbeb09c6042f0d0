// A capture: one layer, one set of inputs, every implementation's result, the reference.
#pragma once
#include <string>
#include <vector>

#include "kernels/gpu_environment.h"
#include "kernels/implementation.h"

namespace attnscope {

struct EnvInfo {
  std::string attnscope_version;
  std::string created;        // ISO 8601 UTC
  std::string host;
  std::string os;
  std::string cpu;
  std::string backend;        // "cpu" or "cuda"
  std::string device;         // device description
  std::string gpu_backend_status;  // "loaded" or why not
  std::string command_line;
  uint64_t seed = 0;
  std::string distribution;
  GpuEnvironment gpu;         // GPU captures: the device, its clocks at the start, library versions
};

struct Capture {
  // The version this attnscope writes, and the oldest it still reads (capture/store.h).
  static constexpr int kFormatVersion = 2;
  static constexpr int kOldestFormatVersion = 1;
  int format_version = kFormatVersion;
  LayerSpec spec;
  EnvInfo env;
  Inputs inputs;
  RunResult reference;              // fp64 reference (label "reference")
  std::vector<RunResult> runs;      // implementations, what-ifs and outside runs, in run order
  // max |eager(fp32 softmax, spec dtype) - fp64| over attended rows: the acceptance rule's
  // baseline (fp32 specs: 0, the rule is relative Frobenius <= 1e-5). < 0 when not computed.
  double acceptance_baseline = -1;

  const RunResult* find(const std::string& label) const;
};

}  // namespace attnscope
