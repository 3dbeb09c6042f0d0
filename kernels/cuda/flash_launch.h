// Layer 3 of the fused kernels (STYLE.md): one launch function per (path, element type, compiled head
// dim), defined in flash_launch_template.h (sm80) and hopper/flash_launch_sm90.h (sm90) and
// instantiated once per generated file (kernels/cuda/CMakeLists.txt).
#pragma once
#include <cuda_runtime.h>

#include "kernels/cuda/flash_params.h"

namespace attnscope::cuda {

template <class T, int HeadDim>
void launch_flash_sm80(const FlashParams& p, bool sinks, bool probe, cudaStream_t stream);
template <class T, int HeadDim>
void launch_flash_sm90(const FlashParams& p, bool sinks, bool probe, cudaStream_t stream);

}  // namespace attnscope::cuda

namespace attnscope::cuda {

struct FlashBwdParams;
// The flash2/sink backward (FA2's algorithm) on mma.sync, sm80 and newer.
template <class T, int HeadDim>
void launch_flash_bwd(const FlashBwdParams& p, bool sinks, cudaStream_t stream);

}  // namespace attnscope::cuda
