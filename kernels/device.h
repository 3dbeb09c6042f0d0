// What an implementation is judged against: the local GPU, a named one, or the CPU.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace attnscope {

struct DeviceInfo {
  enum class Kind { Cpu, Cuda };
  Kind kind = Kind::Cpu;
  std::string name = "CPU";
  int cc_major = 0, cc_minor = 0;  // compute capability (Cuda)
  int64_t mem_total = 0;           // bytes
  int64_t mem_free = 0;            // bytes (local GPU only)
  int sm_count = 0;
  bool bf16 = false;               // hardware bf16 arithmetic (sm80+)
  bool named = false;              // from --gpu (verdicts only, nothing runs on it)
  std::string driver;              // driver version string where known

  bool is_gpu() const { return kind == Kind::Cuda; }
  int sm() const { return cc_major * 10 + cc_minor; }
  std::string describe() const;    // "NVIDIA H100 80GB HBM3 (sm90, 79.1 GiB)"
};

DeviceInfo cpu_device();

// The built-in table behind --gpu: T4, V100, A10G, L4, A100, RTX3090, RTX4090, H100, H200, B200,
// and smXY for any compute capability. nullopt for an unknown name.
std::optional<DeviceInfo> named_gpu(std::string_view name);
std::vector<std::string> named_gpu_list();
// The table's GPU named inside a device description ("NVIDIA H100 80GB HBM3 (sm90, 79.1 GiB)" -> H100;
// the longest matching key wins), e.g. to judge a capture made on a GPU where there is none.
std::optional<DeviceInfo> named_gpu_in(std::string_view description);

}  // namespace attnscope
