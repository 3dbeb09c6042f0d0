#include "kernels/device.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <thread>

namespace attnscope {

std::string DeviceInfo::describe() const {
  if (!is_gpu()) {
    unsigned n = std::thread::hardware_concurrency();
    return "CPU (" + std::to_string(n ? n : 1) + " threads)";
  }
  char buf[256];
  std::snprintf(buf, sizeof buf, "%s (sm%d%d, %.1f GiB%s)", name.c_str(), cc_major, cc_minor,
                static_cast<double>(mem_total) / (1ull << 30), named ? ", named" : "");
  return buf;
}

DeviceInfo cpu_device() { return DeviceInfo{}; }

namespace {
struct GpuRow {
  const char* key;
  const char* name;
  int major, minor;
  double gib;
};
// Compute capability and memory of the GPUs users name (NVIDIA's CUDA GPU table).
constexpr GpuRow kGpus[] = {
    {"T4", "Tesla T4", 7, 5, 16},
    {"V100", "Tesla V100", 7, 0, 32},
    {"P100", "Tesla P100", 6, 0, 16},
    {"A10G", "NVIDIA A10G", 8, 6, 24},
    {"A10", "NVIDIA A10", 8, 6, 24},
    {"L4", "NVIDIA L4", 8, 9, 24},
    {"L40S", "NVIDIA L40S", 8, 9, 48},
    {"A100", "NVIDIA A100 80GB", 8, 0, 80},
    {"A100-40GB", "NVIDIA A100 40GB", 8, 0, 40},
    {"RTX2080TI", "GeForce RTX 2080 Ti", 7, 5, 11},
    {"RTX3090", "GeForce RTX 3090", 8, 6, 24},
    {"RTX4090", "GeForce RTX 4090", 8, 9, 24},
    {"RTX5090", "GeForce RTX 5090", 12, 0, 32},
    {"H100", "NVIDIA H100 80GB HBM3", 9, 0, 80},
    {"H200", "NVIDIA H200", 9, 0, 141},
    {"B200", "NVIDIA B200", 10, 0, 180},
};

std::string upper(std::string_view s) {
  std::string t;
  for (char c : s)
    if (c != ' ' && c != '_') t += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return t;
}

DeviceInfo make(const char* name, int major, int minor, double gib) {
  DeviceInfo d;
  d.kind = DeviceInfo::Kind::Cuda;
  d.name = name;
  d.cc_major = major;
  d.cc_minor = minor;
  d.mem_total = static_cast<int64_t>(gib * (1ull << 30));
  d.mem_free = d.mem_total;
  d.bf16 = major >= 8;
  d.named = true;
  return d;
}
}  // namespace

std::optional<DeviceInfo> named_gpu(std::string_view name) {
  std::string key = upper(name);
  if (key.rfind("NVIDIA", 0) == 0) key = key.substr(6);
  for (const auto& g : kGpus)
    if (key == g.key) return make(g.name, g.major, g.minor, g.gib);
  // smXY / sm_XY / smXYZ (sm100, sm120)
  if (key.rfind("SM", 0) == 0) {
    std::string digits;
    for (char c : key.substr(2))
      if (std::isdigit(static_cast<unsigned char>(c))) digits += c;
      else if (c != '_') return std::nullopt;
    if (digits.size() < 2 || digits.size() > 3) return std::nullopt;
    int v = std::stoi(digits);
    int major = v / 10, minor = v % 10;
    return make(("sm" + digits).c_str(), major, minor, 0);
  }
  return std::nullopt;
}

std::vector<std::string> named_gpu_list() {
  std::vector<std::string> r;
  for (const auto& g : kGpus) r.push_back(g.key);
  r.push_back("smXY");
  return r;
}

std::optional<DeviceInfo> named_gpu_in(std::string_view description) {
  std::string best;
  for (const auto& g : kGpus) {
    const std::string key = g.key;
    if (description.find(key) != std::string_view::npos && key.size() > best.size()) best = key;
  }
  return best.empty() ? std::nullopt : named_gpu(best);
}

}  // namespace attnscope
