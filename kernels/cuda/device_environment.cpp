#include "kernels/cuda/device_environment.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cupti.h>
#include <dlfcn.h>

#include <cstddef>

#include "kernels/cuda/nvtx_ranges.h"

namespace attnscope::cuda {

namespace {

// NVML's C ABI, the few entry points read here (nvml.h is not part of every CUDA toolkit).
using NvmlDevice = struct NvmlDeviceOpaque*;
constexpr int kNvmlSuccess = 0;
constexpr int kNvmlClockSm = 1, kNvmlClockMem = 2;  // nvmlClockType_t: NVML_CLOCK_SM, NVML_CLOCK_MEM

struct Nvml {
  void* lib = nullptr;
  int (*init)() = nullptr;
  int (*shutdown)() = nullptr;
  int (*by_pci)(const char*, NvmlDevice*) = nullptr;
  int (*clock)(NvmlDevice, int, unsigned*) = nullptr;
  int (*max_clock)(NvmlDevice, int, unsigned*) = nullptr;
  int (*driver)(char*, unsigned) = nullptr;

  Nvml() {
    lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) return;
    init = reinterpret_cast<int (*)()>(dlsym(lib, "nvmlInit_v2"));
    shutdown = reinterpret_cast<int (*)()>(dlsym(lib, "nvmlShutdown"));
    by_pci = reinterpret_cast<int (*)(const char*, NvmlDevice*)>(dlsym(lib, "nvmlDeviceGetHandleByPciBusId_v2"));
    clock = reinterpret_cast<int (*)(NvmlDevice, int, unsigned*)>(dlsym(lib, "nvmlDeviceGetClockInfo"));
    max_clock = reinterpret_cast<int (*)(NvmlDevice, int, unsigned*)>(dlsym(lib, "nvmlDeviceGetMaxClockInfo"));
    driver = reinterpret_cast<int (*)(char*, unsigned)>(dlsym(lib, "nvmlSystemGetDriverVersion"));
    if (!init || !shutdown || !by_pci || !clock || !max_clock || !driver || init() != kNvmlSuccess) {
      dlclose(lib);
      lib = nullptr;
    }
  }
  ~Nvml() {
    if (lib) {
      shutdown();
      dlclose(lib);
    }
  }
  bool ok() const { return lib != nullptr; }
};

// cuDNN only when something in the process already loaded it (torch, the cuDNN backend):
// attnscope never loads it just to read a version.
std::string loaded_cudnn_version() {
  for (const char* name : {"libcudnn.so.9", "libcudnn_graph.so.9", "libcudnn.so"}) {
    void* h = dlopen(name, RTLD_NOW | RTLD_NOLOAD);
    if (!h) continue;
    auto fn = reinterpret_cast<size_t (*)()>(dlsym(h, "cudnnGetVersion"));
    const size_t v = fn ? fn() : 0;
    dlclose(h);
    if (v > 0)  // 91400 -> 9.14.0
      return std::to_string(v / 10000) + "." + std::to_string((v % 10000) / 100) + "." + std::to_string(v % 100);
  }
  return "";
}

}  // namespace

void fill_environment(const DeviceState& s, GpuEnvironment* env) {
  GpuEnvironment e;
  const DeviceInfo& d = s.dev;
  e.name = d.name;
  e.cc_major = d.cc_major;
  e.cc_minor = d.cc_minor;
  e.sm_count = d.sm_count;
  e.memory_bytes = d.mem_total;
  int v = 0;
  if (cudaDriverGetVersion(&v) == cudaSuccess) e.cuda_driver = cuda_version_text(v);
  if (cudaRuntimeGetVersion(&v) == cudaSuccess) e.cuda_runtime = cuda_version_text(v);
  int major = 0, minor = 0, patch = 0;
  if (cublasGetProperty(MAJOR_VERSION, &major) == CUBLAS_STATUS_SUCCESS &&
      cublasGetProperty(MINOR_VERSION, &minor) == CUBLAS_STATUS_SUCCESS &&
      cublasGetProperty(PATCH_LEVEL, &patch) == CUBLAS_STATUS_SUCCESS)
    e.cublas = std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
  uint32_t cupti = 0;
  if (cuptiGetVersion(&cupti) == CUPTI_SUCCESS) e.cupti = "API " + std::to_string(cupti);
  e.cudnn = loaded_cudnn_version();
  e.nvtx = nvtx_setup();

  // Clocks: NVML's current and maximum clocks of this device (matched by PCI bus id, so
  // CUDA_VISIBLE_DEVICES does not matter); without NVML the runtime's peak clocks only.
  Nvml nvml;
  char pci[32] = {0};
  NvmlDevice dev = nullptr;
  if (nvml.ok() && cudaDeviceGetPCIBusId(pci, sizeof pci, 0) == cudaSuccess &&
      nvml.by_pci(pci, &dev) == kNvmlSuccess) {
    unsigned mhz = 0;
    if (nvml.clock(dev, kNvmlClockSm, &mhz) == kNvmlSuccess) e.sm_clock_mhz = static_cast<int>(mhz);
    if (nvml.clock(dev, kNvmlClockMem, &mhz) == kNvmlSuccess) e.memory_clock_mhz = static_cast<int>(mhz);
    if (nvml.max_clock(dev, kNvmlClockSm, &mhz) == kNvmlSuccess) e.sm_clock_max_mhz = static_cast<int>(mhz);
    if (nvml.max_clock(dev, kNvmlClockMem, &mhz) == kNvmlSuccess) e.memory_clock_max_mhz = static_cast<int>(mhz);
    char drv[96] = {0};
    if (nvml.driver(drv, sizeof drv) == kNvmlSuccess) e.driver = drv;
  } else {
    int khz = 0;
    if (cudaDeviceGetAttribute(&khz, cudaDevAttrClockRate, 0) == cudaSuccess) e.sm_clock_max_mhz = khz / 1000;
    if (cudaDeviceGetAttribute(&khz, cudaDevAttrMemoryClockRate, 0) == cudaSuccess) e.memory_clock_max_mhz = khz / 1000;
  }
  *env = std::move(e);
}

}  // namespace attnscope::cuda
