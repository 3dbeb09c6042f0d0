#include "kernels/cuda/flash_params.h"

#include <cstdlib>
#include <string>

#include "kernels/cuda/device_inputs.h"

namespace attnscope::cuda {

FlashParams set_params_fprop(const LayerSpec& s, const DeviceInputs& in, void* out, float* lse, FusedInputsUse use) {
  FlashParams p;
  const int64_t D = s.head_dim, Dv = s.head_dim_v, Nq = s.seq_q, Nk = s.seq_k;
  p.q = in.q, p.k = in.k, p.v = in.v, p.out = out, p.lse = lse;
  p.sinks = use.sinks ? in.sinks : nullptr;
  p.kv_len = in.kv_len;
  p.cu_seqlens = in.cu_seqlens, p.n_seqs = in.n_seqs;
  p.mask = use.explicit_mask ? in.mask : nullptr;
  p.mask_kind = use.explicit_mask ? in.mask_kind : 0;
  p.m_batch_stride = in.m_batch_stride, p.m_head_stride = in.m_head_stride, p.m_row_stride = in.m_row_stride;
  p.q_row_stride = D, p.q_head_stride = Nq * D, p.q_batch_stride = s.heads_q * Nq * D;
  p.k_row_stride = D, p.k_head_stride = Nk * D, p.k_batch_stride = s.heads_kv * Nk * D;
  p.v_row_stride = Dv, p.v_head_stride = Nk * Dv, p.v_batch_stride = s.heads_kv * Nk * Dv;
  p.o_row_stride = Dv, p.o_head_stride = Nq * Dv, p.o_batch_stride = s.heads_q * Nq * Dv;
  p.batch = s.batch, p.heads_q = s.heads_q, p.heads_kv = s.heads_kv, p.group = s.heads_q / s.heads_kv;
  p.seq_q = s.seq_q, p.seq_k = s.seq_k, p.d = s.head_dim, p.dv = s.head_dim_v;
  p.vec16 = D % 8 == 0 && Dv % 8 == 0;  // cudaMalloc bases are 256-byte aligned
  p.scale = static_cast<float>(s.effective_scale());
  p.softcap = s.softcap;
  p.diag_offset = s.diag_offset();
  s.effective_window(&p.window_left, &p.window_right);
  // Heaviest row blocks first when the work per block grows with the row (a right bound: causal);
  // the measurement switch ATTNSCOPE_FLASH_FORWARD_ORDER=1 keeps launch order (bench/gpu_bench.sh).
  const char* fwd = std::getenv("ATTNSCOPE_FLASH_FORWARD_ORDER");
  p.reverse_blocks = p.window_right >= 0 && !(fwd && *fwd && std::string(fwd) != "0");
  // Measurement switch: ATTNSCOPE_SM90_PINGPONG=0 lets the sm90 consumer warpgroups issue GEMMs freely.
  const char* pp = std::getenv("ATTNSCOPE_SM90_PINGPONG");
  p.sm90_pingpong = !(pp && std::string(pp) == "0");
  // The persistent grid pays off where work items are short - a sliding window of a few tiles, whose
  // per-block prologue was most of an item (H200: window 128 0.111 -> 0.097 ms) - and cost 5-13% on
  // long causal and full rows (bench/results/2026-12-01-h200-sm90v3). ATTNSCOPE_SM90_PERSISTENT=0|1
  // overrides for measurements.
  p.sm90_persistent = p.window_left >= 0 && p.window_left < 512;
  if (const char* e = std::getenv("ATTNSCOPE_SM90_PERSISTENT"); e && *e) p.sm90_persistent = std::string(e) != "0";
  // Narrow items (flash_traits_sm90.h) for sliding windows of at most 128 keys: where a warpgroup's
  // 64 rows see three 64-key tiles of an item's five. ATTNSCOPE_SM90_NARROW=0/1 overrides (measurements).
  p.sm90_narrow = p.window_left >= 0 && p.window_right >= 0 && p.window_left + p.window_right <= 128;
  if (const char* e = std::getenv("ATTNSCOPE_SM90_NARROW"); e && *e) p.sm90_narrow = std::string(e) != "0";
  return p;
}

}  // namespace attnscope::cuda
