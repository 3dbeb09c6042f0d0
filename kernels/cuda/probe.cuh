// Probe records of the fused kernels (ProbeData in kernels/result.h): for the probed rows, the P
// values as they entered P·V and the running max / sum after each KV tile. Only the Probe=true
// instantiations call these.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/flash_params.h"

namespace attnscope::cuda {

__device__ __forceinline__ bool probe_row(const FlashParams& p, int64_t row) {
  return row >= p.probe_row_begin && row < p.probe_row_end;
}
__device__ __forceinline__ bool probe_block(const FlashParams& p, int b, int h, int64_t m0, int rows) {
  return b == p.probe_batch && h == p.probe_head && m0 < p.probe_row_end && m0 + rows > p.probe_row_begin;
}
// Running max / sum of tiles [t0, t1) that the kernel did not visit (before the first, after the last).
__device__ __forceinline__ void probe_fill(const FlashParams& p, int64_t row, int t0, int t1, float m, float l) {
  const int64_t pr = row - p.probe_row_begin;
  for (int nb = t0; nb < t1; ++nb) {
    p.probe_max[pr * p.probe_tiles + nb] = m;
    p.probe_sum[pr * p.probe_tiles + nb] = l;
  }
}
__device__ __forceinline__ void probe_p(const FlashParams& p, int64_t row, int64_t col, float value) {
  if (col < p.seq_k) p.probe_p[(row - p.probe_row_begin) * p.seq_k + col] = value;
}
__device__ __forceinline__ void probe_stats(const FlashParams& p, int64_t row, int tile, float m, float l) {
  const int64_t pr = row - p.probe_row_begin;
  p.probe_max[pr * p.probe_tiles + tile] = m;
  p.probe_sum[pr * p.probe_tiles + tile] = l;
}

}  // namespace attnscope::cuda
