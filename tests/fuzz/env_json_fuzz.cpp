// The Python environment JSON (diagnose --env, written by scripts/attnscope-env.py): parsed or
// refused with the origin named; a parsed one answers version lookups.
#include "capture/diagnose/env.h"
#include "tests/fuzz/fuzz_input.h"

using namespace attnscope;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  PyEnv env;
  std::string err = parse_env_json(text, "env.json", &env);
  fuzz::require_names(err, "env.json");
  if (err.empty())
    for (const char* p : {"torch", "transformers", "flash_attn", "kernels", "vllm"}) env.version(p);
  return 0;
}
