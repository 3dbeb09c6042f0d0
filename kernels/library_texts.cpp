// The catalogue of library texts (kernels/library_texts.h). Every text was checked against the source
// named in `where` (search of the public repositories, or the release's own wheel); ranges say which
// releases carry it. Order matters for logs: a line is explained by the first entry whose pattern it
// holds, so catch-alls come last.
#include "kernels/library_texts.h"

#include <algorithm>
#include <cctype>
#include <cstring>

namespace attnscope {

const char* const kTextItself = "<the text itself>";

namespace {

// transformers' FA2 messages share a preface and an install hint (modeling_utils.py, 4.36-5.2).
constexpr const char* kPreface =
    "FlashAttention2 has been toggled on, but it cannot be used due to the following error:";
constexpr const char* kInstall =
    "Please refer to the documentation of https://huggingface.co/docs/transformers/perf_infer_gpu_one#flashattention-2 "
    "to install Flash Attention 2.";

std::string cat(std::initializer_list<const char*> parts) {
  std::string s;
  for (const char* p : parts) s += p;
  return s;
}

// Texts assembled once (string literals with the shared preface).
const std::string& t_not_installed() {
  static const std::string s = cat({kPreface, " the package flash_attn seems to be not installed. ", kInstall});
  return s;
}
const std::string& t_too_old() {
  static const std::string s = cat({kPreface,
                                    " you need flash_attn package version to be greater or equal than 2.1.0. "
                                    "Detected version {version}. ",
                                    kInstall});
  return s;
}
const std::string& t_no_cuda() {
  static const std::string s = cat({kPreface,
                                    " Flash Attention 2 is not available on CPU. Please make sure torch can access "
                                    "a CUDA device."});
  return s;
}
const std::string& t_not_available() {
  static const std::string s = cat({kPreface, " Flash Attention 2 is not available. ", kInstall});
  return s;
}

// _sdpa_can_dispatch's refusal; GPT-OSS (_supports_sdpa = False) meets the same text.
constexpr const char* kSdpaRefused =
    "{cls} does not support an attention implementation through "
    "torch.nn.functional.scaled_dot_product_attention yet. Please request the support for this "
    "architecture: https://github.com/huggingface/transformers/issues/28005. If you believe this error is a "
    "bug, please open an issue in Transformers GitHub repository and load your model with the argument "
    "`attn_implementation=\"eager\"` meanwhile. Example: `model = "
    "AutoModel.from_pretrained(\"openai/whisper-tiny\", attn_implementation=\"eager\")`";

constexpr const char* kFa2Api = "csrc/flash_attn/flash_api.cpp";
constexpr const char* kSdpUtils = "aten/src/ATen/native/transformers/cuda/sdp_utils.cpp";
constexpr const char* kHfDispatch = "modeling_utils.py PreTrainedModel._flash_attn_2_can_dispatch";
// transformers 5.x: one _flash_attn_import_error for FA 2/3/4 (FLASH_ATTENTION_COMPATIBILITY_MATRIX). The texts
// below were recorded verbatim on 5.17.0 (tests/fixtures/device_h100/ground_truth.json) or read in its source;
// the first release with them is not pinned: ">=5.3" is the era of the GPT-OSS redirect, approximate.
constexpr const char* kHfImportError5 =
    "modeling_utils.py PreTrainedModel._flash_attn_import_error; verified on 5.17.0, first release approximate";
constexpr const char* kHfCorrect5 =
    "modeling_utils.py get_correct_attn_implementation (FA 2/3/4 listed); verified on 5.17.0, first release approximate";
constexpr const char* kHfCorrect = "modeling_utils.py get_correct_attn_implementation";
constexpr const char* kHfAdjustApprox =
    "modeling_utils.py _check_and_adjust_attn_implementation; version range approximate";
constexpr const char* kHfDispatch3Approx =
    "modeling_utils.py PreTrainedModel._flash_attn_3_can_dispatch; version range approximate";

std::vector<LibraryText> build_table() {
  std::vector<LibraryText> t = {
      // ---- flash-attn (csrc/flash_attn/flash_api.cpp; the kernel refuses at the first forward) -------------
      {.code = "fa2.arch", .library = "flash-attn", .since = "2.0", .until = "3.0", .severity = Severity::Error,
       .text = "FlashAttention only supports Ampere GPUs or newer.",
       .where = kFa2Api,
       .log = {.pattern = kTextItself,
               .cause = "the flash_attn kernel ran on a GPU older than sm80 (V100 sm70, T4 sm75, RTX 20xx): "
                        "FlashAttention-2 has no kernels for it. transformers does not check the compute capability, "
                        "so the model loaded and the first forward failed",
               .fix = "use attn_implementation=\"sdpa\" (verl: "
                      "+actor_rollout_ref.model.override_config.attn_implementation=sdpa and "
                      "+critic.model.override_config.attn_implementation=sdpa)",
               .source = "flash-attn 2.x csrc/flash_attn/flash_api.cpp"}},
      {.code = "fa2.dtype", .library = "flash-attn", .since = "2.0", .until = "3.0", .severity = Severity::Error,
       .text = "FlashAttention only support fp16 and bf16 data type",
       .where = kFa2Api,
       .log = {.pattern = kTextItself,
               .cause = "q/k/v reached flash_attn in fp32: the model was loaded in fp32 with no autocast or FSDP mixed "
                        "precision casting it",
               .fix = "load with dtype=torch.bfloat16 (or float16), or run under autocast / FSDP mixed precision",
               .source = "flash-attn 2.x csrc/flash_attn/flash_api.cpp"}},
      {.code = "fa2.head_dim", .library = "flash-attn", .since = "2.0", .until = "3.0", .severity = Severity::Error,
       .text = "FlashAttention forward only supports head dimension at most 256",
       .where = kFa2Api,
       .log = {.pattern = kTextItself,
               .cause = "the model's head_dim is above 256, which FlashAttention-2 has no kernel for",
               .fix = "use sdpa or eager",
               .source = "flash-attn 2.x csrc/flash_attn/flash_api.cpp"}},
      {.code = "fa2.head_dim8", .library = "flash-attn", .since = "2.0", .until = "3.0", .severity = Severity::Error,
       .text = "query, key, value, and out_ must have a head_size that is a multiple of 8",
       .where = kFa2Api,
       .log = {.pattern = "must have a head_size that is a multiple of 8",
               .cause = "the C++ kernel was called directly with an odd head dim (flash_attn's Python wrapper pads to "
                        "a multiple of 8)",
               .fix = "call flash_attn_func (which pads) or pad the head dim",
               .source = "flash-attn 2.x csrc/flash_attn/flash_api.cpp"}},
      {.code = "fa2.gqa", .library = "flash-attn", .since = "2.0", .until = "3.0", .severity = Severity::Error,
       .text = "Number of heads in key/value must divide number of heads in query",
       .where = kFa2Api,
       .log = {.pattern = kTextItself,
               .cause = "num_key_value_heads does not divide num_attention_heads (a config or tensor-parallel split is "
                        "wrong)",
               .fix = "check num_key_value_heads and the tensor-parallel size",
               .source = "flash-attn 2.x csrc/flash_attn/flash_api.cpp"}},
      // Training through a registered attention function: its backward, and the mask it is given.
      {.code = "torch.autograd.no_backward", .library = "torch", .since = "2.0", .until = "",
       .severity = Severity::Error,
       .text = "NotImplementedError: You must implement either the backward or vjp method for your custom "
               "autograd.Function to use it with backward mode AD.",
       .where = "torch/autograd/function.py (Function.backward / vjp not overridden; raised at the first backward)",
       .log = {.pattern = "You must implement either the backward or vjp method",
               .cause = "a custom torch.autograd.Function in the attention path defines only forward (typically a "
                        "Triton forward kernel registered with AttentionInterface.register): inference runs, the "
                        "first loss.backward() fails",
               .fix = "train with an attention that has a backward (flash_attention_2, sdpa, eager), or give the "
                      "Function a backward (attnscope run --backward judges its gradients)",
               .source = "torch autograd"}},
      {.code = "hf.custom.no_backward", .library = "transformers", .since = "4.48", .until = "",
       .severity = Severity::Error,
       .text = "\"{name}\" (registered with AttentionInterface.register, from {module}) has no backward ({error}): the "
               "forward runs; a role that trains fails at its first loss.backward()",
       .where = "transformers AttentionInterface (modeling_utils.py); probed by attnscope-env.py --import"},
      {.code = "hf.custom.detached", .library = "transformers", .since = "4.48", .until = "",
       .severity = Severity::Error,
       .text = "\"{name}\" (from {module}) returns an output that does not depend on q, k, v through autograd "
               "({error}): training runs without an error, but no gradient flows through attention, so the q/k/v "
               "projections stop learning from it",
       .where = "transformers AttentionInterface (modeling_utils.py); probed by attnscope-env.py --import"},
      {.code = "hf.custom.no_mask", .library = "transformers", .since = "4.53", .until = "",
       .severity = Severity::Silent,
       .text = "\"{name}\" is registered without a mask function: transformers builds no mask for it and passes "
               "attention_mask=None for every batch, so a padded batch is attended as if it had no padding (a "
               "left-padded Llama batch on transformers 5.17: last-token logits off by 0.48 against the sequence run "
               "alone; sdpa and eager 0.004). Fix: AttentionMaskInterface.register(\"{name}\", sdpa_mask)",
       .where = "transformers masking_utils.py _preprocess_mask_arguments (\"custom attention without equivalent "
                "mask creation: we don't need a mask!\"); first release approximate"},
      // Packed sequences (cu_seqlens): who takes them, and what the others do with them.
      {.code = "fa2.varlen_packed", .library = "flash-attn", .since = "2.0", .until = "", .severity = Severity::Note,
       .text = "runs the {n} packed sequences as flash_attn_varlen_func(cu_seqlens_q = cu_seqlens_k, max_seqlen "
               "{max}): each attends only within itself, causal and window_size per sequence, its KV tiles counted "
               "from its own first key",
       .where = "flash_attn/flash_attn_interface.py flash_attn_varlen_func; transformers' flash path turns packed "
                "position_ids into cu_seqlens (modeling_flash_attention_utils.py)"},
      {.code = "hf.packed.no_varlen", .library = "transformers", .since = "4.54", .until = "",
       .severity = Severity::Note,
       .text = "{impl} has no cu_seqlens input: without remove-padding it gets the {n} sequences as a padded batch "
               "[{n}, {max}] with a padding mask; with packed position_ids and attention_mask=None transformers "
               "builds a block-diagonal mask from them instead ({total}^2 scores a head, not the sum of len^2). Either "
               "gives every token the same result; attnscope runs it as the padded batch",
       .where = "transformers masking_utils.py find_packed_sequence_indices (PR #39194, merged 2025-07-03, after "
                "4.53.0)"},
      {.code = "hf.packed.cross", .library = "transformers", .since = "", .until = "4.54",
       .severity = Severity::Silent,
       .text = "{impl} given packed sequences in this transformers (no packed-sequence mask for sdpa/eager) treats the "
               "row as one causal sequence: every token attends to the sequences packed before it, without an error "
               "(--what-if runs it so)",
       .where = "transformers before PR #39194 (masking_utils without find_packed_sequence_indices)"},
      {.code = "hf.packed.mask_given", .library = "transformers", .since = "4.54", .until = "",
       .severity = Severity::Silent,
       .text = "{impl}: a 2D attention_mask passed beside packed position_ids turns transformers' packed-sequence "
               "detection off (it runs only when attention_mask is None): every token attends to the sequences packed "
               "before it, without an error (--what-if runs it so)",
       .where = "transformers masking_utils.py _preprocess_mask_arguments (`attention_mask is None` guard; PR #46634 "
                "proposes to lift it)"},
      {.code = "fa.undefined_symbol", .library = "flash-attn", .since = "", .until = "", .severity = Severity::Error,
       .text = "flash_attn_2_cuda was built against another torch/CUDA than the one installed ({error}): reinstall a "
               "flash-attn wheel built for torch {torch} / CUDA {cuda}, or build it from source against it",
       .where = "flash-attn wheels are ABI-bound to one torch minor version and C++ ABI flag",
       .log = {.pattern = "undefined symbol",
               .quote = "ImportError: ...flash_attn_2_cuda...so: undefined symbol: ...",
               .cause = "the flash_attn binary was built against another torch / CUDA / C++ ABI than the one installed "
                        "(a wheel for another torch minor, or torch upgraded after flash-attn was built)",
               .fix = "reinstall a flash-attn wheel built for the installed torch (matching torch minor, CUDA major "
                      "and cxx11abi flag), or `pip install flash-attn --no-build-isolation` to build it against this "
                      "torch; or skip it with attn_implementation=\"sdpa\"",
               .source = "flash-attn wheels (ABI-bound to one torch build)"}},
      {.code = "fa.import_error", .library = "flash-attn", .since = "", .until = "", .severity = Severity::Error,
       .text = "import flash_attn fails: {error}",
       .where = "flash_attn/__init__.py (import of flash_attn_2_cuda)"},
      {.code = "fa.no_sinks", .library = "flash-attn", .since = "2.0", .until = "", .severity = Severity::Silent,
       .text = "flash_attn_func/flash_attn_varlen_func take no sink argument",
       .where = "flash_attn/flash_attn_interface.py"},
      {.code = "fa.missing_module", .library = "flash-attn", .since = "", .until = "", .severity = Severity::Error,
       .text = "ModuleNotFoundError: No module named 'flash_attn'",
       .where = "verl dp_actor.py / user code",
       .log = {.pattern = "No module named 'flash_attn",
               .cause = "code imports flash_attn directly (older verl's use_remove_padding path imports "
                        "flash_attn.bert_padding) and the package is missing",
               .fix = "install flash-attn, or set use_remove_padding=False, or upgrade verl "
                      "(verl.utils.attention_utils)"}},

      // ---- PyTorch SDPA (aten/src/ATen/native/transformers/cuda/sdp_utils.cpp) and torch -------------------
      {.code = "sdpa.flash_not_used", .library = "torch", .since = "", .until = "", .severity = Severity::Warning,
       .text = "Flash attention kernel not used because:",
       .where = "PyTorch aten/src/ATen/native/transformers/cuda/sdp_utils.cpp",
       .log = {.pattern = kTextItself,
               .cause = "PyTorch SDPA could not use its flash backend (reasons follow on the next lines); it tries "
                        "memory-efficient, then math",
               .fix = "read the reasons; an attn_mask (padding, sliding window) alone disables flash in SDPA"}},
      {.code = "sdpa.efficient_not_used", .library = "torch", .since = "", .until = "", .severity = Severity::Warning,
       .text = "Memory efficient kernel not used because:",
       .where = "PyTorch sdp_utils.cpp",
       .log = {.pattern = kTextItself,
               .cause = "PyTorch SDPA could not use its memory-efficient backend (on sm < 80 it takes fp16/fp32 only, "
                        "not bf16)",
               .fix = "read the reasons; on a T4/V100 use fp16 so the memory-efficient kernel runs"}},
      {.code = "sdpa.cudnn_not_used", .library = "torch", .since = "", .until = "", .severity = Severity::Note,
       .text = "cuDNN attention kernel not used because:",
       .where = "PyTorch sdp_utils.cpp",
       .log = {.pattern = kTextItself,
               .cause = "PyTorch SDPA skipped cuDNN attention (reasons follow)",
               .fix = "nothing unless you forced the cuDNN backend"}},
      {.code = "sdpa.flash.arch", .library = "torch", .since = "2.0", .until = "", .severity = Severity::Note,
       .text = "Flash attention only supports gpu architectures in the range [sm80, sm121]. Attempting to run on a sm "
               "{major}.{minor} gpu.",
       .where = kSdpUtils,
       .log = {.pattern = "Flash attention only supports gpu architectures in the range",
               .quote = "Flash attention only supports gpu architectures in the range [sm80, sm121]. Attempting to run "
                        "on a sm X.Y gpu.",
               .cause = "SDPA's flash backend needs sm80+; SDPA moves on to memory-efficient",
               .fix = "nothing",
               .source = "PyTorch sdp_utils.cpp"}},
      {.code = "sdpa.flash.attn_mask", .library = "torch", .since = "2.0", .until = "", .severity = Severity::Note,
       .text = "Flash Attention does not support non-null attn_mask.",
       .where = kSdpUtils,
       .log = {.pattern = kTextItself,
               .cause = "an explicit mask (padding, sliding window, packed sequences) was passed, so SDPA cannot use "
                        "flash",
               .fix = "nothing; without padding (or with flash_attention_2's varlen path) the mask disappears",
               .source = "PyTorch sdp_utils.cpp"}},
      {.code = "sdpa.flash.head_dim", .library = "torch", .since = "2.0", .until = "", .severity = Severity::Note,
       .text = "Flash attention requires q,k,v to have the same last dimension and to be less than or equal to 256. "
               "Got Query.size(-1): {dq}, Key.size(-1): {dk}, Value.size(-1): {dv} instead.",
       .where = kSdpUtils},
      {.code = "sdpa.flash.causal_nonsquare", .library = "torch", .since = "2.0", .until = "",
       .severity = Severity::Note,
       .text = "Flash attention does not support the is_causal flag when seqlen_q != seqlen_k. Got seqlen_q: {nq} "
               "seqlen_k: {nk}. If you would like to use causal attention with non-square masks, please see "
               "CausalAttnMask.",
       .where = kSdpUtils},
      {.code = "sdpa.efficient.arch", .library = "torch", .since = "2.0", .until = "", .severity = Severity::Note,
       .text = "Mem Efficient Attention only supports gpu architectures in the range [sm50, sm121]. Attempting to run "
               "on a sm {major}.{minor} gpu.",
       .where = kSdpUtils},
      // torch 2.11's memory-efficient kernel takes no enable_gqa (check_batch_size_and_num_heads_dense
      // <supports_gqa=false>); replayed against torch 2.11 on an H200 (tests/fixtures/sdpa_dispatch_h200.json).
      {.code = "sdpa.efficient.gqa", .library = "torch", .since = "2.5", .until = "", .severity = Severity::Note,
       .text = "For dense input, both fused kernels require query, key and value to have the same num_heads. "
               "Query.sizes(): {q_sizes}, Key sizes(): {k_sizes}, Value sizes(): {v_sizes} instead. To broadcast "
               "dense inputs, try using unsqueeze and expand_to before passing them into the kernel.",
       .where = "aten/src/ATen/native/transformers/sdp_utils_cpp.h check_batch_size_and_num_heads_dense"},
      // cuDNN attention (can_use_cudnn_attention), torch 2.11 with its cuDNN 9.19: replayed on an H200.
      {.code = "sdpa.cudnn.arch", .library = "torch", .since = "2.5", .until = "", .severity = Severity::Note,
       .text = "cuDNN MHA only supports gpu architectures in the range [sm80, sm121]. Attempting to run on a sm "
               "{major}.{minor} gpu.",
       .where = kSdpUtils},
      {.code = "sdpa.cudnn.batch_heads", .library = "torch", .since = "2.5", .until = "", .severity = Severity::Note,
       .text = "cuDNN SDPA does not support batch size or num_heads greater than 65535. Got batch size: {b}, "
               "num_heads: {h}",
       .where = kSdpUtils},
      {.code = "sdpa.cudnn.head_dim", .library = "torch", .since = "2.5", .until = "", .severity = Severity::Note,
       .text = "head_dim should be no more than {limit}",
       .where = kSdpUtils},
      {.code = "sdpa.cudnn.head_dim_multiple", .library = "torch", .since = "2.5", .until = "",
       .severity = Severity::Note,
       .text = "head_dim should be a multiple of 8",
       .where = kSdpUtils},
      // TORCH_WARN_ONCE: printed the first time in a process only.
      {.code = "sdpa.cudnn.seq_k_1", .library = "torch", .since = "2.9", .until = "", .severity = Severity::Note,
       .text = "cudnn SDPA does not support key/value sequence length 1.",
       .where = kSdpUtils},
      {.code = "sdpa.efficient.alignment", .library = "torch", .since = "2.0", .until = "", .severity = Severity::Note,
       .text = "Mem efficient attention requires last dimension of inputs to be divisible by {align}. Got "
               "Query.size(-1): {dq}, Key.size(-1): {dk}, Value.size(-1): {dv} instead.",
       .where = kSdpUtils},
      // Flash: {Half, BFloat16}; memory-efficient below sm80: {Half, Float} (less_than_sm80_mem_efficient_dtypes).
      {.code = "sdpa.dtype", .library = "torch", .since = "2.0", .until = "", .severity = Severity::Note,
       .text = "Expected query, key and value to all be of dtype: {allowed}. Got Query dtype: {dtype}, Key dtype: "
               "{dtype}, and Value dtype: {dtype} instead.",
       .where = kSdpUtils,
       .log = {.pattern = "Expected query, key and value to all be of dtype",
               .quote = "Expected query, key and value to all be of dtype: {...}. Got ...",
               .cause = "the dtype is not one this SDPA backend takes (flash: fp16/bf16; memory-efficient below sm80: "
                        "fp16/fp32)",
               .fix = "use fp16 on pre-Ampere GPUs, bf16/fp16 for the flash backend",
               .source = "PyTorch sdp_utils.cpp"}},
      // attnscope's words for the math fallback, said by the kernel rules and by transformers' sdpa rows.
      {.code = "sdpa.math", .library = "attnscope", .since = "", .until = "", .severity = Severity::Warning,
       .text = "falls back to the math backend: S and P are materialised as in eager",
       .where = "sdp_utils.cpp's priority order: flash, memory-efficient, math"},
      {.code = "sdpa.no_kernel", .library = "torch", .since = "", .until = "", .severity = Severity::Error,
       .text = "RuntimeError: No available kernel. Aborting execution.",
       .where = "PyTorch sdp_utils.cpp",
       .log = {.pattern = "No available kernel",
               .cause = "every SDPA backend was disabled or refused the inputs (typically a forced backend, e.g. "
                        "sdpa_kernel(FLASH) on an unsupported GPU/dtype)",
               .fix = "allow the math backend, or fix the dtype/GPU"}},
      {.code = "torch.inductor.no_choices", .library = "torch", .since = "", .until = "", .severity = Severity::Error,
       .text = "InductorError: LoweringException: NoValidChoicesError: No choices to select. ... target: "
               "flex_attention ...",
       .where = "torch._inductor (select_algorithm NoValidChoicesError)",
       .log = {.pattern = "NoValidChoicesError",
               .cause = "torch.compile's Inductor found no kernel template for the flex_attention call (recorded for "
                        "GPT-OSS with flex_attention, torch 2.11.0 and transformers 5.17.0 on H100: the model loads "
                        "and the first forward fails)",
               .fix = "GPT-OSS: use attn_implementation=\"eager\" (or kernels-community/vllm-flash-attn3 on Hopper, "
                      "bf16, inference); other models: report it with "
                      "the shapes the message lists, use sdpa meanwhile"}},
      {.code = "torch.flex.compile_flag_deprecated", .library = "torch", .since = "", .until = "",
       .severity = Severity::Note,
       .text = "DeprecationWarning: _compile flag on create_block_mask was originally added to work around a "
               "torch.compile limitation. ...",
       .where = "torch.nn.attention.flex_attention create_block_mask (torch 2.11)",
       .log = {.pattern = "_compile flag on create_block_mask",
               .cause = "transformers' flex_attention mask code passes create_block_mask(_compile=True), which this "
                        "torch deprecates; harmless",
               .fix = "nothing (a transformers release that calls torch.compile(create_block_mask) silences it)"}},
      {.code = "torch.jit.script_method_deprecated", .library = "torch", .since = "", .until = "",
       .severity = Severity::Note,
       .text = "DeprecationWarning: `torch.jit.script_method` is deprecated. Please switch to `torch.compile` or "
               "`torch.export`.",
       .where = "torch.jit (torch 2.11)",
       .log = {.pattern = "`torch.jit.script_method` is deprecated",
               .cause = "a library imported while compiling (flex_attention's first torch.compile) still uses "
                        "TorchScript decorators; unrelated to attention results",
               .fix = "nothing"}},
      {.code = "oom", .library = "torch", .since = "", .until = "", .severity = Severity::Error,
       .text = "torch.OutOfMemoryError: CUDA out of memory. ...",
       .where = "PyTorch CUDA caching allocator",
       .log = {.pattern = "CUDA out of memory",
               .cause = "the allocation failed; with eager (or SDPA's math backend) attention holds B*H*N^2 scores per "
                        "layer",
               .fix = "use a fused attention (sdpa memory-efficient/flash), smaller micro-batch, gradient "
                      "checkpointing; attnscope diagnose prints the attention bytes at full context"}},
      {.code = "cuda.no_kernel_image", .library = "torch", .since = "", .until = "", .severity = Severity::Error,
       .text = "CUDA error: no kernel image is available for execution on the device",
       .where = "CUDA runtime",
       .log = {.pattern = "no kernel image is available for execution on the device",
               .cause = "a CUDA extension (flash_attn, vLLM, a Triton cache) was compiled without this GPU's "
                        "architecture; CUDA 13 no longer builds for sm70 (V100) at all",
               .fix = "install a build that targets this GPU (TORCH_CUDA_ARCH_LIST), or a CUDA 12 toolchain for V100"}},

      // ---- transformers ------------------------------------------------------------------------------------
      // The config comes first: a model type the release does not know stops everything (read in 4.51.3's
      // models/auto/configuration_auto.py; GPT-OSS arrived in 4.55).
      {.code = "hf.model.unknown_type", .library = "transformers", .since = "4.36", .until = "",
       .severity = Severity::Error,
       .text = "The checkpoint you are trying to load has model type `{model_type}` but Transformers does not recognize "
               "this architecture. This could be because of an issue with the checkpoint, or because your version of "
               "Transformers is out of date.\n\nYou can update Transformers with the command `pip install --upgrade "
               "transformers`. If this does not work, and the checkpoint is very new, then there may not be a "
               "release version that supports this model yet. In this case, you can get the most up-to-date code by "
               "installing Transformers from source with the command `pip install "
               "git+https://github.com/huggingface/transformers.git`",
       .where = "models/auto/configuration_auto.py AutoConfig.from_pretrained (a ValueError; read in 4.51.3)",
       .log = {.pattern = "but Transformers does not recognize this architecture",
               .quote = "The checkpoint you are trying to load has model type `...` but Transformers does not "
                        "recognize this architecture. ...",
               .cause = "this transformers release predates the model (GPT-OSS needs 4.55 or newer): the config "
                        "cannot even be read, whatever attn_implementation says",
               .fix = "pip install -U transformers (a release that has the model type), in every worker's "
                      "environment"}},
      {.code = "hf.model.unknown_identifier", .library = "transformers", .since = "4.36", .until = "",
       .severity = Severity::Error,
       .text = "Unrecognized model identifier: {model_type}. Should contain one of {model_types}",
       .where = "models/auto/configuration_auto.py AutoConfig.for_model (a ValueError; read in 4.51.3)",
       .log = {.pattern = "Unrecognized model identifier:",
               .quote = "Unrecognized model identifier: ... Should contain one of ...",
               .cause = "AutoConfig.for_model (a config built in code) named a model type this transformers "
                        "release does not have (GPT-OSS needs 4.55 or newer)",
               .fix = "pip install -U transformers (a release that has the model type)"}},

      // _flash_attn_2_can_dispatch, in the order it checks
      {.code = "hf.fa2.model_unsupported", .library = "transformers", .since = "4.36", .until = "",
       .severity = Severity::Error,
       .text = "{cls} does not support Flash Attention 2.0 yet. Please request to add support where the model is "
               "hosted, on its model hub page: https://huggingface.co/{path}/discussions/new or in the Transformers "
               "GitHub repo: https://github.com/huggingface/transformers/issues/new",
       .where = kHfDispatch,
       .log = {.pattern = "does not support Flash Attention 2.0 yet",
               .quote = "{cls} does not support Flash Attention 2.0 yet. ...",
               .cause = "the model class does not declare _supports_flash_attn (remote code or an older architecture)",
               .fix = "use sdpa or eager, or a transformers release whose class supports it",
               .source = "transformers >=4.36 _flash_attn_2_can_dispatch"}},
      {.code = "hf.fa2.not_installed", .library = "transformers", .since = "4.36", .until = "5.3",
       .severity = Severity::Error,
       .text = nullptr,
       .where = kHfDispatch,
       .log = {.pattern = "the package flash_attn seems to be not installed",
               .quote = "FlashAttention2 has been toggled on, but it cannot be used due to the following error: the "
                        "package flash_attn seems to be not installed.",
               .cause = "attn_implementation=\"flash_attention_2\" was requested explicitly (verl does so by default) "
                        "and flash_attn is not installed in this Python environment",
               .fix = "pip install flash-attn --no-build-isolation (Ampere or newer), or `pip install kernels` "
                      "(transformers >= 4.56 then loads kernels-communi"
                      "ty/flash-attn2), or attn_implementation=\"sdpa\"",
               .source = "transformers >=4.36 modeling_utils.py _flash_attn_2_can_dispatch"}},
      {.code = "hf.fa2.not_installed", .library = "transformers", .since = "5.3", .until = "",
       .severity = Severity::Error,
       .text = "FlashAttention2 has been toggled on, but it cannot be used due to the following error: the package for "
               "FlashAttention2 doesn't seem to be installed.",
       .where = kHfImportError5,
       .log = {.pattern = "the package for FlashAttention2 doesn't seem to be installed",
               .cause = "attn_implementation=\"flash_attention_2\" was requested explicitly (verl does so by default) "
                        "and flash_attn is not installed in this Python environment (nor the `kernels` package, which "
                        "transformers would use instead)",
               .fix = "pip install flash-attn --no-build-isolation (Ampere or newer), or pip install kernels "
                      "(transformers then loads kernels-community/flash-attn2), or attn_implementation=\"sdpa\"",
               .source = "transformers >=5.3 (approximate; verified 5.17"
                         ".0) modeling_utils.py _flash_attn_import_error"}},
      {.code = "hf.fa2.too_old", .library = "transformers", .since = "4.36", .until = "5.3",
       .severity = Severity::Error,
       .text = nullptr,
       .where = kHfDispatch,
       .log = {.pattern = "you need flash_attn package version to be greater or equal than",
               .quote = "... you need flash_attn package version to be greater or equal than 2.1.0. Detected version "
                        "{v}.",
               .cause = "flash_attn 1.x / 2.0.x is installed; transformers needs 2.1+ (bottom-right causal alignment)",
               .fix = "pip install -U flash-attn --no-build-isolation",
               .source = "transformers >=4.36 _flash_attn_2_can_dispatch"}},
      {.code = "hf.fa2.too_old", .library = "transformers", .since = "5.3", .until = "", .severity = Severity::Error,
       .text = "FlashAttention2 has been toggled on, but it cannot be used due to the following error: FlashAttention2 "
               "requires at least version `2.3.3`.",
       .where = kHfImportError5,
       .log = {.pattern = "FlashAttention2 requires at least version `2.3.3`",
               .quote = "... FlashAttention2 requires at least version `2.3.3`.",
               .cause = "flash_attn older than 2.3.3 is installed; transformers 5.x needs 2.3.3+",
               .fix = "pip install -U flash-attn --no-build-isolation",
               .source = "transformers >=5.3 (approximate) modeling_utils.py _flash_attn_import_error"}},
      {.code = "hf.fa2.no_cuda", .library = "transformers", .since = "4.36", .until = "5.3",
       .severity = Severity::Error,
       .text = nullptr,
       .where = kHfDispatch,
       .log = {.pattern = "Flash Attention 2 is not available on CPU",
               .quote = "... Flash Attention 2 is not available on CPU. Please make sure torch can access a CUDA "
                        "device.",
               .cause = "torch cannot see a CUDA device (CPU-only torch build, CUDA_VISIBLE_DEVICES empty, or driver "
                        "missing)",
               .fix = "check torch.cuda.is_available() in that process; on CPU use sdpa or eager",
               .source = "transformers >=4.36 _flash_attn_2_can_dispatch"}},
      {.code = "hf.fa2.no_cuda", .library = "transformers", .since = "5.3", .until = "", .severity = Severity::Error,
       .text = "FlashAttention2 has been toggled on, but it cannot be used due to the following error: FlashAttention2 "
               "is not available on CPU. Please make sure you are on any of the supported devices: (...).",
       .where = "modeling_utils.py PreTrainedModel._flash_attn_import_error (the tuple of device names elided); first "
                "release approximate",
       .log = {.pattern = "FlashAttention2 is not available on CPU",
               .quote = "... FlashAttention2 is not available on CPU. Please make sure you are on any of the supported "
                        "devices: ...",
               .cause = "torch cannot see a supported device (CPU-only torch build, CUDA_VISIBLE_DEVICES empty, or "
                        "driver missing)",
               .fix = "check torch.cuda.is_available() in that process; on CPU use sdpa or eager",
               .source = "transformers >=5.3 (approximate) modeling_utils.py _flash_attn_import_error"}},
      {.code = "hf.fa2.not_available", .library = "transformers", .since = "4.36", .until = "5.3",
       .severity = Severity::Error,
       .text = nullptr,
       .where = kHfDispatch,
       .log = {.pattern = "Flash Attention 2 is not available.",
               .quote = "FlashAttention2 has been toggled on, but it cannot be used due to the following error: Flash "
                        "Attention 2 is not available.",
               .cause = "flash_attn is installed and new enough and CUDA is visible, but transformers' availability "
                        "check failed (usually the package metadata and the importable module disagree)",
               .fix = "reinstall flash-attn for this torch, or use sdpa",
               .source = "transformers >=4.36 _flash_attn_2_can_dispatch"}},
      {.code = "hf.fa2.dtype", .library = "transformers", .since = "4.36", .until = "4.56",
       .severity = Severity::Warning,
       .text = "Flash Attention 2.0 only supports torch.float16 and torch.bfloat16 dtypes, but the current dype in "
               "{cls} is {dtype}. You should run training or inference using Automatic Mixed-Precision via the `with "
               "torch.autocast(device_type='torch_device'):` decorator, or load the model with the `torch_dtype` "
               "argument. Example: `model = AutoModel.from_pretrained(\"openai/whisper-tiny\", "
               "attn_implementation=\"flash_attention_2\", torch_dtype=torch.float16)`",
       .where = "modeling_utils.py _check_and_enable_flash_attn_2 / _flash_attn_2_can_dispatch (text seen in verl "
                "logs; the boundary is approximate: the `dtype` argument replaced `torch_dtype` in 4.56)"},
      {.code = "hf.fa2.dtype", .library = "transformers", .since = "4.56", .until = "5.3",
       .severity = Severity::Warning,
       .text = "Flash Attention 2 only supports torch.float16 and torch.bfloat16 dtypes, but the current dype in {cls} "
               "is {dtype}. You should run training or inference using Automatic Mixed-Precision via the `with "
               "torch.autocast(device_type='torch_device'):` decorator, or load the model with the `dtype` argument. "
               "Example: `model = AutoModel.from_pretrained(\"openai/whisper-tiny\", "
               "attn_implementation=\"flash_attention_2\", dtype=torch.float16)`",
       .where = "modeling_utils.py PreTrainedModel._flash_attn_2_can_dispatch; the end of this range is approximate",
       .log = {.pattern = "only supports torch.float16 and torch.bfloat16 dtypes",
               .quote = "Flash Attention 2 only supports torch.float16 and torch.bfloat16 dtypes, but the current dype "
                        "in {cls} is torch.float32. ...",
               .cause = "the model was loaded in fp32 with flash_attention_2: only a warning at load; the kernel "
                        "refuses fp32 at the first forward unless autocast or FSDP mixed precision (verl: param_dtype "
                        "bf16 by default) casts it",
               .fix = "load with dtype=torch.bfloat16, or keep fp32 wei"
                      "ghts under FSDP mixed precision (verl's default)",
               .source = "transformers >=4.36 _flash_attn_2_can_dispatch"}},
      {.code = "hf.fa2.dtype", .library = "transformers", .since = "5.3", .until = "", .severity = Severity::Warning,
       .text = "Flash Attention 2 only supports torch.float16 and torch.bfloat16 dtypes, but the current dype in {cls} "
               "is {dtype}. You should run training or inference using Automatic Mixed-Precision via the `with "
               "torch.autocast(device_type='torch_device'):` decorator, or load the model with the `dtype` argument. "
               "Example: `model = AutoModel.from_pretrained(\"meta-llama/Llama-3.2-1B\", "
               "attn_implementation=\"flash_attention_2\", dtype=torch.float16)`",
       .where = "modeling_utils.py PreTrainedModel._flash_attn_can_dispatch (logger.warning_once); first release "
                "approximate"},
      {.code = "hf.fa2.cpu_init", .library = "transformers", .since = "4.36", .until = "",
       .severity = Severity::Warning,
       .text = "You are attempting to use Flash Attention 2 with a model not initialized on GPU. Make sure to move the "
               "model to GPU after initializing it on CPU with `model.to('cuda')`.",
       .where = kHfDispatch,
       .log = {.pattern = "with a model not initialized on GPU",
               .quote = "You are attempting to use Flash Attention 2 with a model not initialized on GPU. ...",
               .cause = "the model was built on CPU with flash_attention_2 (normal under FSDP, which moves it later)",
               .fix = "nothing when the model reaches the GPU before the first forward; else model.to('cuda')",
               .source = "transformers >=4.36 _flash_attn_2_can_dispatch"}},
      {.code = "hf.fa2.no_gpu_at_all", .library = "transformers", .since = "4.36", .until = "",
       .severity = Severity::Error,
       .text = "You are attempting to use Flash Attention 2 with a model not initialized on GPU and with no GPU "
               "available. This is not supported yet. Please make sure to have access to a GPU and either initialise "
               "the model on a GPU by passing a device_map or initialising the model on CPU and then moving it to GPU.",
       .where = kHfDispatch},
      {.code = "hf.fa2.no_compute_capability_check", .library = "transformers", .since = "4.36", .until = "",
       .severity = Severity::Note,
       .text = "transformers does not check the compute capability for flash_attention_2: the model loads, and the "
               "flash_attn kernel refuses at the first forward",
       .where = kHfDispatch},
      {.code = "hf.fa2.kernels_fallback", .library = "transformers", .since = "4.56", .until = "",
       .severity = Severity::Warning,
       .text = "You do not have `flash_attn` installed, using `{kernel}` from the `kernels` library instead!",
       .where = kHfAdjustApprox,
       .log = {.pattern = "from the `kernels` library instead",
               .quote = "You do not have `flash_attn` installed, using `kernels-community/...` from the `kernels` "
                        "library instead!",
               .cause = "flash_attn is missing but the kernels package is installed: transformers loads a hub build of "
                        "the kernel",
               .fix = "nothing, if the hub kernel supports the GPU; pin the revision for reproducibility",
               .source = "transformers >=4.56 _check_and_adjust_attn_implementation"}},

      // flash_attention_3
      {.code = "hf.fa3.not_installed", .library = "transformers", .since = "4.54", .until = "5.3",
       .severity = Severity::Error,
       .text = "FlashAttention3 has been toggled on, but it cannot be used due to the following error: the package "
               "flash_attn_3 seems to be not installed.",
       .where = kHfDispatch3Approx,
       .log = {.pattern = "the package flash_attn_3 seems to be not installed",
               .cause = "flash_attention_3 requested without the flash_attn_3 (hopper) package",
               .fix = "build flash-attention's hopper/ package, or `pip install kernels` (falls back to "
                      "kernels-community/vllm-flash-attn3)",
               .source = "transformers _flash_attn_3_can_dispatch"}},
      {.code = "hf.fa3.not_installed", .library = "transformers", .since = "5.3", .until = "",
       .severity = Severity::Error,
       .text = "FlashAttention3 has been toggled on, but it cannot be used due to the following error: the package for "
               "FlashAttention3 doesn't seem to be installed.",
       .where = kHfImportError5,
       .log = {.pattern = "the package for FlashAttention3 doesn't seem to be installed",
               .cause = "attn_implementation=\"flash_attention_3\" was requested and neither the flash_attn_3 "
                        "(hopper/) package nor the `kernels` package is installed",
               .fix = "build flash-attention's hopper/ package (Hopper only), or pip install kernels (transformers "
                      "then loads kernels-community/vllm-flash-attn3), or use flash_attention_2 / sdpa",
               .source = "transformers >=5.3 (approximate; verified 5.17"
                         ".0) modeling_utils.py _flash_attn_import_error"}},
      // (sic) transformers prints the major followed by ".0": "found (7, 5) with compute capability 7.0."
      {.code = "hf.fa3.arch", .library = "transformers", .since = "4.54", .until = "5.3", .severity = Severity::Error,
       .text = "FlashAttention3 has been toggled on, but it cannot be used due to the following error: Flash Attention "
               "3 requires compute capability >= 9.0, but found ({major}, {minor}) with compute capability {major}.0.",
       .where = "modeling_utils.py PreTrainedModel._flash_attn_3_can_dispatch, a ValueError; \"{major}.0\" is "
                "transformers' own f-string (f\"... {major}.0.\"), not the minor; version range approximate",
       .log = {.pattern = "Flash Attention 3 requires compute capability >= 9.0",
               .quote = "... Flash Attention 3 requires compute capability >= 9.0 ...",
               .cause = "flash_attention_3 on a pre-Hopper GPU",
               .fix = "use flash_attention_2 (Ampere+) or sdpa",
               .source = "transformers _flash_attn_3_can_dispatch"}},
      {.code = "hf.fa3.arch", .library = "transformers", .since = "5.3", .until = "", .severity = Severity::Error,
       .text = "FlashAttention3 has been toggled on, but it cannot be used due to the following error: FlashAttention3 "
               "requires compute capability >= 9, but found ({major}, {minor}) with compute capability {major}.x",
       .where = "modeling_utils.py PreTrainedModel._flash_attn_import_error (cuda_min_major_version), an ImportError; "
                "first release approximate",
       .log = {.pattern = "FlashAttention3 requires compute capability >= 9",
               .quote = "... FlashAttention3 requires compute capability >= 9, but found (X, Y) with compute "
                        "capability X.x",
               .cause = "flash_attention_3 on a pre-Hopper GPU",
               .fix = "use flash_attention_2 (Ampere+) or sdpa",
               .source = "transformers >=5.3 (approximate) modeling_utils.py _flash_attn_import_error"}},
      {.code = "hf.fa3.dtype", .library = "transformers", .since = "4.54", .until = "5.3",
       .severity = Severity::Warning,
       .text = "Flash Attention 3 only supports torch.float16 and torch.bfloat16 dtypes, but the current dype in {cls} "
               "is {dtype}. ...",
       .where = kHfDispatch3Approx},
      {.code = "hf.fa3.dtype", .library = "transformers", .since = "5.3", .until = "", .severity = Severity::Warning,
       .text = "Flash Attention 3 only supports torch.float16 and torch.bfloat16 dtypes, but the current dype in {cls} "
               "is {dtype}. You should run training or inference using Automatic Mixed-Precision via the `with "
               "torch.autocast(device_type='torch_device'):` decorator, or load the model with the `dtype` argument. "
               "Example: `model = AutoModel.from_pretrained(\"meta-llama/Llama-3.2-1B\", "
               "attn_implementation=\"flash_attention_3\", dtype=torch.float16)`",
       .where = "modeling_utils.py PreTrainedModel._flash_attn_can_dispatch (logger.warning_once); first release "
                "approximate"},
      {.code = "hf.fa3.dropout", .library = "transformers", .since = "4.54", .until = "5.3",
       .severity = Severity::Error,
       .text = "Model has attention_dropout={dropout}, which is not supported by Flash Attention 3.",
       .where = kHfDispatch3Approx},
      {.code = "hf.fa3.dropout", .library = "transformers", .since = "5.3", .until = "", .severity = Severity::Warning,
       .text = "You are attempting to use Flash Attention 3 with dropout. This might lead to unexpected behaviour as "
               "this is not supported on recent versions of Flash Attention.",
       .where = "modeling_utils.py PreTrainedModel._flash_attn_can_dispatch (logger.warning_once); first release "
                "approximate"},

      // sdpa, names
      {.code = "hf.sdpa.model_unsupported", .library = "transformers", .since = "4.36", .until = "",
       .severity = Severity::Error,
       .text = kSdpaRefused,
       .where = "modeling_utils.py PreTrainedModel._sdpa_can_dispatch",
       .log = {.pattern = "does not support an attention implementation through "
                          "torch.nn.functional.scaled_dot_product_attention",
               .quote = "{cls} does not support an attention implementation through "
                        "torch.nn.functional.scaled_dot_product_attention yet. ...",
               .cause = "the model class declares _supports_sdpa = False (GPT-OSS: its sinks cannot be expressed in "
                        "SDPA) and attn_implementation=\"sdpa\" was asked for explicitly",
               .fix = "use attn_implementation=\"eager\" (GPT-OSS on Hopper with bf16 for inference: "
                      "kernels-community/vllm-flash-attn3)",
               .source = "transformers modeling_utils.py _sdpa_can_dispatch"}},
      {.code = "hf.sdpa.repeat_kv", .library = "transformers", .since = "4.48", .until = "", .severity = Severity::Note,
       .text = "an attention mask is passed ({why}), so use_gqa_in_sdpa is False: transformers expands K/V to all "
               "{heads} query heads with repeat_kv ({bytes} more per layer) and SDPA sees plain multi-head attention",
       .where = "integrations/sdpa_attention.py use_gqa_in_sdpa / repeat_kv (first release approximate)"},
      {.code = "hf.sdpa.enable_gqa", .library = "transformers", .since = "4.48", .until = "",
       .severity = Severity::Note,
       .text = "no attention mask and torch >= 2.5: transformers passes enable_gqa=True, so PyTorch's GQA rules apply "
               "(its memory-efficient kernel takes no GQA)",
       .where = "integrations/sdpa_attention.py use_gqa_in_sdpa (first release approximate)"},
      {.code = "hf.sdpa.softcap_dropped", .library = "transformers", .since = "4.42", .until = "",
       .severity = Severity::Silent,
       .text = "sdpa_attention_forward has no softcap: the logit softcap ({softcap}) is dropped without an error and "
               "the scores are not capped (eager and flash_attention_2 >= flash-attn 2.6 apply it)",
       .where = "integrations/sdpa_attention.py (softcap arrives in **kwargs, unused); version range approximate"},
      {.code = "hf.gemma2.train_eager", .library = "transformers", .since = "4.42", .until = "",
       .severity = Severity::Warning,
       .text = "It is strongly recommended to train Gemma2 models with the `eager` attention implementation instead of "
               "`{name}`. Use `eager` with `AutoModelForCausalLM.from_pretrained('<path-to-checkpoint>', "
               "attn_implementation='eager')`.",
       .where = "models/gemma2/modeling_gemma2.py Gemma2ForCausalLM.forward (training only)"},
      {.code = "hf.sdpa.default_falls_back", .library = "transformers", .since = "4.36", .until = "",
       .severity = Severity::Silent,
       .text = "no attn_implementation given: transformers tries sdpa and, when the model class refuses it, silently "
               "uses eager (only an explicit attn_implementation=\"sdpa\" raises)",
       .where = kHfCorrect},
      {.code = "hf.attn.unknown", .library = "transformers", .since = "4.36", .until = "4.54",
       .severity = Severity::Error,
       .text = "Specified `attn_implementation=\"{name}\"` is not supported. The only possible arguments are "
               "`attn_implementation=\"eager\"` (manual attention implementation){accepted_old}.",
       .where = "modeling_utils.py _check_and_enable_* / _autoset_attn_implementation (boundary with the next text "
                "approximate)"},
      {.code = "hf.attn.unknown", .library = "transformers", .since = "4.54", .until = "5.3",
       .severity = Severity::Error,
       .text = "Specified `attn_implementation=\"{name}\"` is not supported. The only possible arguments are "
               "`attn_implementation=\"eager\"`{accepted}.",
       .where = "modeling_utils.py get_correct_attn_implementation; the end of this range is approximate"},
      {.code = "hf.attn.unknown", .library = "transformers", .since = "5.3", .until = "", .severity = Severity::Error,
       .text = "Specified `attn_implementation=\"{name}\"` is not supported. The only possible arguments are "
               "`attn_implementation=\"eager\"`, `\"paged|eager\"`{accepted5}.",
       .where = kHfCorrect5,
       .log = {.pattern = "is not supported. The only possible arguments are",
               .quote = "Specified `attn_implementation=\"...\"` is not supported. The only possible arguments are ...",
               .cause = "attn_implementation names neither a registered attention function nor a hub kernel "
                        "org/repo[@rev][:func] (a filesystem path to a kernel file is never accepted)",
               .fix = "register the function with AttentionInterface.register(\"name\", fn) in a module every worker "
                      "imports and pass that name, or name a hub kernel",
               .source = "transformers modeling_utils.py get_correct_attn_implementation"}},
      {.code = "hf.attn.not_registered", .library = "transformers", .since = "5.3", .until = "",
       .severity = Severity::Error,
       .text = "`{name}` is not a valid attention implementation registered in the `AttentionInterface`",
       .where = "modeling_utils.py AttentionInterface.get_interface, a KeyError at the first forward (Python prints it "
                "quoted); verified on 5.17.0, first release approximate",
       .log = {.pattern = "is not a valid attention implementation registered in the",
               .quote = "KeyError: '`<name>` is not a valid attention implementation registered in the "
                        "`AttentionInterface`'",
               .cause = "the name passed transformers' load-time check, but nothing is registered under it when the "
                        "first forward looks it up: a hub kernel whose import failed earlier in the same Python "
                        "process (transformers caches the name before importing, so the retry loads without error), or "
                        "a name registered with AttentionInterface.register in another process only (each verl worker "
                        "imports its own modules)",
               .fix = "install the `kernels` package and start a new process; register custom names in a module every "
                      "worker imports (verl: external_lib); or use eager / sdpa",
               .source = "transformers >=5.3 (approximate; verified 5.17.0) AttentionInterface.get_interface"}},
      {.code = "hf.kernels.missing", .library = "transformers", .since = "4.54", .until = "5.3",
       .severity = Severity::Error,
       .text = "`kernels` is not installed. Please install it with `pip install kernels`.",
       .where = "integrations/hub_kernels.py load_and_register_kernel; version range approximate",
       .log = {.pattern = "`kernels` is not installed. Please install it with",
               .cause = "attn_implementation names a hub kernel org/repo (one slash) and the `kernels` package is "
                        "missing",
               .fix = "pip install kernels, or use a registered name (eager, sdpa)",
               .source = "transformers 4.5x integrations/hub_kernels.py (version range approximate)"}},
      {.code = "hf.kernels.missing", .library = "transformers", .since = "5.3", .until = "",
       .severity = Severity::Error,
       .text = "`kernels` is either not installed or uses an incompatible version. Please install a compatible version "
               "({kernels_range}), e.g. `pip install kernels=={kernels_min}`",
       .where = "integrations/hub_kernels.py _MISSING_KERNELS_MESSAGE, raised by load_and_register_attn_kernel (the "
                "kernels range is 0.16.0 <= version < 0.17.0 in 5.17.0; other releases pin others); first release "
                "approximate",
       .log = {.pattern = "`kernels` is either not installed or uses an incompatible version",
               .quote = "`kernels` is either not installed or uses an incompatible version. Please install a "
                        "compatible version (...), e.g. `pip install kernels==...`",
               .cause = "attn_implementation matched transformers' hub-kernel pattern org/repo (any name with exactly "
                        "one slash: a hub repo, or a relative path such as dir/file.py, which transformers never reads "
                        "as a file), or GPT-OSS redirected flash_attention_2/3 (any name containing \"flash\", paths "
                        "included) to kernels-community/vllm-flash-attn3; loading a hub kernel needs the `kernels` "
                        "package in the version range this transformers pins, and it is missing or another version",
               .fix = "pip install the kernels version the message names and start a new Python process (a retry in "
                      "the same process fails later with a KeyError); or attn_implementation=\"eager\" (GPT-OSS) / "
                      "\"sdpa\"",
               .source = "transformers >=5.3 (approximate; verified 5.17.0) integrations/hub_kernels.py "
                         "load_and_register_attn_kernel"}},
      {.code = "hf.paged.no_cache", .library = "transformers", .since = "5.3", .until = "", .severity = Severity::Error,
       .text = "`{name}` was called without a paged attention cache. This implementation expects the packed inputs and "
               "the 4D mask that continuous batching prepares; on a standard forward it would attend bidirectionally. "
               "Use `{base}` for a standard forward.",
       .where = "a ValueError at the first forward of a paged| implementation without continuous batching; verified "
                "for paged|eager on 5.17.0, first release approximate",
       .log = {.pattern = "was called without a paged attention cache",
               .quote = "`paged|...` was called without a paged attention cache. ... Use `...` for a standard forward.",
               .cause = "a paged| attention implementation is meant for continuous batching (generate with a paged "
                        "cache / transformers serve); a plain forward has no paged cache",
               .fix = "use the name without \"paged|\" (eager, sdpa, ...) for training and plain forwards",
               .source = "transformers >=5.3 (approximate; verified 5.17.0 for paged|eager)"}},
      {.code = "hf.attn.hub_kernel", .library = "transformers", .since = "4.54", .until = "",
       .severity = Severity::Note,
       .text = "\"{name}\" matches the hub kernel pattern org/repo[@rev][:func]: transformers loads it with the "
               "`kernels` package (pip install kernels) and registers it under that name",
       .where = "modeling_utils.py _check_and_adjust_attn_implementation / is_kernel (first release approximate: the "
                "GPT-OSS launch in 4.55 used it)"},
      {.code = "hf.attn.hub_kernel_needs_kernels", .library = "transformers", .since = "4.54", .until = "",
       .severity = Severity::Error,
       .text = "\"{name}\" is a hub kernel name, but the `kernels` package is not installed: transformers cannot load "
               "it (pip install kernels)",
       .where = "modeling_utils.py _check_and_adjust_attn_implementation (first release approximate)"},

      // flex_attention (_check_and_enable_flex_attn in 4.4x-4.5x, _flex_attn_can_dispatch later)
      {.code = "hf.flex.model_unsupported", .library = "transformers", .since = "4.48", .until = "",
       .severity = Severity::Error,
       .text = "{cls} does not support an attention implementation through torch's flex_attention.",
       .where = "modeling_utils.py _flex_attn_can_dispatch; the message goes on with a link and an example (read in "
                "4.51.3's _check_and_enable_flex_attn)"},
      {.code = "hf.flex.torch", .library = "transformers", .since = "4.48", .until = "", .severity = Severity::Error,
       .text = "PyTorch Flex Attention requirements in Transformers are not met. Please install torch>=2.5.0.",
       .where = "modeling_utils.py _flex_attn_can_dispatch (an ImportError; read in 4.51.3)"},
      // GPT-OSS and its sinks, three eras
      {.code = "hf.gptoss.fa_sinks_dropped", .library = "transformers", .since = "4.55", .until = "5.0",
       .severity = Severity::Silent,
       .text = "GPT-OSS passes its learned sinks as s_aux; the flash path forwards s_aux only to kernels whose "
               "signature accepts it. Plain flash_attn's flash_attn_func/varlen_func have no such argument, so the "
               "sinks are dropped without a word and every row sums to 1 (garbage generations reported in transformers "
               "issue #42533)",
       .where = "modeling_flash_attention_utils.py (s_aux forwarded only when supported); "
                "models/gpt_oss/modeling_gpt_oss.py; version range approximate"},
      {.code = "hf.gptoss.fa_refused", .library = "transformers", .since = "5.0", .until = "5.3",
       .severity = Severity::Error,
       .text = "GPT-OSS refuses flash_attention_2/flash_attention_3 at load: its attention sinks are not implemented "
               "by flash_attn (transformers PR #42736; use kernels-community/vllm-flash-attn3 or eager)",
       .where = "transformers PR #42736 (merged 2025-12), models/gpt_oss; version range approximate"},
      {.code = "hf.gptoss.fa_redirect", .library = "transformers", .since = "5.3", .until = "5.17",
       .severity = Severity::Warning,
       .text = "This model is compatible with the following flash attention implementations: "
               "`['kernels-community/vllm-flash-attn3']`. Automatic"
               "ally falling back to `{target}` instead of `{name}`.",
       .where = "modeling_utils.py _check_and_adjust_attn_implementation (_compatible_flash_implementations, PR "
                "#44177, 2026-02); version range approximate"},
      {.code = "hf.gptoss.fa_redirect", .library = "transformers", .since = "5.17", .until = "",
       .severity = Severity::Warning,
       .text = "This model is compatible with the following flash attention implementations: "
               "`['kernels-community/vllm-flash-attn3', 'flash_attention_4', 'kernels-community/metal-flash-sdpa']`. "
               "Automatically falling back to `{target}` instead of `{name}`.",
       .where = "modeling_utils.py _check_and_adjust_attn_implementation (logger.warning_once: once per process and "
                "text); applies to every name containing \"flash\" that is not in the list, file paths included; "
                "verified on 5.17.0, the first release with this list approximate",
       .log = {.pattern = "This model is compatible with the following flash attention implementations",
               .quote = "This model is compatible with the following flash attention implementations: `[...]`. "
                        "Automatically falling back to `kernels-community/vllm-flash-attn3` instead of "
                        "`flash_attention_2`.",
               .cause = "GPT-OSS's sinks need a sink-capable kernel; transformers >= 5.3 swaps flash_attention_2/3 for "
                        "kernels-community/vllm-flash-attn3 (Hopper only, bf16 only, <= 64 query heads, no sink "
                        "backward)",
               .fix = "on Hopper with bf16 for inference nothing; elsewhere, and for training, use eager",
               .source = "transformers >=5.3 _check_and_adjust_attn_implementation (PR #44177)"}},
      {.code = "hf.gptoss.flex_inductor", .library = "transformers", .since = "5.17", .until = "",
       .severity = Severity::Error,
       .text = "LoweringException: NoValidChoicesError: No choices to select. Provided reason: No choices exist for "
               "backend. please consider adding ATEN into max_autotune_gemm_backends config (defined in "
               "torch/_inductor/config.py) to allow at least one choice.",
       .where = "torch._inductor InductorError at the first forward of GPT-OSS with flex_attention (target: "
                "flex_attention); recorded on H100 with torch 2.11.0 and transformers 5.17.0 (attnscope ground truth "
                "2026-11-25), the rest of the message lists tensor shapes; not tested on other versions, cause not "
                "pinned"},
      {.code = "hf.gptoss.no_sdpa", .library = "transformers", .since = "4.55", .until = "",
       .severity = Severity::Error,
       .text = kSdpaRefused,
       .where = "models/gpt_oss/modeling_gpt_oss.py: GptOssPreTrainedModel._supports_sdpa = False"},
      {.code = "hf.gptoss.eager", .library = "transformers", .since = "4.55", .until = "", .severity = Severity::Note,
       .text = "GPT-OSS eager concatenates the sink logit as an extra score column, subtracts the row max, softmaxes "
               "in the model dtype and drops the column: rows sum to less than 1, as trained",
       .where = "models/gpt_oss/modeling_gpt_oss.py eager_attention_forward"},

      // ---- hub kernels -------------------------------------------------------------------------------------
      {.code = "hub.vllm_fa3.arch", .library = "hub-kernel", .since = "", .until = "", .severity = Severity::Error,
       .text = "kernels-community/vllm-flash-attn3 is built for Hopper only (sm90); this GPU is sm{sm}",
       .where = "huggingface.co/kernels-community/vllm-flash-attn3; HF GPT-OSS blog (tested on Hopper)"},
      {.code = "hub.vllm_fa3.dtype", .library = "hub-kernel", .since = "", .until = "", .severity = Severity::Error,
       .text = "kernels-community/vllm-flash-attn3 runs bf16 only; the layer is {dtype}",
       .where = "huggingface.co/kernels-community/vllm-flash-attn3"},
      {.code = "hub.vllm_fa3.heads", .library = "hub-kernel", .since = "", .until = "", .severity = Severity::Error,
       .text = "kernels-community/vllm-flash-attn3 supports at most 64 query heads; the layer has {heads}",
       .where = "huggingface.co/kernels-community/vllm-flash-attn3"},
      {.code = "hub.vllm_fa3.sinks", .library = "hub-kernel", .since = "", .until = "", .severity = Severity::Note,
       .text = "sink-capable: the learned sinks reach the kernel (s_aux) and are honoured in the forward pass",
       .where = "vllm-project/flash-attention PR #75 (FA3 attention sink)"},
      {.code = "hub.vllm_fa3.no_sink_backward", .library = "hub-kernel", .since = "", .until = "",
       .severity = Severity::Warning,
       .text = "training: the backward pass of kernels-community/vllm-flash-attn3 does not support attention sinks "
               "(forward only); train GPT-OSS with eager or a sink-aware backward",
       .where = "nvidia-cosmos/cosmos-rl issue #219 (2025-08) citing the kernel's hub discussion #3"},
      {.code = "hub.needs_kernels", .library = "hub-kernel", .since = "", .until = "", .severity = Severity::Error,
       .text = "hub kernels need the `kernels` package (pip install kernels); it is not installed",
       .where = "kernels"},

      // ---- verl --------------------------------------------------------------------------------------------
      {.code = "verl.default_fa2", .library = "verl", .since = "0.4", .until = "", .severity = Severity::Note,
       .text = "verl's FSDP workers call from_pretrained with attn_implementation = "
               "override_config.get(\"attn_implementation\", \"flash_attention_2\"): without an override every role "
               "asks for flash_attention_2 explicitly, so transformers raises instead of falling back to sdpa",
       .where = "verl/workers/fsdp_workers.py (ActorRolloutRefWorker._build_model_optimizer, CriticWorker); version "
                "range approximate"},
      {.code = "verl.critic_no_inherit", .library = "verl", .since = "0.4", .until = "", .severity = Severity::Warning,
       .text = "the critic reads only critic.model.override_config: the actor's override does not reach it, so it "
               "still asks for flash_attention_2",
       .where = "verl/workers/fsdp_workers.py CriticWorker._build_critic_model_optimizer; version range approximate"},
      {.code = "verl.reward_hardcoded", .library = "verl", .since = "0.3", .until = "", .severity = Severity::Warning,
       .text = "verl's RewardModelWorker loads the reward model with attn_implementation=\"flash_attention_2\" "
               "hard-coded (and bf16): no config key changes it",
       .where = "verl/workers/fsdp_workers.py RewardModelWorker._build_model; version range approximate"},
      {.code = "verl.mixed_precision", .library = "verl", .since = "0.3", .until = "", .severity = Severity::Note,
       .text = "FSDP MixedPrecision(param_dtype={param}) casts the parameters to {param} for compute: attention runs "
               "in {param} whatever dtype the weights were loaded in ({load})",
       .where = "verl/workers/fsdp_workers.py (mixed_precision.get(\"param_dtype\", \"bf16\")); version range "
                "approximate"},
      {.code = "verl.rollout_own_backend", .library = "verl", .since = "0.3", .until = "", .severity = Severity::Note,
       .text = "the rollout engine ({engine}) picks its own attention backend (vLLM: VLLM_ATTENTION_BACKEND / "
               "attention_backend); override_config.attn_implementation does not reach it",
       .where = "verl/workers/rollout (vLLM/SGLang engines load the model themselves); version range approximate"},
      {.code = "verl.rmpad", .library = "verl", .since = "0.3", .until = "", .severity = Severity::Note,
       .text = "use_remove_padding packs the batch into one row of concatenated sequences (unpad_input) and passes "
               "position_ids, no attention mask: flash_attention_2 turns the position_ids into cu_seqlens (varlen "
               "kernel); sdpa and eager need transformers' packed-sequence mask from position_ids (masking_utils, "
               "transformers >= 4.53), which materialises a block-diagonal mask",
       .where = "verl/workers/actor/dp_actor.py _forward_micro_batch; transformers "
                "masking_utils.find_packed_sequence_indices; version range approximate"},
      {.code = "verl.rmpad_sdpa_cross", .library = "transformers", .since = "", .until = "4.53",
       .severity = Severity::Silent,
       .text = "use_remove_padding with {impl}: this transformers has no packed-sequence mask for sdpa/eager, so the "
               "packed row is one causal sequence and every response attends to the prompts and responses packed "
               "before it (flash_attention_2 alone splits them by position_ids)",
       .where = "transformers <4.53 (no masking_utils); verl dp_actor passes attention_mask=None with packed "
                "position_ids; version range approximate"},
      {.code = "verl.rmpad_sdpa_mask", .library = "transformers", .since = "4.53", .until = "",
       .severity = Severity::Note,
       .text = "use_remove_padding with {impl}: transformers rebuilds the sequence boundaries from position_ids "
               "(find_packed_sequence_indices) and materialises a block-diagonal mask of total_tokens^2 elements per "
               "layer call; correct, but it defeats the memory saving of packing",
       .where = "transformers masking_utils.py find_packed_sequence_indices; version range approximate"},
      {.code = "verl.rmpad_models", .library = "verl", .since = "0.2", .until = "0.4", .severity = Severity::Error,
       .text = "Model architecture {model} is not supported for now. RMPad supported architectures: {supported}.Please "
               "set `use_remove_padding=False` in the model config.",
       .where = "verl/models/registry.py check_model_support_rmpad; version range approximate",
       .log = {.pattern = "RMPad supported architectures",
               .quote = "Model architecture {m} is not supported for now. RMPad supported architectures: ...",
               .cause = "this verl's use_remove_padding has a fixed list of model types",
               .fix = "set use_remove_padding=False or upgrade verl",
               .source = "verl/models/registry.py check_model_support_rmpad"}},
      {.code = "verl.rmpad_flash_attn_import", .library = "verl", .since = "0.3", .until = "0.5",
       .severity = Severity::Warning,
       .text = "this verl imports flash_attn.bert_padding for use_remove_padding: flash_attn must import even when "
               "attention runs as sdpa/eager (newer verl ships verl.utils.attention_utils instead)",
       .where = "verl/workers/actor/dp_actor.py (from flash_attn.bert_padding import ...); version range approximate"},
      {.code = "verl.hydra_missing_key", .library = "verl", .since = "", .until = "", .severity = Severity::Error,
       .text = "Could not override '{key}'.\nTo append to your conf"
               "ig use +{key}={value}\nKey '{leaf}' is not in struct",
       .where = "Hydra (omegaconf struct mode) override parser",
       .log = {.pattern = "To append to your config use +",
               .quote = "Could not override '...'. To append to your config use +...",
               .cause = "a Hydra override without '+' named a key that is not in the config "
                        "(override_config.attn_implementation is not in verl's YAML, so it needs the '+')",
               .fix = "prefix the override with '+': +actor_rollout_ref.model.override_config.attn_implementation=sdpa",
               .source = "Hydra override parser"}},
      {.code = "verl.hydra_delete_missing", .library = "verl", .since = "", .until = "", .severity = Severity::Error,
       .text = "Could not delete from config. '{key}' does not exist.",
       .where = "Hydra override parser (~key on a missing key)"},
      {.code = "verl.hydra_exists", .library = "verl", .since = "", .until = "", .severity = Severity::Error,
       .text = "Could not append to config. An item is already at '{key}'.",
       .where = "Hydra override parser (+key on an existing key)"},

      // ---- vLLM (rollout) ----------------------------------------------------------------------------------
      {.code = "vllm.fa2_turing", .library = "vllm", .since = "0.3", .until = "", .severity = Severity::Note,
       .text = "Cannot use FlashAttention-2 backend for Volta and Turing GPUs.",
       .where = "vllm/attention/selector.py (V0 engine; falls back to the XFormers backend); version range approximate",
       .log = {.pattern = kTextItself,
               .cause = "vLLM's rollout on a pre-Ampere GPU: it picks another backend (XFormers) by itself",
               .fix = "nothing",
               .source = "vllm/attention/selector.py (V0)"}},
      {.code = "vllm.bf16_arch", .library = "vllm", .since = "0.2", .until = "", .severity = Severity::Error,
       .text = "Bfloat16 is only supported on GPUs with compute capability of at least 8.0. Your {gpu} GPU has compute "
               "capability {major}.{minor}. You can use float16 instead by explicitly setting the`dtype` flag in CLI, "
               "for example: --dtype=half.",
       .where = "vllm/platforms/cuda.py check_if_supports_dtype; version range approximate",
       .log = {.pattern = "Bfloat16 is only supported on GPUs with compute capability",
               .quote = "Bfloat16 is only supported on GPUs with compute capability of at least 8.0. ...",
               .cause = "the rollout engine was asked for bf16 on a pre-Ampere GPU",
               .fix = "actor_rollout_ref.rollout.dtype=float16",
               .source = "vllm/platforms/cuda.py"}},
      {.code = "vllm.sinks_fa3", .library = "vllm", .since = "0.10.1", .until = "0.11", .severity = Severity::Error,
       .text = "Sinks are only supported in FlashAttention 3",
       .where = "vllm/v1/attention/backends/flash_attn.py (gpt-oss); version range approximate",
       .log = {.pattern = kTextItself,
               .quote = "AssertionError: Sinks are only supported in FlashAttention 3",
               .cause = "GPT-OSS in vLLM 0.10.x: its sinks need vLLM's FA3 (Hopper) backend",
               .fix = "use a Hopper GPU or a vLLM with TRITON_ATTN sink support (VLLM_ATTENTION_BACKEND=TRITON_ATTN)",
               .source = "vllm issue #22331"}},

      // ---- catch-alls, scanned last ------------------------------------------------------------------------
      {.code = "vllm.backend", .library = "vllm", .since = "", .until = "", .severity = Severity::Note,
       .text = "Using <BACKEND> attention backend ...",
       .where = "vLLM/SGLang logs",
       .log = {.pattern = " backend",
               .cause = "the rollout engine's own attention choice (HF attn_implementation does not reach it)",
               .fix = "nothing"}},
      {.code = "hf.fa.upcast", .library = "transformers", .since = "", .until = "", .severity = Severity::Warning,
       .text = "The input hidden states seems to be silently casted in float32, this might be related to the fact you "
               "have upcasted embedding or layer norm layers in float32. We will cast back the input in {dtype}.",
       .where = "transformers modeling_flash_attention_utils.py",
       .log = {.pattern = "seems to be silently casted in float32",
               .cause = "fp32 activations reached flash attention (fp32 layer norms / embeddings); transformers casts "
                        "q/k/v down",
               .fix = "nothing; it is expected with fp32 norms"}},
  };
  // Entries whose text is assembled from the shared preface.
  for (auto& m : t) {
    if (m.text) continue;
    std::string c = m.code;
    if (c == "hf.fa2.not_installed") m.text = t_not_installed().c_str();
    if (c == "hf.fa2.too_old") m.text = t_too_old().c_str();
    if (c == "hf.fa2.no_cuda") m.text = t_no_cuda().c_str();
    if (c == "hf.fa2.not_available") m.text = t_not_available().c_str();
  }
  return t;
}

std::vector<long> parts(const std::string& v) {
  std::vector<long> r;
  size_t i = 0;
  while (i < v.size()) {
    if (!std::isdigit(static_cast<unsigned char>(v[i]))) break;
    long n = 0;
    while (i < v.size() && std::isdigit(static_cast<unsigned char>(v[i]))) n = n * 10 + (v[i++] - '0');
    r.push_back(n);
    if (i < v.size() && v[i] == '.') ++i;
    else break;  // "+cu128", "rc1", "dev0" and the like end the numeric part
  }
  return r;
}

}  // namespace

const std::vector<LibraryText>& library_texts() {
  static const std::vector<LibraryText> t = build_table();
  return t;
}

std::string library_text(const std::string& code, const std::map<std::string, std::string>& fill) {
  for (const auto& t : library_texts())
    if (code == t.code) return fill_text(t.text, fill);
  return "[no library text '" + code + "' in kernels/library_texts.cpp]";
}

std::vector<const LibraryText*> texts_for(const std::string& code, const std::string& version) {
  std::vector<const LibraryText*> r;
  for (const auto& t : library_texts())
    if (code == t.code && (version.empty() || version_in(version, t.since, t.until))) r.push_back(&t);
  return r;
}

int compare_versions(const std::string& a, const std::string& b) {
  auto x = parts(a), y = parts(b);
  size_t n = std::max(x.size(), y.size());
  for (size_t i = 0; i < n; ++i) {
    long p = i < x.size() ? x[i] : 0, q = i < y.size() ? y[i] : 0;
    if (p != q) return p < q ? -1 : 1;
  }
  return 0;
}

bool version_in(const std::string& v, const char* since, const char* until) {
  if (since && *since && compare_versions(v, since) < 0) return false;
  if (until && *until && compare_versions(v, until) >= 0) return false;
  return true;
}

std::string version_range(const LibraryText& m) {
  std::string r = m.library;
  bool lo = m.since && *m.since, hi = m.until && *m.until;
  if (!lo && !hi) return r + " (all versions)";
  r += " ";
  if (lo) r += std::string(">=") + m.since;
  if (lo && hi) r += ",";
  if (hi) r += std::string("<") + m.until;
  return r;
}

std::string fill_text(const std::string& text, const std::map<std::string, std::string>& fill) {
  std::string out;
  for (size_t i = 0; i < text.size();) {
    if (text[i] == '{') {
      size_t j = text.find('}', i);
      if (j != std::string::npos) {
        auto it = fill.find(text.substr(i + 1, j - i - 1));
        if (it != fill.end()) {
          out += it->second;
          i = j + 1;
          continue;
        }
      }
    }
    out += text[i++];
  }
  return out;
}

std::string log_pattern(const LibraryText& t) {
  if (!t.log.pattern) return "";
  if (t.log.pattern != kTextItself) return t.log.pattern;
  std::string p = t.text;
  if (!p.empty() && (p.back() == '.' || p.back() == ':')) p.pop_back();
  return p;
}

std::string log_quote(const LibraryText& t) { return t.log.quote ? t.log.quote : t.text; }

}  // namespace attnscope
