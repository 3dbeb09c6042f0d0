// The verdict rules every implementation shares (CPU and GPU versions alike). Texts are the real
// libraries' where they have one (REFERENCE.md); `source` says whose behaviour a reason reproduces.
#include <cstdio>
#include <map>
#include <string>

#include "kernels/flash_head_dims.h"
#include "kernels/format.h"
#include "kernels/implementation.h"
#include "kernels/library_texts.h"

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
constexpr const char* kTorchSdpa = "PyTorch 2.5-2.11 (aten/src/ATen/native/transformers/cuda/sdp_utils.cpp)";
constexpr const char* kAttnscope = "attnscope";

int64_t elem_size(DType d) { return d == DType::F32 ? 4 : 2; }

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

void memory_check(Verdict& v, const std::string& impl, const LayerSpec& s, const DeviceInfo& dev) {
  if (!dev.is_gpu() || dev.mem_total <= 0) return;
  int64_t need = model_bytes(impl, s);
  int64_t have = dev.named ? dev.mem_total : (dev.mem_free > 0 ? dev.mem_free : dev.mem_total);
  if (need <= have) return;
  std::string text = "CUDA out of memory: needs " + format_bytes(need) + " beyond the inputs, the device has " +
                     format_bytes(have) + (dev.named ? " in all" : " free");
  if (impl == "eager") {
    // The model is HF's footprint (the dtype scores, the mask, an fp32 softmax copy and its cast):
    // transformers runs out of memory here; attnscope's GPU eager holds less and checks its own
    // estimate before it allocates.
    v.add(Severity::Warning, "eager.oom", "transformers' eager would run out of memory: " + text,
          "transformers eager_attention_forward");
    return;
  }
  v.add(Severity::Error, impl + ".oom", text, kAttnscope);
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

std::string sdpa_efficient_bf16_text() {
  return library_text("sdpa.dtype", {{"allowed", "{Half, Float}"}, {"dtype", "c10::BFloat16"}});
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
  memory_check(v, "eager", s, dev);
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
  memory_check(v, "flash2", s, dev);
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
  memory_check(v, "sink", s, dev);
  return v;
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
          "on the CPU the dispatcher applies PyTorch's CUDA rules as for an sm80+ GPU and runs CPU emulations",
          kAttnscope);

  // A mask PyTorch would receive as attn_mask: padding, explicit masks, windows, and causal when
  // the alignment cannot be said with is_causal.
  // Packed sequences reach SDPA as a padded batch with its padding mask (or a block-diagonal one).
  bool attn_mask = s.mask != MaskKind::None || s.has_window() || s.packed() ||
                   (s.causal && s.seq_q != s.seq_k && s.align == CausalAlign::BottomRight);
  bool gqa = s.heads_q != s.heads_kv;

  // flash
  std::vector<std::pair<std::string, std::string>> flash_why, eff_why;
  const std::string dq = std::to_string(s.head_dim), dv = std::to_string(s.head_dim_v);
  if (dev.is_gpu() && (dev.sm() < 80 || dev.sm() > 121))
    flash_why.push_back({"sdpa.flash.arch", library_text("sdpa.flash.arch", {{"major", std::to_string(dev.cc_major)},
                                                                             {"minor", std::to_string(dev.cc_minor)}})});
  if (attn_mask) flash_why.push_back({"sdpa.flash.attn_mask", library_text("sdpa.flash.attn_mask")});
  if (s.head_dim != s.head_dim_v || s.head_dim > 256)
    flash_why.push_back({"sdpa.flash.head_dim", library_text("sdpa.flash.head_dim", {{"dq", dq}, {"dk", dq}, {"dv", dv}})});
  if (s.causal && s.seq_q != s.seq_k && s.align == CausalAlign::TopLeft)
    flash_why.push_back({"sdpa.flash.causal_nonsquare",
                         library_text("sdpa.flash.causal_nonsquare",
                                      {{"nq", std::to_string(s.seq_q)}, {"nk", std::to_string(s.seq_k)}})});
  if (s.dtype == DType::F32)
    flash_why.push_back({"sdpa.flash.dtype", library_text("sdpa.dtype", {{"allowed", "{Half, BFloat16}"}, {"dtype", "float"}})});
  // memory-efficient
  if (dev.is_gpu() && dev.sm() < 50) eff_why.push_back({"sdpa.efficient.arch", library_text("sdpa.efficient.arch")});
  if (dev.is_gpu() && dev.sm() >= 50 && dev.sm() < 80 && s.dtype == DType::BF16)
    eff_why.push_back({"sdpa.efficient.dtype", sdpa_efficient_bf16_text()});
  int align = s.dtype == DType::F32 ? 4 : 8;
  if (s.head_dim % align != 0 || s.head_dim_v % align != 0)
    eff_why.push_back({"sdpa.efficient.alignment",
                       library_text("sdpa.efficient.alignment",
                                    {{"align", std::to_string(align)}, {"dq", dq}, {"dk", dq}, {"dv", dv}})});
  if (gqa)
    eff_why.push_back({"sdpa.efficient.gqa", "Memory efficient attention does not support grouped query attention "
                                             "(enable_gqa) for dense inputs; only flash and math do"});
  if (s.head_dim > 256 || s.head_dim_v > 256)
    eff_why.push_back({"sdpa.efficient.head_dim", "attnscope's memory-efficient kernel supports head dims up to 256"});

  // PyTorch prints each skipped backend's reasons after a line naming the backend it did not use.
  auto record = [&](const char* not_used, const std::vector<std::pair<std::string, std::string>>& why,
                    Severity sev) {
    for (const auto& [code, text] : why) v.add(sev, code, library_text(not_used) + " " + text, kTorchSdpa);
  };
  std::string pick;
  if (!forced.empty()) {
    pick = forced;
    if (forced == "flash") record("sdpa.flash_not_used", flash_why, Severity::Error);
    else if (forced == "efficient") record("sdpa.efficient_not_used", eff_why, Severity::Error);
    else if (forced == "cudnn") {
      if (!dev.is_gpu() || dev.sm() < 90)
        v.add(Severity::Error, "sdpa.cudnn.arch", "cuDNN attention needs an sm90 or newer GPU and the GPU backend",
              kTorchSdpa);
    } else if (forced != "math")
      v.add(Severity::Error, "sdpa.forced", "unknown SDPA backend '" + forced + "' (flash, efficient, math, cudnn)",
            kAttnscope);
    v.add(Severity::Note, "sdpa.forced_backend", "backend forced to " + forced + " (torch.nn.attention.sdpa_kernel)",
          kTorchSdpa);
  } else if (flash_why.empty()) {
    pick = "flash";
  } else if (eff_why.empty()) {
    pick = "efficient";
    record("sdpa.flash_not_used", flash_why, Severity::Note);
  } else {
    pick = "math";
    record("sdpa.flash_not_used", flash_why, Severity::Warning);
    record("sdpa.efficient_not_used", eff_why, Severity::Warning);
    v.add(Severity::Warning, "sdpa.math", library_text("sdpa.math"), kTorchSdpa);
  }
  if (dev.is_gpu() && dev.sm() >= 90 && forced.empty())
    v.add(Severity::Note, "sdpa.cudnn_first",
          "PyTorch 2.5+ tries cuDNN attention first on sm90/sm100 with cuDNN >= 9.9; attnscope runs it as sdpa:cudnn",
          kTorchSdpa);
  v.add(Severity::Note, "sdpa.backend", "dispatches to the " + pick + " backend", kAttnscope);
  if (chosen) *chosen = pick;
  memory_check(v, pick == "math" ? "eager" : "flash2", s, dev);
  return v;
}

