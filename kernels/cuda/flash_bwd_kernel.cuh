// The flash2 / sink backward: FlashAttention-2's algorithm on mma.sync m16n8k16 tensor cores, with the
// rounding points of the CPU version (kernels/cpu/fused_backward.cpp):
//   preprocess: D_i = rowsum(dO_i ∘ O_i) in fp32; dq_accum = 0; sinks: dsink_h -= exp(s_h - LSE_i) D_i.
//   main (one block per 64-key tile of one (batch, query head); 8 warps), per 64-row query block that
//     sees the tile: S = Q·Kᵀ·scale (softcap: c·tanh(S/c)), P = exp(S - LSE) recomputed in fp32
//     (warps 0-3), dP = dO·Vᵀ in fp32 (warps 4-7); dS = P (dP - D) (· (1 - tanh²)) rounded to the
//     model dtype, P rounded too; then dV += round(P)ᵀ·dO (warps 0-3), dK += round(dS)ᵀ·Q (warps
//     4-7), dQ += round(dS)·K (all 8 warps, atomically into dq_accum across KV tiles).
//     Epilogue: dV_head = round(dV), dK_head = round(scale · dK) for this query head.
//   convert: dQ = round(scale · dq_accum); GQA: dK, dV = round(sum over the group of the per-head
//     rounded values) (mha_bwd's sum over dk_expanded); dsinks = round(dsink_accum).
// Correct first: loads are synchronous and every phase is separated by a barrier (a tuned version
// overlaps them as FA2 does; bench/README.md has the measured time against torch's).
#pragma once
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "kernels/cuda/flash_bwd_params.h"
#include "kernels/cuda/flash_traits.h"
#include "kernels/cuda/mask.cuh"
#include "kernels/cuda/mma_util.cuh"
#include "kernels/cuda/softmax.cuh"

