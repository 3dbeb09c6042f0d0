// Launch template of the flash2/sink backward (flash_bwd_kernel.cuh); included only by the generated
// instantiation files (kernels/cuda/CMakeLists.txt), one per (dtype, compiled head dim).
#pragma once
#include <algorithm>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/flash_bwd_kernel.cuh"
#include "kernels/cuda/flash_launch.h"
#include "kernels/cuda/static_switch.h"

namespace attnscope::cuda {

// Three launches: preprocess (one warp a row), the main kernel (one block per kBlockN-key tile of one
// (batch, query head)), convert (one thread an element of the largest gradient). The main kernel
// double-buffers Q and dO where the device's shared memory holds both copies (sm90: every head dim;
// sm80: up to head dim 96).
template <class T, int HeadDim>
void launch_flash_bwd(const FlashBwdParams& p, bool sinks, cudaStream_t stream) {
  using Traits = FlashBwdTraits<T, HeadDim>;
  const FlashParams& f = p.fwd;
  const int64_t rows = int64_t(f.batch) * f.heads_q * f.seq_q;
  ATTNSCOPE_BOOL_SWITCH(sinks, kSinks, [&] {
    if (rows > 0) {
      flash_bwd_preprocess_kernel<T, kSinks><<<static_cast<unsigned>((rows + 7) / 8), 256, 0, stream>>>(p);
      ATTNSCOPE_LAUNCH_CHECK();
    }
  });
  int device = 0, smem_optin = 0;
  ATTNSCOPE_CUDA_CHECK(cudaGetDevice(&device));
  ATTNSCOPE_CUDA_CHECK(cudaDeviceGetAttribute(&smem_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  const bool double_buffer = smem_optin >= Traits::kSmemDouble;
  const int smem = double_buffer ? Traits::kSmemDouble : Traits::kSmemSingle;
  const dim3 grid((f.seq_k + Traits::kBlockN - 1) / Traits::kBlockN, f.heads_q, f.batch);
  // A softcap instance of its own: the tanh path in every instance took the code past the
  // instruction cache (ncu, d64: 10k SASS instructions, 5% of the stall samples "no instruction").
  ATTNSCOPE_BOOL_SWITCH(f.softcap > 0.f, kSoftcap, [&] {
    auto kernel = &flash_bwd_kernel<Traits, kSoftcap>;
    ATTNSCOPE_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
    if (grid.x > 0) {
      kernel<<<grid, Traits::kThreads, smem, stream>>>(p, double_buffer);
      ATTNSCOPE_LAUNCH_CHECK();
    }
  });
  const int64_t n = std::max({rows * f.d, int64_t(f.batch) * f.heads_kv * f.seq_k * std::max(f.d, f.dv),
                              int64_t(f.heads_q)});
  flash_bwd_convert_kernel<T><<<static_cast<unsigned>((n + 255) / 256), 256, 0, stream>>>(p);
  ATTNSCOPE_LAUNCH_CHECK();
}

}  // namespace attnscope::cuda
