// --log FILE: recognise the lines of a training/inference log that explain attention failures.
// Each pattern is a real message of the library named in `source` (texts in messages.cpp
// and REFERENCE.md); the explanation says what causes it and what fixes it.
#include <regex>
#include <sstream>

#include "capture/diagnose/log_scan.h"
#include "capture/text_file.h"

namespace attnscope {

namespace {

struct Pattern {
  const char* code;
  const char* needle;   // case-sensitive substring that identifies the message
  Severity severity;
  const char* message;  // the library's message (as it is known)
  const char* cause;
  const char* fix;
  const char* source;
};

const std::vector<Pattern>& patterns() {
  static const std::vector<Pattern> p = {
      {"fa2.arch", "FlashAttention only supports Ampere GPUs or newer", Severity::Error,
       "FlashAttention only supports Ampere GPUs or newer.",
       "the flash_attn kernel ran on a GPU older than sm80 (V100 sm70, T4 sm75, RTX 20xx): FlashAttention-2 has no "
       "kernels for it. transformers does not check the compute capability, so the model loaded and the first "
       "forward failed",
       "use attn_implementation=\"sdpa\" (verl: +actor_rollout_ref.model.override_config.attn_implementation=sdpa and "
       "+critic.model.override_config.attn_implementation=sdpa)",
       "flash-attn 2.x csrc/flash_attn/flash_api.cpp"},
      {"fa2.dtype", "FlashAttention only support fp16 and bf16 data type", Severity::Error,
       "FlashAttention only support fp16 and bf16 data type",
       "q/k/v reached flash_attn in fp32: the model was loaded in fp32 with no autocast or FSDP mixed precision "
       "casting it",
       "load with dtype=torch.bfloat16 (or float16), or run under autocast / FSDP mixed precision",
       "flash-attn 2.x csrc/flash_attn/flash_api.cpp"},
      {"fa2.head_dim", "FlashAttention forward only supports head dimension at most 256", Severity::Error,
       "FlashAttention forward only supports head dimension at most 256",
       "the model's head_dim is above 256, which FlashAttention-2 has no kernel for", "use sdpa or eager",
       "flash-attn 2.x csrc/flash_attn/flash_api.cpp"},
      {"fa2.head_dim8", "must have a head_size that is a multiple of 8", Severity::Error,
       "query, key, value, and out_ must have a head_size that is a multiple of 8",
       "the C++ kernel was called directly with an odd head dim (flash_attn's Python wrapper pads to a multiple of 8)",
       "call flash_attn_func (which pads) or pad the head dim", "flash-attn 2.x csrc/flash_attn/flash_api.cpp"},
      {"fa2.gqa", "Number of heads in key/value must divide number of heads in query", Severity::Error,
       "Number of heads in key/value must divide number of heads in query",
       "num_key_value_heads does not divide num_attention_heads (a config or tensor-parallel split is wrong)",
       "check num_key_value_heads and the tensor-parallel size", "flash-attn 2.x csrc/flash_attn/flash_api.cpp"},
      {"fa.undefined_symbol", "undefined symbol", Severity::Error,
       "ImportError: ...flash_attn_2_cuda...so: undefined symbol: ...",
       "the flash_attn binary was built against another torch / CUDA / C++ ABI than the one installed (a wheel for "
       "another torch minor, or torch upgraded after flash-attn was built)",
       "reinstall a flash-attn wheel built for the installed torch (matching torch minor, CUDA major and "
       "cxx11abi flag), or `pip install flash-attn --no-build-isolation` to build it against this torch; or skip it "
       "with attn_implementation=\"sdpa\"",
       "flash-attn wheels (ABI-bound to one torch build)"},
      {"hf.fa2.not_installed", "the package flash_attn seems to be not installed", Severity::Error,
       "FlashAttention2 has been toggled on, but it cannot be used due to the following error: the package "
       "flash_attn seems to be not installed.",
       "attn_implementation=\"flash_attention_2\" was requested explicitly (verl does so by default) and flash_attn is "
       "not installed in this Python environment",
       "pip install flash-attn --no-build-isolation (Ampere or newer), or `pip install kernels` (transformers >= 4.56 "
       "then loads kernels-community/flash-attn2), or attn_implementation=\"sdpa\"",
       "transformers >=4.36 modeling_utils.py _flash_attn_2_can_dispatch"},
      {"hf.fa2.not_installed", "the package for FlashAttention2 doesn't seem to be installed", Severity::Error,
       "FlashAttention2 has been toggled on, but it cannot be used due to the following error: the package for "
       "FlashAttention2 doesn't seem to be installed.",
       "attn_implementation=\"flash_attention_2\" was requested explicitly (verl does so by default) and flash_attn is "
       "not installed in this Python environment (nor the `kernels` package, which transformers would use instead)",
       "pip install flash-attn --no-build-isolation (Ampere or newer), or pip install kernels (transformers then "
       "loads kernels-community/flash-attn2), or attn_implementation=\"sdpa\"",
       "transformers >=5.3 (approximate; verified 5.17.0) modeling_utils.py _flash_attn_import_error"},
      {"hf.fa3.not_installed", "the package for FlashAttention3 doesn't seem to be installed", Severity::Error,
       "FlashAttention3 has been toggled on, but it cannot be used due to the following error: the package for "
       "FlashAttention3 doesn't seem to be installed.",
       "attn_implementation=\"flash_attention_3\" was requested and neither the flash_attn_3 (hopper/) package nor "
       "the `kernels` package is installed",
       "build flash-attention's hopper/ package (Hopper only), or pip install kernels (transformers then loads "
       "kernels-community/vllm-flash-attn3), or use flash_attention_2 / sdpa",
       "transformers >=5.3 (approximate; verified 5.17.0) modeling_utils.py _flash_attn_import_error"},
      {"hf.fa2.too_old", "FlashAttention2 requires at least version `2.3.3`", Severity::Error,
       "... FlashAttention2 requires at least version `2.3.3`.",
       "flash_attn older than 2.3.3 is installed; transformers 5.x needs 2.3.3+",
       "pip install -U flash-attn --no-build-isolation",
       "transformers >=5.3 (approximate) modeling_utils.py _flash_attn_import_error"},
      {"hf.fa2.no_cuda", "FlashAttention2 is not available on CPU", Severity::Error,
       "... FlashAttention2 is not available on CPU. Please make sure you are on any of the supported devices: ...",
       "torch cannot see a supported device (CPU-only torch build, CUDA_VISIBLE_DEVICES empty, or driver missing)",
       "check torch.cuda.is_available() in that process; on CPU use sdpa or eager",
       "transformers >=5.3 (approximate) modeling_utils.py _flash_attn_import_error"},
      {"hf.fa3.arch", "FlashAttention3 requires compute capability >= 9", Severity::Error,
       "... FlashAttention3 requires compute capability >= 9, but found (X, Y) with compute capability X.x",
       "flash_attention_3 on a pre-Hopper GPU", "use flash_attention_2 (Ampere+) or sdpa",
       "transformers >=5.3 (approximate) modeling_utils.py _flash_attn_import_error"},
      {"hf.kernels.missing", "`kernels` is either not installed or uses an incompatible version", Severity::Error,
       "`kernels` is either not installed or uses an incompatible version. Please install a compatible version "
       "(...), e.g. `pip install kernels==...`",
       "attn_implementation matched transformers' hub-kernel pattern org/repo (any name with exactly one slash: a "
       "hub repo, or a relative path such as dir/file.py, which transformers never reads as a file), or GPT-OSS "
       "redirected flash_attention_2/3 (any name containing \"flash\", paths included) to "
       "kernels-community/vllm-flash-attn3; loading a hub kernel needs the `kernels` package in the version range "
       "this transformers pins, and it is missing or another version",
       "pip install the kernels version the message names and start a new Python process (a retry in the same "
       "process fails later with a KeyError); or attn_implementation=\"eager\" (GPT-OSS) / \"sdpa\"",
       "transformers >=5.3 (approximate; verified 5.17.0) integrations/hub_kernels.py load_and_register_attn_kernel"},
      {"hf.kernels.missing", "`kernels` is not installed. Please install it with", Severity::Error,
       "`kernels` is not installed. Please install it with `pip install kernels`.",
       "attn_implementation names a hub kernel org/repo (one slash) and the `kernels` package is missing",
       "pip install kernels, or use a registered name (eager, sdpa)",
       "transformers 4.5x integrations/hub_kernels.py (version range approximate)"},
      {"hf.attn.not_registered", "is not a valid attention implementation registered in the", Severity::Error,
       "KeyError: '`<name>` is not a valid attention implementation registered in the `AttentionInterface`'",
       "the name passed transformers' load-time check, but nothing is registered under it when the first forward "
       "looks it up: a hub kernel whose import failed earlier in the same Python process (transformers caches the "
       "name before importing, so the retry loads without error), or a name registered with "
       "AttentionInterface.register in another process only (each verl worker imports its own modules)",
       "install the `kernels` package and start a new process; register custom names in a module every worker "
       "imports (verl: external_lib); or use eager / sdpa",
       "transformers >=5.3 (approximate; verified 5.17.0) AttentionInterface.get_interface"},
      {"hf.paged.no_cache", "was called without a paged attention cache", Severity::Error,
       "`paged|...` was called without a paged attention cache. ... Use `...` for a standard forward.",
       "a paged| attention implementation is meant for continuous batching (generate with a paged cache / "
       "transformers serve); a plain forward has no paged cache",
       "use the name without \"paged|\" (eager, sdpa, ...) for training and plain forwards",
       "transformers >=5.3 (approximate; verified 5.17.0 for paged|eager)"},
      {"torch.inductor.no_choices", "NoValidChoicesError", Severity::Error,
       "InductorError: LoweringException: NoValidChoicesError: No choices to select. ... target: flex_attention ...",
       "torch.compile's Inductor found no kernel template for the flex_attention call (recorded for GPT-OSS with "
       "flex_attention, torch 2.11.0 and transformers 5.17.0 on H100: the model loads and the first forward fails)",
       "GPT-OSS: use attn_implementation=\"eager\" (or kernels-community/vllm-flash-attn3 on Hopper, bf16, "
       "inference); other models: report it with the shapes the message lists, use sdpa meanwhile",
       "torch._inductor (select_algorithm NoValidChoicesError)"},
      {"torch.flex.compile_flag_deprecated", "_compile flag on create_block_mask", Severity::Note,
       "DeprecationWarning: _compile flag on create_block_mask was originally added to work around a torch.compile "
       "limitation. ...",
       "transformers' flex_attention mask code passes create_block_mask(_compile=True), which this torch deprecates; "
       "harmless",
       "nothing (a transformers release that calls torch.compile(create_block_mask) silences it)",
       "torch.nn.attention.flex_attention create_block_mask (torch 2.11)"},
      {"torch.jit.script_method_deprecated", "`torch.jit.script_method` is deprecated", Severity::Note,
       "DeprecationWarning: `torch.jit.script_method` is deprecated. Please switch to `torch.compile` or "
       "`torch.export`.",
       "a library imported while compiling (flex_attention's first torch.compile) still uses TorchScript "
       "decorators; unrelated to attention results",
       "nothing", "torch.jit (torch 2.11)"},
      {"hf.fa2.too_old", "you need flash_attn package version to be greater or equal than", Severity::Error,
       "... you need flash_attn package version to be greater or equal than 2.1.0. Detected version {v}.",
       "flash_attn 1.x / 2.0.x is installed; transformers needs 2.1+ (bottom-right causal alignment)",
       "pip install -U flash-attn --no-build-isolation", "transformers >=4.36 _flash_attn_2_can_dispatch"},
      {"hf.fa2.no_cuda", "Flash Attention 2 is not available on CPU", Severity::Error,
       "... Flash Attention 2 is not available on CPU. Please make sure torch can access a CUDA device.",
       "torch cannot see a CUDA device (CPU-only torch build, CUDA_VISIBLE_DEVICES empty, or driver missing)",
       "check torch.cuda.is_available() in that process; on CPU use sdpa or eager",
       "transformers >=4.36 _flash_attn_2_can_dispatch"},
      {"hf.fa2.not_available", "Flash Attention 2 is not available.", Severity::Error,
       "FlashAttention2 has been toggled on, but it cannot be used due to the following error: Flash Attention 2 is "
       "not available.",
       "flash_attn is installed and new enough and CUDA is visible, but transformers' availability check failed "
       "(usually the package metadata and the importable module disagree)",
       "reinstall flash-attn for this torch, or use sdpa", "transformers >=4.36 _flash_attn_2_can_dispatch"},
      {"hf.fa2.dtype", "only supports torch.float16 and torch.bfloat16 dtypes", Severity::Warning,
       "Flash Attention 2 only supports torch.float16 and torch.bfloat16 dtypes, but the current dype in {cls} is "
       "torch.float32. ...",
       "the model was loaded in fp32 with flash_attention_2: only a warning at load; the kernel refuses fp32 at "
       "the first forward unless autocast or FSDP mixed precision (verl: param_dtype bf16 by default) casts it",
       "load with dtype=torch.bfloat16, or keep fp32 weights under FSDP mixed precision (verl's default)",
       "transformers >=4.36 _flash_attn_2_can_dispatch"},
      {"hf.fa2.cpu_init", "with a model not initialized on GPU", Severity::Warning,
       "You are attempting to use Flash Attention 2 with a model not initialized on GPU. ...",
       "the model was built on CPU with flash_attention_2 (normal under FSDP, which moves it later)",
       "nothing when the model reaches the GPU before the first forward; else model.to('cuda')",
       "transformers >=4.36 _flash_attn_2_can_dispatch"},
      {"hf.fa2.model_unsupported", "does not support Flash Attention 2.0 yet", Severity::Error,
       "{cls} does not support Flash Attention 2.0 yet. ...",
       "the model class does not declare _supports_flash_attn (remote code or an older architecture)",
       "use sdpa or eager, or a transformers release whose class supports it",
       "transformers >=4.36 _flash_attn_2_can_dispatch"},
      {"hf.sdpa.model_unsupported", "does not support an attention implementation through torch.nn.functional.scaled_dot_product_attention",
       Severity::Error,
       "{cls} does not support an attention implementation through torch.nn.functional.scaled_dot_product_attention "
       "yet. ...",
       "the model class declares _supports_sdpa = False (GPT-OSS: its sinks cannot be expressed in SDPA) and "
       "attn_implementation=\"sdpa\" was asked for explicitly",
       "use attn_implementation=\"eager\" (GPT-OSS on Hopper with bf16 for inference: "
       "kernels-community/vllm-flash-attn3)",
       "transformers modeling_utils.py _sdpa_can_dispatch"},
      {"hf.attn.unknown", "is not supported. The only possible arguments are", Severity::Error,
       "Specified `attn_implementation=\"...\"` is not supported. The only possible arguments are ...",
       "attn_implementation names neither a registered attention function nor a hub kernel org/repo[@rev][:func] "
       "(a filesystem path to a kernel file is never accepted)",
       "register the function with AttentionInterface.register(\"name\", fn) in a module every worker imports and "
       "pass that name, or name a hub kernel",
       "transformers modeling_utils.py get_correct_attn_implementation"},
      {"hf.fa3.arch", "Flash Attention 3 requires compute capability >= 9.0", Severity::Error,
       "... Flash Attention 3 requires compute capability >= 9.0 ...",
       "flash_attention_3 on a pre-Hopper GPU", "use flash_attention_2 (Ampere+) or sdpa",
       "transformers _flash_attn_3_can_dispatch"},
      {"hf.fa3.not_installed", "the package flash_attn_3 seems to be not installed", Severity::Error,
       "FlashAttention3 has been toggled on, but it cannot be used due to the following error: the package "
       "flash_attn_3 seems to be not installed.",
       "flash_attention_3 requested without the flash_attn_3 (hopper) package",
       "build flash-attention's hopper/ package, or `pip install kernels` (falls back to "
       "kernels-community/vllm-flash-attn3)",
       "transformers _flash_attn_3_can_dispatch"},
      {"hf.gptoss.fa_redirect", "This model is compatible with the following flash attention implementations",
       Severity::Warning,
       "This model is compatible with the following flash attention implementations: `[...]`. Automatically falling "
       "back to `kernels-community/vllm-flash-attn3` instead of `flash_attention_2`.",
       "GPT-OSS's sinks need a sink-capable kernel; transformers >= 5.3 swaps flash_attention_2/3 for "
       "kernels-community/vllm-flash-attn3 (Hopper only, bf16 only, <= 64 query heads, no sink backward)",
       "on Hopper with bf16 for inference nothing; elsewhere, and for training, use eager",
       "transformers >=5.3 _check_and_adjust_attn_implementation (PR #44177)"},
      {"hf.fa2.kernels_fallback", "from the `kernels` library instead", Severity::Warning,
       "You do not have `flash_attn` installed, using `kernels-community/...` from the `kernels` library instead!",
       "flash_attn is missing but the kernels package is installed: transformers loads a hub build of the kernel",
       "nothing, if the hub kernel supports the GPU; pin the revision for reproducibility",
       "transformers >=4.56 _check_and_adjust_attn_implementation"},
      {"sdpa.flash_not_used", "Flash attention kernel not used because", Severity::Warning,
       "Flash attention kernel not used because:",
       "PyTorch SDPA could not use its flash backend (reasons follow on the next lines); it tries memory-efficient, "
       "then math",
       "read the reasons; an attn_mask (padding, sliding window) alone disables flash in SDPA",
       "PyTorch aten/src/ATen/native/transformers/cuda/sdp_utils.cpp"},
      {"sdpa.efficient_not_used", "Memory efficient kernel not used because", Severity::Warning,
       "Memory efficient kernel not used because:",
       "PyTorch SDPA could not use its memory-efficient backend (on sm < 80 it takes fp16/fp32 only, not bf16)",
       "read the reasons; on a T4/V100 use fp16 so the memory-efficient kernel runs",
       "PyTorch sdp_utils.cpp"},
      {"sdpa.cudnn_not_used", "cuDNN attention kernel not used because", Severity::Note,
       "cuDNN attention kernel not used because:", "PyTorch SDPA skipped cuDNN attention (reasons follow)",
       "nothing unless you forced the cuDNN backend", "PyTorch sdp_utils.cpp"},
      {"sdpa.flash.arch", "Flash attention only supports gpu architectures in the range", Severity::Note,
       "Flash attention only supports gpu architectures in the range [sm80, sm121]. Attempting to run on a sm X.Y gpu.",
       "SDPA's flash backend needs sm80+; SDPA moves on to memory-efficient", "nothing", "PyTorch sdp_utils.cpp"},
      {"sdpa.flash.attn_mask", "Flash Attention does not support non-null attn_mask", Severity::Note,
       "Flash Attention does not support non-null attn_mask.",
       "an explicit mask (padding, sliding window, packed sequences) was passed, so SDPA cannot use flash",
       "nothing; without padding (or with flash_attention_2's varlen path) the mask disappears",
       "PyTorch sdp_utils.cpp"},
      {"sdpa.dtype", "Expected query, key and value to all be of dtype", Severity::Note,
       "Expected query, key and value to all be of dtype: {...}. Got ...",
       "the dtype is not one this SDPA backend takes (flash: fp16/bf16; memory-efficient below sm80: fp16/fp32)",
       "use fp16 on pre-Ampere GPUs, bf16/fp16 for the flash backend", "PyTorch sdp_utils.cpp"},
      {"sdpa.no_kernel", "No available kernel", Severity::Error, "RuntimeError: No available kernel. Aborting execution.",
       "every SDPA backend was disabled or refused the inputs (typically a forced backend, e.g. sdpa_kernel(FLASH) on "
       "an unsupported GPU/dtype)",
       "allow the math backend, or fix the dtype/GPU", "PyTorch sdp_utils.cpp"},
      {"oom", "CUDA out of memory", Severity::Error, "torch.OutOfMemoryError: CUDA out of memory. ...",
       "the allocation failed; with eager (or SDPA's math backend) attention holds B*H*N^2 scores per layer",
       "use a fused attention (sdpa memory-efficient/flash), smaller micro-batch, gradient checkpointing; "
       "attnscope diagnose prints the attention bytes at full context",
       "PyTorch CUDA caching allocator"},
      {"cuda.no_kernel_image", "no kernel image is available for execution on the device", Severity::Error,
       "CUDA error: no kernel image is available for execution on the device",
       "a CUDA extension (flash_attn, vLLM, a Triton cache) was compiled without this GPU's architecture; CUDA 13 no "
       "longer builds for sm70 (V100) at all",
       "install a build that targets this GPU (TORCH_CUDA_ARCH_LIST), or a CUDA 12 toolchain for V100",
       "CUDA runtime"},
      {"fa.missing_module", "No module named 'flash_attn", Severity::Error, "ModuleNotFoundError: No module named 'flash_attn'",
       "code imports flash_attn directly (older verl's use_remove_padding path imports flash_attn.bert_padding) and "
       "the package is missing",
       "install flash-attn, or set use_remove_padding=False, or upgrade verl (verl.utils.attention_utils)",
       "verl dp_actor.py / user code"},
      {"verl.rmpad_models", "RMPad supported architectures", Severity::Error,
       "Model architecture {m} is not supported for now. RMPad supported architectures: ...",
       "this verl's use_remove_padding has a fixed list of model types", "set use_remove_padding=False or upgrade verl",
       "verl/models/registry.py check_model_support_rmpad"},
      {"verl.hydra_missing_key", "To append to your config use +", Severity::Error,
       "Could not override '...'. To append to your config use +...",
       "a Hydra override without '+' named a key that is not in the config (override_config.attn_implementation is "
       "not in verl's YAML, so it needs the '+')",
       "prefix the override with '+': +actor_rollout_ref.model.override_config.attn_implementation=sdpa",
       "Hydra override parser"},
      {"vllm.fa2_turing", "Cannot use FlashAttention-2 backend for Volta and Turing GPUs", Severity::Note,
       "Cannot use FlashAttention-2 backend for Volta and Turing GPUs.",
       "vLLM's rollout on a pre-Ampere GPU: it picks another backend (XFormers) by itself", "nothing",
       "vllm/attention/selector.py (V0)"},
      {"vllm.bf16_arch", "Bfloat16 is only supported on GPUs with compute capability", Severity::Error,
       "Bfloat16 is only supported on GPUs with compute capability of at least 8.0. ...",
       "the rollout engine was asked for bf16 on a pre-Ampere GPU", "actor_rollout_ref.rollout.dtype=float16",
       "vllm/platforms/cuda.py"},
      {"vllm.sinks_fa3", "Sinks are only supported in FlashAttention 3", Severity::Error,
       "AssertionError: Sinks are only supported in FlashAttention 3",
       "GPT-OSS in vLLM 0.10.x: its sinks need vLLM's FA3 (Hopper) backend", "use a Hopper GPU or a vLLM with "
       "TRITON_ATTN sink support (VLLM_ATTENTION_BACKEND=TRITON_ATTN)",
       "vllm issue #22331"},
      {"vllm.backend", " backend", Severity::Note, "Using <BACKEND> attention backend ...",
       "the rollout engine's own attention choice (HF attn_implementation does not reach it)", "nothing",
       "vLLM/SGLang logs"},
      {"hf.fa.upcast", "seems to be silently casted in float32", Severity::Warning,
       "The input hidden states seems to be silently casted in float32, this might be related to the fact you have "
       "upcasted embedding or layer norm layers in float32. We will cast back the input in {dtype}.",
       "fp32 activations reached flash attention (fp32 layer norms / embeddings); transformers casts q/k/v down",
       "nothing; it is expected with fp32 norms", "transformers modeling_flash_attention_utils.py"},
  };
  return p;
}

std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t\r\n");
  if (a == std::string::npos) return "";
  size_t b = s.find_last_not_of(" \t\r\n");
  std::string t = s.substr(a, b - a + 1);
  if (t.size() > 400) t = t.substr(0, 397) + "...";
  return t;
}

}  // namespace

