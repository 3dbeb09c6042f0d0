// One case per condition: the HF attention name on a model + GPU + environment gives a reason with
// the expected code, severity, library text and the library version it is tagged with.
#include <set>

#include "tests/capture/diagnose/diagnose_fixture.h"

namespace attnscope::test {
namespace {

enum class Env { Unknown, CpuTorch, Fa2Ok, FaMissing, FaMissingKernels, FaOld, FaUndefinedSymbol, NoCuda, Tf457, Tf510, Tf53, Tf517, Tf517Fa3,
                 Tf517Torch211 };

PyEnv make_env(Env e) {
  switch (e) {
    case Env::Unknown: return PyEnv{};
    case Env::CpuTorch: {
      PyEnv e = env("4.57.1", "2.8.3", "", false, false);
      e.torch_cuda = "";
      return e;
    }
    case Env::Fa2Ok: return env("4.57.1", "2.8.3");
    case Env::FaMissing: return env("4.57.1", "");
    case Env::FaMissingKernels: return env("4.57.1", "", "", true);
    case Env::FaOld: return env("4.57.1", "2.0.4");
    case Env::FaUndefinedSymbol:
      return env("4.57.1", "2.8.3",
                 "ImportError: /venv/lib/python3.11/site-packages/flash_attn_2_cuda.cpython-311-x86_64-linux-gnu.so: "
                 "undefined symbol: _ZN3c105ErrorC2ENS_14SourceLocationENSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEE");
    case Env::NoCuda: return env("4.57.1", "2.8.3", "", false, false);
    case Env::Tf457: return env("4.57.1", "2.8.3");
    case Env::Tf510: return env("5.1.0", "2.8.3");
    case Env::Tf53: return env("5.3.0", "2.8.3", "", true);
    case Env::Tf517: return env("5.17.0", "");
    case Env::Tf517Fa3: {
      PyEnv e = env("5.17.0", "2.8.3");
      e.packages["flash_attn_interface"] = {"flash_attn_interface", true, "3.0.0", ""};
      return e;
    }
    case Env::Tf517Torch211: {
      PyEnv e = env("5.17.0", "");
      e.packages["torch"].version = "2.11.0";
      return e;
    }
  }
  return PyEnv{};
}

struct Case {
  const char* name;
  const char* model_file;
  const char* dtype;    // --dtype override, "" = the config's
  const char* gpu;      // --gpu, "" = CPU
  Env env;
  const char* impl;     // HF attention name
  bool training;
  const char* code;     // expected reason
  Severity severity;
  const char* text;     // substring of the library's text
  const char* version;  // substring of the reason's source (library + range)
  bool supported;       // the verdict as a whole
};

const Case kCases[] = {
    // FlashAttention-2 kernel rules, as they surface through transformers.
    {"fa2_arch_t4", "llama-2-7b.json", "fp16", "T4", Env::Fa2Ok, "flash_attention_2", false, "fa2.arch",
     Severity::Error, "FlashAttention only supports Ampere GPUs or newer.", "flash-attn 2.x", false},
    {"fa2_arch_v100", "llama-2-7b.json", "bf16", "V100", Env::Fa2Ok, "flash_attention_2", false, "fa2.arch",
     Severity::Error, "FlashAttention only supports Ampere GPUs or newer.", "flash-attn 2.x", false},
    {"fa2_no_cc_check_in_hf", "llama-2-7b.json", "fp16", "T4", Env::Fa2Ok, "flash_attention_2", false,
     "hf.fa2.no_compute_capability_check", Severity::Note, "does not check the compute capability",
     "transformers >=4.36 [installed 4.57.1]", false},
    {"fa2_dtype_kernel", "llama-2-7b.json", "float32", "A100", Env::Fa2Ok, "flash_attention_2", false, "fa2.dtype",
     Severity::Error, "FlashAttention only support fp16 and bf16 data type", "flash-attn 2.x", false},
    {"fa2_dtype_hf_warning_new", "llama-2-7b.json", "float32", "A100", Env::Fa2Ok, "flash_attention_2", false,
     "hf.fa2.dtype", Severity::Warning,
     "Flash Attention 2 only supports torch.float16 and torch.bfloat16 dtypes, but the current dype in "
     "LlamaForCausalLM is torch.float32",
     "transformers >=4.56,<5.3 [installed 4.57.1]", false},
    // transformers' _flash_attn_2_can_dispatch, package half.
    {"fa2_not_installed", "llama-2-7b.json", "bf16", "A100", Env::FaMissing, "flash_attention_2", false,
     "hf.fa2.not_installed", Severity::Error,
     "FlashAttention2 has been toggled on, but it cannot be used due to the following error: the package flash_attn "
     "seems to be not installed.",
     "transformers >=4.36,<5.3 [installed 4.57.1]", false},
    {"fa2_kernels_fallback", "llama-2-7b.json", "bf16", "A100", Env::FaMissingKernels, "flash_attention_2", false,
     "hf.fa2.kernels_fallback", Severity::Warning, "using `kernels-community/flash-attn2` from the `kernels` library",
     "transformers >=4.56 [installed 4.57.1]", true},
    {"fa2_too_old", "llama-2-7b.json", "bf16", "A100", Env::FaOld, "flash_attention_2", false, "hf.fa2.too_old",
     Severity::Error, "greater or equal than 2.1.0. Detected version 2.0.4.", "transformers >=4.36", false},
    {"fa2_undefined_symbol", "llama-2-7b.json", "bf16", "A100", Env::FaUndefinedSymbol, "flash_attention_2", false,
     "fa.undefined_symbol", Severity::Error, "built against another torch/CUDA", "flash-attn", false},
    {"fa2_no_cuda", "llama-2-7b.json", "bf16", "", Env::NoCuda, "flash_attention_2", false, "hf.fa2.no_cuda",
     Severity::Error, "Flash Attention 2 is not available on CPU. Please make sure torch can access a CUDA device.",
     "transformers >=4.36", false},
    {"fa2_cpu_torch_build", "llama-2-7b.json", "bf16", "", Env::CpuTorch, "flash_attention_2", false,
     "hf.fa2.no_gpu_at_all", Severity::Error, "not initialized on GPU and with no GPU available",
     "transformers >=4.36 [installed 4.57.1]", false},
    {"fa2_package_unknown", "llama-2-7b.json", "bf16", "A100", Env::Unknown, "flash_attention_2", false,
     "hf.fa2.package_unknown", Severity::Note, "pass --env", "attnscope", true},
    // Sliding windows.
    {"fa2_window", "gpt-oss-20b.json", "", "A100", Env::Tf457, "flash_attention_2", false, "hf.fa2.window",
     Severity::Note, "window_size=(W-1, W-1)", "transformers", true},
    // SDPA.
    {"sdpa_efficient_a100_window", "gpt-oss-20b.json", "", "A100", Env::Tf457, "sdpa", false,
     "hf.gptoss.no_sdpa", Severity::Error, "does not support an attention implementation through "
     "torch.nn.functional.scaled_dot_product_attention yet", "transformers >=4.55 [installed 4.57.1]", false},
    {"sdpa_default_falls_back", "gpt-oss-20b.json", "", "A100", Env::Tf457, "sdpa", false,
     "hf.sdpa.default_falls_back", Severity::Silent, "silently uses eager", "transformers >=4.36", false},
    {"sdpa_t4_fp16_efficient", "llama-2-7b.json", "fp16", "T4", Env::Fa2Ok, "sdpa", false, "sdpa.flash.arch",
     Severity::Note, "Flash attention only supports gpu architectures in the range [sm80, sm121]", "PyTorch", true},
    {"sdpa_t4_bf16_math", "llama-2-7b.json", "bf16", "T4", Env::Fa2Ok, "sdpa", false, "sdpa.efficient.dtype",
     Severity::Warning, "Expected query, key and value to all be of dtype: {Half, Float}", "PyTorch", true},
    {"sdpa_fp32_flash_skipped", "llama-2-7b.json", "float32", "A100", Env::Fa2Ok, "sdpa", false, "sdpa.flash.dtype",
     Severity::Note, "Expected query, key and value to all be of dtype: {Half, BFloat16}", "PyTorch", true},
    // GPT-OSS and its sinks, by transformers era.
    {"gptoss_fa2_sinks_dropped_457", "gpt-oss-20b.json", "", "A100", Env::Tf457, "flash_attention_2", false,
     "hf.gptoss.fa_sinks_dropped", Severity::Silent, "the sinks are dropped without a word",
     "transformers >=4.55,<5.0 [installed 4.57.1]", true},
    {"gptoss_fa2_refused_51", "gpt-oss-20b.json", "", "A100", Env::Tf510, "flash_attention_2", false,
     "hf.gptoss.fa_refused", Severity::Error, "refuses flash_attention_2/flash_attention_3 at load",
     "transformers >=5.0,<5.3 [installed 5.1.0]", false},
    {"gptoss_fa2_redirect_53_h100", "gpt-oss-20b.json", "", "H100", Env::Tf53, "flash_attention_2", false,
     "hf.gptoss.fa_redirect", Severity::Warning,
     "Automatically falling back to `kernels-community/vllm-flash-attn3` instead of `flash_attention_2`.",
     "transformers >=5.3,<5.17 [installed 5.3.0]", true},
    {"gptoss_fa2_redirect_53_a100_arch", "gpt-oss-20b.json", "", "A100", Env::Tf53, "flash_attention_2", false,
     "hub.vllm_fa3.arch", Severity::Error, "Hopper only (sm90); this GPU is sm80", "hub-kernel", false},
    {"gptoss_fa2_redirect_fp16", "gpt-oss-20b.json", "fp16", "H100", Env::Tf53, "flash_attention_2", false,
     "hub.vllm_fa3.dtype", Severity::Error, "runs bf16 only; the layer is fp16", "hub-kernel", false},
    {"gptoss_fa2_version_unknown_lists_all", "gpt-oss-20b.json", "", "H100", Env::Unknown, "flash_attention_2", false,
     "hf.gptoss.fa_refused", Severity::Error, "refuses", "[version unknown: pass --env]", false},
    {"gptoss_eager_sinks", "gpt-oss-20b.json", "", "T4", Env::Tf457, "eager", false, "hf.gptoss.eager",
     Severity::Note, "concatenates the sink logit", "transformers >=4.55", true},
    {"gptoss_vllm_fa3_heads_ok", "gpt-oss-20b.json", "", "H100", Env::Tf53, "kernels-community/vllm-flash-attn3",
     false, "hub.vllm_fa3.sinks", Severity::Note, "sink-capable", "hub-kernel", true},
    {"gptoss_vllm_fa3_training", "gpt-oss-20b.json", "", "H100", Env::Tf53, "kernels-community/vllm-flash-attn3", true,
     "hub.vllm_fa3.no_sink_backward", Severity::Warning, "backward pass", "hub-kernel", true},
    {"hub_kernel_needs_kernels", "llama-2-7b.json", "bf16", "H100", Env::Fa2Ok, "kernels-community/vllm-flash-attn3",
     false, "hub.needs_kernels", Severity::Error, "need the `kernels` package", "hub-kernel", false},
    {"fa2_hub_sinks_dropped", "gpt-oss-20b.json", "", "A100", Env::FaMissingKernels, "kernels-community/flash-attn2",
     false, "fa.no_sinks", Severity::Silent, "take no sink argument", "flash-attn >=2.0", true},
    // transformers >= 5.3 swaps every "flash" name GPT-OSS does not list, hub kernels included.
    {"fa2_hub_redirected_53", "gpt-oss-20b.json", "", "H100", Env::Tf53, "kernels-community/flash-attn2", false,
     "hf.gptoss.fa_redirect", Severity::Warning,
     "Automatically falling back to `kernels-community/vllm-flash-attn3` instead of `kernels-community/flash-attn2`.",
     "transformers >=5.3,<5.17 [installed 5.3.0]", true},
    // transformers 5.x's own wording, verified on 5.17.0 (tests/fixtures/device_h100).
    {"fa2_not_installed_5x", "llama-2-7b.json", "bf16", "H100", Env::Tf517, "flash_attention_2", false,
     "hf.fa2.not_installed", Severity::Error,
     "FlashAttention2 has been toggled on, but it cannot be used due to the following error: the package for "
     "FlashAttention2 doesn't seem to be installed.",
     "transformers >=5.3 [installed 5.17.0]", false},
    {"fa3_arch_t4_5x", "llama-2-7b.json", "fp16", "T4", Env::Tf517Fa3, "flash_attention_3", false, "hf.fa3.arch",
     Severity::Error, "FlashAttention3 requires compute capability >= 9, but found (7, 5) with compute capability 7.x",
     "transformers >=5.3 [installed 5.17.0]", false},
    {"kernels_missing_one_slash_5x", "llama-2-7b.json", "bf16", "H100", Env::Tf517,
     "triton_attention_sink/flash_attention_triton_sink.py", false, "hf.kernels.missing", Severity::Error,
     "`kernels` is either not installed or uses an incompatible version. Please install a compatible version "
     "(0.16.0 <= version < 0.17.0), e.g. `pip install kernels==0.16.0`",
     "transformers >=5.3 [installed 5.17.0]", false},
    {"gptoss_path_redirected_5x", "gpt-oss-20b.json", "", "H100", Env::Tf517,
     "/tmp/triton_attention_sink_hf/flash_attention_triton_sink.py", false, "hf.gptoss.fa_redirect",
     Severity::Warning, "Automatically falling back to `kernels-community/vllm-flash-attn3` instead of "
     "`/tmp/triton_attention_sink_hf/flash_attention_triton_sink.py`.",
     "transformers >=5.17 [installed 5.17.0]", false},
    {"paged_eager_forward_5x", "llama-2-7b.json", "bf16", "H100", Env::Tf517, "paged|eager", false,
     "hf.paged.no_cache", Severity::Error, "`paged|eager` was called without a paged attention cache.",
     "transformers >=5.3 [installed 5.17.0]", false},
    {"gptoss_flex_inductor_5x", "gpt-oss-20b.json", "", "H100", Env::Tf517Torch211, "flex_attention", false,
     "hf.gptoss.flex_inductor", Severity::Error, "NoValidChoicesError: No choices to select.",
     "transformers >=5.17 [installed 5.17.0]", false},
    // FlashAttention 3.
    {"fa3_arch_a100", "llama-2-7b.json", "bf16", "A100", Env::Fa2Ok, "flash_attention_3", false, "hf.fa3.arch",
     Severity::Error, "Flash Attention 3 requires compute capability >= 9.0, but found (8, 0)", "transformers >=4.54",
     false},
};

class Conditions : public ::testing::TestWithParam<Case> {};

TEST_P(Conditions, ReasonCodeSeverityTextVersion) {
  const Case& c = GetParam();
  ModelInfo m = model(c.model_file, c.dtype);
  ASSERT_FALSE(m.layers.empty());
  DeviceInfo d = *c.gpu ? gpu(c.gpu) : cpu_device();
  PyEnv e = make_env(c.env);
  // Judge every layer type; the condition must appear in at least one.
  bool found = false;
  std::string dump;
  for (const auto& spec : m.layers) {
    ImplVerdict iv = hf_verdict(c.impl, m, spec, d, e, c.training);
    for (const auto& r : iv.verdict.reasons) {
      dump += std::string("  [") + severity_name(r.severity) + "] " + r.code + ": " + r.text + " (" + r.source + ")\n";
      if (r.code == c.code && r.severity == c.severity && r.text.find(c.text) != std::string::npos &&
          r.source.find(c.version) != std::string::npos)
        found = true;
    }
    if (spec.sliding_window == 0 || m.layers.size() == 1) {
      EXPECT_EQ(iv.verdict.supported, c.supported) << dump;
    }
  }
  EXPECT_TRUE(found) << c.name << ": expected [" << severity_name(c.severity) << "] " << c.code << " \"" << c.text
                     << "\" tagged \"" << c.version << "\"; got:\n"
                     << dump;
}

INSTANTIATE_TEST_SUITE_P(Diagnose, Conditions, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<Case>& i) { return std::string(i.param.name); });

TEST(Conditions, FlashFamilyOnlyWhereArchAllows) {
  // Whatever the GPU, the verdict of flash_attention_2 follows the compute capability.
  ModelInfo m = model("llama-2-7b.json", "bf16");
  for (const char* g : {"T4", "V100", "A10G", "L4", "A100", "RTX3090", "RTX4090", "H100", "H200", "B200", "sm75", "sm86"}) {
    DeviceInfo d = gpu(g);
    ImplVerdict iv = hf_verdict("flash_attention_2", m, m.layers[0], d, env("4.57.1", "2.8.3"), false);
    EXPECT_EQ(iv.verdict.supported, d.cc_major >= 8) << g;
    EXPECT_EQ(iv.verdict.has("fa2.arch"), d.cc_major < 8) << g;
  }
}

TEST(Conditions, SdpaGqaAsTransformersCallsIt) {
  // Mistral: GQA 32/8 with a 4096 window. Beyond the window transformers passes a mask, so K/V are
  // repeated and SDPA's memory-efficient kernel is usable; within it enable_gqa=True and SDPA's
  // GQA rules apply.
  ModelInfo m;
  SpecOverrides ov;
  ov.seq = 8192;
  ASSERT_EQ(load_model_info(hf_sample("mistral-7b.json"), ov, -1, &m), "");
  ImplVerdict far = hf_verdict("sdpa", m, m.layers[0], gpu("A100"), env("4.57.1", "2.8.3"), false);
  const Reason* r = find(far.verdict, "hf.sdpa.repeat_kv");
  ASSERT_NE(r, nullptr);
  EXPECT_NE(r->text.find("(sliding window)"), std::string::npos);
  EXPECT_NE(r->source.find("transformers >=4.48 [installed 4.57.1]"), std::string::npos);
  EXPECT_EQ(far.sdpa_backend, "efficient");
  ov.seq = 1024;
  ASSERT_EQ(load_model_info(hf_sample("mistral-7b.json"), ov, -1, &m), "");
  ImplVerdict near = hf_verdict("sdpa", m, m.layers[0], gpu("A100"), env("4.57.1", "2.8.3"), false);
  EXPECT_TRUE(near.verdict.has("hf.sdpa.enable_gqa"));
  EXPECT_EQ(near.sdpa_backend, "flash");
}

TEST(Conditions, GptOssEveryHfNameSaysWhatHappensToSinks) {
  ModelInfo m = model("gpt-oss-20b.json");
  ASSERT_TRUE(m.sinks);
  ASSERT_EQ(m.layer_types.size(), 2u);
  EXPECT_EQ(m.layer_counts[0] + m.layer_counts[1], 24);
  DeviceInfo h100 = gpu("H100");
  for (const char* name : {"eager", "sdpa", "flash_attention_2", "flash_attention_3", "kernels-community/vllm-flash-attn3"}) {
    ImplVerdict iv = hf_verdict(name, m, m.layers[0], h100, PyEnv{}, false);
    bool says_sinks = iv.outcome.find("sink") != std::string::npos || has_text(iv.verdict, "sink");
    EXPECT_TRUE(says_sinks) << name << ": " << iv.outcome;
  }
}

}  // namespace
}  // namespace attnscope::test

