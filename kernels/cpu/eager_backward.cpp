// CPU eager backward: what autograd runs through HF's eager_attention_forward (eager, and
// sdpa:math as the same steps with an fp32 softmax). Every tensor autograd produces is stored in
// the model dtype where PyTorch stores it; GEMMs accumulate in fp32 and round once. Per row,
// with the forward's tensors recomputed bit for bit (eager_steps.h) as autograd would have saved
// them (P and the softmax output):
//   dP_j   = round(dO_i · v_j)                      matmul(P, V)'s backward, GEMM dO·Vᵀ
//   dV_j  += P_j · dO_i                             GEMM Pᵀ·dO over rows, rounded once per head
//   softmax backward (_softmax_backward_data as softmax_backward_cuda_out runs it) on the saved
//   output y and the gradient g = [dP_j, 0 for the dropped sink column]: t_j = g_j y_j stored in
//   y's dtype (torch's `tmp = grad * output`), Σ = Σ_j t_j in fp32, dX_j = t_j - y_j Σ
//     Llama (softmax(dtype=fp32)): y is the fp32 output; dX is cast back to the model dtype
//       (the backward of the input's .to(fp32)) -> round(dX_j)
//     GPT-OSS (softmax in the model dtype): y is the stored model-dtype output; round(dX_j), then
//       `combined - combined.max()`'s backward adds round(-Σ_k dX_k) to the max's column
//       (torch.max's index: the first of equal maxima), one more rounding there
//   sink column (GPT-OSS): dsinks_h = round(Σ_{b,i} dX_sink) (expand's backward: fp32 sum, one rounding)
//   + mask: passes the gradient through
//   softcap (Gemma 2: / c, tanh, * c): g = round(g·c); g = round(g·(1 - t²)) with t the stored
//     tanh output; g = round(g / c)
//   * scale: dS_j = round(g · scale)
//   dQ_i   = round(Σ_j dS_j k_j)                    GEMM dS·K, fp32 accumulation
//   dK_j  += dS_j q_i                               GEMM dSᵀ·Q, rounded once per head
//   repeat_kv backward: dK/dV of a group's heads summed in fp32 and rounded once.
#include <cmath>

#include "kernels/cpu/backward_common.h"
#include "kernels/cpu/dot.h"
#include "kernels/cpu/eager_steps.h"
#include "kernels/cpu/fused.h"

namespace attnscope::cpu {

Gradients eager_backward(const LayerSpec& s, const Inputs& in, const RunOptions& opt, const std::string& impl,
                         double start_us) {
  const DType dt = s.dtype;
  Gradients g = start_gradients(s, in, dt);
  if (!g.error.empty()) return g;
  auto rd = [dt](float x) { return round_to(dt, x); };
  // y's dtype: fp32 with an fp32 softmax (the product is already an fp32 value), else the model's.
  const bool y_fp32 = s.softmax_dtype == DType::F32;
  auto ry = [&](float x) { return y_fp32 ? x : round_to(dt, x); };
  const float scale = static_cast<float>(s.effective_scale());
  const int group = s.kv_group();
  const int64_t D = s.head_dim, Dv = s.head_dim_v, Nq = s.seq_q, Nk = s.seq_k;
  const int64_t cols = Nk + (s.sinks ? 1 : 0);
  auto t0 = Clock::now();

  HeadAccumulators<float> acc(s);
  bool ok = for_each_head(s, opt, [&](int b, int h, int) {
    const int hk = h / group;
    EagerRow row;
    std::vector<float> dx(cols), dq_acc(D);
    float* dk_head = acc.dk_head(b, h);
    float* dv_head = acc.dv_head(b, h);
    float dsink = 0;
    for (int64_t i = 0; i < Nq; ++i) {
      eager_row(s, in, b, h, i, &row);
      const float* q = &in.q.data[at4(b, h, i, 0, s.heads_q, Nq, D)];
      const float* dO = &in.dout.data[at4(b, h, i, 0, s.heads_q, Nq, Dv)];
      // dP = dO·Vᵀ (stored), dV += Pᵀ·dO; then the softmax backward's t = g ∘ y and Σ_j t_j.
      for (int64_t j = 0; j < Nk; ++j) {
        const float* v = &in.v.data[at4(b, hk, j, 0, s.heads_kv, Nk, Dv)];
        dx[j] = rd(dot<float>(dO, v, Dv));
        if (row.p[j] != 0) axpy(dv_head + j * Dv, row.p[j], dO, Dv);
      }
      if (s.sinks) dx[Nk] = 0;  // the sink column was dropped: no gradient reaches it from P·V
      float sum_t = 0;
      for (int64_t j = 0; j < cols; ++j) sum_t += (dx[j] = ry(dx[j] * row.y[j]));
      for (int64_t j = 0; j < cols; ++j) dx[j] = rd(dx[j] - row.y[j] * sum_t);
      if (row.subtract_max) {
        float total = 0;
        for (int64_t j = 0; j < cols; ++j) total += dx[j];
        dx[row.argmax] = rd(dx[row.argmax] + rd(-total));
      }
      if (s.sinks) dsink += dx[Nk];
      std::fill(dq_acc.begin(), dq_acc.end(), 0.0f);
      for (int64_t j = 0; j < Nk; ++j) {
        float gj = dx[j];
        if (s.softcap > 0) {
          const float t = row.tanh_out[j];
          gj = rd(rd(rd(gj * s.softcap) * (1.0f - t * t)) / s.softcap);
        }
        gj = rd(gj * scale);
        if (gj == 0) continue;
        axpy(dq_acc.data(), gj, &in.k.data[at4(b, hk, j, 0, s.heads_kv, Nk, D)], D);
        axpy(dk_head + j * D, gj, q, D);
      }
      float* dq = &g.dq.data[at4(b, h, i, 0, s.heads_q, Nq, D)];
      for (int64_t d = 0; d < D; ++d) dq[d] = rd(dq_acc[d]);
    }
    acc.dsinks(b, h) = dsink;
  });
  g.spans.push_back({impl + "/bwd/autograd", start_us, us_since(t0), 0});
  const double reduce_at = start_us + us_since(t0);
  t0 = Clock::now();
  if (ok) acc.finish(&g, 1.0f, true);
  g.spans.push_back({impl + "/bwd/repeat_kv_sum", reduce_at, us_since(t0), 0});
  finish_gradients(&g, impl, s, ok);
  return g;
}

}  // namespace attnscope::cpu
