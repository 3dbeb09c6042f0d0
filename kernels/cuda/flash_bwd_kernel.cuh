// The flash2 / sink backward: FlashAttention-2's algorithm on mma.sync m16n8k16 tensor cores, with the
// rounding points of the CPU version (kernels/cpu/fused_backward.cpp):
//   preprocess: D_i = rowsum(dO_i ∘ O_i) in fp32; dq_accum = 0; sinks: dsink_h -= exp(s_h - LSE_i) D_i.
//   main (one block per kBlockN-key tile of one (batch, query head); 8 warps), per kBlockM-row query block
//     that sees the tile, as FA2's compute_dq_dk_dv_1colblock:
//       dP = dO·Vᵀ and S = Q·Kᵀ in registers, in the same warp layout, so that each thread holds the
//       same (row, key) elements of both; P = exp(S·scale (softcapped) - LSE) in fp32 and
//       dS = P (dP - D) (· (1 - tanh²)) without leaving the registers; round(P) and round(dS) to
//       shared memory; then dV += round(P)ᵀ·dO and dK += round(dS)ᵀ·Q into register accumulators
//       (every warp: 32 keys x a slice of the head dim) and dQ = round(dS)·K reduced into dq_accum
//       (vector reductions on sm90). Q and dO of the next query block stream in through cp.async
//       while this one is computed (double buffer, when the device's shared memory holds it).
//     Epilogue: dV_head = round(dV), dK_head = round(scale · dK) for this query head.
//   convert: dQ = round(scale · dq_accum); GQA: dK, dV = round(sum over the group of the per-head
//     rounded values) (mha_bwd's sum over dk_expanded); dsinks = round(dsink_accum).
#pragma once
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "kernels/cuda/flash_bwd_params.h"
#include "kernels/cuda/mask.cuh"
#include "kernels/cuda/mma_util.cuh"
#include "kernels/cuda/softmax.cuh"
#include "kernels/cuda/tile_load.cuh"

