// The bench cases (bench/peers.py CASES) and what torch did on each on the H200
// (bench/results/2026-12-01-h200/torch_plans.json), for the plan and memory model tests.
#pragma once
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>

#include "kernels/layer_spec.h"

namespace attnscope::testdata {

// (name, B, Hq, Hkv, N, D, causal, sinks, window), bf16, as bench/peers.py.
struct BenchCase {
  const char* name;
  int b, hq, hkv, n, d;
  bool causal, sinks;
  int window;
};
inline constexpr BenchCase kCases[] = {
    {"llama2-7b_b4_n2048_d128_causal", 4, 32, 32, 2048, 128, true, false, 0},
    {"llama2-7b_b1_n8192_d128_causal", 1, 32, 32, 8192, 128, true, false, 0},
    {"b2_h32_n4096_d64_noncausal", 2, 32, 32, 4096, 64, false, false, 0},
    {"gpt-oss-20b_n4096_d64_causal_sinks", 1, 64, 8, 4096, 64, true, true, 0},
    {"gpt-oss-20b_n4096_d64_window128_sinks", 1, 64, 8, 4096, 64, true, true, 128},
    {"gpt-oss-20b_nosinks_n4096_d64_causal", 1, 64, 8, 4096, 64, true, false, 0},
    {"gemma-2_n4096_d256_causal", 1, 16, 8, 4096, 256, true, false, 0},
    {"llama-3-8b_n16384_d128_causal", 1, 32, 8, 16384, 128, true, false, 0},
    {"b2_h32_n4096_d128_noncausal", 2, 32, 32, 4096, 128, false, false, 0},
};

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

}  // namespace attnscope::testdata
