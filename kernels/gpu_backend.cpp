#include "kernels/gpu_backend.h"

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <string>

#include "kernels/gpu_worker.h"

namespace attnscope {

namespace {
std::string exe_dir() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "";
  std::string p(buf, static_cast<size_t>(n));
  auto slash = p.rfind('/');
  return slash == std::string::npos ? "" : p.substr(0, slash);
}

// The worker executable: $ATTNSCOPE_GPU_WORKER, next to this executable, ../lib/attnscope/.
std::string find_worker() {
  if (const char* p = std::getenv("ATTNSCOPE_GPU_WORKER"); p && *p) return p;
  const std::string dir = exe_dir();
  for (const std::string& c : {dir + "/attnscope-gpu-worker", dir + "/../lib/attnscope/attnscope-gpu-worker"})
    if (!dir.empty() && access(c.c_str(), X_OK) == 0) return c;
  return "";
}
}  // namespace

bool nvidia_driver_loadable() {
  void* h = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
  if (h) dlclose(h);
  return h != nullptr;
}

std::string gpu_open_failure(const std::string& why) { return nvidia_driver_loadable() ? why : kNoDriver; }

std::string cuda_driver_too_old(int driver_version, int runtime_version) {
  return "the NVIDIA driver supports CUDA up to " + cuda_version_text(driver_version) + ", older than the CUDA " +
         cuda_version_text(runtime_version) + " runtime this GPU backend was built with: install a driver for CUDA " +
         cuda_version_text(runtime_version) + " or newer (cudaDriverGetVersion " + std::to_string(driver_version) +
         ", cudaRuntimeGetVersion " + std::to_string(runtime_version) + ")";
}

const GpuBackendApi* load_gpu_plugin(std::string* why) {
  std::vector<std::string> candidates;
  if (const char* p = std::getenv("ATTNSCOPE_GPU_PLUGIN"); p && *p) candidates.push_back(p);
  std::string dir = exe_dir();
  if (!dir.empty()) {
    candidates.push_back(dir + "/libattnscope_cuda.so");
    candidates.push_back(dir + "/../lib/attnscope/libattnscope_cuda.so");
  }
  candidates.push_back("libattnscope_cuda.so");
  std::string errors;
  for (const auto& c : candidates) {
    // The plugin needs libcudart/libcublas/libcupti and the driver's libcuda: a machine without
    // them fails here with the loader's message, which names the missing library.
    void* h = dlopen(c.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      const char* e = dlerror();
      std::string msg = e ? e : "unknown dlopen error";
      if (msg.find("No such file") == std::string::npos || errors.empty()) errors = msg;
      continue;
    }
    auto fn = reinterpret_cast<attnscope_gpu_backend_fn>(dlsym(h, "attnscope_gpu_backend"));
    if (!fn) {
      *why = c + ": not an attnscope GPU plugin (no attnscope_gpu_backend symbol)";
      dlclose(h);
      return nullptr;
    }
    const GpuBackendApi* api = fn();
    if (!api || api->abi != kGpuBackendAbi) {
      *why = c + ": plugin ABI " + std::to_string(api ? api->abi : -1) + ", this binary expects " +
             std::to_string(kGpuBackendAbi) + " (rebuild both from one tree)";
      dlclose(h);
      return nullptr;
    }
    // Kept mapped for the life of the process: CUDA's atexit handlers may still reference it.
    return api;
  }
  // Without a driver nothing CUDA can work, whatever else is missing: say that first.
  *why = !nvidia_driver_loadable() ? std::string(kNoDriver)
                                   : "GPU backend not loadable: " +
                                         (errors.empty() ? std::string("libattnscope_cuda.so not found") : errors);
  return nullptr;
}

GpuBackend& GpuBackend::instance() {
  static GpuBackend b;
  return b;
}

GpuBackend::GpuBackend() {
  if (const char* off = std::getenv("ATTNSCOPE_NO_GPU"); off && *off && std::string(off) != "0") {
    why_ = "GPU backend disabled by ATTNSCOPE_NO_GPU";
    return;
  }
  const std::string exe = find_worker();
  if (exe.empty()) {
    why_ = !nvidia_driver_loadable() ? std::string(kNoDriver)
                                     : "the GPU worker attnscope-gpu-worker is not next to " + exe_dir() +
                                           " (set ATTNSCOPE_GPU_WORKER)";
    return;
  }
  worker_ = std::make_unique<GpuWorker>(exe);
  if (!worker_->ready()) {
    why_ = worker_->why_not();
    worker_.reset();
    return;
  }
  dev_ = worker_->device();
  names_ = worker_->names();
  available_ = true;
}

GpuBackend::~GpuBackend() = default;

bool GpuBackend::provides(const std::string& impl) const {
  return available_ && std::find(names_.begin(), names_.end(), impl) != names_.end();
}

Verdict GpuBackend::check(const std::string& impl, const LayerSpec& spec, const DeviceInfo& dev) const {
  if (!worker_) {
    Verdict v;
    v.add(Severity::Error, "gpu.unavailable", why_, "attnscope GPU backend");
    return v;
  }
  return worker_->check(impl, spec, dev);
}

void GpuBackend::run(const std::string& impl, const LayerSpec& spec, const Inputs& in, const RunOptions& opt,
                     RunResult* result) const {
  if (!worker_) {
    *result = RunResult{};
    result->impl = result->label = impl;
    result->error = why_;
    return;
  }
  worker_->run(impl, spec, in, opt, result);
}

GpuEnvironment GpuBackend::environment() const {
  return worker_ ? worker_->environment() : GpuEnvironment{};
}

bool GpuBackend::supports(const std::string& impl, const std::string& feature) const {
  return available_ && worker_->supports(impl, feature);
}

}  // namespace attnscope
