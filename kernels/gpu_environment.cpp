#include "kernels/gpu_environment.h"

#include "kernels/format.h"

namespace attnscope {

std::string cuda_version_text(int v) {
  if (v <= 0) return "";
  return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
}

std::vector<std::pair<std::string, std::string>> environment_lines(const GpuEnvironment& e) {
  auto or_dash = [](const std::string& s) { return s.empty() ? std::string("-") : s; };
  auto clock = [](int now, int max) {
    if (now <= 0 && max <= 0) return std::string("-");
    std::string s = now > 0 ? std::to_string(now) + " MHz" : std::string("?");
    if (max > 0) s += " (max " + std::to_string(max) + ")";
    return s;
  };
  std::string gpu = or_dash(e.name);
  if (!e.empty())
    gpu += ", sm" + std::to_string(e.cc_major) + std::to_string(e.cc_minor) + ", " + std::to_string(e.sm_count) +
           " SMs, " + format_bytes(e.memory_bytes);
  return {{"GPU", gpu},
          {"SM clock at start", clock(e.sm_clock_mhz, e.sm_clock_max_mhz)},
          {"memory clock at start", clock(e.memory_clock_mhz, e.memory_clock_max_mhz)},
          {"driver", or_dash(e.driver) + (e.cuda_driver.empty() ? "" : " (CUDA " + e.cuda_driver + ")")},
          {"CUDA runtime", or_dash(e.cuda_runtime)},
          {"cuBLAS", or_dash(e.cublas)},
          {"cuDNN", e.cudnn.empty() ? std::string("not loaded") : e.cudnn},
          {"CUPTI", or_dash(e.cupti)},
          {"NVTX ranges", or_dash(e.nvtx)}};
}

}  // namespace attnscope
