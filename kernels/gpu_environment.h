// The GPU environment a capture was measured in: the device, its clocks when the session started,
// and the version of every library between attnscope and the GPU. Filled by the GPU plugin
// (kernels/cuda/gpu_environment.cpp), stored in the capture (/env/gpu), shown by report and the GUI.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace attnscope {

struct GpuEnvironment {
  std::string name;                  // "NVIDIA H200"
  int cc_major = 0, cc_minor = 0;    // compute capability
  int sm_count = 0;
  int64_t memory_bytes = 0;          // total device memory
  // Clocks when the session started (NVML's current clocks), and the device's maxima; 0 = unknown
  // (no NVML). A GPU that idles at a low clock shows it here: the first repeats then run slower.
  int sm_clock_mhz = 0, memory_clock_mhz = 0;
  int sm_clock_max_mhz = 0, memory_clock_max_mhz = 0;
  std::string driver;                // NVIDIA driver, "580.95.05" (NVML); "" where NVML is missing
  std::string cuda_driver;           // the CUDA version the driver supports, "13.0"
  std::string cuda_runtime;          // the CUDA runtime the plugin runs on, "13.0"
  std::string cublas;                // "13.1.0"
  std::string cudnn;                 // "9.14.0" when libcudnn is loaded in the process, else ""
  std::string cupti;                 // "13.0 (API 130001)"
  std::string nvtx;                  // where the attnscope NVTX ranges go: CUPTI (into the capture), another tool, nowhere

  bool empty() const { return name.empty(); }
};

// The environment as label / value lines, in the order report and the GUI show them
// ("GPU", "NVIDIA H200, sm90, 132 SMs, 139.8 GiB"), with "-" for what is unknown.
std::vector<std::pair<std::string, std::string>> environment_lines(const GpuEnvironment& e);

// "13.0" from CUDA's integer versions (13000).
std::string cuda_version_text(int v);

}  // namespace attnscope
