// One attention layer: every option the implementations are judged on (DESIGN.md "The layer").
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "dtype.h"

namespace attnscope {

// Which diagonal causal masks and windows hang off when Nq != Nk.
//  TopLeft:     query i sees key j <= i            (PyTorch SDPA is_causal)
//  BottomRight: query i sees key j <= i + Nk - Nq  (FlashAttention 2, HF with a KV cache)
enum class CausalAlign { TopLeft, BottomRight };

enum class MaskKind {
  None,
  Padding,          // right padding: batch b has kv_lengths[b] valid keys
  ExplicitBool,     // Inputs::mask holds 1 (attend) / 0 (masked), [B|1, H|1, Nq, Nk]
  ExplicitAdditive  // Inputs::mask is added to the scores (after softcap)
};

const char* causal_align_name(CausalAlign a);   // "top-left" | "bottom-right"
const char* mask_kind_name(MaskKind m);         // "none" | "padding" | "bool" | "additive"

// The keys [lo, hi] (inclusive) a query row sees; empty when hi < lo.
struct KeyRange {
  int64_t lo = 0;
  int64_t hi = -1;
  bool empty() const { return hi < lo; }
  int64_t size() const { return empty() ? 0 : hi - lo + 1; }
  bool contains(int64_t j) const { return j >= lo && j <= hi; }
};

struct LayerSpec {
  std::string name;             // human label, e.g. "gpt-oss-20b layer 0 (sliding_attention)"
  std::string source;           // where it came from: a file, "--config x.json --layer 0", "default"
  int batch = 1;
  int seq_q = 128;              // Nq
  int seq_k = 128;              // Nk
  int heads_q = 8;              // Hq
  int heads_kv = 8;             // Hkv (GQA when < Hq; query head h reads kv head h / (Hq/Hkv))
  int head_dim = 64;            // qk head dim
  int head_dim_v = 64;          // v head dim
  DType dtype = DType::BF16;    // model dtype of q, k, v and the output
  double scale = 0.0;           // softmax scale; 0 means 1/sqrt(head_dim)
  bool causal = false;
  CausalAlign align = CausalAlign::BottomRight;
  int window_left = -1;         // FA2 window_size[0]; -1 unbounded
  int window_right = -1;        // FA2 window_size[1]; -1 unbounded
  int sliding_window = 0;       // HF sliding_window W (0 = none): causal and j > i + off - W
  bool sinks = false;           // learned per-query-head sink logits (GPT-OSS)
  float softcap = 0.0f;         // logit softcap (Gemma 2); 0 = off
  MaskKind mask = MaskKind::None;
  std::vector<int> kv_lengths;  // MaskKind::Padding: valid keys per batch element
  std::string mask_file;        // explicit mask's file, for the record
  DType softmax_dtype = DType::F32;  // eager's softmax: fp32 (Llama) or the model dtype (GPT-OSS)
  // Packed sequences (FlashAttention's varlen API, verl's use_remove_padding): [0, end_1, ...,
  // total], non-decreasing, with batch 1 and seq_q = seq_k = total. Token i belongs to the
  // sequence [cu_seqlens[s], cu_seqlens[s+1]) holding it and attends only within it; causal and
  // windows apply per sequence. Empty: not packed.
  std::vector<int> cu_seqlens;
  int max_context = 0;          // the model's full context (HF max_position_embeddings); 0 = unknown

  double effective_scale() const;
  // Nk - Nq for bottom-right alignment, 0 for top-left.
  int64_t diag_offset() const;
  // The (left, right) window actually applied, combining causal, HF W and FA2's bounds
  // (a bound >= Nk is unbounded, -1). Relative to the diagonal j = i + diag_offset().
  void effective_window(int* left, int* right) const;
  bool has_window() const;      // a left or right bound beyond causal
  int kv_group() const { return heads_q / (heads_kv > 0 ? heads_kv : 1); }
  bool packed() const { return !cu_seqlens.empty(); }
  // Packed: [*begin, *end) of the sequence holding token i; unpacked: [0, seq_k).
  void sequence_of(int64_t i, int64_t* begin, int64_t* end) const;
  int packed_count() const { return packed() ? static_cast<int>(cu_seqlens.size()) - 1 : 0; }
  int packed_max_len() const;   // the longest packed sequence (FA2's max_seqlen); 0 unpacked

  // The one visibility rule (REFERENCE.md "Attention semantics"). Everything but explicit masks:
  //   window_range(i):     the keys the causal mask and the windows (FA2's and HF's W) leave to query i,
  //                        within its packed sequence (sequence_of; [0, Nk) unpacked) - the band the
  //                        fused kernels' tiles are skipped against;
  //   visible_range(b, i): the same cut to batch b's valid keys (padding);
  //   visible(b, i, j):    key j inside visible_range(b, i).
  // Explicit masks are the inputs' business (kernels/inputs.h row_attended).
  KeyRange window_range(int64_t i) const;
  KeyRange visible_range(int b, int64_t i) const;
  bool visible(int b, int64_t i, int64_t j) const { return visible_range(b, i).contains(j); }
  // (query, key) pairs the layer attends over, summed over the batch, for one query head: FLOPs of a
  // forward are 4 * heads_q * head_dim * visible_pairs() (QK^T and P·V).
  int64_t visible_pairs() const;

  // "" when valid, else "field: reason" naming the first invalid field.
  std::string validate() const;
  std::string summary() const;  // one line for reports
};

}  // namespace attnscope
