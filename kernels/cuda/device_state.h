// The plugin's process-wide CUDA state: device 0, one non-blocking stream, the cuBLAS handle, and
// whether a sticky error has made the context unusable. One run at a time holds `mu`.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <mutex>
#include <string>

#include "kernels/device.h"

namespace attnscope::cuda {

struct DeviceState {
  std::mutex mu;  // one run at a time: CUPTI and the handle are process-wide
  bool open = false;
  DeviceInfo dev;
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;
  bool context_lost = false;
  std::string lost_why;
  int l2_bytes = 0;
};
DeviceState& device_state();

// Opens device 0 (CUPTI first, before the context exists); false with the reason. Caller holds mu.
bool open_device(DeviceState& s, std::string* why);
// Releases the handle and stream (nothing after a lost context). Caller holds mu.
void close_device(DeviceState& s);

}  // namespace attnscope::cuda
