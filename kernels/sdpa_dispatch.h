// torch.nn.functional.scaled_dot_product_attention's backend choice on CUDA, as torch 2.11 makes
// it (aten/src/ATen/native/transformers/cuda/sdp_utils.cpp) for a layer handed over the way
// transformers 5.x's sdpa_attention_forward hands it: is_causal alone when the mask is top-left
// causal, otherwise a boolean (or additive) [B, 1, Nq, Nk] mask with K/V expanded by repeat_kv;
// enable_gqa=True only without a mask. Each backend's conditions run in torch's order and stop at
// the first failure, whose text is torch's warning. Replayed against torch's own choices on an
// H200 by tests/kernels/sdpa_dispatch_test.cpp.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "device.h"
#include "layer_spec.h"
#include "torch_plan.h"
#include "verdict.h"

namespace attnscope {

// The torch build the rules stand for. cuDNN's version changes the priority order (cuDNN first on
// sm90/sm100 above 9.15) and the head-dim limit.
struct TorchSdpaBuild {
  long cudnn_version = 91900;  // torch 2.11's wheel ships cuDNN 9.19
};

// What scaled_dot_product_attention receives for this layer.
struct SdpaCall {
  MaskInput mask = MaskInput::None;
  bool enable_gqa = false;  // no mask and Hq != Hkv: K/V keep Hkv heads
  int heads_k = 0;          // K/V heads as SDPA sees them (Hq after repeat_kv)
};
SdpaCall sdpa_call(const LayerSpec& s);

// Why one backend refuses: torch's code path and its warning line (the first failing check).
struct SdpaRefusal {
  std::string code;  // "sdpa.flash.attn_mask", ...
  std::string text;  // torch's TORCH_WARN text, e.g. "Flash Attention does not support non-null attn_mask."
  bool warn_once = false;  // TORCH_WARN_ONCE: torch prints it only the first time in a process
};
std::optional<SdpaRefusal> sdpa_flash_refusal(const LayerSpec& s, const DeviceInfo& dev);
std::optional<SdpaRefusal> sdpa_efficient_refusal(const LayerSpec& s, const DeviceInfo& dev);
std::optional<SdpaRefusal> sdpa_cudnn_refusal(const LayerSpec& s, const DeviceInfo& dev,
                                              const TorchSdpaBuild& build = {});

// torch's priority order for this GPU: {"cudnn", "flash", "efficient", "math"} on sm90/sm100 with
// cuDNN > 9.15, else {"flash", "efficient", "math", "cudnn"}.
std::vector<std::string> sdpa_priority(const DeviceInfo& dev, const TorchSdpaBuild& build = {});
// The backend torch picks ("cudnn", "flash", "efficient", "math").
std::string sdpa_choice(const LayerSpec& s, const DeviceInfo& dev, const TorchSdpaBuild& build = {});

// The CPU implementations cannot run cuDNN: an error "sdpa.cudnn.cpu" (once).
void refuse_cudnn_on_cpu(Verdict& v);

// torch's "<Backend> kernel not used because:" header for a backend.
std::string sdpa_refusal_header(const std::string& backend);

}  // namespace attnscope
