#include "capture/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>
#include <sstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "capture/analysis.h"
#include "capture/spec_io.h"
#include "kernels/memory_model.h"

namespace attnscope {

namespace {

std::string fmt(const char* f, double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, x);
  return buf;
}

// A run that ran but carries no measurement (an outside run dumped without --time) says so.
std::string ms_text(const RunResult& r) {
  if (!r.ran) return "-";
  return is_timed(r) ? fmt("%.3f", r.median_ms) : "not timed";
}
std::string peak_text(const RunResult& r) {
  if (!r.ran) return "-";
  return is_timed(r) ? format_bytes(r.peak_bytes) : "not timed";
}

// "median 0.071 ms over 10 repeats; CUPTI off 0.070 ms (+1.4%); 36 kernels, 41 NVTX ranges"
std::string timing_line(const RunResult& r) {
  if (!is_timed(r)) return "not timed";
  std::string s = "median " + fmt("%.4g", r.median_ms) + " ms over " + std::to_string(r.times_ms.size()) +
                  (r.times_ms.size() == 1 ? " repeat" : " repeats");
  const double pct = cupti_overhead_pct(r);
  if (std::isfinite(pct))
    s += std::string("; ") + (r.backend == "outside" ? "without the profiler " : "CUPTI off ") +
         fmt("%.4g", r.median_untraced_ms) + " ms (overhead " + fmt("%+.1f%%", pct) + ")";
  if (!r.kernels.empty()) s += "; " + std::to_string(r.kernels.size()) + " kernel records";
  if (!r.ranges.empty()) s += ", " + std::to_string(r.ranges.size()) + " ranges";
  return s;
}

std::string status_of(const RunResult& r) {
  if (r.ran) return "ran";
  if (r.error.rfind("refused", 0) == 0) return "refused";
  return r.error.empty() ? "not run" : "failed";
}

// The memory model's name for a run: sdpa with the backend it ran.
std::string model_impl(const RunResult& r) {
  const std::string base = r.impl.empty() ? r.label : r.impl;
  return base == "sdpa" && !r.sdpa_backend.empty() ? "sdpa:" + r.sdpa_backend : base;
}

// Each implementation at the layer's full context (HF max_position_embeddings when known), against
// the GPU the capture ran on and the table's GPUs; once per implementation. `backward`: the layer's
// training need (fit_backward_at_context), for the implementations whose backward ran.
std::vector<ContextFit> context_fits(const Capture& cap, bool backward = false) {
  std::vector<ContextFit> fits;
  std::vector<std::string> seen;
  const std::optional<DeviceInfo> here = cap.env.backend == "cuda" ? named_gpu_in(cap.env.device) : std::nullopt;
  for (const auto& r : cap.runs) {
    if (r.backend == "outside" || (backward && !r.grad.ran)) continue;
    const std::string impl = model_impl(r);
    if (std::find(seen.begin(), seen.end(), impl) != seen.end()) continue;
    seen.push_back(impl);
    const DeviceInfo* h = here ? &*here : nullptr;
    fits.push_back(backward ? fit_backward_at_context(impl, cap.spec, full_context(cap.spec), h)
                            : fit_at_context(impl, cap.spec, full_context(cap.spec), h));
  }
  return fits;
}

// The backward section: per run its cost (apart from the forward's) and, per gradient tensor,
// the max abs error against fp64 with FA2's verdict; failing verdicts spelled out below.
// Width of the run column: the longest label (with its SDPA backend), at least 22.
int label_width(const Capture& cap) {
  size_t w = 22;
  for (const auto& r : cap.runs)
    w = std::max(w, r.label.size() + (r.sdpa_backend.empty() ? 0 : r.sdpa_backend.size() + 3));
  return static_cast<int>(std::min<size_t>(w, 60));
}

std::string backward_text(const Capture& cap) {
  if (!cap.has_backward()) return "";
  const int lw = label_width(cap);
  std::ostringstream o;
  const LayerSpec& s = cap.spec;
  o << "\nbackward (dO: " << (cap.inputs.dout.empty() ? "not stored" : "stored as /inputs/do")
    << "; gradients vs fp64, FA2's rule per tensor)\n";
  if (!cap.gradient_baseline.empty()) {
    o << "baseline eager (fp32 softmax, " << dtype_name(s.dtype) << ") vs fp64:";
    for (const auto& g : kGradientTensors) {
      auto it = cap.gradient_baseline.find(g.name);
      if (it != cap.gradient_baseline.end())
        o << " " << g.name << " " << fmt("%.3g", it->second);
    }
    o << (s.dtype == DType::F32 ? " (relative Frobenius)\n" : " (max abs)\n");
  }
  char line[512];
  std::snprintf(line, sizeof line, "%-*s %-8s %10s %10s  %-16s %-16s %-16s %-16s\n", lw, "run", "status", "bwd ms",
                "bwd peak", "dq", "dk", "dv", "dsinks");
  o << line;
  std::vector<std::string> failures;
  for (const RunResult& r : cap.runs) {
    const Gradients& g = r.grad;
    std::string cells[4];
    int k = 0;
    for (const auto& gt : kGradientTensors) {
      std::string& c = cells[k++];
      if ((g.*gt.member).empty()) {
        c = "-";
        continue;
      }
      Divergence d = compare_gradient(cap, r, cap.reference, gt.name);
      Acceptance a = gradient_acceptance(cap, r, gt.name, d);
      c = d.comparable ? fmt("%.3g", d.max_abs) : "?";
      if (a.applicable) {
        c += a.pass ? " pass" : " FAIL";
        if (!a.pass) failures.push_back(r.label + " " + gt.name + ": " + a.text);
      }
    }
    const std::string status = g.ran ? "ran" : (g.error.empty() ? "-" : "no");
    std::snprintf(line, sizeof line, "%-*s %-8s %10s %10s  %-16s %-16s %-16s %-16s\n", lw, r.label.c_str(),
                  status.c_str(), g.ran ? fmt("%.3f", g.median_ms).c_str() : "-",
                  g.ran ? format_bytes(g.peak_bytes).c_str() : "-", cells[0].c_str(), cells[1].c_str(),
                  cells[2].c_str(), cells[3].c_str());
    o << line;
    if (!g.ran && !g.error.empty() && r.ran) o << "    no gradients: " << g.error << "\n";
  }
  for (const auto& f : failures) o << "  " << f << "\n";
  return o.str();
}

}  // namespace