int64_t model_bytes(const std::string& impl, const LayerSpec& s) {
  int64_t e = elem_size(s.dtype);
  int64_t rows = int64_t{s.batch} * s.heads_q * s.seq_q;
  int64_t out = rows * s.head_dim_v * e;
  int64_t lse = rows * 4;
  std::string base = impl.substr(0, impl.find(':'));
  bool math = impl == "sdpa:math";
  if (base == "eager" || math) {
    int64_t score_rows, cols;
    score_shape(s, &score_rows, &cols);
    cols += s.sinks ? 1 : 0;
    int64_t scores = score_rows * cols;
    // HF eager: QK^T in the model dtype, + mask (a second tensor), fp32 softmax, cast back.
    int64_t masked = (s.causal || s.mask != MaskKind::None || s.has_window()) ? e : 0;
    int64_t soft = s.softmax_dtype == DType::F32 ? 4 + e : e;
    return scores * (e + masked + soft) + out;
  }
  return out + lse;
}

int64_t model_bytes_backward(const std::string& impl, const LayerSpec& s) {
  const int64_t e = elem_size(s.dtype);
  const int64_t rows = int64_t{s.batch} * s.heads_q * s.seq_q;
  // The gradients themselves: dQ, dK, dV (dsinks is Hq values).
  const int64_t grads = rows * s.head_dim * e + int64_t{s.batch} * s.heads_kv * s.seq_k * (s.head_dim + s.head_dim_v) * e;
  // GQA: per query head dK/dV before the group sum (repeat_kv's backward, FA2's dk_expanded).
  const int64_t expanded =
      s.heads_q != s.heads_kv ? int64_t{s.batch} * s.heads_q * s.seq_k * (s.head_dim + s.head_dim_v) * e : 0;
  const std::string base = impl.substr(0, impl.find(':'));
  if (base == "eager" || impl == "sdpa:math" || impl == "reference") {
    // Autograd through HF eager at the softmax backward: the saved softmax output (fp32 for
    // Llama's softmax, the model dtype for GPT-OSS's) and P in the model dtype (a view of it for
    // GPT-OSS), dP = dO·Vᵀ in the model dtype, and the softmax's input gradient (fp32 before
    // the cast back, or the model dtype); the repeat_kv copies of K and V saved for the GEMMs.
    int64_t score_rows, cols;
    score_shape(s, &score_rows, &cols);
    const int64_t scores = score_rows * (cols + (s.sinks ? 1 : 0));
    const bool fp32_softmax = impl == "sdpa:math" || s.softmax_dtype == DType::F32;
    const int64_t y = fp32_softmax ? 4 : e, p = fp32_softmax ? e : 0;
    const int64_t rep =
        s.heads_q != s.heads_kv ? int64_t{s.batch} * s.heads_q * s.seq_k * (s.head_dim + s.head_dim_v) * e : 0;
    return scores * (y + p + e + y) + rep + grads + expanded;
  }
  // FA2's backward: dq_accum in fp32 [B, Hq, Nq, D], softmax_d = rowsum(dO ∘ O) in fp32.
  return rows * s.head_dim * 4 + rows * 4 + grads + expanded;
}