namespace attnscope::cuda {

// Tiles and warp layouts per compiled head dim (FA2's Flash_bwd_kernel_traits: 128 x 128 up to head
// dim 64, 64 x 128 up to 128, 64 x 64 above). Every warp owns 32 keys of S / dP and of dK / dV.
template <class Elem, int HeadDim>
struct FlashBwdTraits {
  using Element = Elem;
  static constexpr int kHeadDim = HeadDim;       // compiled head dim (kernels/flash_head_dims.h)
  static constexpr int kBlockM = HeadDim <= 64 ? 128 : 64;  // query rows per step
  static constexpr int kBlockN = HeadDim <= 128 ? 128 : 64;  // keys per block
  static constexpr int kWarps = 8;
  static constexpr int kThreads = kWarps * 32;
  static constexpr int kSmemStride = kHeadDim + 8;  // 16-byte row padding: ldmatrix rows in distinct banks
  static constexpr int kPStride = kBlockN + 8;      // round(P), round(dS) [row][key]
  // S and dP (kBlockM x kBlockN): kAWarpsM x kAWarpsN warps of kAMT m16 tiles x 32 keys.
  static constexpr int kAWarpsN = kBlockN / 32;
  static constexpr int kAWarpsM = kWarps / kAWarpsN;
  static constexpr int kAMT = kBlockM / (16 * kAWarpsM);
  // dV and dK (kBlockN x kHeadDim): kBWarpsN x kBWarpsD warps of 32 keys x kBNT n8 tiles.
  static constexpr int kBWarpsN = kBlockN / 32;
  static constexpr int kBWarpsD = kWarps / kBWarpsN;
  static constexpr int kBNT = kHeadDim / kBWarpsD / 8;
  // dQ (kBlockM x kHeadDim): kCWarpsM x kCWarpsD warps of kCMT m16 tiles x kCNT n8 tiles.
  static constexpr int kCWarpsM = kHeadDim <= 128 ? 4 : 2;
  static constexpr int kCWarpsD = kWarps / kCWarpsM;
  static constexpr int kCMT = kBlockM / (16 * kCWarpsM);
  static constexpr int kCNT = kHeadDim / kCWarpsD / 8;
  // Shared memory: K, V | round(P), round(dS) | LSE, D of a query block, two buffers | Q, dO (| the
  // next Q, dO when double-buffered).
  static constexpr int kKVElems = 2 * kBlockN * kSmemStride;
  static constexpr int kPElems = 2 * kBlockM * kPStride;
  static constexpr int kStatBytes = 2 * 2 * kBlockM * 4;
  static constexpr int kQElems = 2 * kBlockM * kSmemStride;
  static constexpr int kSmemSingle = (kKVElems + kPElems + kQElems) * 2 + kStatBytes;
  static constexpr int kSmemDouble = kSmemSingle + kQElems * 2;
  static_assert(kAMT >= 1 && kCMT >= 1, "warp tiles of whole m16 tiles");
  static_assert(kBNT % 2 == 0 && kCNT % 2 == 0, "B operands load as ldmatrix.x4 pairs of n8 tiles");
  static_assert(kSmemSingle <= 163 * 1024, "the single-buffered layout fits an sm80 block");
  static_assert(kSmemDouble <= 227 * 1024, "exceeds the sm90 per-block shared memory");
};

// One row per warp: D_i, the zeroed dq_accum row, and the sink's gradient term.
template <class T, bool Sinks>
__global__ void __launch_bounds__(256) flash_bwd_preprocess_kernel(const FlashBwdParams p) {
  const FlashParams& f = p.fwd;
  const int64_t rows = int64_t(f.batch) * f.heads_q * f.seq_q;
  const int64_t row = int64_t(blockIdx.x) * 8 + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= rows) return;
  const T* o = static_cast<const T*>(f.out) + row * f.dv;
  const T* dO = static_cast<const T*>(p.dout) + row * f.dv;
  float acc = 0.f;
  for (int c = lane; c < f.dv; c += 32) acc += to_float<T>(o[c]) * to_float<T>(dO[c]);
  for (int off = 16; off > 0; off /= 2) acc += __shfl_xor_sync(0xffffffffu, acc, off);
  float* dqa = p.dq_accum + row * f.d;
  for (int c = lane; c < f.d; c += 32) dqa[c] = 0.f;
  if (lane == 0) {
    p.dsum[row] = acc;
    if constexpr (Sinks) {
      const int h = static_cast<int>((row / f.seq_q) % f.heads_q);
      const float lse = f.lse[row];
      if (lse > -INFINITY) atomicAdd(&p.dsink_accum[h], -__expf(f.sinks[h] - lse) * acc);
    }
  }
}

// dq_accum[i], dq_accum[i + 1] += (x, y): one vector reduction on sm90, two atomics before it.
__device__ __forceinline__ void red_add2(float* dst, float x, float y) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("red.global.add.v2.f32 [%0], {%1, %2};\n" ::"l"(dst), "f"(x), "f"(y) : "memory");
#else
  atomicAdd(dst, x);
  atomicAdd(dst + 1, y);
#endif
}

// c0 += A·B over n8 tile 0 and c1 over n8 tile 1 of one ldmatrix.x4 of B (16 columns).
template <class T>
__device__ __forceinline__ void mma_16816_pair(float (&c0)[4], float (&c1)[4], const uint32_t a[4], const uint32_t b[4]) {
  mma_16816<T>(c0, a, b[0], b[1]);
  mma_16816<T>(c1, a, b[2], b[3]);
}

