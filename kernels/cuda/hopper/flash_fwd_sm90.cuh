// The flash2 / sink forward kernel for compute capability 9.x, after FlashAttention-3: TMA loads
// into 128-byte-swizzled shared memory, wgmma from shared memory (S = Q·Kᵀ) and with P from registers
// (O += P·V), warp specialisation with an mbarrier pipeline, and the softmax of one tile overlapped
// with the GEMMs of the next:
//   producer (warpgroup 0, one thread): per work item Q (when the consumers have released the previous
//     item's: q_empty) and the decoded item (ItemInfo), then K(j), V(j) into stage j % kStages
//     (flash_traits_sm90.h) when the consumers have released it (k_empty / v_empty), each completing on
//     q_full / k_full / v_full by transaction bytes;
//   consumers (warpgroups 1, 2; 64 rows each): S(0) = Q·K(0)ᵀ, softmax; then per tile j >= 1:
//     issue S(j) = Q·K(j)ᵀ, issue O += P(j-1)·V(j-1), wait for S(j) only, release K(j), mask and
//     softmax S(j) while P·V runs, wait for it, release V(j-1), rescale O, P(j) = round(p);
//     finally O += P(last)·V(last) and the epilogue O / L, out through shared memory and a TMA store.
//     With narrow items (sm90_narrow_items: three consumer warpgroups, 64-key tiles) each warpgroup
//     multiplies only the tiles its own rows see and releases the others once loaded.
// Arithmetic as the sm80 kernel and the CPU versions (kernels/cpu/flash_cpu.cpp with kv_tile =
// kBlockN): S in fp32, scale / softcap / mask in fp32, running max and sum in fp32 (l sums the fp32 p),
// P rounded to the input dtype before P·V, O / L rounded once. Sinks: m starts at the sink logit and
// the sink joins L at the end. Probe=true adds the probe records (kernels/cuda/probe.cuh).
#pragma once
#include <cuda.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "kernels/cuda/flash_params.h"
#include "kernels/cuda/hopper/flash_traits_sm90.h"
#include "kernels/cuda/hopper/sm90_ptx.cuh"
#include "kernels/cuda/hopper/sm90_variant.h"
#include "kernels/cuda/hopper/wgmma.cuh"
#include "kernels/cuda/mask.cuh"
#include "kernels/cuda/mma_util.cuh"
#include "kernels/cuda/probe.cuh"
#include "kernels/cuda/softmax.cuh"

