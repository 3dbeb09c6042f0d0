// The model diagnose judges (--config HF config.json, or --spec): its layer types as LayerSpecs,
// and what transformers declares for its class.
#pragma once
#include <string>
#include <vector>

#include "capture/spec_io.h"
#include "kernels/layer_spec.h"

namespace attnscope {

struct ModelInfo {
  bool present = false;
  std::string source;              // file it came from
  std::string model_type;          // "llama", "gpt_oss" ("" for --spec)
  std::string architecture;        // "LlamaForCausalLM"
  std::string hf_class;            // class named in HF messages (architecture or a guess)
  int num_layers = 0;
  int max_positions = 0;           // max_position_embeddings
  std::string config_dtype;        // torch_dtype / dtype in the config
  std::vector<std::string> layer_types;  // distinct, in first-seen order ("full_attention", ...)
  std::vector<int> layer_counts;         // how many layers of each type
  std::vector<LayerSpec> layers;         // one spec per distinct layer type
  bool sinks = false;
  int sliding_window = 0;
  float softcap = 0;
  double attention_dropout = 0;
  bool alibi = false;
};

// What transformers declares for a model class (PreTrainedModel flags), by model_type.
struct HfModelFlags {
  bool known = false;                 // false: not in attnscope's table, defaults assumed
  bool supports_flash = true;         // _supports_flash_attn
  bool supports_sdpa = true;          // _supports_sdpa
  bool supports_flex = true;          // _supports_flex_attn
  bool sinks = false;                 // learned sinks passed as s_aux
  std::string since;                  // first transformers version with the model
  std::string note;
};
HfModelFlags hf_model_flags(const std::string& model_type);

// Pieces, exposed for tests and for the GUI.
std::string load_model_info(const std::string& hf_config_path, const SpecOverrides& ov, int layer,
                            ModelInfo* info);
std::string model_info_from_text(const std::string& text, const std::string& origin,
                                 const SpecOverrides& ov, int layer, ModelInfo* info);

}  // namespace attnscope
