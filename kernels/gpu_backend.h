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
// 3 (main): RunOptions::backward, Inputs::dout, RunResult::grad; 3 (rel): healthy();
// 4: LayerSpec::max_context; 5: healthy() and supports() in one table; 6: RunResult::what_if_dropped
// as WhatIfDrop values; 7: RunResult::ranges/times_untraced_ms, GpuEnvironment, environment();
// 8: RunResult::block_m.
constexpr int kGpuBackendAbi = 8;

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
  // False once the CUDA context is lost (a sticky error: illegal address, ...): the worker
  // process holding it ends and attnscope starts a fresh one (gpu_worker.h).
  bool (*healthy)();
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

// The layer features GpuBackendApi::supports is asked about; the worker asks its plugin about
// each (implementation x feature) once, at start, and tells attnscope in its hello.
inline constexpr const char* kGpuFeatures[] = {"packed"};

class GpuWorker;

// The GPU backend as attnscope sees it: the plugin, run in a worker process (gpu_worker.h) so a
// fault on the GPU costs one run, not the session. Started once, on first use: the worker
// executable attnscope-gpu-worker is found through $ATTNSCOPE_GPU_WORKER, then next to this
// executable (then ../lib/attnscope/); it finds the plugin as load_gpu_plugin says.
// ATTNSCOPE_NO_GPU=1 disables it.
class GpuBackend {
 public:
  static GpuBackend& instance();
  ~GpuBackend();
  bool available() const { return available_; }
  const std::string& why_not() const { return why_; }
  const DeviceInfo& device() const { return dev_; }
  bool provides(const std::string& impl) const;
  // GpuBackendApi::supports, as the worker's plugin said at start; false when it does not say.
  bool supports(const std::string& impl, const std::string& feature) const;
  // As GpuBackendApi's check and run (never throw; a worker that died is restarted first).
  Verdict check(const std::string& impl, const LayerSpec& spec, const DeviceInfo& dev) const;
  void run(const std::string& impl, const LayerSpec& spec, const Inputs& in, const RunOptions& opt,
           RunResult* result) const;
  GpuWorker* worker() const { return worker_.get(); }  // null when unavailable
  // The device, its clocks at this call and the library versions; empty without a GPU.
  GpuEnvironment environment() const;

 private:
  GpuBackend();
  std::unique_ptr<GpuWorker> worker_;
  bool available_ = false;
  std::string why_;
  DeviceInfo dev_;
  std::vector<std::string> names_;
};

// Loads the plugin into this process (the worker does): $ATTNSCOPE_GPU_PLUGIN, then
// libattnscope_cuda.so next to the executable, then ../lib/attnscope/, then the loader path.
// nullptr with the reason; the reason for a machine without an NVIDIA driver is kNoDriver.
const GpuBackendApi* load_gpu_plugin(std::string* why);

// Why a GPU backend cannot be opened, in the user's terms.
inline constexpr const char* kNoDriver = "no NVIDIA driver found (libcuda.so.1 not loadable)";
bool nvidia_driver_loadable();
// The plugin's open() failed with `why`: without a driver that is kNoDriver, whatever CUDA said.
std::string gpu_open_failure(const std::string& why);
// CUDA versions as cudaDriverGetVersion / cudaRuntimeGetVersion give them (12080 = 12.8): the
// driver is older than the runtime the plugin was built with; both versions and the way out.
std::string cuda_driver_too_old(int driver_version, int runtime_version);

}  // namespace attnscope
