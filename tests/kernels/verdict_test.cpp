// Verdict texts are the real libraries' (REFERENCE.md), and each refusal condition is covered.
#include <gtest/gtest.h>

#include <cctype>
#include <fstream>
#include <sstream>

#include "kernels/implementation.h"

namespace attnscope {
namespace {

const Reason* find(const Verdict& v, const std::string& code) {
  for (const auto& r : v.reasons)
    if (r.code == code) return &r;
  return nullptr;
}

std::string reference_md() {
  for (const char* p : {ATTNSCOPE_SOURCE_DIR "/../shared/REFERENCE.md", ATTNSCOPE_SOURCE_DIR "/shared/REFERENCE.md"}) {
    std::ifstream f(p);
    if (f) {
      std::stringstream s;
      s << f.rdbuf();
      return s.str();
    }
  }
  return "";
}

// The text is in REFERENCE.md verbatim where the file is beside the checkout.
void expect_in_reference(const std::string& text) {
  static const std::string ref = reference_md();
  if (ref.empty()) return;
  // REFERENCE.md folds long quotes over lines: compare with whitespace collapsed.
  auto squash = [](const std::string& s) {
    std::string o;
    for (char c : s)
      if (!std::isspace(static_cast<unsigned char>(c))) o += c;
    return o;
  };
  EXPECT_NE(squash(ref).find(squash(text)), std::string::npos) << "not in REFERENCE.md: " << text;
}

LayerSpec llama() {
  LayerSpec s;
  s.heads_q = s.heads_kv = 32;
  s.head_dim = s.head_dim_v = 128;
  s.causal = true;
  s.dtype = DType::F16;
  return s;
}

TEST(Verdicts, Fa2RefusesTuringWithItsText) {
  Verdict v = check_flash2(llama(), *named_gpu("T4"));
  EXPECT_FALSE(v.supported);
  const Reason* r = find(v, "fa2.arch");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->severity, Severity::Error);
  EXPECT_EQ(r->text, "FlashAttention only supports Ampere GPUs or newer.");
  expect_in_reference(r->text);
  EXPECT_TRUE(check_flash2(llama(), *named_gpu("A100")).supported);
  EXPECT_FALSE(check_flash2(llama(), *named_gpu("V100")).supported);
  EXPECT_TRUE(check_flash2(llama(), *named_gpu("sm90")).supported);
}

TEST(Verdicts, Fa2RefusesFp32HeadDimAndGqaWithTheirTexts) {
  LayerSpec s = llama();
  s.dtype = DType::F32;
  Verdict v = check_flash2(s, *named_gpu("H100"));
  const Reason* r = find(v, "fa2.dtype");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->text, "FlashAttention only support fp16 and bf16 data type");
  expect_in_reference(r->text);

  s = llama();
  s.head_dim = s.head_dim_v = 320;
  v = check_flash2(s, *named_gpu("H100"));
  r = find(v, "fa2.head_dim");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->text, "FlashAttention forward only supports head dimension at most 256");
  expect_in_reference(r->text);

  s = llama();
  s.heads_q = 6;
  s.heads_kv = 4;
  v = check_flash2(s, *named_gpu("H100"));
  r = find(v, "fa2.gqa");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->text, "Number of heads in key/value must divide number of heads in query");
  expect_in_reference(r->text);
}

TEST(Verdicts, OddHeadDimIsPaddedWithANoteAndRoundedUp) {
  LayerSpec s = llama();
  s.head_dim = s.head_dim_v = 59;
  Verdict v = check_flash2(s, *named_gpu("A100"));
  EXPECT_TRUE(v.supported);
  const Reason* pad = find(v, "fa2.head_dim_pad");
  ASSERT_NE(pad, nullptr);
  EXPECT_EQ(pad->severity, Severity::Note);
  EXPECT_NE(pad->text.find("padded to 64"), std::string::npos);
  const Reason* k = find(v, "fa2.head_dim_kernel");
  ASSERT_NE(k, nullptr);
  EXPECT_NE(k->text.find("64"), std::string::npos);
  s.head_dim = s.head_dim_v = 80;  // Phi-2: a multiple of 8, but no compiled 80: the 96 kernel
  Verdict v80 = check_flash2(s, *named_gpu("A100"));
  EXPECT_EQ(find(v80, "fa2.head_dim_pad"), nullptr);
  ASSERT_NE(find(v80, "fa2.head_dim_kernel"), nullptr);
  EXPECT_NE(find(v80, "fa2.head_dim_kernel")->text.find("96"), std::string::npos);
}

