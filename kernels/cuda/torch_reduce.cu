// Row reductions, torch.cat along the last dim, and the capture's log-sum-exp (kernels/cuda/torch_ops.h).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <climits>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/mma_util.cuh"
#include "kernels/cuda/torch_ops.h"

namespace attnscope::cuda::torchlike {

namespace {

// reduce_kernel<512, 1> over the contiguous last dim: 32 lanes share a row, 16 rows a block, each
// lane keeping 4 partial results over elements 32 apart.
template <class T>
__device__ __forceinline__ float nan_max(float a, float b) {
  return (a != a || a > b) ? a : b;  // NaN propagates, as MaxOps
}

template <class T>
__global__ void __launch_bounds__(512) row_max_kernel(T* out, const T* in, int rows, int cols) {
  const int row = blockIdx.x * 16 + threadIdx.y;
  if (row >= rows) return;
  const T* src = in + int64_t(row) * cols;
  float acc[4] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
  int e = threadIdx.x;
  for (; e + 96 < cols; e += 128)
#pragma unroll
    for (int k = 0; k < 4; ++k) acc[k] = nan_max<T>(acc[k], to_float<T>(src[e + 32 * k]));
  for (; e < cols; e += 32) acc[0] = nan_max<T>(acc[0], to_float<T>(src[e]));
  float m = nan_max<T>(nan_max<T>(acc[0], acc[1]), nan_max<T>(acc[2], acc[3]));
#pragma unroll
  for (int o = 16; o > 0; o /= 2) m = nan_max<T>(m, __shfl_xor_sync(0xffffffffu, m, o));
  if (threadIdx.x == 0) out[row] = from_float<T>(m);
}

__global__ void __launch_bounds__(512) row_all_kernel(bool* out, const bool* in, int rows, int cols) {
  const int row = blockIdx.x * 16 + threadIdx.y;
  if (row >= rows) return;
  const bool* src = in + int64_t(row) * cols;
  bool acc = true;
  const bool vec = cols % 4 == 0 && reinterpret_cast<uintptr_t>(src) % 4 == 0;
  if (vec) {  // 4 bools a load
    for (int e = threadIdx.x * 4; e < cols; e += 128) {
      const uchar4 v = *reinterpret_cast<const uchar4*>(src + e);
      acc = acc && v.x && v.y && v.z && v.w;
    }
  } else {
    for (int e = threadIdx.x; e < cols; e += 32) acc = acc && src[e];
  }
  acc = __all_sync(0xffffffffu, acc);
  if (threadIdx.x == 0) out[row] = acc;
}

// Splits [rows, cols] so each launch reads below 2^31 bytes (TensorIterator halves the rows):
// (first row, rows) per launch, in order.
void pieces_32bit(int64_t r0, int64_t rows, int64_t cols, int elem, std::vector<std::pair<int64_t, int64_t>>* out) {
  if (rows * cols * elem <= INT_MAX || rows == 1) {
    out->push_back({r0, rows});
    return;
  }
  const int64_t half = rows / 2;
  pieces_32bit(r0, half, cols, elem, out);
  pieces_32bit(r0 + half, rows - half, cols, elem, out);
}

template <class Launch>
void by_32bit_rows(int64_t rows, int64_t cols, int elem, const Launch& launch) {
  std::vector<std::pair<int64_t, int64_t>> pieces;
  pieces_32bit(0, rows, cols, elem, &pieces);
  for (const auto& [r0, n] : pieces) launch(r0, n);
}

template <class T>
void row_max_typed(void* out, const void* in, int64_t rows, int64_t cols, cudaStream_t st) {
  by_32bit_rows(rows, cols, sizeof(T), [&](int64_t r0, int64_t n) {
    row_max_kernel<T><<<static_cast<unsigned>((n + 15) / 16), dim3(32, 16), 0, st>>>(
        static_cast<T*>(out) + r0, static_cast<const T*>(in) + r0 * cols, static_cast<int>(n), static_cast<int>(cols));
    ATTNSCOPE_LAUNCH_CHECK();
  });
}

// CatArrayBatchedCopy<OpaqueType<2>, unsigned int, 4, ...>: blockIdx.y picks the input, 2 x SMs
// blocks of 512 threads stride over its elements; every element's output offset (and, the sink
// column being a broadcast view, its input offset) from 32-bit division by each dimension.
template <class U>  // the element's bits: uint16_t (fp16/bf16) or uint32_t (fp32); cat copies, never converts
struct CatInput {
  const U* data;
  unsigned size[4];         // the input's sizes (its last dim: K, or 1 for the sink column)
  unsigned in_stride[4];    // the input's strides (elements)
  unsigned offset;          // where its columns start in the output's last dim
  unsigned numel;
};

__device__ __forceinline__ unsigned cat_offset(const unsigned size[4], const unsigned stride[4], unsigned i) {
  unsigned off = 0;
#pragma unroll
  for (int d = 3; d >= 1; --d) {
    const unsigned q = i / size[d];
    off += (i - q * size[d]) * stride[d];
    i = q;
  }
  return off + i * stride[0];
}

template <class U>
__global__ void __launch_bounds__(512) cat_kernel(U* out, CatInput<U> a, CatInput<U> b, unsigned out_stride0,
                                                  unsigned out_stride1, unsigned out_stride2) {
  const CatInput<U>& in = blockIdx.y == 0 ? a : b;
  const unsigned ostride[4] = {out_stride0, out_stride1, out_stride2, 1};
  for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < in.numel; i += blockDim.x * gridDim.x) {
    const unsigned o = cat_offset(in.size, ostride, i) + in.offset;
    out[o] = in.data[cat_offset(in.size, in.in_stride, i)];
  }
}

template <class T>
__global__ void __launch_bounds__(256) row_lse_kernel(float* lse, const T* in, int64_t rows, int cols, int64_t stride) {
  const int64_t row = int64_t(blockIdx.x) * 8 + threadIdx.y;
  if (row >= rows) return;
  const T* src = in + row * stride;
  float m = -INFINITY;
  for (int e = threadIdx.x; e < cols; e += 32) m = fmaxf(m, to_float<T>(src[e]));
#pragma unroll
  for (int o = 16; o > 0; o /= 2) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
  float s = 0.f;
  if (m != -INFINITY)
    for (int e = threadIdx.x; e < cols; e += 32) s += expf(to_float<T>(src[e]) - m);
#pragma unroll
  for (int o = 16; o > 0; o /= 2) s += __shfl_xor_sync(0xffffffffu, s, o);
  if (threadIdx.x == 0) lse[row] = m == -INFINITY ? -INFINITY : m + logf(s);
}

}  // namespace

