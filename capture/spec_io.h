// LayerSpec from attnscope's JSON (--spec) or a HuggingFace config.json (--config), and back.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kernels/layer_spec.h"

namespace attnscope {

// Each returns "" or an error naming the file, the field and the reason.
std::string load_spec_json(const std::string& path, LayerSpec* spec);
std::string spec_from_json_text(const std::string& text, const std::string& origin, LayerSpec* spec);
std::string spec_to_json(const LayerSpec& spec);  // pretty JSON in the --spec format

// HF config.json: layer `layer` (index into layer_types when present). `layer_types` receives the
// distinct layer types found ("full_attention", "sliding_attention") for pickers.
// Parses a HuggingFace config.json: *root is the whole object, *text the language model's config
// (a multimodal config's text_config, else the root). "" or the error naming `origin`.
std::string parse_hf_config_json(const std::string& text, const std::string& origin, nlohmann::json* root,
                                 nlohmann::json* text_config);

std::string load_hf_config(const std::string& path, int layer, LayerSpec* spec,
                           std::vector<std::string>* layer_types = nullptr);
std::string spec_from_hf_config_text(const std::string& text, const std::string& origin, int layer,
                                     LayerSpec* spec, std::vector<std::string>* layer_types = nullptr);

// The contract's overrides (--seq, --seq-q, --seq-k, --batch, --dtype), applied after loading.
struct SpecOverrides {
  int seq = 0, seq_q = 0, seq_k = 0, batch = 0;
  std::string dtype;
  // --cu-seqlens "0,100,250,...": packs the layer (batch 1, seq = the last entry); "" leaves it.
  std::string cu_seqlens;
};
// "0,100,250" -> {0, 100, 250}; "" or "--cu-seqlens: ..." naming the bad entry.
std::string parse_cu_seqlens(const std::string& text, std::vector<int>* out);
std::string apply_overrides(const SpecOverrides& o, LayerSpec* spec);

// The embedded default sample (GPT-OSS-20B sliding layer at 512 tokens): no file needed.
LayerSpec default_spec();

}  // namespace attnscope
