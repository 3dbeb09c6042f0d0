// The steps transformers takes with an attn_implementation name, each one function. hf_rules.cpp
// chooses which steps a release runs (HfEra) and in which order; a step returns true when it has
// decided the outcome. Texts come from the catalogue (kernels/library_texts.cpp).
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <regex>

#include "capture/diagnose/hf_case.h"
#include "capture/diagnose/messages.h"
#include "kernels/implementation.h"

namespace attnscope::hf {

// ---- helpers ---------------------------------------------------------------------------------------

bool looks_like_path(const std::string& s) {
  if (s.empty()) return false;
  if (s[0] == '/' || s[0] == '.' || s[0] == '~') return true;
  if (s.find('\\') != std::string::npos) return true;
  if (s.size() > 3 && s.compare(s.size() - 3, 3, ".py") == 0) return true;
  if (std::count(s.begin(), s.end(), '/') >= 2) return true;
  std::error_code ec;
  return std::filesystem::exists(s, ec);
}

bool hub_pattern(const std::string& s) {
  static const std::regex re(R"(^[^/:@\s]+/[^/:@\s]+(@[^/:@\s]+)?(:[^/:@\s]+)?$)");
  return std::regex_match(s, re);
}

// transformers 5.x integrations/hub_kernels.py is_kernel: ^[^/:]+/[^/:]+(?:@[^/:]+)?(?::[^/:]+)?$ on the whole
// string (a "paged|" prefix included). It never looks at the filesystem: "dir/file.py" is a hub kernel to it.
bool is_kernel_v5(const std::string& s) {
  static const std::regex re(R"(^[^/:]+/[^/:]+(@[^/:]+)?(:[^/:]+)?$)");
  return std::regex_match(s, re);
}

std::string accepted_list(const HfModelFlags& f) {
  std::string m = ", `\"paged|eager\"`";
  if (f.supports_flash)
    m += ", `\"attn_implementation=flash_attention_3\"`, `\"attn_implementation=flash_attention_2\"`, "
         "`\"attn_implementation=paged|flash_attention_2\"`";
  if (f.supports_sdpa) m += ", `\"attn_implementation=sdpa\"`, `\"attn_implementation=paged|sdpa\"`";
  if (f.supports_flex) m += ", `\"attn_implementation=flex_attention\"`";
  return m;
}

// The same list in the wording of transformers before ~4.54 (read in 4.51.3's _autoset_attn_implementation).
std::string accepted_list_old(const HfModelFlags& f) {
  std::string m;
  if (f.supports_flash) m += ", `\"attn_implementation=flash_attention_2\"` (implementation using flash attention 2)";
  if (f.supports_sdpa)
    m += ", `\"attn_implementation=sdpa\"` (implementation using torch.nn.functional.scaled_dot_product_attention)";
  if (f.supports_flex) m += ", `\"attn_implementation=flex_attention\"` (implementation using torch's flex_attention)";
  return m;
}

// The accepted-names tail of 5.x's "is not supported" message (FLASH_ATTENTION_COMPATIBILITY_MATRIX = 2, 3, 4).
std::string accepted_list5(const HfModelFlags& f) {
  std::string m;
  if (f.supports_flash) {
    m += ", ";
    for (int v : {2, 3, 4}) {
      std::string n = std::to_string(v);
      m += "`\"attn_implementation=flash_attention_" + n + "\"`, `\"attn_implementation=paged|flash_attention_" + n +
           "\"`, ";
    }
    m.resize(m.size() - 2);
  }
  if (f.supports_sdpa) m += ", `\"attn_implementation=sdpa\"`, `\"attn_implementation=paged|sdpa\"`";
  if (f.supports_flex) m += ", `\"attn_implementation=flex_attention\"`";
  return m;
}

std::string torch_dtype_name(DType d) {
  switch (d) {
    case DType::F32: return "torch.float32";
    case DType::F16: return "torch.float16";
    case DType::BF16: return "torch.bfloat16";
  }
  return "?";
}

HfOutcome outcome_from(const Verdict& v, const std::string& stage_on_error, const std::string& exception,
                       const std::string& resolved) {
  HfOutcome o;
  for (const auto& r : v.reasons)
    if (r.severity == Severity::Error) {
      o.stage = stage_on_error;
      o.exception = exception;
      o.code = r.code;
      if (stage_on_error != "load") o.resolved = resolved;  // loaded; the forward raises
      return o;
    }
  o.stage = "runs";
  o.resolved = resolved;
  return o;
}

namespace {

// attnscope's words where no rule exists, said the same way by every era.
constexpr const char* kFa3NoGpu = "FlashAttention 3 needs a Hopper (sm90) GPU; none is known";
constexpr const char* kHubUnknown =
    "attnscope has no rules for this hub kernel: it checks the name only; compare its output against eager with "
    "attnscope run --import-run";

// The flash_attn package state from --env, in _flash_attn_2_can_dispatch's order (4.36-5.2). Returns true
// when the package path is usable (or unknown).
bool flash_attn_package(HfCase& c, std::string* runs_as) {
  Verdict& v = c.v();
  const std::string& tver = c.tver;
  if (!c.env.present) {
    v.add(Severity::Note, "hf.fa2.package_unknown",
          "whether flash_attn is installed (and imports) is unknown: record the environment with "
          "scripts/attnscope-env.py and pass --env",
          "attnscope");
    return true;
  }
  const PyPackage* fa = c.env.pkg("flash_attn");
  const PyPackage* kern = c.env.pkg("kernels");
  bool kernels_ok = kern && kern->installed && kern->import_error.empty();
  if (!fa || !fa->installed) {
    if (kernels_ok && c.flags.supports_flash && (tver.empty() || compare_versions(tver, "4.56") >= 0)) {
      add_message(&v, "hf.fa2.kernels_fallback", tver, {{"kernel", "kernels-community/flash-attn2"}});
      *runs_as = "kernels-community/flash-attn2 (hub build of FA2)";
      return true;
    }
    add_message(&v, "hf.fa2.not_installed", tver);
    return false;
  }
  if (c.env.torch_cuda.empty() && !c.dev.is_gpu()) {
    // A CPU-only torch build: is_flash_attn_2_available() is False but no branch of the package
    // check raises; the device check after loading does.
    add_message(&v, "hf.fa2.no_gpu_at_all", tver);
    return false;
  }
  if (compare_versions(fa->version, "2.1.0") < 0) {
    add_message(&v, "hf.fa2.too_old", tver, {{"version", fa->version}});
    return false;
  }
  if (!c.env.torch_cuda_available && !c.dev.is_gpu()) {
    add_message(&v, "hf.fa2.no_cuda", tver);
    return false;
  }
  if (!fa->import_error.empty()) {
    std::string torchv = c.env.version("torch");
    if (fa->import_error.find("undefined symbol") != std::string::npos)
      add_message(&v, "fa.undefined_symbol", "",
                  {{"error", fa->import_error}, {"torch", torchv.empty() ? "?" : torchv},
                   {"cuda", c.env.torch_cuda.empty() ? "?" : c.env.torch_cuda}});
    else
      add_message(&v, "fa.import_error", "", {{"error", fa->import_error}});
    v.add(Severity::Note, "hf.fa2.import_late",
          "transformers only checks the package metadata at load; the ImportError surfaces when the flash "
          "functions are first imported (model load in 4.5x, first forward in older releases)",
          "transformers modeling_flash_attention_utils.py lazy import");
    return false;
  }
  return true;
}

// The exception each refusal of the package check raises in 4.36-4.53 (read in 4.51.3's
// _check_and_enable_flash_attn_2: "not available on CPU" and "no GPU at all" are ValueErrors).
void predict_flash_package_failure(HfCase& c) {
  for (const auto& r : c.v().reasons) {
    if (r.severity != Severity::Error) continue;
    bool value_error = r.code == "hf.fa2.no_cuda" || r.code == "hf.fa2.no_gpu_at_all";
    bool library_own = r.code == "fa.undefined_symbol" || r.code == "fa.import_error";
    c.fail("load", value_error ? "ValueError" : "ImportError", r.code, library_own);
    return;
  }
}

void vllm_fa3_constraints(HfCase& c, const std::string& prefix) {
  Verdict h;
  const DeviceInfo& dev = c.dev;
  if (dev.is_gpu() && dev.sm() != 90) add_message(&h, "hub.vllm_fa3.arch", "", {{"sm", std::to_string(dev.sm())}});
  if (!dev.is_gpu())
    h.add(Severity::Error, "hub.vllm_fa3.no_gpu", "needs a Hopper GPU; none is known (pass --gpu H100 or run on one)",
          "attnscope");
  if (c.spec.dtype != DType::BF16) add_message(&h, "hub.vllm_fa3.dtype", "", {{"dtype", dtype_name(c.spec.dtype)}});
  if (c.spec.heads_q > 64) add_message(&h, "hub.vllm_fa3.heads", "", {{"heads", std::to_string(c.spec.heads_q)}});
  if (c.spec.sinks) add_message(&h, "hub.vllm_fa3.sinks", "");
  if (c.spec.sinks && c.training) add_message(&h, "hub.vllm_fa3.no_sink_backward", "");
  for (auto& r : h.reasons) c.v().add(r.severity, r.code, prefix + r.text, r.source);
}

// FA2 kernel rules as the flash_attn kernel applies them inside HF (sinks handled by the caller).
void fa2_kernel_rules(HfCase& c, const std::string& prefix) {
  LayerSpec s = c.spec;
  s.sinks = false;
  Verdict k = check_flash2(s, c.dev);
  for (const auto& r : k.reasons) {
    if (r.code == "cpu.emulation" || r.code == "flash2.oom") continue;
    c.v().add(r.severity, r.code, prefix + r.text, r.source);
  }
}

// The flex_attention checks every release makes at load (_check_and_enable_flex_attn /
// _flex_attn_can_dispatch); true when they pass. `source` is the era's citation.
bool flex_load_checks(HfCase& c, const std::string& model_source, const std::string& torch_source) {
  if (!c.flags.supports_flex) {
    c.v().add(Severity::Error, "hf.flex.model_unsupported", library_text("hf.flex.model_unsupported", {{"cls", c.cls}}),
              model_source);
    return false;
  }
  std::string torchv = c.env.version("torch");
  if (!torchv.empty() && compare_versions(torchv, "2.5") < 0) {
    c.v().add(Severity::Error, "hf.flex.torch", library_text("hf.flex.torch"), torch_source + " [torch " + torchv + "]");
    return false;
  }
  return true;
}

// _compatible_flash_implementations of the model class (only GPT-OSS among attnscope's models).
std::vector<std::string> compatible_flash(const std::string& model_type, const std::string& tver) {
  if (model_type != "gpt_oss") return {};
  if (compare_versions(tver, "5.17") >= 0)
    return {"kernels-community/vllm-flash-attn3", "flash_attention_4", "kernels-community/metal-flash-sdpa"};
  return {"kernels-community/vllm-flash-attn3"};
}

// The `kernels` range a transformers release pins (KERNELS_MIN_VERSION, KERNELS_MAX_VERSION); known for 5.17.
bool kernels_range(const std::string& tver, std::string* lo, std::string* hi) {
  if (compare_versions(tver, "5.17") >= 0 && compare_versions(tver, "5.18") < 0) {
    *lo = "0.16.0";
    *hi = "0.17.0";
    return true;
  }
  return false;
}

}  // namespace

// ---- transformers 4.36-5.2 (and a version not given) -----------------------------------------------

bool step_gemma2_training(HfCase& c) {
  if (c.model.model_type == "gemma2" && c.base != "eager" && c.training)
    add_message(&c.v(), "hf.gemma2.train_eager", c.tver, c.fill(c.base));
  return false;
}

bool step_eager(HfCase& c) {
  if (c.base != "eager") return false;
  Verdict& v = c.v();
  Verdict k = check_eager(c.spec, c.dev);
  for (const auto& r : k.reasons) v.add(r.severity, r.code, r.text, r.source);
  if (c.sinks) add_message(&v, "hf.gptoss.eager", c.tver);
  c.iv.runs_as = "eager_attention_forward (matmul, softmax, matmul)";
  c.iv.outcome = v.supported ? (c.sinks ? "runs; sinks honoured" : "runs; S and P materialised")
                             : "fails: " + v.first_error();
  if (!c.tver.empty()) c.out() = outcome_from(v, "forward", "", "eager");
  return true;
}

bool step_sdpa(HfCase& c) {
  if (c.base != "sdpa") return false;
  Verdict& v = c.v();
  const LayerSpec& spec = c.spec;
  const std::string& tver = c.tver;
  if (!c.flags.supports_sdpa) {
    const char* code = c.model.model_type == "gpt_oss" ? "hf.gptoss.no_sdpa" : "hf.sdpa.model_unsupported";
    add_message(&v, code, tver, c.fill(c.base));
    add_message(&v, "hf.sdpa.default_falls_back", tver);
    c.iv.runs_as = "nothing (raises); with no attn_implementation given: eager";
    c.iv.outcome = "refused by " + c.cls + (c.sinks ? " (SDPA has no sink argument)" : "") +
                   "; with attn_implementation left unset transformers silently uses eager" +
                   (c.sinks ? ", which honours the sinks" : "");
    if (!tver.empty()) c.fail("load", "ValueError", code);
    return true;
  }
  // What SDPA receives from transformers: with a mask (padding, a window shorter than the keys,
  // Nq != Nk) K/V are expanded by repeat_kv; without one, enable_gqa=True (torch >= 2.5).
  LayerSpec as_called = spec;
  if (spec.softcap > 0) {
    char b[32];
    std::snprintf(b, sizeof b, "%g", spec.softcap);
    add_message(&v, "hf.sdpa.softcap_dropped", tver, {{"softcap", b}});
    as_called.softcap = 0;  // what SDPA really computes
  }
  if (spec.heads_q != spec.heads_kv) {
    std::string why;
    if (spec.mask != MaskKind::None) why = "padding/explicit mask";
    else if (spec.sliding_window > 0 && spec.seq_k > spec.sliding_window) why = "sliding window";
    else if (spec.seq_q != spec.seq_k) why = "Nq != Nk";
    std::string torchv = c.env.version("torch");
    bool old_torch = !torchv.empty() && compare_versions(torchv, "2.5") < 0;
    if (!why.empty() || old_torch) {
      int64_t e = spec.dtype == DType::F32 ? 4 : 2;
      int64_t extra = int64_t{spec.batch} * (spec.heads_q - spec.heads_kv) * spec.seq_k *
                      (spec.head_dim + spec.head_dim_v) * e;
      char b[64];
      std::snprintf(b, sizeof b, "%.1f MiB", static_cast<double>(extra) / (1 << 20));
      add_message(&v, "hf.sdpa.repeat_kv", tver,
                  {{"why", why.empty() ? "torch < 2.5 has no enable_gqa" : why},
                   {"heads", std::to_string(spec.heads_q)}, {"bytes", b}});
      as_called.heads_kv = spec.heads_q;
    } else {
      add_message(&v, "hf.sdpa.enable_gqa", tver);
    }
  }
  std::string backend;
  Verdict k = check_sdpa(as_called, c.dev, "", &backend);
  for (const auto& r : k.reasons) {
    if (r.code == "sdpa.backend") continue;
    v.add(r.severity, r.code, r.text, r.source);
  }
  // PyTorch's memory-efficient kernel takes bf16 only on sm80+ (less_than_sm80_mem_efficient_dtypes
  // = {Half, Float} in sdp_utils.cpp): on a T4/V100 bf16 SDPA lands on the math backend.
  if (backend == "efficient" && c.dev.is_gpu() && c.dev.sm() < 80 && spec.dtype == DType::BF16 &&
      !v.has("sdpa.efficient.dtype")) {
    v.add(Severity::Warning, "sdpa.efficient.dtype",
          library_text("sdpa.efficient_not_used") + " " + sdpa_efficient_bf16_text(),
          "PyTorch 2.x aten/src/ATen/native/transformers/cuda/sdp_utils.cpp (less_than_sm80_mem_efficient_dtypes)");
    v.add(Severity::Warning, "sdpa.math", library_text("sdpa.math"), "PyTorch 2.x sdp_utils.cpp");
    backend = "math";
  }
  v.add(Severity::Note, "sdpa.backend", "dispatches to the " + backend + " backend", "attnscope");
  c.iv.sdpa_backend = backend;
  c.iv.runs_as = "torch.nn.functional.scaled_dot_product_attention (" + backend + " backend)";
  c.iv.outcome = !v.supported                ? "fails: " + v.first_error()
                 : v.has(Severity::Silent) ? "runs (" + backend + " backend), but changes the result silently"
                                           : "runs; PyTorch picks the " + backend + " backend";
  if (!tver.empty()) c.out() = outcome_from(v, "forward", "RuntimeError", "sdpa");
  return true;
}

bool step_flash(HfCase& c) {
  if (c.base != "flash_attention_2" && c.base != "flash_attention_3") return false;
  Verdict& v = c.v();
  const std::string& tver = c.tver;
  const DeviceInfo& dev = c.dev;
  bool fa3 = c.base == "flash_attention_3";
  std::map<std::string, std::string> fill = c.fill(c.base);
  fill["target"] = "kernels-community/vllm-flash-attn3";
  if (!c.flags.supports_flash) {
    add_message(&v, "hf.fa2.model_unsupported", tver, fill);
    c.iv.outcome = "refused by " + c.cls;
    if (c.era && c.era->predicts) c.fail("load", "ValueError", "hf.fa2.model_unsupported", true);
    return true;
  }
  c.iv.runs_as = fa3 ? "flash_attn_interface (FlashAttention 3)" : "flash_attn.flash_attn_varlen_func / flash_attn_func";
  if (c.sinks) {
    // Three transformers eras for a sink model; with the version unknown all are listed.
    int n_drop = add_message(&v, "hf.gptoss.fa_sinks_dropped", tver);
    add_message(&v, "hf.gptoss.fa_refused", tver);
    int n_redirect = add_message(&v, "hf.gptoss.fa_redirect", tver, fill);
    if (n_redirect > 0) {
      vllm_fa3_constraints(c, tver.empty() ? "after the redirect (transformers >=5.3): " : "redirected kernel: ");
      if (!tver.empty()) c.iv.runs_as = "kernels-community/vllm-flash-attn3 (redirected)";
    }
    if (n_drop > 0 && !tver.empty()) c.iv.runs_as += " with the sinks dropped";
    if (tver.empty()) {
      c.iv.outcome = "depends on the transformers version: <5.0 runs with the sinks silently dropped; 5.0-5.2 "
                     "refuses; >=5.3 redirects to kernels-community/vllm-flash-attn3";
    }
  }
  if (!fa3) {
    std::string via;
    bool package_ok = flash_attn_package(c, &via);
    if (!via.empty()) c.iv.runs_as = via;
    if (!package_ok && c.era && c.era->predicts) predict_flash_package_failure(c);
    if (c.spec.dtype == DType::F32) add_message(&v, "hf.fa2.dtype", tver, fill);
    if (dev.is_gpu() && dev.cc_major < 8) add_message(&v, "hf.fa2.no_compute_capability_check", tver);
    if (!dev.is_gpu() && c.env.present && !c.env.torch_cuda_available && !v.has("hf.fa2.no_cuda") &&
        !v.has("hf.fa2.not_installed"))
      add_message(&v, "hf.fa2.no_cuda", tver);
    bool redirected_only = c.sinks && !tver.empty() && compare_versions(tver, "5.3") >= 0;
    bool refused_era = c.sinks && !tver.empty() && compare_versions(tver, "5.0") >= 0 && !redirected_only;
    if (!redirected_only && !refused_era)
      fa2_kernel_rules(c, c.sinks && tver.empty() ? "flash_attn kernel (transformers <5.0): " : "");
    // Loaded: what the kernel refuses, it refuses at the first forward (TORCH_CHECK raises a RuntimeError).
    if (package_ok && c.era && c.era->predicts) c.out() = outcome_from(v, "forward", "RuntimeError", c.base);
  } else {
    if (c.env.present) {
      const PyPackage* f3 = c.env.pkg("flash_attn_interface");
      const PyPackage* kern = c.env.pkg("kernels");
      if (!f3 || !f3->installed) {
        if (kern && kern->installed) {
          add_message(&v, "hf.fa2.kernels_fallback", tver, {{"kernel", "kernels-community/vllm-flash-attn3"}});
          c.iv.runs_as = "kernels-community/vllm-flash-attn3 (hub fallback)";
          vllm_fa3_constraints(c, "hub fallback: ");
        } else {
          add_message(&v, "hf.fa3.not_installed", tver);
        }
      }
    }
    if (dev.is_gpu() && dev.cc_major < 9)
      add_message(&v, "hf.fa3.arch", tver,
                  {{"major", std::to_string(dev.cc_major)}, {"minor", std::to_string(dev.cc_minor)}});
    if (!dev.is_gpu()) v.add(Severity::Error, "hf.fa3.no_gpu", kFa3NoGpu, "attnscope");
    if (c.spec.dtype == DType::F32) add_message(&v, "hf.fa3.dtype", tver, fill);
    if (c.training && c.model.attention_dropout > 0)
      add_message(&v, "hf.fa3.dropout", tver, {{"dropout", std::to_string(c.model.attention_dropout)}});
  }
  if (c.spec.sliding_window > 0 && !fa3)
    v.add(Severity::Note, "hf.fa2.window",
          "sliding window " + std::to_string(c.spec.sliding_window) +
              " is passed to flash_attn as window_size=(W-1, W-1) with causal when Nk > W (needs flash-attn "
              ">= 2.3; older builds silently attend to the whole causal prefix)",
          "transformers modeling_flash_attention_utils.py");
  if (c.iv.outcome.empty()) {
    if (v.supported && v.has(Severity::Silent)) c.iv.outcome = "runs, but changes the result silently";
    else if (v.supported) c.iv.outcome = "runs";
    else c.iv.outcome = "fails: " + v.first_error();
  }
  return true;
}

bool step_flex(HfCase& c) {
  if (c.base != "flex_attention") return false;
  Verdict& v = c.v();
  const bool predicts = c.era && c.era->predicts;
  const std::string source = "transformers >=4.48 modeling_utils.py _flex_attn_can_dispatch";
  if (!flex_load_checks(c, source, source) && v.has("hf.flex.model_unsupported")) {
    c.iv.outcome = "refused by " + c.cls;
    if (predicts) c.fail("load", "ValueError", "hf.flex.model_unsupported", true);
    return true;
  }
  v.add(Severity::Note, "hf.flex.compiled",
        "torch.nn.attention.flex_attention compiles a fused kernel for the mask (block mask) with torch.compile; "
        "attnscope has no rules of its own for it" +
            std::string(c.sinks ? ": compare what it does with the sinks against eager (attnscope run --import-run)"
                                : ""),
        "transformers integrations/flex_attention.py");
  c.iv.runs_as = "torch flex_attention (compiled)";
  c.iv.outcome = v.supported ? "runs (compiled on first use)" : "fails: " + v.first_error();
  if (predicts) {
    if (v.has("hf.flex.torch")) c.fail("load", "ImportError", "hf.flex.torch");
    else c.out() = outcome_from(v, "forward", "", "flex_attention");
  }
  return true;
}

// Hub kernels: org/repo[@rev][:func] (transformers 4.54-5.2; the version not given).
bool step_hub_kernel(HfCase& c) {
  if (!hub_pattern(c.base) || looks_like_path(c.base)) return false;
  Verdict& v = c.v();
  c.iv.runs_as = "hub kernel " + c.base + " (loaded with the kernels package)";
  add_message(&v, "hf.attn.hub_kernel", c.tver, c.fill(c.base));
  if (c.env.present) {
    const PyPackage* kern = c.env.pkg("kernels");
    if (!kern || !kern->installed) add_message(&v, "hub.needs_kernels", "");
  }
  std::string repo = c.base.substr(0, c.base.find_first_of("@:"));
  if (repo == "kernels-community/vllm-flash-attn3") {
    vllm_fa3_constraints(c, "");
  } else if (repo == "kernels-community/flash-attn2" || repo == "kernels-community/flash-attn") {
    fa2_kernel_rules(c, "");
    if (c.sinks) add_message(&v, "fa.no_sinks", "");
  } else {
    v.add(Severity::Note, "hub.unknown", kHubUnknown, "attnscope");
  }
  c.iv.outcome = v.supported ? (v.has(Severity::Silent) ? "runs, but changes the result silently" : "runs")
                             : "fails: " + v.first_error();
  return true;
}

// Not a registered name nor a hub kernel: what transformers says about the string itself.
bool step_not_a_name(HfCase& c) {
  AttnImplCheck chk = check_attn_implementation(c.name, c.model, c.spec, c.dev, c.env);
  c.iv.verdict = chk.verdict;
  c.iv.runs_as = chk.resolves_to;
  c.iv.outcome = chk.kind == "path" ? "refused: a filesystem path is not an attention name"
                                    : "refused: not a registered attention name";
  return true;
}

// ---- transformers >= 5.3: _check_and_adjust_attn_implementation step by step ---------------------------

bool step_v5_gemma2_training(HfCase& c) {
  if (c.model.model_type == "gemma2" && c.training)
    add_message(&c.v(), "hf.gemma2.train_eager", c.tver, c.fill(c.name));
  return false;
}

// 1. Models with _compatible_flash_implementations swap any name containing "flash" for the first of them.
bool step_v5_compatible_flash(HfCase& c) {
  const std::vector<std::string> compat = compatible_flash(c.model.model_type, c.tver);
  if (!compat.empty() && c.base.find("flash") != std::string::npos &&
      std::find(compat.begin(), compat.end(), c.base) == compat.end()) {
    std::string target = c.paged ? "paged|" + compat[0] : compat[0];
    add_message(&c.v(), "hf.gptoss.fa_redirect", c.tver, {{"name", c.name}, {"target", target}});
    c.rename(target);
  }
  return false;
}

// 2. flash_attention_N without its package: with `kernels` installed, the hub build instead.
bool step_v5_flash_package(HfCase& c) {
  if (c.base == "flash_attention_2") c.fa = 2;
  if (c.base == "flash_attention_3") c.fa = 3;
  if (c.base == "flash_attention_4") c.fa = 4;
  const PyPackage* kern = c.env.pkg("kernels");
  c.krange = kernels_range(c.tver, &c.klo, &c.khi);
  c.kernels_ok = kern && kern->installed && kern->import_error.empty() &&
                 (!c.krange ||
                  (compare_versions(kern->version, c.klo) >= 0 && compare_versions(kern->version, c.khi) < 0));
  if (c.fa == 2) {
    const PyPackage* p = c.env.pkg("flash_attn");
    c.pkg_ok = p && p->installed;
  } else if (c.fa == 3) {
    const PyPackage* p = c.env.pkg("flash_attn_interface");
    c.pkg_ok = p && p->installed;
  }
  if (c.fa == 4) {
    c.v().add(Severity::Note, "hf.fa4.unmodelled",
              "attnscope has no rules for flash_attention_4 (its package and device checks are not modelled): "
              "compare it against eager with attnscope run --import-run",
              "attnscope");
    c.iv.outcome = "not modelled by attnscope";
    return true;
  }
  c.requested_original = c.fa != 0 && !c.pkg_ok;
  c.applicable = c.attn;
  if (c.flags.supports_flash && c.requested_original && c.kernels_ok) {
    c.applicable = c.fa == 2 ? "kernels-community/flash-attn2" : "kernels-community/vllm-flash-attn3";
    if (c.paged) c.applicable = "paged|" + c.applicable;
  }
  return false;
}

namespace {

// The _flash_attn_can_dispatch checks, in order; false when one raises.
bool v5_flash_dispatch_checks(HfCase& c) {
  Verdict& v = c.v();
  const std::string& tver = c.tver;
  std::map<std::string, std::string> fill = c.fill(c.name);
  if (!c.flags.supports_flash) {
    add_message(&v, "hf.fa2.model_unsupported", tver, fill);
    c.fail("load", "ValueError", "hf.fa2.model_unsupported");
    return false;
  }
  const char* nc = c.fa == 2 ? "hf.fa2.not_installed" : "hf.fa3.not_installed";
  if (!c.pkg_ok) {
    add_message(&v, nc, tver);
    c.fail("load", "ImportError", nc);
    return false;
  }
  if (c.fa == 2) {
    const PyPackage* p = c.env.pkg("flash_attn");
    if (!p->version.empty() && compare_versions(p->version, "2.3.3") < 0) {
      add_message(&v, "hf.fa2.too_old", tver);
      c.fail("load", "ImportError", "hf.fa2.too_old");
      return false;
    }
    if (!p->import_error.empty()) {
      std::string torchv = c.env.version("torch");
      bool sym = p->import_error.find("undefined symbol") != std::string::npos;
      if (sym)
        add_message(&v, "fa.undefined_symbol", "",
                    {{"error", p->import_error}, {"torch", torchv.empty() ? "?" : torchv},
                     {"cuda", c.env.torch_cuda.empty() ? "?" : c.env.torch_cuda}});
      else
        add_message(&v, "fa.import_error", "", {{"error", p->import_error}});
      c.fail("load", "ImportError", sym ? "fa.undefined_symbol" : "fa.import_error", true);
      return false;
    }
  }
  if (!c.env.torch_cuda_available && !c.dev.is_gpu()) {
    if (c.fa == 2) {
      add_message(&v, "hf.fa2.no_cuda", tver);
      c.fail("load", "ImportError", "hf.fa2.no_cuda", true);
    } else {
      v.add(Severity::Error, "hf.fa3.no_gpu", kFa3NoGpu, "attnscope");
      c.fail("load", "ImportError", "hf.fa3.no_gpu", true);
    }
    return false;
  }
  if (c.fa == 3 && c.dev.is_gpu() && c.dev.cc_major < 9) {
    add_message(&v, "hf.fa3.arch", tver,
                {{"major", std::to_string(c.dev.cc_major)}, {"minor", std::to_string(c.dev.cc_minor)}});
    c.fail("load", "ImportError", "hf.fa3.arch");
    return false;
  }
  if (c.fa == 3 && c.model.attention_dropout > 0) add_message(&v, "hf.fa3.dropout", tver);
  if (c.spec.dtype == DType::F32) add_message(&v, c.fa == 2 ? "hf.fa2.dtype" : "hf.fa3.dtype", tver, fill);
  return true;
}

}  // namespace

// 3. Hub kernels are imported at load (lazy_import_flash_attention caches the name before importing).
bool step_v5_hub_kernel(HfCase& c) {
  if (!is_kernel_v5(c.applicable)) return false;
  Verdict& v = c.v();
  const std::string& applicable = c.applicable;
  c.out().lazy_kernel = applicable;
  c.iv.runs_as = "hub kernel " + applicable + " (loaded with the kernels package)";
  if (!c.kernels_ok) {
    if (c.requested_original) {
      v5_flash_dispatch_checks(c);  // the kernel import failed: transformers raises the package error instead
      c.iv.outcome = "fails at load: " + v.first_error();
      return true;
    }
    add_message(&v, "hf.kernels.missing", c.tver,
                {{"kernels_range", c.krange ? c.klo + " <= version < " + c.khi : "..."},
                 {"kernels_min", c.krange ? c.klo : "..."}});
    c.fail("load", "ImportError", "hf.kernels.missing", !c.krange);
    const PyPackage* kern = c.env.pkg("kernels");
    if (kern && kern->installed && c.krange)
      v.add(Severity::Note, "hf.kernels.version",
            "kernels " + kern->version + " is installed, outside the range this transformers pins (" + c.klo +
                " <= version < " + c.khi + ")",
            "attnscope (from --env)");
    // A second from_pretrained in the same process skips the import (the name is already cached), loads,
    // and the first forward finds nothing registered under it.
    HfOutcome again;
    again.stage = "forward";
    again.exception = "KeyError";
    again.code = "hf.attn.not_registered";
    again.resolved = applicable;
    again.lazy_kernel = applicable;
    c.iv.retried = again;
    v.add(Severity::Note, "hf.attn.retry",
          "a second from_pretrained with this name in the same Python process (a re-run notebook cell, a retry "
          "loop) loads without error: lazy_import_flash_attention cached the name before the failed import; the "
          "first forward then raises the KeyError below",
          "transformers modeling_flash_attention_utils.py lazy_import_flash_attention (_loaded_implementation)");
    add_message(&v, "hf.attn.not_registered", c.tver, {{"name", applicable}});
    v.reasons.back().severity = Severity::Note;  // only on the retry
    c.iv.outcome = "fails at load: the `kernels` package is missing or outside the range this transformers pins (a "
                   "retry in the same process loads and fails at the first forward)";
    return true;
  }
  if (c.requested_original) add_message(&v, "hf.fa2.kernels_fallback", c.tver, {{"kernel", applicable}});
  std::string repo = applicable.substr(c.paged ? 6 : 0);
  repo = repo.substr(0, repo.find_first_of("@:"));
  if (repo.rfind("kernels-community/", 0) != 0)
    v.add(Severity::Note, "hf.kernels.unverified",
          "a kernel outside kernels-community/ is loaded only with allow_all_kernels=True (set_attn_implementation / "
          "from_pretrained)",
          "transformers _check_and_adjust_attn_implementation allow_all_kernels");
  if (repo == "kernels-community/vllm-flash-attn3") vllm_fa3_constraints(c, "");
  else if (repo == "kernels-community/flash-attn2") {
    fa2_kernel_rules(c, "");
    if (c.sinks) add_message(&v, "fa.no_sinks", "");
  } else
    v.add(Severity::Note, "hub.unknown", kHubUnknown, "attnscope");
  c.out() = outcome_from(v, "forward", "", applicable);
  c.out().lazy_kernel = applicable;
  return false;  // the paged| step still applies
}

// 4. get_correct_attn_implementation: registered names only.
bool step_v5_registered(HfCase& c) {
  if (is_kernel_v5(c.applicable)) return false;  // a hub kernel, judged above
  static const std::vector<std::string> valid = {"eager",
                                                 "paged|eager",
                                                 "sdpa",
                                                 "paged|sdpa",
                                                 "flash_attention_2",
                                                 "paged|flash_attention_2",
                                                 "flash_attention_3",
                                                 "paged|flash_attention_3",
                                                 "flash_attention_4",
                                                 "paged|flash_attention_4",
                                                 "flex_attention"};
  if (std::find(valid.begin(), valid.end(), c.applicable) != valid.end()) return false;
  add_message(&c.v(), "hf.attn.unknown", c.tver, {{"name", c.applicable}, {"accepted5", accepted_list5(c.flags)}});
  c.fail("load", "ValueError", "hf.attn.unknown");
  c.iv.runs_as = "nothing: loading fails";
  c.iv.outcome = "fails at load: not a registered attention name";
  return true;
}

// 5. The flash packages' dispatch checks, then the kernel at the first forward.
bool step_v5_flash_dispatch(HfCase& c) {
  if (is_kernel_v5(c.applicable) || c.fa == 0) return false;
  Verdict& v = c.v();
  if (!v5_flash_dispatch_checks(c)) {
    c.iv.outcome = "fails at load: " + v.first_error();
    return true;
  }
  c.out().lazy_kernel = c.applicable;  // lazy_import_flash_attention(applicable) imports the package now
  c.iv.runs_as =
      c.fa == 3 ? "flash_attn_interface (FlashAttention 3)" : "flash_attn.flash_attn_varlen_func / flash_attn_func";
  if (c.fa == 2) {
    fa2_kernel_rules(c, "");
    if (c.sinks) add_message(&v, "fa.no_sinks", "");
  }
  c.out() = outcome_from(v, "forward", "", c.applicable);
  c.out().lazy_kernel = c.applicable;
  return false;
}

bool step_v5_flex(HfCase& c) {
  if (is_kernel_v5(c.applicable) || c.base != "flex_attention") return false;
  Verdict& v = c.v();
  if (!flex_load_checks(c, "transformers modeling_utils.py _flex_attn_can_dispatch (the message goes on)",
                        "transformers modeling_utils.py _flex_attn_can_dispatch")) {
    bool model = v.has("hf.flex.model_unsupported");
    c.fail("load", model ? "ValueError" : "ImportError", model ? "hf.flex.model_unsupported" : "hf.flex.torch", model);
    return true;
  }
  std::string torchv = c.env.version("torch");
  c.iv.runs_as = "torch flex_attention (compiled)";
  if (c.sinks) {
    if (!torchv.empty() && compare_versions(torchv, "2.11") >= 0) {
      add_message(&v, "hf.gptoss.flex_inductor", c.tver);
    } else {
      v.add(Severity::Warning, "hf.gptoss.flex_untested",
            "GPT-OSS with flex_attention failed at the first forward with torch 2.11.0 / transformers 5.17.0 "
            "(InductorError NoValidChoicesError, recorded on H100); this torch (" +
                (torchv.empty() ? std::string("version unknown") : torchv) + ") is untested",
            "attnscope ground truth (tests/fixtures/device_h100)");
    }
  }
  c.out() = outcome_from(v, "forward", "InductorError", "flex_attention");
  c.out().prefix_only = c.out().stage == "forward";
  return false;
}

// eager / sdpa (paged| variants): the eager and sdpa verdicts of every release apply at load.
bool step_v5_eager_sdpa(HfCase& c) {
  if (is_kernel_v5(c.applicable) || c.fa != 0 || c.base == "flex_attention") return false;
  ImplVerdict plain = hf_verdict(c.base, c.model, c.spec, c.dev, c.env, c.training);
  for (const auto& r : plain.verdict.reasons) c.v().add(r.severity, r.code, r.text, r.source);
  c.iv.runs_as = plain.runs_as;
  c.iv.sdpa_backend = plain.sdpa_backend;
  c.out() = plain.predicted;
  if (c.out().stage == "runs") c.out().resolved = c.applicable;
  return false;
}

// 6. paged| implementations need continuous batching's cache: a plain forward raises. Then the outcome.
bool step_v5_paged(HfCase& c) {
  Verdict& v = c.v();
  HfOutcome& out = c.out();
  if (c.paged && out.stage == "runs") {
    add_message(&v, "hf.paged.no_cache", c.tver, {{"name", c.applicable}, {"base", c.base}});
    out.stage = "forward";
    out.exception = "ValueError";
    out.code = "hf.paged.no_cache";
  }
  if (c.iv.outcome.empty()) {
    if (out.stage == "runs") c.iv.outcome = v.has(Severity::Silent) ? "runs, but changes the result silently" : "runs";
    else if (out.stage == "forward") c.iv.outcome = "loads; the first forward fails: " + v.first_error();
    else c.iv.outcome = "fails at load: " + v.first_error();
  }
  return true;
}

}  // namespace attnscope::hf
