// Comparison helpers of the GPU tests: errors against fp64, ULP agreement, visible rows.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/cpu/eager_steps.h"
#include "kernels/implementation.h"

namespace attnscope::gputest {

// Does query row (b, h, i) see at least one key: the product's rule (kernels/inputs.h).
inline bool row_has_key(const LayerSpec& s, const Inputs& in, int b, int h, int64_t i) {
  return row_attended(s, in, b, h, i);
}

struct ErrStats {
  double max_abs = 0;         // over rows that see a key
  int64_t nan = 0;            // NaN/Inf in the output
  int64_t empty_bad = 0;      // rows without a key whose output is not exactly 0
  double lse_rel = 0;         // max |lse - ref| / max(1, |ref|) over rows that see a key
  int64_t lse_bad_empty = 0;  // rows without a key (and no sinks) whose LSE is not -inf
};

inline ErrStats error_vs(const LayerSpec& s, const Inputs& in, const RunResult& r, const RunResult& ref,
                         bool check_lse) {
  ErrStats e;
  const int64_t Dv = s.head_dim_v;
  for (int b = 0; b < s.batch; ++b)
    for (int h = 0; h < s.heads_q; ++h)
      for (int64_t i = 0; i < s.seq_q; ++i) {
        const int64_t row = (int64_t(b) * s.heads_q + h) * s.seq_q + i;
        const bool has = row_has_key(s, in, b, h, i);
        for (int64_t d = 0; d < Dv; ++d) {
          const float x = r.out.data[row * Dv + d];
          if (!std::isfinite(x)) {
            ++e.nan;
            continue;
          }
          if (has) e.max_abs = std::max(e.max_abs, std::fabs(double(x) - ref.out.data[row * Dv + d]));
          else if (x != 0.0f) ++e.empty_bad;
        }
        if (!check_lse) continue;
        const float l = r.lse.data[row], lr = ref.lse.data[row];
        if (has || s.sinks) {
          if (!std::isfinite(l)) ++e.nan;
          else e.lse_rel = std::max(e.lse_rel, std::fabs(double(l) - lr) / std::max(1.0, std::fabs(double(lr))));
        } else if (!(std::isinf(l) && l < 0)) {
          ++e.lse_bad_empty;
        }
      }
  return e;
}

// Max |a - ref| over rows that see a key (for the eager baseline, whose empty rows are uniform).
inline double max_abs_visible(const LayerSpec& s, const Inputs& in, const Tensor& a, const Tensor& ref) {
  double m = 0;
  const int64_t Dv = s.head_dim_v;
  for (int b = 0; b < s.batch; ++b)
    for (int h = 0; h < s.heads_q; ++h)
      for (int64_t i = 0; i < s.seq_q; ++i) {
        if (!row_has_key(s, in, b, h, i)) continue;
        const int64_t row = (int64_t(b) * s.heads_q + h) * s.seq_q + i;
        for (int64_t d = 0; d < Dv; ++d)
          m = std::max(m, std::fabs(double(a.data[row * Dv + d]) - ref.data[row * Dv + d]));
      }
  return m;
}

inline double rel_frobenius(const Tensor& a, const Tensor& ref) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < a.numel() && i < ref.numel(); ++i) {
    num += (double(a.data[i]) - ref.data[i]) * (double(a.data[i]) - ref.data[i]);
    den += double(ref.data[i]) * ref.data[i];
  }
  return std::sqrt(num / std::max(den, 1e-300));
}

struct UlpCount {
  int64_t total = 0, within = 0;
  int64_t worst = 0;
  int64_t first_bad = -1;
  int configs = 0;            // comparisons folded in by add()
  double fraction_sum = 0.0;  // the sum of their fractions
  double fraction() const { return total ? double(within) / total : 1.0; }
  // The mean over the comparisons folded in, each counting once whatever its size.
  double mean_fraction() const { return configs ? fraction_sum / configs : 1.0; }
  // Folds one comparison into an aggregate (its counts, its fraction and the worst distance).
  void add(const UlpCount& u) {
    total += u.total;
    within += u.within;
    worst = std::max(worst, u.worst);
    ++configs;
    fraction_sum += u.fraction();
  }
};

// P·V of eager's last step from a probability tensor [B, Hq, Nq, Nk] (P as it enters the GEMM, rounded
// to the model dtype here), by the CPU eager's own row product (cpu::eager_pv_row). Checks a GPU's GEMM
// step on the GPU's own P.
inline Tensor pv_from_probs(const LayerSpec& s, const Inputs& in, const Tensor& probs) {
  const int64_t Nq = s.seq_q, Nk = s.seq_k, Dv = s.head_dim_v;
  Tensor out(s.dtype, {s.batch, s.heads_q, Nq, Dv});
  std::vector<float> p(static_cast<size_t>(Nk));
  for (int b = 0; b < s.batch; ++b)
    for (int h = 0; h < s.heads_q; ++h)
      for (int64_t i = 0; i < Nq; ++i) {
        const int64_t row = (int64_t(b) * s.heads_q + h) * Nq + i;
        for (int64_t j = 0; j < Nk; ++j) p[static_cast<size_t>(j)] = round_to(s.dtype, probs.data[row * Nk + j]);
        cpu::eager_pv_row(s, in, b, h, p.data(), &out.data[row * Dv]);
      }
  return out;
}