bool what_if_spec(const std::string& impl, const LayerSpec& spec, const DeviceInfo& dev, LayerSpec* out,
                  std::vector<std::string>* dropped) {
  *out = spec;
  dropped->clear();
  std::string base = impl.substr(0, impl.find(':'));
  if (base == "flash2" || base == "sink") {
    if (base == "flash2" && out->sinks) {
      out->sinks = false;
      dropped->push_back("sinks");
    }
    if (out->mask == MaskKind::ExplicitBool || out->mask == MaskKind::ExplicitAdditive) {
      out->mask = MaskKind::None;
      dropped->push_back("explicit mask");
    }
    if (out->causal && out->seq_q != out->seq_k && out->align == CausalAlign::TopLeft) {
      out->align = CausalAlign::BottomRight;
      dropped->push_back("top-left causal alignment (bottom-right used)");
    }
    if (out->dtype == DType::F32) {
      out->dtype = DType::BF16;
      if (out->softmax_dtype != DType::F32) out->softmax_dtype = DType::BF16;
      dropped->push_back("fp32 (inputs rounded to bf16)");
    }
  } else if (base == "sdpa") {
    if (out->sinks) {
      out->sinks = false;
      dropped->push_back("sinks");
    }
    if (out->softcap > 0) {
      out->softcap = 0;
      dropped->push_back("softcap");
    }
  }
  if (dropped->empty()) return false;
  const Implementation* im = cpu_implementation(impl);
  if (!im) return false;
  DeviceInfo d = dev;
  return im->check(*out, d).supported;
}

}  // namespace attnscope