namespace attnscope::cuda {

template <class Elem, int HeadDim>
struct FlashBwdTraits {
  using Element = Elem;
  static constexpr int kHeadDim = HeadDim;   // compiled head dim (the forward's list, kernels/flash_head_dims.h)
  static constexpr int kBlockM = 64;         // query rows per step
  static constexpr int kBlockN = 64;         // keys per block (the CPU version's default tile)
  static constexpr int kWarps = 8;           // 4 row slabs x {S | dP}, then {dV | dK} x 4 key slabs
  static constexpr int kThreads = kWarps * 32;
  static constexpr int kStride = kHeadDim + 8;  // 16-byte row padding: ldmatrix rows in distinct banks
  static constexpr int kPStride = kBlockN + 8;  // P and dS tiles (16-bit)
  static constexpr int kFStride = kBlockN + 4;  // fp32 exchange tiles (P, tanh)
  static constexpr int kSmemBytes = 4 * kBlockN * kStride * 2      // K, V, Q, dO
                                    + 2 * kBlockM * kFStride * 4    // P and tanh in fp32
                                    + 2 * kBlockM * kPStride * 2    // round(P), round(dS)
                                    + 2 * kBlockM * 4;              // LSE, D
  static_assert(kBlockM == kBlockN, "one 64 x 64 tile shape for S, dP, P and dS");
  static_assert((kHeadDim / 2) % 16 == 0, "dQ splits the head dim in two halves of whole ldmatrix.x4 pairs");
  static_assert(kSmemBytes <= 227 * 1024, "exceeds the sm80/sm90 per-block shared memory");
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

template <class Traits, bool Sinks>
__global__ void __launch_bounds__(Traits::kThreads, 1) flash_bwd_kernel(const FlashBwdParams p) {
  using T = typename Traits::Element;
  constexpr int kD = Traits::kHeadDim, kBM = Traits::kBlockM, kBN = Traits::kBlockN;
  constexpr int kS = Traits::kStride, kPS = Traits::kPStride, kFS = Traits::kFStride;
  constexpr int kNT = kBN / 8;  // n8 tiles of S / dP a warp holds (64 keys)
  constexpr int kDT = kD / 8;   // n8 tiles over the head dim
  const FlashParams& f = p.fwd;

  extern __shared__ __align__(16) unsigned char smem_raw[];
  uint16_t* sK = reinterpret_cast<uint16_t*>(smem_raw);
  uint16_t* sV = sK + kBN * kS;
  uint16_t* sQ = sV + kBN * kS;
  uint16_t* sdO = sQ + kBM * kS;
  float* sPf = reinterpret_cast<float*>(sdO + kBM * kS);  // P in fp32, [row][key]
  float* sTh = sPf + kBM * kFS;                           // tanh of the softcap, [row][key]
  uint16_t* sP = reinterpret_cast<uint16_t*>(sTh + kBM * kFS);  // round(P) [row][key]
  uint16_t* sdS = sP + kBM * kPS;                               // round(dS) [row][key]
  float* sLse = reinterpret_cast<float*>(sdS + kBM * kPS);
  float* sDsum = sLse + kBM;

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

  auto load = [&](uint16_t* s, const uint16_t* gsrc, int64_t stride, int rows, int cols) {
    for (int i = tid; i < 64 * kD; i += Traits::kThreads) {
      const int r = i / kD, c = i % kD;
      s[r * kS + c] = (r < rows && c < cols) ? gsrc[r * stride + c] : uint16_t(0);
    }
  };
  load(sK, kg + int64_t(n0) * f.k_row_stride, f.k_row_stride, min(kBN, f.seq_k - n0), f.d);
  load(sV, vg + int64_t(n0) * f.v_row_stride, f.v_row_stride, min(kBN, f.seq_k - n0), f.dv);

  // Query rows that see a key of this tile: i + off - left <= n1 and i + off + right >= n0.
  int m_lo = 0, m_hi = f.seq_q - 1;
  if (f.window_right >= 0) m_lo = max(m_lo, static_cast<int>(n0 - f.diag_offset - f.window_right));
  if (f.window_left >= 0) m_hi = min(m_hi, static_cast<int>(n1 - f.diag_offset + f.window_left));
  const int mb_begin = n1 < n0 ? 0 : m_lo / kBM, mb_end = (n1 < n0 || m_hi < m_lo) ? 0 : m_hi / kBM + 1;

  // Accumulators: warps 0-3 dV, warps 4-7 dK, for keys 16 * (warp % 4) + [0, 16) of the tile.
  float acc[kDT][4];
#pragma unroll
  for (int i = 0; i < kDT; ++i) acc[i][0] = acc[i][1] = acc[i][2] = acc[i][3] = 0.f;
  const int slab = warp % 4;  // 16 rows (phase A, C) or 16 keys (phase B) of the 64
  const bool first_half = warp < 4;

  // ldmatrix row addresses (32-bit shared) per operand layout; fragment loops add constant offsets.
  auto a_rows = [&](const uint16_t* s, int stride, int r0) {  // A from [M][K] storage
    return smem_addr(s + (r0 + (lane % 16)) * stride + (lane / 16) * 8);
  };
  auto a_trans = [&](const uint16_t* s, int stride, int m0) {  // A from [K][M] storage (.trans)
    return smem_addr(s + ((lane / 16) * 8 + (lane % 8)) * stride + m0 + ((lane / 8) % 2) * 8);
  };
  auto b_rows = [&](const uint16_t* s, int stride) {  // B from [N][K] storage
    return smem_addr(s + ((lane / 16) * 8 + (lane % 8)) * stride + ((lane / 8) % 2) * 8);
  };
  auto b_trans = [&](const uint16_t* s, int stride, int n0c) {  // B from [K][N] storage (.trans)
    return smem_addr(s + (lane % 16) * stride + n0c + (lane / 16) * 8);
  };

  for (int mb = mb_begin; mb < mb_end; ++mb) {
    const int m0 = mb * kBM;
    const int rows = min(kBM, f.seq_q - m0);
    __syncthreads();  // the previous step is done with every shared tile
    load(sQ, qg + int64_t(m0) * f.q_row_stride, f.q_row_stride, rows, f.d);
    load(sdO, dog + int64_t(m0) * f.o_row_stride, f.o_row_stride, rows, f.dv);
    for (int r = tid; r < kBM; r += Traits::kThreads) {
      const float lse = r < rows ? f.lse[row_base + m0 + r] : -INFINITY;
      sLse[r] = lse > -INFINITY ? lse : INFINITY;  // a row that saw nothing gets P = exp(x - inf) = 0
      sDsum[r] = r < rows ? p.dsum[row_base + m0 + r] : 0.f;
    }
    __syncthreads();

    // Phase A: warps 0-3 S (then P) and warps 4-7 dP, each for rows 16 * slab + [0, 16) x 64 keys.
    float s[kNT][4];
#pragma unroll
    for (int i = 0; i < kNT; ++i) s[i][0] = s[i][1] = s[i][2] = s[i][3] = 0.f;
    {
      const uint32_t a_addr = a_rows(first_half ? sQ : sdO, kS, 16 * slab);
      const uint32_t b_addr = b_rows(first_half ? sK : sV, kS);
#pragma unroll
      for (int ks = 0; ks < kD / 16; ++ks) {  // columns past d are zero in shared memory
        uint32_t a[4];
        ldmatrix_x4(a, a_addr + ks * 16 * 2);
#pragma unroll
        for (int np = 0; np < kNT / 2; ++np) {
          uint32_t bk[4];
          ldmatrix_x4(bk, b_addr + (np * 16 * kS + ks * 16) * 2);
          mma_16816<T>(s[2 * np], a, bk[0], bk[1]);
          mma_16816<T>(s[2 * np + 1], a, bk[2], bk[3]);
        }
      }
    }
    const int r_loc[2] = {16 * slab + g, 16 * slab + g + 8};
    if (first_half) {
      // P = exp(S * scale (softcapped) - LSE), 0 where the key is masked; fp32 and rounded copies.
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        const int64_t row = m0 + r_loc[i];
        int lo, hi;
        row_bounds<kBN>(f, row, kv_len, n0 + 2 * t, &lo, &hi);
        const float lse_log2 = sLse[r_loc[i]] * kLog2e;
#pragma unroll
        for (int nt = 0; nt < kNT; ++nt)
#pragma unroll
          for (int e = 0; e < 2; ++e) {
            const int c = nt * 8 + e;
            float x = s[nt][2 * i + e] * f.scale, th = 0.f;
            if (f.softcap > 0.f) {
              th = tanhf(x / f.softcap);
              x = f.softcap * th;
            }
            const float pv = (c < lo || c >= hi) ? 0.f : exp_from(x, lse_log2);
            const int col = c + 2 * t;
            sPf[r_loc[i] * kFS + col] = pv;
            sTh[r_loc[i] * kFS + col] = th;
            float r0, r1;
            sP[r_loc[i] * kPS + col] = pack_round<T>(pv, 0.f, &r0, &r1) & 0xffffu;
          }
      }
    }
    __syncthreads();
    if (!first_half) {
      // dS = P (dP - D) (· (1 - tanh²)), rounded.
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        const float di = sDsum[r_loc[i]];
#pragma unroll
        for (int nt = 0; nt < kNT; ++nt)
#pragma unroll
          for (int e = 0; e < 2; ++e) {
            const int col = nt * 8 + 2 * t + e;
            const float pv = sPf[r_loc[i] * kFS + col];
            float ds = pv * (s[nt][2 * i + e] - di);
            if (f.softcap > 0.f) {
              const float th = sTh[r_loc[i] * kFS + col];
              ds *= 1.f - th * th;
            }
            float r0, r1;
            sdS[r_loc[i] * kPS + col] = pack_round<T>(ds, 0.f, &r0, &r1) & 0xffffu;
          }
      }
    }
    __syncthreads();

