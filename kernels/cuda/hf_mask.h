// The attention mask transformers builds before it calls the attention function, on the device,
// outside the timed call (as in the bench: the model builds it once per forward):
//   eager:  a 4D additive mask in the model dtype, 0 where a key is visible, finfo(dtype).min where
//           not (masking_utils' eager mask), an explicit additive mask's own values;
//   sdpa:   a 4D boolean mask (1 = attend), or the explicit additive mask with -inf where masked.
// Shape [B, H|1, Nq, Nk]; visibility from LayerSpec (causal, windows, padding) and an explicit mask.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/torch_plan.h"

namespace attnscope::cuda {

struct HfMaskParams {
  int batch = 0, heads = 1, seq_q = 0, seq_k = 0;  // the mask's shape [batch, heads, seq_q, seq_k]
  int64_t diag_offset = 0;                         // LayerSpec::diag_offset
  int window_left = -1, window_right = -1;         // LayerSpec::effective_window (causal: right = 0)
  const int* kv_len = nullptr;                     // [B] padding: keys at or past kv_len[b] are masked
  const float* mask = nullptr;                     // explicit mask, broadcast by strides (0 = broadcast)
  int mask_kind = 0;                               // 0 none, 1 boolean (0 = masked), 2 additive
  int64_t m_batch_stride = 0, m_head_stride = 0, m_row_stride = 0;
};

enum class HfMaskForm {
  AdditiveMin,   // 0 / finfo(type).min; additive values where visible (transformers' eager mask)
  AdditiveInf,   // the same with -inf (an additive mask as SDPA's math backend turns it into a bias)
  AdditiveCudnn, // 0 / -65504: torch's convert_boolean_attn_mask_cudnn (a finite value against cuDNN's -inf issue)
  Bool,          // 1 where visible (transformers' sdpa mask)
};

void build_hf_mask(void* out, TType type, HfMaskForm form, const HfMaskParams& p, cudaStream_t st);

}  // namespace attnscope::cuda