std::string report_text(const Capture& cap, const std::string& path) {
  std::ostringstream o;
  const LayerSpec& s = cap.spec;
  o << "capture  " << path << "  (format " << cap.format_version << ", " << cap.env.created << ")\n";
  o << "layer    " << (s.name.empty() ? "(unnamed)" : s.name) << "\n         " << s.summary() << "\n";
  o << "source   " << s.source << "\n";
  o << "inputs   " << cap.inputs.origin << "\n";
  o << "backend  " << cap.env.backend << " on " << cap.env.device;
  if (cap.env.backend == "cpu" && !cap.env.gpu_backend_status.empty() && cap.env.gpu_backend_status != "loaded")
    o << "  [" << cap.env.gpu_backend_status << "]";
  o << "\n";
  if (cap.env.backend == "cuda" && cap.env.gpu.empty())
    o << "         (no GPU environment recorded: format " << cap.format_version << " captures have none)\n";
  if (!cap.env.gpu.empty())
    for (const auto& [label, value] : environment_lines(cap.env.gpu)) {
      char row[320];
      std::snprintf(row, sizeof row, "         %-22s %s\n", label.c_str(), value.c_str());
      o << row;
    }
  if (cap.acceptance_baseline >= 0 && s.dtype != DType::F32)
    o << "baseline eager (fp32 softmax, " << dtype_name(s.dtype) << ") vs fp64: max abs "
      << fmt("%.3g", cap.acceptance_baseline) << "\n";
  o << "\n";
  char line[512];
  const int lw = label_width(cap);
  std::snprintf(line, sizeof line, "%-*s %-8s %-7s %10s %10s %10s %10s %9s  %s\n", lw, "run", "status", "backend",
                "ms", "peak", "max|d|", "rel fro", "lse |d|", "acceptance (vs fp64)");
  o << line;
  // Each run against the fp64 reference once; the table, what-if lines and NaN list read it.
  std::vector<Divergence> vs_ref;
  for (const auto& r : cap.runs) vs_ref.push_back(compare_to_reference(cap, r));
  for (size_t k = 0; k < cap.runs.size(); ++k) {
    const RunResult& r = cap.runs[k];
    const Divergence& d = vs_ref[k];
    Acceptance a = acceptance(cap, r, d);
    std::string name = r.label + (r.sdpa_backend.empty() ? "" : " [" + r.sdpa_backend + "]");
    std::snprintf(line, sizeof line, "%-*s %-8s %-7s %10s %10s %10s %10s %9s  %s\n", lw, name.c_str(),
                  status_of(r).c_str(), r.backend.c_str(), ms_text(r).c_str(), peak_text(r).c_str(),
                  d.comparable ? fmt("%.3g", d.max_abs).c_str() : "-",
                  d.comparable ? fmt("%.3g", d.rel_fro).c_str() : "-",
                  d.lse_compared ? fmt("%.2g", d.lse_max_abs).c_str() : "-",
                  a.applicable ? a.text.c_str() : (r.ran ? a.text.c_str() : r.error.c_str()));
    o << line;
  }
  o << "\ntiming\n";
  for (const RunResult& r : cap.runs)
    if (r.ran) o << "  " << r.label << ": " << timing_line(r) << "\n";
  o << backward_text(cap);
  o << "\nverdicts\n";
  for (size_t k = 0; k < cap.runs.size(); ++k) {
    const RunResult& r = cap.runs[k];
    o << "  " << r.label << ": " << (r.verdict.supported ? "supported" : "NOT SUPPORTED") << "\n";
    for (const auto& why : r.verdict.reasons)
      o << "    [" << severity_name(why.severity) << "] " << why.text << "  (" << why.source << ")\n";
    if (!r.what_if_dropped.empty()) {
      const Divergence& d = vs_ref[k];
      o << "    what-if: dropped";
      for (WhatIfDrop f : r.what_if_dropped) o << " " << what_if_drop_name(f);
      if (d.comparable) {
        o << "; divergence vs fp64: max abs " << fmt("%.3g", d.max_abs) << ", rel fro " << fmt("%.3g", d.rel_fro);
        if (d.worst.found)
          o << ", worst at b=" << d.worst.b << " h=" << d.worst.h << " row=" << d.worst.row;
      }
      o << "\n";
    }
  }
  o << "\nmemory   peak beyond q, k, v: measured / model (the library's allocation plan)\n";
  for (const auto& r : cap.runs) {
    if (r.backend == "outside") continue;
    o << "  " << r.label << (r.sdpa_backend.empty() ? "" : " [" + r.sdpa_backend + "]") << ": "
      << (r.ran ? format_bytes(r.peak_bytes) : std::string("-")) << " / " << format_bytes(r.model_bytes) << "\n";
  }
  const std::vector<ContextFit> fits = context_fits(cap);
  if (!fits.empty()) {
    o << "at " << (cap.spec.max_context > 0 ? "the model's full context" : "this layer's length (full context unknown)")
      << " (q, k, v and the mask included):\n";
    for (const auto& f : fits) o << "  " << f.sentence << "\n";
  }
  const std::vector<ContextFit> train = context_fits(cap, true);
  if (!train.empty()) {
    o << "training this layer at the same length (q, k, v, the mask, the output, dO and the backward's peak):\n";
    for (const auto& f : train) o << "  " << f.sentence << "\n";
  }
  bool any_nan = false;
  for (size_t k = 0; k < cap.runs.size(); ++k) {
    const RunResult& r = cap.runs[k];
    const Divergence& d = vs_ref[k];
    if (r.out.empty()) continue;
    if (d.first_nan_a.found) {
      if (!any_nan) o << "\nnon-finite outputs\n";
      any_nan = true;
      o << "  " << r.label << ": first " << (d.first_nan_a.nan ? "NaN" : "Inf") << " at b=" << d.first_nan_a.b
        << " h=" << d.first_nan_a.h << " row=" << d.first_nan_a.row << " col=" << d.first_nan_a.col << "\n";
    }
  }
  return o.str();
}

