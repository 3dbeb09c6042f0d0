// Which keys a query row sees inside the fused kernels: the window and padding part of
// LayerSpec::visible (causal is a window with right = 0, relative to the diagonal j = i + diag_offset).
// Shared by the flash2/sink kernels (sm80 and sm90) and the memory-efficient kernel.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/flash_params.h"

namespace attnscope::cuda {

// Packed sequences (p.cu_seqlens): the sequence [begin, end) holding position i, the last s with
// cu[s] <= i (an empty sequence shares its start with the next: LayerSpec::sequence_of).
__device__ __forceinline__ void sequence_of(const FlashParams& p, int64_t i, int64_t* begin, int64_t* end) {
  int lo = 0, hi = p.n_seqs;  // cu[lo] <= i < cu[n_seqs] = total
  while (hi - lo > 1) {
    const int mid = (lo + hi) / 2;
    if (p.cu_seqlens[mid] <= i) lo = mid;
    else hi = mid;
  }
  *begin = p.cu_seqlens[lo];
  *end = p.cu_seqlens[lo + 1];
}

// Key range [begin, end) that rows [row_lo, row_hi] can see at all (window, padding, the packed
// sequence); with row_lo > row_hi (visible_keys(p, last, first, ...)) it is the range every row of
// the block sees.
struct KeyRange {
  int64_t begin, end;
};
__device__ __forceinline__ KeyRange visible_keys(const FlashParams& p, int64_t row_lo, int64_t row_hi,
                                                 int kv_len) {
  int64_t begin = 0, end = kv_len;
  if (p.window_left >= 0) begin = max(begin, row_lo + p.diag_offset - p.window_left);
  if (p.window_right >= 0) end = min(end, row_hi + p.diag_offset + p.window_right + 1);
  if (p.cu_seqlens) {
    // One search for a single row (row_bounds: every row of every tile), two for a block's ends.
    const int64_t first = min(row_lo, int64_t(p.seq_q) - 1), last = min(row_hi, int64_t(p.seq_q) - 1);
    int64_t b0, e0, b1, e1;
    sequence_of(p, first, &b0, &e0);
    if (last == first) e1 = e0;
    else sequence_of(p, last, &b1, &e1);
    begin = max(begin, b0);
    end = min(end, e1);
  }
  return {begin, end};
}

__device__ __forceinline__ bool key_visible(const FlashParams& p, int64_t row, int64_t col, int kv_len) {
  if (col >= kv_len) return false;
  if (p.window_left >= 0 && col < row + p.diag_offset - p.window_left) return false;
  if (p.window_right >= 0 && col > row + p.diag_offset + p.window_right) return false;
  if (p.cu_seqlens) {
    int64_t b, e;
    sequence_of(p, row, &b, &e);
    if (col < b || col >= e) return false;
  }
  return true;
}

// Valid keys of batch element b (padding mask), clamped to [0, Nk].
__device__ __forceinline__ int kv_length(const FlashParams& p, int b) {
  return p.kv_len ? min(max(p.kv_len[b], 0), p.seq_k) : p.seq_k;
}

// Tiles [n_begin, n_end) of kBlockN keys that any of rows [m0, last_row] can see; the others are
// never loaded.
template <int kBlockN>
__device__ __forceinline__ void visible_tiles(const FlashParams& p, int64_t m0, int64_t last_row, int kv_len,
                                              int* n_begin, int* n_end) {
  const KeyRange keys = visible_keys(p, m0, last_row, kv_len);
  *n_begin = keys.end > keys.begin ? static_cast<int>(keys.begin / kBlockN) : 0;
  *n_end = keys.end > keys.begin ? static_cast<int>((keys.end + kBlockN - 1) / kBlockN) : 0;
}

// Per owned row, the visible keys as column offsets [lo, hi) from `c0`, clamped to [0, kBlockN]: the
// per-element mask of a boundary tile is then two 32-bit compares.
template <int kBlockN>
__device__ __forceinline__ void row_bounds(const FlashParams& p, int64_t row, int kv_len, int64_t c0, int* lo,
                                           int* hi) {
  const KeyRange kr = visible_keys(p, row, row, kv_len);
  *lo = static_cast<int>(min(max(kr.begin - c0, int64_t(0)), int64_t(kBlockN)));
  *hi = static_cast<int>(min(max(kr.end - c0, int64_t(0)), int64_t(kBlockN)));
}

}  // namespace attnscope::cuda
