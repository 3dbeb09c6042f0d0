// Layer 4 of the sm90 flash2/sink kernel (STYLE.md): compile-time constants for one (element type,
// compiled head dim, wide or narrow items), with the assumptions the kernel body relies on spelled out.
#pragma once

namespace attnscope::cuda {

// Keys per tile: 128 up to D = 128 (S is m64n128: 64 fp32 registers a thread beside O's D/2), 64
// above (O alone is 96 or 128 registers a thread at D = 192 / 256). The probe's kv_tile.
constexpr int sm90_block_n(int head_dim) { return head_dim <= 128 ? 128 : 64; }

template <class Elem, int HeadDim, bool Narrow = false>
struct FlashTraitsSm90 {
  using Element = Elem;                     // __half or __nv_bfloat16
  static constexpr int kHeadDim = HeadDim;  // compiled head dim: a multiple of 64 (TMA column blocks)
  // Warp specialisation as in FlashAttention-3: warpgroup 0 produces (one thread issues the TMA
  // loads), warpgroups 1 and 2 consume, 64 query rows each: a block holds 128 rows, the height at
  // which one K/V tile in shared memory feeds two m64 wgmma streams.
  // Narrow items (D = 64 sliding windows, sm90_narrow_items): three consumer warpgroups (192 rows,
  // FlashAttention-3's D = 64 configuration) and 64-key tiles, each warpgroup multiplying only the
  // tiles its own rows see (kPerWgTiles; no ping-pong: the warpgroups' issue counts differ). A 128-key
  // window's warpgroup multiplies 3 x 64 keys a row instead of 2 x 128, with three chains of GEMMs and
  // softmax an SM instead of two: 0.062 ms against 0.067 for the wide items' best form (v17,
  // bench/README.md); elsewhere slower (d64 non-causal 0.735 against 0.654), so windows only.
  static constexpr int kConsumerWarpgroups = Narrow ? 3 : 2;
  static constexpr int kThreads = 128 * (kConsumerWarpgroups + 1);
  static constexpr int kBlockM = 64 * kConsumerWarpgroups;
  static constexpr int kBlockN = Narrow ? 64 : sm90_block_n(HeadDim);
  static constexpr bool kPerWgTiles = Narrow;
  static constexpr int kColBlocks = kHeadDim / 64;  // 64-element (128-byte) column blocks of a row
  static constexpr int kQBytes = kBlockM * kHeadDim * 2;
  static constexpr int kTileBytes = kBlockN * kHeadDim * 2;  // one K or one V tile
  // K and V stages: the producer loads tile j + kStages - 1 while the consumers multiply tile j. Four
  // where they fit beside a double-buffered Q (D = 64: 16 KiB tiles): an item of a 128-key window is
  // two tiles, and with two stages the producer ran one item ahead, so each item waited for its own
  // loads; else two (D = 128: 32 KiB tiles, D = 256: 64 keys of 256).
  // Narrow items: a 128-key window's item is five 8 KiB tiles; eight stages keep the next item's
  // loads in flight (0.061 ms against 0.062 with four, H200 2026-12-02).
  static constexpr int kStages = Narrow ? 8 : 2 * kQBytes + 2 * 4 * kTileBytes + 1024 <= 227 * 1024 ? 4 : 2;
  // Q double-buffered where it fits (D <= 192): the producer loads the next work item's Q while the
  // consumers still read this one's, so a short item (a 128-key window: two tiles) does not wait for it.
  static constexpr int kQStages = 2 * kQBytes + 2 * kStages * kTileBytes + 1024 <= 227 * 1024 ? 2 : 1;
  // + 1024: the dynamic shared memory base is aligned up to the 1024-byte swizzle atom.
  static constexpr int kSmemInputs = kQStages * kQBytes + 2 * kStages * kTileBytes + 1024;
  // The epilogue writes O through shared memory and one TMA store a warpgroup where the buffer fits
  // (D <= 128): ncu on the 128-key window put 18% of a consumer warp's time in the epilogue's 16
  // global stores a thread, whose queue held up the next row's shuffles and the registers they read.
  // At D = 256 (64 KiB more) O goes out from registers.
  static constexpr int kOBytes = kBlockM * kHeadDim * 2;
  static constexpr bool kStoreOViaSmem = kSmemInputs + kOBytes <= 227 * 1024;
  static constexpr int kSmemBytes = kSmemInputs + (kStoreOViaSmem ? kOBytes : 0);
  // Register split after setmaxnreg. The block is launched with kLaunchRegs a thread (65536 / 384,
  // rounded down to 8) and never gets more: setmaxnreg.inc only takes what the producer's .dec gave
  // back, and waits for it otherwise - with 32 for the producer the consumers asked for 1024 registers
  // more than existed and the kernel hung (H200, 2026-12-01). The producer keeps 24 (its work-item
  // loop spills 4 bytes, a few loads per item); each consumer thread holds O (D/2 fp32), S (kBlockN/2
  // fp32) and P (kBlockN/4 packed): at most 240 with two consumer warpgroups, 160 with three (launched
  // with 128: 512 threads).
  static constexpr int kLaunchRegs = 65536 / kThreads / 8 * 8;
  static constexpr int kProducerRegs = 24;
  static constexpr int kConsumerRegs = Narrow ? 160 : 240;
  static constexpr int kSAcc = kBlockN / 2;   // S accumulator registers a thread (m64nN: N/2)
  static constexpr int kOAcc = kHeadDim / 2;  // O accumulator registers a thread
  static constexpr int kPSteps = kBlockN / 16;  // k16 steps of O += P·V

  static_assert(sizeof(Elem) == 2, "tensor-core path is fp16/bf16 only");
  static_assert(kHeadDim % 64 == 0 && kHeadDim >= 64 && kHeadDim <= 256, "64-element TMA column blocks");
  static_assert(kBlockN % 16 == 0 && kBlockN <= 256, "wgmma N and the TMA box rows");
  static_assert((kLaunchRegs - kProducerRegs) * 128 >= (kConsumerRegs - kLaunchRegs) * 128 * kConsumerWarpgroups,
                "the consumers' setmaxnreg.inc must be covered by what the producer's .dec returns (else: hang)");
  static_assert(kSmemBytes <= 227 * 1024, "exceeds the sm90 per-block shared memory (227 KiB)");
  static_assert(!Narrow || HeadDim == 64, "narrow items' consumers fit their registers (160) at D = 64 only");
};

}  // namespace attnscope::cuda
