// Layer 1 of the fused kernels (STYLE.md): the plain parameter struct shared by the flash2/sink
// tensor-core kernels (sm80 and sm90) and the memory-efficient kernel, and the one function that
// fills it from a layer (as FlashAttention-2's set_params_fprop). Raw device pointers and strides in
// elements; nothing here knows templates.
#pragma once
#include <cstdint>

#include "kernels/layer_spec.h"

namespace attnscope::cuda {

struct FlashParams {
  // Inputs, layout [B, H, N, D] addressed through the strides below (elements, not bytes).
  const void* q = nullptr;         // [B, Hq, Nq, d]   in the model dtype
  const void* k = nullptr;         // [B, Hkv, Nk, d]
  const void* v = nullptr;         // [B, Hkv, Nk, dv]
  void* out = nullptr;             // [B, Hq, Nq, dv]  in the model dtype
  float* lse = nullptr;            // [B, Hq, Nq] natural log, sinks included; -inf for an empty row
  const float* sinks = nullptr;    // [Hq] sink logits (sink kernel only)
  const int* kv_len = nullptr;     // [B] valid keys per batch element (padding mask), or null
  const int* cu_seqlens = nullptr; // [n_seqs + 1] packed sequences (FA2's varlen; batch 1, Nq = Nk): row
  int n_seqs = 0;                  // i sees only keys of its own sequence [cu[s], cu[s + 1]), or null
  const float* mask = nullptr;     // explicit mask (efficient kernel only), broadcast by strides
  int mask_kind = 0;               // 0 none, 1 boolean (0 = masked), 2 additive

  int64_t q_batch_stride = 0, q_head_stride = 0, q_row_stride = 0;
  int64_t k_batch_stride = 0, k_head_stride = 0, k_row_stride = 0;
  int64_t v_batch_stride = 0, v_head_stride = 0, v_row_stride = 0;
  int64_t o_batch_stride = 0, o_head_stride = 0, o_row_stride = 0;
  int64_t m_batch_stride = 0, m_head_stride = 0, m_row_stride = 0;  // mask; 0 broadcasts

  int batch = 0;
  int heads_q = 0;
  int heads_kv = 0;
  int group = 1;                   // heads_q / heads_kv: query head h reads kv head h / group
  int seq_q = 0;                   // Nq
  int seq_k = 0;                   // Nk
  int d = 0;                       // real qk head dim (the kernel pads to its compiled size)
  int dv = 0;                      // real v head dim
  bool vec16 = false;              // d, dv multiples of 8 and 16-byte aligned rows: tiles load as
                                   // 16-byte vectors, else element by element

  float scale = 1.0f;              // softmax scale applied to Q·Kᵀ
  float softcap = 0.0f;            // 0 = off, else s = softcap * tanh(s / softcap)
  // Visibility relative to the diagonal j = i + diag_offset (LayerSpec::effective_window):
  // key j is visible to query i iff i + off - left <= j (left >= 0) and j <= i + off + right
  // (right >= 0), and j < kv_len[b].
  int64_t diag_offset = 0;
  int window_left = -1;            // -1 unbounded
  int window_right = -1;           // -1 unbounded
  bool reverse_blocks = false;     // launch the last row blocks first (causal: they hold the most tiles)
  bool sm90_pingpong = true;       // sm90 kernel: consumer warpgroups take turns issuing GEMMs
  bool sm90_persistent = false;    // sm90 kernel: one block per SM looping over work items (else one a item)
  bool sm90_narrow = false;        // sm90 kernel, D = 64: narrow items (sm90_narrow_items) where compiled

  // Probe (only read by the Probe=true variants): which rows, and where the data goes.
  int probe_batch = 0, probe_head = 0, probe_row_begin = 0, probe_row_end = 0;
  int probe_tiles = 0;             // ceil(Nk / 64)
  float* probe_p = nullptr;        // [rows, Nk]
  float* probe_max = nullptr;      // [rows, tiles]
  float* probe_sum = nullptr;      // [rows, tiles]
  uint8_t* probe_tile_used = nullptr;  // [tiles]
};

struct DeviceInputs;

// What a fused family reads of the layer: flash2 ignores sinks and explicit masks (the verdict has
// refused them or --what-if dropped them), sink reads the sinks, the memory-efficient kernel the mask.
struct FusedInputsUse {
  bool sinks = false;
  bool explicit_mask = false;
};

// Fills every field but the probe's from the layer and its device tensors ([B, H, N, D] contiguous),
// out [B, Hq, Nq, dv] and lse [B, Hq, Nq].
FlashParams set_params_fprop(const LayerSpec& spec, const DeviceInputs& in, void* out, float* lse,
                             FusedInputsUse use);

}  // namespace attnscope::cuda
