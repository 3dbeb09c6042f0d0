// Tile loads of the mma.sync kernels (the flash2/sink forward and backward): a [kRows, kHeadDim]
// tile of 16-bit elements from global into padded shared memory, synchronously or through cp.async,
// zero-filling rows past `rows` and columns past `cols` (head-dim padding, ragged sequence tails).
// Traits give kHeadDim, kSmemStride (elements per shared row) and kThreads.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/mma_util.cuh"

namespace attnscope::cuda {

// Copies a [kRows, kHeadDim] tile of 16-bit elements into shared memory, zero-filling rows past
// `rows` and columns past `cols` (head-dim padding, ragged sequence tails).
template <class Traits, int kRows>
__device__ __forceinline__ void load_tile(uint16_t* s, const uint16_t* g, int64_t row_stride,
                                          int rows, int cols, bool vec16) {
  constexpr int kD = Traits::kHeadDim;
  constexpr int kS = Traits::kSmemStride;
  if (vec16) {
    constexpr int kChunks = kD / 8;  // 16-byte chunks per row
#pragma unroll 4
    for (int i = threadIdx.x; i < kRows * kChunks; i += Traits::kThreads) {
      const int r = i / kChunks, c = (i % kChunks) * 8;
      uint4 val = make_uint4(0, 0, 0, 0);
      if (r < rows && c < cols) val = *reinterpret_cast<const uint4*>(g + r * row_stride + c);
      *reinterpret_cast<uint4*>(s + r * kS + c) = val;
    }
  } else {
    for (int i = threadIdx.x; i < kRows * kD; i += Traits::kThreads) {
      const int r = i / kD, c = i % kD;
      s[r * kS + c] = (r < rows && c < cols) ? g[r * row_stride + c] : uint16_t(0);
    }
  }
}

// The same tile through cp.async (16-byte chunks, zero-filled past the edges: src-size 0), so the
// next K/V tile streams in while the current one is multiplied. Falls back to load_tile for head
// dims that are not a multiple of 8.
__device__ __forceinline__ void cp_async16(void* smem, const void* gmem, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(smem)), "l"(gmem),
               "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

template <class Traits, int kRows>
__device__ __forceinline__ void load_tile_async(uint16_t* s, const uint16_t* g, int64_t row_stride, int rows,
                                                int cols, bool vec16) {
  if (!vec16) {
    load_tile<Traits, kRows>(s, g, row_stride, rows, cols, false);
    return;
  }
  constexpr int kChunks = Traits::kHeadDim / 8;
#pragma unroll 4
  for (int i = threadIdx.x; i < kRows * kChunks; i += Traits::kThreads) {
    const int r = i / kChunks, c = (i % kChunks) * 8;
    const bool valid = r < rows && c < cols;
    cp_async16(s + r * Traits::kSmemStride + c, valid ? g + r * row_stride + c : g, valid);
  }
}

}  // namespace attnscope::cuda
