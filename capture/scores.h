// Attention scores and probabilities rebuilt from a capture's inputs: S where an implementation never
// stored it (the fused kernels), and P = exp(S - lse) from the LSE each run recorded ("reconstructed").
// The analysis (fp64 P rows for argmax agreement) and the GUI's maps both use these.
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/inputs.h"
#include "kernels/layer_spec.h"
#include "kernels/tensor.h"

namespace attnscope {

// One row i of (b, h)'s scaled scores into out[0, Nk): softcap applied, an additive mask added, -inf where
// key j is not visible (LayerSpec::visible_range) or an explicit boolean mask hides it. Computed in double
// when `fp64`, else in float (as the fused kernels accumulate).
void scores_row(const LayerSpec& spec, const Inputs& in, int b, int h, int64_t i, bool fp64, double* out);
// Every row of (b, h): [Nq, Nk].
std::vector<double> scores_head(const LayerSpec& spec, const Inputs& in, int b, int h, bool fp64);

// P = exp(S - lse) of (b, h), [Nq, Nk] into `out` (0 where a key is masked or the row's LSE is infinite),
// with `lse` [B, Hq, Nq] as a run recorded it; rows are split over the cores (a 16k x 16k head is 17 GFLOP
// of dot products). False when `lse` is not of that shape.
bool probs_from_lse(const LayerSpec& spec, const Inputs& in, const Tensor& lse, int b, int h, bool fp64,
                    std::vector<float>* out);

}  // namespace attnscope