template <class Traits, bool Softcap>
__global__ void __launch_bounds__(Traits::kThreads, 1) flash_bwd_kernel(const FlashBwdParams p, const bool double_buffer) {
  using T = typename Traits::Element;
  constexpr int kD = Traits::kHeadDim, kBM = Traits::kBlockM, kBN = Traits::kBlockN;
  constexpr int kS = Traits::kSmemStride, kPS = Traits::kPStride;
  constexpr int kAMT = Traits::kAMT, kBNT = Traits::kBNT, kCMT = Traits::kCMT, kCNT = Traits::kCNT;
  const FlashParams& f = p.fwd;

  extern __shared__ __align__(16) unsigned char smem_raw[];
  uint16_t* sK = reinterpret_cast<uint16_t*>(smem_raw);
  uint16_t* sV = sK + kBN * kS;
  uint16_t* sP = sV + kBN * kS;   // round(P) [row][key]
  uint16_t* sdS = sP + kBM * kPS;  // round(dS) [row][key]
  // LSE and D = rowsum(dO ∘ O) of a query block, streamed in with its Q and dO (two buffers): read
  // from global after the GEMMs, their latency was the largest stall left (ncu, d64: 50k samples).
  float* sStat0 = reinterpret_cast<float*>(sdS + kBM * kPS);
  uint16_t* sQ0 = reinterpret_cast<uint16_t*>(sStat0 + 4 * kBM);  // Q, dO of a query block; the next block's follow when double-buffered

  const int n_block = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
  const int hk = h / f.group;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, g = lane / 4, t = lane % 4;
  const int n0 = n_block * kBN;
  const int kv_len = kv_length(f, b);
  const int n1 = min(n0 + kBN, kv_len) - 1;  // last key of the tile a row can see

  const uint16_t* qg = static_cast<const uint16_t*>(f.q) + b * f.q_batch_stride + h * f.q_head_stride;
  const uint16_t* kg = static_cast<const uint16_t*>(f.k) + b * f.k_batch_stride + hk * f.k_head_stride;
  const uint16_t* vg = static_cast<const uint16_t*>(f.v) + b * f.v_batch_stride + hk * f.v_head_stride;
  const uint16_t* dog = static_cast<const uint16_t*>(p.dout) + b * f.o_batch_stride + h * f.o_head_stride;
  const int64_t row_base = (int64_t(b) * f.heads_q + h) * f.seq_q;

  // Query rows that see a key of this tile: i + off - left <= n1 and i + off + right >= n0.
  int m_lo = 0, m_hi = f.seq_q - 1;
  if (f.window_right >= 0) m_lo = max(m_lo, static_cast<int>(n0 - f.diag_offset - f.window_right));
  if (f.window_left >= 0) m_hi = min(m_hi, static_cast<int>(n1 - f.diag_offset + f.window_left));
  if (f.cu_seqlens && n1 >= n0) {  // packed: only the rows of the sequences holding the tile's keys
    int64_t b0, e0, b1, e1;
    sequence_of(f, n0, &b0, &e0);
    sequence_of(f, n1, &b1, &e1);
    m_lo = max(m_lo, static_cast<int>(b0));
    m_hi = min(m_hi, static_cast<int>(e1) - 1);
  }
  const int mb_begin = n1 < n0 ? 0 : m_lo / kBM, mb_end = (n1 < n0 || m_hi < m_lo) ? 0 : m_hi / kBM + 1;

  auto load_q_do = [&](int mb, int buf) {
    const int m0 = mb * kBM, rows = min(kBM, f.seq_q - m0);
    uint16_t* sq = sQ0 + buf * 2 * kBM * kS;
    load_tile_async<Traits, kBM>(sq, qg + int64_t(m0) * f.q_row_stride, f.q_row_stride, rows, f.d, f.vec16);
    load_tile_async<Traits, kBM>(sq + kBM * kS, dog + int64_t(m0) * f.o_row_stride, f.o_row_stride, rows, f.dv,
                                 f.vec16);
    float* st = sStat0 + (buf & 1) * 2 * kBM;
    load_floats_async<Traits::kThreads>(st, f.lse + row_base + m0, kBM, rows);
    load_floats_async<Traits::kThreads>(st + kBM, p.dsum + row_base + m0, kBM, rows);
  };
  const int kv_rows = min(kBN, f.seq_k - n0);
  load_tile_async<Traits, kBN>(sK, kg + int64_t(n0) * f.k_row_stride, f.k_row_stride, kv_rows, f.d, f.vec16);
  load_tile_async<Traits, kBN>(sV, vg + int64_t(n0) * f.v_row_stride, f.v_row_stride, kv_rows, f.dv, f.vec16);
  if (mb_begin < mb_end) load_q_do(mb_begin, 0);
  cp_async_commit();

  // ldmatrix row addresses (32-bit shared) per operand layout; fragment loops add constant offsets.
  auto a_rows = [&](const uint16_t* s, int stride, int r0) {  // A from [M][K] storage
    return smem_addr(s + (r0 + (lane % 16)) * stride + (lane / 16) * 8);
  };
  auto a_trans = [&](const uint16_t* s, int stride, int m0) {  // A from [K][M] storage (.trans)
    return smem_addr(s + ((lane / 16) * 8 + (lane % 8)) * stride + m0 + ((lane / 8) % 2) * 8);
  };
  auto b_rows = [&](const uint16_t* s, int stride, int n0r) {  // B from [N][K] storage
    return smem_addr(s + (n0r + (lane / 16) * 8 + (lane % 8)) * stride + ((lane / 8) % 2) * 8);
  };
  auto b_trans = [&](const uint16_t* s, int stride, int n0c) {  // B from [K][N] storage (.trans)
    return smem_addr(s + (lane % 16) * stride + n0c + (lane / 16) * 8);
  };

  // This warp's slices. A (S, dP): rows a_r0 + [0, 16 kAMT), keys a_c0 + [0, 32).
  // B (dV, dK): keys b_k0 + [0, 32), head dims b_d0 + [0, 8 kBNT). C (dQ): rows c_r0 + [0, 16 kCMT),
  // head dims c_d0 + [0, 8 kCNT).
  const int a_r0 = (warp / Traits::kAWarpsN) * kAMT * 16, a_c0 = (warp % Traits::kAWarpsN) * 32;
  const int b_k0 = (warp / Traits::kBWarpsD) * 32, b_d0 = (warp % Traits::kBWarpsD) * kBNT * 8;
  const int c_r0 = (warp / Traits::kCWarpsD) * kCMT * 16, c_d0 = (warp % Traits::kCWarpsD) * kCNT * 8;

  float dv_acc[2][kBNT][4], dk_acc[2][kBNT][4];
#pragma unroll
  for (int mt = 0; mt < 2; ++mt)
#pragma unroll
    for (int i = 0; i < kBNT; ++i)
#pragma unroll
      for (int e = 0; e < 4; ++e) dv_acc[mt][i][e] = dk_acc[mt][i][e] = 0.f;

  for (int mb = mb_begin; mb < mb_end; ++mb) {
    const int m0 = mb * kBM;
    const int buf = double_buffer ? ((mb - mb_begin) & 1) : 0;
    uint16_t* sQ = sQ0 + buf * 2 * kBM * kS;
    uint16_t* sdO = sQ + kBM * kS;
    const float* sLse = sStat0 + buf * 2 * kBM;
    const float* sD = sLse + kBM;
    cp_async_wait<0>();
    __syncthreads();  // this block's Q, dO have landed; the previous step is done with sP, sdS and its buffer
    if (double_buffer && mb + 1 < mb_end) {
      load_q_do(mb + 1, (mb + 1 - mb_begin) & 1);
      cp_async_commit();
    }

    // dP = dO·Vᵀ, then S = Q·Kᵀ (columns past d are zero in shared memory).
    float dp[kAMT][4][4], s[kAMT][4][4];
    auto gemm_a = [&](float (&acc)[kAMT][4][4], const uint16_t* sa, const uint16_t* sb) {
#pragma unroll
      for (int mt = 0; mt < kAMT; ++mt)
#pragma unroll
        for (int i = 0; i < 4; ++i) acc[mt][i][0] = acc[mt][i][1] = acc[mt][i][2] = acc[mt][i][3] = 0.f;
      const uint32_t a_addr = a_rows(sa, kS, a_r0), b_addr = b_rows(sb, kS, a_c0);
#pragma unroll
      for (int ks = 0; ks < kD / 16; ++ks) {
        uint32_t a[kAMT][4];
#pragma unroll
        for (int mt = 0; mt < kAMT; ++mt) ldmatrix_x4(a[mt], a_addr + (mt * 16 * kS + ks * 16) * 2);
#pragma unroll
        for (int np = 0; np < 2; ++np) {
          uint32_t bb[4];
          ldmatrix_x4(bb, b_addr + (np * 16 * kS + ks * 16) * 2);
#pragma unroll
          for (int mt = 0; mt < kAMT; ++mt) mma_16816_pair<T>(acc[mt][2 * np], acc[mt][2 * np + 1], a[mt], bb);
        }
      }
    };
    gemm_a(dp, sdO, sV);
    gemm_a(s, sQ, sK);

    // P = exp(S·scale (softcapped) - LSE), 0 where the key is masked; dS = P (dP - D) (· (1 - tanh²)).
    // The softcap and the mask are decided once a step, not per score: a tile every row of the block
    // sees whole (the bulk of a causal or unmasked layer) takes one FFMA, an ex2, a subtract and a
    // multiply per score (ncu on the first version: the per-score tests issued more instructions
    // than the GEMMs).
    const KeyRange every_row = visible_keys(f, min(m0 + kBM, f.seq_q) - 1, m0, kv_len);
    const bool whole_tile = m0 + kBM <= f.seq_q && every_row.begin <= n0 && every_row.end >= n0 + kBN;
    const float scale_log2 = f.scale * kLog2e;
#pragma unroll
    for (int mt = 0; mt < kAMT; ++mt)
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        const int rl = a_r0 + mt * 16 + g + 8 * i;
        const int64_t row = m0 + rl;
        float lse_log2 = INFINITY, di = 0.f;  // a row past the end or that saw nothing: P = exp(x - inf) = 0
        if (row < f.seq_q) {
          const float lse = sLse[rl];
          if (lse > -INFINITY) lse_log2 = lse * kLog2e;
          di = sD[rl];
        }
        // The keys of the tile this row sees, [lo, hi) (not needed where every row sees the whole tile).
        auto bounds = [&](int* lo, int* hi) {
          *lo = *hi = 0;
          if (row < f.seq_q) row_bounds<kBN>(f, row, kv_len, n0, lo, hi);
        };
        float pv[4][2], ds[4][2];
        if constexpr (Softcap) {
          int lo, hi;
          bounds(&lo, &hi);
#pragma unroll
          for (int nt = 0; nt < 4; ++nt)
#pragma unroll
            for (int e = 0; e < 2; ++e) {
              const int c = a_c0 + nt * 8 + 2 * t + e;
              const float th = tanhf(s[mt][nt][2 * i + e] * f.scale / f.softcap);
              pv[nt][e] = (c < lo || c >= hi) ? 0.f : exp_from(f.softcap * th, lse_log2);
              ds[nt][e] = pv[nt][e] * (dp[mt][nt][2 * i + e] - di) * (1.f - th * th);
            }
        } else if (whole_tile) {
#pragma unroll
          for (int nt = 0; nt < 4; ++nt)
#pragma unroll
            for (int e = 0; e < 2; ++e) {
              pv[nt][e] = exp2_approx(fmaf(s[mt][nt][2 * i + e], scale_log2, -lse_log2));
              ds[nt][e] = pv[nt][e] * (dp[mt][nt][2 * i + e] - di);
            }
        } else {
          int lo, hi;
          bounds(&lo, &hi);
#pragma unroll
          for (int nt = 0; nt < 4; ++nt)
#pragma unroll
            for (int e = 0; e < 2; ++e) {
              const int c = a_c0 + nt * 8 + 2 * t + e;
              pv[nt][e] = (c < lo || c >= hi) ? 0.f : exp2_approx(fmaf(s[mt][nt][2 * i + e], scale_log2, -lse_log2));
              ds[nt][e] = pv[nt][e] * (dp[mt][nt][2 * i + e] - di);
            }
        }
#pragma unroll
        for (int nt = 0; nt < 4; ++nt) {
          const int c = a_c0 + nt * 8 + 2 * t;
          float r0, r1;
          *reinterpret_cast<uint32_t*>(sP + rl * kPS + c) = pack_round<T>(pv[nt][0], pv[nt][1], &r0, &r1);
          *reinterpret_cast<uint32_t*>(sdS + rl * kPS + c) = pack_round<T>(ds[nt][0], ds[nt][1], &r0, &r1);
        }
      }
    __syncthreads();  // round(P), round(dS) complete

    // dV += round(P)ᵀ·dO, dK += round(dS)ᵀ·Q for keys b_k0 + [0, 32), head dims b_d0 + [0, 8 kBNT).
    {
      const uint32_t p_addr = a_trans(sP, kPS, b_k0), ds_addr = a_trans(sdS, kPS, b_k0);
      const uint32_t do_addr = b_trans(sdO, kS, b_d0), q_addr = b_trans(sQ, kS, b_d0);
#pragma unroll
      for (int kk = 0; kk < kBM / 16; ++kk) {
        uint32_t ap[2][4], ads[2][4];
#pragma unroll
        for (int mt = 0; mt < 2; ++mt) {
          ldmatrix_x4_trans(ap[mt], p_addr + (kk * 16 * kPS + mt * 16) * 2);
          ldmatrix_x4_trans(ads[mt], ds_addr + (kk * 16 * kPS + mt * 16) * 2);
        }
#pragma unroll
        for (int dpair = 0; dpair < kBNT / 2; ++dpair) {
          uint32_t bdo[4], bq[4];
          ldmatrix_x4_trans(bdo, do_addr + (kk * 16 * kS + dpair * 16) * 2);
          ldmatrix_x4_trans(bq, q_addr + (kk * 16 * kS + dpair * 16) * 2);
#pragma unroll
          for (int mt = 0; mt < 2; ++mt) {
            mma_16816_pair<T>(dv_acc[mt][2 * dpair], dv_acc[mt][2 * dpair + 1], ap[mt], bdo);
            mma_16816_pair<T>(dk_acc[mt][2 * dpair], dk_acc[mt][2 * dpair + 1], ads[mt], bq);
          }
        }
      }
    }

    // dQ (rows c_r0 + [0, 16 kCMT), head dims c_d0 + [0, 8 kCNT)) += round(dS)·K, into dq_accum.
    {
      float dq[kCMT][kCNT][4];
#pragma unroll
      for (int mt = 0; mt < kCMT; ++mt)
#pragma unroll
        for (int i = 0; i < kCNT; ++i) dq[mt][i][0] = dq[mt][i][1] = dq[mt][i][2] = dq[mt][i][3] = 0.f;
      const uint32_t ds_addr = a_rows(sdS, kPS, c_r0), k_addr = b_trans(sK, kS, c_d0);
#pragma unroll
      for (int kk = 0; kk < kBN / 16; ++kk) {
        uint32_t a[kCMT][4];
#pragma unroll
        for (int mt = 0; mt < kCMT; ++mt) ldmatrix_x4(a[mt], ds_addr + (mt * 16 * kPS + kk * 16) * 2);
#pragma unroll
        for (int dpair = 0; dpair < kCNT / 2; ++dpair) {
          uint32_t bk[4];
          ldmatrix_x4_trans(bk, k_addr + (kk * 16 * kS + dpair * 16) * 2);
#pragma unroll
          for (int mt = 0; mt < kCMT; ++mt) mma_16816_pair<T>(dq[mt][2 * dpair], dq[mt][2 * dpair + 1], a[mt], bk);
        }
      }
      const bool pairs = f.d % 2 == 0;  // 8-byte aligned column pairs
#pragma unroll
      for (int mt = 0; mt < kCMT; ++mt)
#pragma unroll
        for (int i = 0; i < 2; ++i) {
          const int64_t row = m0 + c_r0 + mt * 16 + g + 8 * i;
          if (row >= f.seq_q) continue;
          float* dqa = p.dq_accum + (row_base + row) * f.d;
#pragma unroll
          for (int nt = 0; nt < kCNT; ++nt) {
            const int col = c_d0 + nt * 8 + 2 * t;
            if (pairs && col + 1 < f.d) {
              red_add2(dqa + col, dq[mt][nt][2 * i], dq[mt][nt][2 * i + 1]);
            } else {
              if (col < f.d) atomicAdd(dqa + col, dq[mt][nt][2 * i]);
              if (col + 1 < f.d) atomicAdd(dqa + col + 1, dq[mt][nt][2 * i + 1]);
            }
          }
        }
    }
    if (!double_buffer && mb + 1 < mb_end) {
      __syncthreads();  // every warp is done with Q and dO
      load_q_do(mb + 1, 0);
      cp_async_commit();
    }
  }
  cp_async_wait<0>();  // a block that saw no query rows still committed K and V

  // Epilogue: this query head's dV = round(acc) and dK = round(scale · acc).
  auto store = [&](float (&acc)[2][kBNT][4], float mul, int width, void* dst_head) {
    uint16_t* dst = static_cast<uint16_t*>(dst_head) + ((int64_t(b) * f.heads_q + h) * f.seq_k) * width;
    const bool pairs = width % 2 == 0;
#pragma unroll
    for (int mt = 0; mt < 2; ++mt)
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        const int64_t key = n0 + b_k0 + mt * 16 + g + 8 * i;
        if (key >= f.seq_k) continue;
#pragma unroll
        for (int nt = 0; nt < kBNT; ++nt) {
          const int col = b_d0 + nt * 8 + 2 * t;
          float r0, r1;
          const uint32_t v = pack_round<T>(acc[mt][nt][2 * i] * mul, acc[mt][nt][2 * i + 1] * mul, &r0, &r1);
          if (pairs && col + 1 < width) {
            *reinterpret_cast<uint32_t*>(dst + key * width + col) = v;
          } else {
            if (col < width) dst[key * width + col] = v & 0xffffu;
            if (col + 1 < width) dst[key * width + col + 1] = v >> 16;
          }
        }
      }
  };
  store(dv_acc, 1.f, f.dv, p.dv_head);
  store(dk_acc, f.scale, f.d, p.dk_head);
}

