// The bench cases (bench/peers.py CASES) and what torch did on each on the H200
// (bench/results/2026-12-01-h200/torch_plans.json), for the plan and memory model tests.
#pragma once
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <vector>
#include <nlohmann/json.hpp>
#include <string>

#include "kernels/layer_spec.h"

namespace attnscope::testdata {

// (name, B, Hq, Hkv, N, D, causal, sinks, window), bf16: bench/peers.py's CASES, read from that
// file (the list torch_plans.py and peers.py use), so the tests cannot drift from the bench.
struct BenchCase {
  std::string name;
  int b, hq, hkv, n, d;
  bool causal, sinks;
  int window;
};

inline const std::vector<BenchCase>& bench_cases() {
  static const std::vector<BenchCase> cases = [] {
    std::vector<BenchCase> v;
    std::ifstream f(std::string(ATTNSCOPE_SOURCE_DIR) + "/bench/peers.py");
    const std::regex row(
        R"re(^\s*\("([^"]+)",\s*(\d+),\s*(\d+),\s*(\d+),\s*(\d+),\s*(\d+),\s*(True|False),\s*(True|False),\s*(\d+)\),)re");
    std::string line;
    std::smatch m;
    while (std::getline(f, line))
      if (std::regex_search(line, m, row))
        v.push_back({m[1], std::stoi(m[2]), std::stoi(m[3]), std::stoi(m[4]), std::stoi(m[5]), std::stoi(m[6]),
                     m[7] == "True", m[8] == "True", std::stoi(m[9])});
    return v;
  }();
  return cases;
}

inline LayerSpec spec_of(const BenchCase& c) {
  LayerSpec s;
  s.name = c.name;
  s.dtype = DType::BF16;
  s.batch = c.b, s.heads_q = c.hq, s.heads_kv = c.hkv, s.seq_q = s.seq_k = c.n;
  s.head_dim = s.head_dim_v = c.d;
  s.causal = c.causal, s.sinks = c.sinks, s.sliding_window = c.window;
  if (c.sinks) s.softmax_dtype = DType::BF16;  // GPT-OSS's eager
  return s;
}

inline const nlohmann::json& recorded() {
  static const nlohmann::json j = [] {
    std::ifstream f(std::string(ATTNSCOPE_SOURCE_DIR) + "/bench/results/2026-12-01-h200/torch_plans.json");
    return f ? nlohmann::json::parse(f) : nlohmann::json();
  }();
  return j;
}

// Peak memory of HF's eager under autograd on the H200, per bench case (bench/peers_backward.py's
// hf_eager_bwd rows, MiB; absent where it was not measured).
// torch's backward peak (MiB) for `impl` ("hf_eager_bwd", "sdpa_cudnn_bwd", "sdpa_math_bwd", ...) on a
// bench case, from the newest bench/results/<date>-<gpu>*/peers_bwd.jsonl (by folder name, as
// make_results.py picks) that has it; 0 when no device call recorded one.
inline double recorded_backward_mib(const std::string& impl, const std::string& name) {
  namespace fs = std::filesystem;
  std::vector<fs::path> runs;
  std::error_code ec;
  for (fs::directory_iterator it(std::string(ATTNSCOPE_SOURCE_DIR) + "/bench/results", ec), end; !ec && it != end;
       it.increment(ec))
    if (it->is_directory(ec)) runs.push_back(it->path());
  std::sort(runs.rbegin(), runs.rend());
  for (const fs::path& run : runs) {
    std::ifstream f(run / "peers_bwd.jsonl");
    std::string line;
    while (std::getline(f, line)) {
      const nlohmann::json r = nlohmann::json::parse(line, nullptr, false);
      if (r.is_object() && r.value("impl", "") == impl && r.value("case", "") == name && r.contains("peak_mib"))
        return r["peak_mib"].get<double>();
    }
  }
  return 0;
}

}  // namespace attnscope::testdata