TEST(Verdicts, SinksAreAnErrorForFlash2AndSdpaButNotForSink) {
  LayerSpec s = llama();
  s.sinks = true;
  s.dtype = DType::BF16;
  EXPECT_FALSE(check_flash2(s, cpu_device()).supported);
  EXPECT_TRUE(check_flash2(s, cpu_device()).has("fa2.sinks"));
  std::string chosen;
  Verdict sd = check_sdpa(s, cpu_device(), "", &chosen);
  EXPECT_FALSE(sd.supported);
  EXPECT_TRUE(sd.has("sdpa.sinks"));
  EXPECT_TRUE(check_sink(s, cpu_device()).supported);
  EXPECT_TRUE(check_eager(s, cpu_device()).supported);
}

TEST(Verdicts, SdpaDispatchRecordsWhyEachBackendWasSkipped) {
  // torch 2.11 on sm90 with its cuDNN 9.19 tries cuDNN first; on an A100 flash comes first.
  LayerSpec s = llama();
  std::string chosen;
  check_sdpa(s, *named_gpu("H100"), "", &chosen);
  EXPECT_EQ(chosen, "cudnn");
  check_sdpa(s, *named_gpu("A100"), "", &chosen);
  EXPECT_EQ(chosen, "flash");

  s.mask = MaskKind::Padding;
  s.kv_lengths = {100};
  Verdict v = check_sdpa(s, *named_gpu("A100"), "", &chosen);
  EXPECT_EQ(chosen, "efficient");
  const Reason* r = find(v, "sdpa.flash.attn_mask");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->text, "Flash attention kernel not used because: Flash Attention does not support non-null attn_mask.");
  expect_in_reference("Flash Attention does not support non-null attn_mask.");
  // With a mask transformers repeats K/V (repeat_kv), so GQA is plain multi-head attention to SDPA.
  s.heads_kv = 8;
  check_sdpa(s, *named_gpu("A100"), "", &chosen);
  EXPECT_EQ(chosen, "efficient");
  // Without one it passes enable_gqa=True, which torch 2.11's memory-efficient kernel refuses.
  s = llama();
  s.heads_kv = 8;
  s.head_dim = s.head_dim_v = 288;  // beyond flash's 256
  v = check_sdpa(s, *named_gpu("A100"), "", &chosen);
  EXPECT_EQ(chosen, "math");
  EXPECT_TRUE(v.has("sdpa.efficient.gqa"));
  EXPECT_TRUE(v.has("sdpa.math"));

  s = llama();
  s.dtype = DType::F32;
  v = check_sdpa(s, *named_gpu("T4"), "", &chosen);
  EXPECT_EQ(chosen, "efficient");
  r = find(v, "sdpa.flash.arch");
  ASSERT_NE(r, nullptr);
  EXPECT_NE(r->text.find("Flash attention only supports gpu architectures in the range [sm80, sm121]. "
                         "Attempting to run on a sm 7.5 gpu."),
            std::string::npos);
  EXPECT_FALSE(v.has("sdpa.flash.dtype")) << "torch stops at the first failing check";

  s = llama();
  s.seq_q = 10;
  s.seq_k = 20;
  s.align = CausalAlign::TopLeft;
  v = check_sdpa(s, *named_gpu("A100"), "", &chosen);
  EXPECT_TRUE(v.has("sdpa.flash.causal_nonsquare"));
  expect_in_reference("Flash attention does not support the is_causal flag when seqlen_q != seqlen_k.");
}

