// Test plugins only: the fault a layer's name asks for while implementation `impl` runs
// ("... fault=IMPL:KIND ..."), "" for none. Shared by the CPU test plugin (tests/kernels/worker)
// and the GPU fault plugin (tests/gpu).
#pragma once
#include <string>

#include "kernels/layer_spec.h"

namespace attnscope::test {

inline std::string fault_for(const LayerSpec& spec, const std::string& impl) {
  const std::string key = "fault=" + impl + ":";
  const auto at = spec.name.find(key);
  if (at == std::string::npos) return "";
  const auto from = at + key.size();
  const auto end = spec.name.find(' ', from);
  return spec.name.substr(from, end == std::string::npos ? std::string::npos : end - from);
}

}  // namespace attnscope::test
