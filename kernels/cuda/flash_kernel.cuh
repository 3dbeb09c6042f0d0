// The flash2 / sink forward kernel for sm80-sm89 (and the fallback on sm90): FlashAttention-2 on
// mma.sync m16n8k16 tensor cores. One block = 64 query rows of one (batch, query head); 4 warps of 16
// rows each (flash_traits.h). Per 64-key tile: S = Q·Kᵀ (fp32), scale/softcap/mask, online softmax
// (running max m, running sum l of the fp32 p), P rounded to the input dtype, O += P·V (fp32). Epilogue O / L, L = l (+ exp(sink - m)).
//   Sinks=true : m starts at the head's sink logit; the sink joins the denominator at the end.
//   Probe=true : also writes ProbeData (result.h) for the probed (batch, head, rows); the Probe=false
//                instantiation contains none of that code.
//   Mask=true  : an explicit mask (p.mask: boolean, 0 = masked, or additive) read per element after
//                scale and softcap: sdpa's memory-efficient backend (PyTorch's attn_mask semantics).
// Tiles wholly outside the visible key range of the block (causal, windows, padding) are skipped
// through the loop bounds; only tiles that straddle a boundary evaluate the per-element mask.
#pragma once
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "kernels/cuda/flash_params.h"
#include "kernels/cuda/flash_traits.h"
#include "kernels/cuda/mask.cuh"
#include "kernels/cuda/mma_util.cuh"
#include "kernels/cuda/probe.cuh"
#include "kernels/cuda/softmax.cuh"
#include "kernels/cuda/tile_load.cuh"

