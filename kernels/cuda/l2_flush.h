// The L2 flush between timed repeats (run_harness.cpp): `bytes` written by a kernel of our own, as
// triton.testing.do_bench's cache.zero_() writes its 256 MiB through the SMs, so that our repeats start
// in the cache state torch's peers are timed in (a cudaMemsetAsync may be done by the copy engines).
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <string>

namespace attnscope::cuda {

// Writes `value` to every 32-bit word of [p, p + bytes) (bytes a multiple of 16) on `stream`.
void l2_flush(void* p, size_t bytes, unsigned value, cudaStream_t stream);

// Whether a CUPTI kernel record is the flush's (the harness drops those: the measurement's, not the layer's).
bool is_l2_flush(const std::string& kernel_name);

}  // namespace attnscope::cuda
