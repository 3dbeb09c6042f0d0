// CPU sdpa:math: torch 2.11's _scaled_dot_product_attention_math with its rounding points
// (kernels/torch_plan.h torch_math_plan). fp16/bf16 q, k, v are upcast to fp32 (exact), q and k
// are each multiplied by sqrt(scale) in fp32, the scores stay fp32 (an fp32 GEMM), the mask is an
// fp32 bias (-inf where masked; an additive mask arrives in the model dtype), the softmax is
// "safe" (a row with every key masked gives 0, not NaN), P·V accumulates in fp32 and only the
// output is rounded to the model dtype. Nothing else is rounded, unlike eager.
#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/cpu/backward_common.h"
#include "kernels/cpu/dot.h"
#include "kernels/cpu/fused.h"

namespace attnscope::cpu {

namespace {

// k·sf of one KV head, [Nk, D] (the forward's scaled key, which the backward recomputes).
void scaled_keys(const LayerSpec& s, const Inputs& in, int b, int hk, float sf, std::vector<float>* ks) {
  const int64_t Nk = s.seq_k, D = s.head_dim;
  for (int64_t j = 0; j < Nk; ++j)
    for (int64_t d = 0; d < D; ++d) (*ks)[j * D + d] = in.k.data[at4(b, hk, j, d, s.heads_kv, Nk, D)] * sf;
}

// Row i of head (b, h) of the scores as run_math computes them: q·sf into `qs`, (q·sf)·(k·sf)ᵀ in fp32,
// -inf where the key is masked, an additive mask's value in the model dtype added. Returns the row max.
float score_row(const LayerSpec& s, const Inputs& in, int b, int h, int64_t i, float sf, const std::vector<float>& ks,
                std::vector<float>* qs, float* row) {
  const int64_t Nq = s.seq_q, Nk = s.seq_k, D = s.head_dim;
  for (int64_t d = 0; d < D; ++d) (*qs)[d] = in.q.data[at4(b, h, i, d, s.heads_q, Nq, D)] * sf;
  float m = -std::numeric_limits<float>::infinity();
  for (int64_t j = 0; j < Nk; ++j) {
    float x = dot<float>(qs->data(), &ks[j * D], D);
    if (!key_visible(s, in, b, h, i, j)) x = -std::numeric_limits<float>::infinity();
    else if (s.mask == MaskKind::ExplicitAdditive) x += round_to(s.dtype, in.mask_at(b, h, i, j));
    row[j] = x;
    m = std::max(m, x);
  }
  return m;
}

// Autograd through run_math's steps (torch_math_backward_plan on the GPU): every intermediate is
// fp32 because the forward upcast q, k and v, so only the gradients' final .to(dtype) rounds
// (ToCopyBackward). dO -> fp32; P·V's BmmBackward: dP = dO·veᵀ, dve = Pᵀ·dO; _safe_softmax's
// backward: t = dP ∘ P, dS = t − P·Σt (a fully masked row has P = 0: nothing flows); the mask's add
// passes dS on; (q·sf)·(k·sf)ᵀ's BmmBackward: dqs = dS·ks, dks = dSᵀ·qs; each `* sf` backward
// multiplies by sf; repeat_interleave's backward sums a group's dK/dV in fp32.
Gradients math_backward(const LayerSpec& s, const Inputs& in, const RunOptions& opt, const std::string& impl,
                        double start_us) {
  Gradients g = start_gradients(s, in, s.dtype);
  if (!g.error.empty()) return g;
  const DType dt = s.dtype;
  const float sf = static_cast<float>(std::sqrt(s.effective_scale()));
  const float ninf = -std::numeric_limits<float>::infinity();
  const int group = s.kv_group();
  const int64_t D = s.head_dim, Dv = s.head_dim_v, Nq = s.seq_q, Nk = s.seq_k;
  auto t0 = Clock::now();
  HeadAccumulators<float> acc(s);
  bool ok = for_each_head(s, opt, [&](int b, int h, int) {
    const int hk = h / group;
    std::vector<float> ks(static_cast<size_t>(Nk * D)), qs(static_cast<size_t>(D)), p(static_cast<size_t>(Nk)),
        t(static_cast<size_t>(Nk)), dqs(static_cast<size_t>(D));
    scaled_keys(s, in, b, hk, sf, &ks);
    float* dk_head = acc.dk_head(b, h);
    float* dv_head = acc.dv_head(b, h);
    for (int64_t i = 0; i < Nq; ++i) {
      float* dq = &g.dq.data[at4(b, h, i, 0, s.heads_q, Nq, D)];
      // The forward's row, as run_math computes it (autograd saved P).
      const float m = score_row(s, in, b, h, i, sf, ks, &qs, p.data());
      if (m == ninf) {  // _safe_softmax's zero row: P = 0, so dS = 0 and dq = 0
        for (int64_t d = 0; d < D; ++d) dq[d] = 0;
        continue;
      }
      float sum = 0;
      for (int64_t j = 0; j < Nk; ++j) sum += (p[j] = std::exp(p[j] - m));
      for (int64_t j = 0; j < Nk; ++j) p[j] = p[j] / sum;
      const float* dO = &in.dout.data[at4(b, h, i, 0, s.heads_q, Nq, Dv)];
      float sum_t = 0;
      for (int64_t j = 0; j < Nk; ++j) {
        const float* v = &in.v.data[at4(b, hk, j, 0, s.heads_kv, Nk, Dv)];
        if (p[j] != 0) axpy(dv_head + j * Dv, p[j], dO, Dv);
        sum_t += (t[j] = dot<float>(dO, v, Dv) * p[j]);
      }
      std::fill(dqs.begin(), dqs.end(), 0.0f);
      for (int64_t j = 0; j < Nk; ++j) {
        const float ds = t[j] - p[j] * sum_t;
        if (ds == 0) continue;
        axpy(dqs.data(), ds, &ks[j * D], D);
        axpy(dk_head + j * D, ds, qs.data(), D);
      }
      for (int64_t d = 0; d < D; ++d) dq[d] = round_to(dt, dqs[d] * sf);
    }
  });
  g.spans.push_back({impl + "/bwd/autograd", start_us, us_since(t0), 0});
  const double reduce_at = start_us + us_since(t0);
  t0 = Clock::now();
  // dK: (dSᵀ·qs)·sf per query head, the group summed in fp32, one rounding; dV likewise unscaled.
  if (ok) acc.finish(&g, sf, /*round_per_head=*/false);
  g.spans.push_back({impl + "/bwd/repeat_interleave_sum", reduce_at, us_since(t0), 0});
  finish_gradients(&g, impl, s, ok);
  return g;
}

}  // namespace

RunResult run_math(const LayerSpec& s, const Inputs& in, const RunOptions& opt, const std::string& impl) {
  RunResult r = start_result(impl, s);
  auto t0 = Clock::now();
  const DType dt = s.dtype;
  // scaling_factor = sqrt(scale) in double, used as an fp32 scalar on fp32 tensors.
  const float sf = static_cast<float>(std::sqrt(s.effective_scale()));
  const float ninf = -std::numeric_limits<float>::infinity();
  const int group = s.kv_group();
  const int64_t D = s.head_dim, Dv = s.head_dim_v, Nq = s.seq_q, Nk = s.seq_k;
  const bool keep = opt.keep_intermediates;
  if (keep) {
    r.scores = Tensor(DType::F32, {s.batch, s.heads_q, Nq, Nk});
    r.probs = Tensor(DType::F32, {s.batch, s.heads_q, Nq, Nk});
  }
  bool ok = for_each_head(s, opt, [&](int b, int h, int) {
    const int hk = h / group;
    std::vector<float> ks(static_cast<size_t>(Nk * D)), qs(static_cast<size_t>(D)), a(static_cast<size_t>(Nk)),
        o(static_cast<size_t>(Dv));
    scaled_keys(s, in, b, hk, sf, &ks);
    for (int64_t i = 0; i < Nq; ++i) {
      const float m = score_row(s, in, b, h, i, sf, ks, &qs, a.data());
      const int64_t row = (static_cast<int64_t>(b) * s.heads_q + h) * Nq + i;
      if (keep)
        for (int64_t j = 0; j < Nk; ++j) r.scores.data[row * Nk + j] = a[j];
      float* out = &r.out.data[row * Dv];
      if (m == ninf) {  // _safe_softmax: a fully masked row is 0
        for (int64_t d = 0; d < Dv; ++d) out[d] = 0;
        r.lse.data[row] = ninf;
        if (keep)
          for (int64_t j = 0; j < Nk; ++j) r.probs.data[row * Nk + j] = 0;
        continue;
      }
      float sum = 0;
      for (int64_t j = 0; j < Nk; ++j) sum += (a[j] = std::exp(a[j] - m));
      r.lse.data[row] = m + std::log(sum);
      for (int64_t d = 0; d < Dv; ++d) o[d] = 0;
      for (int64_t j = 0; j < Nk; ++j) {
        const float p = a[j] / sum;
        if (keep) r.probs.data[row * Nk + j] = p;
        if (p != 0) axpy(o.data(), p, &in.v.data[at4(b, hk, j, 0, s.heads_kv, Nk, Dv)], Dv);
      }
      for (int64_t d = 0; d < Dv; ++d) out[d] = round_to(dt, o[d]);
    }
  });
  r.spans.push_back({impl + "/run", 0, us_since(t0), 0});
  r.median_ms = r.spans.back().dur_us / 1000.0;
  r.times_ms = {r.median_ms};
  r.peak_bytes = model_bytes("sdpa:math", s);  // what the same steps hold on a GPU
  r.model_bytes = r.peak_bytes;
  r.ran = ok;
  if (!ok) r.error = "cancelled";
  if (ok && opt.backward) r.grad = math_backward(s, in, opt, impl, us_since(t0));
  return r;
}

}  // namespace attnscope::cpu
