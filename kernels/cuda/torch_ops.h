// The PyTorch operations HF's eager and torch's math backend are made of, as kernels that move the
// same bytes the same way torch's do, so a step costs what torch's step costs:
//   TensorIterator ops (copy, scalar mul/div, tanh, add, where, isneginf, fill): dimensions
//     coalesced, tensors above 2^31 bytes split in halves (one launch each, as torch's
//     with_32bit_indexing), then one of torch's three loops - vectorised (16-byte loads, every
//     operand contiguous and no cast), unrolled (contiguous with a cast: 4 scalar elements a thread
//     128 apart), or the generic strided loop (128 threads x 4 elements, 2 for 4-byte types, offsets
//     from fast integer division per dimension: the broadcast add, repeat_kv, the transposed copy);
//   softmax over the last dim: a warp per row up to 2048 columns (1024 for fp16 -> fp32), a
//     1024-thread block per row keeping ceil(cols / 1024) < 10 values a thread in registers, else
//     shared memory when the row fits 48 KiB, else three passes over global memory;
//   reductions over the last dim (max, all): 32 lanes per row, 16 rows a 512-thread block;
//   torch.cat along the last dim: 2 x SMs blocks of 512 threads per input, each element's output
//     offset from 32-bit division per dimension (torch's CatArrayBatchedCopy, 0.7 TB/s on an H200).
// Numerics: fp32 arithmetic, results rounded to the output type, as torch's opmath.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

#include "kernels/torch_plan.h"

namespace attnscope::cuda::torchlike {

constexpr int kMaxDims = 6;

// A tensor as TensorIterator sees it: sizes and strides in elements (stride 0 = broadcast).
struct View {
  TType type = TType::F32;
  void* data = nullptr;
  int ndim = 0;
  int64_t size[kMaxDims] = {};
  int64_t stride[kMaxDims] = {};
  int64_t numel() const;
  bool contiguous() const;
  static View dense(TType t, void* p, const std::vector<int64_t>& shape);
  // A 0-dim tensor (at::scalar_tensor) seen with `like`'s sizes.
  static View scalar(TType t, void* p, const View& like);
};
// `v` with `like`'s sizes: its size-1 dimensions are broadcast (same rank required).
View broadcast_to(View v, const View& like);

// out = in, converted (copy_, .contiguous(), .to(dtype), repeat_kv's expand + reshape).
void copy(const View& out, const View& in, cudaStream_t st);
// out = in * x, in / x, tanh(in) (fp32 arithmetic).
void mul_scalar(const View& out, const View& in, float x, cudaStream_t st);
void div_scalar(const View& out, const View& in, float x, cudaStream_t st);
void tanh(const View& out, const View& in, cudaStream_t st);
// out = g * (1 - t * t) (tanh's backward from its saved output t; same type throughout).
void tanh_backward(const View& out, const View& g, const View& t, cudaStream_t st);
// out = a + alpha * b, b broadcast (CUDAFunctor_add; alpha = -1 is torch's sub).
// out = a * b elementwise, fp32 opmath (softmax backward's grad * output).
void mul(const View& out, const View& a, const View& b, cudaStream_t st);
void add(const View& out, const View& a, const View& b, float alpha, cudaStream_t st);
// out = value.
void fill(const View& out, double value, cudaStream_t st);
// out = cond ? t : f with t, f 0-dim tensors on the device (convert_boolean_attn_mask).
void where_scalars(const View& out, const View& cond, const void* t, const void* f, cudaStream_t st);
// out = in == -inf (fp32 in, bool out).
void isneginf(const View& out, const View& in, cudaStream_t st);
// inout[r, j] = cond[r] ? *zero : inout[r, j] (_safe_softmax; fp32).
void where_rows_zero(void* inout, const void* cond, const void* zero, int64_t rows, int64_t cols, cudaStream_t st);
// out[i, j] = j <= i ? in[i, j] : 0 (bool [rows, cols]).
void tril(void* out, const void* in, int64_t rows, int64_t cols, cudaStream_t st);

// softmax over the last dim of contiguous rows; fp32 arithmetic; in/out types bf16/fp16/fp32
// (fp16 -> fp32 is torch's half_to_float).
void softmax(void* out, TType out_type, const void* in, TType in_type, int64_t rows, int64_t cols, cudaStream_t st);

// The backward's (torch_backward.cu), fp32 arithmetic, one rounding into the output type:
// _softmax_backward_data: out[r, j] = y[r, j] * (g[r, j] - sum_k g[r, k] * y[r, k]) over contiguous
// rows; (g, y, out) types: (fp32, fp32, fp32|fp16), or one 16-bit type throughout.
void softmax_backward(void* out, TType out_type, const void* g, TType g_type, const void* y, TType y_type,
                      int64_t rows, int64_t cols, cudaStream_t st);
// repeat_kv's backward (expand's sum_to_size): out[b, hk] = sum_{i < G} in[b, hk * G + i] over
// [B, Hkv * G, inner] -> [B, Hkv, inner], summed in fp32 in head order, rounded once.
void sum_groups(void* out, const void* in, TType type, int64_t B, int64_t Hkv, int64_t G, int64_t inner,
                cudaStream_t st);

// GPT-OSS's sink column (fp32 sums, one rounding into `type`):
//   row_argmax: out[r] = the first j where in[r, j] equals the row's max (int64)
//   row_sum: out[r] = sum_j in[r, j]
//   scatter_rows: out[r, idx[r]] = g[r] (out already holds the zeros' copy)
//   sink_column_sum: out[h] = sum_{b, i} in[b, h, i, K] of in [B, H, N, K + 1]
void row_argmax(int64_t* out, const void* in, TType type, int64_t rows, int64_t cols, cudaStream_t st);
void row_sum(void* out, const void* in, TType type, int64_t rows, int64_t cols, cudaStream_t st);
void scatter_rows(void* out, const int64_t* idx, const void* g, TType type, int64_t rows, int64_t cols,
                  cudaStream_t st);
void sink_column_sum(void* out, const void* in, TType type, int64_t B, int64_t H, int64_t N, int64_t K,
                     cudaStream_t st);

// out[r] = max_j in[r, j] (NaN propagates), rows of a contiguous [rows, cols] tensor.
void row_max(void* out, const void* in, TType type, int64_t rows, int64_t cols, cudaStream_t st);
// out[r] = all_j in[r, j] (bool).
void row_all(void* out, const void* in, int64_t rows, int64_t cols, cudaStream_t st);

// torch.cat([a, sinks.reshape(1, -1, 1, 1).expand(B, -1, N, -1)], dim=-1): a [B, H, N, K] and
// sinks [H] (model dtype) into out [B, H, N, K + 1]; one launch for both inputs.
void cat_sink(void* out, const void* a, const void* sinks, TType type, int64_t B, int64_t H, int64_t N, int64_t K,
              int sm_count, cudaStream_t st);

// Not torch's (capture only, never timed): lse[r] = log sum_j exp(in[r, j]) in fp32 over rows
// `row_stride` elements apart, the first `cols` of each.
void row_logsumexp(float* lse, const void* in, TType type, int64_t rows, int64_t cols, int64_t row_stride,
                   cudaStream_t st);

}  // namespace attnscope::cuda::torchlike
