// verl trainer configs (--verl-config YAML) with Hydra's override grammar applied, as verl's
// workers would read them. yaml-cpp stays inside verl_config.cpp.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "kernels/verdict.h"

namespace attnscope {

// A parsed verl config with overrides applied (a YAML tree); opaque to callers.
struct VerlConfig;
using VerlConfigPtr = std::shared_ptr<const VerlConfig>;

// Loads YAML and applies Hydra-style overrides (`key=value`, `+key=value`, `++key=value`, `~key`).
// Errors (unreadable file, malformed YAML, malformed override) name the file or the override.
// Hydra refusals (plain override of a missing key, `+` on an existing key) are recorded in
// `refusals` with Hydra's wording and do not fail the load (the report shows them).
std::string load_verl_config(const std::string& path, const std::vector<std::string>& overrides,
                             VerlConfigPtr* out, std::vector<Reason>* refusals);
std::string parse_verl_yaml(const std::string& text, const std::string& origin,
                            const std::vector<std::string>& overrides, VerlConfigPtr* out,
                            std::vector<Reason>* refusals);
// Dotted-path lookup in a loaded config, interpolations resolved ("" when absent).
std::string verl_get(const VerlConfig& cfg, const std::string& dotted, bool* found = nullptr);
// Whether the key is in the config at all (a null value counts: Hydra sees the key).
bool verl_has(const VerlConfig& cfg, const std::string& dotted);

}  // namespace attnscope
