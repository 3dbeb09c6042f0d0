// diagnose against what transformers really did. Every recording is checked the same way (tests/fixtures/device_*/
// with its env.json; a new one is picked up by being there). The first, tests/fixtures/device_h100/ground_truth.json, was recorded on
// an H100 (torch 2.11.0+cu130, transformers 5.17.0, no flash_attn, no kernels) by
// scripts/diagnose_ground_truth.py: tiny Llama- and GPT-OSS-shaped models x fp32/fp16/bf16 x every
// attn_implementation string, each loaded and run once, with the exception (type and message verbatim), the
// warnings and log records. Each case is one row here: the report is built in-process from the recorded
// env.json (GPU and versions), the matching samples/hf config and the case's dtype, and its prediction for
// that attn_implementation must match what happened.
//
// Matching, per row:
//   * stage: runs / fails at load (from_pretrained raised) / fails at the first forward, and the verdict's
//     supported flag agrees with it;
//   * where something raised: the Python exception type, and the text of the reason the prediction names:
//     EXACT equality with the recorded message, except where that reason is marked prefix_only (the
//     InductorError, whose message goes on with tensor shapes): there the recorded message must START with it.
//     A KeyError is compared without the quotes Python's str(KeyError) adds;
//   * the reason's library range covers the recorded release (its source says "[installed 5.17.0]" and the
//     catalogue has an entry of that code for 5.17.0);
//   * the redirect warning GPT-OSS logs (logger.warning_once) is predicted with its exact text, and where it
//     was not logged, the same text was logged by an earlier case of the run;
//   * after a load that succeeded, config._attn_implementation is the predicted `resolved` name.
//
// The recording ran every case in ONE Python process, in file order. transformers caches the name of a
// hub kernel before importing it (lazy_import_flash_attention's _loaded_implementation), so a later case
// that asks for a name already tried loads and fails at the forward instead. The test replays that state
// in file order and takes the report's `retried` prediction for such a case; the report predicts both.
// A second recording, tests/fixtures/diagnose/ground_truth_h100_isolated.json (same machine and
// environment, `--isolate`: every case in a fresh process, fp32 and bf16), is what a user's single
// from_pretrained sees: there every case is checked against the first-attempt prediction, and the
// redirect warning is logged by every case that redirects.
//
// Exclusions: none. Not compared (no prediction exists for them): the INFO log record
// "Generate config GenerationConfig {...}" every successful load emits, and the logit differences.
#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "tests/capture/diagnose/diagnose_fixture.h"

