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
  if constexpr (Traits::kThreads % kChunks == 0 && (kRows * kChunks) % Traits::kThreads == 0) {
    // Every thread copies the same column chunk of rows r0, r0 + kRowStep, ...: one pointer add, one
    // compare and the cp.async a chunk (ncu, the d64 backward: the general loop's divisions and 64-bit
    // products were 115 M of its 1155 M instructions, 28 for each cp.async).
    constexpr int kRowStep = Traits::kThreads / kChunks;
    const int r0 = threadIdx.x / kChunks, c = (threadIdx.x % kChunks) * 8;
    const bool col_ok = c < cols;
    const uint16_t* gp = g + r0 * row_stride + c;
    const int64_t g_step = kRowStep * row_stride;
    uint16_t* sp = s + r0 * Traits::kSmemStride + c;
#pragma unroll
    for (int j = 0; j < kRows / kRowStep; ++j) {
      const bool valid = col_ok && r0 + j * kRowStep < rows;
      cp_async16(sp + j * kRowStep * Traits::kSmemStride, valid ? gp : g, valid);
      gp += g_step;
    }
  } else {
#pragma unroll 4
    for (int i = threadIdx.x; i < kRows * kChunks; i += Traits::kThreads) {
      const int r = i / kChunks, c = (i % kChunks) * 8;
      const bool valid = r < rows && c < cols;
      cp_async16(s + r * Traits::kSmemStride + c, valid ? g + r * row_stride + c : g, valid);
    }
  }
}

// `n` floats from global into shared memory through 4-byte cp.async (one a thread), zero past `valid`.
template <int kThreads>
__device__ __forceinline__ void load_floats_async(float* s, const float* g, int n, int valid) {
  for (int i = threadIdx.x; i < n; i += kThreads)
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(smem_addr(s + i)),
                 "l"(i < valid ? g + i : g), "r"(i < valid ? 4 : 0));
}

}  // namespace attnscope::cuda