namespace attnscope::cuda {

template <class Traits, bool Sinks, bool Probe, bool Mask>
__global__ void __launch_bounds__(Traits::kThreads, Traits::kMinBlocksPerSm) flash_fwd_kernel(const FlashParams p) {
  using T = typename Traits::Element;
  constexpr int kBM = Traits::kBlockM, kBN = Traits::kBlockN, kS = Traits::kSmemStride;
  constexpr int kST = Traits::kSTiles, kOT = Traits::kOTiles;

  extern __shared__ __align__(16) unsigned char smem_raw[];
  uint16_t* sQ = reinterpret_cast<uint16_t*>(smem_raw);
  uint16_t* sK = sQ + kBM * kS;
  uint16_t* sV = sK + kBN * kS;

  // Causal blocks further down hold more tiles: launched first, the tail of the grid is short.
  const int m_block = p.reverse_blocks ? gridDim.x - 1 - blockIdx.x : blockIdx.x, h = blockIdx.y, b = blockIdx.z;
  const int hk = h / p.group;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int g = lane / 4, t = lane % 4;  // MMA fragment coordinates: row group, thread in quad
  const int m0 = m_block * kBM;
  // The two rows this thread owns: fragment rows g and g + 8 of its warp's 16.
  const int64_t row[2] = {m0 + warp * Traits::kWarpRows + g, m0 + warp * Traits::kWarpRows + g + 8};

  // This lane's ldmatrix row addresses (32-bit shared), the fragment loops add constant offsets.
  const uint32_t q_frag = smem_addr(sQ + (warp * Traits::kWarpRows + (lane % 16)) * kS + (lane / 16) * 8);
  const uint32_t k_frag = smem_addr(sK + ((lane / 16) * 8 + (lane % 8)) * kS + ((lane / 8) % 2) * 8);
  const uint32_t v_frag = smem_addr(sV + (lane % 16) * kS + (lane / 16) * 8);

  const uint16_t* qg = static_cast<const uint16_t*>(p.q) + b * p.q_batch_stride + h * p.q_head_stride;
  const uint16_t* kg = static_cast<const uint16_t*>(p.k) + b * p.k_batch_stride + hk * p.k_head_stride;
  const uint16_t* vg = static_cast<const uint16_t*>(p.v) + b * p.v_batch_stride + hk * p.v_head_stride;
  const int kv_len = kv_length(p, b);

  const int last_row = min(m0 + kBM, p.seq_q) - 1;
  int n_begin, n_end;
  visible_tiles<kBN>(p, m0, last_row, kv_len, &n_begin, &n_end);

  load_tile_async<Traits, kBM>(sQ, qg + int64_t(m0) * p.q_row_stride, p.q_row_stride, min(kBM, p.seq_q - m0), p.d,
                               p.vec16);
  // One K and one V buffer, loads staggered (FA2's order): V(t) streams in under S = Q·K(t) and the
  // softmax, K(t+1) under O += P·V(t). Half the shared memory of a double buffer (with 64-row
  // blocks, double-buffered K/V measured 1.31 ms vs 1.10 ms single).
  auto issue_k = [&](int nb) {
    const int n0 = nb * kBN;
    load_tile_async<Traits, kBN>(sK, kg + int64_t(n0) * p.k_row_stride, p.k_row_stride, min(kBN, p.seq_k - n0), p.d,
                                 p.vec16);
  };
  auto issue_v = [&](int nb) {
    const int n0 = nb * kBN;
    load_tile_async<Traits, kBN>(sV, vg + int64_t(n0) * p.v_row_stride, p.v_row_stride, min(kBN, p.seq_k - n0), p.dv,
                                 p.vec16);
  };
  if (n_begin < n_end) issue_k(n_begin);
  cp_async_commit();  // group: Q and the first K tile

  const float sink = Sinks ? p.sinks[h] : -INFINITY;
  float m_run[2] = {sink, sink}, l_run[2] = {0.f, 0.f};  // running max; this thread's share of the sum
  float acc_o[kOT][4];
#pragma unroll
  for (int i = 0; i < kOT; ++i) acc_o[i][0] = acc_o[i][1] = acc_o[i][2] = acc_o[i][3] = 0.f;

  const bool probing = Probe && probe_block(p, b, h, m0, kBM);
  if constexpr (Probe) {
    if (probing && t == 0)  // tiles before the first visited one: the initial state
#pragma unroll
      for (int i = 0; i < 2; ++i)
        if (probe_row(p, row[i])) probe_fill(p, row[i], 0, n_begin, sink, 0.f);
  }

  for (int nb = n_begin; nb < n_end; ++nb) {
    const int n0 = nb * kBN;
    issue_v(nb);
    cp_async_commit();
    cp_async_wait<1>();  // Q and K(nb) have landed; V(nb) may still be in flight
    __syncthreads();

    // S = Q·Kᵀ for this warp's 16 rows x 64 keys.
    float s[kST][4];
#pragma unroll
    for (int i = 0; i < kST; ++i) s[i][0] = s[i][1] = s[i][2] = s[i][3] = 0.f;
#pragma unroll
    for (int ks = 0; ks < Traits::kKSteps; ++ks) {
      uint32_t a[4];
      ldmatrix_x4(a, q_frag + ks * 16 * 2);
#pragma unroll
      for (int np = 0; np < kST / 2; ++np) {
        uint32_t bk[4];
        ldmatrix_x4(bk, k_frag + (np * 16 * kS + ks * 16) * 2);
        mma_16816<T>(s[2 * np], a, bk[0], bk[1]);
        mma_16816<T>(s[2 * np + 1], a, bk[2], bk[3]);
      }
    }

    // Scale, softcap, mask. A tile inside the visible region of every row of the block skips the
    // per-element test.
    const KeyRange inner = visible_keys(p, last_row, m0, kv_len);  // keys every row sees
    const bool whole = n0 >= inner.begin && n0 + kBN <= inner.end;
    scale_scores<kST * 4>(p, &s[0][0]);
    if (!whole) {
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        int lo, hi;
        row_bounds<kBN>(p, row[i], kv_len, n0 + 2 * t, &lo, &hi);
#pragma unroll
        for (int nt = 0; nt < kST; ++nt)
#pragma unroll
          for (int e = 0; e < 2; ++e) {
            const int c = nt * 8 + e;
            if (c < lo || c >= hi) s[nt][2 * i + e] = -INFINITY;
          }
      }
    }
    if constexpr (Mask) {
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        if (row[i] >= p.seq_q) continue;
        const float* mrow = p.mask + b * p.m_batch_stride + h * p.m_head_stride + row[i] * p.m_row_stride;
#pragma unroll
        for (int nt = 0; nt < kST; ++nt)
#pragma unroll
          for (int e = 0; e < 2; ++e) {
            const int64_t col = n0 + nt * 8 + 2 * t + e;
            if (col >= p.seq_k) continue;
            const float mv = mrow[col];
            float& x = s[nt][2 * i + e];
            if (p.mask_kind == 1) x = mv != 0.f ? x : -INFINITY;
            else x += mv;
          }
      }
    }

