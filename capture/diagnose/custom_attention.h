// Attention functions the user registered with AttentionInterface.register, judged from what
// `attnscope-env.py --import MODULE` probed: whether they can train (a backward that reaches
// q, k, v) and whether transformers gives them the batch's mask (a mask function registered).
#pragma once
#include <string>

#include "capture/diagnose/env.h"
#include "capture/diagnose/verdicts.h"

namespace attnscope {

// Adds what the probe means for a role: no backward (or a detached output) is an error where the
// role trains (verl's actor and critic) and a note where it only runs inference (rollout, ref);
// no mask function is a silent reason with its fix line (transformers >= 4.53).
void add_custom_attention_reasons(Verdict* v, const PyAttentionFunction& f, bool training, const PyEnv& env);

// The whole verdict for a registered name (what the report lists beside transformers' own names).
ImplVerdict custom_attention_verdict(const PyAttentionFunction& f, bool training, const PyEnv& env);

}  // namespace attnscope
