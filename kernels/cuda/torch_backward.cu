// The torch-like kernels autograd's backward through HF's eager needs beyond the forward's
// (kernels/cuda/torch_ops.h): the softmax backward and repeat_kv's sum over a group. Both read
// their inputs once and write once, like torch's (softmax_warp_backward / cunn_SoftMaxBackward:
// 2 reads + 1 write an element; reduce_kernel over the expanded dim: G reads + 1 write).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/mma_util.cuh"
#include "kernels/cuda/torch_ops.h"

namespace attnscope::cuda::torchlike {

namespace {

constexpr int kRowThreads = 256;  // a block a row: 8 warps cover a 16k-key row in 64 steps

__device__ __forceinline__ float block_sum(float x, float* smem) {
#pragma unroll
  for (int o = 16; o > 0; o /= 2) x += __shfl_xor_sync(0xffffffffu, x, o);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) smem[warp] = x;
  __syncthreads();
  x = lane < kRowThreads / 32 ? smem[lane] : 0.f;
#pragma unroll
  for (int o = 16; o > 0; o /= 2) x += __shfl_xor_sync(0xffffffffu, x, o);
  return x;
}

// torch's softmax_backward_cuda_out after its `tmp = grad * output`: gI = tmp - y * sum(tmp) (the
// SoftMaxBackwardEpilogue), fp32 arithmetic, one row per block; `g` is tmp.
template <class Tg, class Ty, class To>
__global__ void __launch_bounds__(kRowThreads) softmax_bwd(To* out, const Tg* g, const Ty* y, int64_t cols) {
  __shared__ float smem[32];
  const int64_t off = int64_t(blockIdx.x) * cols;
  float s = 0.f;
  for (int64_t e = threadIdx.x; e < cols; e += kRowThreads) s += to_float<Tg>(g[off + e]);
  s = block_sum(s, smem);
  for (int64_t e = threadIdx.x; e < cols; e += kRowThreads)
    out[off + e] = from_float<To>(to_float<Tg>(g[off + e]) - to_float<Ty>(y[off + e]) * s);
}

template <class Tg, class Ty, class To>
void softmax_bwd_typed(void* out, const void* g, const void* y, int64_t rows, int64_t cols, cudaStream_t st) {
  constexpr int64_t kMaxGrid = 0x7fffffff;
  for (int64_t r0 = 0; r0 < rows; r0 += kMaxGrid) {
    const int64_t n = std::min(kMaxGrid, rows - r0);
    softmax_bwd<Tg, Ty, To><<<static_cast<unsigned>(n), kRowThreads, 0, st>>>(
        static_cast<To*>(out) + r0 * cols, static_cast<const Tg*>(g) + r0 * cols, static_cast<const Ty*>(y) + r0 * cols,
        cols);
    ATTNSCOPE_LAUNCH_CHECK();
  }
}

template <class T>
__global__ void sum_groups_kernel(T* out, const T* in, int64_t Hkv, int64_t G, int64_t inner, int64_t total) {
  for (int64_t o = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; o < total; o += int64_t(gridDim.x) * blockDim.x) {
    const int64_t x = o % inner, bh = o / inner;  // bh = b * Hkv + hk
    const T* src = in + (bh * G) * inner + x;       // head hk * G of batch b
    float s = 0.f;
    for (int64_t i = 0; i < G; ++i) s += to_float<T>(src[i * inner]);
    out[o] = from_float<T>(s);
  }
  (void)Hkv;
}

}  // namespace

