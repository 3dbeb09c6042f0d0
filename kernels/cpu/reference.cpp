// The fp64 reference: the definition of "right" every implementation is judged against, forward
// and backward. Gradients in fp64: dP_j = dO_i·v_j, D_i = Σ_j p_j dP_j (= dO_i·O_i), dS_j =
// p_j (dP_j - D_i) (softcap: times 1 - tanh²), dQ_i = scale Σ_j dS_j k_j, dK_j = scale Σ_i dS_j q_i,
// dV_j = Σ_i p_j dO_i, dsinks_h = -Σ_{b,i} p_sink D_i; GQA groups summed; rounded to fp32 once.
#include "kernels/cpu/reference.h"

#include <cmath>
#include <limits>

#include "kernels/cpu/backward_common.h"
#include "kernels/cpu/dot.h"

namespace attnscope {

namespace cpu {
RunResult start_result(const std::string& impl, const LayerSpec& s) {
  RunResult r;
  r.impl = impl;
  r.label = impl;
  r.backend = "cpu";
  r.device = cpu_device().describe();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  r.out = Tensor(s.dtype, {s.batch, s.heads_q, s.seq_q, s.head_dim_v}, nan);
  r.lse = Tensor(DType::F32, {s.batch, s.heads_q, s.seq_q}, nan);
  return r;
}

void reference_row(const LayerSpec& s, const Inputs& in, int b, int h, int64_t i, ReferenceRow* r) {
  const double scale = s.effective_scale();
  const int hk = h / s.kv_group();
  const int64_t D = s.head_dim, Nq = s.seq_q, Nk = s.seq_k;
  r->vis.assign(Nk, 0);
  r->p.assign(Nk, 0.0);
  if (s.softcap > 0) r->tanh_out.assign(Nk, 0.0);
  const float* q = &in.q.data[at4(b, h, i, 0, s.heads_q, Nq, D)];
  double m = -std::numeric_limits<double>::infinity();
  r->any = false;
  for (int64_t j = 0; j < Nk; ++j) {
    if (!key_visible(s, in, b, h, i, j)) continue;
    const float* k = &in.k.data[at4(b, hk, j, 0, s.heads_kv, Nk, D)];
    double x = dot<double>(q, k, D) * scale;
    if (s.softcap > 0) {
      const double t = std::tanh(x / s.softcap);
      r->tanh_out[j] = t;
      x = s.softcap * t;
    }
    if (s.mask == MaskKind::ExplicitAdditive) x += in.mask_at(b, h, i, j);
    if (std::isinf(x) && x < 0) continue;  // an additive -inf is a masked key
    r->vis[j] = 1;
    r->p[j] = x;
    m = std::max(m, x);
    r->any = true;
  }
  const double sink = s.sinks ? static_cast<double>(in.sinks[h]) : 0.0;
  if (s.sinks) m = r->any ? std::max(m, sink) : sink;
  if (!r->any && !s.sinks) {
    r->lse = -std::numeric_limits<double>::infinity();
    r->p_sink = 0;
    return;
  }
  double denom = s.sinks ? std::exp(sink - m) : 0.0;
  for (int64_t j = 0; j < Nk; ++j)
    if (r->vis[j]) denom += (r->p[j] = std::exp(r->p[j] - m));
  for (int64_t j = 0; j < Nk; ++j) r->p[j] /= denom;
  r->p_sink = s.sinks ? std::exp(sink - m) / denom : 0.0;
  r->lse = m + std::log(denom);
}

std::vector<double> reference_output_f64(const LayerSpec& s, const Inputs& in) {
  const int64_t Dv = s.head_dim_v, Nq = s.seq_q, Nk = s.seq_k;
  std::vector<double> out(static_cast<size_t>(s.batch) * s.heads_q * Nq * Dv, 0.0);
  ReferenceRow row;
  for (int b = 0; b < s.batch; ++b)
    for (int h = 0; h < s.heads_q; ++h) {
      const int hk = h / s.kv_group();
      for (int64_t i = 0; i < Nq; ++i) {
        reference_row(s, in, b, h, i, &row);
        double* o = &out[at4(b, h, i, 0, s.heads_q, Nq, Dv)];
        for (int64_t j = 0; j < Nk; ++j)
          if (row.p[j] != 0) axpy(o, row.p[j], &in.v.data[at4(b, hk, j, 0, s.heads_kv, Nk, Dv)], Dv);
      }
    }
  return out;
}

namespace {

Gradients reference_backward(const LayerSpec& s, const Inputs& in, const RunOptions& opt, double start_us) {
  Gradients g = start_gradients(s, in, DType::F32);
  if (!g.error.empty()) return g;
  auto t0 = Clock::now();
  const double scale = s.effective_scale();
  const int group = s.kv_group();
  const int64_t D = s.head_dim, Dv = s.head_dim_v, Nq = s.seq_q, Nk = s.seq_k;
  HeadAccumulators<double> acc(s);
  bool ok = for_each_head(s, opt, [&](int b, int h, int) {
    const int hk = h / group;
    ReferenceRow row;
    std::vector<double> dp(Nk), dq(D);
    double* dk_head = acc.dk_head(b, h);
    double* dv_head = acc.dv_head(b, h);
    double dsink = 0;
    for (int64_t i = 0; i < Nq; ++i) {
      reference_row(s, in, b, h, i, &row);
      const float* q = &in.q.data[at4(b, h, i, 0, s.heads_q, Nq, D)];
      const float* dO = &in.dout.data[at4(b, h, i, 0, s.heads_q, Nq, Dv)];
      double Di = 0;
      for (int64_t j = 0; j < Nk; ++j) {
        if (!row.vis[j]) continue;
        dp[j] = dot<double>(dO, &in.v.data[at4(b, hk, j, 0, s.heads_kv, Nk, Dv)], Dv);
        Di += row.p[j] * dp[j];
      }
      std::fill(dq.begin(), dq.end(), 0.0);
      for (int64_t j = 0; j < Nk; ++j) {
        if (!row.vis[j]) continue;
        double ds = row.p[j] * (dp[j] - Di);
        if (s.softcap > 0) ds *= 1.0 - row.tanh_out[j] * row.tanh_out[j];
        axpy(dq.data(), ds, &in.k.data[at4(b, hk, j, 0, s.heads_kv, Nk, D)], D);
        axpy(dk_head + j * D, ds, q, D);
        axpy(dv_head + j * Dv, row.p[j], dO, Dv);
      }
      float* out = &g.dq.data[at4(b, h, i, 0, s.heads_q, Nq, D)];
      for (int64_t d = 0; d < D; ++d) out[d] = static_cast<float>(dq[d] * scale);
      dsink -= row.p_sink * Di;
    }
    acc.dsinks(b, h) = dsink;
  });
  if (ok) acc.finish(&g, scale, false);
  g.spans.push_back({"reference/bwd/fp64", start_us, us_since(t0), 0});
  finish_gradients(&g, "reference", s, ok);
  return g;
}

}  // namespace
}  // namespace cpu

RunResult run_reference(const LayerSpec& s, const Inputs& in, const RunOptions& opt) {
  using namespace cpu;
  RunResult r = start_result("reference", s);
  r.out.dtype = DType::F32;
  auto t0 = Clock::now();
  const int group = s.kv_group();
  const int64_t Dv = s.head_dim_v, Nq = s.seq_q, Nk = s.seq_k;
  bool ok = for_each_head(s, opt, [&](int b, int h, int) {
    const int hk = h / group;
    ReferenceRow row;
    std::vector<double> acc(Dv);
    for (int64_t i = 0; i < Nq; ++i) {
      reference_row(s, in, b, h, i, &row);
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t j = 0; j < Nk; ++j)
        if (row.vis[j]) axpy(acc.data(), row.p[j], &in.v.data[at4(b, hk, j, 0, s.heads_kv, Nk, Dv)], Dv);
      float* o = &r.out.data[at4(b, h, i, 0, s.heads_q, Nq, Dv)];
      for (int64_t d = 0; d < Dv; ++d) o[d] = row.any ? static_cast<float>(acc[d]) : 0.0f;
      r.lse.data[(static_cast<int64_t>(b) * s.heads_q + h) * Nq + i] = static_cast<float>(row.lse);
    }
  });
  r.spans.push_back({"reference/fp64", 0, us_since(t0), 0});
  r.median_ms = r.spans.back().dur_us / 1000.0;
  r.times_ms = {r.median_ms};
  r.ran = ok;
  if (!ok) r.error = "cancelled";
  r.verdict.add(Severity::Note, "reference", "fp64 on the CPU: defines \"right\"", "attnscope");
  if (ok && opt.backward) r.grad = reference_backward(s, in, opt, us_since(t0));
  return r;
}

}  // namespace attnscope
