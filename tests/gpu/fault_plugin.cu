// libattnscope_cuda_faults.so, test-only: the real GPU plugin (libattnscope_cuda.so, loaded
// from its build path) with faults a test can ask for, for the GPU worker's device tests. Never
// installed; attnscope loads it only when $ATTNSCOPE_GPU_PLUGIN names it. The layer's name asks:
//   "... fault=IMPL:illegal_address"  a kernel writes through a wild pointer: a real
//                                     cudaErrorIllegalAddress, the CUDA context is lost
//   "... fault=IMPL:oom"              a real cudaMalloc larger than the device fails
//                                     (cudaErrorMemoryAllocation: not sticky)
// $ATTNSCOPE_FAULTS_LEAVE_FREE_MIB=N at open: everything but N MiB of device memory is taken, so
// real implementations meet a nearly full device. Every run adds a note "test.device_used" with
// the device memory in use after it (cudaMemGetInfo), which the load test reads.
#include <cuda_runtime.h>
#include <dlfcn.h>

#include <cstdlib>
#include <string>

#include "kernels/gpu_backend.h"
#include "tests/kernels/worker/fault_spec.h"

namespace attnscope {
namespace {

const GpuBackendApi* g_real = nullptr;
bool g_lost = false;
void* g_hog = nullptr;
constexpr const char* kSource = "attnscope test fault plugin";

// Writes far outside any allocation: the launch succeeds, the synchronize reports the fault.
__global__ void wild_write(int* base) { base[threadIdx.x + (size_t{1} << 40)] = 1; }

bool open(DeviceInfo* dev, std::string* why) {
  void* h = dlopen(ATTNSCOPE_REAL_PLUGIN, RTLD_NOW | RTLD_LOCAL);
  auto fn = h ? reinterpret_cast<attnscope_gpu_backend_fn>(dlsym(h, "attnscope_gpu_backend")) : nullptr;
  if (!fn || fn()->abi != kGpuBackendAbi) {
    *why = std::string("test fault plugin: cannot load ") + ATTNSCOPE_REAL_PLUGIN;
    return false;
  }
  g_real = fn();
  if (!g_real->open(dev, why)) return false;
  if (const char* leave = std::getenv("ATTNSCOPE_FAULTS_LEAVE_FREE_MIB"); leave && *leave) {
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    const size_t keep = static_cast<size_t>(std::atoll(leave)) << 20;
    if (free_b > keep && cudaMalloc(&g_hog, free_b - keep) != cudaSuccess) {
      *why = "test fault plugin: cannot take the device memory to leave " + std::string(leave) + " MiB free";
      return false;
    }
    dev->mem_free = static_cast<int64_t>(keep);
  }
  return true;
}

std::vector<std::string> names() { return g_real->names(); }

Verdict check(const std::string& impl, const LayerSpec& spec, const DeviceInfo& dev) {
  return g_real->check(impl, spec, dev);
}

void run(const std::string& impl, const LayerSpec& spec, const Inputs& in, const RunOptions& opt, RunResult* r) {
  const std::string fault = test::fault_for(spec, impl);
  if (fault == "illegal_address") {
    if (opt.progress) opt.progress(0.3);
    wild_write<<<1, 32>>>(nullptr);
    const cudaError_t e = cudaDeviceSynchronize();
    *r = RunResult{};
    r->impl = r->label = impl;
    r->error = std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e) +
               " (attnscope's test-only faulting kernel); the CUDA context is lost (sticky error)";
    g_lost = e != cudaSuccess;
    return;
  }
  if (fault == "oom") {
    if (opt.progress) opt.progress(0.3);
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    void* p = nullptr;
    const cudaError_t e = cudaMalloc(&p, total_b * 2);
    *r = RunResult{};
    r->impl = r->label = impl;
    r->error = "CUDA out of memory: cudaMalloc of " + std::to_string((total_b * 2) >> 20) + " MiB (test-only fault): " +
               cudaGetErrorString(e);
    cudaGetLastError();  // not sticky: clear it, as the real plugin does
    return;
  }
  g_real->run(impl, spec, in, opt, r);
  size_t free_b = 0, total_b = 0;
  if (cudaMemGetInfo(&free_b, &total_b) == cudaSuccess)
    r->verdict.add(Severity::Note, "test.device_used", std::to_string(total_b - free_b), kSource);
}

void close() {
  if (g_hog && !g_lost) cudaFree(g_hog);
  if (g_real && !g_lost) g_real->close();
}

bool healthy() { return !g_lost && g_real->healthy(); }

bool supports(const std::string& impl, const std::string& feature) {
  return g_real && g_real->supports && g_real->supports(impl, feature);
}
void environment(GpuEnvironment* e) {
  if (g_real && g_real->environment) g_real->environment(e);
}

const GpuBackendApi kApi = {kGpuBackendAbi, &open, &names, &check, &run, &close, &healthy, &supports, &environment};

}  // namespace
}  // namespace attnscope

extern "C" __attribute__((visibility("default"))) const attnscope::GpuBackendApi* attnscope_gpu_backend() {
  return &attnscope::kApi;
}
