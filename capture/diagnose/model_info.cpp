// HF config.json -> ModelInfo (every distinct layer type as a LayerSpec) and the class flags
// transformers declares per model_type.
#include "capture/diagnose/model_info.h"

#include <algorithm>
#include <cctype>

#include <nlohmann/json.hpp>

#include "capture/json_fields.h"
#include "capture/text_file.h"

namespace attnscope {

using nlohmann::json;

// ---- model flags --------------------------------------------------------------------------------

HfModelFlags hf_model_flags(const std::string& model_type) {
  HfModelFlags f;
  // PreTrainedModel class flags in transformers (models/<type>/modeling_<type>.py). The common
  // decoder LMs declare flash + sdpa + flex; GPT-OSS is the exception diagnose exists for.
  static const char* kStandard[] = {"llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "qwen3", "qwen3_moe",
                                    "gemma", "gemma2", "gemma3_text", "phi3", "olmo2", "granite", "starcoder2",
                                    "deepseek_v3", "cohere", "stablelm", "falcon"};
  for (const char* t : kStandard)
    if (model_type == t) {
      f.known = true;
      f.since = "4.36";
      if (model_type == "gemma2")
        f.note = "Gemma 2 softcaps its logits: sdpa has no softcap (eager or flash_attention_2 >= flash-attn 2.6)";
      return f;
    }
  if (model_type == "gpt_oss") {
    f.known = true;
    f.supports_flash = true;   // _supports_flash_attn = True, but see the sink eras
    f.supports_sdpa = false;   // _supports_sdpa = False
    f.supports_flex = true;
    f.sinks = true;
    f.since = "4.55";
    f.note = "learned attention sinks (one logit per head) and alternating sliding/full layers";
    return f;
  }
  f.known = false;
  f.note = "model_type '" + model_type +
           "' is not in attnscope's table: assumed to declare flash and sdpa support, as most decoder LMs do";
  return f;
}

// ---- model info -----------------------------------------------------------------------------------

namespace {

std::string camel(const std::string& s) {
  std::string r;
  bool up = true;
  for (char c : s) {
    if (c == '_' || c == '-') {
      up = true;
      continue;
    }
    r += up ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
    up = false;
  }
  return r;
}

}  // namespace

std::string model_info_from_text(const std::string& text, const std::string& origin, const SpecOverrides& ov,
                                 int layer, ModelInfo* info) {
  json j, c;
  if (std::string e = parse_hf_config_json(text, origin, &j, &c); !e.empty()) return e;
  ModelInfo m;
  m.present = true;
  m.source = origin;
  if (c.contains("model_type") && c["model_type"].is_string()) m.model_type = c["model_type"].get<std::string>();
  else if (j.contains("model_type") && j["model_type"].is_string()) m.model_type = j["model_type"].get<std::string>();
  if (j.contains("architectures") && j["architectures"].is_array() && !j["architectures"].empty() &&
      j["architectures"][0].is_string())
    m.architecture = j["architectures"][0].get<std::string>();
  m.hf_class = !m.architecture.empty() ? m.architecture
                                       : (m.model_type.empty() ? "the model" : camel(m.model_type) + "ForCausalLM");
  // The same typed reads as spec_io: a count or a float out of range is the file's error, never a
  // cast that overflows.
  JsonFields f{c, origin, ""};
  m.num_layers = f.integer("num_hidden_layers", 0, 0, 1 << 20);
  m.max_positions = f.integer("max_position_embeddings", 0, 0, 1 << 30);
  if (c.contains("torch_dtype") && c["torch_dtype"].is_string()) m.config_dtype = c["torch_dtype"].get<std::string>();
  else if (c.contains("dtype") && c["dtype"].is_string()) m.config_dtype = c["dtype"].get<std::string>();
  m.sliding_window = f.integer("sliding_window", 0, 0, 1 << 30);
  m.softcap = static_cast<float>(f.number("attn_logit_softcapping", 0, -1e30, 1e30));
  m.attention_dropout = f.number("attention_dropout", 0, 0, 1);
  if (!f.err.empty()) return f.err;
  m.alibi = (c.contains("alibi") && c["alibi"].is_boolean() && c["alibi"].get<bool>()) ||
            (c.contains("use_alibi") && c["use_alibi"].is_boolean() && c["use_alibi"].get<bool>());

  // Layer types: from layer_types when present, else what spec_io decides per layer.
  std::vector<std::string> per_layer;
  if (c.contains("layer_types") && c["layer_types"].is_array())
    for (const auto& x : c["layer_types"])
      if (x.is_string()) per_layer.push_back(x.get<std::string>());
  if (m.num_layers <= 0) m.num_layers = per_layer.empty() ? 1 : static_cast<int>(per_layer.size());

  std::vector<int> first_index;  // first layer of each distinct type
  if (layer >= 0) {
    LayerSpec s;
    std::vector<std::string> types;
    if (std::string e = spec_from_hf_config_text(text, origin, layer, &s, &types); !e.empty()) return e;
    std::string type = s.sliding_window > 0 ? "sliding_attention" : "full_attention";
    if (std::string e = apply_overrides(ov, &s); !e.empty()) return origin + ": " + e;
    m.layer_types = {type};
    m.layer_counts = {1};
    m.layers = {s};
  } else {
    int n = per_layer.empty() ? m.num_layers : static_cast<int>(per_layer.size());
    // Without layer_types only Gemma 2 alternates; checking two layers covers it.
    int probe = per_layer.empty() ? std::min(n, 2) : n;
    for (int i = 0; i < probe; ++i) {
      LayerSpec s;
      if (std::string e = spec_from_hf_config_text(text, origin, i, &s, nullptr); !e.empty()) return e;
      std::string type = s.sliding_window > 0 ? "sliding_attention" : "full_attention";
      auto it = std::find(m.layer_types.begin(), m.layer_types.end(), type);
      if (it == m.layer_types.end()) {
        if (std::string e = apply_overrides(ov, &s); !e.empty()) return origin + ": " + e;
        m.layer_types.push_back(type);
        m.layer_counts.push_back(1);
        m.layers.push_back(s);
      } else {
        m.layer_counts[it - m.layer_types.begin()]++;
      }
    }
    if (per_layer.empty()) {  // extrapolate the probed pattern to every layer
      if (m.layer_types.size() == 1) m.layer_counts[0] = n;
      else {
        m.layer_counts[0] = (n + 1) / 2;
        m.layer_counts[1] = n / 2;
      }
    }
  }
  for (const auto& s : m.layers) m.sinks = m.sinks || s.sinks;
  *info = std::move(m);
  return "";
}

std::string load_model_info(const std::string& path, const SpecOverrides& ov, int layer, ModelInfo* info) {
  std::string text;
  if (std::string e = read_text_file(path, "--config", int64_t{64} << 20, &text); !e.empty()) return e;
  return model_info_from_text(text, path, ov, layer, info);
}
}  // namespace attnscope
