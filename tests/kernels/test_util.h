// Helpers shared by the kernels tests: run an implementation and measure it against fp64.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <string>

#include "kernels/implementation.h"

namespace attnscope::testing {

// Errors over the rows that see a key (kernels/inputs.h row_attended: conventions for empty rows
// differ between libraries).
inline double max_abs_error(const LayerSpec& s, const Inputs& in, const Tensor& out, const Tensor& ref) {
  double worst = 0;
  const int64_t Dv = s.head_dim_v, Nq = s.seq_q;
  for (int b = 0; b < s.batch; ++b)
    for (int h = 0; h < s.heads_q; ++h)
      for (int64_t i = 0; i < Nq; ++i) {
        if (!row_attended(s, in, b, h, i)) continue;
        for (int64_t d = 0; d < Dv; ++d) {
          int64_t idx = ((static_cast<int64_t>(b) * s.heads_q + h) * Nq + i) * Dv + d;
          double e = std::abs(static_cast<double>(out.data[idx]) - ref.data[idx]);
          if (std::isnan(e)) return std::numeric_limits<double>::infinity();
          worst = std::max(worst, e);
        }
      }
  return worst;
}

inline double max_lse_rel_error(const LayerSpec& s, const Inputs& in, const Tensor& lse, const Tensor& ref) {
  double worst = 0;
  for (int b = 0; b < s.batch; ++b)
    for (int h = 0; h < s.heads_q; ++h)
      for (int64_t i = 0; i < s.seq_q; ++i) {
        if (!row_attended(s, in, b, h, i)) continue;
        int64_t idx = (static_cast<int64_t>(b) * s.heads_q + h) * s.seq_q + i;
        double e = std::abs(static_cast<double>(lse.data[idx]) - ref.data[idx]) /
                   std::max(1.0, std::abs(static_cast<double>(ref.data[idx])));
        if (std::isnan(e)) return std::numeric_limits<double>::infinity();
        worst = std::max(worst, e);
      }
  return worst;
}

// One case of the parameterised sweeps (forward and backward): the layer's shape and options.
struct SweepCase {
  int head_dim, hq, hkv, nq, nk;
  DType dtype;
  bool causal;
  CausalAlign align;
  int sliding;  // HF W
  int wl, wr;   // FA2 window
  bool sinks;
  float softcap;
  bool padding = false;  // a padding mask: batch 1 sees 2/3 of the keys
};

inline std::string describe(const SweepCase& c) {
  char b[256];
  std::snprintf(b, sizeof b, "d=%d H=%d/%d N=%d/%d %s causal=%d(%s) W=%d win=(%d,%d) sinks=%d softcap=%g pad=%d",
                c.head_dim, c.hq, c.hkv, c.nq, c.nk, dtype_name(c.dtype), c.causal, causal_align_name(c.align),
                c.sliding, c.wl, c.wr, c.sinks, c.softcap, c.padding);
  return b;
}

// Batch 2 of the case's layer.
inline LayerSpec spec_of(const SweepCase& c) {
  LayerSpec s;
  s.batch = 2;
  s.head_dim = s.head_dim_v = c.head_dim;
  s.heads_q = c.hq;
  s.heads_kv = c.hkv;
  s.seq_q = c.nq;
  s.seq_k = c.nk;
  s.dtype = c.dtype;
  s.causal = c.causal;
  s.align = c.align;
  s.sliding_window = c.sliding;
  s.window_left = c.wl;
  s.window_right = c.wr;
  s.sinks = c.sinks;
  s.softcap = c.softcap;
  if (c.padding) {
    s.mask = MaskKind::Padding;
    s.kv_lengths = {c.nk, std::max(1, c.nk * 2 / 3)};
  }
  return s;
}

// The hand-checked sink layer: one head, D = 1, scale 1, causal, fp32, q = [1, 1], k = [1, 2],
// v = [1, 3], sink logit 0.5 (REFERENCE.md "Sinks"; the expected values are where it is used).
inline void hand_checked_sink_layer(LayerSpec* s, Inputs* in) {
  *s = LayerSpec{};
  s->batch = 1;
  s->heads_q = s->heads_kv = 1;
  s->seq_q = s->seq_k = 2;
  s->head_dim = s->head_dim_v = 1;
  s->dtype = DType::F32;
  s->scale = 1.0;
  s->causal = true;
  s->sinks = true;
  *in = Inputs{};
  in->q = Tensor(DType::F32, {1, 1, 2, 1});
  in->q.data = {1, 1};
  in->k = Tensor(DType::F32, {1, 1, 2, 1});
  in->k.data = {1, 2};
  in->v = Tensor(DType::F32, {1, 1, 2, 1});
  in->v.data = {1, 3};
  in->sinks = {0.5f};
}

}  // namespace attnscope::testing
