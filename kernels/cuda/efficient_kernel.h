// sdpa's memory-efficient backend: our own fused kernel (tiled, SIMT, fp32 accumulation).
// fp32/fp16/bf16, head dims up to 256, GQA by index, causal/windows/padding/softcap, and an
// explicit boolean or additive mask. Same online softmax and probe layout as the flash kernel.
#pragma once
#include <cuda_runtime.h>

#include "kernels/cuda/flash_params.h"
#include "kernels/dtype.h"

namespace attnscope::cuda {

// Query rows and keys a block of the SIMT kernel takes (the fp32 path; fp16/bf16 run on the sm80
// flash kernel's tiles, impl_fused.cpp).
constexpr int kEfficientBlockM = 32;
constexpr int kEfficientBlockN = 64;

// Shared memory the kernel needs for (d, dv); the caller checks it against the device limit.
size_t efficient_smem_bytes(int d, int dv);
void run_efficient(DType dtype, const FlashParams& p, bool probe, cudaStream_t stream);

}  // namespace attnscope::cuda
