// The error-log scanner (diagnose --log): any text, every finding points at a line of it.
#include <algorithm>

#include "capture/diagnose/log_scan.h"
#include "tests/fuzz/fuzz_input.h"

using namespace attnscope;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const int lines = static_cast<int>(std::count(text.begin(), text.end(), '\n')) + 1;
  for (const LogFinding& f : scan_log_text(text)) {
    fuzz::require(f.line >= 1 && f.line <= lines, "finding on line " + std::to_string(f.line) + " of " +
                                                      std::to_string(lines));
    fuzz::require(f.excerpt.size() <= 400, "excerpt longer than 400 characters");
    fuzz::require(!f.code.empty(), "finding without a code");
  }
  return 0;
}
