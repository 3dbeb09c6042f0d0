// Launch template of the sm80 flash2/sink kernel; included only by the generated instantiation files.
#pragma once
#include <stdexcept>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/flash_kernel.cuh"
#include "kernels/cuda/flash_launch.h"
#include "kernels/cuda/static_switch.h"

namespace attnscope::cuda {

// 64-row blocks of 4 warps for every head dim (flash_traits.h); Q + K + V tiles in shared memory,
// (64 + 128) rows x (D + 8) x 2 bytes: 99 KiB at D = 256, so above 48 KiB the kernel opts in.
template <class Traits, bool Sinks, bool Probe, bool Mask>
void launch_flash_sm80_variant(const FlashParams& p, cudaStream_t stream) {
  auto kernel = &flash_fwd_kernel<Traits, Sinks, Probe, Mask>;
  if (Traits::kSmemBytes > 48 * 1024)
    ATTNSCOPE_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, Traits::kSmemBytes));
  const dim3 grid((p.seq_q + Traits::kBlockM - 1) / Traits::kBlockM, p.heads_q, p.batch);
  kernel<<<grid, Traits::kThreads, Traits::kSmemBytes, stream>>>(p);
  ATTNSCOPE_LAUNCH_CHECK();
}

// An explicit mask (p.mask, sdpa's memory-efficient backend) never comes with sinks: six variants.
template <class T, int HeadDim>
void launch_flash_sm80(const FlashParams& p, bool sinks, bool probe, cudaStream_t stream) {
  using Traits = FlashTraits<T, HeadDim>;
  ATTNSCOPE_BOOL_SWITCH(probe, kProbe, [&] {
    if (p.mask) {
      if (sinks) throw std::runtime_error("flash kernel: sinks and an explicit mask are not combined");
      launch_flash_sm80_variant<Traits, false, kProbe, true>(p, stream);
    } else {
      ATTNSCOPE_BOOL_SWITCH(sinks, kSinks, [&] { launch_flash_sm80_variant<Traits, kSinks, kProbe, false>(p, stream); });
    }
  });
}

}  // namespace attnscope::cuda
