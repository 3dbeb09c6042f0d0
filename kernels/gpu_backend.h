// The GPU backend: libattnscope_cuda.so, loaded at run time with dlopen so the attnscope binary
// has no CUDA library as a load-time dependency (DESIGN.md "Runs anywhere it can").
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "gpu_environment.h"
#include "implementation.h"

namespace attnscope {

// Bumped whenever a struct in the kernels/ headers or this table changes shape: the plugin and
// the binary are built from one tree, and a stale plugin is refused rather than misread.
constexpr int kGpuBackendAbi = 6;  // 3: RunOptions::backward, Inputs::dout, RunResult::grad; 4: LayerSpec::max_context;
                                   // 5: the rel branch's; 6: RunResult::ranges/times_untraced_ms,
                                   // GpuEnvironment, environment()

// The plugin's one exported symbol, `attnscope_gpu_backend`, returns this table.
struct GpuBackendApi {
  int abi = kGpuBackendAbi;
  // Initialises CUDA on device 0; false with the reason (no driver, no device, ...).
  bool (*open)(DeviceInfo* dev, std::string* why);
  // GPU implementation names this plugin provides ("eager", "sdpa", "flash2", "sink", "sdpa:...").
  std::vector<std::string> (*names)();
  Verdict (*check)(const std::string& impl, const LayerSpec& spec, const DeviceInfo& dev);
  // Runs `impl` on the GPU under CUPTI tracing: fills out/lse/intermediates/probe, kernels, NVTX
  // ranges, memory, peak_bytes, median_ms and the untraced repeats. Never throws; errors land in
  // result->error.
  // With opt.backward it also runs the backward into result->grad (gradients, its own kernels,
  // memory and peak_bytes, apart from the forward's; rounding points as kernels/cpu/*_backward.cpp).
  void (*run)(const std::string& impl, const LayerSpec& spec, const Inputs& in,
              const RunOptions& opt, RunResult* result);
  void (*close)();
  // Which layer features `impl` handles on the GPU: "packed" (LayerSpec::cu_seqlens, FA2's varlen
  // semantics). nullptr, or false: the session runs packed layers on the CPU version instead (with
  // a note), never a GPU kernel that would ignore the boundaries. (The backward needs no flag: a
  // family without one says so in RunResult::grad.error.)
  bool (*supports)(const std::string& impl, const std::string& feature) = nullptr;
  // The device, its clocks now and the library versions (call at the start of a session).
  void (*environment)(GpuEnvironment* env) = nullptr;
};

extern "C" {
typedef const GpuBackendApi* (*attnscope_gpu_backend_fn)();
}

// Loads the plugin once (next to the executable, then $ATTNSCOPE_GPU_PLUGIN, then the loader path).
// nullptr when unavailable, with the reason in why_not(). ATTNSCOPE_NO_GPU=1 disables it.
class GpuBackend {
 public:
  static GpuBackend& instance();
  bool available() const { return api_ != nullptr; }
  const std::string& why_not() const { return why_; }
  const DeviceInfo& device() const { return dev_; }
  const GpuBackendApi* api() const { return api_; }
  bool provides(const std::string& impl) const;
  // GpuBackendApi::supports, false when the plugin does not say.
  bool supports(const std::string& impl, const std::string& feature) const;
  // The device, its clocks at this call and the library versions; empty without a GPU.
  GpuEnvironment environment() const;

 private:
  GpuBackend();
  const GpuBackendApi* api_ = nullptr;
  void* handle_ = nullptr;
  std::string why_;
  DeviceInfo dev_;
  std::vector<std::string> names_;
};

}  // namespace attnscope
