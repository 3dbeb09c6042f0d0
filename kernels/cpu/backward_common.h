// Pieces every CPU backward shares: the gradient tensors, and the GQA reduction of the per-query-
// head dK/dV that HF's repeat_kv backward and FA2's dk_expanded sum both perform.
#pragma once
#include <algorithm>
#include <string>
#include <vector>

#include "kernels/cpu/cpu_common.h"

namespace attnscope::cpu {

// dq/dk/dv (and dsinks) allocated in `dt` and NaN-poisoned; error set when dO is missing or does
// not match the layer.
Gradients start_gradients(const LayerSpec& s, const Inputs& in, DType dt);

// Per query head accumulators [B, Hq, Nk, width] -> [B, Hkv, Nk, width]: each head's sum (times
// `scale`) is first stored in `out.dtype` (the per-head gradient tensor, dk_expanded / the
// repeat_kv output's grad), then the heads of a group are summed in `Acc` and stored once more
// (torch.sum over the group: wider accumulation, one rounding). Group 1: one rounding only.
// The fp64 reference passes round_per_head = false: fp64 throughout, rounded once.
template <class Acc>
void reduce_groups(const LayerSpec& s, const std::vector<Acc>& per_head, int64_t width, Acc scale, Tensor* out,
                   bool round_per_head = true) {
  const int group = s.kv_group();
  const int64_t Nk = s.seq_k;
  const DType dt = out->dtype;
  for (int b = 0; b < s.batch; ++b)
    for (int hk = 0; hk < s.heads_kv; ++hk)
      for (int64_t j = 0; j < Nk; ++j)
        for (int64_t d = 0; d < width; ++d) {
          Acc sum = 0;
          for (int g = 0; g < group; ++g) {
            const int h = hk * group + g;
            const Acc x = per_head[static_cast<size_t>(at4(b, h, j, d, s.heads_q, Nk, width))] * scale;
            sum += round_per_head ? static_cast<Acc>(round_to(dt, static_cast<float>(x))) : x;
          }
          out->data[at4(b, hk, j, d, s.heads_kv, Nk, width)] = round_to(dt, static_cast<float>(sum));
        }
}

// dsinks[h] = sum over batch of the per-(b, h) partial sums, stored once in `out.dtype`.
template <class Acc>
void reduce_sinks(const LayerSpec& s, const std::vector<Acc>& per_bh, Tensor* out) {
  for (int h = 0; h < s.heads_q; ++h) {
    Acc sum = 0;
    for (int b = 0; b < s.batch; ++b) sum += per_bh[static_cast<size_t>(b) * s.heads_q + h];
    out->data[h] = round_to(out->dtype, static_cast<float>(sum));
  }
}

// The accumulators every CPU backward fills per (batch, query head): each query head's dK and dV
// [B, Hq, Nk, D|Dv] before the GQA sum, and its share of dsinks. Threads write disjoint heads.
template <class Acc>
struct HeadAccumulators {
  const LayerSpec& s;
  std::vector<Acc> dk, dv, dsink;
  explicit HeadAccumulators(const LayerSpec& spec)
      : s(spec),
        dk(static_cast<size_t>(spec.batch) * spec.heads_q * spec.seq_k * spec.head_dim, Acc{0}),
        dv(static_cast<size_t>(spec.batch) * spec.heads_q * spec.seq_k * spec.head_dim_v, Acc{0}),
        dsink(static_cast<size_t>(spec.batch) * spec.heads_q, Acc{0}) {}
  Acc* dk_head(int b, int h) { return &dk[static_cast<size_t>(at4(b, h, 0, 0, s.heads_q, s.seq_k, s.head_dim))]; }
  Acc* dv_head(int b, int h) { return &dv[static_cast<size_t>(at4(b, h, 0, 0, s.heads_q, s.seq_k, s.head_dim_v))]; }
  Acc& dsinks(int b, int h) { return dsink[static_cast<size_t>(b) * s.heads_q + h]; }
  // g's dK = the group sums of dk_scale · dk, dV = of dv (reduce_groups' roundings unless fp64),
  // dsinks = the batch sum; `sinks_used` false: the kernel ignored the sinks, their gradient is 0.
  void finish(Gradients* g, Acc dk_scale, bool round_per_head, bool sinks_used = true) const {
    reduce_groups<Acc>(s, dk, s.head_dim, dk_scale, &g->dk, round_per_head);
    reduce_groups<Acc>(s, dv, s.head_dim_v, Acc{1}, &g->dv, round_per_head);
    if (g->dsinks.empty()) return;
    if (sinks_used) reduce_sinks<Acc>(s, dsink, &g->dsinks);
    else std::fill(g->dsinks.data.begin(), g->dsinks.data.end(), 0.0f);
  }
};

// Closes a backward: timing from the spans, the analytic memory model, ran/cancelled.
void finish_gradients(Gradients* g, const std::string& impl, const LayerSpec& s, bool ok);

}  // namespace attnscope::cpu
