// Online-softmax pieces shared by the fused kernels: reductions over the four threads of an MMA
// quad (they hold one accumulator row between them), and the score transform before masking.
#pragma once
#include <cuda_runtime.h>

#include <cmath>

#include "kernels/cuda/flash_params.h"

namespace attnscope::cuda {

__device__ __forceinline__ float quad_sum(float x) {
  x += __shfl_xor_sync(0xffffffffu, x, 1);
  x += __shfl_xor_sync(0xffffffffu, x, 2);
  return x;
}
__device__ __forceinline__ float quad_max(float x) {
  x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 1));
  x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 2));
  return x;
}

// s * scale, then softcap * tanh(s / softcap) when softcap > 0 (Gemma 2), all in fp32.
__device__ __forceinline__ float scale_softcap(const FlashParams& p, float s) {
  float x = s * p.scale;
  if (p.softcap > 0.f) x = p.softcap * tanhf(x / p.softcap);
  return x;
}

// The base the row's exponentials are taken against: its running max, or 0 while the row has seen
// nothing (exp(-inf - 0) = 0 instead of NaN).
__device__ __forceinline__ float softmax_base(float row_max) { return row_max == -INFINITY ? 0.f : row_max; }

// Epilogue of one row: 1 / L with L = l (+ exp(sink - m)), 0 for a row that saw nothing; its LSE.
template <bool Sinks>
__device__ __forceinline__ float row_inverse(float l, float m, float sink, float* lse) {
  float denom = l;
  if constexpr (Sinks) denom += __expf(sink - m);  // m >= sink, finite
  *lse = denom > 0.f ? m + logf(denom) : -INFINITY;
  return denom > 0.f ? 1.f / denom : 0.f;
}

}  // namespace attnscope::cuda
