// CPU version of FlashAttention-2's backward (flash2, sink, sdpa:flash; sdpa:efficient runs the
// same steps with its attn_mask), with the GPU kernels' rounding points. Inputs: q, k, v, dO in
// the model dtype, the forward's O (model dtype) and LSE (fp32, sinks included).
//   1. preprocess (flash_bwd_dot_do_o): D_i = rowsum(dO_i ∘ O_i), fp32 accumulation of the
//      model-dtype O and dO.
//   2. per KV tile (64 keys) of each row (tiles wholly outside the row's window skipped, as forward):
//        S_ij  = q_i·k_j · scale in fp32 (softcap: c·tanh(S/c), its tanh kept)
//        P_ij  = exp(S_ij - LSE_i) in fp32, recomputed from the LSE (0 for masked keys)
//        dP_ij = dO_i·v_j in fp32
//        dS_ij = P_ij (dP_ij - D_i) in fp32 (softcap: times 1 - tanh²), then ROUNDED to the
//                model dtype: it enters the dQ and dK GEMMs in that dtype
//        dV_j += round(P_ij) · dO_i    (P rounded before the Pᵀ·dO GEMM; fp32 accumulator)
//        dK_j += round(dS_ij) · q_i    (fp32 accumulator)
//        dQ_i += round(dS_ij) · k_j    (fp32 accumulator across every KV tile: FA2's dq_accum)
//   3. convert: dQ_i = round(scale · dQacc_i); dK = round(scale · dKacc), dV = round(dVacc) per
//      query head (dk_expanded / dv_expanded, model dtype), then GQA: the group's heads summed
//      in fp32 and rounded once (mha_bwd's at::sum_out over the group).
//   Sinks: dsink_h = -sum over (b, i) of exp(sink_h - LSE_i) · D_i, accumulated in fp32 and
//   rounded once to the model dtype (the sink column's P times (0 - D_i): it has no V row).
// A row whose LSE is -inf (no visible key, no sink) contributes nothing and gets dQ = 0.
// Packed sequences (cu_seqlens): FA2's varlen backward, every sequence on its own.
#include <cmath>
#include <limits>

#include "kernels/cpu/backward_common.h"
#include "kernels/cpu/dot.h"
#include "kernels/cpu/fused.h"

namespace attnscope::cpu {

Gradients fused_backward(const LayerSpec& s, const Inputs& in, const RunResult& fwd, const RunOptions& opt,
                         const std::string& impl, FusedFlags flags, double start_us) {
  const DType dt = s.dtype;
  Gradients g = start_gradients(s, in, dt);
  if (!g.error.empty()) return g;
  const float scale = static_cast<float>(s.effective_scale());
  const int group = s.kv_group();
  const int64_t D = s.head_dim, Dv = s.head_dim_v, Nq = s.seq_q, Nk = s.seq_k;
  // The tile only decides which keys are skipped wholesale (their P is 0 either way): every
  // rounding point above is per element, so the sm80 (64) and sm90 (128) tilings give one result.
  const int kv_tile = opt.kv_tile > 0 ? opt.kv_tile : kDefaultKvTile;
  const int n_tiles = static_cast<int>((Nk + kv_tile - 1) / kv_tile);
  auto t0 = Clock::now();
  double at = start_us;
  auto phase = [&](const std::string& name) {
    const double dur = us_since(t0);
    g.spans.push_back({impl + "/bwd/" + name, at, dur, 0});
    at += dur;
    t0 = Clock::now();
  };

  // 1. D = rowsum(dO ∘ O).
  std::vector<float> dsum(static_cast<size_t>(s.batch) * s.heads_q * Nq);
  bool ok = for_each_head(s, opt, [&](int b, int h, int) {
    for (int64_t i = 0; i < Nq; ++i) {
      const int64_t row = at4(b, h, i, 0, s.heads_q, Nq, Dv);
      dsum[(static_cast<size_t>(b) * s.heads_q + h) * Nq + i] = dot<float>(&in.dout.data[row], &fwd.out.data[row], Dv);
    }
  });
  phase("preprocess");

  // 2. dQ, and dK/dV per query head.
  HeadAccumulators<float> acc(s);
  ok = ok && for_each_head(s, opt, [&](int b, int h, int) {
    const int hk = h / group;
    std::vector<float> dq_acc(D);
    float* dk_head = acc.dk_head(b, h);
    float* dv_head = acc.dv_head(b, h);
    float dsink = 0;
    for (int64_t i = 0; i < Nq; ++i) {
      const size_t row = (static_cast<size_t>(b) * s.heads_q + h) * Nq + i;
      const float lse = fwd.lse.data[row];
      const float Di = dsum[row];
      float* dq = &g.dq.data[at4(b, h, i, 0, s.heads_q, Nq, D)];
      if (!(lse > -std::numeric_limits<float>::infinity()) || std::isnan(lse)) {
        std::fill(dq, dq + D, 0.0f);
        continue;
      }
      const float* q = &in.q.data[at4(b, h, i, 0, s.heads_q, Nq, D)];
      const float* dO = &in.dout.data[at4(b, h, i, 0, s.heads_q, Nq, Dv)];
      std::fill(dq_acc.begin(), dq_acc.end(), 0.0f);
      const KeyRange keys = s.window_range(i);
      const int64_t lo = keys.lo, hi = keys.hi;
      const int64_t origin = tile_origin(s, i);
      for (int t = 0; t < n_tiles; ++t) {
        const int64_t j0 = origin + int64_t{t} * kv_tile, j1 = std::min<int64_t>(Nk, j0 + kv_tile);
        if (j0 >= Nk || j1 - 1 < lo || j0 > hi) continue;  // wholly outside: skipped, as in the forward
        for (int64_t j = std::max(j0, lo); j < std::min(j1, hi + 1); ++j) {
          if (!key_visible(s, in, b, h, i, j)) continue;
          const float* k = &in.k.data[at4(b, hk, j, 0, s.heads_kv, Nk, D)];
          const float* v = &in.v.data[at4(b, hk, j, 0, s.heads_kv, Nk, Dv)];
          float th = 0;
          const float x = fused_score(s, in, flags, q, k, b, h, i, j, scale, &th);
          const float p = std::exp(x - lse);
          if (p == 0) continue;
          const float dp = dot<float>(dO, v, Dv);
          float ds = p * (dp - Di);
          if (s.softcap > 0) ds *= 1.0f - th * th;
          const float p_r = round_to(dt, p), ds_r = round_to(dt, ds);
          axpy(dv_head + j * Dv, p_r, dO, Dv);
          axpy(dk_head + j * D, ds_r, q, D);
          axpy(dq_acc.data(), ds_r, k, D);
        }
      }
      for (int64_t d = 0; d < D; ++d) dq[d] = round_to(dt, dq_acc[d] * scale);
      if (flags.sinks) dsink += -std::exp(in.sinks[h] - lse) * Di;
    }
    acc.dsinks(b, h) = dsink;
  });
  phase("dq_dk_dv");

  // 3. Convert and sum over the GQA groups.
  if (ok) acc.finish(&g, scale, true, flags.sinks);
  phase("convert");
  finish_gradients(&g, impl, s, ok);
  return g;
}

}  // namespace attnscope::cpu
