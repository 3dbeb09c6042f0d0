// Fills GpuEnvironment (kernels/gpu_environment.h) for the open device: properties from the CUDA
// runtime, clocks and the driver version from NVML (loaded with dlopen: the driver ships it; the
// plugin does not depend on it), the cuBLAS, CUPTI and runtime versions this plugin runs on, and
// cuDNN's version where a libcudnn is already loaded in the process.
#pragma once
#include "kernels/cuda/device_state.h"
#include "kernels/gpu_environment.h"

namespace attnscope::cuda {

// Caller holds s.mu; `s` is open. Never throws: what cannot be read stays empty / 0.
void fill_environment(const DeviceState& s, GpuEnvironment* env);

}  // namespace attnscope::cuda
