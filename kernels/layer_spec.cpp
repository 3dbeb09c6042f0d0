#include "kernels/layer_spec.h"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace attnscope {

const char* causal_align_name(CausalAlign a) {
  return a == CausalAlign::TopLeft ? "top-left" : "bottom-right";
}

const char* mask_kind_name(MaskKind m) {
  switch (m) {
    case MaskKind::None: return "none";
    case MaskKind::Padding: return "padding";
    case MaskKind::ExplicitBool: return "bool";
    case MaskKind::ExplicitAdditive: return "additive";
  }
  return "?";
}

double LayerSpec::effective_scale() const {
  return scale > 0 ? scale : 1.0 / std::sqrt(static_cast<double>(head_dim));
}

int64_t LayerSpec::diag_offset() const {
  return align == CausalAlign::BottomRight ? static_cast<int64_t>(seq_k) - seq_q : 0;
}

void LayerSpec::effective_window(int* left, int* right) const {
  int l = window_left, r = window_right;
  // FA2: a bound >= Nk is the same as unbounded.
  if (l >= seq_k) l = -1;
  if (r >= seq_k) r = -1;
  if (sliding_window > 0) {  // HF: causal plus the last W keys including the current one
    int w = sliding_window - 1;
    l = (l < 0) ? w : std::min(l, w);
    r = 0;
  }
  if (causal) r = (r < 0) ? 0 : std::min(r, 0);
  if (l >= seq_k) l = -1;
  *left = l;
  *right = r;
}

bool LayerSpec::has_window() const {
  int l, r;
  effective_window(&l, &r);
  return l >= 0 || (r > 0);
}

void LayerSpec::sequence_of(int64_t i, int64_t* begin, int64_t* end) const {
  if (!packed()) {
    *begin = 0;
    *end = seq_k;
    return;
  }
  // The last sequence whose start is <= i (empty sequences share a start with the next one).
  auto it = std::upper_bound(cu_seqlens.begin(), cu_seqlens.end(), static_cast<int>(i));
  const size_t s = it == cu_seqlens.begin() ? 0 : static_cast<size_t>(it - cu_seqlens.begin()) - 1;
  *begin = cu_seqlens[std::min(s, cu_seqlens.size() - 1)];
  *end = s + 1 < cu_seqlens.size() ? cu_seqlens[s + 1] : seq_k;
}

int LayerSpec::packed_max_len() const {
  int m = 0;
  for (size_t s = 0; s + 1 < cu_seqlens.size(); ++s) m = std::max(m, cu_seqlens[s + 1] - cu_seqlens[s]);
  return m;
}

KeyRange LayerSpec::window_range(int64_t i) const {
  int l, r;
  effective_window(&l, &r);
  const int64_t d = i + diag_offset();  // packed: Nq = Nk, so the diagonal is j = i in every sequence
  int64_t begin, end;
  sequence_of(i, &begin, &end);  // [0, Nk) unpacked
  KeyRange k;
  k.lo = l >= 0 ? std::max<int64_t>(begin, d - l) : begin;
  k.hi = r >= 0 ? std::min<int64_t>(end - 1, d + r) : end - 1;
  return k;
}

KeyRange LayerSpec::visible_range(int b, int64_t i) const {
  KeyRange k = window_range(i);
  if (mask == MaskKind::Padding && b >= 0 && b < static_cast<int>(kv_lengths.size()))
    k.hi = std::min<int64_t>(k.hi, int64_t{kv_lengths[static_cast<size_t>(b)]} - 1);
  return k;
}

int64_t LayerSpec::visible_pairs() const {
  int64_t n = 0;
  for (int b = 0; b < batch; ++b)
    for (int64_t i = 0; i < seq_q; ++i) n += visible_range(b, i).size();
  return n;
}

