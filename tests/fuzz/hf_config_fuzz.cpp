// HuggingFace config.json (--config, diagnose, the GUI's layer loader): read or refused with the
// origin named, for the first layers; an accepted layer is a valid spec.
#include "capture/diagnose/model_info.h"
#include "capture/spec_io.h"
#include "tests/fuzz/fuzz_input.h"

using namespace attnscope;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  for (int layer : {0, 1, 3}) {
    LayerSpec s;
    std::vector<std::string> types;
    std::string err = spec_from_hf_config_text(text, "config.json", layer, &s, &types);
    fuzz::require_names(err, "config.json");
    if (err.empty()) fuzz::require(s.validate().empty(), "an accepted layer does not validate: " + s.validate());
  }
  ModelInfo info;
  fuzz::require_names(model_info_from_text(text, "config.json", SpecOverrides{}, 0, &info), "config.json");
  return 0;
}