// dQ = round(scale · dq_accum); GQA: dK / dV = round(sum of the group's per-head values); dsinks.
template <class T>
__global__ void __launch_bounds__(256) flash_bwd_convert_kernel(const FlashBwdParams p) {
  const FlashParams& f = p.fwd;
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t n_dq = int64_t(f.batch) * f.heads_q * f.seq_q * f.d;
  if (i < n_dq) static_cast<T*>(p.dq)[i] = from_float<T>(p.dq_accum[i] * f.scale);
  if (f.group > 1) {
    const int64_t n_dk = int64_t(f.batch) * f.heads_kv * f.seq_k * f.d;
    const int64_t n_dv = int64_t(f.batch) * f.heads_kv * f.seq_k * f.dv;
    auto reduce = [&](int64_t idx, int width, const void* per_head, void* out) {
      const int64_t col = idx % width, key = (idx / width) % f.seq_k, hb = idx / (int64_t(width) * f.seq_k);
      const int hk = static_cast<int>(hb % f.heads_kv), b = static_cast<int>(hb / f.heads_kv);
      float sum = 0.f;
      for (int gi = 0; gi < f.group; ++gi) {
        const int h = hk * f.group + gi;
        sum += to_float<T>(static_cast<const T*>(per_head)[((int64_t(b) * f.heads_q + h) * f.seq_k + key) * width + col]);
      }
      static_cast<T*>(out)[idx] = from_float<T>(sum);
    };
    if (i < n_dk) reduce(i, f.d, p.dk_head, p.dk);
    if (i < n_dv) reduce(i, f.dv, p.dv_head, p.dv);
  }
  if (p.dsinks && i < f.heads_q) p.dsinks[i] = round_to<T>(p.dsink_accum[i]);
}

}  // namespace attnscope::cuda
