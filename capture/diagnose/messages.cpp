// The version-keyed message table. Every text below was checked against the source named in
// `where` (search of the public repositories); ranges say which releases carry that behaviour.
#include "capture/diagnose/messages.h"

#include <cctype>
#include <cstdlib>

namespace attnscope {

namespace {

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

std::vector<Message> build_table() {
  std::vector<Message> t = {
      // ---- transformers: _flash_attn_2_can_dispatch, in the order it checks -------------------
      {"hf.fa2.model_unsupported", "transformers", "4.36", "", Severity::Error,
       "{cls} does not support Flash Attention 2.0 yet. Please request to add support where the model is hosted, "
       "on its model hub page: https://huggingface.co/{path}/discussions/new or in the Transformers GitHub repo: "
       "https://github.com/huggingface/transformers/issues/new",
       kHfDispatch},
      {"hf.fa2.not_installed", "transformers", "4.36", "5.3", Severity::Error, nullptr, kHfDispatch},
      {"hf.fa2.not_installed", "transformers", "5.3", "", Severity::Error,
       "FlashAttention2 has been toggled on, but it cannot be used due to the following error: the package for "
       "FlashAttention2 doesn't seem to be installed.",
       kHfImportError5},
      {"hf.fa2.too_old", "transformers", "4.36", "5.3", Severity::Error, nullptr, kHfDispatch},
      {"hf.fa2.too_old", "transformers", "5.3", "", Severity::Error,
       "FlashAttention2 has been toggled on, but it cannot be used due to the following error: FlashAttention2 "
       "requires at least version `2.3.3`.",
       kHfImportError5},
      {"hf.fa2.no_cuda", "transformers", "4.36", "5.3", Severity::Error, nullptr, kHfDispatch},
      {"hf.fa2.no_cuda", "transformers", "5.3", "", Severity::Error,
       "FlashAttention2 has been toggled on, but it cannot be used due to the following error: FlashAttention2 is "
       "not available on CPU. Please make sure you are on any of the supported devices: (...).",
       "modeling_utils.py PreTrainedModel._flash_attn_import_error (the tuple of device names elided); first "
       "release approximate"},
      {"hf.fa2.not_available", "transformers", "4.36", "5.3", Severity::Error, nullptr, kHfDispatch},
      {"hf.fa2.dtype", "transformers", "4.36", "4.56", Severity::Warning,
       "Flash Attention 2.0 only supports torch.float16 and torch.bfloat16 dtypes, but the current dype in {cls} "
       "is {dtype}. You should run training or inference using Automatic Mixed-Precision via the `with "
       "torch.autocast(device_type='torch_device'):` decorator, or load the model with the `torch_dtype` argument. "
       "Example: `model = AutoModel.from_pretrained(\"openai/whisper-tiny\", attn_implementation=\"flash_attention_2\", "
       "torch_dtype=torch.float16)`",
       "modeling_utils.py _check_and_enable_flash_attn_2 / _flash_attn_2_can_dispatch (text seen in verl logs; "
       "the boundary is approximate: the `dtype` argument replaced `torch_dtype` in 4.56)"},
      {"hf.fa2.dtype", "transformers", "4.56", "5.3", Severity::Warning,
       "Flash Attention 2 only supports torch.float16 and torch.bfloat16 dtypes, but the current dype in {cls} is "
       "{dtype}. You should run training or inference using Automatic Mixed-Precision via the `with "
       "torch.autocast(device_type='torch_device'):` decorator, or load the model with the `dtype` argument. "
       "Example: `model = AutoModel.from_pretrained(\"openai/whisper-tiny\", attn_implementation=\"flash_attention_2\", "
       "dtype=torch.float16)`",
       "modeling_utils.py PreTrainedModel._flash_attn_2_can_dispatch; the end of this range is approximate"},
      {"hf.fa2.dtype", "transformers", "5.3", "", Severity::Warning,
       "Flash Attention 2 only supports torch.float16 and torch.bfloat16 dtypes, but the current dype in {cls} is "
       "{dtype}. You should run training or inference using Automatic Mixed-Precision via the `with "
       "torch.autocast(device_type='torch_device'):` decorator, or load the model with the `dtype` argument. "
       "Example: `model = AutoModel.from_pretrained(\"meta-llama/Llama-3.2-1B\", "
       "attn_implementation=\"flash_attention_2\", dtype=torch.float16)`",
       "modeling_utils.py PreTrainedModel._flash_attn_can_dispatch (logger.warning_once); first release approximate"},
      {"hf.fa2.cpu_init", "transformers", "4.36", "", Severity::Warning,
       "You are attempting to use Flash Attention 2 with a model not initialized on GPU. Make sure to move the model "
       "to GPU after initializing it on CPU with `model.to('cuda')`.",
       kHfDispatch},
      {"hf.fa2.no_gpu_at_all", "transformers", "4.36", "", Severity::Error,
       "You are attempting to use Flash Attention 2 with a model not initialized on GPU and with no GPU available. "
       "This is not supported yet. Please make sure to have access to a GPU and either initialise the model on a GPU "
       "by passing a device_map or initialising the model on CPU and then moving it to GPU.",
       kHfDispatch},
      {"hf.fa2.no_compute_capability_check", "transformers", "4.36", "", Severity::Note,
       "transformers does not check the compute capability for flash_attention_2: the model loads, and the "
       "flash_attn kernel refuses at the first forward",
       kHfDispatch},
      {"hf.fa2.kernels_fallback", "transformers", "4.56", "", Severity::Warning,
       "You do not have `flash_attn` installed, using `{kernel}` from the `kernels` library instead!", kHfAdjustApprox},

      // ---- transformers: flash_attention_3 ----------------------------------------------------
      {"hf.fa3.not_installed", "transformers", "4.54", "5.3", Severity::Error,
       "FlashAttention3 has been toggled on, but it cannot be used due to the following error: the package "
       "flash_attn_3 seems to be not installed.",
       kHfDispatch3Approx},
      {"hf.fa3.not_installed", "transformers", "5.3", "", Severity::Error,
       "FlashAttention3 has been toggled on, but it cannot be used due to the following error: the package for "
       "FlashAttention3 doesn't seem to be installed.",
       kHfImportError5},
      // (sic) transformers prints the major followed by ".0": "found (7, 5) with compute capability 7.0."
      {"hf.fa3.arch", "transformers", "4.54", "5.3", Severity::Error,
       "FlashAttention3 has been toggled on, but it cannot be used due to the following error: Flash Attention 3 "
       "requires compute capability >= 9.0, but found ({major}, {minor}) with compute capability {major}.0.",
       "modeling_utils.py PreTrainedModel._flash_attn_3_can_dispatch, a ValueError; \"{major}.0\" is transformers' "
       "own f-string (f\"... {major}.0.\"), not the minor; version range approximate"},
      {"hf.fa3.arch", "transformers", "5.3", "", Severity::Error,
       "FlashAttention3 has been toggled on, but it cannot be used due to the following error: FlashAttention3 "
       "requires compute capability >= 9, but found ({major}, {minor}) with compute capability {major}.x",
       "modeling_utils.py PreTrainedModel._flash_attn_import_error (cuda_min_major_version), an ImportError; first "
       "release approximate"},
      {"hf.fa3.dtype", "transformers", "4.54", "5.3", Severity::Warning,
       "Flash Attention 3 only supports torch.float16 and torch.bfloat16 dtypes, but the current dype in {cls} is "
       "{dtype}. ...",
       kHfDispatch3Approx},
      {"hf.fa3.dtype", "transformers", "5.3", "", Severity::Warning,
       "Flash Attention 3 only supports torch.float16 and torch.bfloat16 dtypes, but the current dype in {cls} is "
       "{dtype}. You should run training or inference using Automatic Mixed-Precision via the `with "
       "torch.autocast(device_type='torch_device'):` decorator, or load the model with the `dtype` argument. "
       "Example: `model = AutoModel.from_pretrained(\"meta-llama/Llama-3.2-1B\", "
       "attn_implementation=\"flash_attention_3\", dtype=torch.float16)`",
       "modeling_utils.py PreTrainedModel._flash_attn_can_dispatch (logger.warning_once); first release approximate"},
      {"hf.fa3.dropout", "transformers", "4.54", "5.3", Severity::Error,
       "Model has attention_dropout={dropout}, which is not supported by Flash Attention 3.", kHfDispatch3Approx},
      {"hf.fa3.dropout", "transformers", "5.3", "", Severity::Warning,
       "You are attempting to use Flash Attention 3 with dropout. This might lead to unexpected behaviour as this is "
       "not supported on recent versions of Flash Attention.",
       "modeling_utils.py PreTrainedModel._flash_attn_can_dispatch (logger.warning_once); first release approximate"},

      // ---- transformers: sdpa, names -----------------------------------------------------------
      {"hf.sdpa.model_unsupported", "transformers", "4.36", "", Severity::Error,
       "{cls} does not support an attention implementation through torch.nn.functional.scaled_dot_product_attention "
       "yet. Please request the support for this architecture: https://github.com/huggingface/transformers/issues/28005. "
       "If you believe this error is a bug, please open an issue in Transformers GitHub repository and load your model "
       "with the argument `attn_implementation=\"eager\"` meanwhile. Example: `model = "
       "AutoModel.from_pretrained(\"openai/whisper-tiny\", attn_implementation=\"eager\")`",
       "modeling_utils.py PreTrainedModel._sdpa_can_dispatch"},
      {"hf.sdpa.repeat_kv", "transformers", "4.48", "", Severity::Note,
       "an attention mask is passed ({why}), so use_gqa_in_sdpa is False: transformers expands K/V to all {heads} "
       "query heads with repeat_kv ({bytes} more per layer) and SDPA sees plain multi-head attention",
       "integrations/sdpa_attention.py use_gqa_in_sdpa / repeat_kv (first release approximate)"},
      {"hf.sdpa.enable_gqa", "transformers", "4.48", "", Severity::Note,
       "no attention mask and torch >= 2.5: transformers passes enable_gqa=True, so PyTorch's GQA rules apply (its "
       "memory-efficient kernel takes no GQA)",
       "integrations/sdpa_attention.py use_gqa_in_sdpa (first release approximate)"},
      {"hf.sdpa.softcap_dropped", "transformers", "4.42", "", Severity::Silent,
       "sdpa_attention_forward has no softcap: the logit softcap ({softcap}) is dropped without an error and "
       "the scores are not capped (eager and flash_attention_2 >= flash-attn 2.6 apply it)",
       "integrations/sdpa_attention.py (softcap arrives in **kwargs, unused); version range approximate"},
      {"hf.gemma2.train_eager", "transformers", "4.42", "", Severity::Warning,
       "It is strongly recommended to train Gemma2 models with the `eager` attention implementation instead of "
       "`{name}`. Use `eager` with `AutoModelForCausalLM.from_pretrained('<path-to-checkpoint>', "
       "attn_implementation='eager')`.",
       "models/gemma2/modeling_gemma2.py Gemma2ForCausalLM.forward (training only)"},
      {"hf.sdpa.default_falls_back", "transformers", "4.36", "", Severity::Silent,
       "no attn_implementation given: transformers tries sdpa and, when the model class refuses it, silently uses "
       "eager (only an explicit attn_implementation=\"sdpa\" raises)",
       kHfCorrect},
      {"hf.attn.unknown", "transformers", "4.36", "4.54", Severity::Error,
       "Specified `attn_implementation=\"{name}\"` is not supported. The only possible arguments are "
       "`attn_implementation=\"eager\"` (manual attention implementation){accepted_old}.",
       "modeling_utils.py _check_and_enable_* / _autoset_attn_implementation (boundary with the next text approximate)"},
      {"hf.attn.unknown", "transformers", "4.54", "5.3", Severity::Error,
       "Specified `attn_implementation=\"{name}\"` is not supported. The only possible arguments are "
       "`attn_implementation=\"eager\"`{accepted}.",
       "modeling_utils.py get_correct_attn_implementation; the end of this range is approximate"},
      {"hf.attn.unknown", "transformers", "5.3", "", Severity::Error,
       "Specified `attn_implementation=\"{name}\"` is not supported. The only possible arguments are "
       "`attn_implementation=\"eager\"`, `\"paged|eager\"`{accepted5}.",
       kHfCorrect5},
      {"hf.attn.not_registered", "transformers", "5.3", "", Severity::Error,
       "`{name}` is not a valid attention implementation registered in the `AttentionInterface`",
       "modeling_utils.py AttentionInterface.get_interface, a KeyError at the first forward (Python prints it "
       "quoted); verified on 5.17.0, first release approximate"},
      {"hf.kernels.missing", "transformers", "4.54", "5.3", Severity::Error,
       "`kernels` is not installed. Please install it with `pip install kernels`.",
       "integrations/hub_kernels.py load_and_register_kernel; version range approximate"},
      {"hf.kernels.missing", "transformers", "5.3", "", Severity::Error,
       "`kernels` is either not installed or uses an incompatible version. Please install a compatible version "
       "({kernels_range}), e.g. `pip install kernels=={kernels_min}`",
       "integrations/hub_kernels.py _MISSING_KERNELS_MESSAGE, raised by load_and_register_attn_kernel (the kernels "
       "range is 0.16.0 <= version < 0.17.0 in 5.17.0; other releases pin others); first release approximate"},
      {"hf.paged.no_cache", "transformers", "5.3", "", Severity::Error,
       "`{name}` was called without a paged attention cache. This implementation expects the packed inputs and the "
       "4D mask that continuous batching prepares; on a standard forward it would attend bidirectionally. Use "
       "`{base}` for a standard forward.",
       "a ValueError at the first forward of a paged| implementation without continuous batching; verified for "
       "paged|eager on 5.17.0, first release approximate"},
      {"hf.attn.hub_kernel", "transformers", "4.54", "", Severity::Note,
       "\"{name}\" matches the hub kernel pattern org/repo[@rev][:func]: transformers loads it with the `kernels` "
       "package (pip install kernels) and registers it under that name",
       "modeling_utils.py _check_and_adjust_attn_implementation / is_kernel (first release approximate: the GPT-OSS "
       "launch in 4.55 used it)"},
      {"hf.attn.hub_kernel_needs_kernels", "transformers", "4.54", "", Severity::Error,
       "\"{name}\" is a hub kernel name, but the `kernels` package is not installed: transformers cannot load it "
       "(pip install kernels)",
       "modeling_utils.py _check_and_adjust_attn_implementation (first release approximate)"},

      // ---- transformers: GPT-OSS and its sinks, three eras ----------------------------------------
      {"hf.gptoss.fa_sinks_dropped", "transformers", "4.55", "5.0", Severity::Silent,
       "GPT-OSS passes its learned sinks as s_aux; the flash path forwards s_aux only to kernels whose signature "
       "accepts it. Plain flash_attn's flash_attn_func/varlen_func have no such argument, so the sinks are dropped "
       "without a word and every row sums to 1 (garbage generations reported in transformers issue #42533)",
       "modeling_flash_attention_utils.py (s_aux forwarded only when supported); models/gpt_oss/modeling_gpt_oss.py; version range approximate"},
      {"hf.gptoss.fa_refused", "transformers", "5.0", "5.3", Severity::Error,
       "GPT-OSS refuses flash_attention_2/flash_attention_3 at load: its attention sinks are not implemented by "
       "flash_attn (transformers PR #42736; use kernels-community/vllm-flash-attn3 or eager)",
       "transformers PR #42736 (merged 2025-12), models/gpt_oss; version range approximate"},
      {"hf.gptoss.fa_redirect", "transformers", "5.3", "5.17", Severity::Warning,
       "This model is compatible with the following flash attention implementations: "
       "`['kernels-community/vllm-flash-attn3']`. Automatically falling back to `{target}` "
       "instead of `{name}`.",
       "modeling_utils.py _check_and_adjust_attn_implementation (_compatible_flash_implementations, PR #44177, 2026-02); version range approximate"},
      {"hf.gptoss.fa_redirect", "transformers", "5.17", "", Severity::Warning,
       "This model is compatible with the following flash attention implementations: "
       "`['kernels-community/vllm-flash-attn3', 'flash_attention_4', 'kernels-community/metal-flash-sdpa']`. "
       "Automatically falling back to `{target}` instead of `{name}`.",
       "modeling_utils.py _check_and_adjust_attn_implementation (logger.warning_once: once per process and text); "
       "applies to every name containing \"flash\" that is not in the list, file paths included; verified on "
       "5.17.0, the first release with this list approximate"},
      {"hf.gptoss.flex_inductor", "transformers", "5.17", "", Severity::Error,
       "LoweringException: NoValidChoicesError: No choices to select. Provided reason: No choices exist for backend. "
       "please consider adding ATEN into max_autotune_gemm_backends config (defined in torch/_inductor/config.py) "
       "to allow at least one choice.",
       "torch._inductor InductorError at the first forward of GPT-OSS with flex_attention (target: flex_attention); "
       "recorded on H100 with torch 2.11.0 and transformers 5.17.0 (attnscope ground truth 2026-11-25), the rest of "
       "the message lists tensor shapes; not tested on other versions, cause not pinned"},
      {"hf.gptoss.no_sdpa", "transformers", "4.55", "", Severity::Error,
       "{cls} does not support an attention implementation through torch.nn.functional.scaled_dot_product_attention "
       "yet. Please request the support for this architecture: https://github.com/huggingface/transformers/issues/28005. "
       "If you believe this error is a bug, please open an issue in Transformers GitHub repository and load your model "
       "with the argument `attn_implementation=\"eager\"` meanwhile. Example: `model = "
       "AutoModel.from_pretrained(\"openai/whisper-tiny\", attn_implementation=\"eager\")`",
       "models/gpt_oss/modeling_gpt_oss.py: GptOssPreTrainedModel._supports_sdpa = False"},
      {"hf.gptoss.eager", "transformers", "4.55", "", Severity::Note,
       "GPT-OSS eager concatenates the sink logit as an extra score column, subtracts the row max, softmaxes in the "
       "model dtype and drops the column: rows sum to less than 1, as trained",
       "models/gpt_oss/modeling_gpt_oss.py eager_attention_forward"},

      // ---- hub kernels ----------------------------------------------------------------------------
      {"hub.vllm_fa3.arch", "hub-kernel", "", "", Severity::Error,
       "kernels-community/vllm-flash-attn3 is built for Hopper only (sm90); this GPU is sm{sm}",
       "huggingface.co/kernels-community/vllm-flash-attn3; HF GPT-OSS blog (tested on Hopper)"},
      {"hub.vllm_fa3.dtype", "hub-kernel", "", "", Severity::Error,
       "kernels-community/vllm-flash-attn3 runs bf16 only; the layer is {dtype}",
       "huggingface.co/kernels-community/vllm-flash-attn3"},
      {"hub.vllm_fa3.heads", "hub-kernel", "", "", Severity::Error,
       "kernels-community/vllm-flash-attn3 supports at most 64 query heads; the layer has {heads}",
       "huggingface.co/kernels-community/vllm-flash-attn3"},
      {"hub.vllm_fa3.sinks", "hub-kernel", "", "", Severity::Note,
       "sink-capable: the learned sinks reach the kernel (s_aux) and are honoured in the forward pass",
       "vllm-project/flash-attention PR #75 (FA3 attention sink)"},
      {"hub.vllm_fa3.no_sink_backward", "hub-kernel", "", "", Severity::Warning,
       "training: the backward pass of kernels-community/vllm-flash-attn3 does not support attention sinks "
       "(forward only); train GPT-OSS with eager or a sink-aware backward",
       "nvidia-cosmos/cosmos-rl issue #219 (2025-08) citing the kernel's hub discussion #3"},
      {"hub.needs_kernels", "hub-kernel", "", "", Severity::Error,
       "hub kernels need the `kernels` package (pip install kernels); it is not installed", "kernels"},

      // ---- flash-attn package ---------------------------------------------------------------------
      {"fa.import_error", "flash-attn", "", "", Severity::Error,
       "import flash_attn fails: {error}", "flash_attn/__init__.py (import of flash_attn_2_cuda)"},
      {"fa.undefined_symbol", "flash-attn", "", "", Severity::Error,
       "flash_attn_2_cuda was built against another torch/CUDA than the one installed ({error}): reinstall a "
       "flash-attn wheel built for torch {torch} / CUDA {cuda}, or build it from source against it",
       "flash-attn wheels are ABI-bound to one torch minor version and C++ ABI flag"},
      {"fa.no_sinks", "flash-attn", "2.0", "", Severity::Silent,
       "flash_attn_func/flash_attn_varlen_func take no sink argument", "flash_attn/flash_attn_interface.py"},

      // ---- verl -------------------------------------------------------------------------------------
      {"verl.default_fa2", "verl", "0.4", "", Severity::Note,
       "verl's FSDP workers call from_pretrained with attn_implementation = "
       "override_config.get(\"attn_implementation\", \"flash_attention_2\"): without an override every role asks "
       "for flash_attention_2 explicitly, so transformers raises instead of falling back to sdpa",
       "verl/workers/fsdp_workers.py (ActorRolloutRefWorker._build_model_optimizer, CriticWorker); version range approximate"},
      {"verl.critic_no_inherit", "verl", "0.4", "", Severity::Warning,
       "the critic reads only critic.model.override_config: the actor's override does not reach it, so it still "
       "asks for flash_attention_2",
       "verl/workers/fsdp_workers.py CriticWorker._build_critic_model_optimizer; version range approximate"},
      {"verl.reward_hardcoded", "verl", "0.3", "", Severity::Warning,
       "verl's RewardModelWorker loads the reward model with attn_implementation=\"flash_attention_2\" hard-coded "
       "(and bf16): no config key changes it",
       "verl/workers/fsdp_workers.py RewardModelWorker._build_model; version range approximate"},
      {"verl.mixed_precision", "verl", "0.3", "", Severity::Note,
       "FSDP MixedPrecision(param_dtype={param}) casts the parameters to {param} for compute: attention runs in "
       "{param} whatever dtype the weights were loaded in ({load})",
       "verl/workers/fsdp_workers.py (mixed_precision.get(\"param_dtype\", \"bf16\")); version range approximate"},
      {"verl.rollout_own_backend", "verl", "0.3", "", Severity::Note,
       "the rollout engine ({engine}) picks its own attention backend (vLLM: VLLM_ATTENTION_BACKEND / "
       "attention_backend); override_config.attn_implementation does not reach it",
       "verl/workers/rollout (vLLM/SGLang engines load the model themselves); version range approximate"},
      {"verl.rmpad", "verl", "0.3", "", Severity::Note,
       "use_remove_padding packs the batch into one row of concatenated sequences (unpad_input) and passes "
       "position_ids, no attention mask: flash_attention_2 turns the position_ids into cu_seqlens (varlen "
       "kernel); sdpa and eager need transformers' packed-sequence mask from position_ids (masking_utils, "
       "transformers >= 4.53), which materialises a block-diagonal mask",
       "verl/workers/actor/dp_actor.py _forward_micro_batch; transformers masking_utils.find_packed_sequence_indices; version range approximate"},
      {"verl.rmpad_sdpa_cross", "transformers", "", "4.53", Severity::Silent,
       "use_remove_padding with {impl}: this transformers has no packed-sequence mask for sdpa/eager, so the "
       "packed row is one causal sequence and every response attends to the prompts and responses packed before "
       "it (flash_attention_2 alone splits them by position_ids)",
       "transformers <4.53 (no masking_utils); verl dp_actor passes attention_mask=None with packed position_ids; version range approximate"},
      {"verl.rmpad_sdpa_mask", "transformers", "4.53", "", Severity::Note,
       "use_remove_padding with {impl}: transformers rebuilds the sequence boundaries from position_ids "
       "(find_packed_sequence_indices) and materialises a block-diagonal mask of total_tokens^2 elements per layer "
       "call; correct, but it defeats the memory saving of packing",
       "transformers masking_utils.py find_packed_sequence_indices; version range approximate"},
      {"verl.rmpad_models", "verl", "0.2", "0.4", Severity::Error,
       "Model architecture {model} is not supported for now. RMPad supported architectures: {supported}.Please set "
       "`use_remove_padding=False` in the model config.",
       "verl/models/registry.py check_model_support_rmpad; version range approximate"},
      {"verl.rmpad_flash_attn_import", "verl", "0.3", "0.5", Severity::Warning,
       "this verl imports flash_attn.bert_padding for use_remove_padding: flash_attn must import even when "
       "attention runs as sdpa/eager (newer verl ships verl.utils.attention_utils instead)",
       "verl/workers/actor/dp_actor.py (from flash_attn.bert_padding import ...); version range approximate"},
      {"verl.hydra_missing_key", "verl", "", "", Severity::Error,
       "Could not override '{key}'.\nTo append to your config use +{key}={value}\nKey '{leaf}' is not in struct",
       "Hydra (omegaconf struct mode) override parser"},
      {"verl.hydra_exists", "verl", "", "", Severity::Error,
       "Could not append to config. An item is already at '{key}'.", "Hydra override parser (+key on an existing key)"},

      // ---- vLLM (rollout) ------------------------------------------------------------------------------
      {"vllm.fa2_turing", "vllm", "0.3", "", Severity::Note,
       "Cannot use FlashAttention-2 backend for Volta and Turing GPUs.",
       "vllm/attention/selector.py (V0 engine; falls back to the XFormers backend); version range approximate"},
      {"vllm.bf16_arch", "vllm", "0.2", "", Severity::Error,
       "Bfloat16 is only supported on GPUs with compute capability of at least 8.0. Your {gpu} GPU has compute "
       "capability {major}.{minor}. You can use float16 instead by explicitly setting the`dtype` flag in CLI, for "
       "example: --dtype=half.",
       "vllm/platforms/cuda.py check_if_supports_dtype; version range approximate"},
      {"vllm.sinks_fa3", "vllm", "0.10.1", "0.11", Severity::Error,
       "Sinks are only supported in FlashAttention 3", "vllm/v1/attention/backends/flash_attn.py (gpt-oss); version range approximate"},
  };
  // Entries whose text is assembled from the shared preface.
  for (auto& m : t) {
    if (m.text) continue;  // the 5.x entries carry their own text
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

const std::vector<Message>& message_table() {
  static const std::vector<Message> t = build_table();
  return t;
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

std::string version_range(const Message& m) {
  std::string r = m.library;
  bool lo = m.since && *m.since, hi = m.until && *m.until;
  if (!lo && !hi) return r + " (all versions)";
  r += " ";
  if (lo) r += std::string(">=") + m.since;
  if (lo && hi) r += ",";
  if (hi) r += std::string("<") + m.until;
  return r;
}

std::vector<const Message*> messages_for(const std::string& code, const std::string& version) {
  std::vector<const Message*> r;
  for (const auto& m : message_table())
    if (code == m.code && (version.empty() || version_in(version, m.since, m.until))) r.push_back(&m);
  return r;
}

const Message* message_by_code(const std::string& code) {
  for (const auto& m : message_table())
    if (code == m.code) return &m;
  return nullptr;
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

int add_message(Verdict* v, const std::string& code, const std::string& version,
                const std::map<std::string, std::string>& fill) {
  int n = 0;
  for (const Message* m : messages_for(code, version)) {
    std::string src = version_range(*m);
    if (!version.empty()) src += " [installed " + version + "]";
    else if (std::string(m->library) != "attnscope" && (*m->since || *m->until))
      src += " [version unknown: pass --env]";
    src += std::string(" (") + m->where + ")";
    v->add(m->severity, code, fill_text(m->text ? m->text : "", fill), src);
    ++n;
  }
  return n;
}

}  // namespace attnscope
