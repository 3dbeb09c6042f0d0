// torch's softmax over the last dim (kernels/cuda/torch_ops.h), chosen as torch's host_softmax
// chooses: a warp per row up to 2048 columns (fp16 -> fp32: 1024), else a block per row with the
// row in registers (ceil(cols / 1024) < 10 values a thread), in shared memory, or read three times.
// The choice matters for time: on an H200 torch's fp32 softmax runs at 3.2 TB/s with a warp a row
// (2048 columns), 1.7-2.2 TB/s from registers (4096-8192) and 3.0 TB/s three-pass (16384).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cfloat>
#include <array>
#include <utility>
#include <stdexcept>
#include <type_traits>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/mma_util.cuh"
#include "kernels/cuda/torch_ops.h"

namespace attnscope::cuda::torchlike {

namespace {

constexpr int kMaxThreads = 1024;
constexpr size_t kSharedPerBlock = 48 * 1024;  // cudaDeviceProp::sharedMemPerBlock, what torch compares with

template <class T, int N>
struct alignas(sizeof(T) * N) Pack {
  T v[N];
};

// ---- a warp per row (PersistentSoftmax.cuh's structure) ------------------------------------------

// Butterfly over WIDTH lanes: every lane ends with the max (kMax) or the sum.
template <int WIDTH, bool kMax>
__device__ __forceinline__ float warp_reduce(float x) {
#pragma unroll
  for (int o = WIDTH / 2; o > 0; o /= 2) {
    const float y = __shfl_xor_sync(0xffffffffu, x, o, WIDTH);
    x = kMax ? fmaxf(x, y) : x + y;
  }
  return x;
}

// 2^LOG2 >= cols. Lanes take 4 neighbouring elements per load when a lane has >= 4 (one 16-byte
// fp32 / 8-byte bf16 vector load where rows are aligned to it: `vec`), rows two a warp up to 128
// columns, 128 threads a block. Scalar loads of the neighbours ran torch's 2048-column fp32 softmax
// in 1.9x its time on an H200.
template <class Tin, class Tout, int LOG2>
__global__ void __launch_bounds__(128) softmax_warp(Tout* out, const Tin* in, int rows, int cols, bool vec) {
  constexpr int kPow2 = 1 << LOG2;
  constexpr int kWarp = kPow2 < 32 ? kPow2 : 32;
  constexpr int kIter = kPow2 / kWarp;
  constexpr int kBatch = kPow2 <= 128 ? 2 : 1;
  constexpr int kLdg = kIter < 4 ? 1 : 4;
  const int first = (blockDim.y * blockIdx.x + threadIdx.y) * kBatch;
  const int lane = threadIdx.x;
  float x[kBatch][kIter];
#pragma unroll
  for (int b = 0; b < kBatch; ++b) {
    const bool row_ok = first + b < rows;
    const Tin* src = in + int64_t(first + b) * cols;
#pragma unroll
    for (int it = 0; it < kIter; it += kLdg) {
      const int e = kLdg * lane + it * kWarp;
      if (kLdg == 4 && vec && row_ok && e + kLdg <= cols) {  // one 16-byte (fp32) / 8-byte load
        const Pack<Tin, kLdg> p = *reinterpret_cast<const Pack<Tin, kLdg>*>(src + e);
#pragma unroll
        for (int j = 0; j < kLdg; ++j) x[b][it + j] = to_float<Tin>(p.v[j]);
      } else {
#pragma unroll
        for (int j = 0; j < kLdg; ++j) x[b][it + j] = row_ok && e + j < cols ? to_float<Tin>(src[e + j]) : -INFINITY;
      }
    }
  }
  float mx[kBatch], sum[kBatch];
#pragma unroll
  for (int b = 0; b < kBatch; ++b) {
    mx[b] = x[b][0];
#pragma unroll
    for (int it = 1; it < kIter; ++it) mx[b] = fmaxf(mx[b], x[b][it]);
    mx[b] = warp_reduce<kWarp, true>(mx[b]);
    sum[b] = 0.f;
#pragma unroll
    for (int it = 0; it < kIter; ++it) {
      x[b][it] = expf(x[b][it] - mx[b]);
      sum[b] += x[b][it];
    }
    sum[b] = warp_reduce<kWarp, false>(sum[b]);
  }
#pragma unroll
  for (int b = 0; b < kBatch; ++b) {
    if (first + b >= rows) break;
    Tout* dst = out + int64_t(first + b) * cols;
#pragma unroll
    for (int it = 0; it < kIter; it += kLdg) {
      const int e = kLdg * lane + it * kWarp;
      if (kLdg == 4 && vec && e + kLdg <= cols) {
        Pack<Tout, kLdg> p;
#pragma unroll
        for (int j = 0; j < kLdg; ++j) p.v[j] = from_float<Tout>(x[b][it + j] / sum[b]);
        *reinterpret_cast<Pack<Tout, kLdg>*>(dst + e) = p;
      } else {
#pragma unroll
        for (int j = 0; j < kLdg; ++j)
          if (e + j < cols) dst[e + j] = from_float<Tout>(x[b][it + j] / sum[b]);
      }
    }
  }
}

template <class Tin, class Tout, int LOG2>
void launch_warp(Tout* out, const Tin* in, int rows, int cols, cudaStream_t st) {
  constexpr int kPow2 = 1 << LOG2;
  constexpr int kWarp = kPow2 < 32 ? kPow2 : 32;
  constexpr int kBatch = kPow2 <= 128 ? 2 : 1;
  const int warps = 128 / kWarp, per_block = warps * kBatch;
  const bool vec = cols % 4 == 0 && reinterpret_cast<uintptr_t>(in) % (4 * sizeof(Tin)) == 0 &&
                   reinterpret_cast<uintptr_t>(out) % (4 * sizeof(Tout)) == 0;
  softmax_warp<Tin, Tout, LOG2><<<(rows + per_block - 1) / per_block, dim3(kWarp, warps), 0, st>>>(out, in, rows, cols,
                                                                                                    vec);
  ATTNSCOPE_LAUNCH_CHECK();
}

// launch_warp<Tin, Tout, LOG2> for LOG2 = 0..11, indexed by LOG2.
template <class Tin, class Tout, int... L>
constexpr auto warp_launchers(std::integer_sequence<int, L...>) {
  return std::array<void (*)(Tout*, const Tin*, int, int, cudaStream_t), sizeof...(L)>{&launch_warp<Tin, Tout, L>...};
}

template <class Tin, class Tout>
void dispatch_warp(Tout* out, const Tin* in, int64_t rows, int cols, cudaStream_t st) {
  int log2 = 0;
  while ((1 << log2) < cols) ++log2;
  // torch launches at most 2^30 / cols rows at a time.
  const int64_t chunk = (int64_t{1} << 30) / cols;
  for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
    const int n = static_cast<int>(std::min(chunk, rows - r0));
    const Tin* i = in + r0 * cols;
    Tout* o = out + r0 * cols;
    if (log2 > 11) throw std::logic_error("softmax_warp: more than 2048 columns");
    warp_launchers<Tin, Tout>(std::make_integer_sequence<int, 12>{})[static_cast<size_t>(log2)](o, i, n, cols, st);
  }
}

// ---- a block per row ---------------------------------------------------------------------------

// Warp shuffles, then the warps' results through shared memory (torch's BlockReduce).
template <bool kMax>
__device__ __forceinline__ float block_reduce(float x, float* smem) {
  x = warp_reduce<32, kMax>(x);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = blockDim.x / 32;
  __syncthreads();
  if (lane == 0) smem[warp] = x;
  __syncthreads();
  x = lane < warps ? smem[lane] : (kMax ? -INFINITY : 0.f);
  x = warp_reduce<32, kMax>(x);
  return x;
}

// torch's blockReduceWarp: shfl_down within each warp, the warps' results through shared memory
// reduced by warp 0, broadcast through shared memory again.
template <bool kMax>
__device__ __forceinline__ float warp_reduce_down(float x) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float y = __shfl_down_sync(0xffffffffu, x, o, 32);
    x = kMax ? fmaxf(x, y) : x + y;
  }
  return x;
}
template <bool kMax>
__device__ __forceinline__ float block_reduce_warp(float x, float* shared, float identity) {
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  x = warp_reduce_down<kMax>(x);
  __syncthreads();
  if (lane == 0) shared[warp] = x;
  __syncthreads();
  x = tid < static_cast<int>(blockDim.x / 32) ? shared[lane] : identity;
  if (warp == 0) x = warp_reduce_down<kMax>(x);
  if (tid == 0) shared[0] = x;
  __syncthreads();
  return shared[0];
}