void softmax_backward(void* out, TType out_type, const void* g, TType g_type, const void* y, TType y_type,
                      int64_t rows, int64_t cols, cudaStream_t st) {
  if (rows == 0 || cols == 0) return;
  if (g_type == TType::F32 && y_type == TType::F32) {
    if (out_type == TType::F32) return softmax_bwd_typed<float, float, float>(out, g, y, rows, cols, st);
    if (out_type == TType::F16) return softmax_bwd_typed<float, float, __half>(out, g, y, rows, cols, st);
    if (out_type == TType::BF16) return softmax_bwd_typed<float, float, __nv_bfloat16>(out, g, y, rows, cols, st);
  } else if (g_type == y_type && y_type == out_type) {
    if (out_type == TType::BF16)
      return softmax_bwd_typed<__nv_bfloat16, __nv_bfloat16, __nv_bfloat16>(out, g, y, rows, cols, st);
    if (out_type == TType::F16) return softmax_bwd_typed<__half, __half, __half>(out, g, y, rows, cols, st);
  }
  throw std::invalid_argument(std::string("torchlike::softmax_backward: ") + ttype_name(g_type) + ", " +
                              ttype_name(y_type) + " -> " + ttype_name(out_type));
}

void sum_groups(void* out, const void* in, TType type, int64_t B, int64_t Hkv, int64_t G, int64_t inner,
                cudaStream_t st) {
  const int64_t total = B * Hkv * inner;
  if (total == 0) return;
  const unsigned blocks = static_cast<unsigned>(std::min<int64_t>((total + 255) / 256, 65535 * 16));
  switch (type) {
    case TType::F32:
      sum_groups_kernel<<<blocks, 256, 0, st>>>(static_cast<float*>(out), static_cast<const float*>(in), Hkv, G,
                                                inner, total);
      break;
    case TType::F16:
      sum_groups_kernel<<<blocks, 256, 0, st>>>(static_cast<__half*>(out), static_cast<const __half*>(in), Hkv, G,
                                                inner, total);
      break;
    case TType::BF16:
      sum_groups_kernel<<<blocks, 256, 0, st>>>(static_cast<__nv_bfloat16*>(out),
                                                static_cast<const __nv_bfloat16*>(in), Hkv, G, inner, total);
      break;
    default: throw std::invalid_argument(std::string("torchlike::sum_groups: ") + ttype_name(type));
  }
  ATTNSCOPE_LAUNCH_CHECK();
}

}  // namespace attnscope::cuda::torchlike

namespace attnscope::cuda::torchlike {

namespace {

// The first index of the row's max (ties: the lowest index, as torch.max(dim)'s).
template <class T>
__global__ void __launch_bounds__(kRowThreads) row_argmax_kernel(int64_t* out, const T* in, int64_t cols) {
  __shared__ float smem[32];
  __shared__ long long first[kRowThreads / 32];
  const T* row = in + int64_t(blockIdx.x) * cols;
  float mx = -INFINITY;
  for (int64_t e = threadIdx.x; e < cols; e += kRowThreads) mx = fmaxf(mx, to_float<T>(row[e]));
#pragma unroll
  for (int o = 16; o > 0; o /= 2) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) smem[warp] = mx;
  __syncthreads();
  mx = smem[0];
  for (int w = 1; w < kRowThreads / 32; ++w) mx = fmaxf(mx, smem[w]);
  long long at = cols;
  for (int64_t e = threadIdx.x; e < cols; e += kRowThreads)
    if (to_float<T>(row[e]) == mx) {
      at = e;
      break;
    }
#pragma unroll
  for (int o = 16; o > 0; o /= 2) at = min(at, __shfl_xor_sync(0xffffffffu, at, o));
  if (lane == 0) first[warp] = at;
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int w = 1; w < kRowThreads / 32; ++w) at = min(at, first[w]);
    if (at >= cols) at = 0;  // an all-NaN row: torch points at a NaN; 0 keeps the scatter in bounds
    out[blockIdx.x] = at;
  }
}

template <class T>
__global__ void __launch_bounds__(kRowThreads) row_sum_kernel(T* out, const T* in, int64_t cols) {
  __shared__ float smem[32];
  const T* row = in + int64_t(blockIdx.x) * cols;
  float s = 0.f;
  for (int64_t e = threadIdx.x; e < cols; e += kRowThreads) s += to_float<T>(row[e]);
  s = block_sum(s, smem);
  if (threadIdx.x == 0) out[blockIdx.x] = from_float<T>(s);
}