std::string LayerSpec::validate() const {
  auto bad = [](const char* field, const std::string& why) { return std::string(field) + ": " + why; };
  constexpr int kMaxSeq = 1 << 20;
  if (batch < 1 || batch > 4096) return bad("batch", "must be in [1, 4096], got " + std::to_string(batch));
  if (seq_q < 1 || seq_q > kMaxSeq) return bad("seq_q", "must be in [1, 1048576], got " + std::to_string(seq_q));
  if (seq_k < 1 || seq_k > kMaxSeq) return bad("seq_k", "must be in [1, 1048576], got " + std::to_string(seq_k));
  if (heads_q < 1 || heads_q > 1024) return bad("heads_q", "must be in [1, 1024], got " + std::to_string(heads_q));
  if (heads_kv < 1 || heads_kv > heads_q)
    return bad("heads_kv", "must be in [1, heads_q=" + std::to_string(heads_q) + "], got " + std::to_string(heads_kv));
  if (heads_q % heads_kv != 0)
    return bad("heads_kv", "heads_q (" + std::to_string(heads_q) + ") must be a multiple of heads_kv (" +
                               std::to_string(heads_kv) + ")");
  if (head_dim < 1 || head_dim > 1024) return bad("head_dim", "must be in [1, 1024], got " + std::to_string(head_dim));
  if (head_dim_v < 1 || head_dim_v > 1024) return bad("head_dim_v", "must be in [1, 1024], got " + std::to_string(head_dim_v));
  if (!(scale >= 0) || !std::isfinite(scale)) return bad("scale", "must be a finite number >= 0 (0 = 1/sqrt(head_dim))");
  if (window_left < -1) return bad("window_left", "must be -1 (unbounded) or >= 0");
  if (window_right < -1) return bad("window_right", "must be -1 (unbounded) or >= 0");
  if (sliding_window < 0) return bad("sliding_window", "must be >= 0 (0 = none)");
  if (!(softcap >= 0) || !std::isfinite(softcap)) return bad("softcap", "must be a finite number >= 0 (0 = off)");
  if (mask == MaskKind::Padding) {
    if (static_cast<int>(kv_lengths.size()) != batch)
      return bad("kv_lengths", "padding mask needs one length per batch element (" + std::to_string(batch) +
                                   "), got " + std::to_string(kv_lengths.size()));
    for (int L : kv_lengths)
      if (L < 0 || L > seq_k) return bad("kv_lengths", "each length must be in [0, seq_k=" + std::to_string(seq_k) + "]");
  }
  if (softmax_dtype != DType::F32 && softmax_dtype != dtype)
    return bad("softmax_dtype", "must be fp32 or the model dtype");
  if (packed()) {
    const int n = static_cast<int>(cu_seqlens.size());
    if (n < 2) return bad("cu_seqlens", "needs at least [0, total], got one entry");
    if (cu_seqlens[0] != 0) return bad("cu_seqlens", "must start at 0, got " + std::to_string(cu_seqlens[0]));
    for (int k = 1; k < n; ++k)
      if (cu_seqlens[k] < cu_seqlens[k - 1])
        return bad("cu_seqlens", "must not decrease: entry " + std::to_string(k) + " (" + std::to_string(cu_seqlens[k]) +
                                     ") is below entry " + std::to_string(k - 1) + " (" +
                                     std::to_string(cu_seqlens[k - 1]) + ")");
    if (batch != 1)
      return bad("cu_seqlens", "packed sequences need batch 1 (the sequences are the batch), got batch " +
                                   std::to_string(batch));
    if (seq_q != seq_k)
      return bad("cu_seqlens", "packed self-attention needs seq_q = seq_k, got " + std::to_string(seq_q) + " and " +
                                   std::to_string(seq_k));
    if (cu_seqlens[n - 1] != seq_q)
      return bad("cu_seqlens", "ends at " + std::to_string(cu_seqlens[n - 1]) + " but the layer has " +
                                   std::to_string(seq_q) + " tokens: the last entry is the total");
    if (mask == MaskKind::Padding)
      return bad("cu_seqlens", "a packed batch has no padding: give the sequence lengths in cu_seqlens, not kv_lengths");
  }
  int64_t elems = int64_t{batch} * heads_q * seq_q * std::max(head_dim, head_dim_v);
  if (elems > (int64_t{1} << 34)) return bad("batch", "layer too large (more than 2^34 query elements)");
  return "";
}

std::string LayerSpec::summary() const {
  std::ostringstream o;
  o << "B=" << batch << " Hq/Hkv=" << heads_q << "/" << heads_kv << " Nq=" << seq_q << " Nk=" << seq_k
    << " D=" << head_dim;
  if (head_dim_v != head_dim) o << "/" << head_dim_v;
  o << " " << dtype_name(dtype);
  if (causal) o << " causal(" << causal_align_name(align) << ")";
  if (sliding_window > 0) o << " window=" << sliding_window;
  if (window_left >= 0 || window_right >= 0) o << " fa2-window=(" << window_left << "," << window_right << ")";
  if (sinks) o << " sinks";
  if (softcap > 0) o << " softcap=" << softcap;
  if (mask != MaskKind::None) o << " mask=" << mask_kind_name(mask);
  if (scale > 0) o << " scale=" << scale;
  if (packed()) o << " packed=" << packed_count() << " seqs (max " << packed_max_len() << ")";
  return o.str();
}

}  // namespace attnscope
