// The contract's Verdict: can an implementation run a layer, and every reason why (not).
#pragma once
#include <string>
#include <vector>

namespace attnscope {

enum class Severity { Error, Warning, Silent, Note };

const char* severity_name(Severity s);  // "error" | "warning" | "silent" | "note"
bool parse_severity(const std::string& s, Severity* out);

struct Reason {
  Severity severity = Severity::Note;
  std::string code;    // stable identifier, e.g. "fa2.arch", "sdpa.flash.attn_mask"
  std::string text;    // the library's own message where it has one
  std::string source;  // library and version whose behaviour this reproduces, e.g. "flash-attn 2.x"
};

struct Verdict {
  bool supported = true;  // false as soon as one reason is an error
  std::vector<Reason> reasons;

  void add(Severity s, std::string code, std::string text, std::string source) {
    if (s == Severity::Error) supported = false;
    reasons.push_back({s, std::move(code), std::move(text), std::move(source)});
  }
  bool has(const std::string& code) const {
    for (const auto& r : reasons)
      if (r.code == code) return true;
    return false;
  }
  bool has(const std::string& code, const std::string& text) const {
    for (const auto& r : reasons)
      if (r.code == code && r.text == text) return true;
    return false;
  }
  bool has(Severity s) const {
    for (const auto& r : reasons)
      if (r.severity == s) return true;
    return false;
  }
  // The text of the first error reason: why the implementation refuses; "" when none refuses.
  std::string first_error() const {
    for (const auto& r : reasons)
      if (r.severity == Severity::Error) return r.text;
    return "";
  }
};

}  // namespace attnscope
