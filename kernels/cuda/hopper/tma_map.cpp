#include "kernels/cuda/hopper/tma_map.h"

#include <cuda_runtime.h>
#include <cudaTypedefs.h>

#include <mutex>

namespace attnscope::cuda::sm90 {

namespace {

PFN_cuTensorMapEncodeTiled_v12000 encode_fn(std::string* why) {
  static PFN_cuTensorMapEncodeTiled_v12000 fn = nullptr;
  static std::string error;
  static std::once_flag once;
  std::call_once(once, [] {
    void* p = nullptr;
    cudaDriverEntryPointQueryResult q{};
    const cudaError_t e = cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &p, 12000, cudaEnableDefault, &q);
    if (e != cudaSuccess || q != cudaDriverEntryPointSuccess || !p)
      error = std::string("cuTensorMapEncodeTiled is not available from the driver (") + cudaGetErrorString(e) + ")";
    else
      fn = reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(p);
  });
  if (!fn && why) *why = error;
  return fn;
}

}  // namespace

bool make_tile_map(CUtensorMap* map, const TileMapSpec& s, std::string* why) {
  auto fn = encode_fn(why);
  if (!fn) return false;
  if (reinterpret_cast<uintptr_t>(s.base) % 16 != 0 || (s.row_stride * 2) % 16 != 0 || (s.head_stride * 2) % 16 != 0) {
    *why = "TMA needs 16-byte aligned tensors and strides (head dim a multiple of 8)";
    return false;
  }
  const cuuint64_t dims[3] = {static_cast<cuuint64_t>(s.d), static_cast<cuuint64_t>(s.rows),
                              static_cast<cuuint64_t>(s.heads)};
  const cuuint64_t strides[2] = {static_cast<cuuint64_t>(s.row_stride * 2), static_cast<cuuint64_t>(s.head_stride * 2)};
  const cuuint32_t box[3] = {64, static_cast<cuuint32_t>(s.box_rows), 1};
  const cuuint32_t elem_strides[3] = {1, 1, 1};
  const CUresult r = fn(map, s.fp16 ? CU_TENSOR_MAP_DATA_TYPE_FLOAT16 : CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 3,
                        const_cast<void*>(s.base), dims, strides, box, elem_strides, CU_TENSOR_MAP_INTERLEAVE_NONE,
                        CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                        CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS) {
    *why = "cuTensorMapEncodeTiled failed with CUresult " + std::to_string(static_cast<int>(r));
    return false;
  }
  return true;
}

}  // namespace attnscope::cuda::sm90