namespace attnscope::test {
namespace {

// transformers 4.51.3, read in its wheel (modeling_utils.py _autoset_attn_implementation,
// models/auto/configuration_auto.py): names that do not exist yet fail at load, GPT-OSS's model type is
// unknown, and a release outside every line attnscope models is "not known", never "runs".
const char* kUnknown4513 =
    "Specified `attn_implementation=\"flash_attention_3\"` is not supported. The only possible arguments are "
    "`attn_implementation=\"eager\"` (manual attention implementation), `\"attn_implementation=flash_attention_2\"` "
    "(implementation using flash attention 2), `\"attn_implementation=sdpa\"` (implementation using "
    "torch.nn.functional.scaled_dot_product_attention), `\"attn_implementation=flex_attention\"` (implementation "
    "using torch's flex_attention).";
const char* kUnknownType4513 =
    "The checkpoint you are trying to load has model type `gpt_oss` but Transformers does not recognize this "
    "architecture. This could be because of an issue with the checkpoint, or because your version of Transformers "
    "is out of date.\n\nYou can update Transformers with the command `pip install --upgrade transformers`. If this "
    "does not work, and the checkpoint is very new, then there may not be a release version that supports this "
    "model yet. In this case, you can get the most up-to-date code by installing Transformers from source with the "
    "command `pip install git+https://github.com/huggingface/transformers.git`";

TEST(Versions, FlashAttention3DoesNotExistIn4513) {
  for (const char* config : {"llama-3-8b.json", "gemma-2-9b.json", "mistral-7b.json", "llama-2-7b.json"}) {
    ModelInfo m = model(config, "bf16");
    for (const char* gpu_name : {"H100", "A100"}) {
      ImplVerdict iv = hf_verdict("flash_attention_3", m, m.layers[0], gpu(gpu_name), env("4.51.3", ""));
      SCOPED_TRACE(std::string(config) + " on " + gpu_name + ": " + iv.outcome);
      EXPECT_FALSE(iv.verdict.supported);
      EXPECT_EQ(iv.predicted.stage, "load");
      EXPECT_EQ(iv.predicted.exception, "ValueError");
      EXPECT_EQ(iv.predicted.code, "hf.attn.unknown");
      const Reason* r = find(iv.verdict, "hf.attn.unknown");
      ASSERT_NE(r, nullptr);
      std::string want = kUnknown4513;
      EXPECT_EQ(r->text, want);
      EXPECT_NE(r->source.find("[installed 4.51.3]"), std::string::npos) << r->source;
    }
  }
  // The same name is a name from 4.54 on.
  ModelInfo m = model("llama-3-8b.json", "bf16");
  EXPECT_FALSE(hf_verdict("flash_attention_3", m, m.layers[0], gpu("H100"), env("4.57.3", "")).verdict.has(
      "hf.attn.unknown"));
}

TEST(Versions, NamesOf4513) {
  ModelInfo m = model("llama-3-8b.json", "bf16");
  const DeviceInfo h100 = gpu("H100");
  // Registered: eager and sdpa run, flash_attention_2 needs its package, flex_attention compiles.
  EXPECT_EQ(hf_verdict("eager", m, m.layers[0], h100, env("4.51.3", "")).predicted.stage, "runs");
  EXPECT_EQ(hf_verdict("sdpa", m, m.layers[0], h100, env("4.51.3", "")).predicted.stage, "runs");
  ImplVerdict fa2 = hf_verdict("flash_attention_2", m, m.layers[0], h100, env("4.51.3", ""));
  EXPECT_EQ(fa2.predicted.stage, "load");
  EXPECT_EQ(fa2.predicted.exception, "ImportError");
  EXPECT_EQ(fa2.predicted.code, "hf.fa2.not_installed");
  EXPECT_EQ(find(fa2.verdict, "hf.fa2.not_installed")->text,
            "FlashAttention2 has been toggled on, but it cannot be used due to the following error: the package "
            "flash_attn seems to be not installed. Please refer to the documentation of "
            "https://huggingface.co/docs/transformers/perf_infer_gpu_one#flashattention-2 to install Flash Attention "
            "2.");
  ImplVerdict fa2_ok = hf_verdict("flash_attention_2", m, m.layers[0], h100, env("4.51.3", "2.7.4"));
  EXPECT_EQ(fa2_ok.predicted.stage, "runs");
  EXPECT_EQ(fa2_ok.predicted.resolved, "flash_attention_2");
  // On a T4 the package loads and the kernel refuses at the first forward.
  ImplVerdict fa2_t4 = hf_verdict("flash_attention_2", m, m.layers[0], gpu("T4"), env("4.51.3", "2.7.4"));
  EXPECT_EQ(fa2_t4.predicted.stage, "forward");
  EXPECT_EQ(fa2_t4.predicted.exception, "RuntimeError");
  EXPECT_EQ(fa2_t4.predicted.code, "fa2.arch");
  EXPECT_EQ(hf_verdict("flex_attention", m, m.layers[0], h100, env("4.51.3", "")).predicted.stage, "runs");
  // Not names yet: paged| variants, hub kernels, flash_attention_4, paths; each fails at load.
  for (const char* s : {"paged|eager", "kernels-community/flash-attn2", "kernels-community/vllm-flash-attn3",
                        "flash_attention_4", "/tmp/x/flash_attention_triton_sink.py", "no_such_attention"}) {
    AttnImplCheck c = check_attn_implementation(s, m, m.layers[0], h100, env("4.51.3", ""));
    SCOPED_TRACE(s);
    EXPECT_FALSE(c.verdict.supported);
    EXPECT_EQ(c.predicted.stage, "load");
    EXPECT_EQ(c.predicted.exception, "ValueError");
    EXPECT_EQ(c.predicted.code, "hf.attn.unknown");
    EXPECT_EQ(c.resolves_to, "nothing: loading fails");
  }
  EXPECT_EQ(check_attn_implementation("/tmp/x/flash_attention_triton_sink.py", m, m.layers[0], h100,
                                      env("4.51.3", ""))
                .kind,
            "path");
  // flex_attention before 4.48: whether it is a name is not known, so nothing is claimed.
  ImplVerdict flex = hf_verdict("flex_attention", m, m.layers[0], h100, env("4.44.2", ""));
  EXPECT_FALSE(flex.known);
  EXPECT_EQ(flex.predicted.stage, "");
}

TEST(Versions, GptOssIsAnUnknownModelTypeBefore455) {
  ModelInfo m = model("gpt-oss-20b.json");
  for (const char* v : {"4.51.3", "4.54.1"})
    for (const char* name : {"eager", "sdpa", "flash_attention_2", "flash_attention_3", "flex_attention",
                             "kernels-community/vllm-flash-attn3"}) {
      ImplVerdict iv = hf_verdict(name, m, m.layers[0], gpu("H100"), env(v, ""));
      SCOPED_TRACE(std::string(v) + " " + name + ": " + iv.outcome);
      EXPECT_FALSE(iv.verdict.supported);
      EXPECT_EQ(iv.predicted.stage, "load");
      EXPECT_EQ(iv.predicted.exception, "ValueError");
      EXPECT_EQ(iv.predicted.code, "hf.model.unknown_type");
      const Reason* r = find(iv.verdict, "hf.model.unknown_type");
      ASSERT_NE(r, nullptr);
      if (std::string(v) == "4.51.3") EXPECT_EQ(r->text, kUnknownType4513);
      EXPECT_EQ(iv.outcome.find("runs"), std::string::npos);
    }
  EXPECT_EQ(hf_verdict("eager", m, m.layers[0], gpu("H100"), env("4.55.0", "")).predicted.stage, "runs");
  // The report says it first, and the fix is a newer transformers.
  DiagnoseOptions o;
  o.local_gpu = false;
  o.gpu = "H100";
  o.config_file = hf_sample("gpt-oss-20b.json");
  o.env_file = tmp_file("env_4513.json", R"({"format": "attnscope-env", "version": 1,
      "packages": {"transformers": {"version": "4.51.3"}, "torch": {"version": "2.11.0"}},
      "torch": {"cuda": "13.0", "cuda_available": true}})");
  DiagnoseReport r;
  ASSERT_EQ(build_diagnose_report(o, &r), "");
  ASSERT_FALSE(r.summary.empty());
  EXPECT_NE(r.summary[0].find("does not know the model type gpt_oss"), std::string::npos) << r.summary[0];
  ASSERT_FALSE(r.fixes.empty());
  EXPECT_EQ(r.fixes[0].line, "pip install -U \"transformers>=4.55\"");
}

TEST(Versions, AReleaseOutsideEveryKnownLineIsNotKnownNeverRuns) {
  ModelInfo llama = model("llama-3-8b.json", "bf16");
  ModelInfo oss = model("gpt-oss-20b.json");
  for (const char* v : {"4.20.0", "4.35.2", "6.0.0", "6.1.0"})
    for (const ModelInfo* m : {&llama, &oss})
      for (const char* name : {"eager", "sdpa", "flash_attention_2", "flash_attention_3", "flex_attention",
                               "paged|eager", "kernels-community/vllm-flash-attn3", "no_such_attention"}) {
        ImplVerdict iv = hf_verdict(name, *m, m->layers[0], gpu("H100"), env(v, "2.7.4"));
        SCOPED_TRACE(std::string(v) + " " + m->model_type + " " + name);
        EXPECT_FALSE(iv.known);
        EXPECT_EQ(iv.outcome, std::string("not known for transformers ") + v);
        EXPECT_EQ(iv.predicted.stage, "");
        ASSERT_NE(find(iv.verdict, "hf.version.not_known"), nullptr);
        AttnImplCheck c = check_attn_implementation(name, *m, m->layers[0], gpu("H100"), env(v, "2.7.4"));
        EXPECT_FALSE(c.known);
        EXPECT_EQ(c.predicted.stage, "");
      }
  // Every release attnscope has a line for is known.
  for (const char* v : {"4.36.0", "4.51.3", "4.57.3", "5.2.0", "5.17.0"})
    EXPECT_TRUE(hf_verdict("eager", llama, llama.layers[0], gpu("H100"), env(v, "")).known) << v;
}

// Whatever the release, a name attnscope predicts never "runs" without a rule that says so: every predicted
// failure names a reason of the verdict, and a name that does not exist fails at load.
TEST(Versions, EveryPredictionNamesItsReason) {
  for (const char* config : {"llama-3-8b.json", "gpt-oss-20b.json", "gemma-2-9b.json"}) {
    ModelInfo m = model(config);
    for (const char* v : {"4.40.0", "4.51.3", "4.53.0", "5.17.0"})
      for (const char* name : {"eager", "sdpa", "flash_attention_2", "flash_attention_3", "flash_attention_4",
                               "flex_attention", "paged|eager", "paged|sdpa", "kernels-community/flash-attn2",
                               "org/repo@v1:fn", "/tmp/kernel.py", "no_such_attention"}) {
        AttnImplCheck c = check_attn_implementation(name, m, m.layers[0], gpu("H100"), env(v, ""));
        SCOPED_TRACE(std::string(config) + " " + v + " " + name);
        if (c.predicted.stage == "load" || c.predicted.stage == "forward") {
          const Reason* r = find(c.verdict, c.predicted.code);
          ASSERT_NE(r, nullptr) << c.predicted.code;
        }
        if (c.predicted.stage == "runs") EXPECT_TRUE(c.verdict.supported);
      }
  }
}

}  // namespace
}  // namespace attnscope::test
