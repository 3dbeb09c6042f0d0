#include "kernels/cuda/device_inputs.h"

#include <algorithm>

#include "kernels/cuda/cuda_check.h"

namespace attnscope::cuda {

int64_t input_bytes(const LayerSpec& s, const Inputs& in) {
  const int64_t e = s.dtype == DType::F32 ? 4 : 2;
  return (in.q.numel() + in.k.numel() + in.v.numel()) * e + int64_t(in.sinks.size()) * 4 + in.mask.numel() * 4 +
         int64_t(s.batch) * 4;
}

void* upload(DeviceArena& arena, const Tensor& t, DType dt, const std::string& what, cudaStream_t st) {
  const size_t n = static_cast<size_t>(t.numel());
  if (dt == DType::F32) {
    void* d = arena.alloc(n * 4, what, false);
    ATTNSCOPE_CUDA_CHECK(cudaMemcpyAsync(d, t.data.data(), n * 4, cudaMemcpyHostToDevice, st));
    ATTNSCOPE_CUDA_CHECK(cudaStreamSynchronize(st));
    return d;
  }
  std::vector<uint16_t> bits(n);
  for (size_t i = 0; i < n; ++i)
    bits[i] = dt == DType::F16 ? f32_to_f16_bits(t.data[i]) : f32_to_bf16_bits(t.data[i]);
  void* d = arena.alloc(n * 2, what, false);
  ATTNSCOPE_CUDA_CHECK(cudaMemcpyAsync(d, bits.data(), n * 2, cudaMemcpyHostToDevice, st));
  ATTNSCOPE_CUDA_CHECK(cudaStreamSynchronize(st));
  return d;
}

Tensor download(const void* d, DType dt, std::vector<int64_t> shape, cudaStream_t st) {
  Tensor t(dt, std::move(shape));
  const size_t n = static_cast<size_t>(t.numel());
  if (dt == DType::F32) {
    ATTNSCOPE_CUDA_CHECK(cudaMemcpyAsync(t.data.data(), d, n * 4, cudaMemcpyDeviceToHost, st));
    ATTNSCOPE_CUDA_CHECK(cudaStreamSynchronize(st));
    return t;
  }
  std::vector<uint16_t> bits(n);
  ATTNSCOPE_CUDA_CHECK(cudaMemcpyAsync(bits.data(), d, n * 2, cudaMemcpyDeviceToHost, st));
  ATTNSCOPE_CUDA_CHECK(cudaStreamSynchronize(st));
  for (size_t i = 0; i < n; ++i)
    t.data[i] = dt == DType::F16 ? f16_bits_to_f32(bits[i]) : bf16_bits_to_f32(bits[i]);
  return t;
}

void poison(void* d, DType dt, size_t n, cudaStream_t st) {
  ATTNSCOPE_CUDA_CHECK(cudaMemsetAsync(d, 0xFF, n * (dt == DType::F32 ? 4 : 2), st));
}

DeviceInputs upload_inputs(DeviceArena& arena, const LayerSpec& s, const Inputs& in, cudaStream_t st) {
  DeviceInputs d;
  d.q = upload(arena, in.q, s.dtype, "q", st);
  d.k = upload(arena, in.k, s.dtype, "k", st);
  d.v = upload(arena, in.v, s.dtype, "v", st);
  if (s.sinks) {
    Tensor sk(DType::F32, {s.heads_q});
    sk.data = in.sinks;
    d.sinks = static_cast<const float*>(upload(arena, sk, DType::F32, "sinks", st));
  }
  if (s.mask == MaskKind::ExplicitBool || s.mask == MaskKind::ExplicitAdditive) {
    d.mask = static_cast<const float*>(upload(arena, in.mask, DType::F32, "mask", st));
    d.mask_kind = s.mask == MaskKind::ExplicitBool ? 1 : 2;
    const auto& sh = in.mask.shape;  // [B|1, H|1, Nq, Nk]
    d.m_row_stride = sh[3];
    d.m_head_stride = sh[1] == 1 ? 0 : sh[2] * sh[3];
    d.m_batch_stride = sh[0] == 1 ? 0 : sh[1] * sh[2] * sh[3];
  }
  if (s.mask == MaskKind::Padding) {
    std::vector<int> lens(s.batch, s.seq_k);
    for (int b = 0; b < s.batch && b < static_cast<int>(s.kv_lengths.size()); ++b)
      lens[b] = std::min(std::max(s.kv_lengths[b], 0), s.seq_k);
    int* dkv = arena.alloc_as<int>(s.batch, "kv_lengths", false);
    ATTNSCOPE_CUDA_CHECK(cudaMemcpyAsync(dkv, lens.data(), s.batch * sizeof(int), cudaMemcpyHostToDevice, st));
    ATTNSCOPE_CUDA_CHECK(cudaStreamSynchronize(st));
    d.kv_len = dkv;
  }
  if (s.packed()) {
    const size_t n = s.cu_seqlens.size();
    int* dcu = arena.alloc_as<int>(n, "cu_seqlens", false);
    ATTNSCOPE_CUDA_CHECK(cudaMemcpyAsync(dcu, s.cu_seqlens.data(), n * sizeof(int), cudaMemcpyHostToDevice, st));
    ATTNSCOPE_CUDA_CHECK(cudaStreamSynchronize(st));
    d.cu_seqlens = dcu;
    d.n_seqs = static_cast<int>(n) - 1;
  }
  return d;
}

}  // namespace attnscope::cuda
