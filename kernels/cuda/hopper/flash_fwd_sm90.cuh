// The flash2 / sink forward kernel for compute capability 9.x, after FlashAttention-3: TMA loads
// into 128-byte-swizzled shared memory, wgmma from shared memory (S = Q·Kᵀ) and with P from registers
// (O += P·V), warp specialisation with an mbarrier pipeline, and the softmax of one tile overlapped
// with the GEMMs of the next:
//   producer (warpgroup 0, one thread): per work item Q (when the consumers have released the previous
//     item's: q_empty), then K(j), V(j) into stage j % 2 when the consumers have released it
//     (k_empty / v_empty), each completing on q_full / k_full / v_full by transaction bytes;
//   consumers (warpgroups 1, 2; 64 rows each): S(0) = Q·K(0)ᵀ, softmax; then per tile j >= 1:
//     issue S(j) = Q·K(j)ᵀ, issue O += P(j-1)·V(j-1), wait for S(j) only, release K(j), mask and
//     softmax S(j) while P·V runs, wait for it, release V(j-1), rescale O, P(j) = round(p);
//     finally O += P(last)·V(last) and the epilogue O / L.
// Arithmetic as the sm80 kernel and the CPU versions (kernels/cpu/flash_cpu.cpp with kv_tile =
// kBlockN): S in fp32, scale / softcap / mask in fp32, running max and sum in fp32 (l sums the fp32 p),
// P rounded to the input dtype before P·V, O / L rounded once. Sinks: m starts at the sink logit and
// the sink joins L at the end. Probe=true adds the probe records (kernels/cuda/probe.cuh).
#pragma once
#include <cuda.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "kernels/cuda/flash_params.h"
#include "kernels/cuda/hopper/flash_traits_sm90.h"
#include "kernels/cuda/hopper/sm90_ptx.cuh"
#include "kernels/cuda/hopper/wgmma.cuh"
#include "kernels/cuda/mask.cuh"
#include "kernels/cuda/mma_util.cuh"
#include "kernels/cuda/probe.cuh"
#include "kernels/cuda/softmax.cuh"

