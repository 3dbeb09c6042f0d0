#include "kernels/cuda/nvtx_ranges.h"

#include <cupti.h>
#include <dlfcn.h>
#include <nvtx3/nvToolsExt.h>

#include <cstdlib>
#include <map>
#include <mutex>

namespace attnscope::cuda {

namespace {

constexpr const char* kInjectionVar = "NVTX_INJECTION64_PATH";

struct State {
  std::once_flag once;
  std::mutex mu;  // guards strings
  nvtxDomainHandle_t domain = nullptr;
  std::map<std::string, nvtxStringHandle_t> strings;
  std::string where;
  bool to_cupti = false;
};
State& state() {
  static State s;
  return s;
}

// The file of the libcupti this plugin is linked with (the one the dynamic loader picked).
std::string cupti_library_path() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&cuptiGetVersion), &info) == 0 || !info.dli_fname) return "";
  return info.dli_fname;
}

nvtxStringHandle_t registered(State& s, const std::string& name) {
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.strings.find(name);
  if (it != s.strings.end()) return it->second;
  nvtxStringHandle_t h = nvtxDomainRegisterStringA(s.domain, name.c_str());
  s.strings.emplace(name, h);
  return h;
}

// ARGB per level, as Nsight Systems draws them: implementation blue, phase green, launch grey.
uint32_t color_of(NvtxLevel level) {
  switch (level) {
    case NvtxLevel::Implementation: return 0xFF4A7FD4u;
    case NvtxLevel::Phase: return 0xFF5FB85Fu;
    case NvtxLevel::Launch: return 0xFF9A9AA6u;
  }
  return 0xFF808080u;
}

}  // namespace

const std::string& nvtx_setup() {
  State& s = state();
  std::call_once(s.once, [&s] {
    const char* before = std::getenv(kInjectionVar);
    bool set_here = false;
    if (before && *before) {
      s.where = std::string("another tool (") + kInjectionVar + "=" + before + "): not in the capture";
    } else {
      const std::string cupti = cupti_library_path();
      if (cupti.empty()) {
        s.where = "nowhere: the libcupti file was not found (dladdr), so NVTX is not injected";
      } else {
        setenv(kInjectionVar, cupti.c_str(), 1);
        set_here = true;
        s.to_cupti = true;
        s.where = "CUPTI (" + cupti + ") into the capture";
      }
    }
    // The first NVTX call of this library: NVTX reads the variable now and loads the injection.
    s.domain = nvtxDomainCreateA(kNvtxDomain);
    nvtxDomainNameCategoryA(s.domain, static_cast<uint32_t>(NvtxLevel::Implementation), "implementation");
    nvtxDomainNameCategoryA(s.domain, static_cast<uint32_t>(NvtxLevel::Phase), "phase");
    nvtxDomainNameCategoryA(s.domain, static_cast<uint32_t>(NvtxLevel::Launch), "launch");
    if (set_here) unsetenv(kInjectionVar);  // python or a compiler started later is not injected
  });
  return s.where;
}

bool nvtx_to_cupti() {
  nvtx_setup();
  return state().to_cupti;
}

NvtxRange::NvtxRange(NvtxLevel level, const std::string& name) {
  State& s = state();
  nvtx_setup();
  nvtxEventAttributes_t a{};
  a.version = NVTX_VERSION;
  a.size = NVTX_EVENT_ATTRIB_STRUCT_SIZE;
  a.category = static_cast<uint32_t>(level);
  a.colorType = NVTX_COLOR_ARGB;
  a.color = color_of(level);
  a.messageType = NVTX_MESSAGE_TYPE_REGISTERED;
  a.message.registered = registered(s, name);
  nvtxDomainRangePushEx(s.domain, &a);
}

NvtxRange::~NvtxRange() { nvtxDomainRangePop(state().domain); }

}  // namespace attnscope::cuda
