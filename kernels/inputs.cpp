#include "kernels/inputs.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace attnscope {

const char* distribution_name(Distribution d) {
  return d == Distribution::Normal ? "normal" : "outliers";
}

std::string Inputs::check_against(const LayerSpec& s) const {
  auto want = [](const char* name, const Tensor& t, std::vector<int64_t> shape) -> std::string {
    if (t.shape != shape)
      return std::string(name) + ": shape " + shape_str(t.shape) + " does not match the layer's " + shape_str(shape);
    return "";
  };
  std::string e;
  if (!(e = want("q", q, {s.batch, s.heads_q, s.seq_q, s.head_dim})).empty()) return e;
  if (!(e = want("k", k, {s.batch, s.heads_kv, s.seq_k, s.head_dim})).empty()) return e;
  if (!(e = want("v", v, {s.batch, s.heads_kv, s.seq_k, s.head_dim_v})).empty()) return e;
  if (!dout.empty())
    if (!(e = want("do", dout, {s.batch, s.heads_q, s.seq_q, s.head_dim_v})).empty()) return e;
  if (s.sinks && static_cast<int>(sinks.size()) != s.heads_q)
    return "sinks: " + std::to_string(sinks.size()) + " values, the layer has " + std::to_string(s.heads_q) +
           " query heads";
  if (s.mask == MaskKind::ExplicitBool || s.mask == MaskKind::ExplicitAdditive) {
    if (mask.shape.size() != 4) return "mask: expected 4 dimensions [B|1, H|1, Nq, Nk], got " + shape_str(mask.shape);
    if ((mask.shape[0] != 1 && mask.shape[0] != s.batch) || (mask.shape[1] != 1 && mask.shape[1] != s.heads_q) ||
        mask.shape[2] != s.seq_q || mask.shape[3] != s.seq_k)
      return "mask: shape " + shape_str(mask.shape) + " does not broadcast to " +
             shape_str({s.batch, s.heads_q, s.seq_q, s.seq_k});
  }
  return "";
}

float Inputs::mask_at(int b, int h, int64_t i, int64_t j) const {
  if (mask.empty()) return 0.0f;
  int64_t B = mask.shape[0] == 1 ? 0 : b, H = mask.shape[1] == 1 ? 0 : h;
  return mask.data[((B * mask.shape[1] + H) * mask.shape[2] + i) * mask.shape[3] + j];
}

namespace {
// Generator salts: one per tensor, so each stays the same when another changes size.
constexpr uint64_t kSinkSalt = 4, kDoutSalt = 5;
}  // namespace

Inputs random_inputs(const LayerSpec& s, uint64_t seed, Distribution dist) {
  Inputs in;
  in.origin = std::string("random ") + distribution_name(dist) + " seed=" + std::to_string(seed);
  // One generator per tensor, seeded from (seed, tensor index): the tensors do not shift when
  // another one changes size.
  auto fill = [&](Tensor& t, std::vector<int64_t> shape, uint64_t salt, bool outliers) {
    t = Tensor(s.dtype, std::move(shape));
    std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + salt);
    std::normal_distribution<float> n(0.0f, 1.0f);
    for (float& x : t.data) x = n(rng);
    if (outliers && dist == Distribution::Outliers) {
      // A few massive channels (as in LLM activations): 2 channels of every head scaled by 20.
      int64_t d = t.shape[3];
      for (int64_t c : {int64_t{3} % d, (d / 2 + 1) % d})
        for (int64_t r = 0; r < t.numel() / d; ++r) t.data[r * d + c] *= 20.0f;
    }
    t.round_in_place();
  };
  fill(in.q, {s.batch, s.heads_q, s.seq_q, s.head_dim}, 1, true);
  fill(in.k, {s.batch, s.heads_kv, s.seq_k, s.head_dim}, 2, true);
  fill(in.v, {s.batch, s.heads_kv, s.seq_k, s.head_dim_v}, 3, false);
  if (s.sinks) {
    std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + kSinkSalt);
    std::normal_distribution<float> n(0.0f, 1.0f);
    in.sinks.resize(s.heads_q);
    // GPT-OSS's learned sinks sit around the typical row max of the scores (a few units), so the
    // sink takes a visible share of the mass.
    for (float& x : in.sinks) x = round_to(s.dtype, 2.0f + n(rng));
  }
  return in;
}

bool row_attended(const LayerSpec& s, const Inputs& in, int b, int h, int64_t i) {
  const KeyRange keys = s.visible_range(b, i);
  const bool have_mask = !in.mask.empty();
  for (int64_t j = keys.lo; j <= keys.hi; ++j) {
    if (have_mask && s.mask == MaskKind::ExplicitBool && in.mask_at(b, h, i, j) == 0.0f) continue;
    if (have_mask && s.mask == MaskKind::ExplicitAdditive && std::isinf(in.mask_at(b, h, i, j))) continue;
    return true;
  }
  return false;
}

std::vector<uint8_t> attended_rows(const LayerSpec& s, const Inputs& in) {
  std::vector<uint8_t> rows(static_cast<size_t>(s.batch) * s.heads_q * s.seq_q, 0);
  for (int b = 0; b < s.batch; ++b)
    for (int h = 0; h < s.heads_q; ++h)
      for (int64_t i = 0; i < s.seq_q; ++i)
        rows[(static_cast<size_t>(b) * s.heads_q + h) * s.seq_q + i] = row_attended(s, in, b, h, i);
  return rows;
}

Tensor random_dout(const LayerSpec& s, uint64_t seed, const std::vector<uint8_t>& attended) {
  Tensor t(s.dtype, {s.batch, s.heads_q, s.seq_q, s.head_dim_v});
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + kDoutSalt);
  std::normal_distribution<float> n(0.0f, 1.0f);
  for (float& x : t.data) x = n(rng);
  t.round_in_place();
  const int64_t Dv = s.head_dim_v;
  if (static_cast<int64_t>(attended.size()) * Dv == t.numel())
    for (size_t r = 0; r < attended.size(); ++r)
      if (!attended[r]) std::fill_n(t.data.begin() + static_cast<int64_t>(r) * Dv, Dv, 0.0f);
  return t;
}

}  // namespace attnscope