// cunn_SoftMaxForwardReg as torch 2.11 writes it, instantiated as it launches it on the bench rows
// (<float, float, float, SoftMaxForwardEpilogue, long, 8>): REG values a thread kept in the input
// type, blockDim apart, a 32-bit offset against the 64-bit column count, dynamic shared memory for the
// reductions, no launch bounds. The register count decides the occupancy at 1024 threads: torch's
// kernel holds 37 (ncu on the H200: one block an SM, 12.6 ms on 32 x 8192 rows of 8192); the
// earlier, tidier version here (fp32 copies, a 64-bit offset, launch bounds) held 32, ran two blocks
// an SM and took 8.1 ms. This one holds 44 with nvcc 13.0 (-Xptxas -v): one block an SM, as torch.
template <class Tin, class Tout, int REG>
__global__ void softmax_reg(Tout* out, const Tin* in, int64_t classes) {
  extern __shared__ float sdata[];
  Tin reg[REG];
  in += static_cast<int64_t>(blockIdx.x) * classes;
  out += static_cast<int64_t>(blockIdx.x) * classes;
  float mx = -FLT_MAX;  // numeric_limits<accscalar_t>::lowest()
#pragma unroll
  for (int r = 0; r < REG; ++r) {
    const int offset = threadIdx.x + r * blockDim.x;
    if (offset < classes) {
      reg[r] = in[offset];
      mx = fmaxf(mx, to_float<Tin>(reg[r]));
    }
  }
  mx = block_reduce_warp<true>(mx, sdata, -FLT_MAX);
  float sum = 0.f;
#pragma unroll
  for (int r = 0; r < REG; ++r) {
    const int offset = threadIdx.x + r * blockDim.x;
    if (offset < classes) sum += expf(to_float<Tin>(reg[r]) - mx);
  }
  sum = block_reduce_warp<false>(sum, sdata, 0.f);
  // SoftMaxForwardEpilogue: exp(x - max) / sum, the exponential taken again.
#pragma unroll
  for (int r = 0; r < REG; ++r) {
    const int offset = threadIdx.x + r * blockDim.x;
    if (offset < classes) out[offset] = from_float<Tout>(expf(to_float<Tin>(reg[r]) - mx) / sum);
  }
}

