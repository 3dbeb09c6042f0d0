// sdpa:cudnn: cuDNN's fused flash attention through the cuDNN graph API (NVIDIA's header-only
// cudnn-frontend), called the way torch 2.11 calls it (aten/src/ATen/native/cudnn/MHA.cpp): fp32
// intermediate and compute types, the scale passed by value, is_causal as a top-left causal mask,
// a mask as a bias in the model dtype (a boolean one as 0 / -65504, torch's
// convert_boolean_attn_mask_cudnn), stats only when asked, the plan from heuristics mode A, the
// workspace the plan asks for, the graph built once per shape outside the timed repeats.
// libcudnn is loaded at run time (the frontend's dynamic loading): the plugin loads without it,
// and the verdict says why cuDNN is unavailable. ATTNSCOPE_CUDNN_LIBRARY names the file to load
// (default libcudnn.so.9 from the loader path).
#pragma once
#include <memory>
#include <string>

#include "kernels/cuda/gpu_impl.h"

namespace attnscope::cuda {

struct CudnnLibrary {
  bool available = false;
  std::string why;      // why not, when unavailable
  std::string version;  // "9.19.0"
  std::string path;     // the file that was loaded
  long version_number = 0;
};
// Loads libcudnn once (thread-safe; the GPU backend calls it under its run lock).
const CudnnLibrary& cudnn_library();

std::unique_ptr<GpuImpl> make_cudnn_impl(const LayerSpec& s);

}  // namespace attnscope::cuda