std::string report_json(const Capture& cap, const std::string& path) {
  using nlohmann::json;
  json j;
  j["capture"] = path;
  j["format_version"] = cap.format_version;
  j["spec"] = json::parse(spec_to_json(cap.spec));
  j["env"] = {{"attnscope_version", cap.env.attnscope_version}, {"created", cap.env.created},
              {"host", cap.env.host}, {"os", cap.env.os}, {"cpu", cap.env.cpu}, {"backend", cap.env.backend},
              {"device", cap.env.device}, {"gpu_backend_status", cap.env.gpu_backend_status}};
  if (!cap.env.gpu.empty()) {
    const GpuEnvironment& g = cap.env.gpu;
    j["env"]["gpu"] = {{"name", g.name},
                       {"compute_capability", std::to_string(g.cc_major) + "." + std::to_string(g.cc_minor)},
                       {"sm_count", g.sm_count},
                       {"memory_bytes", g.memory_bytes},
                       {"sm_clock_mhz", g.sm_clock_mhz},
                       {"memory_clock_mhz", g.memory_clock_mhz},
                       {"sm_clock_max_mhz", g.sm_clock_max_mhz},
                       {"memory_clock_max_mhz", g.memory_clock_max_mhz},
                       {"driver", g.driver},
                       {"cuda_driver", g.cuda_driver},
                       {"cuda_runtime", g.cuda_runtime},
                       {"cublas", g.cublas},
                       {"cudnn", g.cudnn.empty() ? json(nullptr) : json(g.cudnn)},
                       {"cupti", g.cupti},
                       {"nvtx", g.nvtx}};
  }
  j["inputs"] = cap.inputs.origin;
  j["acceptance_baseline"] = cap.acceptance_baseline;
  if (!cap.gradient_baseline.empty()) j["gradient_baseline"] = cap.gradient_baseline;
  json runs = json::array();
  for (const auto& r : cap.runs) {
    json jr;
    jr["label"] = r.label;
    jr["impl"] = r.impl;
    jr["backend"] = r.backend;
    jr["status"] = status_of(r);
    jr["error"] = r.error;
    jr["sdpa_backend"] = r.sdpa_backend;
    jr["what_if_dropped"] = what_if_drop_words(r.what_if_dropped);
    json reasons = json::array();
    for (const auto& why : r.verdict.reasons)
      reasons.push_back({{"severity", severity_name(why.severity)}, {"code", why.code}, {"text", why.text},
                         {"source", why.source}});
    jr["verdict"] = {{"supported", r.verdict.supported}, {"reasons", reasons}};
    // An untimed run's time and peak are null ("not timed"), never 0.
    const bool timed = is_timed(r);
    jr["timed"] = timed;
    jr["median_ms"] = timed ? json(r.median_ms) : json(nullptr);
    jr["peak_bytes"] = timed || !r.ran ? json(r.peak_bytes) : json(nullptr);
    jr["model_bytes"] = r.model_bytes;
    jr["model_impl"] = model_impl(r);
    jr["kernels"] = r.kernels.size();
    jr["ranges"] = r.ranges.size();
    const double pct = cupti_overhead_pct(r);
    jr["median_untraced_ms"] = r.median_untraced_ms > 0 ? json(r.median_untraced_ms) : json(nullptr);
    jr["cupti_overhead_pct"] = std::isfinite(pct) ? json(pct) : json(nullptr);
    Divergence d = compare_to_reference(cap, r);
    if (d.comparable) {
      jr["vs_reference"] = {{"max_abs", d.max_abs}, {"mean_abs", d.mean_abs}, {"rel_fro", d.rel_fro},
                            {"cosine", d.cosine}, {"ulp_within_1", d.ulp_within_1},
                            {"ulp_within_2", d.ulp_within_2}, {"rows_compared", d.rows_compared},
                            {"rows_unattended", d.rows_unattended},
                            {"worst", {{"b", d.worst.b}, {"h", d.worst.h}, {"row", d.worst.row}, {"col", d.worst.col}}},
                            {"nonfinite", d.first_nan_a.found}};
      if (d.lse_compared) jr["vs_reference"]["lse_max_abs"] = d.lse_max_abs;
      if (d.p_compared) {
        jr["vs_reference"]["p_argmax_agree"] = d.p_argmax_agree;
        jr["vs_reference"]["p_top5_agree"] = d.p_top5_agree;
      }
    }
    Acceptance a = acceptance(cap, r, d);
    jr["acceptance"] = {{"applicable", a.applicable}, {"pass", a.pass}, {"err", a.err},
                        {"baseline", a.baseline}, {"bound", a.bound}, {"text", a.text}};
    if (r.grad.ran || !r.grad.error.empty()) {
      const Gradients& g = r.grad;
      json grads = json::object();
      for (const auto& gt : kGradientTensors) {
        if ((g.*gt.member).empty()) continue;
        Divergence gd = compare_gradient(cap, r, cap.reference, gt.name);
        Acceptance ga = gradient_acceptance(cap, r, gt.name, gd);
        json jg = {{"shape", (g.*gt.member).shape}};
        if (gd.comparable)
          jg["vs_reference"] = {{"max_abs", gd.max_abs}, {"mean_abs", gd.mean_abs}, {"rel_fro", gd.rel_fro},
                                {"cosine", gd.cosine}, {"ulp_within_1", gd.ulp_within_1},
                                {"worst", {{"b", gd.worst.b}, {"h", gd.worst.h}, {"row", gd.worst.row},
                                           {"col", gd.worst.col}}},
                                {"nonfinite", gd.first_nan_a.found}};
        else
          jg["not_compared"] = gd.why_not;
        jg["acceptance"] = {{"applicable", ga.applicable}, {"pass", ga.pass}, {"err", ga.err},
                            {"baseline", ga.baseline}, {"bound", ga.bound}, {"text", ga.text}};
        grads[gt.name] = jg;
      }
      jr["backward"] = {{"ran", g.ran},           {"error", g.error},         {"median_ms", g.median_ms},
                        {"peak_bytes", g.peak_bytes}, {"model_bytes", g.model_bytes}, {"kernels", g.kernels.size()},
                        {"spans", g.spans.size()}, {"gradients", grads}};
    }
    runs.push_back(jr);
  }
  j["runs"] = runs;
  auto fits_json = [&](bool backward) {
    json ctx = json::array();
    for (const auto& f : context_fits(cap, backward))
      ctx.push_back({{"impl", f.need.impl},
                     {"seq", f.seq},
                     {"need_bytes", f.bytes},
                     {"peak_bytes", backward ? f.bytes - f.need.input_bytes - f.need.mask_bytes : f.need.peak_bytes},
                     {"basis", f.need.basis},
                     {"exceeds", f.exceeded ? f.exceeded->name : ""},
                     {"fits", f.fits ? f.fits->name : ""},
                     {"sentence", f.sentence}});
    return ctx;
  };
  j["full_context"] = fits_json(false);
  if (cap.has_backward()) j["full_context_backward"] = fits_json(true);
  return j.dump(2);
}

