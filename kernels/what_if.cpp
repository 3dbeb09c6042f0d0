#include "kernels/what_if.h"

namespace attnscope {

namespace {

constexpr WhatIfDrop kAll[] = {WhatIfDrop::Sinks, WhatIfDrop::ExplicitMask, WhatIfDrop::TopLeftAlign,
                               WhatIfDrop::Fp32, WhatIfDrop::Softcap, WhatIfDrop::PackedBoundaries};

}  // namespace

const char* what_if_drop_name(WhatIfDrop d) {
  switch (d) {
    case WhatIfDrop::Sinks: return "sinks";
    case WhatIfDrop::ExplicitMask: return "explicit mask";
    case WhatIfDrop::TopLeftAlign: return "top-left causal alignment (bottom-right used)";
    case WhatIfDrop::Fp32: return "fp32 (inputs rounded to bf16)";
    case WhatIfDrop::Softcap: return "softcap";
    case WhatIfDrop::PackedBoundaries: return "cu_seqlens";
  }
  return "?";
}

std::optional<WhatIfDrop> parse_what_if_drop(const std::string& name) {
  for (WhatIfDrop d : kAll)
    if (name == what_if_drop_name(d)) return d;
  return std::nullopt;
}

std::vector<std::string> what_if_drop_words(const std::vector<WhatIfDrop>& dropped) {
  std::vector<std::string> w;
  for (WhatIfDrop d : dropped) w.push_back(what_if_drop_name(d));
  return w;
}

std::string what_if_drop_names(const std::vector<WhatIfDrop>& dropped, const char* separator) {
  std::string s;
  for (size_t i = 0; i < dropped.size(); ++i) s += (i ? separator : "") + std::string(what_if_drop_name(dropped[i]));
  return s;
}

LayerSpec apply_what_if(const LayerSpec& spec, const std::vector<WhatIfDrop>& dropped) {
  LayerSpec s = spec;
  for (WhatIfDrop d : dropped) switch (d) {
      case WhatIfDrop::Sinks: s.sinks = false; break;
      case WhatIfDrop::ExplicitMask: s.mask = MaskKind::None; break;
      case WhatIfDrop::TopLeftAlign: s.align = CausalAlign::BottomRight; break;
      case WhatIfDrop::Fp32:
        s.dtype = DType::BF16;
        if (s.softmax_dtype != DType::F32) s.softmax_dtype = DType::BF16;
        break;
      case WhatIfDrop::Softcap: s.softcap = 0; break;
      case WhatIfDrop::PackedBoundaries: s.cu_seqlens.clear(); break;
    }
  return s;
}

}  // namespace attnscope
