// The user's Python environment (--env FILE, written by scripts/attnscope-env.py): the package
// versions and import errors, torch's CUDA view and the GPUs that diagnose judges against.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace attnscope {

struct PyPackage {
  std::string name;          // import name: "torch", "flash_attn", ...
  bool installed = false;    // distribution metadata found
  std::string version;       // distribution version ("2.8.3"), empty when not installed
  std::string import_error;  // exact "ExceptionType: message" of `import name`, empty when it imports
};

struct PyGpu {
  int index = 0;
  std::string name;
  int cc_major = 0, cc_minor = 0;
  int64_t mem_total = 0;
};

struct PyEnv {
  bool present = false;
  std::string file;
  std::string python;                       // "3.11.7"
  std::string platform;
  std::map<std::string, PyPackage> packages;  // keyed by import name
  std::string torch_cuda;                   // torch.version.cuda ("12.8"), empty for CPU builds
  bool torch_cuda_available = false;
  std::string cudnn;                        // torch.backends.cudnn.version()
  std::vector<PyGpu> gpus;
  std::string driver;
  std::map<std::string, std::string> env_vars;  // VLLM_ATTENTION_BACKEND, CUDA_VISIBLE_DEVICES, ...

  const PyPackage* pkg(const std::string& name) const;
  // Version of an installed package, "" when absent or the env is unknown.
  std::string version(const std::string& name) const;
};

// Parses the JSON the env script writes; "" or an error naming `origin` and the field.
std::string parse_env_json(const std::string& text, const std::string& origin, PyEnv* env);
std::string load_env_file(const std::string& path, PyEnv* env);

}  // namespace attnscope
