#include "kernels/cpu/backward_common.h"

#include <limits>

namespace attnscope::cpu {

Gradients start_gradients(const LayerSpec& s, const Inputs& in, DType dt) {
  Gradients g;
  const std::vector<int64_t> want{s.batch, s.heads_q, s.seq_q, s.head_dim_v};
  if (in.dout.empty()) {
    g.error = "no dO: the backward needs `do` in the inputs or a seeded one (--backward)";
    return g;
  }
  if (in.dout.shape != want) {
    g.error = "do: shape " + shape_str(in.dout.shape) + " does not match the layer's " + shape_str(want);
    return g;
  }
  const float nan = std::numeric_limits<float>::quiet_NaN();
  g.dq = Tensor(dt, {s.batch, s.heads_q, s.seq_q, s.head_dim}, nan);
  g.dk = Tensor(dt, {s.batch, s.heads_kv, s.seq_k, s.head_dim}, nan);
  g.dv = Tensor(dt, {s.batch, s.heads_kv, s.seq_k, s.head_dim_v}, nan);
  if (s.sinks) g.dsinks = Tensor(dt, {s.heads_q}, nan);
  return g;
}

void finish_gradients(Gradients* g, const std::string& impl, const LayerSpec& s, bool ok) {
  double total_us = 0;
  for (const HostSpan& sp : g->spans) total_us += sp.dur_us;
  g->median_ms = total_us / 1000.0;
  g->times_ms = {g->median_ms};
  g->model_bytes = model_bytes_backward(impl, s);
  g->peak_bytes = g->model_bytes;  // what the same steps hold on a GPU
  g->ran = ok;
  if (!ok) {
    g->error = "cancelled";
    g->dq = g->dk = g->dv = g->dsinks = Tensor();
  }
}

}  // namespace attnscope::cpu
