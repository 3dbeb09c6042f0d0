// Host side of the TMA loads: CUtensorMap descriptors for [heads][rows][d] tiles of 16-bit tensors.
// cuTensorMapEncodeTiled is a driver API; it is fetched through the runtime's entry-point query so the
// plugin links no libcuda (the driver is there whenever a kernel can run at all).
#pragma once
#include <cuda.h>

#include <cstdint>
#include <string>

namespace attnscope::cuda::sm90 {

// A rank-3 view of a 16-bit tensor: dim0 = d (contiguous, d * 2 a multiple of 16 bytes), dim1 = rows
// (row_stride elements apart), dim2 = heads (head_stride elements apart; batch x heads flattened).
// Boxes are {64, box_rows, 1} with 128-byte swizzle: one box is one K-major column block of a tile
// (kernels/cuda/hopper/sm90_ptx.cuh). Out-of-bounds rows and columns read as zeros.
struct TileMapSpec {
  const void* base = nullptr;
  bool fp16 = false;  // else bf16
  int64_t d = 0, rows = 0, heads = 0;
  int64_t row_stride = 0, head_stride = 0;  // in elements
  int box_rows = 0;
};

// Fills `map`; false with the reason (driver entry point missing, unaligned base or stride, ...).
bool make_tile_map(CUtensorMap* map, const TileMapSpec& spec, std::string* why);

}  // namespace attnscope::cuda::sm90