void row_max(void* out, const void* in, TType type, int64_t rows, int64_t cols, cudaStream_t st) {
  switch (type) {
    case TType::F32: row_max_typed<float>(out, in, rows, cols, st); return;
    case TType::F16: row_max_typed<__half>(out, in, rows, cols, st); return;
    case TType::BF16: row_max_typed<__nv_bfloat16>(out, in, rows, cols, st); return;
    default: throw std::invalid_argument("torchlike::row_max: unsupported type");
  }
}

void row_all(void* out, const void* in, int64_t rows, int64_t cols, cudaStream_t st) {
  by_32bit_rows(rows, cols, 1, [&](int64_t r0, int64_t n) {
    row_all_kernel<<<static_cast<unsigned>((n + 15) / 16), dim3(32, 16), 0, st>>>(
        static_cast<bool*>(out) + r0, static_cast<const bool*>(in) + r0 * cols, static_cast<int>(n),
        static_cast<int>(cols));
    ATTNSCOPE_LAUNCH_CHECK();
  });
}

namespace {
template <class U>
void cat_sink_typed(void* out, const void* a, const void* sinks, int64_t B, int64_t H, int64_t N, int64_t K,
                    int sm_count, cudaStream_t st) {
  auto u = [](int64_t x) { return static_cast<unsigned>(x); };
  CatInput<U> x{static_cast<const U*>(a), {u(B), u(H), u(N), u(K)}, {u(H * N * K), u(N * K), u(K), 1}, 0,
                u(B * H * N * K)};
  // sinks.reshape(1, -1, 1, 1).expand(B, -1, N, -1): strides (0, 1, 0, 0).
  CatInput<U> s{static_cast<const U*>(sinks), {u(B), u(H), u(N), 1}, {0, 1, 0, 0}, u(K), u(B * H * N)};
  const dim3 grid(static_cast<unsigned>(2 * std::max(1, sm_count)), 2);
  cat_kernel<U><<<grid, 512, 0, st>>>(static_cast<U*>(out), x, s, u(H * N * (K + 1)), u(N * (K + 1)), u(K + 1));
  ATTNSCOPE_LAUNCH_CHECK();
}
}  // namespace

void cat_sink(void* out, const void* a, const void* sinks, TType type, int64_t B, int64_t H, int64_t N, int64_t K,
              int sm_count, cudaStream_t st) {
  if (B * H * N * (K + 1) > UINT_MAX) throw std::invalid_argument("torchlike::cat_sink: more than 2^32 elements");
  switch (ttype_bytes(type)) {
    case 2: cat_sink_typed<uint16_t>(out, a, sinks, B, H, N, K, sm_count, st); return;
    case 4: cat_sink_typed<uint32_t>(out, a, sinks, B, H, N, K, sm_count, st); return;
    default: throw std::invalid_argument(std::string("torchlike::cat_sink: ") + ttype_name(type));
  }
}

void row_logsumexp(float* lse, const void* in, TType type, int64_t rows, int64_t cols, int64_t row_stride,
                   cudaStream_t st) {
  const unsigned grid = static_cast<unsigned>((rows + 7) / 8);
  const int c = static_cast<int>(cols);
  switch (type) {
    case TType::F32: row_lse_kernel<float><<<grid, dim3(32, 8), 0, st>>>(lse, static_cast<const float*>(in), rows, c, row_stride); break;
    case TType::F16: row_lse_kernel<__half><<<grid, dim3(32, 8), 0, st>>>(lse, static_cast<const __half*>(in), rows, c, row_stride); break;
    case TType::BF16:
      row_lse_kernel<__nv_bfloat16><<<grid, dim3(32, 8), 0, st>>>(lse, static_cast<const __nv_bfloat16*>(in), rows, c, row_stride);
      break;
    default: throw std::invalid_argument("torchlike::row_logsumexp: unsupported type");
  }
  ATTNSCOPE_LAUNCH_CHECK();
}

}  // namespace attnscope::cuda::torchlike
