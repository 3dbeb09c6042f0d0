// Layer 1 of the flash2/sink backward kernels (FlashAttention-2's backward algorithm): the forward's
// parameters (flash_params.h) plus the gradient buffers. Shapes [B, H, N, D], contiguous; elements.
#pragma once
#include <cstdint>

#include "kernels/cuda/flash_params.h"

namespace attnscope::cuda {

struct FlashBwdParams {
  FlashParams fwd;                // q, k, v, out (the forward's O), lse, sinks, shapes, window, scale, softcap
  const void* dout = nullptr;     // dO [B, Hq, Nq, dv] in the model dtype
  float* dsum = nullptr;          // D = rowsum(dO ∘ O) [B, Hq, Nq] fp32 (preprocess)
  float* dq_accum = nullptr;      // [B, Hq, Nq, d] fp32: dQ accumulated across KV tiles (atomics)
  void* dq = nullptr;             // [B, Hq, Nq, d] model dtype
  void* dk_head = nullptr;        // [B, Hq, Nk, d] model dtype: dK per query head (FA2's dk_expanded)
  void* dv_head = nullptr;        // [B, Hq, Nk, dv] model dtype: dV per query head
  void* dk = nullptr;             // [B, Hkv, Nk, d] model dtype: the group's heads summed (== dk_head when
  void* dv = nullptr;             // [B, Hkv, Nk, dv]                                        group is 1)
  float* dsink_accum = nullptr;   // [Hq] fp32, sinks only
  float* dsinks = nullptr;        // [Hq] rounded to the model dtype and stored as float, sinks only
};

}  // namespace attnscope::cuda