    // Online softmax: new running max, rescale of l and O, p = exp(s - m).
    float base[2];  // the row's exponent base, times log2 e
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      float mx = m_run[i];
#pragma unroll
      for (int nt = 0; nt < kST; ++nt) mx = fmaxf(mx, fmaxf(s[nt][2 * i], s[nt][2 * i + 1]));
      mx = quad_max(mx);
      base[i] = softmax_base(mx) * kLog2e;
      const float alpha = exp_from(m_run[i], base[i]);
      m_run[i] = mx;
      l_run[i] *= alpha;
#pragma unroll
      for (int ot = 0; ot < kOT; ++ot) {
        acc_o[ot][2 * i] *= alpha;
        acc_o[ot][2 * i + 1] *= alpha;
      }
    }
    uint32_t pk[kST][2];  // P rounded to T, packed in the A-fragment order
#pragma unroll
    for (int nt = 0; nt < kST; ++nt) {
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        const float p0 = exp_from(s[nt][2 * i], base[i]);
        const float p1 = exp_from(s[nt][2 * i + 1], base[i]);
        l_run[i] += p0 + p1;  // FA2 sums the fp32 p, before rounding
        float r0, r1;
        pk[nt][i] = pack_round<T>(p0, p1, &r0, &r1);
        if constexpr (Probe) {
          s[nt][2 * i] = r0;  // keep the rounded values for the probe
          s[nt][2 * i + 1] = r1;
        }
      }
    }

    if constexpr (Probe) {
      if (probing) {
#pragma unroll
        for (int i = 0; i < 2; ++i) {
          const float l_full = quad_sum(l_run[i]);
          if (probe_row(p, row[i])) {
#pragma unroll
            for (int nt = 0; nt < kST; ++nt)
#pragma unroll
              for (int e = 0; e < 2; ++e) probe_p(p, row[i], n0 + nt * 8 + 2 * t + e, s[nt][2 * i + e]);
            if (t == 0) probe_stats(p, row[i], nb, m_run[i], l_full);
          }
        }
        if (tid == 0) p.probe_tile_used[nb] = 1;
      }
    }

    __syncthreads();  // every warp is done with K(nb)
    if (nb + 1 < n_end) {
      issue_k(nb + 1);
      cp_async_commit();
      cp_async_wait<1>();  // V(nb) has landed; K(nb+1) streams in under P·V
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();

    // O += P·V over the 64 keys, 16 at a time.
#pragma unroll
    for (int kk = 0; kk < Traits::kPVSteps; ++kk) {
      const uint32_t a[4] = {pk[2 * kk][0], pk[2 * kk][1], pk[2 * kk + 1][0], pk[2 * kk + 1][1]};
#pragma unroll
      for (int dp = 0; dp < kOT / 2; ++dp) {
        uint32_t bv[4];
        ldmatrix_x4_trans(bv, v_frag + (kk * 16 * kS + dp * 16) * 2);
        mma_16816<T>(acc_o[2 * dp], a, bv[0], bv[1]);
        mma_16816<T>(acc_o[2 * dp + 1], a, bv[2], bv[3]);
      }
    }
    __syncthreads();  // every warp is done with V(nb) before V(nb+1) overwrites it
  }
  cp_async_wait<0>();  // a block with no tile still committed Q's group

  // Epilogue: O / L, LSE = m + log(L); a row that saw no key (and no sink) gets O = 0, LSE = -inf.
  uint16_t* og = static_cast<uint16_t*>(p.out) + b * p.o_batch_stride + h * p.o_head_stride;
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    const float l_full = quad_sum(l_run[i]);
    if constexpr (Probe) {
      if (probing && t == 0 && probe_row(p, row[i]))  // tiles after the last visited
        probe_fill(p, row[i], max(n_end, n_begin), p.probe_tiles, m_run[i], l_full);
    }
    float lse;
    const float inv = row_inverse<Sinks>(l_full, m_run[i], sink, &lse);
    if (row[i] >= p.seq_q) continue;
    uint16_t* orow = og + row[i] * p.o_row_stride;
#pragma unroll
    for (int ot = 0; ot < kOT; ++ot) {
      const int col = ot * 8 + 2 * t;
      float r0, r1;
      const uint32_t packed = pack_round<T>(acc_o[ot][2 * i] * inv, acc_o[ot][2 * i + 1] * inv, &r0, &r1);
      if (col + 1 < p.dv && (p.dv % 2) == 0) {
        *reinterpret_cast<uint32_t*>(orow + col) = packed;
      } else {
        if (col < p.dv) orow[col] = static_cast<uint16_t>(packed & 0xffffu);
        if (col + 1 < p.dv) orow[col + 1] = static_cast<uint16_t>(packed >> 16);
      }
    }
    if (t == 0) p.lse[(int64_t(b) * p.heads_q + h) * p.seq_q + row[i]] = lse;
  }
}

}  // namespace attnscope::cuda