TEST(Verdicts, ForcedBackendsTurnSkipsIntoErrors) {
  LayerSpec s = llama();
  s.mask = MaskKind::Padding;
  s.kv_lengths = {5};
  std::string chosen;
  Verdict v = check_sdpa(s, *named_gpu("A100"), "flash", &chosen);
  EXPECT_FALSE(v.supported);
  EXPECT_EQ(chosen, "flash");
  EXPECT_TRUE(check_sdpa(s, *named_gpu("A100"), "math", &chosen).supported);
  EXPECT_FALSE(check_sdpa(s, cpu_device(), "cudnn", &chosen).supported);
  EXPECT_FALSE(cpu_implementation("sdpa:cudnn")->check(s, *named_gpu("H100")).supported);
}

TEST(Verdicts, HfEagerOutOfMemoryIsAnErrorOnANamedGpu) {
  LayerSpec s = llama();
  s.heads_kv = 8;
  s.seq_q = s.seq_k = 16384;  // ANCHORS.md: HF's eager OOMs at 16k on an 80 GB H100 (batch 4 here)
  s.batch = 4;
  Verdict v = check_eager(s, *named_gpu("H100"));
  // attnscope's eager allocates what transformers' does: it cannot run there either.
  EXPECT_FALSE(v.supported);
  const Reason* r = find(v, "eager.oom");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->severity, Severity::Error);
  EXPECT_NE(r->text.find("CUDA out of memory: transformers eager_attention_forward"), std::string::npos) << r->text;
  s.seq_q = s.seq_k = 2048;
  EXPECT_FALSE(check_eager(s, *named_gpu("H100")).has("eager.oom"));
}

TEST(WhatIf, DropsWhatTheImplementationCannotRepresent) {
  LayerSpec s = llama();
  s.sinks = true;
  s.dtype = DType::BF16;
  LayerSpec w;
  std::vector<WhatIfDrop> dropped;
  ASSERT_TRUE(what_if_spec("flash2", s, cpu_device(), &w, &dropped));
  EXPECT_FALSE(w.sinks);
  EXPECT_EQ(dropped, std::vector<WhatIfDrop>{WhatIfDrop::Sinks});
  s.softcap = 30;
  ASSERT_TRUE(what_if_spec("sdpa", s, cpu_device(), &w, &dropped));
  EXPECT_EQ(dropped.size(), 2u);
  EXPECT_FALSE(what_if_spec("eager", s, cpu_device(), &w, &dropped));
  LayerSpec big = llama();
  big.head_dim = big.head_dim_v = 512;
  EXPECT_FALSE(what_if_spec("flash2", big, cpu_device(), &w, &dropped));  // nothing to drop
}

// The drops are values: each has one stored word, the word parses back, and apply_what_if rebuilds
// exactly the spec what_if_spec ran (the GUI's maps reconstruct a what-if run's P from it).
TEST(WhatIf, DropsRoundTripAndRebuildTheSpec) {
  for (WhatIfDrop d : {WhatIfDrop::Sinks, WhatIfDrop::ExplicitMask, WhatIfDrop::TopLeftAlign, WhatIfDrop::Fp32,
                       WhatIfDrop::Softcap, WhatIfDrop::PackedBoundaries})
    EXPECT_EQ(parse_what_if_drop(what_if_drop_name(d)), d) << what_if_drop_name(d);
  EXPECT_FALSE(parse_what_if_drop("window").has_value());
  LayerSpec s = llama();
  s.dtype = DType::F32;
  s.softmax_dtype = DType::F32;
  s.causal = true;
  s.align = CausalAlign::TopLeft;
  s.seq_q = 16;
  s.seq_k = 48;
  s.mask = MaskKind::ExplicitBool;
  LayerSpec w;
  std::vector<WhatIfDrop> dropped;
  ASSERT_TRUE(what_if_spec("flash2", s, cpu_device(), &w, &dropped));
  EXPECT_EQ(what_if_drop_names(dropped),
            "explicit mask, top-left causal alignment (bottom-right used), fp32 (inputs rounded to bf16)");
  LayerSpec rebuilt = apply_what_if(s, dropped);
  EXPECT_EQ(rebuilt.summary(), w.summary());
  EXPECT_EQ(rebuilt.align, CausalAlign::BottomRight);
  EXPECT_EQ(rebuilt.mask, MaskKind::None);
  EXPECT_EQ(rebuilt.dtype, DType::BF16);
}

}  // namespace
}  // namespace attnscope
