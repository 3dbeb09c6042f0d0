#include "capture/scores.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <thread>

namespace attnscope {

void scores_row(const LayerSpec& spec, const Inputs& in, int b, int h, int64_t i, bool fp64, double* out) {
  const int64_t nq = spec.seq_q, nk = spec.seq_k, d = spec.head_dim;
  std::fill(out, out + nk, -std::numeric_limits<double>::infinity());
  if (in.q.shape.size() != 4 || in.k.shape.size() != 4) return;
  const int hk = h / std::max(1, spec.kv_group());
  const float* qi = in.q.data.data() + ((static_cast<int64_t>(b) * in.q.dim(1) + h) * nq + i) * d;
  const float* k = in.k.data.data() + ((static_cast<int64_t>(b) * in.k.dim(1) + hk) * nk) * d;
  const double scale = spec.effective_scale();
  const bool has_mask = !in.mask.empty();
  const KeyRange keys = spec.visible_range(b, i);
  for (int64_t j = keys.lo; j <= keys.hi; ++j) {
    if (spec.mask == MaskKind::ExplicitBool && has_mask && in.mask_at(b, h, i, j) == 0.0f) continue;
    const float* kj = k + j * d;
    double v;
    if (fp64) {
      double acc = 0;
      for (int64_t t = 0; t < d; ++t) acc += static_cast<double>(qi[t]) * kj[t];
      v = acc * scale;
      if (spec.softcap > 0) v = spec.softcap * std::tanh(v / spec.softcap);
    } else {
      float acc = 0;
      for (int64_t t = 0; t < d; ++t) acc += qi[t] * kj[t];
      float fv = acc * static_cast<float>(scale);
      if (spec.softcap > 0) fv = spec.softcap * std::tanh(fv / spec.softcap);
      v = fv;
    }
    if (spec.mask == MaskKind::ExplicitAdditive && has_mask) v += in.mask_at(b, h, i, j);
    out[j] = v;
  }
}

std::vector<double> scores_head(const LayerSpec& spec, const Inputs& in, int b, int h, bool fp64) {
  std::vector<double> s(static_cast<size_t>(spec.seq_q) * spec.seq_k);
  for (int64_t i = 0; i < spec.seq_q; ++i) scores_row(spec, in, b, h, i, fp64, s.data() + i * spec.seq_k);
  return s;
}

bool probs_from_lse(const LayerSpec& spec, const Inputs& in, const Tensor& lse, int b, int h, bool fp64,
                    std::vector<float>* out) {
  if (lse.numel() != static_cast<int64_t>(spec.batch) * spec.heads_q * spec.seq_q) return false;
  const int64_t rows_n = spec.seq_q, cols = spec.seq_k;
  out->resize(static_cast<size_t>(rows_n) * cols);
  const float* l = lse.data.data() + (static_cast<int64_t>(b) * spec.heads_q + h) * spec.seq_q;
  auto rows = [&](int64_t r0, int64_t r1) {
    std::vector<double> s(static_cast<size_t>(cols));
    for (int64_t i = r0; i < r1; ++i) {
      double li = l[i];
      scores_row(spec, in, b, h, i, fp64, s.data());
      float* o = out->data() + i * cols;
      for (int64_t j = 0; j < cols; ++j) {
        double v = s[static_cast<size_t>(j)];
        o[j] = (std::isinf(v) && v < 0) || std::isinf(li) ? 0.0f : static_cast<float>(std::exp(v - li));
      }
    }
  };
  const int64_t work = rows_n * cols * spec.head_dim;
  const int nt =
      work < (int64_t{1} << 24) ? 1 : std::clamp(static_cast<int>(std::thread::hardware_concurrency()), 1, 16);
  std::vector<std::thread> pool;
  for (int t = 1; t < nt; ++t) pool.emplace_back(rows, rows_n * t / nt, rows_n * (t + 1) / nt);
  rows(0, rows_n / nt);
  for (auto& th : pool) th.join();
  return true;
}

}  // namespace attnscope