template <class T>
__global__ void scatter_rows_kernel(T* out, const int64_t* idx, const T* g, int64_t rows, int64_t cols) {
  for (int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; r < rows; r += int64_t(gridDim.x) * blockDim.x) {
    const int64_t j = idx[r];
    if (j >= 0 && j < cols) out[r * cols + j] = g[r];
  }
}

// A block per head: every (b, i) of its sink column.
template <class T>
__global__ void __launch_bounds__(kRowThreads) sink_sum_kernel(T* out, const T* in, int64_t B, int64_t H, int64_t N,
                                                               int64_t K) {
  __shared__ float smem[32];
  const int64_t h = blockIdx.x;
  float s = 0.f;
  for (int64_t x = threadIdx.x; x < B * N; x += kRowThreads) {
    const int64_t b = x / N, i = x % N;
    s += to_float<T>(in[((b * H + h) * N + i) * (K + 1) + K]);
  }
  s = block_sum(s, smem);
  if (threadIdx.x == 0) out[h] = from_float<T>(s);
}

// T from a 16/32-bit float TType, `f` called with a null T* of that type.
template <class F>
void by_type(TType t, const char* what, const F& f) {
  switch (t) {
    case TType::F32: f(static_cast<float*>(nullptr)); return;
    case TType::F16: f(static_cast<__half*>(nullptr)); return;
    case TType::BF16: f(static_cast<__nv_bfloat16*>(nullptr)); return;
    default: throw std::invalid_argument(std::string("torchlike::") + what + ": " + ttype_name(t));
  }
}

unsigned row_grid(int64_t rows, const char* what) {
  if (rows > 0x7fffffff) throw std::invalid_argument(std::string("torchlike::") + what + ": too many rows");
  return static_cast<unsigned>(rows);
}

}  // namespace

void row_argmax(int64_t* out, const void* in, TType type, int64_t rows, int64_t cols, cudaStream_t st) {
  if (rows == 0 || cols == 0) return;
  by_type(type, "row_argmax", [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    row_argmax_kernel<T><<<row_grid(rows, "row_argmax"), kRowThreads, 0, st>>>(out, static_cast<const T*>(in), cols);
  });
  ATTNSCOPE_LAUNCH_CHECK();
}

void row_sum(void* out, const void* in, TType type, int64_t rows, int64_t cols, cudaStream_t st) {
  if (rows == 0) return;
  by_type(type, "row_sum", [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    row_sum_kernel<T><<<row_grid(rows, "row_sum"), kRowThreads, 0, st>>>(static_cast<T*>(out),
                                                                          static_cast<const T*>(in), cols);
  });
  ATTNSCOPE_LAUNCH_CHECK();
}

void scatter_rows(void* out, const int64_t* idx, const void* g, TType type, int64_t rows, int64_t cols,
                  cudaStream_t st) {
  if (rows == 0) return;
  const unsigned blocks = static_cast<unsigned>(std::min<int64_t>((rows + 255) / 256, 65535));
  by_type(type, "scatter_rows", [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    scatter_rows_kernel<T><<<blocks, 256, 0, st>>>(static_cast<T*>(out), idx, static_cast<const T*>(g), rows, cols);
  });
  ATTNSCOPE_LAUNCH_CHECK();
}

void sink_column_sum(void* out, const void* in, TType type, int64_t B, int64_t H, int64_t N, int64_t K,
                     cudaStream_t st) {
  if (H == 0) return;
  by_type(type, "sink_column_sum", [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    sink_sum_kernel<T><<<row_grid(H, "sink_column_sum"), kRowThreads, 0, st>>>(static_cast<T*>(out),
                                                                                static_cast<const T*>(in), B, H, N, K);
  });
  ATTNSCOPE_LAUNCH_CHECK();
}

}  // namespace attnscope::cuda::torchlike