// The GEMM step's own error allowance, per element of P·V [B, Hq, Nq, Dv] (ulp_count's `allowance`).
// cuBLAS's fp16/bf16 GEMMs, under torch's default
// (torch.backends.cuda.matmul.allow_bf16_reduced_precision_reduction and its fp16 twin are True, so
// torch does not set CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION; nor does attnscope's handle,
// device_state.cpp), may split the key sum and round the partial sums to the model dtype: each such
// rounding errs by at most u (2^-8 bf16, 2^-11 fp16) of a magnitude no larger than sum_j |p_j v_jd|.
// The allowance is kRoundings such roundings.
inline std::vector<double> split_sum_allowance(const LayerSpec& s, const Inputs& in, const Tensor& probs) {
  constexpr double kRoundings = 4;
  const double u = s.dtype == DType::BF16 ? 0x1p-8 : s.dtype == DType::F16 ? 0x1p-11 : 0x1p-24;
  const int64_t Nq = s.seq_q, Nk = s.seq_k, Dv = s.head_dim_v, G = s.heads_q / s.heads_kv;
  std::vector<double> allow(static_cast<size_t>(int64_t{s.batch} * s.heads_q * Nq * Dv), 0.0);
  for (int b = 0; b < s.batch; ++b)
    for (int h = 0; h < s.heads_q; ++h)
      for (int64_t i = 0; i < Nq; ++i) {
        const int64_t row = (int64_t(b) * s.heads_q + h) * Nq + i;
        double* mag = &allow[static_cast<size_t>(row * Dv)];
        const float* v = &in.v.data[(int64_t(b) * s.heads_kv + h / G) * Nk * Dv];
        for (int64_t j = 0; j < Nk; ++j) {
          const double pj = std::fabs(round_to(s.dtype, probs.data[row * Nk + j]));
          if (pj != 0)
            for (int64_t d = 0; d < Dv; ++d) mag[d] += pj * std::fabs(v[j * Dv + d]);
        }
        for (int64_t d = 0; d < Dv; ++d) mag[d] *= kRoundings * u;
      }
  return allow;
}

// Rows of a [rows, cols] pair whose elements all agree within max_ulps.
inline std::vector<bool> rows_within(DType dt, const Tensor& a, const Tensor& b, int64_t cols, int64_t max_ulps) {
  std::vector<bool> ok(static_cast<size_t>(a.numel() / cols), true);
  for (int64_t i = 0; i < a.numel() && i < b.numel(); ++i)
    if (ulp_distance(dt, a.data[i], b.data[i]) > max_ulps) ok[static_cast<size_t>(i / cols)] = false;
  return ok;
}

// Elements within max_ulps; with `rows`, only those of the rows (of `cols` elements) it marks; with
// `allowance`, an element further away counts as within when |a - b| <= allowance[i] (and stays out
// of `worst`).
inline UlpCount ulp_count(DType dt, const Tensor& a, const Tensor& b, int64_t max_ulps,
                          const std::vector<bool>* rows = nullptr, int64_t cols = 1,
                          const std::vector<double>* allowance = nullptr) {
  UlpCount u;
  for (int64_t i = 0; i < a.numel() && i < b.numel(); ++i) {
    if (rows && !(*rows)[static_cast<size_t>(i / cols)]) continue;
    const int64_t d = ulp_distance(dt, a.data[i], b.data[i]);
    ++u.total;
    if (d <= max_ulps) ++u.within;
    else if (allowance && std::fabs(double(a.data[i]) - b.data[i]) <= (*allowance)[static_cast<size_t>(i)]) {
      ++u.within;
      continue;
    } else if (u.first_bad < 0) u.first_bad = i;
    u.worst = std::max(u.worst, d);
  }
  return u;
}

inline std::string describe(const std::string& impl, const LayerSpec& s) {
  int l, r;
  s.effective_window(&l, &r);
  return impl + " " + dtype_name(s.dtype) + " B" + std::to_string(s.batch) + " H" + std::to_string(s.heads_q) + "/" +
         std::to_string(s.heads_kv) + " Nq" + std::to_string(s.seq_q) + " Nk" + std::to_string(s.seq_k) + " D" +
         std::to_string(s.head_dim) + (s.causal ? std::string(" causal-") + causal_align_name(s.align) : "") +
         " win(" + std::to_string(l) + "," + std::to_string(r) + ")" + (s.sinks ? " sinks" : "") +
         (s.softcap > 0 ? " softcap" : "") + " mask=" + mask_kind_name(s.mask);
}

}  // namespace attnscope::gputest
