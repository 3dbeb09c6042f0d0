// What transformers does with an attn_implementation name, release by release. Each line of releases
// (HfEra) runs its own steps in transformers' order (hf_steps.cpp); a version outside every line
// attnscope models says "not known" rather than guess. Texts come from kernels/library_texts.cpp.
#include "capture/diagnose/hf_rules.h"

#include <algorithm>
#include <cctype>

#include "capture/diagnose/custom_attention.h"
#include "capture/diagnose/hf_case.h"
#include "capture/diagnose/messages.h"

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

namespace hf {

HfCase::HfCase(const std::string& name_in, const ModelInfo& model_in, const LayerSpec& spec_in,
               const DeviceInfo& dev_in, const PyEnv& env_in, bool training_in)
    : name(name_in),
      model(model_in),
      spec(spec_in),
      dev(dev_in),
      env(env_in),
      training(training_in),
      tver(env_in.version("transformers")),
      flags(hf_model_flags(model_in.model_type)),
      cls(model_in.hf_class.empty() ? "the model class" : model_in.hf_class),
      sinks(spec_in.sinks || flags.sinks) {
  iv.level = "transformers";
  iv.name = name;
  rename(name);
}

void HfCase::rename(const std::string& to) {
  attn = to;
  paged = to.rfind("paged|", 0) == 0;
  base = paged ? to.substr(6) : to;
}

void HfCase::fail(const std::string& stage, const std::string& exception, const std::string& code, bool prefix) {
  out().stage = stage;
  out().exception = exception;
  out().code = code;
  out().prefix_only = prefix;
}

std::map<std::string, std::string> HfCase::fill(const std::string& quoted_name) const {
  return {{"cls", cls},
          {"dtype", torch_dtype_name(spec.dtype)},
          {"name", quoted_name},
          {"path", model.source.empty() ? "<model>" : model.source}};
}

namespace {

// attnscope's own words where it has no rule.
void not_known(HfCase& c, const std::string& what) {
  c.iv.known = false;
  c.v().add(Severity::Warning, "hf.version.not_known",
            "attnscope has no rules for " + what + ": what from_pretrained and the first forward do with \"" + c.name +
                "\" is not predicted; try it in that environment, or pass an --env with a transformers version from " +
                known_range(),
            "attnscope");
  c.iv.outcome = "not known for transformers " + c.tver;
}

// The config is read before anything else: a model type the release does not know fails there.
bool step_model_type(HfCase& c) {
  if (!c.flags.known || c.flags.since.empty() || c.tver.empty() || compare_versions(c.tver, c.flags.since) >= 0)
    return false;
  add_message(&c.v(), "hf.model.unknown_type", c.tver, {{"model_type", c.model.model_type}});
  c.fail("load", "ValueError", "hf.model.unknown_type");
  c.iv.runs_as = "nothing: loading fails";
  c.iv.outcome = "fails at load: transformers " + c.tver + " does not know the model type " + c.model.model_type +
                 " (first in " + c.flags.since + ")";
  return true;
}

// Releases before 4.54 accept only their registered names (_autoset_attn_implementation, read in 4.51.3):
// flash_attention_3, paged| names and hub kernels do not exist yet and fail at load.
bool step_registered_name(HfCase& c) {
  const auto& names = c.era->registered;
  if (std::find(names.begin(), names.end(), c.name) != names.end()) return false;
  if (c.name == "flex_attention" && !c.era->flex_known) {
    not_known(c, "flex_attention in transformers " + c.tver + " (registered from 4.48)");
    return true;
  }
  add_message(&c.v(), "hf.attn.unknown", c.tver,
              {{"name", c.name}, {"accepted_old", accepted_list_old(c.flags)}, {"accepted", accepted_list(c.flags)},
               {"accepted5", accepted_list5(c.flags)}});
  c.fail("load", "ValueError", "hf.attn.unknown");
  c.iv.runs_as = "nothing: loading fails";
  c.iv.outcome = "fails at load: not a registered attention name in transformers " + c.tver;
  return true;
}

// transformers >= 5.3: "eager" and "sdpa" as given are judged as in every release; other names go through
// _check_and_adjust_attn_implementation.
bool step_v5_plain_names(HfCase& c) {
  if (c.name != "eager" && c.name != "sdpa") return false;
  step_gemma2_training(c);
  return step_eager(c) || step_sdpa(c);
}

const std::vector<Step> kSteps4 = {step_model_type, step_gemma2_training, step_eager,      step_sdpa,
                                   step_flash,      step_flex,            step_hub_kernel, step_not_a_name};
const std::vector<Step> kSteps4Named = {step_model_type, step_registered_name, step_gemma2_training, step_eager,
                                        step_sdpa,       step_flash,           step_flex};
const std::vector<Step> kSteps5 = {step_model_type,        step_v5_plain_names,    step_v5_gemma2_training,
                                   step_v5_compatible_flash, step_v5_flash_package, step_v5_hub_kernel,
                                   step_v5_registered,     step_v5_flash_dispatch, step_v5_flex,
                                   step_v5_eager_sdpa,     step_v5_paged};

// The lines of releases, oldest first. Boundaries come from the releases' sources (4.51.3 read in its wheel,
// 5.17.0 recorded on an H100); the others are approximate and say so in their texts' sources.
const HfEra kEras[] = {
    {"4.36", "4.48", "_autoset_attn_implementation's list (eager, sdpa, flash_attention_2)", false,
     {"eager", "sdpa", "flash_attention_2"}, true, false, kSteps4Named},
    {"4.48", "4.54", "ALL_ATTENTION_FUNCTIONS (+ flex_attention); read in 4.51.3", true,
     {"eager", "sdpa", "flash_attention_2", "flex_attention"}, true, false, kSteps4Named},
    {"4.54", "5.3", "registered names, paged| variants and hub kernels org/repo", true, {}, false, false, kSteps4},
    {"5.3", "6", "get_correct_attn_implementation and is_kernel; verified on 5.17.0", true, {}, true, true, kSteps5},
};
// --env not given: every range's behaviour, each reason tagged with its range.
const HfEra kAnyVersion = {"", "", "every release's", true, {}, false, false, kSteps4};

}  // namespace

const HfEra* era_of(const std::string& tver) {
  if (tver.empty()) return &kAnyVersion;
  for (const HfEra& e : kEras)
    if (version_in(tver, e.since, e.until)) return &e;
  return nullptr;
}

std::string known_range() { return std::string(kEras[0].since) + " to 5.x"; }

}  // namespace hf

