// Launch template of the sm90 flash2/sink kernel; included only by the generated instantiation files.
#pragma once
#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/flash_launch.h"
#include "kernels/cuda/hopper/flash_fwd_sm90.cuh"
#include "kernels/cuda/hopper/tma_map.h"
#include "kernels/cuda/static_switch.h"

namespace attnscope::cuda {

namespace sm90_detail {

// The tensor maps of one layer (Q, K, V loads; O stores in 64-row boxes, one consumer warpgroup's),
// encoded once per (tensors, shapes): a repeat launches with the cached maps, so no host work sits
// between the timing events.
struct Maps {
  FlashParams key{};
  int box_q = 0, box_kv = 0;
  CUtensorMap q{}, k{}, v{}, o{};
};

inline bool same_layer(const FlashParams& a, const FlashParams& b) {
  return a.q == b.q && a.k == b.k && a.v == b.v && a.out == b.out && a.batch == b.batch && a.heads_q == b.heads_q &&
         a.heads_kv == b.heads_kv && a.seq_q == b.seq_q && a.seq_k == b.seq_k && a.d == b.d && a.dv == b.dv &&
         a.q_row_stride == b.q_row_stride && a.q_head_stride == b.q_head_stride && a.k_row_stride == b.k_row_stride &&
         a.k_head_stride == b.k_head_stride && a.v_row_stride == b.v_row_stride && a.v_head_stride == b.v_head_stride &&
         a.o_row_stride == b.o_row_stride && a.o_head_stride == b.o_head_stride;
}

template <class T>
const Maps& maps_for(const FlashParams& p, int box_q, int box_kv) {
  static Maps cache;  // runs are serialised by the plugin's mutex (device_state.h)
  if (cache.box_q == box_q && cache.box_kv == box_kv && same_layer(cache.key, p)) return cache;
  if (p.q_batch_stride != int64_t{p.heads_q} * p.q_head_stride ||
      p.k_batch_stride != int64_t{p.heads_kv} * p.k_head_stride ||
      p.v_batch_stride != int64_t{p.heads_kv} * p.v_head_stride ||
      p.o_batch_stride != int64_t{p.heads_q} * p.o_head_stride)
    throw std::runtime_error("sm90 flash kernel: batch and head strides must be contiguous ([B, H, N, D])");
  constexpr bool kFp16 = std::is_same_v<T, __half>;
  std::string why;
  Maps m;
  const sm90::TileMapSpec q{p.q, kFp16, p.d, p.seq_q, int64_t{p.batch} * p.heads_q, p.q_row_stride, p.q_head_stride,
                            box_q};
  const sm90::TileMapSpec k{p.k, kFp16, p.d, p.seq_k, int64_t{p.batch} * p.heads_kv, p.k_row_stride,
                            p.k_head_stride, box_kv};
  const sm90::TileMapSpec v{p.v, kFp16, p.dv, p.seq_k, int64_t{p.batch} * p.heads_kv, p.v_row_stride,
                            p.v_head_stride, box_kv};
  const sm90::TileMapSpec o{p.out, kFp16, p.dv, p.seq_q, int64_t{p.batch} * p.heads_q, p.o_row_stride,
                            p.o_head_stride, 64};
  if (!sm90::make_tile_map(&m.q, q, &why) || !sm90::make_tile_map(&m.k, k, &why) ||
      !sm90::make_tile_map(&m.v, v, &why) || !sm90::make_tile_map(&m.o, o, &why))
    throw std::runtime_error("sm90 flash kernel: " + why);
  m.key = p;
  m.box_q = box_q, m.box_kv = box_kv;
  cache = m;
  return cache;
}

}  // namespace sm90_detail

// One block per work item of 128 query rows of one (batch, query head), 192 with narrow items, or a
// persistent grid of one block per SM looping over them (FlashParams::sm90_persistent): 384 threads,
// 512 with narrow items (flash_traits_sm90.h), the Q buffers, kStages K and V tiles and the O staging
// buffer in dynamic shared memory (177 KiB at D = 64, 225 KiB at D = 128, 193 KiB at D = 256 where O
// is stored from registers).
template <class T, int HeadDim, bool Narrow>
void launch_flash_sm90_with(const FlashParams& p, bool sinks, bool probe, cudaStream_t stream) {
  using Traits = FlashTraitsSm90<T, HeadDim, Narrow>;
  const sm90_detail::Maps& maps = sm90_detail::maps_for<T>(p, Traits::kBlockM, Traits::kBlockN);
  static int sms = 0;
  if (sms == 0) {
    int dev = 0;
    ATTNSCOPE_CUDA_CHECK(cudaGetDevice(&dev));
    ATTNSCOPE_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
  }
  const int64_t items = int64_t{(p.seq_q + Traits::kBlockM - 1) / Traits::kBlockM} * p.heads_q * p.batch;
  const int grid = static_cast<int>(p.sm90_persistent ? std::min<int64_t>(items, sms) : items);
  if (grid == 0) return;
  ATTNSCOPE_BOOL_SWITCH(sinks, kSinks, [&] {
    ATTNSCOPE_BOOL_SWITCH(probe, kProbe, [&] {
      auto launch = [&](auto variant) {
        auto kernel = &flash_fwd_sm90_kernel<Traits, kSinks, kProbe, decltype(variant)::value>;
        static bool configured = false;
        if (!configured) {
          ATTNSCOPE_CUDA_CHECK(
              cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, Traits::kSmemBytes));
          configured = true;
        }
        kernel<<<grid, Traits::kThreads, Traits::kSmemBytes, stream>>>(p, maps.q, maps.k, maps.v, maps.o);
        ATTNSCOPE_LAUNCH_CHECK();
      };
      using V = Sm90Variant;
      if constexpr (Narrow) {
        launch(std::integral_constant<V, V::Tiles>{});  // sm90_narrow_items: the Tiles variant only
      } else {
        switch (sm90_variant(p)) {
          case V::Transform: launch(std::integral_constant<V, V::Transform>{}); break;
          case V::Tiles: launch(std::integral_constant<V, V::Tiles>{}); break;
        }
      }
    });
  });
}

template <class T, int HeadDim>
void launch_flash_sm90(const FlashParams& p, bool sinks, bool probe, cudaStream_t stream) {
  if constexpr (HeadDim == 64) {
    if (sm90_narrow_items(p, HeadDim)) return launch_flash_sm90_with<T, HeadDim, true>(p, sinks, probe, stream);
  }
  launch_flash_sm90_with<T, HeadDim, false>(p, sinks, probe, stream);
}

}  // namespace attnscope::cuda
