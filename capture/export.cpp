// Chrome trace event JSON and the per-run summary (JSON, CSV) of a capture.
#include "capture/export.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "capture/analysis.h"

namespace attnscope {

namespace {

using nlohmann::json;

json meta(const char* what, int pid, int tid, const std::string& name) {
  return {{"name", what}, {"ph", "M"}, {"pid", pid}, {"tid", tid}, {"args", {{"name", name}}}};
}
json sort_index(int pid, int tid, int index) {
  return {{"name", "thread_sort_index"}, {"ph", "M"}, {"pid", pid}, {"tid", tid}, {"args", {{"sort_index", index}}}};
}

// JSON has no NaN/Inf: non-finite times (a broken record) become 0 so the file still loads.
double finite(double x) { return std::isfinite(x) ? x : 0.0; }

// One phase of a run: the forward's records, or the backward's (kept apart in RunResult::grad).
struct Phase {
  const char* name;  // "forward" | "backward"
  const std::vector<KernelRecord>& kernels;
  const std::vector<HostSpan>& spans;
  const std::vector<MemoryEvent>& memory;
};

void add_run(json& ev, int pid, int* next_tid, const RunResult& r, const TraceOptions& opt) {
  const Phase phases[] = {{"forward", r.kernels, r.spans, r.memory},
                          {"backward", r.grad.kernels, r.grad.spans, r.grad.memory}};
  bool has_kernels = false, has_spans = false, has_memory = false;
  for (const Phase& p : phases) {
    has_kernels |= opt.kernels && !p.kernels.empty();
    has_spans |= opt.spans && !p.spans.empty();
    has_memory |= opt.memory && !p.memory.empty();
  }
  if (!has_kernels && !has_spans && !has_memory) return;
  const int tid = (*next_tid)++;
  std::string track = r.label + " [" + (r.backend.empty() ? "?" : r.backend) + "]";
  ev.push_back(meta("thread_name", pid, tid, track));
  ev.push_back(sort_index(pid, tid, tid));
  int span_tid = tid;
  if (has_spans && has_kernels) {  // host spans overlap asynchronous kernels: they get their own track
    span_tid = (*next_tid)++;
    ev.push_back(meta("thread_name", pid, span_tid, r.label + " (host)"));
    ev.push_back(sort_index(pid, span_tid, span_tid));
  }
  for (const Phase& p : phases) {
    const std::string pass = p.name;
    if (opt.kernels)
      for (const KernelRecord& k : p.kernels) {
        if (k.repeat < 0 && !opt.warmup) continue;
        json args = {{"grid", {k.grid[0], k.grid[1], k.grid[2]}},
                     {"block", {k.block[0], k.block[1], k.block[2]}},
                     {"registers per thread", k.registers},
                     {"shared memory", static_cast<int64_t>(k.shared_static) + k.shared_dynamic},
                     {"static shared memory", k.shared_static},
                     {"dynamic shared memory", k.shared_dynamic},
                     {"stream", k.stream},
                     {"correlation", k.correlation},
                     {"repeat", k.repeat},
                     {"run", r.label},
                     {"pass", pass}};
        ev.push_back({{"name", k.name}, {"cat", pass == "forward" ? "kernel" : "kernel,backward"}, {"ph", "X"},
                      {"pid", pid}, {"tid", tid}, {"ts", finite(k.start_us)}, {"dur", std::max(0.0, finite(k.dur_us))},
                      {"args", args}});
      }
    if (opt.spans)
      for (const HostSpan& s : p.spans)
        ev.push_back({{"name", s.name}, {"cat", pass == "forward" ? "host" : "host,backward"}, {"ph", "X"},
                      {"pid", pid}, {"tid", span_tid}, {"ts", finite(s.start_us)},
                      {"dur", std::max(0.0, finite(s.dur_us))},
                      {"args", {{"run", r.label}, {"thread", s.thread}, {"pass", pass}}}});
    if (opt.memory) {
      int64_t in_use = 0;
      const std::string counter = r.label + (pass == "forward" ? " memory" : " backward memory");
      for (const MemoryEvent& m : p.memory) {
        in_use += m.bytes;
        ev.push_back({{"name", counter}, {"cat", "memory"}, {"ph", "C"}, {"pid", pid}, {"tid", tid},
                      {"ts", finite(m.t_us)}, {"args", {{"bytes in use", in_use}}}});
      }
    }
  }
}

json verdict_json(const Verdict& v) {
  json reasons = json::array();
  for (const Reason& r : v.reasons)
    reasons.push_back({{"severity", severity_name(r.severity)}, {"code", r.code}, {"text", r.text}, {"source", r.source}});
  return {{"supported", v.supported}, {"reasons", reasons}};
}

std::string verdict_line(const Verdict& v) {
  std::string s = v.supported ? "supported" : "unsupported";
  std::string codes;
  for (const Reason& r : v.reasons)
    if (r.severity == Severity::Error || r.severity == Severity::Silent)
      codes += (codes.empty() ? "" : "; ") + r.code;
  return codes.empty() ? s : s + ": " + codes;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string r = "\"";
  for (char c : s) r += c == '"' ? std::string("\"\"") : std::string(1, c);
  return r + "\"";
}

std::string num(double x) {
  if (!std::isfinite(x)) return std::isnan(x) ? "nan" : (x > 0 ? "inf" : "-inf");
  char b[32];
  std::snprintf(b, sizeof b, "%.6g", x);
  return b;
}

struct Row {
  const RunResult* r = nullptr;
  bool compared = false;
  double max_abs = 0, rel_fro = 0;
  std::string why_not;
  Acceptance acc;
};

std::vector<Row> rows_of(const Capture& cap) {
  std::vector<Row> rows;
  for (const RunResult& r : cap.runs) {
    Row row;
    row.r = &r;
    if (!r.out.empty() && !cap.reference.out.empty()) {
      Divergence d = compare_to_reference(cap, r);
      row.compared = d.comparable;
      row.max_abs = d.max_abs;
      row.rel_fro = d.rel_fro;
      row.why_not = d.why_not;
      row.acc = acceptance(cap, r, d);
    } else {
      row.why_not = r.out.empty() ? "no output" : "no reference in this capture";
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace

std::string trace_json(const std::vector<const Capture*>& caps, const TraceOptions& opt) {
  json ev = json::array();
  int pid = 0;
  for (const Capture* cap : caps) {
    if (!cap) continue;
    ++pid;
    std::string pname = "attnscope: " + (cap->spec.name.empty() ? std::string("layer") : cap->spec.name);
    if (!cap->env.device.empty()) pname += " on " + cap->env.device;
    ev.push_back(meta("process_name", pid, 0, pname));
    ev.push_back({{"name", "process_sort_index"}, {"ph", "M"}, {"pid", pid}, {"tid", 0}, {"args", {{"sort_index", pid}}}});
    int tid = 1;
    if (opt.reference) add_run(ev, pid, &tid, cap->reference, opt);
    for (const RunResult& r : cap->runs) add_run(ev, pid, &tid, r, opt);
  }
  json doc = {{"traceEvents", ev}, {"displayTimeUnit", "ms"}};
  if (caps.size() == 1 && caps[0]) {
    const Capture& c = *caps[0];
    doc["otherData"] = {{"layer", c.spec.summary()}, {"created", c.env.created}, {"host", c.env.host},
                        {"device", c.env.device}, {"attnscope_version", c.env.attnscope_version}};
  }
  return doc.dump(1, ' ', false, json::error_handler_t::replace);
}

std::string trace_json(const Capture& cap, const TraceOptions& opt) {
  return trace_json(std::vector<const Capture*>{&cap}, opt);
}

std::string summary_json(const Capture& cap) {
  json runs = json::array();
  for (const Row& row : rows_of(cap)) {
    const RunResult& r = *row.r;
    json j = {{"label", r.label},
              {"impl", r.impl},
              {"backend", r.backend},
              {"device", r.device},
              {"ran", r.ran},
              {"error", r.error},
              {"verdict", verdict_json(r.verdict)},
              {"median_ms", r.median_ms},
              {"times_ms", r.times_ms},
              {"peak_bytes", r.peak_bytes},
              {"model_bytes", r.model_bytes},
              {"what_if_dropped", what_if_drop_words(r.what_if_dropped)},
              {"sdpa_backend", r.sdpa_backend}};
    if (row.compared) {
      j["max_abs_err"] = std::isfinite(row.max_abs) ? json(row.max_abs) : json(nullptr);
      j["rel_fro_err"] = std::isfinite(row.rel_fro) ? json(row.rel_fro) : json(nullptr);
    } else {
      j["max_abs_err"] = nullptr;
      j["rel_fro_err"] = nullptr;
      j["not_compared"] = row.why_not;
    }
    j["acceptance"] = {{"applicable", row.acc.applicable}, {"pass", row.acc.pass}, {"text", row.acc.text}};
    if (r.grad.ran || !r.grad.error.empty()) {
      json grads = json::object();
      for (const auto& gt : kGradientTensors) {
        if ((r.grad.*gt.member).empty() || cap.reference.grad.empty()) continue;
        Divergence d = compare_gradient(cap, r, cap.reference, gt.name);
        Acceptance a = gradient_acceptance(cap, r, gt.name, d);
        grads[gt.name] = {{"max_abs_err", d.comparable && std::isfinite(d.max_abs) ? json(d.max_abs) : json(nullptr)},
                          {"acceptance", {{"applicable", a.applicable}, {"pass", a.pass}, {"text", a.text}}}};
      }
      j["backward"] = {{"ran", r.grad.ran}, {"error", r.grad.error}, {"median_ms", r.grad.median_ms},
                       {"times_ms", r.grad.times_ms}, {"peak_bytes", r.grad.peak_bytes},
                       {"model_bytes", r.grad.model_bytes}, {"gradients", grads}};
    }
    runs.push_back(std::move(j));
  }
  json doc = {{"format", "attnscope-summary"},
              {"format_version", 1},
              {"layer", cap.spec.summary()},
              {"dtype", dtype_name(cap.spec.dtype)},
              {"device", cap.env.device},
              {"created", cap.env.created},
              {"inputs", cap.inputs.origin},
              {"acceptance_baseline", cap.acceptance_baseline},
              {"runs", runs}};
  return doc.dump(2, ' ', false, json::error_handler_t::replace);
}

std::string summary_csv(const Capture& cap) {
  std::string out =
      "label,impl,backend,ran,supported,verdict,median_ms,peak_bytes,model_bytes,max_abs_err,rel_fro_err,acceptance,error\n";
  for (const Row& row : rows_of(cap)) {
    const RunResult& r = *row.r;
    std::string acc = row.acc.applicable ? (row.acc.pass ? "pass" : "fail") : "";
    out += csv_field(r.label) + "," + csv_field(r.impl) + "," + csv_field(r.backend) + "," + (r.ran ? "1" : "0") + "," +
           (r.verdict.supported ? "1" : "0") + "," + csv_field(verdict_line(r.verdict)) + "," + num(r.median_ms) + "," +
           std::to_string(r.peak_bytes) + "," + std::to_string(r.model_bytes) + "," + (row.compared ? num(row.max_abs) : "") +
           "," + (row.compared ? num(row.rel_fro) : "") + "," + acc + "," + csv_field(r.error) + "\n";
  }
  return out;
}

std::string write_text_file(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  {
    std::ofstream o(tmp, std::ios::binary | std::ios::trunc);
    if (!o) return path + ": cannot create " + tmp;
    o.write(text.data(), static_cast<std::streamsize>(text.size()));
    o.close();
    if (!o) {
      std::remove(tmp.c_str());
      return path + ": write failed";
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string e = std::strerror(errno);
    std::remove(tmp.c_str());
    return path + ": cannot rename into place: " + e;
  }
  return "";
}

}  // namespace attnscope
