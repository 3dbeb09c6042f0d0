// What transformers does with an attn_implementation name, release by release: the steps of its
// load-time checks and the first forward, chosen by the installed version (--env).
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "capture/diagnose/env.h"
#include "capture/diagnose/model_info.h"
#include "capture/diagnose/verdicts.h"
#include "kernels/device.h"
#include "kernels/layer_spec.h"
#include "kernels/verdict.h"

namespace attnscope {

// --attn-implementation STR, checked as transformers would.
struct AttnImplCheck {
  std::string requested;
  std::string kind;         // "registered" | "hub-kernel" | "paged" | "path" | "unknown" | "empty"
  std::string resolves_to;  // what runs when accepted
  Verdict verdict;
  bool known = true;        // false: attnscope has no rules for the installed release
  HfOutcome predicted;
  std::optional<HfOutcome> retried;
};

// One HF attention name for the model on `dev`, as transformers would treat it given `env`: the steps of
// the installed release (version not given: every version range's behaviour is listed, each tagged with its
// range; a release outside 4.36-5.x: "not known", ImplVerdict::known false).
ImplVerdict hf_verdict(const std::string& name, const ModelInfo& model, const LayerSpec& spec,
                       const DeviceInfo& dev, const PyEnv& env, bool training = false);
AttnImplCheck check_attn_implementation(const std::string& s, const ModelInfo& model,
                                        const LayerSpec& spec, const DeviceInfo& dev,
                                        const PyEnv& env);

// The transformers releases attnscope has rules for, in words ("4.36 to 5.x"); other releases are "not known".
std::string hf_known_range();

// The seed's HF wrapper of the gpt-oss Triton sink kernel: its known quirks (REFERENCE.md).
void add_seed_sink_quirks(Verdict& v);

// Attention names transformers accepts (registered functions), for "unknown name" messages.
const std::vector<std::string>& hf_attention_names();

}  // namespace attnscope
