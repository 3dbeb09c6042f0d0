#include "viewers/document.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "capture/spec_io.h"
#include "kernels/device.h"
#include "kernels/gpu_backend.h"
#include "kernels/implementation.h"

namespace attnscope {

std::string Document::read_spec(const std::string& path, int layer, bool* hf) {
  std::ifstream in(path);
  if (!in) return path + ": cannot be opened";
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  LayerSpec s;
  std::string err;
  std::vector<std::string> types;
  // A HuggingFace config names its heads; attnscope's own spec format does not use that key.
  *hf = text.find("\"num_attention_heads\"") != std::string::npos;
  if (*hf)
    err = spec_from_hf_config_text(text, path, layer, &s, &types);
  else
    err = spec_from_json_text(text, path, &s);
  if (!err.empty()) return err;
  spec = s;
  ++spec_version;
  if (*hf) {
    config_path = path;
    config_layer = layer;
    config_spec_version = spec_version;
    layer_types = types;
  } else {
    config_path.clear();
    layer_types.clear();
  }
  return "";
}

std::vector<std::string> Document::selected_impls() const {
  static const char* const sdpa_names[] = {"sdpa", "sdpa:flash", "sdpa:efficient", "sdpa:math", "sdpa:cudnn"};
  std::vector<std::string> v;
  const auto& names = implementation_names();
  for (size_t i = 0; i < names.size() && i < 4; ++i) {
    if (!impl_on[i]) continue;
    v.push_back(names[i] == "sdpa" ? sdpa_names[std::clamp(sdpa_backend, 0, 4)] : names[i]);
  }
  return v;
}

DeviceInfo Document::verdict_device(const std::string& gpu_name, std::string* why) const {
  if (!gpu_name.empty()) {
    if (auto d = named_gpu(gpu_name)) return *d;
    if (why) *why = "unknown GPU name '" + gpu_name + "'";
  }
  GpuBackend& g = GpuBackend::instance();
  if (g.available() && !force_cpu) return g.device();
  return cpu_device();
}

}  // namespace attnscope
