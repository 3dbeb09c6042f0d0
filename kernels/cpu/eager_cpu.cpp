// CPU eager: HF's eager_attention_forward step by step, each tensor rounded to the model dtype
// where PyTorch would store it (QK^T, * scale, softcap, + mask, softmax output, P·V).
#include <cmath>
#include <limits>

#include "kernels/cpu/dot.h"
#include "kernels/cpu/eager_steps.h"
#include "kernels/cpu/fused.h"

namespace attnscope::cpu {

void eager_row(const LayerSpec& s, const Inputs& in, int b, int h, int64_t i, EagerRow* r) {
  const DType dt = s.dtype;
  auto rd = [dt](float x) { return round_to(dt, x); };
  // `* self.scaling` multiplies by a Python float: PyTorch computes in fp32 (opmath) with the
  // scalar unrounded, and stores the product in the model dtype.
  const float scale = static_cast<float>(s.effective_scale());
  const float minv = dtype_lowest(dt);  // torch.finfo(dtype).min mask fill
  const int hk = h / s.kv_group();
  const int64_t D = s.head_dim, Nq = s.seq_q, Nk = s.seq_k;
  const int64_t cols = Nk + (s.sinks ? 1 : 0);
  r->s.resize(cols);
  r->y.resize(cols);
  r->p.resize(cols);
  if (s.softcap > 0) r->tanh_out.resize(Nk);
  const float* q = &in.q.data[at4(b, h, i, 0, s.heads_q, Nq, D)];
  for (int64_t j = 0; j < Nk; ++j) {
    const float* k = &in.k.data[at4(b, hk, j, 0, s.heads_kv, Nk, D)];
    // GEMM: fp32 accumulate, stored in the model dtype, then scaled (another stored tensor).
    float x = rd(rd(dot<float>(q, k, D)) * scale);
    if (s.softcap > 0) {
      const float t = rd(std::tanh(rd(x / s.softcap)));
      r->tanh_out[j] = t;
      x = rd(t * s.softcap);
    }
    // The mask is additive: 0 where visible, finfo.min where not (HF's causal/window/padding mask).
    // transformers' 4D mask is a model-dtype tensor: an additive mask is rounded to it first.
    if (!key_visible(s, in, b, h, i, j)) x = rd(x + minv);
    else if (s.mask == MaskKind::ExplicitAdditive) x = rd(x + rd(in.mask_at(b, h, i, j)));
    r->s[j] = std::max(x, minv);  // x + min saturates at min in the model dtype
  }
  if (s.sinks) r->s[Nk] = rd(in.sinks[h]);  // module.sinks is a model-dtype parameter, cat'ed as such
  float m = -std::numeric_limits<float>::infinity();
  r->argmax = -1;
  for (int64_t j = 0; j < cols; ++j)
    if (r->s[j] > m) {  // the first of equal maxima, as torch.max's index
      m = r->s[j];
      r->argmax = j;
    }
  float shift = 0;
  std::vector<float>& row = r->y;  // the softmax's input, then (below) its output
  for (int64_t j = 0; j < cols; ++j) row[j] = r->s[j];
  r->subtract_max = s.softmax_dtype != DType::F32 && s.sinks;
  if (r->subtract_max) {
    // GPT-OSS: combined_logits - combined_logits.max(...) in the model dtype, then a softmax
    // whose output is stored in the model dtype.
    for (int64_t j = 0; j < cols; ++j) row[j] = rd(row[j] - m);
    shift = m;
    m = 0;
    for (int64_t j = 0; j < cols; ++j) m = std::max(m, row[j]);
  }
  // torch.softmax: fp32 arithmetic (accscalar_t) whatever the storage dtype.
  float sum = 0;
  for (int64_t j = 0; j < cols; ++j) sum += (row[j] = std::exp(row[j] - m));
  r->lse = shift + m + std::log(sum);
  const bool model_dtype_softmax = s.softmax_dtype != DType::F32;
  for (int64_t j = 0; j < cols; ++j) {
    const float y = row[j] / sum;
    r->p[j] = rd(y);
    row[j] = model_dtype_softmax ? r->p[j] : y;  // what autograd saves: the softmax's own output
  }
}

void eager_pv_row(const LayerSpec& s, const Inputs& in, int b, int h, const float* p, float* o) {
  const int hk = h / s.kv_group();
  const int64_t Nk = s.seq_k, Dv = s.head_dim_v;
  for (int64_t d = 0; d < Dv; ++d) o[d] = 0;
  for (int64_t j = 0; j < Nk; ++j) {
    if (p[j] == 0) continue;
    axpy(o, p[j], &in.v.data[at4(b, hk, j, 0, s.heads_kv, Nk, Dv)], Dv);
  }
  for (int64_t d = 0; d < Dv; ++d) o[d] = round_to(s.dtype, o[d]);
}

RunResult run_eager(const LayerSpec& s, const Inputs& in, const RunOptions& opt, const std::string& impl) {
  RunResult r = start_result(impl, s);
  auto t0 = Clock::now();
  const DType dt = s.dtype;
  const int64_t Dv = s.head_dim_v, Nq = s.seq_q, Nk = s.seq_k;
  const bool keep = opt.keep_intermediates;
  if (keep) {
    r.scores = Tensor(dt, {s.batch, s.heads_q, Nq, Nk});
    r.probs = Tensor(dt, {s.batch, s.heads_q, Nq, Nk});
  }
  bool ok = for_each_head(s, opt, [&](int b, int h, int) {
    EagerRow row;
    for (int64_t i = 0; i < Nq; ++i) {
      eager_row(s, in, b, h, i, &row);
      if (keep)
        for (int64_t j = 0; j < Nk; ++j) {
          r.scores.data[at4(b, h, i, j, s.heads_q, Nq, Nk)] = row.s[j];
          r.probs.data[at4(b, h, i, j, s.heads_q, Nq, Nk)] = row.p[j];
        }
      r.lse.data[(static_cast<int64_t>(b) * s.heads_q + h) * Nq + i] = row.lse;
      // P·V over the first Nk columns (the sink column is dropped).
      eager_pv_row(s, in, b, h, row.p.data(), &r.out.data[at4(b, h, i, 0, s.heads_q, Nq, Dv)]);
    }
  });
  r.spans.push_back({impl + "/run", 0, us_since(t0), 0});
  r.median_ms = r.spans.back().dur_us / 1000.0;
  r.times_ms = {r.median_ms};
  r.peak_bytes = model_bytes("eager", s);  // what the same steps hold on a GPU
  r.model_bytes = model_bytes("eager", s);
  r.ran = ok;
  if (!ok) r.error = "cancelled";
  if (ok && opt.backward) r.grad = eager_backward(s, in, opt, impl, us_since(t0));
  return r;
}

}  // namespace attnscope::cpu
