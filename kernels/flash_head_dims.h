// The one list of head dims the fused flash2/sink kernels are compiled for. The verdict rules
// (kernels/rules.cpp) round a real head dim up through it, the GPU plugin's dispatcher launches
// through it, and kernels/cuda/CMakeLists.txt reads the two #define lines below to generate one
// instantiation file per (dtype, head dim) - so a size is added or removed here and nowhere else.
#pragma once
#include <cstddef>

// sm80 kernel (mma.sync; FA2's list: a head dim runs in the next size up, zero-padded).
#define ATTNSCOPE_FLASH_HEAD_DIMS 32, 64, 96, 128, 192, 256
// sm90 kernel (wgmma + TMA): tiles are loaded in 64-column blocks of 128 bytes (128-byte swizzle),
// so the compiled sizes are multiples of 64; 32 and 96 run in 64 and 128 (the TMA fills the
// missing columns with zeros, nothing is copied).
#define ATTNSCOPE_FLASH_SM90_HEAD_DIMS 64, 128, 192, 256

namespace attnscope {

inline constexpr int kFlashHeadDims[] = {ATTNSCOPE_FLASH_HEAD_DIMS};
inline constexpr int kFlashSm90HeadDims[] = {ATTNSCOPE_FLASH_SM90_HEAD_DIMS};

// The compiled size a real head dim d runs in: the first of `dims` >= d, 0 when d exceeds them all.
template <size_t N>
constexpr int compiled_head_dim(const int (&dims)[N], int d) {
  for (int c : dims)
    if (d <= c) return c;
  return 0;
}

}  // namespace attnscope
