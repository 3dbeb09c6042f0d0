#include "capture/outside_timing.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "kernels/format.h"

namespace attnscope {

namespace {

using nlohmann::json;

constexpr int kVersion = 1;
constexpr size_t kMaxRecords = size_t{1} << 22;  // kernels, ranges or times in one record

// Reads typed fields of the record; the first problem wins and names FILE, the field and what is wrong.
struct Fields {
  std::string file;
  std::string error;

  bool fail(const std::string& field, const std::string& problem) {
    if (error.empty()) error = file + ": " + std::string(kOutsideTimingKey) + (field.empty() ? "" : "." + field) + ": " + problem;
    return false;
  }
  static std::string shown(const json& v) {
    std::string s = v.dump(-1, ' ', false, json::error_handler_t::replace);
    return s.size() > 40 ? s.substr(0, 37) + "..." : s;
  }
  const json* member(const json& o, const std::string& where, const char* key, bool required) {
    auto it = o.find(key);
    if (it == o.end()) {
      if (required) fail(where + key, "missing");
      return nullptr;
    }
    return &*it;
  }
  bool integer(const json& o, const std::string& where, const char* key, int64_t lo, int64_t hi, int64_t* out,
               bool required = true) {
    const json* v = member(o, where, key, required);
    if (!v) return !required;
    if (!v->is_number_integer()) return fail(where + key, "expected an integer, got " + shown(*v));
    const int64_t x = v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)
                          ? INT64_MAX
                          : v->get<int64_t>();
    if (x < lo || x > hi)
      return fail(where + key, std::to_string(x) + " is outside [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
    *out = x;
    return true;
  }
  bool number(const json& o, const std::string& where, const char* key, double lo, double* out) {
    const json* v = member(o, where, key, true);
    if (!v) return false;
    if (!v->is_number()) return fail(where + key, "expected a number, got " + shown(*v));
    const double x = v->get<double>();
    if (!std::isfinite(x) || x < lo) return fail(where + key, shown(*v) + " is not a finite number >= " + shown(json(lo)));
    *out = x;
    return true;
  }
  bool text(const json& o, const std::string& where, const char* key, std::string* out, bool required) {
    const json* v = member(o, where, key, required);
    if (!v) return !required;
    if (!v->is_string()) return fail(where + key, "expected a string, got " + shown(*v));
    *out = v->get<std::string>();
    return true;
  }
  bool triple(const json& o, const std::string& where, const char* key, int out[3]) {
    const json* v = member(o, where, key, true);
    if (!v) return false;
    if (!v->is_array() || v->size() != 3) return fail(where + key, "expected [x, y, z], got " + shown(*v));
    for (size_t i = 0; i < 3; ++i) {
      const json& x = (*v)[i];
      if (!x.is_number_integer() || x.get<int64_t>() < 0 || x.get<int64_t>() > INT32_MAX)
        return fail(where + key, "expected [x, y, z] of non-negative integers, got " + shown(*v));
      out[i] = static_cast<int>(x.get<int64_t>());
    }
    return true;
  }
  bool times(const json& o, const char* key, size_t count, std::vector<double>* out, bool required) {
    const json* v = member(o, "", key, required);
    if (!v) return !required;
    if (!v->is_array()) return fail(key, "expected a list of milliseconds, got " + shown(*v));
    if (v->size() != count)
      return fail(key, std::to_string(v->size()) + " times for " + std::to_string(count) + " repeats");
    for (size_t i = 0; i < v->size(); ++i) {
      const json& x = (*v)[i];
      if (!x.is_number() || !std::isfinite(x.get<double>()) || x.get<double>() <= 0)
        return fail(std::string(key) + "[" + std::to_string(i) + "]", "expected a positive number of milliseconds, got " + shown(x));
      out->push_back(x.get<double>());
    }
    return true;
  }
  const json* list(const json& o, const char* key) {
    const json* v = member(o, "", key, false);
    if (!v) return nullptr;
    if (!v->is_array()) {
      fail(key, "expected a list, got " + shown(*v));
      return nullptr;
    }
    if (v->size() > kMaxRecords) {
      fail(key, std::to_string(v->size()) + " entries, more than " + std::to_string(kMaxRecords));
      return nullptr;
    }
    return v;
  }
};

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

bool read_kernel(Fields& f, const json& k, size_t i, int repeats, KernelRecord* out) {
  const std::string where = "kernels[" + std::to_string(i) + "].";
  if (!k.is_object()) return f.fail("kernels[" + std::to_string(i) + "]", "expected an object, got " + Fields::shown(k));
  KernelRecord r;
  int64_t regs = 0, stream = 0, correlation = 0, repeat = 0, shared = 0, st = 0, dy = 0;
  if (!f.text(k, where, "name", &r.name, true)) return false;
  if (r.name.empty()) return f.fail(where + "name", "empty");
  if (!f.number(k, where, "start_us", -1e12, &r.start_us) || !f.number(k, where, "dur_us", 0, &r.dur_us) ||
      !f.triple(k, where, "grid", r.grid) || !f.triple(k, where, "block", r.block) ||
      !f.integer(k, where, "registers", 0, 65536, &regs) || !f.integer(k, where, "stream", 0, INT32_MAX, &stream) ||
      !f.integer(k, where, "correlation", 0, INT64_MAX, &correlation) ||
      !f.integer(k, where, "repeat", -2, repeats - 1, &repeat))
    return false;
  // torch.profiler reports static + dynamic shared memory as one number; a split is kept where given.
  if (k.contains("shared_static") || k.contains("shared_dynamic")) {
    if (!f.integer(k, where, "shared_static", 0, INT32_MAX, &st) || !f.integer(k, where, "shared_dynamic", 0, INT32_MAX, &dy))
      return false;
  } else {
    if (!f.integer(k, where, "shared_memory", 0, INT32_MAX, &shared)) return false;
    dy = shared;
  }
  r.registers = static_cast<int>(regs);
  r.stream = static_cast<int>(stream);
  r.correlation = static_cast<uint64_t>(correlation);
  r.repeat = static_cast<int>(repeat);
  r.shared_static = static_cast<int>(st);
  r.shared_dynamic = static_cast<int>(dy);
  *out = std::move(r);
  return true;
}

bool read_range(Fields& f, const json& g, size_t i, RangeRecord* out) {
  const std::string where = "ranges[" + std::to_string(i) + "].";
  if (!g.is_object()) return f.fail("ranges[" + std::to_string(i) + "]", "expected an object, got " + Fields::shown(g));
  RangeRecord r;
  int64_t depth = 0;
  if (!f.text(g, where, "name", &r.name, true) || !f.number(g, where, "start_us", -1e12, &r.start_us) ||
      !f.number(g, where, "dur_us", 0, &r.dur_us) || !f.integer(g, where, "depth", 0, 64, &depth))
    return false;
  r.depth = static_cast<int>(depth);
  *out = std::move(r);
  return true;
}

}  // namespace

std::string apply_outside_timing(const std::string& file, const std::string& json_text, RunResult* run) {
  Fields f{file, ""};
  const json doc = json::parse(json_text, nullptr, false);
  if (doc.is_discarded()) return file + ": " + kOutsideTimingKey + ": not valid JSON";
  if (!doc.is_object()) return file + ": " + kOutsideTimingKey + ": expected a JSON object, got " + Fields::shown(doc);
  std::string format, device, function, producer;
  int64_t version = 0, warmup = 0, repeats = 0, peak = 0, flush = 0;
  if (!f.text(doc, "", "format", &format, true)) return f.error;
  if (format != "attnscope-outside-timing")
    return file + ": " + kOutsideTimingKey + ".format: \"" + format + "\" is not \"attnscope-outside-timing\"";
  if (!f.integer(doc, "", "version", 0, INT32_MAX, &version)) return f.error;
  if (version != kVersion)
    return file + ": " + kOutsideTimingKey + ".version: " + std::to_string(version) + " is not supported (this attnscope reads " +
           std::to_string(kVersion) + ")";
  if (!f.text(doc, "", "producer", &producer, false) || !f.text(doc, "", "device", &device, false) ||
      !f.text(doc, "", "function", &function, false) || !f.integer(doc, "", "warmup", 0, 1 << 20, &warmup) ||
      !f.integer(doc, "", "repeats", 1, 1 << 20, &repeats) || !f.integer(doc, "", "peak_bytes", 0, INT64_MAX, &peak) ||
      !f.integer(doc, "", "l2_flush_bytes", 0, INT64_MAX, &flush, false))
    return f.error;

  RunResult r = *run;
  std::vector<double> plain, profiled;
  if (!f.times(doc, "times_ms", static_cast<size_t>(repeats), &plain, true) ||
      !f.times(doc, "profiled_times_ms", static_cast<size_t>(repeats), &profiled, false))
    return f.error;
  std::string env_text;
  if (const json* env = f.member(doc, "", "environment", false)) {
    if (!env->is_object()) return file + ": " + kOutsideTimingKey + ".environment: expected an object, got " + Fields::shown(*env);
    for (const auto& [k, v] : env->items()) {
      if (!v.is_string())
        return file + ": " + kOutsideTimingKey + ".environment." + k + ": expected a string, got " + Fields::shown(v);
      env_text += (env_text.empty() ? "" : ", ") + k + " " + v.get<std::string>();
    }
  }
  r.kernels.clear();
  if (const json* ks = f.list(doc, "kernels")) {
    for (size_t i = 0; i < ks->size(); ++i) {
      KernelRecord k;
      if (!read_kernel(f, (*ks)[i], i, static_cast<int>(repeats), &k)) return f.error;
      r.kernels.push_back(std::move(k));
    }
  }
  if (!f.error.empty()) return f.error;
  r.ranges.clear();
  if (const json* rs = f.list(doc, "ranges")) {
    for (size_t i = 0; i < rs->size(); ++i) {
      RangeRecord g;
      if (!read_range(f, (*rs)[i], i, &g)) return f.error;
      r.ranges.push_back(std::move(g));
    }
  }
  if (!f.error.empty()) return f.error;
  std::stable_sort(r.kernels.begin(), r.kernels.end(),
                   [](const KernelRecord& a, const KernelRecord& b) { return a.start_us < b.start_us; });

  // Like attnscope's own GPU runs: the headline time is the traced one (kernels recorded), and the
  // plain CUDA-event time beside it gives the profiler's overhead.
  if (profiled.empty()) {
    r.times_ms = plain;
    r.times_untraced_ms.clear();
  } else {
    r.times_ms = profiled;
    r.times_untraced_ms = plain;
  }
  r.median_ms = median(r.times_ms);
  r.median_untraced_ms = median(r.times_untraced_ms);
  r.peak_bytes = peak;
  if (!device.empty()) r.device = device + " (outside: " + file + ")";
  std::string how = "timed by " + (producer.empty() ? std::string("the dump") : producer) +
                    (function.empty() ? "" : " running '" + function + "'") + ": CUDA events over " +
                    std::to_string(repeats) + " repeats after " + std::to_string(warmup) + " warm-up calls" +
                    (flush > 0 ? ", L2 flushed (" + format_bytes(flush) + ") before each" : "") + "; " +
                    (profiled.empty() ? "no kernel records"
                                      : std::to_string(r.kernels.size()) + " kernel records from torch.profiler") +
                    "; peak " + format_bytes(peak) + " beyond what was allocated before the call";
  if (!device.empty() || !env_text.empty())
    how += " (" + device + (device.empty() || env_text.empty() ? "" : "; ") + env_text + ")";
  r.verdict.add(Severity::Note, "outside.timing", how, "attnscope");
  *run = std::move(r);
  return "";
}

}  // namespace attnscope
