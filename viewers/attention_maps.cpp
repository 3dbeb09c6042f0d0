#include "viewers/attention_maps.h"

#include <algorithm>
#include <cmath>

#include "capture/scores.h"

namespace attnscope {

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
  if (!probs_from_lse(spec, cap.inputs, lse, b, h, fp64, &m.data)) {
    m.why_not = "no LSE of shape [B, H, Nq] recorded for this run";
    return m;
  }
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
  AttentionMap m = from_lse(cap, apply_what_if(sp, r.what_if_dropped), r.lse, b, h, false);
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
    LayerSpec sp = apply_what_if(cap.spec, r.what_if_dropped);
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
