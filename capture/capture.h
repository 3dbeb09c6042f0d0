// A capture: one layer, one set of inputs, every implementation's result, the reference.
#pragma once
#include <map>
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
  // 2: gradients (--backward): dq/dk/dv/dsinks per run and the reference, /inputs/do, each run's
  //    backward costs, gradient baselines. Version 1 files (no gradients) still load.
  // 3: /env/gpu (the GPU environment), per run the NVTX ranges and the untraced repeat times.
  static constexpr int kFormatVersion = 3;
  static constexpr int kOldestReadable = 1;
  int format_version = kFormatVersion;  // the version of the file it was loaded from
  LayerSpec spec;
  EnvInfo env;
  Inputs inputs;
  RunResult reference;              // fp64 reference (label "reference")
  std::vector<RunResult> runs;      // implementations, what-ifs and outside runs, in run order
  // max |eager(fp32 softmax, spec dtype) - fp64| over attended rows: the acceptance rule's
  // baseline (fp32 specs: 0, the rule is relative Frobenius <= 1e-5). < 0 when not computed.
  double acceptance_baseline = -1;
  // The same per gradient tensor ("dq", "dk", "dv", "dsinks") when the session ran the backward:
  // eager (fp32 softmax, spec dtype) against the reference's gradients, max abs (fp32 specs:
  // relative Frobenius). Absent: not computed.
  std::map<std::string, double> gradient_baseline;

  const RunResult* find(const std::string& label) const;
  // A backward was asked for: the reference has gradients, or a run ran one or says why not.
  bool has_backward() const;
};

}  // namespace attnscope
