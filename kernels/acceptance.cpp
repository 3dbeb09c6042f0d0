#include "kernels/acceptance.h"

#include <limits>
#include <vector>

#include "kernels/tensor.h"

namespace attnscope {

double dsinks_baseline(const LayerSpec& s, const Inputs& in, const Tensor& eager_out, const Tensor& eager_dsinks,
                       const Tensor& ref_lse, const Tensor& ref_dsinks) {
  if (ref_dsinks.empty() || eager_dsinks.shape != ref_dsinks.shape) return -1;
  double worst = max_abs_diff(eager_dsinks, ref_dsinks);
  const int64_t Nq = s.seq_q, Dv = s.head_dim_v;
  const int64_t rows = int64_t{s.batch} * s.heads_q * Nq;
  if (in.dout.numel() != rows * Dv || eager_out.numel() != rows * Dv || ref_lse.numel() != rows ||
      static_cast<int64_t>(in.sinks.size()) != s.heads_q)
    return worst;
  std::vector<double> through(static_cast<size_t>(s.heads_q), 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    const double lse = ref_lse.data[r];
    if (!std::isfinite(lse)) continue;
    const int h = static_cast<int>((r / Nq) % s.heads_q);
    double d = 0;
    for (int64_t c = 0; c < Dv; ++c) d += static_cast<double>(in.dout.data[r * Dv + c]) * eager_out.data[r * Dv + c];
    through[static_cast<size_t>(h)] -= std::exp(static_cast<double>(in.sinks[static_cast<size_t>(h)]) - lse) * d;
  }
  for (int h = 0; h < s.heads_q; ++h) {
    const double d = std::abs(through[static_cast<size_t>(h)] - ref_dsinks.data[h]);
    worst = std::isnan(d) ? std::numeric_limits<double>::infinity() : std::max(worst, d);
  }
  return worst;
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  double worst = 0;
  for (int64_t k = 0; k < std::min(a.numel(), b.numel()); ++k) {
    const double e = std::abs(static_cast<double>(a.data[k]) - b.data[k]);
    if (std::isnan(e)) return std::numeric_limits<double>::infinity();
    worst = std::max(worst, e);
  }
  return worst;
}

double rel_fro_diff(const Tensor& a, const Tensor& ref) {
  double num = 0, den = 0;
  for (int64_t k = 0; k < std::min(a.numel(), ref.numel()); ++k) {
    const double d = static_cast<double>(a.data[k]) - ref.data[k];
    if (std::isnan(d)) return std::numeric_limits<double>::infinity();
    num += d * d;
    den += static_cast<double>(ref.data[k]) * ref.data[k];
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

double gradient_baseline(const std::string& name, const LayerSpec& s, const Inputs& in, const RunResult& eager,
                         const RunResult& ref) {
  const Tensor* e = gradient(eager.grad, name);
  const Tensor* r = gradient(ref.grad, name);
  if (!e || !r || e->empty() || r->empty() || e->shape != r->shape) return -1;
  if (s.dtype == DType::F32) return rel_fro_diff(*e, *r);
  if (name == "dsinks") return dsinks_baseline(s, in, eager.out, eager.grad.dsinks, ref.lse, ref.grad.dsinks);
  return max_abs_diff(*e, *r);
}

}  // namespace attnscope
