// The unfused GPU family: eager (transformers' eager_attention_forward) and sdpa's math backend
// (torch 2.11's _scaled_dot_product_attention_math), each running its torch plan
// (kernels/torch_plan.h) op by op with torch's allocations and kernel shapes (plan_runner.h).
#pragma once
#include <cublas_v2.h>

#include <memory>

#include "kernels/cuda/gpu_impl.h"

namespace attnscope::cuda {

// math = true: sdpa's math backend; false: eager as the spec says (Llama's fp32 softmax or
// GPT-OSS's sink column and model-dtype softmax).
std::unique_ptr<GpuImpl> make_eager_impl(const LayerSpec& s, cublasHandle_t cublas, int sm_count, bool math);

}  // namespace attnscope::cuda
