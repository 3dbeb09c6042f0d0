// Host <-> device for one run: the layer's inputs uploaded in the model dtype (not counted in the
// run's peak: they are the caller's tensors), results downloaded back to float, and NaN poisoning of
// output buffers so unwritten elements cannot pass as results.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

#include "kernels/cuda/device_arena.h"
#include "kernels/dtype.h"
#include "kernels/inputs.h"
#include "kernels/layer_spec.h"
#include "kernels/tensor.h"

namespace attnscope::cuda {

struct DeviceInputs {
  const void* q = nullptr;        // [B, Hq, Nq, d]   model dtype, contiguous
  const void* k = nullptr;        // [B, Hkv, Nk, d]
  const void* v = nullptr;        // [B, Hkv, Nk, dv]
  const float* sinks = nullptr;   // [Hq] (layers with sinks)
  const float* mask = nullptr;    // explicit mask [B|1, H|1, Nq, Nk] as float (bool: 0 = masked)
  const int* kv_len = nullptr;    // [B] valid keys (padding mask)
  const int* cu_seqlens = nullptr;  // [n + 1] packed sequences (FA2's varlen, batch 1), or null
  int n_seqs = 0;
  int mask_kind = 0;              // 0 none, 1 boolean, 2 additive
  int64_t m_batch_stride = 0, m_head_stride = 0, m_row_stride = 0;  // mask strides; 0 broadcasts
};

// Bytes the inputs occupy on the device.
int64_t input_bytes(const LayerSpec& s, const Inputs& in);
DeviceInputs upload_inputs(DeviceArena& arena, const LayerSpec& s, const Inputs& in, cudaStream_t st);

// Host float tensor -> device buffer in `dt` (not counted).
void* upload(DeviceArena& arena, const Tensor& t, DType dt, const std::string& what, cudaStream_t st);
// Device buffer in `dt` -> host Tensor of floats.
Tensor download(const void* d, DType dt, std::vector<int64_t> shape, cudaStream_t st);
// 0xFF bytes: a NaN in fp16, bf16 and fp32 alike.
void poison(void* d, DType dt, size_t n, cudaStream_t st);

}  // namespace attnscope::cuda