namespace attnscope::cuda {

struct Sm90Barriers {
  uint64_t q_full[2], q_empty[2];
  uint64_t k_full[2], v_full[2];
  uint64_t k_empty[2], v_empty[2];
};

// One work item: 128 query rows of one (batch, query head). Block c takes items c, c + grid, ...: with
// a grid of one block per item that is one item; with a persistent grid (one block per SM,
// FlashAttention-3's static tile scheduler) the producer loads the next item's Q and K/V while the
// consumers finish the current one, and no block pays a prologue per item (with a 128-key window an
// item is two tiles: that prologue was most of its time).
// Row blocks run fastest, so the items in flight share their K/V in L2 (ordering heads fastest to put
// all heavy causal items first measured 12% slower on the H200: 132 heads' K/V prefixes outgrow L2);
// a causal layer takes each head's row blocks from the last (the heaviest) down.
struct WorkItem {
  int m_block, h, b;
};
__device__ __forceinline__ WorkItem work_item(const FlashParams& p, int w, int m_blocks) {
  WorkItem it;
  const int mb = w % m_blocks;
  it.m_block = p.reverse_blocks ? m_blocks - 1 - mb : mb;
  it.h = (w / m_blocks) % p.heads_q, it.b = w / (m_blocks * p.heads_q);
  return it;
}

template <class Traits, bool Sinks, bool Probe>
__global__ void __launch_bounds__(Traits::kThreads, 1)
    flash_fwd_sm90_kernel(const __grid_constant__ FlashParams p, const __grid_constant__ CUtensorMap map_q,
                          const __grid_constant__ CUtensorMap map_k, const __grid_constant__ CUtensorMap map_v) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)  // sm_90a only (kernels/cuda/CMakeLists.txt)
  using T = typename Traits::Element;
  using namespace sm90;
  constexpr int kBM = Traits::kBlockM, kBN = Traits::kBlockN, kD = Traits::kHeadDim, kS = Traits::kStages;
  constexpr int kCB = Traits::kColBlocks;

  extern __shared__ uint8_t smem_raw[];
  __shared__ Sm90Barriers bars;
  const uint32_t raw = smem_u32(smem_raw);
  uint8_t* base = smem_raw + (((raw + 1023) & ~1023u) - raw);  // swizzle atoms on 1024-byte boundaries
  constexpr int kQS = Traits::kQStages;
  T* sQ = reinterpret_cast<T*>(base);                                                // [kQS][kCB][kBM][64]
  T* sK = reinterpret_cast<T*>(base + kQS * Traits::kQBytes);                        // [kS][kCB][kBN][64]
  T* sV = reinterpret_cast<T*>(base + kQS * Traits::kQBytes + kS * Traits::kTileBytes);

  const int m_blocks = (p.seq_q + kBM - 1) / kBM;
  const int items = m_blocks * p.heads_q * p.batch;
  // The tiles an item visits (the same computation in producer and consumers).
  auto item_tiles = [&](const WorkItem& it, int* n_begin, int* n_end) {
    const int m0 = it.m_block * kBM;
    visible_tiles<kBN>(p, m0, min(m0 + kBM, p.seq_q) - 1, kv_length(p, it.b), n_begin, n_end);
  };

  const int tid = threadIdx.x, wg = tid / 128, warp_in_wg = (tid % 128) / 32, lane = tid % 32;
  if (tid == 0) {
    // Empty barriers are released by lane 0 of each consumer warp once its wgmma reading the buffer
    // has completed.
    for (int s = 0; s < kQS; ++s) {
      mbar_init(&bars.q_full[s], 1);
      mbar_init(&bars.q_empty[s], 4 * Traits::kConsumerWarpgroups);
    }
    for (int s = 0; s < kS; ++s) {
      mbar_init(&bars.k_full[s], 1);
      mbar_init(&bars.v_full[s], 1);
      mbar_init(&bars.k_empty[s], 4 * Traits::kConsumerWarpgroups);
      mbar_init(&bars.v_empty[s], 4 * Traits::kConsumerWarpgroups);
    }
    mbar_fence_init();
  }
  __syncthreads();

  if (wg == 0) {  // ---------------------------------------------------------------- producer
    setmaxnreg_dec<Traits::kProducerRegs>();
    if (warp_in_wg != 0 || !elect_one_lane()) return;
    tma_prefetch_descriptor(&map_q);
    tma_prefetch_descriptor(&map_k);
    tma_prefetch_descriptor(&map_v);
    int kv_it = 0;  // K/V tiles loaded so far by this block: stage kv_it % kS, use kv_it / kS
    int j = 0;      // items loaded so far
    for (int w = blockIdx.x; w < items; w += gridDim.x, ++j) {
      const WorkItem it = work_item(p, w, m_blocks);
      int n_begin, n_end;
      item_tiles(it, &n_begin, &n_end);
      const int qs = j % kQS;
      // The consumers' last S of the item that used this buffer before (kQS items ago).
      if (j >= kQS) mbar_wait(&bars.q_empty[qs], ((j / kQS) & 1) ^ 1);
      mbar_arrive_expect_tx(&bars.q_full[qs], Traits::kQBytes);
      T* q_dst = sQ + qs * (Traits::kQBytes / 2);
      for (int cb = 0; cb < kCB; ++cb)
        tma_load_3d(q_dst + cb * kBM * 64, &map_q, &bars.q_full[qs], cb * 64, it.m_block * kBM, it.b * p.heads_q + it.h);
      const int kv_head = it.b * p.heads_kv + it.h / p.group;
      for (int nb = n_begin; nb < n_end; ++nb, ++kv_it) {
        const int stage = kv_it % kS;
        const uint32_t reuse_parity = ((kv_it / kS) & 1) ^ 1;  // the consumers' release of the previous use
        T* k_dst = sK + stage * (Traits::kTileBytes / 2);
        T* v_dst = sV + stage * (Traits::kTileBytes / 2);
        if (kv_it >= kS) mbar_wait(&bars.k_empty[stage], reuse_parity);
        mbar_arrive_expect_tx(&bars.k_full[stage], Traits::kTileBytes);
        for (int cb = 0; cb < kCB; ++cb)
          tma_load_3d(k_dst + cb * kBN * 64, &map_k, &bars.k_full[stage], cb * 64, nb * kBN, kv_head);
        if (kv_it >= kS) mbar_wait(&bars.v_empty[stage], reuse_parity);
        mbar_arrive_expect_tx(&bars.v_full[stage], Traits::kTileBytes);
        for (int cb = 0; cb < kCB; ++cb)
          tma_load_3d(v_dst + cb * kBN * 64, &map_v, &bars.v_full[stage], cb * 64, nb * kBN, kv_head);
      }
    }
    return;
  }

  // -------------------------------------------------------------------------------------- consumers
  setmaxnreg_inc<Traits::kConsumerRegs>();
  const int ci = wg - 1;  // consumer index: rows [m0 + 64 ci, m0 + 64 ci + 64) of each item
  const int g = lane / 4, t = lane % 4;
  const uint32_t q_base0 = smem_u32(sQ) + ci * 64 * 128;
  uint32_t q_base = q_base0;  // this item's Q buffer
  const uint32_t k_base = smem_u32(sK), v_base = smem_u32(sV);
  float o[Traits::kOAcc];
  float s[Traits::kSAcc];
  uint32_t pk[Traits::kPSteps][4];  // P(j) in the A-fragment order of O += P·V
  auto release = [&](uint64_t* bar) {
    if (lane == 0) mbar_arrive(bar);
  };
  // S = Q·K(stage)ᵀ issued (not waited for).
  auto issue_s = [&](int stage) {
#pragma unroll
    for (int i = 0; i < Traits::kSAcc; ++i) fence_operand(s[i]);
    wgmma_fence();
#pragma unroll
    for (int k = 0; k < kD / 16; ++k) {
      const int cb = k / 4, kk = k % 4;
      const uint64_t da = make_desc_sw128(q_base + cb * kBM * 128 + kk * 32, 16, 1024);
      const uint64_t db =
          make_desc_sw128(k_base + stage * Traits::kTileBytes + cb * kBN * 128 + kk * 32, 16, 1024);
      wgmma_ss<T, kBN>(s, da, db, k > 0 ? 1 : 0);
    }
    wgmma_commit();
  };
  // O += P·V(stage) issued (not waited for).
  auto issue_pv = [&](int stage) {
#pragma unroll
    for (int i = 0; i < Traits::kOAcc; ++i) fence_operand(o[i]);
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < Traits::kPSteps; ++kk) {
      const uint64_t db = make_desc_sw128(v_base + stage * Traits::kTileBytes + kk * 2048, kBN * 128, 1024);
      wgmma_rs<T, kD>(o, pk[kk], db, 1);
    }
    wgmma_commit();
  };
  auto o_ready = [&] {  // after a wait: O and the P·V operand registers are settled
#pragma unroll
    for (int i = 0; i < Traits::kOAcc; ++i) fence_operand(o[i]);
#pragma unroll
    for (int kk = 0; kk < Traits::kPSteps; ++kk)
#pragma unroll
      for (int j = 0; j < 4; ++j) fence_operand_u32(pk[kk][j]);  // the A operand stayed live until here
  };
  auto s_ready = [&] {
#pragma unroll
    for (int i = 0; i < Traits::kSAcc; ++i) fence_operand(s[i]);
  };

  int kv_it = 0;  // K/V tiles consumed so far by this block (the producer's count)
  int j = 0;
  for (int w = blockIdx.x; w < items; w += gridDim.x, ++j) {
    const WorkItem item = work_item(p, w, m_blocks);
    const int h = item.h, b = item.b, m0 = item.m_block * kBM;
    const int kv_len = kv_length(p, b);
    const int last_row = min(m0 + kBM, p.seq_q) - 1;
    int n_begin, n_end;
    item_tiles(item, &n_begin, &n_end);
    const int n_tiles = n_end - n_begin;
    const int64_t row[2] = {m0 + 64 * ci + 16 * warp_in_wg + g, m0 + 64 * ci + 16 * warp_in_wg + g + 8};
    const KeyRange inner = visible_keys(p, last_row, m0, kv_len);  // keys every row of the item sees

    const float sink = Sinks ? p.sinks[h] : -INFINITY;
    float m_run[2] = {sink, sink}, l_run[2] = {0.f, 0.f};
#pragma unroll
    for (int i = 0; i < Traits::kOAcc; ++i) o[i] = 0.f;

    const bool probing = Probe && probe_block(p, b, h, m0, kBM);
    if constexpr (Probe) {
      if (probing && t == 0)
#pragma unroll
        for (int i = 0; i < 2; ++i)
          if (probe_row(p, row[i])) probe_fill(p, row[i], 0, n_begin, sink, 0.f);
    }

    // Ping-pong (FlashAttention-3's inter-warpgroup overlap): the two consumer warpgroups take turns
    // to issue their GEMMs (named barriers 1 and 2, 256 threads: my 128 wait, the other's 128 arrive),
    // so one's softmax runs under the other's GEMMs instead of both competing for the tensor cores.
    // Per item warpgroup 0 goes first and the last issue of warpgroup 1 hands over to nobody.
    const bool pingpong = p.sm90_pingpong && n_tiles > 0;
    int issues_left = n_tiles + 1;  // S(0), one S + P·V per further tile, the last P·V
    auto my_turn = [&] {
      if (pingpong) named_barrier_sync(1 + ci, 256);
    };
    auto your_turn = [&] {
      --issues_left;
      if (pingpong && !(ci == 1 && issues_left == 0)) named_barrier_arrive(2 - ci, 256);
    };
    if (pingpong && ci == 1) named_barrier_arrive(1, 256);

    // Mask S(tile nb) in place, then the online softmax: new running max, alpha, s = exp(s * scale - m)
    // in fp32, l = l * alpha + rowsum. Without a softcap the scale is folded into the exponent (one
    // FFMA and one ex2 per score: max(s * scale) = scale * max(s) for scale > 0); with one, s is
    // transformed first (softcap * tanh(s * scale / softcap)). m_run stays in scaled units.
    auto softmax = [&](int nb, float alpha[2]) {
      const int n0 = nb * kBN;
      const bool whole = n0 >= inner.begin && n0 + kBN <= inner.end;
      const bool transformed = p.softcap > 0.f || !(p.scale > 0.f);  // max(s * scale) != scale * max(s)
      if (transformed) scale_scores<Traits::kSAcc>(p, s);
      const float unit = transformed ? 1.f : p.scale;  // s -> scaled units
      const float unit_log2 = unit * kLog2e;
      if (!whole) {
#pragma unroll
        for (int i = 0; i < 2; ++i) {
          int lo, hi;
          row_bounds<kBN>(p, row[i], kv_len, n0 + 2 * t, &lo, &hi);
#pragma unroll
          for (int nt = 0; nt < kBN / 8; ++nt)
#pragma unroll
            for (int e = 0; e < 2; ++e) {
              const int c = nt * 8 + e;
              if (c < lo || c >= hi) s[4 * nt + 2 * i + e] = -INFINITY;
            }
        }
      }
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        float mx = -INFINITY;
#pragma unroll
        for (int nt = 0; nt < kBN / 8; ++nt) mx = fmaxf(mx, fmaxf(s[4 * nt + 2 * i], s[4 * nt + 2 * i + 1]));
        mx = fmaxf(m_run[i], quad_max(mx) * unit);
        const float base_i = softmax_base(mx) * kLog2e;
        alpha[i] = exp_from(m_run[i], base_i);
        m_run[i] = mx;
        float sum = 0.f;
#pragma unroll
        for (int nt = 0; nt < kBN / 8; ++nt) {
          const float p0 = exp2_approx(fmaf(s[4 * nt + 2 * i], unit_log2, -base_i));
          const float p1 = exp2_approx(fmaf(s[4 * nt + 2 * i + 1], unit_log2, -base_i));
          s[4 * nt + 2 * i] = p0;
          s[4 * nt + 2 * i + 1] = p1;
          sum += p0 + p1;
        }
        l_run[i] = l_run[i] * alpha[i] + sum;  // FA2 sums the fp32 p, before rounding
      }
    };
    // P = round(p) into the A fragments; the probe records the rounded values.
    auto pack_p = [&](int nb) {
#pragma unroll
      for (int kk = 0; kk < Traits::kPSteps; ++kk)
#pragma unroll
        for (int jj = 0; jj < 4; ++jj) {
          float r0, r1;
          pk[kk][jj] = pack_round<T>(s[8 * kk + 2 * jj], s[8 * kk + 2 * jj + 1], &r0, &r1);
          if constexpr (Probe) s[8 * kk + 2 * jj] = r0, s[8 * kk + 2 * jj + 1] = r1;
        }
      if constexpr (Probe) {
        if (probing) {
#pragma unroll
          for (int i = 0; i < 2; ++i) {
            const float l_full = quad_sum(l_run[i]);
            if (probe_row(p, row[i])) {
#pragma unroll
              for (int nt = 0; nt < kBN / 8; ++nt)
#pragma unroll
                for (int e = 0; e < 2; ++e)
                  probe_p(p, row[i], int64_t(nb) * kBN + nt * 8 + 2 * t + e, s[4 * nt + 2 * i + e]);
              if (t == 0) probe_stats(p, row[i], nb, m_run[i], l_full);
            }
          }
          if (ci == 0 && warp_in_wg == 0 && lane == 0) p.probe_tile_used[nb] = 1;
        }
      }
    };
    auto rescale_o = [&](const float alpha[2]) {
#pragma unroll
      for (int nt = 0; nt < kD / 8; ++nt) {
        o[4 * nt] *= alpha[0];
        o[4 * nt + 1] *= alpha[0];
        o[4 * nt + 2] *= alpha[1];
        o[4 * nt + 3] *= alpha[1];
      }
    };

    const int qs = j % kQS;
    q_base = q_base0 + qs * Traits::kQBytes;
    mbar_wait(&bars.q_full[qs], (j / kQS) & 1);
    if (n_tiles == 0) {
      release(&bars.q_empty[qs]);
    } else {
      float alpha[2];
      mbar_wait(&bars.k_full[kv_it % kS], (kv_it / kS) & 1);
      my_turn();
      issue_s(kv_it % kS);
      your_turn();
      wgmma_wait<0>();
      s_ready();
      release(&bars.k_empty[kv_it % kS]);
      if (n_tiles == 1) release(&bars.q_empty[qs]);
      softmax(n_begin, alpha);
      rescale_o(alpha);
      pack_p(n_begin);
      for (int it = 1; it < n_tiles; ++it) {
        const int cur = kv_it + it, prev = cur - 1;
        mbar_wait(&bars.k_full[cur % kS], (cur / kS) & 1);
        mbar_wait(&bars.v_full[prev % kS], (prev / kS) & 1);
        my_turn();
        issue_s(cur % kS);
        issue_pv(prev % kS);
        your_turn();
        wgmma_wait<1>();  // S(it) has landed; P·V(it - 1) may still run
        s_ready();
        release(&bars.k_empty[cur % kS]);
        if (it == n_tiles - 1) release(&bars.q_empty[qs]);  // the item's last read of Q
        softmax(n_begin + it, alpha);
        wgmma_wait<0>();
        o_ready();
        release(&bars.v_empty[prev % kS]);
        rescale_o(alpha);
        pack_p(n_begin + it);
      }
      const int last = kv_it + n_tiles - 1;
      mbar_wait(&bars.v_full[last % kS], (last / kS) & 1);
      my_turn();
      issue_pv(last % kS);
      your_turn();
      wgmma_wait<0>();
      o_ready();
      release(&bars.v_empty[last % kS]);
    }
    kv_it += n_tiles;

    // Epilogue: O / L, LSE = m + log(L); a row that saw no key (and no sink) gets O = 0, LSE = -inf.
    uint16_t* og = static_cast<uint16_t*>(p.out) + b * p.o_batch_stride + h * p.o_head_stride;
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      const float l_full = quad_sum(l_run[i]);
      if constexpr (Probe) {
        if (probing && t == 0 && probe_row(p, row[i]))
          probe_fill(p, row[i], max(n_end, n_begin), p.probe_tiles, m_run[i], l_full);
      }
      float lse;
      const float inv = row_inverse<Sinks>(l_full, m_run[i], sink, &lse);
      if (row[i] >= p.seq_q) continue;
      uint16_t* orow = og + row[i] * p.o_row_stride;
#pragma unroll
      for (int nt = 0; nt < kD / 8; ++nt) {
        const int col = nt * 8 + 2 * t;
        float r0, r1;
        const uint32_t packed = pack_round<T>(o[4 * nt + 2 * i] * inv, o[4 * nt + 2 * i + 1] * inv, &r0, &r1);
        if (col + 1 < p.dv) {
          *reinterpret_cast<uint32_t*>(orow + col) = packed;  // dv is a multiple of 8 on this path
        } else if (col < p.dv) {
          orow[col] = static_cast<uint16_t>(packed & 0xffffu);
        }
      }
      if (t == 0) p.lse[(int64_t(b) * p.heads_q + h) * p.seq_q + row[i]] = lse;
    }
  }
#else
  __trap();  // compiled for a target without wgmma: never launched (choose_flash_path)
#endif
}

}  // namespace attnscope::cuda