namespace attnscope::test {
namespace {

using nlohmann::json;

const char* kDir = "tests/fixtures/device_h100/";
const char* kIsolated = "tests/fixtures/diagnose/ground_truth_h100_isolated.json";

// One recorded run of scripts/diagnose_ground_truth.py and the environment it ran in (attnscope-env.py's
// env.json beside it). Every tests/fixtures/device_*/ folder holding both is a recording; the fresh-process
// H100 recording lives in tests/fixtures/diagnose/ and shares device_h100's environment.
struct Recording {
  std::string tag;   // names the test cases: "h100", "h100_isolated", "device_h200_tf4513", ...
  std::string file;  // ground_truth.json (relative to the source tree)
  std::string env;   // env.json
  std::string transformers;  // the version the recording ran
};

json read_json(const std::string& rel) {
  std::ifstream f(src(rel));
  if (!f) return json();
  return json::parse(f, nullptr, false);
}

const std::vector<Recording>& recordings() {
  static const std::vector<Recording> r = [] {
    std::vector<Recording> out;
    auto add = [&](const std::string& tag, const std::string& file, const std::string& env) {
      json g = read_json(file);
      out.push_back({tag, file, env, g.is_object() ? g.value("transformers", "") : ""});
    };
    add("h100", std::string(kDir) + "ground_truth.json", std::string(kDir) + "env.json");
    add("h100_isolated", kIsolated, std::string(kDir) + "env.json");
    std::vector<std::string> dirs;
    for (const auto& e : std::filesystem::directory_iterator(src("tests/fixtures"))) {
      std::string name = e.path().filename().string();
      if (!e.is_directory() || name.rfind("device_", 0) != 0 || name == "device_h100") continue;
      if (std::filesystem::exists(e.path() / "ground_truth.json") && std::filesystem::exists(e.path() / "env.json"))
        dirs.push_back(name);
    }
    std::sort(dirs.begin(), dirs.end());
    for (const auto& d : dirs)
      add(d, "tests/fixtures/" + d + "/ground_truth.json", "tests/fixtures/" + d + "/env.json");
    return out;
  }();
  return r;
}

struct GtCase {
  int recording = 0;      // index in recordings()
  bool fresh = false;     // recorded in a fresh process (--isolate)
  int index = 0;          // position in the recorded run (the process state depends on it)
  std::string model;      // "llama" | "gpt_oss"
  std::string dtype;      // "float32" | "float16" | "bfloat16"
  std::string impl;       // attn_implementation as passed
  std::string stage;      // "runs" | "load" | "forward"
  std::string exception;  // type name, "" when nothing raised
  std::string message;    // str(exception)
  std::string resolved;   // config._attn_implementation after a successful load
  std::vector<std::string> warnings_logged;  // transformers log records at WARNING or above
  const Recording& rec() const { return recordings()[static_cast<size_t>(recording)]; }
};

std::ostream& operator<<(std::ostream& o, const GtCase& c) {
  return o << c.rec().file << " case " << c.index << ": " << c.model << " " << c.dtype << " attn_implementation=\""
           << c.impl << "\" (real: " << c.stage << (c.exception.empty() ? "" : ", " + c.exception) << ")";
}

std::vector<GtCase> load_cases(int recording) {
  std::vector<GtCase> out;
  json g = read_json(recordings()[static_cast<size_t>(recording)].file);
  if (!g.is_object() || !g.contains("results")) return out;
  for (const auto& r : g["results"]) {
    GtCase c;
    c.recording = recording;
    c.fresh = r.value("process", "") == "fresh";
    c.index = static_cast<int>(out.size());
    c.model = r.value("model", "");
    c.dtype = r.value("dtype", "");
    c.impl = r.value("attn_implementation", "");
    const json* err = nullptr;
    if (r.value("load", "") == "error") {
      c.stage = "load";
      err = &r["load_error"];
    } else if (r.value("forward", "") == "error") {
      c.stage = "forward";
      err = &r["forward_error"];
    } else {
      c.stage = "runs";
    }
    if (err) {
      c.exception = err->value("type", "");
      c.message = err->value("message", "");
    }
    if (r.contains("resolved") && r["resolved"].is_string()) c.resolved = r["resolved"].get<std::string>();
    for (const auto& l : r.value("log", json::array()))
      if (l.value("level", "") == "WARNING" || l.value("level", "") == "ERROR")
        c.warnings_logged.push_back(l.value("message", ""));
    out.push_back(c);
  }
  return out;
}

// The cases of one recording, in file order.
const std::vector<GtCase>& cases_of(int recording) {
  static std::map<int, std::vector<GtCase>> cache;
  auto it = cache.find(recording);
  if (it == cache.end()) it = cache.emplace(recording, load_cases(recording)).first;
  return it->second;
}
const std::vector<GtCase>& cases() { return cases_of(0); }
const std::vector<GtCase>& isolated_cases() { return cases_of(1); }
const std::vector<GtCase>& run_of(const GtCase& c) { return cases_of(c.recording); }
std::vector<GtCase> all_cases() {
  std::vector<GtCase> all;
  for (size_t i = 0; i < recordings().size(); ++i)
    for (const auto& c : cases_of(static_cast<int>(i))) all.push_back(c);
  return all;
}

struct Prediction {
  std::string error;  // build_diagnose_report's error, "" when built
  AttnImplCheck check;
};

const Prediction& predict(const GtCase& c) {
  static std::map<std::pair<int, int>, Prediction> cache;
  auto key = std::make_pair(c.recording, c.index);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  DiagnoseOptions o;
  o.local_gpu = false;  // the GPU is the recorded one (env.json)
  o.env_file = src(c.rec().env);
  o.config_file = src(c.model == "gpt_oss" ? "samples/hf/gpt-oss-20b.json" : "samples/hf/llama-3-8b.json");
  o.overrides.dtype = c.dtype;
  o.attn_implementation = c.impl;
  DiagnoseReport r;
  Prediction p;
  p.error = build_diagnose_report(o, &r);
  if (p.error.empty() && r.requested) p.check = *r.requested;
  return cache[key] = p;
}

// The outcome the report predicts for this case, given the cases the recorded process ran before it.
HfOutcome effective(const GtCase& c, std::string* why) {
  if (c.fresh) {
    *why = "a fresh process";
    return predict(c).check.predicted;
  }
  std::string loaded;  // lazy_import_flash_attention's _loaded_implementation
  for (const auto& prev : run_of(c)) {
    if (prev.index == c.index) break;
    const std::string& k = predict(prev).check.predicted.lazy_kernel;
    if (!k.empty()) loaded = k;
  }
  const AttnImplCheck& p = predict(c).check;
  if (!p.predicted.lazy_kernel.empty() && p.predicted.lazy_kernel == loaded && p.retried) {
    *why = "retried: \"" + loaded + "\" was already tried earlier in the recorded process";
    return *p.retried;
  }
  *why = "first attempt in the process";
  return p.predicted;
}

const Reason* reason(const Verdict& v, const std::string& code) {
  for (const auto& r : v.reasons)
    if (r.code == code) return &r;
  return nullptr;
}

// The redirect texts logged by cases before this one (logger.warning_once dedups per process).
std::set<std::string> logged_before(const GtCase& c) {
  std::set<std::string> s;
  if (c.fresh) return s;  // nothing before it in its process
  for (const auto& prev : run_of(c)) {
    if (prev.index == c.index) break;
    s.insert(prev.warnings_logged.begin(), prev.warnings_logged.end());
  }
  return s;
}

class GroundTruth : public ::testing::TestWithParam<GtCase> {};

TEST_P(GroundTruth, PredictionMatchesTheRecordedRun) {
  const GtCase& c = GetParam();
  const Prediction& p = predict(c);
  ASSERT_EQ(p.error, "") << c;
  const AttnImplCheck& chk = p.check;
  std::string why;
  HfOutcome o = effective(c, &why);
  SCOPED_TRACE(::testing::Message() << c << "; predicted from " << why);

  // Verdict.
  EXPECT_EQ(o.stage, c.stage) << "predicted outcome: " << chk.resolves_to;
  EXPECT_EQ(chk.verdict.supported, c.stage == "runs");

  if (c.stage != "runs") {
    EXPECT_EQ(o.exception, c.exception);
    const Reason* r = reason(chk.verdict, o.code);
    ASSERT_NE(r, nullptr) << "the prediction names reason " << o.code << ", which the verdict lacks";
    std::string real = c.message;
    if (c.exception == "KeyError" && real.size() >= 2 && real.front() == '\'' && real.back() == '\'')
      real = real.substr(1, real.size() - 2);
    if (o.prefix_only) {
      EXPECT_EQ(real.compare(0, r->text.size(), r->text), 0) << "stable prefix\n  predicted: " << r->text
                                                               << "\n  real:      " << real;
    } else {
      EXPECT_EQ(r->text, real);
    }
    // The library range the reason names covers the recorded release.
    const std::string& v = c.rec().transformers;
    if (r->source.rfind("transformers", 0) == 0) {
      EXPECT_NE(r->source.find("[installed " + v + "]"), std::string::npos) << r->source;
      EXPECT_FALSE(texts_for(o.code, v).empty()) << o.code;
    }
  }
  if (c.stage == "runs" || c.stage == "forward") {
    EXPECT_EQ(o.resolved, c.resolved);
  }

  // GPT-OSS's redirect warning: predicted verbatim where it was logged; not logged again once logged.
  for (const auto& w : c.warnings_logged) {
    if (w.find("This model is compatible with the following flash attention implementations") == std::string::npos)
      continue;
    const Reason* r = reason(chk.verdict, "hf.gptoss.fa_redirect");
    ASSERT_NE(r, nullptr) << "the redirect was logged but not predicted: " << w;
    EXPECT_EQ(r->text, w);
  }
  if (const Reason* r = reason(chk.verdict, "hf.gptoss.fa_redirect")) {
    bool logged = std::find(c.warnings_logged.begin(), c.warnings_logged.end(), r->text) != c.warnings_logged.end();
    if (!logged) {
      EXPECT_TRUE(logged_before(c).count(r->text)) << "predicted redirect never logged: " << r->text;
    }
  }
}

std::string case_name(const ::testing::TestParamInfo<GtCase>& info) {
  const GtCase& c = info.param;
  std::string n = c.rec().tag + "_" + std::to_string(c.index) + "_" + c.model + "_" + c.dtype + "_";
  for (char ch : c.impl) n += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
  return n;
}

INSTANTIATE_TEST_SUITE_P(Recorded, GroundTruth, ::testing::ValuesIn(all_cases()), case_name);

TEST(GroundTruthFile, HasEveryRecordedCase) {
  ASSERT_EQ(cases().size(), 54u) << "tests/fixtures/device_h100/ground_truth.json unreadable or changed";
  json env = read_json(std::string(kDir) + "env.json");
  ASSERT_TRUE(env.is_object());
  EXPECT_EQ(env["packages"]["transformers"]["version"], "5.17.0");
  EXPECT_EQ(env["gpus"][0]["capability"][0], 9);
  ASSERT_EQ(isolated_cases().size(), 36u) << kIsolated << " unreadable or changed";
  json iso = read_json(kIsolated);
  EXPECT_EQ(iso["transformers"], "5.17.0");
  for (const auto& c : isolated_cases()) EXPECT_TRUE(c.fresh) << c;
  // Every recording says which transformers it ran, and its env.json agrees.
  for (size_t i = 0; i < recordings().size(); ++i) {
    const Recording& r = recordings()[i];
    EXPECT_FALSE(cases_of(static_cast<int>(i)).empty()) << r.file;
    EXPECT_EQ(read_json(r.env)["packages"]["transformers"]["version"], r.transformers) << r.file << " vs " << r.env;
  }
}

// The predictions committed beside the ground truth were made by `attnscope diagnose --env env.json --config
// samples/hf/<model>.json --json` on that machine, at that commit: the same report built here must now predict
// what the recorded run did for the names the report lists (flash_attention_2/3 on GPT-OSS load, then fail at
// the first forward, instead of the flash_attn package error the committed prediction gave).
TEST(GroundTruthFile, DefaultReportRowsAgreeWithTheRun) {
  DiagnoseOptions o;
  o.local_gpu = false;
  o.env_file = src(std::string(kDir) + "env.json");
  o.config_file = src("samples/hf/gpt-oss-20b.json");
  DiagnoseReport r;
  ASSERT_EQ(build_diagnose_report(o, &r), "");
  int seen = 0;
  for (const auto& h : r.hf) {
    if (h.name == "flash_attention_2" || h.name == "flash_attention_3") {
      ++seen;
      // A fresh process: the kernel import fails at load; a retry loads and fails at the forward.
      EXPECT_EQ(h.predicted.stage, "load") << h.name;
      EXPECT_EQ(h.predicted.code, "hf.kernels.missing") << h.name;
      ASSERT_TRUE(h.retried.has_value()) << h.name;
      EXPECT_EQ(h.retried->stage, "forward");
      EXPECT_EQ(h.retried->exception, "KeyError");
      EXPECT_FALSE(h.verdict.has("hf.fa2.not_installed")) << h.name;
    }
    if (h.name == "sdpa") {
      EXPECT_EQ(h.predicted.stage, "load");
    }
    if (h.name == "eager") {
      EXPECT_EQ(h.predicted.stage, "runs");
    }
  }
  EXPECT_EQ(seen, 2);
}

// --log: every exception message and every warning of the recorded run is recognised and explained.
// Exceptions are fed as Python prints their last traceback line ("Type: first line of the message"),
// warnings as "Category: message", log records as their message. INFO records are not warnings: skipped.
TEST(GroundTruthLog, EveryRecordedMessageIsRecognised) {
  json all = json::array();
  for (const auto& rec : recordings()) {
    json g = read_json(rec.file);
    ASSERT_TRUE(g.is_object()) << rec.file;
    for (const auto& r : g["results"]) all.push_back(r);
  }
  std::set<std::string> lines;
  for (const auto& r : all) {
    for (const char* k : {"load_error", "forward_error"})
      if (r.contains(k)) {
        std::string m = r[k].value("message", "");
        lines.insert(r[k].value("type", "") + ": " + m.substr(0, m.find('\n')));
      }
    for (const auto& w : r.value("warnings", json::array()))
      lines.insert(w.value("category", "") + ": " + w.value("message", ""));
    for (const auto& l : r.value("log", json::array()))
      if (l.value("level", "") != "INFO" && l.value("level", "") != "DEBUG") lines.insert(l.value("message", ""));
  }
  ASSERT_GE(lines.size(), 12u);
  // The code each message must be explained as (a substring of the line picks the row).
  const std::pair<const char*, const char*> want[] = {
      {"the package for FlashAttention2 doesn't seem to be installed", "hf.fa2.not_installed"},
      {"the package flash_attn seems to be not installed", "hf.fa2.not_installed"},
      {"but Transformers does not recognize this architecture", "hf.model.unknown_type"},
      {"Unrecognized model identifier:", "hf.model.unknown_identifier"},
      {"the package for FlashAttention3 doesn't seem to be installed", "hf.fa3.not_installed"},
      {"`kernels` is either not installed", "hf.kernels.missing"},
      {"NoValidChoicesError", "torch.inductor.no_choices"},
      {"is not a valid attention implementation registered", "hf.attn.not_registered"},
      {"does not support an attention implementation through torch.nn.functional", "hf.sdpa.model_unsupported"},
      {"is not supported. The only possible arguments are", "hf.attn.unknown"},
      {"was called without a paged attention cache", "hf.paged.no_cache"},
      {"This model is compatible with the following flash attention implementations", "hf.gptoss.fa_redirect"},
      {"_compile flag on create_block_mask", "torch.flex.compile_flag_deprecated"},
      {"torch.jit.script_method", "torch.jit.script_method_deprecated"},
  };
  for (const auto& line : lines) {
    SCOPED_TRACE(line.substr(0, 200));
    std::vector<LogFinding> f = scan_log_text(line + "\n");
    ASSERT_EQ(f.size(), 1u) << "not recognised";
    EXPECT_FALSE(f[0].cause.empty());
    EXPECT_FALSE(f[0].fix.empty());
    EXPECT_FALSE(f[0].source.empty());
    bool matched_row = false;
    for (const auto& [needle, code] : want)
      if (line.find(needle) != std::string::npos) {
        matched_row = true;
        EXPECT_EQ(f[0].code, code);
      }
    EXPECT_TRUE(matched_row) << "a recorded message this test has no expected code for";
  }
}

// The KeyError after a redirected GPT-OSS load says why (the missing kernels package), and a path given as
// attn_implementation is called out as a path in the unknown-name message.
TEST(GroundTruthLog, ExplanationsNameTheCause) {
  auto f = scan_log_text(
      "KeyError: '`kernels-community/vllm-flash-attn3` is not a valid attention implementation registered in the "
      "`AttentionInterface`'\n");
  ASSERT_EQ(f.size(), 1u);
  EXPECT_NE(f[0].cause.find("GPT-OSS"), std::string::npos) << f[0].cause;
  EXPECT_NE(f[0].fix.find("pip install"), std::string::npos) << f[0].fix;
  auto g = scan_log_text(
      "ValueError: Specified `attn_implementation=\"/tmp/triton_attention_sink_hf/flash_attention_triton_sink.py\"` "
      "is not supported. The only possible arguments are `attn_implementation=\"eager\"`\n");
  ASSERT_EQ(g.size(), 1u);
  EXPECT_NE(g[0].cause.find("filesystem path"), std::string::npos);
  auto h = scan_log_text(
      "ImportError: `kernels` is either not installed or uses an incompatible version. Please install a compatible "
      "version (0.16.0 <= version < 0.17.0), e.g. `pip install kernels==0.16.0`\n");
  ASSERT_EQ(h.size(), 1u);
  EXPECT_NE(h[0].cause.find("one slash"), std::string::npos) << h[0].cause;
}

}  // namespace
}  // namespace attnscope::test
