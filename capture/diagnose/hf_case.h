// Inside hf_rules: one attn_implementation name being judged (HfCase), the transformers release
// lines attnscope models (HfEra), and the steps each line runs, in transformers' own order. Not a
// public header: hf_rules.h is.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "capture/diagnose/env.h"
#include "capture/diagnose/hf_rules.h"
#include "capture/diagnose/model_info.h"
#include "kernels/device.h"
#include "kernels/layer_spec.h"

namespace attnscope::hf {

// One name for one model and layer on one device, and the verdict the steps build for it.
struct HfCase {
  HfCase(const std::string& name, const ModelInfo& model, const LayerSpec& spec, const DeviceInfo& dev,
         const PyEnv& env, bool training);

  const std::string name;  // as given: "paged|eager", "flash_attention_2", a hub kernel, a path ...
  const ModelInfo& model;
  const LayerSpec& spec;
  const DeviceInfo& dev;
  const PyEnv& env;
  const bool training;
  const std::string tver;    // transformers installed ("" when --env does not say)
  const HfModelFlags flags;  // what the model class declares
  const std::string cls;     // the class transformers names in its messages
  const bool sinks;          // the layer or the model has learned sinks

  // transformers >= 5.3 rewrites the name before dispatching it (a GPT-OSS redirect, a hub build of
  // a missing flash package): the name as it stands now, and what the steps found on the way.
  std::string attn;          // current name, "paged|" included
  std::string base;          // current name without "paged|"
  bool paged = false;
  int fa = 0;                // 2, 3, 4 for flash_attention_N, else 0
  bool pkg_ok = false;       // flash_attn (FA2) / flash_attn_interface (FA3) installed
  bool kernels_ok = false;   // `kernels` installed, imports, in the range this transformers pins
  bool krange = false;       // that range is known: [klo, khi)
  std::string klo, khi;
  bool requested_original = false;  // flash_attention_N asked for without its package
  std::string applicable;   // the name transformers finally loads

  const struct HfEra* era = nullptr;  // the release line judging it (nullptr: version not known)

  ImplVerdict iv;
  Verdict& v() { return iv.verdict; }
  HfOutcome& out() { return iv.predicted; }
  void rename(const std::string& to);  // sets attn, base, paged
  // The exception that ends the run: its stage, Python type and the reason whose text is its message.
  void fail(const std::string& stage, const std::string& exception, const std::string& code, bool prefix = false);
  // {cls}, {dtype}, {path} and {name} (the name the era's messages quote) for catalogue texts.
  std::map<std::string, std::string> fill(const std::string& quoted_name) const;
};

// A step judges one part of what transformers does; true when it decided the outcome (the steps
// after it do not run).
using Step = bool (*)(HfCase&);

// A line of transformers releases with the same attn_implementation handling.
struct HfEra {
  const char* since;             // first release (inclusive)
  const char* until;             // first release after it (exclusive)
  const char* names;             // what decides which strings are names, for "not a registered name"
  bool flex_known;               // whether flex_attention is registered here is known
  std::vector<std::string> registered;  // names it accepts; empty: the 4.54-5.2 rules decide by kind
  bool predicts;                 // from_pretrained / first forward predicted for every name
  bool adjusts;                  // every string passes _check_and_adjust_attn_implementation (5.3+)
  std::vector<Step> steps;       // in transformers' order
};

// The era of a transformers version: a known line, the rules for an unknown version (""), or nullptr
// when the version is outside every line attnscope models.
const HfEra* era_of(const std::string& tver);
std::string known_range();  // "4.36 to 5.x", for "not known" messages

// ---- steps (hf_steps.cpp) -------------------------------------------------------------------------
// transformers 4.36-5.2 (and an unknown version): one branch per kind of name.
bool step_gemma2_training(HfCase& c);
bool step_eager(HfCase& c);
bool step_sdpa(HfCase& c);
bool step_flash(HfCase& c);
bool step_flex(HfCase& c);
bool step_hub_kernel(HfCase& c);
bool step_not_a_name(HfCase& c);
// transformers >= 5.3: _check_and_adjust_attn_implementation, then the first forward.
bool step_v5_gemma2_training(HfCase& c);
bool step_v5_compatible_flash(HfCase& c);
bool step_v5_flash_package(HfCase& c);
bool step_v5_hub_kernel(HfCase& c);
bool step_v5_registered(HfCase& c);
bool step_v5_flash_dispatch(HfCase& c);
bool step_v5_flex(HfCase& c);
bool step_v5_eager_sdpa(HfCase& c);
bool step_v5_paged(HfCase& c);

// ---- helpers shared with check_attn_implementation --------------------------------------------------
bool looks_like_path(const std::string& s);
bool hub_pattern(const std::string& s);   // transformers 4.54-5.2's hub kernel pattern (no whitespace)
bool is_kernel_v5(const std::string& s);  // 5.x is_kernel: org/repo[@rev][:func], the filesystem never read
// The accepted-names tail of "is not supported" in each era's wording.
std::string accepted_list_old(const HfModelFlags& f);  // < 4.54
std::string accepted_list(const HfModelFlags& f);      // 4.54 - 5.2
std::string accepted_list5(const HfModelFlags& f);     // >= 5.3
std::string torch_dtype_name(DType d);
// The outcome a verdict implies: its first error ends the run at `stage_on_error`, else it runs.
HfOutcome outcome_from(const Verdict& v, const std::string& stage_on_error, const std::string& exception,
                       const std::string& resolved);

}  // namespace attnscope::hf
