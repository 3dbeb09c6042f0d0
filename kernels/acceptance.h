// FlashAttention's acceptance rule, in one place for the analysis, the reports and the tests
// (REFERENCE.md "Numerical acceptance"; DESIGN.md "agrees within dtype error").
#pragma once
#include <algorithm>
#include <cmath>

#include <string>

#include "dtype.h"
#include "inputs.h"
#include "layer_spec.h"
#include "result.h"

namespace attnscope {

// Forward: max |out - fp64| <= 2 x that of eager with an fp32 softmax in the same dtype, + 1e-5.
inline double fa2_bound(double baseline) { return 2.0 * baseline + 1e-5; }

// Spacing of representable values of `d` at magnitude |x| (one ulp); subnormal spacing below.
inline double ulp_at(DType d, double x) {
  const int mant = d == DType::BF16 ? 7 : d == DType::F16 ? 10 : 23;
  const int min_exp = d == DType::BF16 ? -126 : d == DType::F16 ? -14 : -126;
  x = std::abs(x);
  int e = x > 0 ? static_cast<int>(std::floor(std::log2(x))) : min_exp;
  e = std::max(e, min_exp);
  return std::ldexp(1.0, e - mant);
}

// Gradients, per tensor, as flash-attn's backward tests apply the rule: 2 x eager's error + 1e-5,
// with a floor of two rounding steps (ulps) of the tensor's largest reference value in its dtype.
// The floor matters only for tensors of a few values: dsinks has one per head, each a sum over
// every row rounded once, and eager's error there is often below half an ulp by the luck of its
// final rounding, so 2x of it fails a correct kernel (3 of 180 seeded bf16 runs without a floor).
// The sink kernel's dsinks measured at most 1.37 ulps over 300 seeded runs; a kernel that drops
// dsinks is off by 100%, hundreds of ulps. dQ/dK/dV have thousands of values and never reach it.
inline double gradient_bound(double baseline, DType d, double max_abs_ref) {
  return std::max(fa2_bound(baseline), 2.0 * ulp_at(d, max_abs_ref));
}

// fp32: the forward's rule is relative Frobenius <= 1e-5; a gradient sums over every row and the
// softmax backward subtracts nearly equal numbers (P (dP - D)), so eager's own fp32 gradients
// reach 1.1e-5 with massive activation channels: the bound is 2 x eager's, at least 1e-5.
inline double gradient_bound_fp32(double baseline_rel_fro) { return std::max(1e-5, 2.0 * baseline_rel_fro); }

// dsinks' baseline: eager's error on dsinks, or the error that FlashAttention's algorithm makes when it
// derives dsinks from eager's output, if larger. A fused backward has no P to sum: it takes
// dsink_h = -Σ_i exp(sink_h - LSE_i)·(dO_i · O_i) from the forward's stored output, whose own error
// (up to 2x eager's by the forward rule) runs straight into it; eager's softmax backward does not
// go through O. Measured (CPU, bit-faithful to the GPU kernel; fp16, one head, Nq 57, D 96, causal,
// padding): the sink kernel's dsinks 6.3 ulps from fp64, eager's 0.7, the same formula on eager's
// own output 3.9 (rounding the exact output to fp16 alone: 0.03). `in` carries dO and the sinks;
// `eager_out` is eager's output, `ref_lse` the reference's. -1 when there are no dsinks.
double dsinks_baseline(const LayerSpec& s, const Inputs& in, const Tensor& eager_out, const Tensor& eager_dsinks,
                       const Tensor& ref_lse, const Tensor& ref_dsinks);

// max |a - b| over their elements (infinity where one is NaN): the rule's measure.
double max_abs_diff(const Tensor& a, const Tensor& b);
// ||a - ref|| / ||ref|| (Frobenius; ||a - ref|| where ref is all zero; infinity where one is NaN): the
// fp32 rule's measure.
double rel_fro_diff(const Tensor& a, const Tensor& ref);

// The baseline of gradient `name` ("dq", "dk", "dv", "dsinks"): eager's max |g - fp64| (bf16/fp16;
// dsinks' through dsinks_baseline), or its relative Frobenius error for fp32 layers; -1 when either
// tensor is missing or their shapes differ. `eager` ran with an fp32 softmax in the layer's dtype,
// `ref` is the fp64 run.
double gradient_baseline(const std::string& name, const LayerSpec& s, const Inputs& in, const RunResult& eager,
                         const RunResult& ref);

}  // namespace attnscope
