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

// s * scale, then softcap * tanh(s / softcap) when softcap > 0 (Gemma 2), all in fp32, over a
// thread's N score registers. The softcap test is made once for all of them: inside the element loop
// it split the loop into one branch per element (seen in the sm90 kernel's SASS: 128 branches and
// divisions a tile, 3.3x the expected time per tile).
template <int N>
__device__ __forceinline__ void scale_scores(const FlashParams& p, float* s) {
  if (p.softcap > 0.f) {
#pragma unroll
    for (int i = 0; i < N; ++i) s[i] = p.softcap * tanhf(s[i] * p.scale / p.softcap);
  } else {
#pragma unroll
    for (int i = 0; i < N; ++i) s[i] *= p.scale;
  }
}

// exp(x - base) as the hardware's ex2 of one fused multiply-add: exp(y) = 2^(y log2 e), with
// base * log2 e computed once per row (the multiply __expf(x - base) spends per element).
constexpr float kLog2e = 1.4426950408889634f;
__device__ __forceinline__ float exp2_approx(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}
__device__ __forceinline__ float exp_from(float x, float base_log2) { return exp2_approx(fmaf(x, kLog2e, -base_log2)); }

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