namespace attnscope::cuda {

template <int kQStages, int kStages>
struct Sm90Barriers {
  uint64_t q_full[kQStages], q_empty[kQStages];
  uint64_t k_full[kStages], v_full[kStages];
  uint64_t k_empty[kStages], v_empty[kStages];
};

// One work item: kBlockM query rows (128; 192 narrow) of one (batch, query head). Block c takes
// items c, c + grid, ...: with a grid of one block per item that is one item; with a persistent grid
// (one block per SM, FlashAttention-3's static tile scheduler) the producer loads the next item's Q
// and K/V while the consumers finish the current one, and no block pays a prologue per item (with a
// 128-key window an item is a few tiles: that prologue was most of its time).
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

// A work item as the producer decodes it, once, into shared memory beside its Q tile; the consumers
// read it when that Q has landed (the producer's arrival on q_full releases it). They used to decode
// it themselves: ncu on the 128-key window put 11% of a consumer warp's time there (the divisions of
// work_item, 64-bit key ranges, the sink's global load).
struct ItemInfo {
  int m_block, h, b, kv_len;
  int n_begin, n_end;            // the tiles the item visits
  int inner_begin, inner_end;    // keys every row of the item sees
  float sink;                    // the head's sink logit (-inf without sinks)
};

// Narrow items (Traits::kPerWgTiles): the tiles each warpgroup's 64 rows see, and the keys all of
// them see. A 128-key window's 192-row item spans five 64-key tiles, of which each warpgroup
// multiplies three.
struct WgTiles {
  int begin[3], end[3];
  int inner_begin[3], inner_end[3];
};

template <class Traits, bool Sinks, bool Probe, Sm90Variant Variant>
__global__ void __launch_bounds__(Traits::kThreads, 1)
    flash_fwd_sm90_kernel(const __grid_constant__ FlashParams p, const __grid_constant__ CUtensorMap map_q,
                          const __grid_constant__ CUtensorMap map_k, const __grid_constant__ CUtensorMap map_v,
                          const __grid_constant__ CUtensorMap map_o) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)  // sm_90a only (kernels/cuda/CMakeLists.txt)
  using T = typename Traits::Element;
  using namespace sm90;
  constexpr int kBM = Traits::kBlockM, kBN = Traits::kBlockN, kD = Traits::kHeadDim, kS = Traits::kStages;
  constexpr int kCB = Traits::kColBlocks;

  extern __shared__ uint8_t smem_raw[];
  __shared__ Sm90Barriers<Traits::kQStages, Traits::kStages> bars;
  __shared__ ItemInfo infos[Traits::kQStages];
  constexpr int kCWG = Traits::kConsumerWarpgroups;
  constexpr bool kPerWg = Traits::kPerWgTiles;
  __shared__ WgTiles wg_tiles[kPerWg ? Traits::kQStages : 1];
  const uint32_t raw = smem_u32(smem_raw);
  uint8_t* base = smem_raw + (((raw + 1023) & ~1023u) - raw);  // swizzle atoms on 1024-byte boundaries
  constexpr int kQS = Traits::kQStages;
  T* sQ = reinterpret_cast<T*>(base);                                                // [kQS][kCB][kBM][64]
  T* sK = reinterpret_cast<T*>(base + kQS * Traits::kQBytes);                        // [kS][kCB][kBN][64]
  T* sV = reinterpret_cast<T*>(base + kQS * Traits::kQBytes + kS * Traits::kTileBytes);
  T* sO = reinterpret_cast<T*>(base + kQS * Traits::kQBytes + 2 * kS * Traits::kTileBytes);  // [2][kCB][64][64]

  const int m_blocks = (p.seq_q + kBM - 1) / kBM;
  const int items = m_blocks * p.heads_q * p.batch;

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
      const float sink = Sinks ? p.sinks[it.h] : -INFINITY;  // its latency under the wait below
      const int m0 = it.m_block * kBM, last_row = min(m0 + kBM, p.seq_q) - 1, kv_len = kv_length(p, it.b);
      int n_begin = 0, n_end = 0;
      if constexpr (!kPerWg) visible_tiles<kBN>(p, m0, last_row, kv_len, &n_begin, &n_end);
      const int qs = j % kQS;
      // The consumers' last S of the item that used this buffer before (kQS items ago).
      if (j >= kQS) mbar_wait(&bars.q_empty[qs], ((j / kQS) & 1) ^ 1);
      mbar_expect_tx(&bars.q_full[qs], Traits::kQBytes);
      T* q_dst = sQ + qs * (Traits::kQBytes / 2);
      for (int cb = 0; cb < kCB; ++cb)
        tma_load_3d(q_dst + cb * kBM * 64, &map_q, &bars.q_full[qs], cb * 64, it.m_block * kBM, it.b * p.heads_q + it.h);
      if constexpr (kPerWg) {
        // Each warpgroup's tiles (into shared memory: the producer has 24 registers); the item's are
        // their union, which the producer loads.
        WgTiles& wt = wg_tiles[qs];
        n_begin = 1 << 30, n_end = 0;
        for (int c = 0; c < kCWG; ++c) {
          const int r0 = m0 + 64 * c, r1 = min(r0 + 64, p.seq_q) - 1;
          int b = 0, e = 0;
          if (r0 < p.seq_q) visible_tiles<kBN>(p, r0, r1, kv_len, &b, &e);
          const KeyRange in = visible_keys(p, r1, r0, kv_len);
          wt.begin[c] = b, wt.end[c] = e;
          wt.inner_begin[c] = static_cast<int>(in.begin), wt.inner_end[c] = static_cast<int>(in.end);
          if (e > b) n_begin = min(n_begin, b), n_end = max(n_end, e);
        }
        if (n_end == 0) n_begin = 0;
        for (int c = 0; c < kCWG; ++c)
          if (wt.end[c] <= wt.begin[c]) wt.begin[c] = wt.end[c] = n_begin;  // sees nothing: skips every tile
      }
      const KeyRange inner = visible_keys(p, last_row, m0, kv_len);
      infos[qs] = ItemInfo{it.m_block, it.h, it.b, kv_len, n_begin, n_end, static_cast<int>(inner.begin),
                           static_cast<int>(inner.end), sink};
      mbar_arrive(&bars.q_full[qs]);  // with the Q bytes, completes the phase; releases infos[qs]
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
  const uint32_t k_base = smem_u32(sK), v_base = smem_u32(sV);
  using SAcc = float[Traits::kSAcc];
  using OAcc = float[Traits::kOAcc];
  using PFrag = uint32_t[Traits::kPSteps][4];  // P(j) in the A-fragment order of O += P·V
  OAcc o;
  SAcc s;
  PFrag pk;
  auto release = [&](uint64_t* bar) {
    if (lane == 0) mbar_arrive(bar);
  };
  // Shared-memory descriptors built once; a k step or a stage adds its byte offset / 16 to the start
  // address field (SASS had five uniform instructions a descriptor for building each from scratch).
  const uint64_t k_desc0 = make_desc_sw128(k_base, 16, 1024);
  const uint64_t v_desc0 = make_desc_sw128(v_base, kBN * 128, 1024);
  uint64_t q_desc = make_desc_sw128(q_base0, 16, 1024);
  auto set_q = [&](int qs) { q_desc = make_desc_sw128(q_base0 + qs * Traits::kQBytes, 16, 1024); };  // next S's Q
  // S = Q·K(stage)ᵀ issued (not waited for).
  auto issue_s = [&](SAcc& sc, int stage) {
#pragma unroll
    for (int i = 0; i < Traits::kSAcc; ++i) fence_operand(sc[i]);
    wgmma_fence();
    const uint64_t kd = desc_advance(k_desc0, stage * Traits::kTileBytes);
#pragma unroll
    for (int k = 0; k < kD / 16; ++k) {
      const int cb = k / 4, kk = k % 4;
      wgmma_ss<T, kBN>(sc, desc_advance(q_desc, cb * kBM * 128 + kk * 32), desc_advance(kd, cb * kBN * 128 + kk * 32),
                       k > 0 ? 1 : 0);
    }
    wgmma_commit();
  };
  // O += P·V(stage) issued (not waited for).
  auto issue_pv = [&](OAcc& oc, PFrag& pf, int stage) {
#pragma unroll
    for (int i = 0; i < Traits::kOAcc; ++i) fence_operand(oc[i]);
    wgmma_fence();
    const uint64_t vd = desc_advance(v_desc0, stage * Traits::kTileBytes);
#pragma unroll
    for (int kk = 0; kk < Traits::kPSteps; ++kk)
      wgmma_rs<T, kD>(oc, pf[kk], desc_advance(vd, kk * 2048), 1);
    wgmma_commit();
  };
  auto o_ready = [&](OAcc& oc, PFrag& pf) {  // after a wait: O and the P·V operand registers are settled
#pragma unroll
    for (int i = 0; i < Traits::kOAcc; ++i) fence_operand(oc[i]);
#pragma unroll
    for (int kk = 0; kk < Traits::kPSteps; ++kk)
#pragma unroll
      for (int j = 0; j < 4; ++j) fence_operand_u32(pf[kk][j]);  // the A operand stayed live until here
  };
  auto s_ready = [&](SAcc& sc) {
#pragma unroll
    for (int i = 0; i < Traits::kSAcc; ++i) fence_operand(sc[i]);
  };
  auto zero_o = [&] {
#pragma unroll
    for (int i = 0; i < Traits::kOAcc; ++i) o[i] = 0.f;
  };

  // What the consumers keep of one work item: where it is, which tiles it visits, its two rows' key
  // bounds, running max and sum.
  struct Item {
    int h, b, m0, qs, kv_len, n_begin, n_end;
    int wb, we;                    // the tiles this warpgroup's rows see (narrow items; else [n_begin, n_end))
    int row[2];
    int key_lo[2], key_hi[2];      // the keys [lo, hi) each of the two rows sees
    int inner_begin, inner_end;    // keys every row of the item sees
    float sink, m_run[2], l_run[2];
    bool probing;
  };
  // The item of Q stage jj % kQS, once its q_full phase has completed (ItemInfo).
  auto make_item = [&](int jj) {
    Item c;
    c.qs = jj % kQS;
    const ItemInfo& info = infos[c.qs];
    c.h = info.h, c.b = info.b, c.m0 = info.m_block * kBM, c.kv_len = info.kv_len;
    c.n_begin = info.n_begin, c.n_end = info.n_end;
    c.inner_begin = info.inner_begin, c.inner_end = info.inner_end;
    c.wb = c.n_begin, c.we = c.n_end;
    if constexpr (kPerWg) {
      const WgTiles& wt = wg_tiles[c.qs];
      c.wb = wt.begin[ci], c.we = wt.end[ci];
      c.inner_begin = wt.inner_begin[ci], c.inner_end = wt.inner_end[ci];
    }
    c.sink = info.sink;
    c.row[0] = c.m0 + 64 * ci + 16 * warp_in_wg + g;
    c.row[1] = c.row[0] + 8;
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      const KeyRange kr = visible_keys(p, c.row[i], c.row[i], c.kv_len);
      c.key_lo[i] = static_cast<int>(kr.begin), c.key_hi[i] = static_cast<int>(kr.end);
    }
    c.m_run[0] = c.m_run[1] = c.sink;
    c.l_run[0] = c.l_run[1] = 0.f;
    c.probing = Probe && probe_block(p, c.b, c.h, c.m0, kBM);
    if constexpr (Probe) {
      if (c.probing && t == 0)
#pragma unroll
        for (int i = 0; i < 2; ++i)
          if (probe_row(p, c.row[i])) probe_fill(p, c.row[i], 0, c.wb, c.sink, 0.f);
    }
    return c;
  };

  // Mask S(tile nb) of item c in place, then the online softmax: new running max, alpha, s = exp(s *
  // scale - m) in fp32, l = l * alpha + rowsum. Without a softcap the scale is folded into the exponent
  // (one FFMA and one ex2 per score: max(s * scale) = scale * max(s) for scale > 0); with one, s is
  // transformed first (softcap * tanh(s * scale / softcap)). m_run stays in scaled units. A tile only
  // some rows see whole is masked per score, against the bounds that can cut it: the lower one only
  // where the tile starts before the keys every row sees (inner), the upper one only where it ends
  // after them (a 128-key window's two tiles need one compare a score, not two).
  auto softmax = [&](SAcc& sc, Item& c, int nb, float alpha[2]) {
    const int n0 = nb * kBN;
    const bool mask_lo = n0 < c.inner_begin, mask_hi = n0 + kBN > c.inner_end;
    constexpr bool transformed = Variant == Sm90Variant::Transform;  // max(s * scale) != scale * max(s)
    if constexpr (transformed) scale_scores<Traits::kSAcc>(p, sc);
    const float unit = transformed ? 1.f : p.scale;  // s -> scaled units
    const float unit_log2 = unit * kLog2e;
    if (mask_lo || mask_hi) {
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        // As column offsets from this thread's first column: c < lo or c >= hi is hidden (no clamping:
        // an offset beyond the tile compares the same).
        const int lo = c.key_lo[i] - (n0 + 2 * t), hi = c.key_hi[i] - (n0 + 2 * t);
        // Row i's scores against the bounds that can cut this tile (compile-time: lo_c, hi_c).
        auto mask_row = [&](auto lo_c, auto hi_c) {
#pragma unroll
          for (int nt = 0; nt < kBN / 8; ++nt)
#pragma unroll
            for (int e = 0; e < 2; ++e)
              if ((decltype(lo_c)::value && nt * 8 + e < lo) || (decltype(hi_c)::value && nt * 8 + e >= hi))
                sc[4 * nt + 2 * i + e] = -INFINITY;
        };
        if (mask_lo && mask_hi) mask_row(std::true_type{}, std::true_type{});
        else if (mask_lo) mask_row(std::true_type{}, std::false_type{});
        else mask_row(std::false_type{}, std::true_type{});
      }
    }
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      float mx = -INFINITY;
#pragma unroll
      for (int nt = 0; nt < kBN / 8; ++nt) mx = fmaxf(mx, fmaxf(sc[4 * nt + 2 * i], sc[4 * nt + 2 * i + 1]));
      mx = fmaxf(c.m_run[i], quad_max(mx) * unit);
      const float base_i = softmax_base(mx) * kLog2e;
      alpha[i] = exp_from(c.m_run[i], base_i);
      c.m_run[i] = mx;
      float sum = 0.f;
