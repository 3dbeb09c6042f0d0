#include "viewers/attention_maps.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <thread>

namespace attnscope {

LayerSpec spec_for_run(const LayerSpec& spec, const RunResult& r) { return apply_what_if(spec, r.what_if_dropped); }

void scores_row(const LayerSpec& spec, const Inputs& in, int b, int h, int64_t i, bool fp64, double* out) {
  const int64_t nq = spec.seq_q, nk = spec.seq_k, d = spec.head_dim;
  std::fill(out, out + nk, -std::numeric_limits<double>::infinity());
  if (in.q.shape.size() != 4 || in.k.shape.size() != 4) return;
  const int hk = h / std::max(1, spec.kv_group());
  const float* qi = in.q.data.data() + ((static_cast<int64_t>(b) * in.q.dim(1) + h) * nq + i) * d;
  const float* k = in.k.data.data() + ((static_cast<int64_t>(b) * in.k.dim(1) + hk) * nk) * d;
  const double scale = spec.effective_scale();
  const bool has_mask = !in.mask.empty();
  for (int64_t j = 0; j < nk; ++j) {
    if (!spec.visible(b, i, j)) continue;
    if (spec.mask == MaskKind::ExplicitBool && has_mask && in.mask_at(b, h, i, j) == 0.0f) continue;
    const float* kj = k + j * d;
    double v;
    if (fp64) {
      double acc = 0;
      for (int64_t t = 0; t < d; ++t) acc += static_cast<double>(qi[t]) * kj[t];
      v = acc * scale;
      if (spec.softcap > 0) v = spec.softcap * std::tanh(v / spec.softcap);
    } else {
      float acc = 0;
      for (int64_t t = 0; t < d; ++t) acc += qi[t] * kj[t];
      float fv = acc * static_cast<float>(scale);
      if (spec.softcap > 0) fv = spec.softcap * std::tanh(fv / spec.softcap);
      v = fv;
    }
    if (spec.mask == MaskKind::ExplicitAdditive && has_mask) v += in.mask_at(b, h, i, j);
    out[j] = v;
  }
}

std::vector<double> scores_head(const LayerSpec& spec, const Inputs& in, int b, int h, bool fp64) {
  std::vector<double> s(static_cast<size_t>(spec.seq_q) * spec.seq_k);
  for (int64_t i = 0; i < spec.seq_q; ++i) scores_row(spec, in, b, h, i, fp64, s.data() + i * spec.seq_k);
  return s;
}

namespace {

bool head_ok(const Capture& cap, int b, int h, std::string* why) {
  if (b < 0 || b >= cap.spec.batch || h < 0 || h >= cap.spec.heads_q) {
    *why = "batch/head out of range";
    return false;
  }
  if (cap.inputs.q.empty() || cap.inputs.k.empty()) {
    *why = "the capture holds no inputs (saved with --no-inputs): S cannot be recomputed";
    return false;
  }
  return true;
}

AttentionMap from_lse(const Capture& cap, const LayerSpec& spec, const Tensor& lse, int b, int h,
                      bool fp64) {
  AttentionMap m;
  m.rows = spec.seq_q;
  m.cols = spec.seq_k;
  if (!head_ok(cap, b, h, &m.why_not)) return m;
  if (lse.numel() != static_cast<int64_t>(spec.batch) * spec.heads_q * spec.seq_q) {
    m.why_not = "no LSE of shape [B, H, Nq] recorded for this run";
    return m;
  }
  m.data.resize(static_cast<size_t>(m.rows) * m.cols);
  const float* l = lse.data.data() + (static_cast<int64_t>(b) * spec.heads_q + h) * spec.seq_q;
  // Rows split over the cores: a 16k x 16k head is 17 GFLOP of dot products.
  auto rows = [&](int64_t r0, int64_t r1) {
    std::vector<double> s(static_cast<size_t>(m.cols));
    for (int64_t i = r0; i < r1; ++i) {
      double li = l[i];
      scores_row(spec, cap.inputs, b, h, i, fp64, s.data());
      float* out = m.data.data() + i * m.cols;
      for (int64_t j = 0; j < m.cols; ++j) {
        double v = s[static_cast<size_t>(j)];
        out[j] = (std::isinf(v) && v < 0) || std::isinf(li) ? 0.0f : static_cast<float>(std::exp(v - li));
      }
    }
  };
  const int64_t work = static_cast<int64_t>(m.rows) * m.cols * spec.head_dim;
  const int nt = work < (int64_t{1} << 24) ? 1 : std::clamp(static_cast<int>(std::thread::hardware_concurrency()), 1, 16);
  std::vector<std::thread> pool;
  for (int t = 1; t < nt; ++t) pool.emplace_back(rows, m.rows * t / nt, m.rows * (t + 1) / nt);
  rows(0, m.rows / nt);
  for (auto& th : pool) th.join();
  m.ok = true;
  return m;
}

}  // namespace

AttentionMap attention_map(const Capture& cap, const RunResult& r, int b, int h) {
  const LayerSpec& sp = cap.spec;
  const int64_t per_head = static_cast<int64_t>(sp.seq_q) * sp.seq_k;
  if (!r.probs.empty() && r.probs.numel() == per_head * sp.batch * sp.heads_q && b >= 0 &&
      b < sp.batch && h >= 0 && h < sp.heads_q) {
    AttentionMap m;
    m.label = r.label;
    m.note = "materialised";
    m.rows = sp.seq_q;
    m.cols = sp.seq_k;
    const float* p = r.probs.data.data() + (static_cast<int64_t>(b) * sp.heads_q + h) * per_head;
    m.data.assign(p, p + per_head);
    m.ok = true;
    return m;
  }
  if (!r.ran) {
    AttentionMap m;
    m.label = r.label;
    m.why_not = r.error.empty() ? "did not run" : r.error;
    return m;
  }
  AttentionMap m = from_lse(cap, spec_for_run(sp, r), r.lse, b, h, false);
  m.label = r.label;
  m.note = "reconstructed from LSE";
  return m;
}

AttentionMap reference_map(const Capture& cap, int b, int h) {
  AttentionMap m = from_lse(cap, cap.spec, cap.reference.lse, b, h, true);
  m.label = "reference";
  m.note = "fp64 reference";
  return m;
}

AttentionMap probe_map(const Capture& cap, const RunResult& r, bool normalise) {
  AttentionMap m;
  m.label = r.label;
  const ProbeData& pd = r.probe;
  if (pd.empty() || pd.p.shape.size() != 2 || pd.p.numel() != pd.p.dim(0) * pd.p.dim(1)) {
    m.why_not = "no probe recorded for this run";
    return m;
  }
  m.rows = static_cast<int>(pd.p.dim(0));
  m.cols = static_cast<int>(pd.p.dim(1));
  m.row_begin = pd.where.row_begin;
  m.data = pd.p.data;
  m.note = "probe rows " + std::to_string(pd.where.row_begin) + "-" +
           std::to_string(pd.where.row_begin + m.rows - 1) + (normalise ? " (normalised)" : " (as used)");
  const int64_t stats = static_cast<int64_t>(m.rows) * pd.n_tiles;
  if (normalise && pd.kv_tile > 0 && pd.n_tiles > 0 && pd.row_max.numel() == stats && pd.row_sum.numel() == stats) {
    const int nt = pd.n_tiles;
    LayerSpec sp = spec_for_run(cap.spec, r);
    for (int i = 0; i < m.rows; ++i) {
      const float* mx = pd.row_max.data.data() + static_cast<int64_t>(i) * nt;
      const float* sm = pd.row_sum.data.data() + static_cast<int64_t>(i) * nt;
      double m_last = mx[nt - 1], l = sm[nt - 1];
      if (sp.sinks && pd.where.head < static_cast<int>(cap.inputs.sinks.size()))
        l += std::exp(static_cast<double>(cap.inputs.sinks[static_cast<size_t>(pd.where.head)]) - m_last);
      for (int j = 0; j < m.cols; ++j) {
        int t = std::min(nt - 1, j / pd.kv_tile);
        float& v = m.data[static_cast<size_t>(i) * m.cols + j];
        v = (l > 0 && std::isfinite(mx[t])) ? static_cast<float>(v * std::exp(mx[t] - m_last) / l) : 0.0f;
      }
    }
  }
  m.ok = true;
  return m;
}

}  // namespace attnscope
