#include "capture/analysis.h"

#include "capture/scores.h"
#include "kernels/acceptance.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>

namespace attnscope {

namespace {

// The first NaN/Inf in the rows that are compared (`rows` [B*H*N], 0 = left out; null = every row):
// a row with no visible key follows its library's convention (SDPA may give NaN there) and is not
// a finding.
Location first_nonfinite(const Tensor& t, const std::vector<int64_t>& view, const std::vector<uint8_t>* rows) {
  Location loc;
  for (int64_t idx = 0; idx < t.numel(); ++idx) {
    float x = t.data[idx];
    if (std::isfinite(x)) continue;
    const int64_t row = idx / view[3];
    if (rows && static_cast<size_t>(row) < rows->size() && !(*rows)[row]) continue;
    loc.found = true;
    loc.nan = std::isnan(x);
    int64_t D = view[3], N = view[2], H = view[1];
    loc.col = idx % D;
    loc.row = (idx / D) % N;
    loc.h = static_cast<int>((idx / D / N) % H);
    loc.b = static_cast<int>(idx / D / N / H);
    break;
  }
  return loc;
}

// Low precision of the two: ULPs are counted in the coarser dtype.
DType coarser(DType a, DType b) {
  auto rank = [](DType d) { return d == DType::BF16 ? 2 : d == DType::F16 ? 1 : 0; };
  return rank(a) >= rank(b) ? a : b;
}

// fp64 P row of the layer (softmax over the visible keys, sinks included) for argmax checks.
void reference_p_row(const LayerSpec& s, const Inputs& in, int b, int h, int64_t i, std::vector<double>* p) {
  const int64_t Nk = s.seq_k;
  p->assign(Nk, 0.0);
  std::vector<double> sc(Nk);
  scores_row(s, in, b, h, i, true, sc.data());
  double m = -std::numeric_limits<double>::infinity();
  for (double x : sc) m = std::max(m, x);
  if (s.sinks && !in.sinks.empty()) m = std::max(m, static_cast<double>(in.sinks[h]));
  if (std::isinf(m)) return;
  double sum = s.sinks && !in.sinks.empty() ? std::exp(in.sinks[h] - m) : 0.0;
  for (int64_t j = 0; j < Nk; ++j) sum += ((*p)[j] = std::isinf(sc[j]) ? 0.0 : std::exp(sc[j] - m));
  for (auto& x : *p) x /= sum;
}

// The measures every tensor comparison shares, over a [B, H, N, D] view of two tensors of one
// shape; rows (B*H*N entries) with a 0 in `rows` are left out and counted as unattended.
void compare_tensors(const Tensor& ta, const Tensor& tb, const std::vector<int64_t>& view,
                     const std::vector<uint8_t>* rows, Divergence* out) {
  Divergence& dv = *out;
  dv.comparable = true;
  const int64_t B = view[0], H = view[1], Nq = view[2], Dv = view[3];
  dv.first_nan_a = first_nonfinite(ta, view, rows);
  dv.first_nan_b = first_nonfinite(tb, view, rows);
  const DType ud = coarser(ta.dtype, tb.dtype);
  dv.ulp_hist.assign(34, 0);
  dv.abs_hist.assign(24, 0);
  dv.per_row_max.assign(static_cast<size_t>(B * H * Nq), 0.0f);
  double sum_abs = 0, sum_d2 = 0, sum_b2 = 0, sum_a2 = 0, dot = 0;
  int64_t n = 0, within1 = 0, within2 = 0;
  for (int64_t bi = 0; bi < B; ++bi)
    for (int64_t h = 0; h < H; ++h) {
      HeadError he;
      he.b = static_cast<int>(bi);
      he.h = static_cast<int>(h);
      double h_d2 = 0, h_b2 = 0, h_sum = 0;
      int64_t h_n = 0;
      for (int64_t i = 0; i < Nq; ++i) {
        const int64_t row = (bi * H + h) * Nq + i;
        if (rows && static_cast<size_t>(row) < rows->size() && !(*rows)[row]) {
          ++dv.rows_unattended;
          continue;
        }
        ++dv.rows_compared;
        float rmax = 0;
        for (int64_t d = 0; d < Dv; ++d) {
          const int64_t idx = row * Dv + d;
          const double x = ta.data[idx], y = tb.data[idx];
          double diff = std::abs(x - y);
          if (std::isnan(diff)) diff = std::numeric_limits<double>::infinity();
          if (diff > dv.max_abs || (n == 0 && d == 0)) {
            if (diff > dv.max_abs) dv.max_abs = diff;
            dv.worst = {true, static_cast<int>(bi), static_cast<int>(h), i, d, false};
          }
          rmax = std::max(rmax, static_cast<float>(diff));
          sum_abs += diff;
          h_sum += diff;
          sum_d2 += diff * diff;
          h_d2 += diff * diff;
          sum_b2 += y * y;
          h_b2 += y * y;
          sum_a2 += x * x;
          dot += x * y;
          ++n;
          ++h_n;
          int64_t u = ulp_distance(ud, round_to(ud, static_cast<float>(x)), round_to(ud, static_cast<float>(y)));
          within1 += u <= 1;
          within2 += u <= 2;
          int bucket = u == 0 ? 0 : std::min<int>(33, 1 + static_cast<int>(std::floor(std::log2(static_cast<double>(u)))));
          ++dv.ulp_hist[bucket];
          // Half-decade buckets from 1e-10 up; an infinite or NaN difference goes into the top one (clamped
          // as a double first: converting inf to int is undefined, UBSan's finding).
          const double decade = std::isfinite(diff) ? std::floor((std::log10(diff) + 10.0) * 2.0) : 22.0;
          int ab = diff == 0 ? 0 : 1 + static_cast<int>(std::clamp(decade, 0.0, 22.0));
          ++dv.abs_hist[ab];
        }
        he.max_abs = std::max(he.max_abs, static_cast<double>(rmax));
        dv.per_row_max[row] = rmax;
      }
      he.mean_abs = h_n ? h_sum / h_n : 0;
      he.rel_fro = h_b2 > 0 ? std::sqrt(h_d2 / h_b2) : std::sqrt(h_d2);
      dv.per_head.push_back(he);
    }
  dv.mean_abs = n ? sum_abs / n : 0;
  dv.rel_fro = sum_b2 > 0 ? std::sqrt(sum_d2 / sum_b2) : std::sqrt(sum_d2);
  dv.cosine = (sum_a2 > 0 && sum_b2 > 0) ? dot / std::sqrt(sum_a2 * sum_b2) : (sum_a2 == sum_b2 ? 1.0 : 0.0);
  dv.ulp_within_1 = n ? static_cast<double>(within1) / n : 1;
  dv.ulp_within_2 = n ? static_cast<double>(within2) / n : 1;
  // Worst rows.
  std::vector<int64_t> order(dv.per_row_max.size());
  std::iota(order.begin(), order.end(), 0);
  size_t k = std::min<size_t>(32, order.size());
  std::partial_sort(order.begin(), order.begin() + k, order.end(),
                    [&](int64_t x, int64_t y) { return dv.per_row_max[x] > dv.per_row_max[y]; });
  for (size_t t = 0; t < k; ++t) {
    int64_t row = order[t];
    if (dv.per_row_max[row] <= 0) break;
    dv.worst_rows.push_back({static_cast<int>(row / Nq / H), static_cast<int>((row / Nq) % H), row % Nq,
                             dv.per_row_max[row]});
  }
}

}  // namespace

Divergence compare(const Capture& cap, const RunResult& a, const RunResult& b) {
  Divergence dv;
  dv.a = a.label;
  dv.b = b.label;
  const LayerSpec& s = cap.spec;
  if (a.out.empty() || b.out.empty()) {
    dv.why_not = (a.out.empty() ? a.label : b.label) + " has no output" +
                 (a.out.empty() ? (a.error.empty() ? "" : " (" + a.error + ")")
                                : (b.error.empty() ? "" : " (" + b.error + ")"));
    return dv;
  }
  if (a.out.shape != b.out.shape) {
    dv.why_not = "shapes differ: " + a.label + " " + shape_str(a.out.shape) + ", " + b.label + " " +
                 shape_str(b.out.shape);
    return dv;
  }
  const std::vector<uint8_t> rows = attended_rows(s, cap.inputs);
  const int64_t Nq = a.out.dim(2), H = a.out.dim(1), B = a.out.dim(0);
  compare_tensors(a.out, b.out, {B, H, Nq, a.out.dim(3)}, &rows, &dv);
  // LSE.
  if (!a.lse.empty() && !b.lse.empty() && a.lse.shape == b.lse.shape) {
    dv.lse_compared = true;
    for (int64_t r = 0; r < a.lse.numel(); ++r) {
      if (static_cast<size_t>(r) < rows.size() && !rows[r]) continue;
      double x = a.lse.data[r], y = b.lse.data[r];
      if (std::isinf(x) && std::isinf(y) && x == y) continue;
      double d = std::abs(x - y);
      if (std::isnan(d)) d = std::numeric_limits<double>::infinity();
      dv.lse_max_abs = std::max(dv.lse_max_abs, d);
      dv.lse_max_rel = std::max(dv.lse_max_rel, d / std::max(1e-6, std::abs(y)));
    }
  }
  // Argmax / top-5 agreement of P rows: a materialised P against the fp64 one (sampled rows).
  const RunResult* with_p = !a.probs.empty() ? &a : (!b.probs.empty() ? &b : nullptr);
  const RunResult* other = with_p == &a ? &b : &a;
  if (with_p && !cap.inputs.q.empty() && (other->label == "reference" || !other->probs.empty())) {
    const int64_t Nk = s.seq_k;
    const int64_t total_rows = B * H * Nq;
    const int64_t step = std::max<int64_t>(1, total_rows / 2048);
    int64_t agree1 = 0, agree5 = 0, counted = 0;
    std::vector<double> ref;
    std::vector<int64_t> idx(Nk), idx2(Nk);
    for (int64_t row = 0; row < total_rows; row += step) {
      if (static_cast<size_t>(row) < rows.size() && !rows[row]) continue;
      int bb = static_cast<int>(row / Nq / H), hh = static_cast<int>((row / Nq) % H);
      int64_t i = row % Nq;
      const float* p1 = &with_p->probs.data[row * Nk];
      std::vector<double> p2(Nk);
      if (!other->probs.empty())
        for (int64_t j = 0; j < Nk; ++j) p2[j] = other->probs.data[row * Nk + j];
      else
        reference_p_row(s, cap.inputs, bb, hh, i, &p2);
      std::iota(idx.begin(), idx.end(), 0);
      std::iota(idx2.begin(), idx2.end(), 0);
      size_t t5 = std::min<size_t>(5, Nk);
      std::partial_sort(idx.begin(), idx.begin() + t5, idx.end(), [&](int64_t x, int64_t y) { return p1[x] > p1[y]; });
      std::partial_sort(idx2.begin(), idx2.begin() + t5, idx2.end(), [&](int64_t x, int64_t y) { return p2[x] > p2[y]; });
      agree1 += idx[0] == idx2[0];
      std::vector<int64_t> s1(idx.begin(), idx.begin() + t5), s2(idx2.begin(), idx2.begin() + t5);
      std::sort(s1.begin(), s1.end());
      std::sort(s2.begin(), s2.end());
      agree5 += s1 == s2;
      ++counted;
    }
    if (counted) {
      dv.p_compared = true;
      dv.p_argmax_agree = static_cast<double>(agree1) / counted;
      dv.p_top5_agree = static_cast<double>(agree5) / counted;
    }
  }
  return dv;
}

Divergence compare_to_reference(const Capture& cap, const RunResult& r) { return compare(cap, r, cap.reference); }

Acceptance acceptance(const Capture& cap, const RunResult& r) {
  if (r.label == "reference" || r.out.empty()) return acceptance(cap, r, Divergence{});
  return acceptance(cap, r, compare_to_reference(cap, r));
}

Acceptance acceptance(const Capture& cap, const RunResult& r, const Divergence& d) {
  Acceptance a;
  if (r.label == "reference" || r.out.empty()) {
    a.text = r.out.empty() ? "no output" : "the reference itself";
    return a;
  }
  if (!d.comparable) {
    a.text = d.why_not;
    return a;
  }
  char buf[256];
  const bool nonfinite = d.first_nan_a.found;
  if (r.out.dtype == DType::F32) {
    a.applicable = true;
    a.err = d.rel_fro;
    a.bound = 1e-5;
    a.rule = "fp32: relative Frobenius error vs fp64 <= 1e-5";
    a.pass = !nonfinite && a.err <= a.bound;
    std::snprintf(buf, sizeof buf, "%s: rel. Frobenius %.3g %s 1e-5", a.pass ? "passes" : "FAILS", a.err,
                  a.pass ? "<=" : ">");
  } else if (r.out.dtype != cap.spec.dtype || cap.acceptance_baseline < 0) {
    a.text = r.out.dtype != cap.spec.dtype ? "ran in another dtype than the layer (what-if): no same-dtype baseline"
                                           : "no baseline recorded in this capture";
    return a;
  } else {
    a.applicable = true;
    a.err = d.max_abs;
    a.baseline = cap.acceptance_baseline;
    a.bound = 2.0 * a.baseline + 1e-5;
    a.rule = "FA2: max |out - fp64| <= 2 x that of eager with fp32 softmax in the same dtype + 1e-5";
    a.pass = !nonfinite && a.err <= a.bound;
    std::snprintf(buf, sizeof buf, "%s: max abs %.3g %s 2 x %.3g + 1e-5", a.pass ? "passes" : "FAILS", a.err,
                  a.pass ? "<=" : ">", a.baseline);
  }
  a.text = buf;
  if (nonfinite) a.text += " (non-finite output)";
  return a;
}

Divergence compare_gradient(const Capture& cap, const RunResult& a, const RunResult& b, const std::string& tensor) {
  Divergence dv;
  dv.a = a.label;
  dv.b = b.label;
  const Tensor* ta = gradient(a.grad, tensor);
  const Tensor* tb = gradient(b.grad, tensor);
  if (!ta || !tb) {
    dv.why_not = "no gradient tensor named '" + tensor + "' (dq, dk, dv, dsinks)";
    return dv;
  }
  for (const RunResult* r : {&a, &b})
    if ((r == &a ? ta : tb)->empty()) {
      dv.why_not = r->label + " has no " + tensor +
                   (r->grad.error.empty() ? (r->grad.ran ? "" : " (no backward ran)") : " (" + r->grad.error + ")");
      return dv;
    }
  if (ta->shape != tb->shape) {
    dv.why_not = tensor + " shapes differ: " + a.label + " " + shape_str(ta->shape) + ", " + b.label + " " +
                 shape_str(tb->shape);
    return dv;
  }
  std::vector<int64_t> view = ta->shape;
  if (view.size() == 1) view = {1, view[0], 1, 1};  // dsinks [Hq]: one "row" per head
  if (view.size() != 4) {
    dv.why_not = tensor + ": unexpected shape " + shape_str(ta->shape);
    return dv;
  }
  if (tensor == "dq") {
    const std::vector<uint8_t> rows = attended_rows(cap.spec, cap.inputs);
    compare_tensors(*ta, *tb, view, &rows, &dv);
  } else {
    compare_tensors(*ta, *tb, view, nullptr, &dv);
  }
  return dv;
}

Acceptance gradient_acceptance(const Capture& cap, const RunResult& r, const std::string& tensor,
                               const Divergence& d) {
  Acceptance a;
  const Tensor* t = gradient(r.grad, tensor);
  const Tensor* ref = gradient(cap.reference.grad, tensor);
  if (r.label == "reference" || !t || t->empty()) {
    a.text = r.label == "reference" ? "the reference itself" : "no " + tensor;
    return a;
  }
  if (!d.comparable) {
    a.text = d.why_not;
    return a;
  }
  auto base = cap.gradient_baseline.find(tensor);
  char buf[256];
  const bool nonfinite = d.first_nan_a.found;
  if (t->dtype != cap.spec.dtype) {
    a.text = "ran in another dtype than the layer (what-if): no same-dtype baseline";
    return a;
  }
  if (base == cap.gradient_baseline.end() || base->second < 0) {
    a.text = "no gradient baseline recorded in this capture";
    return a;
  }
  a.applicable = true;
  a.baseline = base->second;
  if (t->dtype == DType::F32) {
    a.err = d.rel_fro;
    a.bound = gradient_bound_fp32(a.baseline);
    a.rule = "fp32 gradients: relative Frobenius error vs fp64 <= max(1e-5, 2 x that of eager)";
    a.pass = !nonfinite && a.err <= a.bound;
    std::snprintf(buf, sizeof buf, "%s: rel. Frobenius %.3g %s %.3g", a.pass ? "passes" : "FAILS", a.err,
                  a.pass ? "<=" : ">", a.bound);
  } else {
    double biggest = 0;
    if (ref)
      for (float x : ref->data) biggest = std::max(biggest, static_cast<double>(std::abs(x)));
    a.err = d.max_abs;
    a.bound = gradient_bound(a.baseline, t->dtype, biggest);
    a.rule = "FA2 (backward): max |g - fp64| <= 2 x that of eager with fp32 softmax in the same dtype + 1e-5, "
             "at least 2 ulps of the largest |g_fp64|";
    if (tensor == "dsinks")
      a.rule += "; dsinks' baseline: eager's, or FA2's -sum exp(sink - LSE) (dO . O) on eager's output if larger";
    a.pass = !nonfinite && a.err <= a.bound;
    if (a.bound > fa2_bound(a.baseline))
      std::snprintf(buf, sizeof buf, "%s: max abs %.3g %s %.3g (2 ulps of the largest |%s| %.3g in %s; 2 x %.3g + 1e-5 is less)",
                    a.pass ? "passes" : "FAILS", a.err, a.pass ? "<=" : ">", a.bound, tensor.c_str(), biggest,
                    dtype_name(t->dtype), a.baseline);
    else
      std::snprintf(buf, sizeof buf, "%s: max abs %.3g %s 2 x %.3g + 1e-5", a.pass ? "passes" : "FAILS", a.err,
                    a.pass ? "<=" : ">", a.baseline);
  }
  a.text = buf;
  if (nonfinite) a.text += " (non-finite gradient)";
  return a;
}

double output_baseline_of(const LayerSpec& spec, const Inputs& in, const Tensor& eager, const Tensor& reference) {
  const std::vector<uint8_t> rows = attended_rows(spec, in);
  const size_t Dv = static_cast<size_t>(spec.head_dim_v);
  double worst = 0;
  for (size_t r = 0; r < rows.size(); ++r) {
    if (!rows[r]) continue;
    for (size_t d = 0; d < Dv; ++d)
      worst = std::max(worst, std::abs(static_cast<double>(eager.data[r * Dv + d]) - reference.data[r * Dv + d]));
  }
  return worst;
}

}  // namespace attnscope
