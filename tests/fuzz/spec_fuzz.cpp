// attnscope's layer spec JSON (--spec, samples/*.json): read or refused with the origin named; a
// spec it accepts is valid, and written back (spec_to_json) it reads as the same spec.
#include "capture/spec_io.h"
#include "tests/fuzz/fuzz_input.h"

using namespace attnscope;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  LayerSpec s;
  std::string err = spec_from_json_text(text, "fuzz.json", &s);
  fuzz::require_names(err, "fuzz.json");
  if (!err.empty()) return 0;
  fuzz::require(s.validate().empty(), "an accepted spec does not validate: " + s.validate());
  const std::string j = spec_to_json(s);
  LayerSpec back;
  err = spec_from_json_text(j, "written.json", &back);
  fuzz::require(err.empty(), "spec_to_json wrote a spec spec_from_json_text refuses: " + err + "\n" + j);
  fuzz::require(spec_to_json(back) == j, "a spec changed in a round trip:\n" + j + "\n" + spec_to_json(back));
  return 0;
}
