// Which attention each verl role (actor, rollout, ref, critic, reward model) really uses, in which
// dtype, and what transformers and the rollout engine do with it.
#pragma once
#include <string>
#include <vector>

#include "capture/diagnose/env.h"
#include "capture/diagnose/model_info.h"
#include "capture/diagnose/verl_config.h"
#include "kernels/device.h"
#include "kernels/layer_spec.h"
#include "kernels/verdict.h"

namespace attnscope {

struct VerlRole {
  std::string role;           // "actor", "rollout", "ref", "critic", "reward_model"
  bool enabled = true;
  std::string engine;         // "FSDP (HF transformers)", "vLLM", "SGLang", "HF generate", "Megatron"
  std::string attn_implementation;   // what the role asks transformers for ("" for engines with their own)
  std::string attn_source;           // the key it came from, or "verl default"
  std::string load_dtype;            // dtype from_pretrained loads the weights in
  std::string load_dtype_source;
  std::string compute_dtype;         // dtype attention really computes in (FSDP param_dtype)
  std::string compute_dtype_source;
  bool remove_padding = false;       // use_remove_padding (packed varlen sequences)
  Verdict verdict;                   // what happens to attention in this role
};

struct VerlReport {
  bool present = false;
  std::string file;
  std::vector<std::string> overrides;  // Hydra overrides as given
  std::string strategy;                // actor strategy: fsdp, fsdp2, megatron
  std::string adv_estimator;           // gae needs a critic
  std::vector<VerlRole> roles;
  std::vector<Reason> notes;           // missing keys, Hydra refusals, interpolations left unresolved
};

VerlReport analyse_verl(const VerlConfig& cfg, const std::string& file,
                        const std::vector<std::string>& overrides, const ModelInfo& model,
                        const LayerSpec& spec, const DeviceInfo& dev, const PyEnv& env);

}  // namespace attnscope
