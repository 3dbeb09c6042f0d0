// CPU versions of the fused kernels (flash2, sink, SDPA's memory-efficient): the FlashAttention-2
// online softmax over 64-key tiles, with the GPU kernel's rounding points:
//   S = Q·Kᵀ in fp32, scaled (and softcapped) in fp32; running max m and sum l in fp32;
//   P = exp(S - m) rounded to the input dtype before P·V (l sums the unrounded P, as FA2 does);
//   acc in fp32, rescaled by exp(m_old - m_new); O = acc / l rounded to the output dtype.
// Sinks (gpt-oss kernel): m starts at the sink logit; the epilogue divides by l + exp(sink - m).
// Tiles wholly outside a row's causal/window range are skipped. Packed sequences (cu_seqlens) run
// FA2's varlen semantics: each sequence on its own, its KV tiles counted from its first key (the
// probe's tile t of a packed row is the t-th tile of its sequence).
#include <cmath>
#include <limits>

#include "kernels/cpu/dot.h"
#include "kernels/cpu/fused.h"

namespace attnscope::cpu {

RunResult run_fused(const LayerSpec& s, const Inputs& in, const RunOptions& opt, const std::string& impl,
                    FusedFlags flags) {
  RunResult r = start_result(impl, s);
  auto t0 = Clock::now();
  const DType dt = s.dtype;
  const float scale = static_cast<float>(s.effective_scale());
  const int group = s.kv_group();
  const int64_t D = s.head_dim, Dv = s.head_dim_v, Nq = s.seq_q, Nk = s.seq_k;
  const int kv_tile = opt.kv_tile > 0 ? opt.kv_tile : kDefaultKvTile;
  const int n_tiles = static_cast<int>((Nk + kv_tile - 1) / kv_tile);
  const float ninf = -std::numeric_limits<float>::infinity();

  const ProbeSpec& pr = opt.probe;
  const bool probing = pr.enabled && pr.batch < s.batch && pr.head < s.heads_q && pr.row_begin < pr.row_end &&
                       pr.row_end <= Nq && pr.row_begin >= 0;
  if (probing) {
    const int64_t rows = pr.row_end - pr.row_begin;
    r.probe.where = pr;
    r.probe.kv_tile = kv_tile;
    r.probe.n_tiles = n_tiles;
    r.probe.p = Tensor(dt, {rows, Nk}, 0.0f);
    r.probe.row_max = Tensor(DType::F32, {rows, n_tiles}, ninf);
    r.probe.row_sum = Tensor(DType::F32, {rows, n_tiles}, 0.0f);
    r.probe.tile_used.assign(n_tiles, 0);
  }

  bool ok = for_each_head(s, opt, [&](int b, int h, int) {
    const int hk = h / group;
    std::vector<float> acc(Dv), sc(kv_tile), p(kv_tile);
    const bool probe_head = probing && b == pr.batch && h == pr.head;
    for (int64_t i = 0; i < Nq; ++i) {
      const float* q = &in.q.data[at4(b, h, i, 0, s.heads_q, Nq, D)];
      // Keys this row can see at all: tiles outside [lo, hi] are skipped.
      const KeyRange keys = s.window_range(i);
      const int64_t lo = keys.lo, hi = keys.hi;
      const int64_t origin = tile_origin(s, i);  // 0, or the packed sequence's first key (varlen)
      const float sink = flags.sinks ? in.sinks[h] : 0.0f;
      float m = flags.sinks ? sink : ninf;
      float l = 0;
      std::fill(acc.begin(), acc.end(), 0.0f);
      const bool probe_row = probe_head && i >= pr.row_begin && i < pr.row_end;
      const int64_t prow = i - pr.row_begin;
      for (int t = 0; t < n_tiles; ++t) {
        const int64_t j0 = origin + int64_t{t} * kv_tile, j1 = std::min<int64_t>(Nk, j0 + kv_tile);
        if (j0 >= Nk || j1 - 1 < lo || j0 > hi) {  // wholly outside: skipped
          if (probe_row) {
            r.probe.row_max.data[prow * n_tiles + t] = m;
            r.probe.row_sum.data[prow * n_tiles + t] = l;
          }
          continue;
        }
        float tile_max = ninf;
        for (int64_t j = j0; j < j1; ++j) {
          float x = ninf;
          if (j >= lo && j <= hi && key_visible(s, in, b, h, i, j))
            x = fused_score(s, in, flags, q, &in.k.data[at4(b, hk, j, 0, s.heads_kv, Nk, D)], b, h, i, j, scale);
          sc[j - j0] = x;
          tile_max = std::max(tile_max, x);
        }
        const float m_new = std::max(m, tile_max);
        // Check_inf as FA2: with no finite score yet, scale by 0 and keep P = 0.
        const float m_use = std::isinf(m_new) ? 0.0f : m_new;
        const float corr = std::exp(m - m_use);
        l *= corr;
        for (int64_t d = 0; d < Dv; ++d) acc[d] *= corr;
        for (int64_t j = j0; j < j1; ++j) {
          const float e = std::exp(sc[j - j0] - m_use);
          l += e;                           // the row sum uses P before rounding
          p[j - j0] = round_to(dt, e);      // P enters the second GEMM in the input dtype
        }
        for (int64_t j = j0; j < j1; ++j) {
          const float pj = p[j - j0];
          if (pj == 0) continue;
          axpy(acc.data(), pj, &in.v.data[at4(b, hk, j, 0, s.heads_kv, Nk, Dv)], Dv);
        }
        m = m_new;
        if (probe_row) {
          for (int64_t j = j0; j < j1; ++j) r.probe.p.data[prow * Nk + j] = p[j - j0];
          r.probe.row_max.data[prow * n_tiles + t] = m;
          r.probe.row_sum.data[prow * n_tiles + t] = l;
          r.probe.tile_used[t] = 1;
        }
      }
      float L = l;
      if (flags.sinks) L += std::exp(sink - (std::isinf(m) ? sink : m));
      const bool empty = !(L > 0);
      float* o = &r.out.data[at4(b, h, i, 0, s.heads_q, Nq, Dv)];
      const float inv = empty ? 1.0f : 1.0f / L;
      for (int64_t d = 0; d < Dv; ++d) o[d] = round_to(dt, acc[d] * inv);
      r.lse.data[(static_cast<int64_t>(b) * s.heads_q + h) * Nq + i] = empty ? ninf : m + std::log(L);
    }
  });
  r.spans.push_back({impl + "/run", 0, us_since(t0), 0});
  r.median_ms = r.spans.back().dur_us / 1000.0;
  r.times_ms = {r.median_ms};
  r.model_bytes = model_bytes(impl, s);
  r.peak_bytes = r.model_bytes;
  r.ran = ok;
  if (!ok) r.error = "cancelled";
  if (ok && opt.backward) r.grad = fused_backward(s, in, r, opt, impl, flags, us_since(t0));
  return r;
}

}  // namespace attnscope::cpu
