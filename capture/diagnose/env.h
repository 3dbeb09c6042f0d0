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

// A function registered with AttentionInterface.register beyond transformers' own names, as
// `attnscope-env.py --import MODULE` probed it with one tiny forward and backward.
struct PyAttentionFunction {
  std::string name;            // the registered name ("triton_sink", "paged|my_attn", ...)
  std::string module;          // the Python module defining it
  std::string device;          // where the probe ran ("cuda", "cpu")
  std::string forward_error;   // "Type: message" when the tiny forward raised; "" when it ran
  std::string backward;        // "ok", "error" (raised), "detached" (no autograd path), "partial", "" (not probed)
  std::string backward_error;  // the exception's "Type: message", or what is missing
  bool mask_function = false;  // a mask function under the same name (AttentionMaskInterface)
  bool trains() const { return backward == "ok"; }
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
  std::vector<PyAttentionFunction> attention_functions;  // --import probes (empty: none asked for)
  std::string attention_functions_error;                 // why probing failed (an import error, no torch)

  // The probe of a registered name ("paged|" prefix ignored), nullptr when not probed.
  const PyAttentionFunction* attention_function(const std::string& name) const;

  const PyPackage* pkg(const std::string& name) const;
  // Version of an installed package, "" when absent or the env is unknown.
  std::string version(const std::string& name) const;
};

// Parses the JSON the env script writes; "" or an error naming `origin` and the field.
std::string parse_env_json(const std::string& text, const std::string& origin, PyEnv* env);
std::string load_env_file(const std::string& path, PyEnv* env);

}  // namespace attnscope
