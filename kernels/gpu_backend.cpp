#include "kernels/gpu_backend.h"

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <string>

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
}  // namespace

GpuBackend& GpuBackend::instance() {
  static GpuBackend b;
  return b;
}

GpuBackend::GpuBackend() {
  if (const char* off = std::getenv("ATTNSCOPE_NO_GPU"); off && *off && std::string(off) != "0") {
    why_ = "GPU backend disabled by ATTNSCOPE_NO_GPU";
    return;
  }
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
      if (msg.find("No such file") == std::string::npos || errors.empty())
        errors = msg;
      continue;
    }
    auto fn = reinterpret_cast<attnscope_gpu_backend_fn>(dlsym(h, "attnscope_gpu_backend"));
    if (!fn) {
      why_ = c + ": not an attnscope GPU plugin (no attnscope_gpu_backend symbol)";
      dlclose(h);
      return;
    }
    const GpuBackendApi* api = fn();
    if (!api || api->abi != kGpuBackendAbi) {
      why_ = c + ": plugin ABI " + std::to_string(api ? api->abi : -1) + ", this binary expects " +
             std::to_string(kGpuBackendAbi) + " (rebuild both from one tree)";
      dlclose(h);
      return;
    }
    std::string why;
    if (!api->open(&dev_, &why)) {
      why_ = "GPU backend loaded but no usable GPU: " + why;
      // Keep the library mapped: CUDA's atexit handlers may still reference it.
      return;
    }
    handle_ = h;
    api_ = api;
    names_ = api->names();
    return;
  }
  why_ = "GPU backend not loadable: " + (errors.empty() ? std::string("libattnscope_cuda.so not found") : errors);
}

bool GpuBackend::provides(const std::string& impl) const {
  return api_ && std::find(names_.begin(), names_.end(), impl) != names_.end();
}

GpuEnvironment GpuBackend::environment() const {
  GpuEnvironment e;
  if (api_ && api_->environment) api_->environment(&e);
  return e;
}

bool GpuBackend::supports(const std::string& impl, const std::string& feature) const {
  return api_ && api_->supports && api_->supports(impl, feature);
}

}  // namespace attnscope
