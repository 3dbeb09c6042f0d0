// Which instantiation of the sm90 kernel a layer runs (layer 2 of STYLE.md's kernel layers, host
// side): its variant and its item shape, and from them the keys per tile and rows per item that the
// probe, the CPU versions (RunOptions::kv_tile) and the bench's tile accounting follow.
#pragma once

#include "kernels/cuda/flash_params.h"
#include "kernels/cuda/hopper/flash_traits_sm90.h"

namespace attnscope::cuda {

// The kernel's variants, each an instantiation of its own (the code a layer never runs stays out of
// the instruction cache: ncu on the 128-key window counted 15% of the warps' stalls on instruction
// fetch with all of it in one kernel, and every D = 64 case lost 2-3% to the code of a two-tile path,
// since replaced by narrow items):
//   Tiles:     the tile loop;
//   Transform: scores transformed before the softmax (a softcap, or a scale for which
//              max(s * scale) != scale * max(s)): the softcap's tanh alone was half the SASS.
enum class Sm90Variant { Tiles, Transform };
inline Sm90Variant sm90_variant(const FlashParams& p) {
  return p.softcap > 0.f || !(p.scale > 0.f) ? Sm90Variant::Transform : Sm90Variant::Tiles;
}

// Whether a layer runs on narrow items (FlashTraitsSm90 with three consumer warpgroups and 64-key
// tiles, compiled at D = 64, Tiles variant): where set_params_fprop asks for them (sm90_narrow: sliding
// windows of at most 128 keys). The probe's kv_tile and the bench's tile accounting follow it.
inline bool sm90_narrow_items(const FlashParams& p, int compiled_head_dim) {
  return compiled_head_dim == 64 && p.sm90_narrow && sm90_variant(p) == Sm90Variant::Tiles;
}

// Keys per tile and query rows per work item of the instantiation that runs the layer.
inline int sm90_kv_tile(const FlashParams& p, int compiled_head_dim) {
  return sm90_narrow_items(p, compiled_head_dim) ? FlashTraitsSm90<unsigned short, 64, true>::kBlockN
                                                 : sm90_block_n(compiled_head_dim);
}
inline int sm90_block_m(const FlashParams& p, int compiled_head_dim) {
  return sm90_narrow_items(p, compiled_head_dim) ? FlashTraitsSm90<unsigned short, 64, true>::kBlockM
                                                 : FlashTraitsSm90<unsigned short, 64>::kBlockM;
}

}  // namespace attnscope::cuda
