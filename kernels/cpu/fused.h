// Entry points of the CPU implementations (registry.cpp wires them to names).
#pragma once
#include "kernels/cpu/cpu_common.h"

namespace attnscope::cpu {

struct FusedFlags {
  bool sinks = false;          // fold learned sinks into the softmax
  bool explicit_mask = false;  // SDPA memory-efficient: additive/boolean attn_mask
};

RunResult run_eager(const LayerSpec& s, const Inputs& in, const RunOptions& opt, const std::string& impl);
// torch 2.11's SDPA math backend (fp32 upcast, fp32 scores, safe softmax), kernels/cpu/math_cpu.cpp.
RunResult run_math(const LayerSpec& s, const Inputs& in, const RunOptions& opt, const std::string& impl);
RunResult run_fused(const LayerSpec& s, const Inputs& in, const RunOptions& opt, const std::string& impl,
                    FusedFlags flags);

}  // namespace attnscope::cpu
