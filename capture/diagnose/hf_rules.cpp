// What transformers does with each attention name (eager, sdpa, flash_attention_2/3, flex, paged|,
// hub kernels, strings that are none of these), release by release.
#include "capture/diagnose/hf_rules.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <map>
#include <regex>

#include "capture/diagnose/messages.h"
#include "kernels/implementation.h"

namespace attnscope {

const std::vector<std::string>& hf_attention_names() {
  // ALL_ATTENTION_FUNCTIONS' registered keys plus "eager" (transformers 4.48+; paged| variants 4.54+).
  static const std::vector<std::string> n = {"eager",
                                             "sdpa",
                                             "flash_attention_2",
                                             "flash_attention_3",
                                             "flex_attention",
                                             "paged|eager",
                                             "paged|sdpa",
                                             "paged|flash_attention_2",
                                             "kernels-community/<repo> (hub kernel: org/repo[@rev][:func])"};
  return n;
}

namespace {

std::string torch_dtype_name(DType d) {
  switch (d) {
    case DType::F32: return "torch.float32";
    case DType::F16: return "torch.float16";
    case DType::BF16: return "torch.bfloat16";
  }
  return "?";
}

}  // namespace

// ---- transformers' names --------------------------------------------------------------------------

namespace {

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



// The flash_attn package state from --env, in _flash_attn_2_can_dispatch's order. Returns true
// when the package path is usable (or unknown).
bool flash_attn_package(Verdict& v, const PyEnv& env, const std::string& tver, const DeviceInfo& dev,
                        const HfModelFlags& flags, std::string* runs_as) {
  if (!env.present) {
    v.add(Severity::Note, "hf.fa2.package_unknown",
          "whether flash_attn is installed (and imports) is unknown: record the environment with "
          "scripts/attnscope-env.py and pass --env",
          "attnscope");
    return true;
  }
  const PyPackage* fa = env.pkg("flash_attn");
  const PyPackage* kern = env.pkg("kernels");
  bool kernels_ok = kern && kern->installed && kern->import_error.empty();
  if (!fa || !fa->installed) {
    if (kernels_ok && flags.supports_flash && (tver.empty() || compare_versions(tver, "4.56") >= 0)) {
      add_message(&v, "hf.fa2.kernels_fallback", tver, {{"kernel", "kernels-community/flash-attn2"}});
      *runs_as = "kernels-community/flash-attn2 (hub build of FA2)";
      return true;
    }
    add_message(&v, "hf.fa2.not_installed", tver);
    return false;
  }
  if (env.torch_cuda.empty() && !dev.is_gpu()) {
    // A CPU-only torch build: is_flash_attn_2_available() is False but no branch of the package
    // check raises; the device check after loading does.
    add_message(&v, "hf.fa2.no_gpu_at_all", tver);
    return false;
  }
  if (compare_versions(fa->version, "2.1.0") < 0) {
    add_message(&v, "hf.fa2.too_old", tver, {{"version", fa->version}});
    return false;
  }
  if (!env.torch_cuda_available && !dev.is_gpu()) {
    add_message(&v, "hf.fa2.no_cuda", tver);
    return false;
  }
  if (!fa->import_error.empty()) {
    std::string torchv = env.version("torch");
    if (fa->import_error.find("undefined symbol") != std::string::npos)
      add_message(&v, "fa.undefined_symbol", "",
                  {{"error", fa->import_error}, {"torch", torchv.empty() ? "?" : torchv},
                   {"cuda", env.torch_cuda.empty() ? "?" : env.torch_cuda}});
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

void vllm_fa3_constraints(Verdict& v, const LayerSpec& spec, const DeviceInfo& dev, bool training,
                          const std::string& prefix) {
  Verdict h;
  if (dev.is_gpu() && dev.sm() != 90)
    add_message(&h, "hub.vllm_fa3.arch", "", {{"sm", std::to_string(dev.sm())}});
  if (!dev.is_gpu())
    h.add(Severity::Error, "hub.vllm_fa3.no_gpu", "needs a Hopper GPU; none is known (pass --gpu H100 or run on one)",
          "attnscope");
  if (spec.dtype != DType::BF16) add_message(&h, "hub.vllm_fa3.dtype", "", {{"dtype", dtype_name(spec.dtype)}});
  if (spec.heads_q > 64) add_message(&h, "hub.vllm_fa3.heads", "", {{"heads", std::to_string(spec.heads_q)}});
  if (spec.sinks) add_message(&h, "hub.vllm_fa3.sinks", "");
  if (spec.sinks && training) add_message(&h, "hub.vllm_fa3.no_sink_backward", "");
  for (auto& r : h.reasons) v.add(r.severity, r.code, prefix + r.text, r.source);
}

// FA2 kernel rules as the flash_attn kernel applies them inside HF (sinks handled by the caller).
void fa2_kernel_rules(Verdict& v, const LayerSpec& spec, const DeviceInfo& dev, const std::string& prefix) {
  LayerSpec s = spec;
  s.sinks = false;
  Verdict k = check_flash2(s, dev);
  for (const auto& r : k.reasons) {
    if (r.code == "cpu.emulation" || r.code == "flash2.oom") continue;
    v.add(r.severity, r.code, prefix + r.text, r.source);
  }
}

// ---- transformers 5.x (>= 5.3, approximate): _check_and_adjust_attn_implementation step by step ---------

bool hf_v5(const std::string& tver) { return !tver.empty() && compare_versions(tver, "5.3") >= 0; }

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

// One attention name as transformers >= 5.3 treats it, in the order of _check_and_adjust_attn_implementation,
// then the first forward. Reasons are added in the order transformers meets them; predicted.code names the one
// whose text is the message of the exception that ends the run.
ImplVerdict hf_verdict_v5(const std::string& name_in, const ModelInfo& model, const LayerSpec& spec,
                          const DeviceInfo& dev, const PyEnv& env, bool training) {
  ImplVerdict iv;
  iv.level = "transformers";
  iv.name = name_in;
  Verdict& v = iv.verdict;
  HfOutcome& out = iv.predicted;
  const std::string tver = env.version("transformers");
  const HfModelFlags flags = hf_model_flags(model.model_type);
  const std::string cls = model.hf_class.empty() ? "the model class" : model.hf_class;
  const bool sinks = spec.sinks || flags.sinks;
  auto split = [](const std::string& s, std::string* base) {
    bool paged = s.rfind("paged|", 0) == 0;
    *base = paged ? s.substr(6) : s;
    return paged;
  };
  auto fail = [&](const std::string& stage, const std::string& exception, const std::string& code, bool prefix = false) {
    out.stage = stage;
    out.exception = exception;
    out.code = code;
    out.prefix_only = prefix;
  };
  std::map<std::string, std::string> fill = {{"cls", cls}, {"dtype", torch_dtype_name(spec.dtype)}, {"name", name_in}};
  if (model.model_type == "gemma2" && training) add_message(&v, "hf.gemma2.train_eager", tver, fill);

  // 1. Models with _compatible_flash_implementations swap any name containing "flash" for the first of them.
  std::string attn = name_in, base;
  bool paged = split(attn, &base);
  const std::vector<std::string> compat = compatible_flash(model.model_type, tver);
  if (!compat.empty() && base.find("flash") != std::string::npos &&
      std::find(compat.begin(), compat.end(), base) == compat.end()) {
    std::string target = paged ? "paged|" + compat[0] : compat[0];
    add_message(&v, "hf.gptoss.fa_redirect", tver, {{"name", name_in}, {"target", target}});
    attn = target;
    paged = split(attn, &base);
  }

  // 2. flash_attention_N without its package: with `kernels` installed, the hub build instead.
  int fa = 0;
  if (base == "flash_attention_2") fa = 2;
  if (base == "flash_attention_3") fa = 3;
  if (base == "flash_attention_4") fa = 4;
  const PyPackage* kern = env.pkg("kernels");
  std::string klo, khi;
  bool krange = kernels_range(tver, &klo, &khi);
  bool kernels_ok = kern && kern->installed && kern->import_error.empty() &&
                    (!krange || (compare_versions(kern->version, klo) >= 0 && compare_versions(kern->version, khi) < 0));
  bool pkg_ok = false;
  if (fa == 2) {
    const PyPackage* p = env.pkg("flash_attn");
    pkg_ok = p && p->installed;
  } else if (fa == 3) {
    const PyPackage* p = env.pkg("flash_attn_interface");
    pkg_ok = p && p->installed;
  }
  if (fa == 4) {
    v.add(Severity::Note, "hf.fa4.unmodelled",
          "attnscope has no rules for flash_attention_4 (its package and device checks are not modelled): compare it "
          "against eager with attnscope run --import-run",
          "attnscope");
    iv.outcome = "not modelled by attnscope";
    return iv;
  }
  bool requested_original = fa != 0 && !pkg_ok;
  std::string applicable = attn;
  if (flags.supports_flash && requested_original && kernels_ok) {
    applicable = fa == 2 ? "kernels-community/flash-attn2" : "kernels-community/vllm-flash-attn3";
    if (paged) applicable = "paged|" + applicable;
  }

  // The _flash_attn_can_dispatch checks, in order; false when one raises.
  auto fa_dispatch = [&]() -> bool {
    if (!flags.supports_flash) {
      fill["path"] = model.source.empty() ? "<model>" : model.source;
      add_message(&v, "hf.fa2.model_unsupported", tver, fill);
      fail("load", "ValueError", "hf.fa2.model_unsupported");
      return false;
    }
    const char* nc = fa == 2 ? "hf.fa2.not_installed" : "hf.fa3.not_installed";
    if (!pkg_ok) {
      add_message(&v, nc, tver);
      fail("load", "ImportError", nc);
      return false;
    }
    if (fa == 2) {
      const PyPackage* p = env.pkg("flash_attn");
      if (!p->version.empty() && compare_versions(p->version, "2.3.3") < 0) {
        add_message(&v, "hf.fa2.too_old", tver);
        fail("load", "ImportError", "hf.fa2.too_old");
        return false;
      }
      if (!p->import_error.empty()) {
        std::string torchv = env.version("torch");
        bool sym = p->import_error.find("undefined symbol") != std::string::npos;
        if (sym)
          add_message(&v, "fa.undefined_symbol", "",
                      {{"error", p->import_error}, {"torch", torchv.empty() ? "?" : torchv},
                       {"cuda", env.torch_cuda.empty() ? "?" : env.torch_cuda}});
        else
          add_message(&v, "fa.import_error", "", {{"error", p->import_error}});
        fail("load", "ImportError", sym ? "fa.undefined_symbol" : "fa.import_error", true);
        return false;
      }
    }
    if (!env.torch_cuda_available && !dev.is_gpu()) {
      if (fa == 2) {
        add_message(&v, "hf.fa2.no_cuda", tver);
        fail("load", "ImportError", "hf.fa2.no_cuda", true);
      } else {
        v.add(Severity::Error, "hf.fa3.no_gpu", "FlashAttention 3 needs a Hopper (sm90) GPU; none is known",
              "attnscope");
        fail("load", "ImportError", "hf.fa3.no_gpu", true);
      }
      return false;
    }
    if (fa == 3 && dev.is_gpu() && dev.cc_major < 9) {
      add_message(&v, "hf.fa3.arch", tver,
                  {{"major", std::to_string(dev.cc_major)}, {"minor", std::to_string(dev.cc_minor)}});
      fail("load", "ImportError", "hf.fa3.arch");
      return false;
    }
    if (fa == 3 && model.attention_dropout > 0) add_message(&v, "hf.fa3.dropout", tver);
    if (spec.dtype == DType::F32) add_message(&v, fa == 2 ? "hf.fa2.dtype" : "hf.fa3.dtype", tver, fill);
    return true;
  };

  // 3. Hub kernels are imported at load (lazy_import_flash_attention caches the name before importing).
  if (is_kernel_v5(applicable)) {
    out.lazy_kernel = applicable;
    iv.runs_as = "hub kernel " + applicable + " (loaded with the kernels package)";
    if (!kernels_ok) {
      if (requested_original) {
        fa_dispatch();  // the kernel import failed: transformers raises the package error instead
        iv.outcome = "fails at load: " + v.first_error();
        return iv;
      }
      add_message(&v, "hf.kernels.missing", tver,
                  {{"kernels_range", krange ? klo + " <= version < " + khi : "..."},
                   {"kernels_min", krange ? klo : "..."}});
      fail("load", "ImportError", "hf.kernels.missing", !krange);
      if (kern && kern->installed && krange)
        v.add(Severity::Note, "hf.kernels.version",
              "kernels " + kern->version + " is installed, outside the range this transformers pins (" + klo +
                  " <= version < " + khi + ")",
              "attnscope (from --env)");
      // A second from_pretrained in the same process skips the import (the name is already cached), loads,
      // and the first forward finds nothing registered under it.
      HfOutcome again;
      again.stage = "forward";
      again.exception = "KeyError";
      again.code = "hf.attn.not_registered";
      again.resolved = applicable;
      again.lazy_kernel = applicable;
      iv.retried = again;
      v.add(Severity::Note, "hf.attn.retry",
            "a second from_pretrained with this name in the same Python process (a re-run notebook cell, a retry "
            "loop) loads without error: lazy_import_flash_attention cached the name before the failed import; the "
            "first forward then raises the KeyError below",
            "transformers modeling_flash_attention_utils.py lazy_import_flash_attention (_loaded_implementation)");
      add_message(&v, "hf.attn.not_registered", tver, {{"name", applicable}});
      v.reasons.back().severity = Severity::Note;  // only on the retry
      iv.outcome = "fails at load: the `kernels` package is missing or outside the range this transformers pins (a "
                   "retry in the same process loads and fails at the first forward)";
      return iv;
    }
    if (requested_original) add_message(&v, "hf.fa2.kernels_fallback", tver, {{"kernel", applicable}});
    std::string repo = applicable.substr(paged ? 6 : 0);
    repo = repo.substr(0, repo.find_first_of("@:"));
    if (repo.rfind("kernels-community/", 0) != 0)
      v.add(Severity::Note, "hf.kernels.unverified",
            "a kernel outside kernels-community/ is loaded only with allow_all_kernels=True (set_attn_implementation / "
            "from_pretrained)",
            "transformers _check_and_adjust_attn_implementation allow_all_kernels");
    if (repo == "kernels-community/vllm-flash-attn3") vllm_fa3_constraints(v, spec, dev, training, "");
    else if (repo == "kernels-community/flash-attn2") {
      fa2_kernel_rules(v, spec, dev, "");
      if (sinks) add_message(&v, "fa.no_sinks", "");
    } else
      v.add(Severity::Note, "hub.unknown",
            "attnscope has no rules for this hub kernel: it checks the name only; compare its output against eager "
            "with attnscope run --import-run",
            "attnscope");
    out = outcome_from(v, "forward", "", applicable);
    out.lazy_kernel = applicable;
  } else {
    // 4. get_correct_attn_implementation: registered names only, then the per-name dispatch checks.
    static const std::vector<std::string> valid = {"eager", "paged|eager", "sdpa", "paged|sdpa",
                                                   "flash_attention_2", "paged|flash_attention_2",
                                                   "flash_attention_3", "paged|flash_attention_3",
                                                   "flash_attention_4", "paged|flash_attention_4",
                                                   "flex_attention"};
    if (std::find(valid.begin(), valid.end(), applicable) == valid.end()) {
      add_message(&v, "hf.attn.unknown", tver, {{"name", applicable}, {"accepted5", accepted_list5(flags)}});
      fail("load", "ValueError", "hf.attn.unknown");
      iv.runs_as = "nothing: loading fails";
      iv.outcome = "fails at load: not a registered attention name";
      return iv;
    }
    if (fa != 0) {
      if (!fa_dispatch()) {
        iv.outcome = "fails at load: " + v.first_error();
        return iv;
      }
      out.lazy_kernel = applicable;  // lazy_import_flash_attention(applicable) imports the package now
      iv.runs_as = fa == 3 ? "flash_attn_interface (FlashAttention 3)" : "flash_attn.flash_attn_varlen_func / flash_attn_func";
      if (fa == 2) {
        fa2_kernel_rules(v, spec, dev, "");
        if (sinks) add_message(&v, "fa.no_sinks", "");
      }
      out = outcome_from(v, "forward", "", applicable);
      out.lazy_kernel = applicable;
    } else if (base == "flex_attention") {
      if (!flags.supports_flex) {
        v.add(Severity::Error, "hf.flex.model_unsupported",
              library_text("hf.flex.model_unsupported", {{"cls", cls}}),
              "transformers modeling_utils.py _flex_attn_can_dispatch (the message goes on)");
        fail("load", "ValueError", "hf.flex.model_unsupported", true);
        return iv;
      }
      std::string torchv = env.version("torch");
      if (!torchv.empty() && compare_versions(torchv, "2.5") < 0) {
        v.add(Severity::Error, "hf.flex.torch",
              library_text("hf.flex.torch"),
              "transformers modeling_utils.py _flex_attn_can_dispatch [torch " + torchv + "]");
        fail("load", "ImportError", "hf.flex.torch");
        return iv;
      }
      iv.runs_as = "torch flex_attention (compiled)";
      if (sinks) {
        if (!torchv.empty() && compare_versions(torchv, "2.11") >= 0) {
          add_message(&v, "hf.gptoss.flex_inductor", tver);
        } else {
          v.add(Severity::Warning, "hf.gptoss.flex_untested",
                "GPT-OSS with flex_attention failed at the first forward with torch 2.11.0 / transformers 5.17.0 "
                "(InductorError NoValidChoicesError, recorded on H100); this torch (" +
                    (torchv.empty() ? std::string("version unknown") : torchv) + ") is untested",
                "attnscope ground truth (tests/fixtures/device_h100)");
        }
      }
      out = outcome_from(v, "forward", "InductorError", "flex_attention");
      out.prefix_only = out.stage == "forward";
    } else {
      // eager / sdpa (paged| variants): the eager and sdpa verdicts of the caller apply at load.
      ImplVerdict plain = hf_verdict(base, model, spec, dev, env, training);
      for (const auto& r : plain.verdict.reasons) v.add(r.severity, r.code, r.text, r.source);
      iv.runs_as = plain.runs_as;
      iv.sdpa_backend = plain.sdpa_backend;
      out = plain.predicted;
      if (out.stage == "runs") out.resolved = applicable;
    }
  }
  // 5. paged| implementations need continuous batching's cache: a plain forward raises.
  if (paged && out.stage == "runs") {
    add_message(&v, "hf.paged.no_cache", tver, {{"name", applicable}, {"base", base}});
    out.stage = "forward";
    out.exception = "ValueError";
    out.code = "hf.paged.no_cache";
  }
  if (iv.outcome.empty()) {
    if (out.stage == "runs")
      iv.outcome = v.has(Severity::Silent) ? "runs, but changes the result silently" : "runs";
    else if (out.stage == "forward")
      iv.outcome = "loads; the first forward fails: " + v.first_error();
    else
      iv.outcome = "fails at load: " + v.first_error();
  }
  return iv;
}

}  // namespace

ImplVerdict hf_verdict(const std::string& name_in, const ModelInfo& model, const LayerSpec& spec,
                       const DeviceInfo& dev, const PyEnv& env, bool training) {
  ImplVerdict iv;
  iv.level = "transformers";
  iv.name = name_in;
  std::string name = name_in;
  if (name.rfind("paged|", 0) == 0) name = name.substr(6);
  const std::string tver = env.version("transformers");
  HfModelFlags flags = hf_model_flags(model.model_type);
  const std::string cls = model.hf_class.empty() ? "the model class" : model.hf_class;
  Verdict& v = iv.verdict;
  if (hf_v5(tver) && name_in != "eager" && name_in != "sdpa")
    return hf_verdict_v5(name_in, model, spec, dev, env, training);
  std::map<std::string, std::string> fill = {{"cls", cls},
                                             {"path", model.source.empty() ? "<model>" : model.source},
                                             {"name", name},
                                             {"target", "kernels-community/vllm-flash-attn3"},
                                             {"dtype", torch_dtype_name(spec.dtype)}};
  bool sinks = spec.sinks || flags.sinks;

  if (model.model_type == "gemma2" && name != "eager" && training)
    add_message(&v, "hf.gemma2.train_eager", tver, fill);

  if (name == "eager") {
    Verdict k = check_eager(spec, dev);
    for (const auto& r : k.reasons) v.add(r.severity, r.code, r.text, r.source);
    if (sinks) add_message(&v, "hf.gptoss.eager", tver);
    iv.runs_as = "eager_attention_forward (matmul, softmax, matmul)";
    iv.outcome = v.supported ? (sinks ? "runs; sinks honoured" : "runs; S and P materialised")
                             : "fails: " + v.first_error();
    if (!tver.empty()) iv.predicted = outcome_from(v, "forward", "", "eager");
    return iv;
  }

  if (name == "sdpa") {
    if (!flags.supports_sdpa) {
      add_message(&v, model.model_type == "gpt_oss" ? "hf.gptoss.no_sdpa" : "hf.sdpa.model_unsupported", tver, fill);
      add_message(&v, "hf.sdpa.default_falls_back", tver);
      iv.runs_as = "nothing (raises); with no attn_implementation given: eager";
      iv.outcome = "refused by " + cls + (sinks ? " (SDPA has no sink argument)" : "") +
                   "; with attn_implementation left unset transformers silently uses eager" +
                   (sinks ? ", which honours the sinks" : "");
      if (!tver.empty()) {
        iv.predicted.stage = "load";
        iv.predicted.exception = "ValueError";
        iv.predicted.code = model.model_type == "gpt_oss" ? "hf.gptoss.no_sdpa" : "hf.sdpa.model_unsupported";
      }
      return iv;
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
      std::string torchv = env.version("torch");
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
    Verdict k = check_sdpa(as_called, dev, "", &backend);
    for (const auto& r : k.reasons) {
      if (r.code == "sdpa.backend") continue;
      v.add(r.severity, r.code, r.text, r.source);
    }
    // PyTorch's memory-efficient kernel takes bf16 only on sm80+ (less_than_sm80_mem_efficient_dtypes
    // = {Half, Float} in sdp_utils.cpp): on a T4/V100 bf16 SDPA lands on the math backend.
    if (backend == "efficient" && dev.is_gpu() && dev.sm() < 80 && spec.dtype == DType::BF16 &&
        !v.has("sdpa.efficient.dtype")) {
      v.add(Severity::Warning, "sdpa.efficient.dtype",
            library_text("sdpa.efficient_not_used") + " " + sdpa_efficient_bf16_text(),
            "PyTorch 2.x aten/src/ATen/native/transformers/cuda/sdp_utils.cpp (less_than_sm80_mem_efficient_dtypes)");
      v.add(Severity::Warning, "sdpa.math", library_text("sdpa.math"), "PyTorch 2.x sdp_utils.cpp");
      backend = "math";
    }
    v.add(Severity::Note, "sdpa.backend", "dispatches to the " + backend + " backend", "attnscope");
    iv.sdpa_backend = backend;
    iv.runs_as = "torch.nn.functional.scaled_dot_product_attention (" + backend + " backend)";
    iv.outcome = !v.supported ? "fails: " + v.first_error()
                 : v.has(Severity::Silent) ? "runs (" + backend + " backend), but changes the result silently"
                                                     : "runs; PyTorch picks the " + backend + " backend";
    if (!tver.empty()) iv.predicted = outcome_from(v, "forward", "RuntimeError", "sdpa");
    return iv;
  }

  if (name == "flash_attention_2" || name == "flash_attention_3") {
    bool fa3 = name == "flash_attention_3";
    if (!flags.supports_flash) {
      add_message(&v, "hf.fa2.model_unsupported", tver, fill);
      iv.outcome = "refused by " + cls;
      return iv;
    }
    iv.runs_as = fa3 ? "flash_attn_interface (FlashAttention 3)" : "flash_attn.flash_attn_varlen_func / flash_attn_func";
    if (sinks) {
      // Three transformers eras for a sink model; with the version unknown all are listed.
      int n_drop = add_message(&v, "hf.gptoss.fa_sinks_dropped", tver);
      add_message(&v, "hf.gptoss.fa_refused", tver);
      int n_redirect = add_message(&v, "hf.gptoss.fa_redirect", tver, fill);
      if (n_redirect > 0) {
        vllm_fa3_constraints(v, spec, dev, training,
                             tver.empty() ? "after the redirect (transformers >=5.3): " : "redirected kernel: ");
        if (!tver.empty()) iv.runs_as = "kernels-community/vllm-flash-attn3 (redirected)";
      }
      if (n_drop > 0 && !tver.empty()) iv.runs_as += " with the sinks dropped";
      if (tver.empty()) {
        iv.outcome = "depends on the transformers version: <5.0 runs with the sinks silently dropped; 5.0-5.2 "
                     "refuses; >=5.3 redirects to kernels-community/vllm-flash-attn3";
      }
    }
    if (!fa3) {
      std::string via;
      bool pkg_ok = flash_attn_package(v, env, tver, dev, flags, &via);
      if (!via.empty()) iv.runs_as = via;
      (void)pkg_ok;
      if (spec.dtype == DType::F32) add_message(&v, "hf.fa2.dtype", tver, fill);
      if (dev.is_gpu() && dev.cc_major < 8) add_message(&v, "hf.fa2.no_compute_capability_check", tver);
      if (!dev.is_gpu() && env.present && !env.torch_cuda_available &&
          !v.has("hf.fa2.no_cuda") && !v.has("hf.fa2.not_installed"))
        add_message(&v, "hf.fa2.no_cuda", tver);
      bool redirected_only = sinks && !tver.empty() && compare_versions(tver, "5.3") >= 0;
      bool refused_era = sinks && !tver.empty() && compare_versions(tver, "5.0") >= 0 && !redirected_only;
      if (!redirected_only && !refused_era)
        fa2_kernel_rules(v, spec, dev, sinks && tver.empty() ? "flash_attn kernel (transformers <5.0): " : "");
    } else {
      if (env.present) {
        const PyPackage* f3 = env.pkg("flash_attn_interface");
        const PyPackage* kern = env.pkg("kernels");
        if (!f3 || !f3->installed) {
          if (kern && kern->installed) {
            add_message(&v, "hf.fa2.kernels_fallback", tver, {{"kernel", "kernels-community/vllm-flash-attn3"}});
            iv.runs_as = "kernels-community/vllm-flash-attn3 (hub fallback)";
            vllm_fa3_constraints(v, spec, dev, training, "hub fallback: ");
          } else {
            add_message(&v, "hf.fa3.not_installed", tver);
          }
        }
      }
      if (dev.is_gpu() && dev.cc_major < 9)
        add_message(&v, "hf.fa3.arch", tver,
                    {{"major", std::to_string(dev.cc_major)}, {"minor", std::to_string(dev.cc_minor)}});
      if (!dev.is_gpu())
        v.add(Severity::Error, "hf.fa3.no_gpu", "FlashAttention 3 needs a Hopper (sm90) GPU; none is known", "attnscope");
      if (spec.dtype == DType::F32) add_message(&v, "hf.fa3.dtype", tver, fill);
      if (training && model.attention_dropout > 0)
        add_message(&v, "hf.fa3.dropout", tver, {{"dropout", std::to_string(model.attention_dropout)}});
    }
    if (spec.sliding_window > 0 && !fa3)
      v.add(Severity::Note, "hf.fa2.window",
            "sliding window " + std::to_string(spec.sliding_window) +
                " is passed to flash_attn as window_size=(W-1, W-1) with causal when Nk > W (needs flash-attn "
                ">= 2.3; older builds silently attend to the whole causal prefix)",
            "transformers modeling_flash_attention_utils.py");
    if (iv.outcome.empty()) {
      if (v.supported && v.has(Severity::Silent)) iv.outcome = "runs, but changes the result silently";
      else if (v.supported) iv.outcome = "runs";
      else iv.outcome = "fails: " + v.first_error();
    }
    return iv;
  }

  if (name == "flex_attention") {
    if (!flags.supports_flex) {
      v.add(Severity::Error, "hf.flex.model_unsupported",
            library_text("hf.flex.model_unsupported", {{"cls", cls}}),
            "transformers >=4.48 modeling_utils.py _flex_attn_can_dispatch");
      iv.outcome = "refused by " + cls;
      return iv;
    }
    std::string torchv = env.version("torch");
    if (!torchv.empty() && compare_versions(torchv, "2.5") < 0)
      v.add(Severity::Error, "hf.flex.torch",
            library_text("hf.flex.torch"),
            "transformers >=4.48 modeling_utils.py _flex_attn_can_dispatch [torch " + torchv + "]");
    v.add(Severity::Note, "hf.flex.compiled",
          "torch.nn.attention.flex_attention compiles a fused kernel for the mask (block mask) with torch.compile; "
          "attnscope has no rules of its own for it" +
              std::string(sinks ? ": compare what it does with the sinks against eager (attnscope run --import-run)"
                                : ""),
          "transformers integrations/flex_attention.py");
    iv.runs_as = "torch flex_attention (compiled)";
    iv.outcome = v.supported ? "runs (compiled on first use)" : "fails: " + v.first_error();
    return iv;
  }

  // Hub kernels: org/repo[@rev][:func]
  if (hub_pattern(name) && !looks_like_path(name)) {
    iv.runs_as = "hub kernel " + name + " (loaded with the kernels package)";
    add_message(&v, "hf.attn.hub_kernel", tver, fill);
    if (env.present) {
      const PyPackage* kern = env.pkg("kernels");
      if (!kern || !kern->installed) add_message(&v, "hub.needs_kernels", "");
    }
    std::string repo = name.substr(0, name.find_first_of("@:"));
    if (repo == "kernels-community/vllm-flash-attn3") {
      vllm_fa3_constraints(v, spec, dev, training, "");
    } else if (repo == "kernels-community/flash-attn2" || repo == "kernels-community/flash-attn") {
      fa2_kernel_rules(v, spec, dev, "");
      if (sinks) add_message(&v, "fa.no_sinks", "");
    } else {
      v.add(Severity::Note, "hub.unknown",
            "attnscope has no rules for this hub kernel: it checks the name only; compare its output against eager "
            "with attnscope run --import-run",
            "attnscope");
    }
    iv.outcome = v.supported ? (v.has(Severity::Silent) ? "runs, but changes the result silently" : "runs")
                             : "fails: " + v.first_error();
    return iv;
  }

  // Not a registered name nor a hub kernel: what transformers says about the string itself.
  AttnImplCheck c = check_attn_implementation(name_in, model, spec, dev, env);
  iv.verdict = c.verdict;
  iv.runs_as = c.resolves_to;
  iv.outcome = c.kind == "path" ? "refused: a filesystem path is not an attention name"
                                : "refused: not a registered attention name";
  return iv;
}

// ---- --attn-implementation STR ---------------------------------------------------------------------

namespace {

std::string accepted_list(const HfModelFlags& f) {
  std::string m = ", `\"paged|eager\"`";
  if (f.supports_flash)
    m += ", `\"attn_implementation=flash_attention_3\"`, `\"attn_implementation=flash_attention_2\"`, "
         "`\"attn_implementation=paged|flash_attention_2\"`";
  if (f.supports_sdpa) m += ", `\"attn_implementation=sdpa\"`, `\"attn_implementation=paged|sdpa\"`";
  if (f.supports_flex) m += ", `\"attn_implementation=flex_attention\"`";
  return m;
}

// The same list in the wording of transformers before ~4.54.
std::string accepted_list_old(const HfModelFlags& f) {
  std::string m;
  if (f.supports_flash) m += ", `\"attn_implementation=flash_attention_2\"` (implementation using flash attention 2)";
  if (f.supports_sdpa)
    m += ", `\"attn_implementation=sdpa\"` (implementation using torch.nn.functional.scaled_dot_product_attention)";
  if (f.supports_flex) m += ", `\"attn_implementation=flex_attention\"` (implementation using torch's flex_attention)";
  return m;
}

std::string recipe_text() {
  return "working recipe: in a module every worker imports (verl: actor_rollout_ref.model.external_lib=<module> "
         "and critic.model.external_lib=<module>; each worker imports them in init_model before "
         "from_pretrained), call "
         "`from transformers import AttentionInterface; AttentionInterface.register(\"my_sink\", my_fn)` "
         "where my_fn(module, query, key, value, attention_mask, **kwargs) takes [batch, heads, seq, dim] "
         "and returns (attn_output [batch, seq, heads, dim], attn_weights or None); then set "
         "attn_implementation=\"my_sink\" (+actor_rollout_ref.model.override_config.attn_implementation=my_sink "
         "and the same for the critic). Or publish the kernel on the Hub and name it org/repo[@rev][:func]";
}

bool seed_sink_name(const std::string& s) {
  std::string l;
  for (char c : s) l += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return l.find("triton") != std::string::npos && l.find("sink") != std::string::npos;
}

}  // namespace

// The quirks of the seed's HF wrapper around the gpt-oss Triton sink kernel (REFERENCE.md).
void add_seed_sink_quirks(Verdict& v) {
  const char* src = "aghyad-deeb/verl_with_logging triton_attention_sink_hf/flash_attention_triton_sink.py (seed)";
  v.add(Severity::Silent, "seed.sinks_none",
        "always calls the kernel with sinks=None: the model's learned sinks are dropped, and the gpt-oss kernel then "
        "uses a zero sink logit instead of none (about 10% relative error against real attention on a Llama-shaped "
        "layer, measured on H100)",
        src);
  v.add(Severity::Silent, "seed.mask_ignored",
        "ignores attention_mask: padding and HF's sliding-window mask are not applied (the kernel is causal only)",
        src);
  v.add(Severity::Silent, "seed.layout",
        "expects [batch, seq, heads, dim] where HF's attention interface passes [batch, heads, seq, dim]: heads and "
        "positions are swapped, so attention runs over the wrong axis whenever the shapes let it through",
        src);
  v.add(Severity::Error, "seed.return",
        "returns one tensor where HF unpacks (attn_output, attn_weights): \"too many values to unpack\" unless the "
        "batch is exactly 2, where it unpacks the two batch rows without an error",
        src);
  v.add(Severity::Note, "seed.tests",
        "its five smoke tests (import, kernel present, forward runs, GQA runs, path format) cannot see any of this; "
        "attnscope's sink implementation is the reference version, compare with `attnscope run --impl eager,sink`",
        "attnscope");
}

AttnImplCheck check_attn_implementation(const std::string& s, const ModelInfo& model, const LayerSpec& spec,
                                        const DeviceInfo& dev, const PyEnv& env) {
  AttnImplCheck c;
  c.requested = s;
  const std::string tver = env.version("transformers");
  HfModelFlags flags = hf_model_flags(model.model_type);
  if (s.empty()) {
    c.kind = "empty";
    c.resolves_to = flags.supports_sdpa ? "sdpa (transformers' default)" : "eager (sdpa refused, silent fallback)";
    c.verdict.add(Severity::Note, "hf.attn.default",
                  "no attn_implementation: transformers picks sdpa and falls back to eager where the model refuses it",
                  "transformers modeling_utils.py get_correct_attn_implementation");
    return c;
  }
  std::string base = s.rfind("paged|", 0) == 0 ? s.substr(6) : s;
  static const std::vector<std::string> registered = {"eager", "sdpa", "flash_attention_2", "flash_attention_3",
                                                      "flex_attention"};
  if (hf_v5(tver)) {
    // transformers >= 5.3 (approximate): one decision path for every string (hf_verdict_v5).
    ImplVerdict iv = hf_verdict(s, model, spec, dev, env, false);
    c.verdict = iv.verdict;
    c.predicted = iv.predicted;
    c.retried = iv.retried;
    c.resolves_to = iv.runs_as;
    bool reg = std::find(registered.begin(), registered.end(), base) != registered.end() || base == "flash_attention_4";
    if (reg) {
      c.kind = s.rfind("paged|", 0) == 0 ? "paged" : "registered";
    } else if (looks_like_path(s)) {
      c.kind = "path";
      std::string what;
      if (c.verdict.has("hf.gptoss.fa_redirect"))
        what = "contains \"flash\", so " + model.hf_class + " swaps it for its compatible flash implementation "
               "(kernels-community/vllm-flash-attn3)";
      else if (is_kernel_v5(s))
        what = "has one slash, so it matches the hub kernel pattern org/repo and transformers tries to load it "
               "from the Hub with the kernels package";
      else
        what = "is neither a registered name nor a hub kernel, so it fails as \"is not supported\"";
      c.verdict.add(c.predicted.stage == "runs" ? Severity::Silent : Severity::Note, "hf.attn.path",
                    "attn_implementation takes a registered name or a hub kernel org/repo[@rev][:func] and never "
                    "reads a file: \"" + s + "\" " + what + "; the code in that file never runs",
                    "transformers " + tver + " modeling_utils.py _check_and_adjust_attn_implementation / is_kernel");
    } else if (is_kernel_v5(s)) {
      c.kind = "hub-kernel";
    } else {
      c.kind = "unknown";
    }
    if (c.kind == "path" || c.kind == "unknown")
      c.verdict.add(Severity::Note, "hf.attn.recipe", recipe_text(), "transformers AttentionInterface (modeling_utils.py) / kernels hub pattern");
    if (seed_sink_name(s)) add_seed_sink_quirks(c.verdict);
    if (c.predicted.stage == "load") c.resolves_to = "nothing: loading fails";
    return c;
  }
  if (std::find(registered.begin(), registered.end(), base) != registered.end()) {
    c.kind = s.rfind("paged|", 0) == 0 ? "paged" : "registered";
    ImplVerdict iv = hf_verdict(s, model, spec, dev, env, false);
    c.verdict = iv.verdict;
    c.resolves_to = iv.runs_as;
    return c;
  }
  if (looks_like_path(s)) {
    c.kind = "path";
    bool hub_like = hub_pattern(s);
    c.verdict.add(Severity::Error, "hf.attn.path",
                  "attn_implementation takes a registered name or a hub kernel org/repo[@rev][:func], never a file: \"" +
                      s + "\" " +
                      (hub_like ? "matches the hub pattern, so transformers tries to download it as a Hub repo and fails"
                                : "matches neither and fails as \"is not supported\""),
                  "transformers modeling_utils.py _check_and_adjust_attn_implementation / is_kernel");
    add_message(&c.verdict, "hf.attn.unknown", tver, {{"name", s}, {"accepted", accepted_list(flags)}, {"accepted_old", accepted_list_old(flags)},
                                                  {"accepted5", accepted_list5(flags)}});
    c.verdict.add(Severity::Note, "hf.attn.recipe", recipe_text(),
                  "transformers AttentionInterface (modeling_utils.py) / kernels hub pattern");
    if (seed_sink_name(s)) add_seed_sink_quirks(c.verdict);
    c.resolves_to = "nothing: loading fails";
    return c;
  }
  if (hub_pattern(s)) {
    c.kind = "hub-kernel";
    ImplVerdict iv = hf_verdict(s, model, spec, dev, env, false);
    c.verdict = iv.verdict;
    c.resolves_to = iv.runs_as;
    if (seed_sink_name(s)) add_seed_sink_quirks(c.verdict);
    return c;
  }
  c.kind = "unknown";
  add_message(&c.verdict, "hf.attn.unknown", tver, {{"name", s}, {"accepted", accepted_list(flags)}, {"accepted_old", accepted_list_old(flags)},
                                                  {"accepted5", accepted_list5(flags)}});
  std::string names;
  for (const auto& n : hf_attention_names()) names += (names.empty() ? "" : ", ") + n;
  c.verdict.add(Severity::Note, "hf.attn.accepted",
                "accepted names: " + names + ", or any name registered with AttentionInterface.register(name, fn) "
                "in a module imported before from_pretrained",
                "transformers AttentionInterface");
  if (seed_sink_name(s)) add_seed_sink_quirks(c.verdict);
  c.resolves_to = "nothing: loading fails";
  return c;
}

}  // namespace attnscope
