// Layer 4 of the fused kernels (STYLE.md): compile-time constants of the flash2/sink kernel for
// one (element type, head dim), with the assumptions the kernel body relies on spelled out.
#pragma once
#include <cstdint>

namespace attnscope::cuda {

// The sm80 kernel (flash_kernel.cuh); the sm90 kernel has its own traits (hopper/flash_traits_sm90.h).
template <class Elem, int HeadDim>
struct FlashTraits {
  using Element = Elem;                 // __half or __nv_bfloat16
  static constexpr int kHeadDim = HeadDim;  // compiled (padded) head dim, qk and v alike
  // 4 warps of one m16 slab of rows each. 64 keys is the CPU versions' default tile (the probe
  // layout's kv_tile). History in bench/RESULTS.md ("GPU"), H100 llama2-7b b4 n2048: 4 warps x 16
  // rows 0.787 ms; 4 x 32 rows (FA2's 128 x 64 tile: 255 registers, two blocks per SM) 1.004 ms, so
  // that variant was removed; 8 x 16 (185 registers, one block per SM) slower still.
  static constexpr int kWarps = 4;
  static constexpr int kWarpRows = 16;
  static constexpr int kBlockM = kWarpRows * kWarps;
  static constexpr int kBlockN = 64;
  static constexpr int kThreads = kWarps * 32;
  // Up to D = 128 three blocks share an SM (registers capped at 170 a thread, shared memory 52 KiB a
  // block at D = 128). Above D = 128 the O accumulator needs the whole register file of one block.
  static constexpr int kMinBlocksPerSm = kHeadDim <= 128 ? 3 : 1;
  // 8 elements (16 bytes) of padding per shared-memory row: the 8 row addresses of one ldmatrix
  // phase then fall into 8 different 16-byte bank groups instead of one (row pitch 2*D bytes is a
  // multiple of 128 bytes for D >= 64, an 8-way conflict without it).
  static constexpr int kSmemStride = kHeadDim + 8;
  // Q, K and V tiles (loads staggered, see flash_kernel.cuh).
  static constexpr int kSmemBytes = (kBlockM + 2 * kBlockN) * kSmemStride * 2;
  static constexpr int kKSteps = kHeadDim / 16;  // m16n8k16 steps over d for S = Q·Kᵀ
  static constexpr int kSTiles = kBlockN / 8;    // n8 tiles of S a warp holds (64 keys)
  static constexpr int kOTiles = kHeadDim / 8;   // n8 tiles of O a warp holds
  static constexpr int kPVSteps = kBlockN / 16;  // m16n8k16 steps over keys for O += P·V

  static_assert(sizeof(Elem) == 2, "tensor-core path is fp16/bf16 only");
  static_assert(kHeadDim % 16 == 0 && kHeadDim >= 32 && kHeadDim <= 256,
                "head dim must be a multiple of 16 in [32, 256] (k16 MMA steps, x4 ldmatrix pairs)");
  static_assert(kBlockM == 16 * kWarps, "one m16 slab of rows per warp");
  static_assert(kBlockN == 64, "the probe layout and the CPU versions use 64-key tiles");
  static_assert(kSTiles % 2 == 0 && kOTiles % 2 == 0, "ldmatrix.x4 loads two n8 tiles at once");
  static_assert((kSmemStride * 2) % 16 == 0, "ldmatrix row addresses must be 16-byte aligned");
  static_assert(kSmemBytes <= 227 * 1024, "exceeds the sm90 per-block shared memory (227 KiB)");
};

}  // namespace attnscope::cuda
