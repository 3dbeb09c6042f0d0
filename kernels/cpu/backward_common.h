// Pieces every CPU backward shares: the gradient tensors, and the GQA reduction of the per-query-
// head dK/dV that HF's repeat_kv backward and FA2's dk_expanded sum both perform.
#pragma once
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

// Closes a backward: timing from the spans, the analytic memory model, ran/cancelled.
void finish_gradients(Gradients* g, const std::string& impl, const LayerSpec& s, bool ok);

}  // namespace attnscope::cpu
