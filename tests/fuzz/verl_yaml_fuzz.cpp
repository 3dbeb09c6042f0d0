// verl trainer YAML with Hydra overrides (diagnose --verl-config): parsed or refused with the
// origin named; an accepted config goes through the same analysis diagnose runs on it
// (interpolations resolved, the attention settings of actor, ref, rollout and critic read).
#include "capture/diagnose/env.h"
#include "capture/diagnose/model_info.h"
#include "capture/diagnose/verl.h"
#include "capture/diagnose/verl_config.h"
#include "capture/spec_io.h"
#include "kernels/device.h"
#include "tests/fuzz/fuzz_input.h"

using namespace attnscope;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  // Overrides of every kind Hydra has, on keys verl configs use.
  static const std::vector<std::string> overrides = {
      "+actor_rollout_ref.model.override_config.attn_implementation=sdpa", "critic.model.path=x",
      "++trainer.n_gpus_per_node=8", "~reward_model"};
  for (const auto& ov : {std::vector<std::string>{}, overrides}) {
    VerlConfigPtr cfg;
    std::vector<Reason> refusals;
    std::string err = parse_verl_yaml(text, "trainer.yaml", ov, &cfg, &refusals);
    fuzz::require_names(err, "trainer.yaml");
    if (!err.empty()) continue;
    fuzz::require(cfg != nullptr, "no config and no error");
    verl_get(*cfg, "actor_rollout_ref.model.override_config.attn_implementation");
    const DeviceInfo dev = *named_gpu("T4");
    analyse_verl(*cfg, "trainer.yaml", ov, ModelInfo{}, default_spec(), dev, PyEnv{});
  }
  return 0;
}
