// Entry points of the CPU implementations (registry.cpp wires them to names).
#pragma once
#include <cmath>

#include "kernels/cpu/cpu_common.h"
#include "kernels/cpu/dot.h"

namespace attnscope::cpu {

struct FusedFlags {
  bool sinks = false;          // fold learned sinks into the softmax
  bool explicit_mask = false;  // SDPA memory-efficient: additive/boolean attn_mask
};

// Keys per tile: the GPU kernel's KV tile (64 for the sm80 kernel, the default; RunOptions::kv_tile
// asks for the sm90 kernel's 128), so the rounding points and the probe's tiles line up.
constexpr int kDefaultKvTile = 64;

// The fused kernels' score for one (query, key) pair in fp32: S = q·k · scale, softcapped
// (c · tanh(S / c); *tanh_out gets the tanh for the backward), plus an additive attn_mask
// (SDPA's memory-efficient kernel).
inline float fused_score(const LayerSpec& s, const Inputs& in, FusedFlags flags, const float* q, const float* k,
                         int b, int h, int64_t i, int64_t j, float scale, float* tanh_out = nullptr);

RunResult run_eager(const LayerSpec& s, const Inputs& in, const RunOptions& opt, const std::string& impl);
// torch 2.11's SDPA math backend (fp32 upcast, fp32 scores, safe softmax), kernels/cpu/math_cpu.cpp.
RunResult run_math(const LayerSpec& s, const Inputs& in, const RunOptions& opt, const std::string& impl);
RunResult run_fused(const LayerSpec& s, const Inputs& in, const RunOptions& opt, const std::string& impl,
                    FusedFlags flags);

// Backward passes (opt.backward); `start_us` places their spans after the forward's.
// eager_backward.cpp: autograd through HF's eager_attention_forward (math_cpu.cpp has sdpa:math's own).
Gradients eager_backward(const LayerSpec& s, const Inputs& in, const RunOptions& opt, const std::string& impl,
                         double start_us);
// fused_backward.cpp: FlashAttention-2's backward from the forward's O and LSE (flash2, sink,
// sdpa:flash, sdpa:efficient).
Gradients fused_backward(const LayerSpec& s, const Inputs& in, const RunResult& fwd, const RunOptions& opt,
                         const std::string& impl, FusedFlags flags, double start_us);

inline float fused_score(const LayerSpec& s, const Inputs& in, FusedFlags flags, const float* q, const float* k,
                         int b, int h, int64_t i, int64_t j, float scale, float* tanh_out) {
  float x = dot<float>(q, k, s.head_dim) * scale;
  if (s.softcap > 0) {
    const float t = std::tanh(x / s.softcap);
    if (tanh_out) *tanh_out = t;
    x = s.softcap * t;
  }
  if (flags.explicit_mask && s.mask == MaskKind::ExplicitAdditive) x += in.mask_at(b, h, i, j);
  return x;
}

}  // namespace attnscope::cpu