std::string diff_text(const Capture& ca, const RunResult& a, const Capture& cb, const RunResult& b) {
  std::ostringstream o;
  Capture merged = ca;  // analysis reads spec and inputs from the first capture
  (void)cb;
  Divergence d = compare(merged, a, b);
  o << a.label << " vs " << b.label << "\n";
  if (!d.comparable) {
    o << "  not comparable: " << d.why_not << "\n";
    return o.str();
  }
  o << "  max abs      " << fmt("%.4g", d.max_abs) << "  at b=" << d.worst.b << " h=" << d.worst.h
    << " row=" << d.worst.row << " col=" << d.worst.col << "\n";
  o << "  mean abs     " << fmt("%.4g", d.mean_abs) << "\n";
  o << "  rel fro      " << fmt("%.4g", d.rel_fro) << "\n";
  o << "  cosine       " << fmt("%.8f", d.cosine) << "\n";
  o << "  within 1 ulp " << fmt("%.2f%%", 100 * d.ulp_within_1) << ", within 2 ulp "
    << fmt("%.2f%%", 100 * d.ulp_within_2) << "\n";
  if (d.lse_compared) o << "  lse max abs  " << fmt("%.4g", d.lse_max_abs) << "\n";
  if (d.p_compared)
    o << "  P argmax agreement " << fmt("%.2f%%", 100 * d.p_argmax_agree) << ", top-5 "
      << fmt("%.2f%%", 100 * d.p_top5_agree) << "\n";
  o << "  rows compared " << d.rows_compared << " (" << d.rows_unattended << " rows with no visible key left out)\n";
  o << "  ulp histogram:";
  for (size_t k = 0; k < d.ulp_hist.size(); ++k)
    if (d.ulp_hist[k]) o << " [" << (k == 0 ? 0 : (1ll << (k - 1))) << "," << (k == 0 ? 1 : (1ll << k)) << "):" << d.ulp_hist[k];
  o << "\n  worst heads:";
  std::vector<HeadError> heads = d.per_head;
  std::sort(heads.begin(), heads.end(), [](const HeadError& x, const HeadError& y) { return x.max_abs > y.max_abs; });
  for (size_t k = 0; k < std::min<size_t>(5, heads.size()); ++k)
    o << " b" << heads[k].b << "/h" << heads[k].h << "=" << fmt("%.3g", heads[k].max_abs);
  o << "\n  worst rows:";
  for (size_t k = 0; k < std::min<size_t>(5, d.worst_rows.size()); ++k)
    o << " b" << d.worst_rows[k].b << "/h" << d.worst_rows[k].h << "/r" << d.worst_rows[k].row << "="
      << fmt("%.3g", d.worst_rows[k].max_abs);
  o << "\n";
  if (d.first_nan_a.found) o << "  first non-finite in " << a.label << " at row " << d.first_nan_a.row << "\n";
  if (d.first_nan_b.found) o << "  first non-finite in " << b.label << " at row " << d.first_nan_b.row << "\n";
  return o.str();
}

}  // namespace attnscope
