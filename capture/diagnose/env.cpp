// --env FILE: the user's Python environment as scripts/attnscope-env.py records it.

#include <nlohmann/json.hpp>

#include "capture/diagnose/env.h"
#include "capture/text_file.h"

namespace attnscope {

using nlohmann::json;

const PyPackage* PyEnv::pkg(const std::string& name) const {
  auto it = packages.find(name);
  return it == packages.end() ? nullptr : &it->second;
}

std::string PyEnv::version(const std::string& name) const {
  const PyPackage* p = pkg(name);
  return p && p->installed ? p->version : "";
}

namespace {

// A string field, or "" for null/absent; an error when present with another type.
bool get_str(const json& j, const char* key, std::string* out, std::string* err, const std::string& where) {
  if (!j.contains(key) || j[key].is_null()) return true;
  if (j[key].is_string()) {
    *out = j[key].get<std::string>();
    return true;
  }
  if (j[key].is_number()) {
    *out = j[key].dump();
    return true;
  }
  *err = where + "." + key + ": expected a string, got " + j[key].type_name();
  return false;
}

}  // namespace

std::string parse_env_json(const std::string& text, const std::string& origin, PyEnv* env) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {  // parse_error, and out_of_range for a number that overflows
    return origin + ": not valid JSON (" + e.what() + "); write it with scripts/attnscope-env.py";
  }
  if (!j.is_object()) return origin + ": expected a JSON object written by scripts/attnscope-env.py";
  if (!j.contains("format") || j["format"] != "attnscope-env")
    return origin + ": field \"format\" must be \"attnscope-env\" (is this a file written by scripts/attnscope-env.py?)";
  if (j.contains("version") && (!j["version"].is_number_integer() || j["version"].get<int>() != 1))
    return origin + ": field \"version\": only version 1 is understood";

  PyEnv e;
  e.present = true;
  e.file = origin;
  std::string err;
  if (!get_str(j, "python", &e.python, &err, origin) || !get_str(j, "platform", &e.platform, &err, origin) ||
      !get_str(j, "driver", &e.driver, &err, origin))
    return err;

  if (j.contains("packages")) {
    if (!j["packages"].is_object()) return origin + ": field \"packages\": expected an object";
    for (auto it = j["packages"].begin(); it != j["packages"].end(); ++it) {
      const json& p = it.value();
      std::string where = origin + ": packages." + it.key();
      if (!p.is_object()) return where + ": expected an object {version, import_error}";
      PyPackage pk;
      pk.name = it.key();
      if (!get_str(p, "version", &pk.version, &err, where) || !get_str(p, "import_error", &pk.import_error, &err, where))
        return err;
      pk.installed = !pk.version.empty();
      if (p.contains("installed") && p["installed"].is_boolean()) pk.installed = p["installed"].get<bool>();
      e.packages[pk.name] = pk;
    }
  }
  if (j.contains("torch")) {
    const json& t = j["torch"];
    if (!t.is_object()) return origin + ": field \"torch\": expected an object";
    if (!get_str(t, "cuda", &e.torch_cuda, &err, origin + ": torch") ||
        !get_str(t, "cudnn", &e.cudnn, &err, origin + ": torch"))
      return err;
    if (t.contains("cuda_available")) {
      if (!t["cuda_available"].is_boolean()) return origin + ": torch.cuda_available: expected true/false";
      e.torch_cuda_available = t["cuda_available"].get<bool>();
    }
  }
  if (j.contains("gpus")) {
    if (!j["gpus"].is_array()) return origin + ": field \"gpus\": expected an array";
    int i = 0;
    for (const json& g : j["gpus"]) {
      std::string where = origin + ": gpus[" + std::to_string(i) + "]";
      if (!g.is_object()) return where + ": expected an object";
      PyGpu gpu;
      if (g.contains("index") && !g["index"].is_number_integer()) return where + ".index: expected an integer";
      gpu.index = g.value("index", i);
      if (!get_str(g, "name", &gpu.name, &err, where)) return err;
      if (g.contains("capability")) {
        const json& c = g["capability"];
        if (!c.is_array() || c.size() != 2 || !c[0].is_number_integer() || !c[1].is_number_integer())
          return where + ".capability: expected [major, minor]";
        gpu.cc_major = c[0].get<int>();
        gpu.cc_minor = c[1].get<int>();
      }
      if (g.contains("memory_bytes")) {
        const json& m = g["memory_bytes"];
        // A float (1.4e11) is fine; one beyond int64 would be undefined to convert.
        if (!m.is_number() || (m.is_number_float() && !(m.get<double>() >= 0 && m.get<double>() < 9.2e18)))
          return where + ".memory_bytes: expected a number of bytes";
        gpu.mem_total = m.get<int64_t>();
      }
      e.gpus.push_back(gpu);
      ++i;
    }
  }
  if (j.contains("env")) {
    if (!j["env"].is_object()) return origin + ": field \"env\": expected an object";
    for (auto it = j["env"].begin(); it != j["env"].end(); ++it)
      if (it.value().is_string()) e.env_vars[it.key()] = it.value().get<std::string>();
  }
  if (j.contains("attention_functions")) {
    const json& a = j["attention_functions"];
    const std::string where = origin + ": attention_functions";
    if (!a.is_object()) return where + ": expected an object {error, functions}";
    if (!get_str(a, "error", &e.attention_functions_error, &err, where)) return err;
    if (a.contains("functions")) {
      if (!a["functions"].is_array()) return where + ".functions: expected an array";
      int i = 0;
      for (const json& f : a["functions"]) {
        const std::string w = where + ".functions[" + std::to_string(i++) + "]";
        if (!f.is_object()) return w + ": expected an object";
        PyAttentionFunction pf;
        if (!get_str(f, "name", &pf.name, &err, w) || !get_str(f, "module", &pf.module, &err, w) ||
            !get_str(f, "device", &pf.device, &err, w) || !get_str(f, "forward_error", &pf.forward_error, &err, w) ||
            !get_str(f, "backward", &pf.backward, &err, w) || !get_str(f, "backward_error", &pf.backward_error, &err, w))
          return err;
        if (pf.name.empty()) return w + ".name: expected the registered name";
        if (f.contains("mask_function")) {
          if (!f["mask_function"].is_boolean()) return w + ".mask_function: expected true/false";
          pf.mask_function = f["mask_function"].get<bool>();
        }
        e.attention_functions.push_back(std::move(pf));
      }
    }
  }
  *env = std::move(e);
  return "";
}

const PyAttentionFunction* PyEnv::attention_function(const std::string& name) const {
  const std::string base = name.rfind("paged|", 0) == 0 ? name.substr(6) : name;
  for (const auto& f : attention_functions)
    if (f.name == name || f.name == base) return &f;
  return nullptr;
}

std::string load_env_file(const std::string& path, PyEnv* env) {
  std::string text;
  if (std::string e = read_text_file(path, "--env", int64_t{64} << 20, &text); !e.empty()) return e;
  return parse_env_json(text, path, env);
}

}  // namespace attnscope