#pragma unroll
      for (int nt = 0; nt < kBN / 8; ++nt) {
        const float p0 = exp2_approx(fmaf(sc[4 * nt + 2 * i], unit_log2, -base_i));
        const float p1 = exp2_approx(fmaf(sc[4 * nt + 2 * i + 1], unit_log2, -base_i));
        sc[4 * nt + 2 * i] = p0;
        sc[4 * nt + 2 * i + 1] = p1;
        sum += p0 + p1;
      }
      c.l_run[i] = c.l_run[i] * alpha[i] + sum;  // FA2 sums the fp32 p, before rounding
    }
  };
  // P = round(p) into the A fragments; the probe records the rounded values.
  auto pack_p = [&](SAcc& sc, PFrag& pf, Item& c, int nb) {
#pragma unroll
    for (int kk = 0; kk < Traits::kPSteps; ++kk)
#pragma unroll
      for (int jj = 0; jj < 4; ++jj) {
        float r0, r1;
        pf[kk][jj] = pack_round<T>(sc[8 * kk + 2 * jj], sc[8 * kk + 2 * jj + 1], &r0, &r1);
        if constexpr (Probe) sc[8 * kk + 2 * jj] = r0, sc[8 * kk + 2 * jj + 1] = r1;
      }
    if constexpr (Probe) {
      if (c.probing) {
#pragma unroll
        for (int i = 0; i < 2; ++i) {
          const float l_full = quad_sum(c.l_run[i]);
          if (probe_row(p, c.row[i])) {
#pragma unroll
            for (int nt = 0; nt < kBN / 8; ++nt)
#pragma unroll
              for (int e = 0; e < 2; ++e)
                probe_p(p, c.row[i], int64_t(nb) * kBN + nt * 8 + 2 * t + e, sc[4 * nt + 2 * i + e]);
            if (t == 0) probe_stats(p, c.row[i], nb, c.m_run[i], l_full);
          }
        }
        if ((kPerWg || ci == 0) && warp_in_wg == 0 && lane == 0) p.probe_tile_used[nb] = 1;
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
  // Epilogue: O / L, LSE = m + log(L); a row that saw no key (and no sink) gets O = 0, LSE = -inf.
  // Both rows' sums and inverses first (their shuffles no longer queue behind the other row's stores).
  // Where the buffer fits (kStoreOViaSmem), each warpgroup writes its 64 rows into its part of sO with
  // stmatrix, 128-byte swizzled as the TMA reads it, and one thread stores them with one TMA store per
  // 64 columns (rows past seq_q and columns past dv are not written); the buffer is rewritten only once
  // that store has read it (bulk_wait_group_read before the first barrier). Else from registers.
  const bool o_issuer = warp_in_wg == 0 && lane == 0;
  auto epilogue = [&](const Item& c) {
    float inv[2], lse[2];
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      const float l_full = quad_sum(c.l_run[i]);
      if constexpr (Probe) {
        if (c.probing && t == 0 && probe_row(p, c.row[i]))
          probe_fill(p, c.row[i], max(c.we, c.wb), p.probe_tiles, c.m_run[i], l_full);
      }
      inv[i] = row_inverse<Sinks>(l_full, c.m_run[i], c.sink, &lse[i]);
    }
    float r0, r1;  // the rounded values (unused: the probe records P, not O)
    if constexpr (Traits::kStoreOViaSmem) {
      if (o_issuer) bulk_wait_group_read<0>();
      named_barrier_sync(3 + ci, 128);
      stmatrix_rows_sw128<kD>(smem_u32(sO) + ci * 64 * kD * 2, o, inv[0], inv[1], warp_in_wg, lane,
                              [&](float x, float y) { return pack_round<T>(x, y, &r0, &r1); });
      fence_proxy_async_shared();
      named_barrier_sync(3 + ci, 128);
      if (o_issuer) {
#pragma unroll
        for (int cb = 0; cb < kCB; ++cb)
          tma_store_3d(&map_o, sO + (ci * kCB + cb) * 64 * 64, cb * 64, c.m0 + 64 * ci, c.b * p.heads_q + c.h);
        bulk_commit_group();
      }
    } else {
      uint16_t* og = static_cast<uint16_t*>(p.out) + c.b * p.o_batch_stride + c.h * p.o_head_stride;
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        if (c.row[i] >= p.seq_q) continue;
        uint16_t* orow = og + int64_t(c.row[i]) * p.o_row_stride;
        if (p.dv == kD) {  // every column: one base address, the stores at constant offsets
          uint32_t* dst = reinterpret_cast<uint32_t*>(orow + 2 * t);
#pragma unroll
          for (int nt = 0; nt < kD / 8; ++nt)
            dst[4 * nt] = pack_round<T>(o[4 * nt + 2 * i] * inv[i], o[4 * nt + 2 * i + 1] * inv[i], &r0, &r1);
        } else {
#pragma unroll
          for (int nt = 0; nt < kD / 8; ++nt) {
            const int col = nt * 8 + 2 * t;
            const uint32_t packed =
                pack_round<T>(o[4 * nt + 2 * i] * inv[i], o[4 * nt + 2 * i + 1] * inv[i], &r0, &r1);
            if (col + 1 < p.dv) {
              *reinterpret_cast<uint32_t*>(orow + col) = packed;  // dv is a multiple of 8 on this path
            } else if (col < p.dv) {
              orow[col] = static_cast<uint16_t>(packed & 0xffffu);
            }
          }
        }
      }
    }
    if (t == 0) {
#pragma unroll
      for (int i = 0; i < 2; ++i)
        if (c.row[i] < p.seq_q) p.lse[(int64_t(c.b) * p.heads_q + c.h) * p.seq_q + c.row[i]] = lse[i];
    }
  };

  // Ping-pong (FlashAttention-3's inter-warpgroup overlap): the two consumer warpgroups take turns to
  // issue their GEMMs (named barriers 1 and 2, 256 threads: my 128 wait, the other's 128 arrive), so
  // one's softmax runs under the other's GEMMs instead of both competing for the tensor cores. Per
  // item warpgroup 0 goes first. Warpgroup 1's last issue of an item hands the first turn of the
  // block's next item to warpgroup 0 at once (`handed`), so that item's S(0) no longer waits for
  // warpgroup 1's epilogue; a first item, or one after items without tiles, is handed over at its start.
  const bool pingpong = !kPerWg && p.sm90_pingpong;
  int issues_left = 0;    // this warpgroup's GEMM issues left in the item
  bool has_next = false;  // this block has a further work item
  bool handed = false;    // warpgroup 1 has arrived for warpgroup 0's first turn of the next item with tiles
  auto my_turn = [&] {
    if (pingpong) named_barrier_sync(1 + ci, 256);
  };
  auto your_turn = [&] {
    --issues_left;
    if (pingpong && (ci == 0 || issues_left > 0 || has_next)) named_barrier_arrive(2 - ci, 256);
  };

  int kv_it = 0;  // K/V tiles consumed so far by this block (the producer's count)
  zero_o();
  for (int w = blockIdx.x, j = 0; w < items; w += gridDim.x, ++j) {
    has_next = w + gridDim.x < items;
    const int qs = j % kQS;
    set_q(qs);
    mbar_wait(&bars.q_full[qs], (j / kQS) & 1);
    Item cur = make_item(j);
    const int n_tiles = cur.n_end - cur.n_begin;
    if (n_tiles == 0) {
      release(&bars.q_empty[cur.qs]);
    } else {
      // The GEMM issues of this warpgroup in the item: S(0), one S + P·V per further tile, the last P·V.
      issues_left = n_tiles + 1;
      if (pingpong && ci == 1 && !handed) named_barrier_arrive(1, 256);
      handed = has_next;  // after this item's last issue (both warpgroups keep the same account)
      float alpha[2];
      // Tiles [nb0, nb0 + count) of the item, K/V uses from k0: S(0), then per tile S(it) with P·V(it - 1),
      // the last P·V; after_last_issue runs while that P·V is multiplied.
      auto run_tiles = [&](int k0, int count, int nb0, auto&& after_last_issue) {
        mbar_wait(&bars.k_full[k0 % kS], (k0 / kS) & 1);
        my_turn();
        issue_s(s, k0 % kS);
        your_turn();
        wgmma_wait<0>();
        s_ready(s);
        release(&bars.k_empty[k0 % kS]);
        if (count == 1) release(&bars.q_empty[cur.qs]);
        softmax(s, cur, nb0, alpha);  // O is zero: nothing to rescale
        pack_p(s, pk, cur, nb0);
        for (int it = 1; it < count; ++it) {
          const int now = k0 + it, prev = now - 1;
          mbar_wait(&bars.k_full[now % kS], (now / kS) & 1);
          mbar_wait(&bars.v_full[prev % kS], (prev / kS) & 1);
          my_turn();
          issue_s(s, now % kS);
          issue_pv(o, pk, prev % kS);
          your_turn();
          wgmma_wait<1>();  // S(it) has landed; P·V(it - 1) may still run
          s_ready(s);
          release(&bars.k_empty[now % kS]);
          if (it == count - 1) release(&bars.q_empty[cur.qs]);  // the item's last read of Q
          softmax(s, cur, nb0 + it, alpha);
          wgmma_wait<0>();
          o_ready(o, pk);
          release(&bars.v_empty[prev % kS]);
          rescale_o(alpha);
          pack_p(s, pk, cur, nb0 + it);
        }
        const int last = k0 + count - 1;
        mbar_wait(&bars.v_full[last % kS], (last / kS) & 1);
        my_turn();
        issue_pv(o, pk, last % kS);
        your_turn();
        after_last_issue();
        wgmma_wait<0>();
        o_ready(o, pk);
        release(&bars.v_empty[last % kS]);
      };
      if constexpr (!kPerWg) {
        run_tiles(kv_it, n_tiles, cur.n_begin, [] {});
      } else {
        // A tile of the item this warpgroup's rows do not see: its K and V stages released once
        // loaded (an arrival before that would count towards the stage's previous use).
        auto skip = [&](int kv) {
          mbar_wait(&bars.k_full[kv % kS], (kv / kS) & 1);
          release(&bars.k_empty[kv % kS]);
          mbar_wait(&bars.v_full[kv % kS], (kv / kS) & 1);
          release(&bars.v_empty[kv % kS]);
        };
        const int lead = cur.wb - cur.n_begin, mine = cur.we - cur.wb;
        auto skip_tail = [&] {
          for (int kv = kv_it + lead + mine; kv < kv_it + n_tiles; ++kv) skip(kv);
        };
        for (int i = 0; i < lead; ++i) skip(kv_it + i);
        if (mine > 0) {
          run_tiles(kv_it + lead, mine, cur.wb, skip_tail);
        } else {
          release(&bars.q_empty[cur.qs]);
          skip_tail();
        }
      }
    }
    epilogue(cur);
    kv_it += n_tiles;
    zero_o();  // the next item's O starts at zero (zeroed here on every path: a conditional zeroing
               // made ptxas serialise the wgmmas, warning C7520)
  }
  // A hand-over no item took (the block's last items had no tiles): warpgroup 0 completes that barrier.
  if (pingpong && ci == 0 && handed) named_barrier_sync(1, 256);
  if constexpr (Traits::kStoreOViaSmem) {
    if (o_issuer) bulk_wait_group<0>();  // the last TMA store has read sO before the block exits
  }
#else
  __trap();  // compiled for a target without wgmma: never launched (choose_flash_path)
#endif
}

}  // namespace attnscope::cuda
