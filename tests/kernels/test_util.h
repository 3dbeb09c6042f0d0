// Helpers shared by the kernels tests: run an implementation and measure it against fp64.
#pragma once
#include <algorithm>
#include <cmath>
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

}  // namespace attnscope::testing
