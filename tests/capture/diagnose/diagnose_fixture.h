// Shared helpers of the diagnose tests: fixture paths, envs and models built in code.
#pragma once
#include <algorithm>
#include <cstdio>
#include <sstream>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "capture/diagnose/diagnose.h"
#include "capture/diagnose/messages.h"

namespace attnscope::test {

inline std::string src(const std::string& rel) { return std::string(ATTNSCOPE_SOURCE_DIR) + "/" + rel; }
inline std::string fixture(const std::string& name) { return src("tests/fixtures/diagnose/" + name); }

// A sample from samples/hf when the tree has it, else the copy under fixtures/.
inline std::string hf_sample(const std::string& name) {
  std::string s = src("samples/hf/" + name);
  std::ifstream f(s);
  return f ? s : fixture(name);
}

inline std::string tmp_file(const std::string& name, const std::string& text) {
  std::string p = std::string(ATTNSCOPE_BINARY_DIR) + "/diagnose_test_" + name;
  std::ofstream f(p, std::ios::binary);
  f << text;
  return p;
}

inline ModelInfo model(const std::string& file, const std::string& dtype = "") {
  ModelInfo m;
  SpecOverrides ov;
  ov.dtype = dtype;
  std::string e = load_model_info(hf_sample(file), ov, -1, &m);
  EXPECT_EQ(e, "");
  return m;
}

inline DeviceInfo gpu(const std::string& name) {
  auto d = named_gpu(name);
  EXPECT_TRUE(d.has_value()) << name;
  return d ? *d : DeviceInfo{};
}

// An environment with the given versions ("" = not installed).
inline PyEnv env(const std::string& transformers, const std::string& flash_attn, const std::string& fa_error = "",
                 bool kernels = false, bool cuda = true) {
  PyEnv e;
  e.present = true;
  e.file = "test-env.json";
  e.python = "3.11.7";
  auto add = [&](const std::string& n, const std::string& v, const std::string& err = "") {
    PyPackage p;
    p.name = n;
    p.version = v;
    p.installed = !v.empty();
    p.import_error = err;
    e.packages[n] = p;
  };
  add("torch", "2.8.0+cu128");
  add("transformers", transformers);
  add("flash_attn", flash_attn, fa_error);
  add("kernels", kernels ? "0.10.0" : "");
  add("verl", "0.5.0");
  e.torch_cuda = cuda ? "12.8" : "";
  e.torch_cuda_available = cuda;
  return e;
}

inline const Reason* find(const Verdict& v, const std::string& code) {
  for (const auto& r : v.reasons)
    if (r.code == code) return &r;
  return nullptr;
}

inline bool has_text(const Verdict& v, const std::string& needle) {
  for (const auto& r : v.reasons)
    if (r.text.find(needle) != std::string::npos) return true;
  return false;
}

// The done criterion: Llama-2-7B in fp32 on a named T4, a verl PPO YAML overriding only
// the actor.
inline DiagnoseOptions t4_llama_fp32_verl_options() {
  DiagnoseOptions o;
  o.gpu = "T4";
  o.local_gpu = false;
  o.config_file = hf_sample("llama-2-7b.json");
  o.overrides.dtype = "float32";
  o.verl_file = src("samples/verl/ppo_actor_override_only.yaml");
  return o;
}

inline DiagnoseReport t4_llama_fp32_verl() {
  DiagnoseReport r;
  EXPECT_EQ(build_diagnose_report(t4_llama_fp32_verl_options(), &r), "");
  return r;
}

}  // namespace attnscope::test