    // Phase B: dV += round(P)ᵀ·dO (warps 0-3), dK += round(dS)ᵀ·Q (warps 4-7), keys 16 * slab + [0, 16).
    {
      const uint32_t a_addr = a_trans(first_half ? sP : sdS, kPS, 16 * slab);
      const uint16_t* bsrc = first_half ? sdO : sQ;
#pragma unroll
      for (int kk = 0; kk < kBM / 16; ++kk) {
        uint32_t a[4];
        ldmatrix_x4_trans(a, a_addr + kk * 16 * kPS * 2);
        const uint32_t b_addr = b_trans(bsrc, kS, 0) + kk * 16 * kS * 2;
#pragma unroll
        for (int dp = 0; dp < kDT / 2; ++dp) {
          uint32_t bv[4];
          ldmatrix_x4_trans(bv, b_addr + dp * 16 * 2);
          mma_16816<T>(acc[2 * dp], a, bv[0], bv[1]);
          mma_16816<T>(acc[2 * dp + 1], a, bv[2], bv[3]);
        }
      }
    }

    // Phase C: dQ (rows 16 * slab + [0, 16), head-dim half warp / 4) += round(dS)·K, into dq_accum.
    {
      constexpr int kHalfT = kDT / 2;  // n8 tiles of one half of the head dim
      float dq[kHalfT][4];
#pragma unroll
      for (int i = 0; i < kHalfT; ++i) dq[i][0] = dq[i][1] = dq[i][2] = dq[i][3] = 0.f;
      const int c0 = (warp / 4) * (kD / 2);
      const uint32_t a_addr = a_rows(sdS, kPS, 16 * slab);
#pragma unroll
      for (int kk = 0; kk < kBN / 16; ++kk) {
        uint32_t a[4];
        ldmatrix_x4(a, a_addr + kk * 16 * 2);
        const uint32_t b_addr = b_trans(sK, kS, c0) + kk * 16 * kS * 2;
#pragma unroll
        for (int dp = 0; dp < kHalfT / 2; ++dp) {
          uint32_t bv[4];
          ldmatrix_x4_trans(bv, b_addr + dp * 16 * 2);
          mma_16816<T>(dq[2 * dp], a, bv[0], bv[1]);
          mma_16816<T>(dq[2 * dp + 1], a, bv[2], bv[3]);
        }
      }
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        const int64_t row = m0 + r_loc[i];
        if (row >= f.seq_q) continue;
        float* dqa = p.dq_accum + (row_base + row) * f.d;
#pragma unroll
        for (int nt = 0; nt < kHalfT; ++nt)
#pragma unroll
          for (int e = 0; e < 2; ++e) {
            const int col = c0 + nt * 8 + 2 * t + e;
            if (col < f.d) atomicAdd(dqa + col, dq[nt][2 * i + e]);
          }
      }
    }
  }

  // Epilogue: this query head's dV = round(acc) (warps 0-3) and dK = round(scale · acc) (warps 4-7).
  const float mul = first_half ? 1.f : f.scale;
  const int width = first_half ? f.dv : f.d;
  uint16_t* dst = static_cast<uint16_t*>(first_half ? p.dv_head : p.dk_head) +
                  ((int64_t(b) * f.heads_q + h) * f.seq_k) * width;
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    const int64_t key = n0 + 16 * slab + g + 8 * i;
    if (key >= f.seq_k) continue;
#pragma unroll
    for (int nt = 0; nt < kDT; ++nt)
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        const int col = nt * 8 + 2 * t + e;
        float r0, r1;
        if (col < width) dst[key * width + col] = pack_round<T>(acc[nt][2 * i + e] * mul, 0.f, &r0, &r1) & 0xffffu;
      }
  }
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