std::string hf_known_range() { return hf::known_range(); }

ImplVerdict hf_verdict(const std::string& name, const ModelInfo& model, const LayerSpec& spec, const DeviceInfo& dev,
                       const PyEnv& env, bool training) {
  hf::HfCase c(name, model, spec, dev, env, training);
  c.era = hf::era_of(c.tver);
  if (!c.era) {
    hf::not_known(c, "transformers " + c.tver);
    return c.iv;
  }
  for (hf::Step step : c.era->steps)
    if (step(c)) break;
  return c.iv;
}

// ---- --attn-implementation STR ---------------------------------------------------------------------

namespace {

using hf::is_kernel_v5;
using hf::looks_like_path;
using hf::hub_pattern;
using hf::accepted_list;
using hf::accepted_list_old;
using hf::accepted_list5;

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


// What kind of string transformers 4.54+ sees (the same words for every era's report).
std::string string_kind(const std::string& s) {
  static const std::vector<std::string> registered = {"eager", "sdpa", "flash_attention_2", "flash_attention_3",
                                                      "flex_attention"};
  std::string base = s.rfind("paged|", 0) == 0 ? s.substr(6) : s;
  if (std::find(registered.begin(), registered.end(), base) != registered.end())
    return s.rfind("paged|", 0) == 0 ? "paged" : "registered";
  if (looks_like_path(s)) return "path";
  if (hub_pattern(s)) return "hub-kernel";
  return "unknown";
}

// transformers 4.36-4.53: the string is a registered name or fails at load; say what kind it was.
AttnImplCheck check_named_era(const std::string& s, const ModelInfo& model, const LayerSpec& spec,
                              const DeviceInfo& dev, const PyEnv& env, const hf::HfEra& era) {
  AttnImplCheck c;
  c.requested = s;
  const std::string tver = env.version("transformers");
  ImplVerdict iv = hf_verdict(s, model, spec, dev, env, false);
  c.verdict = iv.verdict;
  c.predicted = iv.predicted;
  c.known = iv.known;
  c.resolves_to = iv.runs_as;
  bool registered = std::find(era.registered.begin(), era.registered.end(), s) != era.registered.end();
  std::string names;
  for (const auto& n : era.registered) names += (names.empty() ? "" : ", ") + n;
  if (registered) {
    c.kind = "registered";
  } else if (looks_like_path(s)) {
    c.kind = "path";
    c.verdict.add(Severity::Note, "hf.attn.path",
                  "attn_implementation takes a registered name (" + names + ") and never reads a file: \"" + s +
                      "\" fails as \"is not supported\"; this transformers has no hub kernels either (org/repo "
                      "names arrived around 4.54)",
                  "transformers " + tver + " modeling_utils.py _autoset_attn_implementation");
    c.verdict.add(Severity::Note, "hf.attn.recipe", recipe_text(),
                  "transformers AttentionInterface (modeling_utils.py) / kernels hub pattern");
  } else {
    c.kind = "unknown";
    c.verdict.add(Severity::Note, "hf.attn.accepted",
                  "accepted names in transformers " + tver + ": " + names +
                      ", or any name registered with AttentionInterface.register(name, fn) in a module imported "
                      "before from_pretrained",
                  "transformers " + tver + " AttentionInterface (" + era.names + ")");
  }
  if (seed_sink_name(s)) add_seed_sink_quirks(c.verdict);
  if (c.predicted.stage == "load") c.resolves_to = "nothing: loading fails";
  return c;
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
  // A name the user's module registered (attnscope-env.py --import probed it): what it does is known.
  if (const PyAttentionFunction* f = env.attention_function(s)) {
    ImplVerdict iv = custom_attention_verdict(*f, false, env);
    c.kind = "registered by " + (f->module.empty() ? std::string("the user") : f->module);
    c.verdict = iv.verdict;
    c.predicted = iv.predicted;
    c.resolves_to = iv.runs_as;
    return c;
  }
  static const std::vector<std::string> registered = {"eager", "sdpa", "flash_attention_2", "flash_attention_3",
                                                      "flex_attention"};
  const hf::HfEra* era = hf::era_of(tver);
  if (!era) {  // a release attnscope has no rules for
    ImplVerdict iv = hf_verdict(s, model, spec, dev, env, false);
    c.verdict = iv.verdict;
    c.known = false;
    c.kind = string_kind(s);
    c.resolves_to = iv.outcome;
    return c;
  }
  if (!era->registered.empty()) return check_named_era(s, model, spec, dev, env, *era);
  if (era->adjusts) {
    // transformers >= 5.3 (approximate): one decision path for every string (_check_and_adjust_attn_implementation).
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
