// --what-if: the features dropped from a layer so an implementation runs it anyway, kept on the run
// as values (not as the words a report prints), so the spec a what-if run computed can be rebuilt.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "kernels/layer_spec.h"

namespace attnscope {

enum class WhatIfDrop {
  Sinks,         // the learned sink logits (flash2, sdpa)
  ExplicitMask,  // an explicit boolean/additive mask (the FA2 family)
  TopLeftAlign,  // top-left causal alignment with Nq != Nk: bottom-right used (the FA2 family)
  Fp32,          // fp32 inputs rounded to bf16 (the FA2 family)
  Softcap,       // the logit softcap (sdpa)
  PackedBoundaries  // packed sequences' boundaries (cu_seqlens) that never reach eager/sdpa: one causal
                    // sequence of every token
};

// The words a report prints and a capture stores: "sinks", "explicit mask", ...
const char* what_if_drop_name(WhatIfDrop d);
// The drop a stored word stands for; nullopt for words attnscope never writes.
std::optional<WhatIfDrop> parse_what_if_drop(const std::string& name);
// The words of a list, in order (what a capture and a JSON report store).
std::vector<std::string> what_if_drop_words(const std::vector<WhatIfDrop>& dropped);
// "sinks, softcap" for a list.
std::string what_if_drop_names(const std::vector<WhatIfDrop>& dropped, const char* separator = ", ");

// The spec a what-if run computed: `spec` with the drops applied (the one rule what_if_spec, the
// session and the GUI's maps share).
LayerSpec apply_what_if(const LayerSpec& spec, const std::vector<WhatIfDrop>& dropped);

}  // namespace attnscope
