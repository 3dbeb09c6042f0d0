// CPU sdpa:math: torch 2.11's _scaled_dot_product_attention_math with its rounding points
// (kernels/torch_plan.h torch_math_plan). fp16/bf16 q, k, v are upcast to fp32 (exact), q and k
// are each multiplied by sqrt(scale) in fp32, the scores stay fp32 (an fp32 GEMM), the mask is an
// fp32 bias (-inf where masked; an additive mask arrives in the model dtype), the softmax is
// "safe" (a row with every key masked gives 0, not NaN), P·V accumulates in fp32 and only the
// output is rounded to the model dtype. Nothing else is rounded, unlike eager.
#include <cmath>
#include <limits>

#include "kernels/cpu/dot.h"
#include "kernels/cpu/fused.h"

namespace attnscope::cpu {

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
    for (int64_t j = 0; j < Nk; ++j)
      for (int64_t d = 0; d < D; ++d) ks[j * D + d] = in.k.data[at4(b, hk, j, d, s.heads_kv, Nk, D)] * sf;
    for (int64_t i = 0; i < Nq; ++i) {
      for (int64_t d = 0; d < D; ++d) qs[d] = in.q.data[at4(b, h, i, d, s.heads_q, Nq, D)] * sf;
      float m = ninf;
      for (int64_t j = 0; j < Nk; ++j) {
        float x = dot<float>(qs.data(), &ks[j * D], D);
        if (!key_visible(s, in, b, h, i, j)) x = ninf;
        else if (s.mask == MaskKind::ExplicitAdditive) x += round_to(dt, in.mask_at(b, h, i, j));
        a[j] = x;
        m = std::max(m, x);
      }
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
  // The backward (issue 12's model): autograd through eager's steps with an fp32 softmax.
  if (ok && opt.backward) {
    LayerSpec m = s;
    m.softmax_dtype = DType::F32;
    m.sinks = false;
    r.grad = eager_backward(m, in, opt, impl, us_since(t0));
  }
  return r;
}

}  // namespace attnscope::cpu
