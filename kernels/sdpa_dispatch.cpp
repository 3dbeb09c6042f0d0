#include "kernels/sdpa_dispatch.h"

#include <algorithm>
#include <map>

#include "kernels/implementation.h"
#include "kernels/library_texts.h"
#include "kernels/memory_model.h"

namespace attnscope {

namespace {

constexpr const char* kTorchSdpa = "PyTorch 2.11 (aten/src/ATen/native/transformers/cuda/sdp_utils.cpp)";
constexpr const char* kAttnscope = "attnscope";

// Without a GPU the rules are PyTorch's CUDA rules for an sm80 GPU (what most users run on).
int major_of(const DeviceInfo& d) { return d.is_gpu() ? d.cc_major : 8; }
int minor_of(const DeviceInfo& d) { return d.is_gpu() ? d.cc_minor : 0; }
bool sm_in(const DeviceInfo& d, int lo_major, int lo_minor, int hi_major, int hi_minor) {
  const int M = major_of(d), m = minor_of(d);
  return (M > lo_major || (M == lo_major && m >= lo_minor)) && (M < hi_major || (M == hi_major && m <= hi_minor));
}

// c10's names: the dtype set is printed as ScalarTypes, the tensors' dtypes as TypeMeta names.
const char* typemeta_name(DType d) {
  switch (d) {
    case DType::F32: return "float";
    case DType::F16: return "c10::Half";
    case DType::BF16: return "c10::BFloat16";
  }
  return "?";
}
std::string dtype_refusal(DType d, const char* allowed) {
  return library_text("sdpa.dtype", {{"allowed", allowed}, {"dtype", typemeta_name(d)}});
}
std::string sizes(int64_t b, int64_t h, int64_t n, int64_t d) {
  return "[" + std::to_string(b) + ", " + std::to_string(h) + ", " + std::to_string(n) + ", " + std::to_string(d) + "]";
}
std::map<std::string, std::string> sm_fill(const DeviceInfo& d) {
  return {{"major", std::to_string(major_of(d))}, {"minor", std::to_string(minor_of(d))}};
}

// minimum_gemm_alignment: tensor cores from sm80 (and for half on sm70+) need 16-byte rows.
int64_t gemm_alignment(const LayerSpec& s, const DeviceInfo& d) {
  const bool half = s.dtype != DType::F32;
  const int M = major_of(d);
  const bool tc = M >= 8 || (M >= 7 && half);
  int64_t a = M >= 8 ? 4 : 1;
  if (tc) a = std::max<int64_t>(a, half ? 8 : 4);
  return a;
}

bool has_mask(const SdpaCall& c) { return c.mask == MaskInput::Bool4D || c.mask == MaskInput::Additive4D; }

}  // namespace

SdpaCall sdpa_call(const LayerSpec& s) {
  SdpaCall c;
  c.mask = sdpa_mask_input(s);
  // transformers' use_gqa_in_sdpa: enable_gqa only when no mask is passed; with one, repeat_kv.
  c.enable_gqa = s.heads_q != s.heads_kv && !has_mask(c);
  c.heads_k = c.enable_gqa ? s.heads_kv : s.heads_q;
  return c;
}

std::string sdpa_refusal_header(const std::string& backend) {
  if (backend == "flash") return library_text("sdpa.flash_not_used");
  if (backend == "efficient") return library_text("sdpa.efficient_not_used");
  if (backend == "cudnn") return library_text("sdpa.cudnn_not_used");
  return "";
}

std::string sdpa_efficient_bf16_text() { return dtype_refusal(DType::BF16, "{Half, Float}"); }

std::optional<SdpaRefusal> sdpa_flash_refusal(const LayerSpec& s, const DeviceInfo& dev) {
  const SdpaCall c = sdpa_call(s);
  // check_for_attn_mask, check_head_dim_size_flash, check_flash_attention_hardware_support,
  // check_flash_causal_non_square_seqlens, check_dtypes_flash_attention; dense: GQA, lengths, strides.
  const std::string dq = std::to_string(s.head_dim), dv = std::to_string(s.head_dim_v);
  if (has_mask(c)) return SdpaRefusal{"sdpa.flash.attn_mask", library_text("sdpa.flash.attn_mask")};
  if (s.head_dim != s.head_dim_v || s.head_dim > 256)
    return SdpaRefusal{"sdpa.flash.head_dim", library_text("sdpa.flash.head_dim", {{"dq", dq}, {"dk", dq}, {"dv", dv}})};
  if (!sm_in(dev, 8, 0, 12, 1)) return SdpaRefusal{"sdpa.flash.arch", library_text("sdpa.flash.arch", sm_fill(dev))};
  if (c.mask == MaskInput::IsCausal && s.seq_q != s.seq_k)
    return SdpaRefusal{"sdpa.flash.causal_nonsquare",
                       library_text("sdpa.flash.causal_nonsquare",
                                    {{"nq", std::to_string(s.seq_q)}, {"nk", std::to_string(s.seq_k)}})};
  if (s.dtype == DType::F32) return SdpaRefusal{"sdpa.flash.dtype", dtype_refusal(s.dtype, "{Half, BFloat16}")};
  return std::nullopt;  // GQA: flash takes enable_gqa (Hq a multiple of Hkv, which LayerSpec requires)
}

std::optional<SdpaRefusal> sdpa_efficient_refusal(const LayerSpec& s, const DeviceInfo& dev) {
  const SdpaCall c = sdpa_call(s);
  // check_mem_efficient_hardware_support, check_head_dim_size_mem_efficient; dense: lengths,
  // strides, check_batch_size_and_num_heads_dense<supports_gqa=false>; then the dtypes.
  if (!sm_in(dev, 5, 0, 12, 1))
    return SdpaRefusal{"sdpa.efficient.arch", library_text("sdpa.efficient.arch", sm_fill(dev))};
  const int64_t a = gemm_alignment(s, dev);
  const std::string dq = std::to_string(s.head_dim), dv = std::to_string(s.head_dim_v);
  if (s.head_dim % a != 0 || s.head_dim_v % a != 0)
    return SdpaRefusal{"sdpa.efficient.alignment",
                       library_text("sdpa.efficient.alignment",
                                    {{"align", std::to_string(a)}, {"dq", dq}, {"dk", dq}, {"dv", dv}})};
  if (c.heads_k != s.heads_q)
    return SdpaRefusal{"sdpa.efficient.gqa",
                       library_text("sdpa.efficient.gqa",
                                    {{"q_sizes", sizes(s.batch, s.heads_q, s.seq_q, s.head_dim)},
                                     {"k_sizes", sizes(s.batch, c.heads_k, s.seq_k, s.head_dim)},
                                     {"v_sizes", sizes(s.batch, c.heads_k, s.seq_k, s.head_dim_v)}})};
  if (major_of(dev) < 8 && s.dtype == DType::BF16) return SdpaRefusal{"sdpa.efficient.dtype", sdpa_efficient_bf16_text()};
  return std::nullopt;
}

std::optional<SdpaRefusal> sdpa_cudnn_refusal(const LayerSpec& s, const DeviceInfo& dev, const TorchSdpaBuild& build) {
  // general: check_dtypes_low_precision, check_attn_mask_shape, check_cudnn_hardware_support;
  // dense: lengths, strides, GQA (supported), check_cudnn_tensor_shapes.
  if (s.dtype == DType::F32) return SdpaRefusal{"sdpa.cudnn.dtype", dtype_refusal(s.dtype, "{Half, BFloat16}")};
  if (!sm_in(dev, 8, 0, 12, 1)) return SdpaRefusal{"sdpa.cudnn.arch", library_text("sdpa.cudnn.arch", sm_fill(dev))};
  if (s.batch > 65535 || s.heads_q > 65535)
    return SdpaRefusal{"sdpa.cudnn.batch_heads",
                       library_text("sdpa.cudnn.batch_heads",
                                    {{"b", std::to_string(s.batch)}, {"h", std::to_string(s.heads_q)}})};
  // Head dims up to 256 on sm90/sm100 with a recent cuDNN (9.19 measured on the H200 with torch
  // 2.11), 192/128 for that one pair from 9.11, else 128.
  const int M = major_of(dev), m = minor_of(dev);
  const bool sm90_100 = (M == 9 && m == 0) || M == 10;
  int limit = 128;
  if (sm90_100 && build.cudnn_version >= 91900) limit = 256;
  else if (sm90_100 && build.cudnn_version >= 91100 && s.head_dim == 192 && s.head_dim_v == 128) limit = 192;
  if (s.head_dim > limit || s.head_dim_v > limit)
    return SdpaRefusal{"sdpa.cudnn.head_dim", library_text("sdpa.cudnn.head_dim", {{"limit", std::to_string(limit)}})};
  if (s.head_dim % 8 != 0 || s.head_dim_v % 8 != 0)
    return SdpaRefusal{"sdpa.cudnn.head_dim_multiple", library_text("sdpa.cudnn.head_dim_multiple")};
  if (s.seq_k == 1) return SdpaRefusal{"sdpa.cudnn.seq_k_1", library_text("sdpa.cudnn.seq_k_1"), true};
  return std::nullopt;
}

std::vector<std::string> sdpa_priority(const DeviceInfo& dev, const TorchSdpaBuild& build) {
  // check_prefer_cudnn_attention (CUDA >= 13 builds): cuDNN > 9.15 on sm9x / sm10x.
  const bool prefer_cudnn = dev.is_gpu() && build.cudnn_version > 91500 && (dev.cc_major == 9 || dev.cc_major == 10);
  if (prefer_cudnn) return {"cudnn", "flash", "efficient", "math"};
  return {"flash", "efficient", "math", "cudnn"};
}

std::string sdpa_choice(const LayerSpec& s, const DeviceInfo& dev, const TorchSdpaBuild& build) {
  for (const std::string& b : sdpa_priority(dev, build)) {
    if (b == "math") return b;
    if (b == "cudnn" && !sdpa_cudnn_refusal(s, dev, build)) return b;
    if (b == "flash" && !sdpa_flash_refusal(s, dev)) return b;
    if (b == "efficient" && !sdpa_efficient_refusal(s, dev)) return b;
  }
  return "math";
}

void refuse_cudnn_on_cpu(Verdict& v) {
  if (!v.has("sdpa.cudnn.cpu"))
    v.add(Severity::Error, "sdpa.cudnn.cpu", "the cuDNN backend runs only in the GPU backend (no CPU version)",
          kAttnscope);
}

Verdict check_sdpa(const LayerSpec& s, const DeviceInfo& dev, const std::string& forced, std::string* chosen) {
  Verdict v;
  if (s.sinks)
    v.add(Severity::Error, "sdpa.sinks",
          "scaled_dot_product_attention has no sink argument: the learned sink logits cannot be represented "
          "(transformers gives GPT-OSS no SDPA path); --what-if runs it with the sinks dropped",
          kTorchSdpa);
  packed_rules(v, s, "sdpa");
  if (s.softcap > 0)
    v.add(Severity::Error, "sdpa.softcap",
          "scaled_dot_product_attention has no softcap argument (transformers' Gemma 2 needs eager or flash for "
          "softcapping); --what-if runs it without the softcap",
          kTorchSdpa);
  if (!dev.is_gpu())
    v.add(Severity::Note, "sdpa.cpu",
          "on the CPU the dispatcher applies PyTorch's CUDA rules as for an sm80 GPU and runs CPU emulations",
          kAttnscope);
  const SdpaCall call = sdpa_call(s);
  if (call.enable_gqa)
    v.add(Severity::Note, "sdpa.enable_gqa",
          "no attention mask: transformers passes enable_gqa=True and K/V keep their " + std::to_string(s.heads_kv) +
              " heads",
          "transformers 5.x integrations/sdpa_attention.py");

  auto refusal = [&](const std::string& b) -> std::optional<SdpaRefusal> {
    if (b == "flash") return sdpa_flash_refusal(s, dev);
    if (b == "efficient") return sdpa_efficient_refusal(s, dev);
    if (b == "cudnn") return sdpa_cudnn_refusal(s, dev);
    return std::nullopt;
  };
  auto record = [&](const std::string& b, const SdpaRefusal& r, Severity sev) {
    v.add(sev, r.code, sdpa_refusal_header(b) + " " + r.text, kTorchSdpa);
  };
  std::string pick;
  if (!forced.empty()) {
    pick = forced;
    if (forced == "flash" || forced == "efficient" || forced == "cudnn") {
      if (auto r = refusal(forced)) record(forced, *r, Severity::Error);
      if (forced == "cudnn" && !dev.is_gpu()) refuse_cudnn_on_cpu(v);
    } else if (forced != "math") {
      v.add(Severity::Error, "sdpa.forced", "unknown SDPA backend '" + forced + "' (flash, efficient, math, cudnn)",
            kAttnscope);
    }
    v.add(Severity::Note, "sdpa.forced_backend", "backend forced to " + forced + " (torch.nn.attention.sdpa_kernel)",
          kTorchSdpa);
  } else {
    pick = sdpa_choice(s, dev);
    // What torch tried before its pick, in its priority order, with the first failing check each.
    const bool to_math = pick == "math";
    for (const std::string& b : sdpa_priority(dev)) {
      if (b == pick) break;
      if (auto r = refusal(b)) record(b, *r, to_math ? Severity::Warning : Severity::Note);
    }
    if (to_math)
      v.add(Severity::Warning, "sdpa.math", library_text("sdpa.math"), kTorchSdpa);
  }
  v.add(Severity::Note, "sdpa.backend", "dispatches to the " + pick + " backend", kAttnscope);
  if (chosen) *chosen = pick;
  if (pick == "flash" || pick == "efficient" || pick == "math" || pick == "cudnn") memory_verdict(v, "sdpa:" + pick, s, dev);
  return v;
}

}  // namespace attnscope
