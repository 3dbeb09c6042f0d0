#include "capture/diagnose/render.h"

#include <cstdio>
#include <sstream>

#include <nlohmann/json.hpp>

#include "kernels/format.h"

namespace attnscope {

using nlohmann::json;

namespace {

// Multi-line library texts (Hydra's) keep the indentation of the block they are in.
std::string indented(const std::string& t, const std::string& indent) {
  std::string r;
  for (char c : t) {
    r += c;
    if (c == '\n') r += indent + "    ";
  }
  return r;
}

void reasons(std::ostringstream& o, const Verdict& v, const char* indent) {
  for (const auto& r : v.reasons) {
    o << indent << "[" << severity_name(r.severity) << "] " << indented(r.text, indent) << "\n";
    o << indent << "    (" << r.code << "; " << r.source << ")\n";
  }
}

// "fails at load (ImportError: hf.kernels.missing)" and the like; "" when not predicted.
std::string outcome_line(const HfOutcome& h) {
  if (h.stage.empty()) return "";
  std::string s = h.stage == "runs" ? "loads and runs" : h.stage == "load" ? "fails at load" : "loads; the first forward fails";
  if (h.stage != "runs") s += " (" + (h.exception.empty() ? std::string("exception type not known") : h.exception) + ": " + h.code + ")";
  if (!h.resolved.empty()) s += "; config._attn_implementation = " + h.resolved;
  return s;
}

void outcome_rows(std::ostringstream& o, const HfOutcome& p, const std::optional<HfOutcome>& again) {
  std::string a = outcome_line(p);
  if (!a.empty()) o << "      predicted: " << a << "\n";
  if (again) o << "      retried in the same process: " << outcome_line(*again) << "\n";
}

json outcome_json(const HfOutcome& h) {
  if (h.stage.empty()) return nullptr;
  return {{"stage", h.stage},         {"exception", h.exception},     {"code", h.code},
          {"prefix_only", h.prefix_only}, {"resolved", h.resolved},   {"lazy_kernel", h.lazy_kernel}};
}

void verdict_rows(std::ostringstream& o, const std::vector<ImplVerdict>& rows) {
  for (const auto& iv : rows) {
    o << "  " << iv.name << ": " << (!iv.known ? "NOT KNOWN" : iv.verdict.supported ? "supported" : "NOT SUPPORTED");
    if (!iv.outcome.empty()) o << " - " << iv.outcome;
    o << "\n";
    if (!iv.runs_as.empty()) o << "      runs as: " << iv.runs_as << "\n";
    outcome_rows(o, iv.predicted, iv.retried);
    reasons(o, iv.verdict, "      ");
  }
}

json reasons_json(const Verdict& v) {
  json a = json::array();
  for (const auto& r : v.reasons)
    a.push_back({{"severity", severity_name(r.severity)}, {"code", r.code}, {"text", r.text}, {"source", r.source}});
  return a;
}

json verdict_json(const Verdict& v) { return {{"supported", v.supported}, {"reasons", reasons_json(v)}}; }

json impl_json(const ImplVerdict& iv) {
  json j = {{"name", iv.name}, {"level", iv.level}, {"outcome", iv.outcome}, {"runs_as", iv.runs_as},
            {"verdict", verdict_json(iv.verdict)}};
  if (!iv.sdpa_backend.empty()) j["sdpa_backend"] = iv.sdpa_backend;
  if (!iv.known) j["known"] = false;  // the release is outside every range attnscope models
  if (iv.level == "transformers") {
    j["predicted"] = outcome_json(iv.predicted);
    j["retried"] = iv.retried ? outcome_json(*iv.retried) : json(nullptr);
  }
  return j;
}

json device_json(const DeviceInfo& d) {
  return {{"kind", d.is_gpu() ? "cuda" : "cpu"}, {"name", d.name},      {"sm", d.sm()},
          {"cc_major", d.cc_major},               {"cc_minor", d.cc_minor}, {"mem_total", d.mem_total},
          {"named", d.named},                     {"driver", d.driver},     {"describe", d.describe()}};
}

json spec_json(const LayerSpec& s) {
  return {{"name", s.name},         {"summary", s.summary()},       {"batch", s.batch},
          {"seq_q", s.seq_q},       {"seq_k", s.seq_k},             {"heads_q", s.heads_q},
          {"heads_kv", s.heads_kv}, {"head_dim", s.head_dim},       {"dtype", dtype_name(s.dtype)},
          {"causal", s.causal},     {"sliding_window", s.sliding_window}, {"sinks", s.sinks},
          {"softcap", s.softcap}};
}

}  // namespace

std::string render_diagnose_text(const DiagnoseReport& r) {
  std::ostringstream o;
  o << "attnscope diagnose " << r.attnscope_version << "\n\n";
  if (!r.summary.empty()) {
    o << "SUMMARY\n";
    for (const auto& s : r.summary) o << "  * " << s << "\n";
    o << "\n";
  }
  o << "DEVICE  " << r.device.describe() << "  [" << r.device_origin << "]\n";
  if (!r.device.driver.empty()) o << "  driver " << r.device.driver << "\n";
  for (const auto& n : r.device_notes)
    o << "  [" << severity_name(n.severity) << "] " << n.text << "\n";
  if (r.env.present) {
    o << "ENV     " << r.env.file << " (python " << r.env.python << ")\n";
    for (const auto& [name, p] : r.env.packages) {
      if (!p.installed && p.import_error.empty()) continue;
      o << "  " << name << " " << (p.installed ? p.version : "(not installed)");
      if (!p.import_error.empty()) o << "  IMPORT FAILS: " << p.import_error;
      o << "\n";
    }
    o << "  torch CUDA " << (r.env.torch_cuda.empty() ? "none" : r.env.torch_cuda)
      << ", cuda available: " << (r.env.torch_cuda_available ? "yes" : "no") << "\n";
  } else {
    o << "ENV     unknown (library versions not known: each reason lists the versions it applies to; record "
         "them with scripts/attnscope-env.py and pass --env)\n";
  }
  o << "LAYER   " << r.spec.summary() << "\n        from " << r.spec_source << "\n";
  if (r.model.present) {
    o << "MODEL   " << (r.model.model_type.empty() ? "?" : r.model.model_type) << " (" << r.model.hf_class << "), "
      << r.model.num_layers << " layers";
    for (size_t i = 0; i < r.model.layer_types.size(); ++i)
      o << (i ? ", " : ": ") << r.model.layer_counts[i] << " x " << r.model.layer_types[i];
    if (r.model.max_positions) o << ", context " << r.model.max_positions;
    if (r.model.sinks) o << ", learned sinks";
    o << "\n";
    HfModelFlags f = hf_model_flags(r.model.model_type);
    o << "        transformers flags: flash " << (f.supports_flash ? "yes" : "no") << ", sdpa "
      << (f.supports_sdpa ? "yes" : "no") << ", flex " << (f.supports_flex ? "yes" : "no");
    if (!f.note.empty()) o << " (" << f.note << ")";
    o << "\n";
  }
  o << "\nATTNSCOPE IMPLEMENTATIONS (kernel rules on this device)\n";
  verdict_rows(o, r.implementations);
  o << "\nTRANSFORMERS attn_implementation NAMES\n";
  verdict_rows(o, r.hf);
  if (r.requested) {
    o << "\nREQUESTED attn_implementation=\"" << r.requested->requested << "\" (" << r.requested->kind << "): "
      << (!r.requested->known ? "NOT KNOWN" : r.requested->verdict.supported ? "accepted" : "REFUSED") << "\n";
    if (!r.requested->resolves_to.empty()) o << "      resolves to: " << r.requested->resolves_to << "\n";
    outcome_rows(o, r.requested->predicted, r.requested->retried);
    reasons(o, r.requested->verdict, "      ");
  }
  if (r.verl.present) {
    o << "\nVERL " << r.verl.file << " (strategy " << r.verl.strategy << ", adv_estimator " << r.verl.adv_estimator
      << ")\n";
    for (const auto& ov : r.verl.overrides) o << "  override: " << ov << "\n";
    for (const auto& n : r.verl.notes)
      o << "  [" << severity_name(n.severity) << "] " << indented(n.text, "  ") << "\n      (" << n.code << "; "
        << n.source << ")\n";
    for (const auto& ro : r.verl.roles) {
      o << "  " << ro.role << (ro.enabled ? "" : " (not used by this config)") << ": " << ro.engine;
      if (!ro.attn_implementation.empty()) o << ", attn_implementation=" << ro.attn_implementation;
      o << "  [" << ro.attn_source << "]\n";
      o << "      load dtype " << ro.load_dtype << " [" << ro.load_dtype_source << "], compute dtype "
        << ro.compute_dtype << " [" << ro.compute_dtype_source << "]"
        << (ro.remove_padding ? ", use_remove_padding" : "") << "\n";
      o << "      -> " << (ro.verdict.supported ? "works" : "FAILS") << "\n";
      reasons(o, ro.verdict, "      ");
    }
  }
  if (!r.log_file.empty()) {
    o << "\nLOG " << r.log_file << ": " << r.log.size() << " recognised of " << r.log_lines << " lines\n";
    for (const auto& f : r.log) {
      o << "  line " << f.line << " [" << severity_name(f.severity) << "] " << f.excerpt << "\n";
      o << "      message: " << f.message << "\n      cause: " << f.cause << "\n      fix: " << f.fix << "\n"
        << "      (" << f.code << "; " << f.source << ")\n";
    }
  }
  if (!r.fixes.empty()) {
    o << "\nFIXES (cheapest first)\n";
    for (const auto& f : r.fixes) {
      o << "  " << f.rank << ". [" << f.where << "] " << f.line << "\n";
      o << "       why: " << f.why << "\n       cost: " << f.cost << "\n";
    }
  }
  if (!r.memory.empty()) {
    o << "\nATTENTION MEMORY at full context (" << r.memory[0].seq << " tokens, batch " << r.memory[0].batch << ", "
      << r.memory[0].layers << " layers)\n";
    char b[256];
    std::snprintf(b, sizeof b, "  %-18s %14s %18s %20s\n", "impl", "forward/layer", "kept for bwd/layer",
                  "all layers (train)");
    o << b;
    for (const auto& m : r.memory) {
      std::snprintf(b, sizeof b, "  %-18s %14s %18s %20s\n", m.impl.c_str(), format_bytes(m.forward_bytes).c_str(),
                    format_bytes(m.backward_bytes).c_str(), format_bytes(m.model_total_bytes).c_str());
      o << b;
    }
    o << "  (" << r.memory[0].note << ")\n";
    for (size_t i = 1; i < r.memory.size(); ++i)
      if (r.memory[i].note != r.memory[0].note) o << "  (" << r.memory[i].impl << ": " << r.memory[i].note << ")\n";
  }
  if (!r.run_note.empty()) {
    o << "\nRUN  " << r.run_note << "\n";
    for (const auto& d : r.runs) {
      char b[512];
      if (d.ran)
        std::snprintf(b, sizeof b, "  %-20s max|err| vs fp64 %.3e  rel_fro %.3e  %.3f ms  peak %s  %s\n",
                      d.label.c_str(), d.max_abs_vs_fp64, d.rel_fro_vs_fp64, d.median_ms, format_bytes(d.peak_bytes).c_str(),
                      d.acceptance.c_str());
      else
        std::snprintf(b, sizeof b, "  %-20s did not run: %s\n", d.label.c_str(), d.error.c_str());
      o << b;
    }
  }
  return o.str();
}

std::string render_diagnose_json(const DiagnoseReport& r) {
  json j;
  j["format"] = "attnscope-diagnose";
  j["version"] = 1;
  j["attnscope_version"] = r.attnscope_version;
  j["summary"] = r.summary;
  j["device"] = device_json(r.device);
  j["device"]["origin"] = r.device_origin;
  json dn = json::array();
  for (const auto& n : r.device_notes)
    dn.push_back({{"severity", severity_name(n.severity)}, {"code", n.code}, {"text", n.text}, {"source", n.source}});
  j["device"]["notes"] = dn;
  if (r.env.present) {
    json pk = json::object();
    for (const auto& [name, p] : r.env.packages)
      pk[name] = {{"installed", p.installed}, {"version", p.version}, {"import_error", p.import_error}};
    j["env"] = {{"file", r.env.file},       {"python", r.env.python},  {"packages", pk},
                {"torch_cuda", r.env.torch_cuda}, {"torch_cuda_available", r.env.torch_cuda_available},
                {"driver", r.env.driver}};
  } else {
    j["env"] = nullptr;
  }
  j["layer"] = spec_json(r.spec);
  j["layer"]["source"] = r.spec_source;
  if (r.model.present) {
    HfModelFlags f = hf_model_flags(r.model.model_type);
    json layers = json::array();
    for (size_t i = 0; i < r.model.layers.size(); ++i)
      layers.push_back({{"type", r.model.layer_types[i]}, {"count", r.model.layer_counts[i]},
                        {"spec", spec_json(r.model.layers[i])}});
    j["model"] = {{"source", r.model.source},
                  {"model_type", r.model.model_type},
                  {"class", r.model.hf_class},
                  {"num_layers", r.model.num_layers},
                  {"max_positions", r.model.max_positions},
                  {"sinks", r.model.sinks},
                  {"layers", layers},
                  {"hf_flags",
                   {{"known", f.known}, {"flash", f.supports_flash}, {"sdpa", f.supports_sdpa}, {"flex", f.supports_flex}}}};
  } else {
    j["model"] = nullptr;
  }
  json impls = json::array(), hf = json::array();
  for (const auto& iv : r.implementations) impls.push_back(impl_json(iv));
  for (const auto& iv : r.hf) hf.push_back(impl_json(iv));
  j["implementations"] = impls;
  j["transformers"] = hf;
  if (r.requested)
    j["requested"] = {{"requested", r.requested->requested}, {"kind", r.requested->kind},
                      {"resolves_to", r.requested->resolves_to}, {"verdict", verdict_json(r.requested->verdict)},
                      {"predicted", outcome_json(r.requested->predicted)},
                      {"retried", r.requested->retried ? outcome_json(*r.requested->retried) : json(nullptr)}};
  if (r.requested && !r.requested->known) j["requested"]["known"] = false;
  if (!r.requested)
    j["requested"] = nullptr;
  if (r.verl.present) {
    json roles = json::array();
    for (const auto& ro : r.verl.roles)
      roles.push_back({{"role", ro.role},
                       {"enabled", ro.enabled},
                       {"engine", ro.engine},
                       {"attn_implementation", ro.attn_implementation},
                       {"attn_source", ro.attn_source},
                       {"load_dtype", ro.load_dtype},
                       {"load_dtype_source", ro.load_dtype_source},
                       {"compute_dtype", ro.compute_dtype},
                       {"compute_dtype_source", ro.compute_dtype_source},
                       {"remove_padding", ro.remove_padding},
                       {"verdict", verdict_json(ro.verdict)}});
    json notes = json::array();
    for (const auto& n : r.verl.notes)
      notes.push_back({{"severity", severity_name(n.severity)}, {"code", n.code}, {"text", n.text}, {"source", n.source}});
    j["verl"] = {{"file", r.verl.file},   {"overrides", r.verl.overrides}, {"strategy", r.verl.strategy},
                 {"adv_estimator", r.verl.adv_estimator}, {"roles", roles}, {"notes", notes}};
  } else {
    j["verl"] = nullptr;
  }
  json log = json::array();
  for (const auto& f : r.log)
    log.push_back({{"line", f.line},         {"excerpt", f.excerpt}, {"code", f.code},
                   {"severity", severity_name(f.severity)}, {"message", f.message}, {"cause", f.cause},
                   {"fix", f.fix},           {"source", f.source}});
  j["log"] = r.log_file.empty() ? json(nullptr) : json{{"file", r.log_file}, {"lines", r.log_lines}, {"findings", log}};
  json fixes = json::array();
  for (const auto& f : r.fixes)
    fixes.push_back({{"rank", f.rank}, {"where", f.where}, {"line", f.line}, {"why", f.why}, {"cost", f.cost}});
  j["fixes"] = fixes;
  json mem = json::array();
  for (const auto& m : r.memory)
    mem.push_back({{"impl", m.impl},
                   {"seq", m.seq},
                   {"batch", m.batch},
                   {"layers", m.layers},
                   {"forward_bytes_per_layer", m.forward_bytes},
                   {"backward_kept_bytes_per_layer", m.backward_bytes},
                   {"model_total_bytes", m.model_total_bytes},
                   {"note", m.note}});
  j["memory"] = mem;
  json runs = json::array();
  for (const auto& d : r.runs)
    runs.push_back({{"impl", d.impl},
                    {"label", d.label},
                    {"ran", d.ran},
                    {"error", d.error},
                    {"device", d.device},
                    {"seq", d.seq},
                    {"batch", d.batch},
                    {"dtype", d.dtype},
                    {"max_abs_vs_fp64", d.max_abs_vs_fp64},
                    {"rel_fro_vs_fp64", d.rel_fro_vs_fp64},
                    {"acceptance", {{"applicable", d.acceptance_applicable}, {"pass", d.acceptance_pass}, {"text", d.acceptance}}},
                    {"median_ms", d.median_ms},
                    {"peak_bytes", d.peak_bytes}});
  j["run"] = r.run_note.empty() ? json(nullptr) : json{{"note", r.run_note}, {"results", runs}};
  return j.dump(2);
}

}  // namespace attnscope

