// Typed access to the fields of a JSON object: every read names the file, the field and the problem,
// and the first problem is kept in `err`. spec files and HF config.json files read through it.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "kernels/dtype.h"

namespace attnscope {

struct JsonFields {
  const nlohmann::json& j;
  const std::string& origin;
  std::string err;

  bool has(const char* k) const { return j.contains(k) && !j[k].is_null(); }
  void fail(const char* k, const std::string& why) {
    if (err.empty()) err = origin + ": field '" + k + "': " + why;
  }
  int integer(const char* k, int dflt, int lo, int hi) {
    if (!has(k)) return dflt;
    const nlohmann::json& v = j[k];
    if (!v.is_number_integer()) {
      fail(k, "expected an integer, got " + v.dump());
      return dflt;
    }
    int64_t x = v.get<int64_t>();
    if (x < lo || x > hi) {
      fail(k, "must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " + std::to_string(x));
      return dflt;
    }
    return static_cast<int>(x);
  }
  double number(const char* k, double dflt) {
    if (!has(k)) return dflt;
    const nlohmann::json& v = j[k];
    if (!v.is_number()) {
      fail(k, "expected a number, got " + v.dump());
      return dflt;
    }
    double x = v.get<double>();
    if (!std::isfinite(x)) fail(k, "must be finite");
    return x;
  }
  // A number that must lie in [lo, hi] (a float field, or a count read as a number).
  double number(const char* k, double dflt, double lo, double hi) {
    double x = number(k, dflt);
    if (!(x >= lo && x <= hi)) {
      fail(k, "must be in [" + nlohmann::json(lo).dump() + ", " + nlohmann::json(hi).dump() + "], got " + nlohmann::json(x).dump());
      return dflt;
    }
    return x;
  }
  bool boolean(const char* k, bool dflt) {
    if (!has(k)) return dflt;
    if (!j[k].is_boolean()) {
      fail(k, "expected true or false, got " + j[k].dump());
      return dflt;
    }
    return j[k].get<bool>();
  }
  std::string string(const char* k, const std::string& dflt) {
    if (!has(k)) return dflt;
    if (!j[k].is_string()) {
      fail(k, "expected a string, got " + j[k].dump());
      return dflt;
    }
    return j[k].get<std::string>();
  }
  DType dtype(const char* k, DType dflt) {
    if (!has(k)) return dflt;
    std::string s = string(k, "");
    auto d = parse_dtype(s);
    if (!d) fail(k, "unknown dtype '" + s + "' (fp32, fp16, bf16, float32, float16, bfloat16)");
    return d.value_or(dflt);
  }
};

}  // namespace attnscope
