#include "kernels/cuda/hf_mask.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <stdexcept>
#include <type_traits>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/mma_util.cuh"

namespace attnscope::cuda {

namespace {

__device__ __forceinline__ bool visible(const HfMaskParams& p, int b, int h, int64_t i, int64_t j, float* additive) {
  const int64_t d = i + p.diag_offset;
  bool vis = true;
  if (p.window_left >= 0 && j < d - p.window_left) vis = false;
  if (p.window_right >= 0 && j > d + p.window_right) vis = false;
  if (p.kv_len && j >= p.kv_len[b]) vis = false;
  *additive = 0.f;
  if (p.mask) {
    const float m = p.mask[b * p.m_batch_stride + h * p.m_head_stride + i * p.m_row_stride + j];
    if (p.mask_kind == 1 && m == 0.f) vis = false;
    if (p.mask_kind == 2) *additive = m;
  }
  return vis;
}

// One thread per mask element (grid-stride): T = bool writes visibility, else the additive value.
template <class T>
__global__ void mask_kernel(T* out, HfMaskParams p, float masked) {
  const int64_t n = int64_t(p.batch) * p.heads * p.seq_q * p.seq_k;
  for (int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < n; idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t j = idx % p.seq_k, i = (idx / p.seq_k) % p.seq_q;
    const int h = static_cast<int>((idx / (int64_t(p.seq_k) * p.seq_q)) % p.heads);
    const int b = static_cast<int>(idx / (int64_t(p.seq_k) * p.seq_q * p.heads));
    float add;
    const bool vis = visible(p, b, h, i, j, &add);
    if constexpr (std::is_same_v<T, bool>) out[idx] = vis;
    else out[idx] = from_float<T>(vis ? add : masked);
  }
}

}  // namespace

void build_hf_mask(void* out, TType type, HfMaskForm form, const HfMaskParams& p, cudaStream_t st) {
  const unsigned grid = 132 * 8, block = 256;  // grid-stride: setup, never timed
  if (form == HfMaskForm::Bool) {
    mask_kernel<bool><<<grid, block, 0, st>>>(static_cast<bool*>(out), p, 0.f);
    ATTNSCOPE_LAUNCH_CHECK();
    return;
  }
  const float lowest = type == TType::F32 ? -3.4028234663852886e38f
                       : type == TType::F16 ? -65504.0f
                                            : -3.3895313892515355e38f;  // torch.finfo(dtype).min
  const float masked = form == HfMaskForm::AdditiveInf     ? -INFINITY
                       : form == HfMaskForm::AdditiveCudnn ? -65504.0f
                                                           : lowest;
  switch (type) {
    case TType::F32: mask_kernel<float><<<grid, block, 0, st>>>(static_cast<float*>(out), p, masked); break;
    case TType::F16: mask_kernel<__half><<<grid, block, 0, st>>>(static_cast<__half*>(out), p, masked); break;
    case TType::BF16:
      mask_kernel<__nv_bfloat16><<<grid, block, 0, st>>>(static_cast<__nv_bfloat16*>(out), p, masked);
      break;
    default: throw std::invalid_argument("build_hf_mask: unsupported type");
  }
  ATTNSCOPE_LAUNCH_CHECK();
}

}  // namespace attnscope::cuda
