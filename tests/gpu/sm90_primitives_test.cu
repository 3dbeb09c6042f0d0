// The Hopper building blocks of the sm90 flash kernel, each against a CPU computation: TMA tile loads
// with 128-byte swizzle (zero fill past the tensor's rows and columns), the mbarrier transaction count,
// wgmma with both operands in shared memory (S = Q·Kᵀ, K-major descriptors) and with A from registers
// (O = P·V, V N-major through imm-trans-b), in the accumulator and A-fragment orders the kernel assumes,
// and the epilogue's way out: O rounded into the 128-byte-swizzled layout (stmatrix_rows_sw128), then
// TMA stores (bulk group, wait) that write only the tensor's rows and columns. One block, one warpgroup;
// fresh random inputs; outputs poisoned first. Skips without an sm90 GPU.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/cuda/hopper/sm90_ptx.cuh"
#include "kernels/cuda/hopper/tma_map.h"
#include "kernels/cuda/hopper/wgmma.cuh"
#include "kernels/cuda/mma_util.cuh"

namespace attnscope::cuda::sm90 {
namespace {

#define CK(x)                                                                          \
  do {                                                                                 \
    cudaError_t e_ = (x);                                                              \
    ASSERT_EQ(e_, cudaSuccess) << #x << ": " << cudaGetErrorString(e_);                \
  } while (0)

// Q is [64, D] (rows >= q_rows read as zero), K and V are [N, D] (rows >= kv_rows zero); the tensors'
// real head dim d_real <= D (columns >= d_real zero).
template <class T, int D, int N>
__global__ void __launch_bounds__(128) primitives_kernel(const __grid_constant__ CUtensorMap mq,
                                                         const __grid_constant__ CUtensorMap mk,
                                                         const __grid_constant__ CUtensorMap mv,
                                                         const __grid_constant__ CUtensorMap mo, float* s_out,
                                                         float* o_out, float p_scale) {
  extern __shared__ uint8_t smem_raw[];
  __shared__ uint64_t bar;
  const uint32_t raw = smem_u32(smem_raw);
  uint8_t* base = smem_raw + (((raw + 1023) & ~1023u) - raw);  // 1024-byte aligned swizzle atoms
  T* sQ = reinterpret_cast<T*>(base);
  T* sK = sQ + 64 * D;
  T* sV = sK + N * D;
  const int tid = threadIdx.x;
  if (tid == 0) {
    mbar_init(&bar, 1);
    mbar_fence_init();
  }
  __syncthreads();
  if (tid == 0) {
    mbar_arrive_expect_tx(&bar, (64 + 2 * N) * D * 2);
    for (int cb = 0; cb < D / 64; ++cb) {
      tma_load_3d(sQ + cb * 64 * 64, &mq, &bar, cb * 64, 0, 0);
      tma_load_3d(sK + cb * N * 64, &mk, &bar, cb * 64, 0, 0);
      tma_load_3d(sV + cb * N * 64, &mv, &bar, cb * 64, 0, 0);
    }
  }
  mbar_wait(&bar, 0);

  float s[N / 2];
#pragma unroll
  for (int i = 0; i < N / 2; ++i) s[i] = 0.f;
  wgmma_fence();
#pragma unroll
  for (int k = 0; k < D / 16; ++k) {
    const int cb = k / 4, kk = k % 4;
    const uint64_t da = make_desc_sw128(smem_u32(sQ) + cb * 64 * 128 + kk * 32, 16, 1024);
    const uint64_t db = make_desc_sw128(smem_u32(sK) + cb * N * 128 + kk * 32, 16, 1024);
    wgmma_ss<T, N>(s, da, db, k > 0 ? 1 : 0);
  }
  wgmma_commit();
  wgmma_wait<0>();
  const int warp = tid / 32, lane = tid % 32, g = lane / 4, t = lane % 4;
  const int row = 16 * warp + g;
#pragma unroll
  for (int i = 0; i < N / 8; ++i) {
    const int col = 8 * i + 2 * t;
    s_out[row * N + col] = s[4 * i];
    s_out[row * N + col + 1] = s[4 * i + 1];
    s_out[(row + 8) * N + col] = s[4 * i + 2];
    s_out[(row + 8) * N + col + 1] = s[4 * i + 3];
  }
  float o[D / 2];
#pragma unroll
  for (int i = 0; i < D / 2; ++i) o[i] = 0.f;
  uint32_t a[N / 16][4];
#pragma unroll
  for (int kk = 0; kk < N / 16; ++kk) {
    float r0, r1;
#pragma unroll
    for (int j = 0; j < 4; ++j)
      a[kk][j] = pack_round<T>(s[8 * kk + 2 * j] * p_scale, s[8 * kk + 2 * j + 1] * p_scale, &r0, &r1);
  }
  wgmma_fence();
#pragma unroll
  for (int kk = 0; kk < N / 16; ++kk) {
    const uint64_t db = make_desc_sw128(smem_u32(sV) + kk * 2048, N * 128, 1024);
    wgmma_rs<T, D>(o, a[kk], db, kk > 0 ? 1 : 0);
  }
  wgmma_commit();
  wgmma_wait<0>();
#pragma unroll
  for (int i = 0; i < D / 8; ++i) {
    const int col = 8 * i + 2 * t;
    o_out[row * D + col] = o[4 * i];
    o_out[row * D + col + 1] = o[4 * i + 1];
    o_out[(row + 8) * D + col] = o[4 * i + 2];
    o_out[(row + 8) * D + col + 1] = o[4 * i + 3];
  }
  // The epilogue (flash_fwd_sm90.cuh): O rounded to T into Q's buffer, now free, as [D/64][64][64]
  // with 128-byte swizzle.
  T* sO = sQ;
  float r0, r1;
  stmatrix_rows_sw128<D>(smem_u32(sO), o, 1.f, 1.f, warp, lane,
                         [&](float x, float y) { return pack_round<T>(x, y, &r0, &r1); });
  fence_proxy_async_shared();
  __syncthreads();
  if (tid == 0) {
    for (int cb = 0; cb < D / 64; ++cb) tma_store_3d(&mo, sO + cb * 64 * 64, cb * 64, 0, 0);
    bulk_commit_group();
    bulk_wait_group_read<0>();
    bulk_wait_group<0>();
  }
}

template <class T>
uint16_t to_bits(float x) {
  T h = std::is_same_v<T, __half> ? T(__float2half_rn(x)) : T(__float2bfloat16_rn(x));
  uint16_t b;
  std::memcpy(&b, &h, 2);
  return b;
}
template <class T>
float from_bits(uint16_t b) {
  T h;
  std::memcpy(&h, &b, 2);
  if constexpr (std::is_same_v<T, __half>) return __half2float(h);
  else return __bfloat162float(h);
}

bool have_sm90(std::string* why) {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
    *why = "no CUDA device";
    return false;
  }
  cudaDeviceProp p{};
  cudaGetDeviceProperties(&p, 0);
  if (p.major != 9) {
    *why = std::string("needs an sm90 GPU, this is ") + p.name;
    return false;
  }
  return true;
}

template <class T, int D, int N>
void check(int d_real, int q_rows, int kv_rows, uint64_t seed) {
  std::string why;
  if (!have_sm90(&why)) GTEST_SKIP() << why;
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd(0.f, 1.f);
  auto fill = [&](int rows) {
    std::vector<uint16_t> v(static_cast<size_t>(rows) * d_real);
    for (auto& x : v) x = to_bits<T>(nd(rng));
    return v;
  };
  std::vector<uint16_t> q = fill(q_rows), k = fill(kv_rows), v = fill(kv_rows);
  void *dq, *dk, *dv, *dst;
  float *ds, *dout;
  // The stored O: q_rows x d_real, then a guard of 64 elements the TMA store must not reach.
  const size_t st_elems = size_t(q_rows) * d_real + 64;
  CK(cudaMalloc(&dq, q.size() * 2));
  CK(cudaMalloc(&dk, k.size() * 2));
  CK(cudaMalloc(&dv, v.size() * 2));
  CK(cudaMalloc(&ds, 64 * N * 4));
  CK(cudaMalloc(&dout, 64 * D * 4));
  CK(cudaMalloc(&dst, st_elems * 2));
  CK(cudaMemset(dst, 0xFF, st_elems * 2));
  CK(cudaMemcpy(dq, q.data(), q.size() * 2, cudaMemcpyHostToDevice));
  CK(cudaMemcpy(dk, k.data(), k.size() * 2, cudaMemcpyHostToDevice));
  CK(cudaMemcpy(dv, v.data(), v.size() * 2, cudaMemcpyHostToDevice));
  CK(cudaMemset(ds, 0xFF, 64 * N * 4));
  CK(cudaMemset(dout, 0xFF, 64 * D * 4));
  CUtensorMap mq, mk, mv, mo;
  const bool fp16 = std::is_same_v<T, __half>;
  ASSERT_TRUE(make_tile_map(&mq, {dq, fp16, d_real, q_rows, 1, d_real, int64_t(q_rows) * d_real, 64}, &why)) << why;
  ASSERT_TRUE(make_tile_map(&mk, {dk, fp16, d_real, kv_rows, 1, d_real, int64_t(kv_rows) * d_real, N}, &why)) << why;
  ASSERT_TRUE(make_tile_map(&mv, {dv, fp16, d_real, kv_rows, 1, d_real, int64_t(kv_rows) * d_real, N}, &why)) << why;
  ASSERT_TRUE(make_tile_map(&mo, {dst, fp16, d_real, q_rows, 1, d_real, int64_t(q_rows) * d_real, 64}, &why)) << why;
  const int smem = (64 + 2 * N) * D * 2 + 1024;
  auto kernel = &primitives_kernel<T, D, N>;
  CK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
  const float p_scale = 0.05f;
  kernel<<<1, 128, smem>>>(mq, mk, mv, mo, ds, dout, p_scale);
  CK(cudaGetLastError());
  CK(cudaDeviceSynchronize());
  std::vector<float> s(64 * N), o(64 * D);
  CK(cudaMemcpy(s.data(), ds, s.size() * 4, cudaMemcpyDeviceToHost));
  CK(cudaMemcpy(o.data(), dout, o.size() * 4, cudaMemcpyDeviceToHost));
  std::vector<uint16_t> stored(st_elems);
  CK(cudaMemcpy(stored.data(), dst, st_elems * 2, cudaMemcpyDeviceToHost));
  cudaFree(dq), cudaFree(dk), cudaFree(dv), cudaFree(ds), cudaFree(dout), cudaFree(dst);

  auto qv = [&](int r, int c) { return r < q_rows && c < d_real ? from_bits<T>(q[size_t(r) * d_real + c]) : 0.f; };
  auto kv = [&](const std::vector<uint16_t>& m, int r, int c) {
    return r < kv_rows && c < d_real ? from_bits<T>(m[size_t(r) * d_real + c]) : 0.f;
  };
  int bad = 0;
  for (int i = 0; i < 64; ++i)
    for (int j = 0; j < N; ++j) {
      double ref = 0, mag = 0;
      for (int c = 0; c < D; ++c) {
        ref += double(qv(i, c)) * kv(k, j, c);
        mag += std::fabs(double(qv(i, c)) * kv(k, j, c));
      }
      const double got = s[i * N + j];
      if (!(std::fabs(got - ref) <= 1e-5 * mag + 1e-6) && bad++ < 5)
        ADD_FAILURE() << "S[" << i << "][" << j << "] = " << got << ", expected " << ref;
    }
  ASSERT_EQ(bad, 0) << bad << " S mismatches";
  // P as the kernel rounded it, from the kernel's own S.
  for (int i = 0; i < 64; ++i)
    for (int c = 0; c < D; ++c) {
      double ref = 0, mag = 0;
      for (int j = 0; j < N; ++j) {
        const float p = from_bits<T>(to_bits<T>(s[i * N + j] * p_scale));
        ref += double(p) * kv(v, j, c);
        mag += std::fabs(double(p) * kv(v, j, c));
      }
      const double got = o[i * D + c];
      if (!(std::fabs(got - ref) <= 1e-5 * mag + 1e-6) && bad++ < 5)
        ADD_FAILURE() << "O[" << i << "][" << c << "] = " << got << ", expected " << ref;
    }
  ASSERT_EQ(bad, 0) << bad << " O mismatches";
  // The stored O: every row < q_rows and column < d_real is the kernel's O rounded to T, bit for bit;
  // the guard past the tensor keeps its poison.
  for (int i = 0; i < q_rows; ++i)
    for (int c = 0; c < d_real; ++c) {
      const uint16_t want = to_bits<T>(o[i * D + c]), got = stored[size_t(i) * d_real + c];
      if (got != want && bad++ < 5)
        ADD_FAILURE() << "stored O[" << i << "][" << c << "] = " << from_bits<T>(got) << ", expected "
                      << from_bits<T>(want);
    }
  for (size_t e = size_t(q_rows) * d_real; e < st_elems; ++e)
    if (stored[e] != 0xFFFF && bad++ < 5) ADD_FAILURE() << "the TMA store wrote past the tensor at element " << e;
  ASSERT_EQ(bad, 0) << bad << " stored-O mismatches";
}

TEST(Sm90Primitives, Bf16D128N128) { check<__nv_bfloat16, 128, 128>(128, 64, 128, 1); }
TEST(Sm90Primitives, Fp16D64N64RaggedRows) { check<__half, 64, 64>(64, 40, 50, 2); }
TEST(Sm90Primitives, Bf16D96PaddedTo128) { check<__nv_bfloat16, 128, 128>(96, 64, 128, 3); }
TEST(Sm90Primitives, Bf16D256N64) { check<__nv_bfloat16, 256, 64>(256, 64, 64, 4); }
TEST(Sm90Primitives, Fp16D192N64) { check<__half, 192, 64>(192, 33, 64, 5); }

}  // namespace
}  // namespace attnscope::cuda::sm90
