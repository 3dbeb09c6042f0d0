// Factories of the fused GPU families (impl_fused.cpp).
#pragma once
#include <memory>

#include "kernels/cuda/gpu_impl.h"
#include "kernels/device.h"

namespace attnscope::cuda {

// flash2 (sink_family = false) or sink; the kernel path is chosen from the device (flash_dispatch.h).
std::unique_ptr<GpuImpl> make_flash_impl(const LayerSpec& s, const DeviceInfo& dev, bool sink_family);
// sdpa's memory-efficient backend.
std::unique_ptr<GpuImpl> make_efficient_impl(const LayerSpec& s);
// `p` with the probe fields and the probe's out/lse taken from `probe`.
FlashParams with_probe(const FlashParams& p, const FlashParams& probe);

}  // namespace attnscope::cuda
