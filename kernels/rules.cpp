// The verdict rules every implementation shares (CPU and GPU versions alike). Texts are the real
// libraries' where they have one (REFERENCE.md); `source` says whose behaviour a reason reproduces.
#include <cstdio>
#include <map>
#include <string>

#include "kernels/flash_head_dims.h"
#include "kernels/format.h"
#include "kernels/implementation.h"
#include "kernels/library_texts.h"
#include "kernels/memory_model.h"

namespace attnscope {

const char* severity_name(Severity s) {
  switch (s) {
    case Severity::Error: return "error";
    case Severity::Warning: return "warning";
    case Severity::Silent: return "silent";
    case Severity::Note: return "note";
  }
  return "?";
}

bool parse_severity(const std::string& s, Severity* out) {
  for (Severity v : {Severity::Error, Severity::Warning, Severity::Silent, Severity::Note})
    if (s == severity_name(v)) {
      *out = v;
      return true;
    }
  return false;
}

namespace {

constexpr const char* kFa2 = "flash-attn 2.x (csrc/flash_attn/flash_api.cpp)";
constexpr const char* kAttnscope = "attnscope";

bool explicit_mask(const LayerSpec& s) {
  return s.mask == MaskKind::ExplicitBool || s.mask == MaskKind::ExplicitAdditive;
}

// Where nothing runs on the named GPU, the CPU emulation stands in for the kernel.
void cpu_emulation_note(Verdict& v, const DeviceInfo& dev, const char* what) {
  if (!dev.is_gpu())
    v.add(Severity::Note, "cpu.emulation",
          std::string("runs as a CPU emulation of ") + what +
              " (same tile order and rounding points as the GPU kernel)",
          kAttnscope);
}

// The score matrix eager (and SDPA's math backend) materialise: [B·Hq·Nq, Nk], or for packed
// sequences what HF runs without remove-padding, the padded batch [n·Hq·max_len, max_len].
void score_shape(const LayerSpec& s, int64_t* rows, int64_t* cols) {
  if (s.packed()) {
    *rows = int64_t{s.packed_count()} * s.heads_q * s.packed_max_len();
    *cols = s.packed_max_len();
  } else {
    *rows = int64_t{s.batch} * s.heads_q * s.seq_q;
    *cols = s.seq_k;
  }
}


// The FA2 kernel family's shared conditions (flash2 and sink are one template).
void fa2_family_rules(Verdict& v, const LayerSpec& s, const DeviceInfo& dev, bool sink_kernel) {
  const char* src = sink_kernel ? "attnscope sink kernel (FA2 rules)" : kFa2;
  if (dev.is_gpu() && dev.cc_major < 8)
    v.add(Severity::Error, "fa2.arch", library_text("fa2.arch"), src);
  if (s.dtype == DType::F32)
    v.add(Severity::Error, "fa2.dtype", library_text("fa2.dtype"), src);
  if (s.head_dim > 256 || s.head_dim_v > 256)
    v.add(Severity::Error, "fa2.head_dim", library_text("fa2.head_dim"), src);
  else if (s.head_dim != s.head_dim_v)
    v.add(Severity::Error, "fa2.head_dim_v",
          "q, k and v must have the same head dimension (got " + std::to_string(s.head_dim) + " and " +
              std::to_string(s.head_dim_v) + ")",
          src);
  else {
    const int rounded = compiled_head_dim(kFlashHeadDims, s.head_dim);
    if (s.head_dim % 8 != 0)
      v.add(Severity::Note, "fa2.head_dim_pad",
            "head dim " + std::to_string(s.head_dim) + " is zero-padded to " +
                std::to_string((s.head_dim + 7) / 8 * 8) +
                " as flash_attn's Python wrapper does (the kernel requires: \"" + library_text("fa2.head_dim8") + "\")",
            src);
    if (rounded != s.head_dim)
      v.add(Severity::Note, "fa2.head_dim_kernel",
            "runs the kernel compiled for head dim " + std::to_string(rounded), src);
  }
  if (s.heads_kv <= 0 || s.heads_q % s.heads_kv != 0)
    v.add(Severity::Error, "fa2.gqa", library_text("fa2.gqa"), src);
  if (explicit_mask(s))
    v.add(Severity::Error, "fa2.mask",
          "FlashAttention takes no attention mask: only causal, a (left, right) window, and padding through "
          "cu_seqlens (varlen); an explicit mask cannot be represented",
          src);
  if (s.packed())
    v.add(Severity::Note, "fa2.varlen_packed",
          library_text("fa2.varlen_packed", {{"n", std::to_string(s.packed_count())},
                                              {"max", std::to_string(s.packed_max_len())}}),
          src);
  if (s.mask == MaskKind::Padding)
    v.add(Severity::Note, "fa2.varlen",
          "padding runs as the varlen path (cu_seqlens), as HF unpads before flash_attn_varlen_func", src);
  if (s.causal && s.seq_q != s.seq_k && s.align == CausalAlign::TopLeft)
    v.add(Severity::Error, "fa2.causal_align",
          "FlashAttention aligns causal masks to the bottom-right corner (since 2.1); this layer asks for "
          "top-left alignment with seqlen_q != seqlen_k",
          src);
  if (s.softcap > 0)
    v.add(Severity::Note, "fa2.softcap", "softcap is supported from flash-attn 2.6.0", kFa2);
}

}  // namespace

// Packed sequences on an implementation without a cu_seqlens input (eager, sdpa): what HF does
// with them, per transformers version (the catalogue's entries, each with its range).
void packed_rules(Verdict& v, const LayerSpec& s, const std::string& impl) {
  if (!s.packed()) return;
  const std::map<std::string, std::string> fill = {{"impl", impl},
                                                   {"n", std::to_string(s.packed_count())},
                                                   {"max", std::to_string(s.packed_max_len())},
                                                   {"total", std::to_string(s.seq_q)}};
  for (const char* code : {"hf.packed.no_varlen", "hf.packed.cross", "hf.packed.mask_given"})
    for (const LibraryText* t : texts_for(code, ""))
      v.add(t->severity, code, fill_text(t->text, fill), version_range(*t));
}

Verdict check_eager(const LayerSpec& s, const DeviceInfo& dev) {
  Verdict v;
  int64_t rows, cols;
  score_shape(s, &rows, &cols);
  const int64_t scores = rows * cols;
  v.add(Severity::Note, "eager.materialises",
        "materialises S and P: " + std::to_string(scores) + " scores (" + format_bytes(model_bytes("eager", s)) +
            " with the softmax's copies)",
        "transformers eager_attention_forward");
  if (s.sinks)
    v.add(Severity::Note, "eager.sinks",
          "sinks as an extra score column: concatenated, max subtracted, softmax, column dropped (GPT-OSS eager)",
          "transformers modeling_gpt_oss");
  if (s.softmax_dtype != DType::F32 && s.dtype != DType::F32)
    v.add(Severity::Note, "eager.softmax_dtype",
          std::string("softmax output in the model dtype (") + dtype_name(s.dtype) +
              ") after subtracting the row max in that dtype, as GPT-OSS's eager; Llama's eager uses fp32",
          "transformers modeling_gpt_oss");
  if (s.causal && s.seq_q != s.seq_k)
    v.add(Severity::Note, "eager.causal_align",
          std::string("causal mask aligned ") + causal_align_name(s.align) + " (Nq != Nk)", kAttnscope);
  packed_rules(v, s, "eager");
  memory_verdict(v, "eager", s, dev);
  return v;
}

Verdict check_flash2(const LayerSpec& s, const DeviceInfo& dev) {
  Verdict v;
  cpu_emulation_note(v, dev, "FlashAttention-2");
  fa2_family_rules(v, s, dev, false);
  if (s.sinks)
    v.add(Severity::Error, "fa2.sinks",
          "flash_attn has no attention sinks: the learned sink logits cannot be represented (an upstream PR is "
          "open); --what-if runs it with the sinks dropped",
          kFa2);
  memory_verdict(v, "flash2", s, dev);
  return v;
}

Verdict check_sink(const LayerSpec& s, const DeviceInfo& dev) {
  Verdict v;
  cpu_emulation_note(v, dev, "the sink kernel (FA2 with learned sinks)");
  fa2_family_rules(v, s, dev, true);
  if (!s.sinks)
    v.add(Severity::Note, "sink.none",
          "the layer has no sinks: runs as plain attention (the gpt-oss Triton kernel would add a zero-logit "
          "sink here instead, about 10% relative error on a Llama-shaped layer)",
          "openai/gpt-oss gpt_oss/triton/attention.py");
  if (s.has_window())
    v.add(Severity::Note, "sink.window_skip", "KV tiles wholly outside the window are skipped, not masked",
          kAttnscope);
  memory_verdict(v, "sink", s, dev);
  return v;
}

bool what_if_spec(const std::string& impl, const LayerSpec& spec, const DeviceInfo& dev, LayerSpec* out,
                  std::vector<WhatIfDrop>* dropped) {
  dropped->clear();
  std::string base = impl.substr(0, impl.find(':'));
  if (base == "flash2" || base == "sink") {
    if (base == "flash2" && spec.sinks) dropped->push_back(WhatIfDrop::Sinks);
    if (explicit_mask(spec)) dropped->push_back(WhatIfDrop::ExplicitMask);
    if (spec.causal && spec.seq_q != spec.seq_k && spec.align == CausalAlign::TopLeft)
      dropped->push_back(WhatIfDrop::TopLeftAlign);
    if (spec.dtype == DType::F32) dropped->push_back(WhatIfDrop::Fp32);
  } else if (base == "sdpa") {
    if (spec.sinks) dropped->push_back(WhatIfDrop::Sinks);
    if (spec.softcap > 0) dropped->push_back(WhatIfDrop::Softcap);
  }
  *out = apply_what_if(spec, *dropped);
  if (dropped->empty()) return false;
  const Implementation* im = cpu_implementation(impl);
  if (!im) return false;
  DeviceInfo d = dev;
  return im->check(*out, d).supported;
}

}  // namespace attnscope