// cunn_SoftMaxForwardSmem: the row once into shared memory (16-byte loads), then max, sum, write.
template <class Tin, class Tout>
__global__ void __launch_bounds__(kMaxThreads) softmax_smem(Tout* out, const Tin* in, int cols) {
  constexpr int ILP = 16 / sizeof(Tin);
  extern __shared__ __align__(16) unsigned char smem_raw[];
  float* red = reinterpret_cast<float*>(smem_raw);
  Tin* row = reinterpret_cast<Tin*>(smem_raw + 32 * sizeof(float));
  const Tin* src = in + int64_t(blockIdx.x) * cols;
  Tout* dst = out + int64_t(blockIdx.x) * cols;
  float mx = -INFINITY;
  for (int v = threadIdx.x; v * ILP < cols; v += blockDim.x) {
    const Pack<Tin, ILP> p = reinterpret_cast<const Pack<Tin, ILP>*>(src)[v];
    reinterpret_cast<Pack<Tin, ILP>*>(row)[v] = p;
#pragma unroll
    for (int j = 0; j < ILP; ++j) mx = fmaxf(mx, to_float<Tin>(p.v[j]));
  }
  mx = block_reduce<true>(mx, red);
  float sum = 0.f;
  for (int e = threadIdx.x; e < cols; e += blockDim.x) sum += expf(to_float<Tin>(row[e]) - mx);
  sum = block_reduce<false>(sum, red);
  for (int e = threadIdx.x; e < cols; e += blockDim.x) dst[e] = from_float<Tout>(expf(to_float<Tin>(row[e]) - mx) / sum);
}

// cunn_SoftMaxForward: three passes over global memory (16-byte loads where aligned).
template <class Tin, class Tout>
__global__ void __launch_bounds__(kMaxThreads) softmax_global(Tout* out, const Tin* in, int cols) {
  constexpr int ILP = 16 / sizeof(Tin);
  __shared__ float smem[32];
  const Tin* src = in + int64_t(blockIdx.x) * cols;
  Tout* dst = out + int64_t(blockIdx.x) * cols;
  const bool vec = reinterpret_cast<uintptr_t>(src) % 16 == 0;
  const int nvec = vec ? cols / ILP : 0;
  float mx = -INFINITY;
  for (int v = threadIdx.x; v < nvec; v += blockDim.x) {
    const Pack<Tin, ILP> p = reinterpret_cast<const Pack<Tin, ILP>*>(src)[v];
#pragma unroll
    for (int j = 0; j < ILP; ++j) mx = fmaxf(mx, to_float<Tin>(p.v[j]));
  }
  for (int e = nvec * ILP + threadIdx.x; e < cols; e += blockDim.x) mx = fmaxf(mx, to_float<Tin>(src[e]));
  mx = block_reduce<true>(mx, smem);
  float sum = 0.f;
  for (int v = threadIdx.x; v < nvec; v += blockDim.x) {
    const Pack<Tin, ILP> p = reinterpret_cast<const Pack<Tin, ILP>*>(src)[v];
#pragma unroll
    for (int j = 0; j < ILP; ++j) sum += expf(to_float<Tin>(p.v[j]) - mx);
  }
  for (int e = nvec * ILP + threadIdx.x; e < cols; e += blockDim.x) sum += expf(to_float<Tin>(src[e]) - mx);
  sum = block_reduce<false>(sum, smem);
  for (int e = threadIdx.x; e < cols; e += blockDim.x) dst[e] = from_float<Tout>(expf(to_float<Tin>(src[e]) - mx) / sum);
}

