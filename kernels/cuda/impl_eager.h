// Factory of the unfused GPU family: eager (HF's eager_attention_forward) and sdpa's math backend.
#pragma once
#include <cublas_v2.h>

#include <memory>

#include "kernels/cuda/gpu_impl.h"

namespace attnscope::cuda {

// math = true: sdpa's math backend (fp32 softmax, no sinks); false: eager as the spec says.
std::unique_ptr<GpuImpl> make_eager_impl(const LayerSpec& s, cublasHandle_t cublas, bool math);

}  // namespace attnscope::cuda