std::vector<LogFinding> scan_log_text(const std::string& text) {
  std::vector<LogFinding> out;
  std::istringstream in(text);
  std::string line;
  int n = 0;
  static const std::regex attn_re(R"(attn_implementation=\\?\"([^\"\\]*)\\?\")");
  while (std::getline(in, line)) {
    ++n;
    for (const auto& p : patterns()) {
      if (line.find(p.needle) == std::string::npos) continue;
      std::string code = p.code;
      // vLLM backend lines must say which engine; keep only lines that name one.
      if (code == "vllm.backend" && (line.find("Using ") == std::string::npos ||
                                     line.find("Traceback") != std::string::npos))
        continue;
      // "undefined symbol" only matters for attention binaries.
      if (code == "fa.undefined_symbol" && line.find("flash_attn") == std::string::npos &&
          line.find("vllm") == std::string::npos && line.find("_C.") == std::string::npos)
        continue;
      // "Flash Attention 2 is not available." also prefixes the CPU message: keep the more precise one.
      if (code == "hf.fa2.not_available" && line.find("not available on CPU") != std::string::npos) continue;
      LogFinding f;
      f.line = n;
      f.excerpt = trim(line);
      f.code = code;
      f.severity = p.severity;
      f.message = p.message;
      f.cause = p.cause;
      f.fix = p.fix;
      f.source = p.source;
      if (code == "hf.attn.not_registered" && line.find("kernels-community/vllm-flash-attn3") != std::string::npos) {
        f.cause = "GPT-OSS: transformers redirected flash_attention_2/3 (or any name containing \"flash\", file paths "
                  "included) to kernels-community/vllm-flash-attn3, and the `kernels` package that loads it is "
                  "missing; the first attempt in the process raised the `kernels` ImportError at load, a retry in "
                  "the same process loads and ends here";
        f.fix = "pip install kernels (the version range the ImportError names) and start a new process, for "
                "inference on Hopper in bf16; otherwise, and for training, attn_implementation=\"eager\"";
      }
      if (code == "hf.attn.unknown") {
        std::smatch m;
        if (std::regex_search(line, m, attn_re)) {
          std::string v = m[1];
          bool path = !v.empty() && (v[0] == '/' || v[0] == '.' || v[0] == '~' ||
                                     (v.size() > 3 && v.compare(v.size() - 3, 3, ".py") == 0));
          if (path)
            f.cause = "attn_implementation was set to a filesystem path (\"" + v +
                      "\"): transformers accepts only registered names and hub kernels org/repo[@rev][:func]";
        }
      }
      out.push_back(std::move(f));
      break;  // one explanation per line
    }
  }
  return out;
}

std::string load_log_file(const std::string& path, std::vector<LogFinding>* out, int* lines_read) {
  std::string text;  // training logs run long: 1 GiB
  if (std::string e = read_text_file(path, "--log", int64_t{1} << 30, &text); !e.empty()) return e;
  size_t probe = std::min<size_t>(text.size(), 4096);
  size_t zeros = 0;
  for (size_t i = 0; i < probe; ++i) zeros += text[i] == '\0';
  if (zeros > 0) return path + ": not a text log (binary data: NUL bytes in the first 4 KiB)";
  *out = scan_log_text(text);
  if (lines_read) {
    int n = 0;
    for (char c : text) n += c == '\n';
    if (!text.empty() && text.back() != '\n') ++n;
    *lines_read = n;
  }
  return "";
}

}  // namespace attnscope