template <class Tin, class Tout>
void dispatch_block(Tout* out, const Tin* in, int64_t rows, int cols, bool registers, cudaStream_t st) {
  // SoftMaxForward_getBlockSize: min(cols, 1024) rounded up to a warp multiple.
  const int block = std::min(kMaxThreads, (std::min(cols, kMaxThreads) + 31) / 32 * 32);
  const int reg = (cols + block - 1) / block;
  const unsigned grid = static_cast<unsigned>(rows);
  if (registers && reg < 10) {
    switch (reg) {
#define ATTNSCOPE_REG(R) \
  case R: softmax_reg<Tin, Tout, R><<<grid, block, block / 32 * sizeof(float), st>>>(out, in, cols); break;
      ATTNSCOPE_REG(1) ATTNSCOPE_REG(2) ATTNSCOPE_REG(3) ATTNSCOPE_REG(4) ATTNSCOPE_REG(5)
      ATTNSCOPE_REG(6) ATTNSCOPE_REG(7) ATTNSCOPE_REG(8) ATTNSCOPE_REG(9)
#undef ATTNSCOPE_REG
    }
    ATTNSCOPE_LAUNCH_CHECK();
    return;
  }
  constexpr int ILP = 16 / sizeof(Tin);
  const size_t red = static_cast<size_t>(block / 32) * sizeof(float);
  const bool aligned = reinterpret_cast<uintptr_t>(in) % 16 == 0 && reinterpret_cast<uintptr_t>(out) % 16 == 0 &&
                       (int64_t(cols) * int64_t(sizeof(Tin))) % 16 == 0;
  if (static_cast<size_t>(cols) < (kSharedPerBlock - red) / sizeof(Tin) && aligned && cols % ILP == 0) {
    const size_t smem = 32 * sizeof(float) + static_cast<size_t>(cols) * sizeof(Tin);
    softmax_smem<Tin, Tout><<<grid, block, smem, st>>>(out, in, cols);
  } else {
    softmax_global<Tin, Tout><<<grid, block, 0, st>>>(out, in, cols);
  }
  ATTNSCOPE_LAUNCH_CHECK();
}

template <class Tin, class Tout>
void softmax_typed(void* out, const void* in, int64_t rows, int64_t cols64, cudaStream_t st) {
  if (cols64 > (int64_t{1} << 30)) throw std::invalid_argument("torchlike::softmax: row too long");
  const int cols = static_cast<int>(cols64);
  Tout* o = static_cast<Tout*>(out);
  const Tin* i = static_cast<const Tin*>(in);
  constexpr bool half_to_float = !std::is_same_v<Tin, Tout>;
  if (!half_to_float && cols <= 2048 && cols * sizeof(Tin) <= 8192) dispatch_warp(o, i, rows, cols, st);
  else if (half_to_float && cols <= 1024 && cols * sizeof(Tin) <= 4096) dispatch_warp(o, i, rows, cols, st);
  else dispatch_block(o, i, rows, cols, /*registers=*/!half_to_float, st);
}

}  // namespace

void softmax(void* out, TType out_type, const void* in, TType in_type, int64_t rows, int64_t cols, cudaStream_t st) {
  if (rows == 0 || cols == 0) return;
  if (in_type == out_type) {
    switch (in_type) {
      case TType::F32: softmax_typed<float, float>(out, in, rows, cols, st); return;
      case TType::F16: softmax_typed<__half, __half>(out, in, rows, cols, st); return;
      case TType::BF16: softmax_typed<__nv_bfloat16, __nv_bfloat16>(out, in, rows, cols, st); return;
      default: break;
    }
  } else if (in_type == TType::F16 && out_type == TType::F32) {
    softmax_typed<__half, float>(out, in, rows, cols, st);
    return;
  }
  throw std::invalid_argument(std::string("torchlike::softmax: ") + ttype_name(in_type) + " -> " + ttype_name(out_type));
}

}  // namespace attnscope::cuda::torchlike
