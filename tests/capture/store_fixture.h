// A synthetic Capture with every field set (shared by the store and export tests), and bitwise
// comparison of captures.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>

#include "capture/capture.h"

namespace attnscope::testing {

// Values representable in `d`, with the awkward ones mixed in: -0, +-inf, NaN, subnormals.
inline Tensor filled(DType d, std::vector<int64_t> shape, uint32_t seed) {
  Tensor t(d, std::move(shape));
  std::mt19937 rng(seed);
  std::normal_distribution<float> n(0.0f, 2.0f);
  for (auto& x : t.data) x = round_to(d, n(rng));
  if (t.numel() > 6) {
    t.data[0] = -0.0f;
    t.data[1] = INFINITY;
    t.data[2] = -INFINITY;
    t.data[3] = round_to(d, NAN);
    t.data[4] = d == DType::F16 ? f16_bits_to_f32(1) : d == DType::BF16 ? bf16_bits_to_f32(1) : bits_f32(1);
  }
  return t;
}

inline LayerSpec small_spec(DType d) {
  LayerSpec s;
  s.name = "store test layer";
  s.source = "tests/capture";
  s.batch = 2;
  s.seq_q = 12;
  s.seq_k = 20;
  s.heads_q = 4;
  s.heads_kv = 2;
  s.head_dim = 8;
  s.head_dim_v = 8;
  s.dtype = d;
  s.scale = 0.3;
  s.causal = true;
  s.sinks = true;
  s.sliding_window = 0;
  s.softmax_dtype = DType::F32;
  return s;
}

inline RunResult full_run(const LayerSpec& s, const std::string& label, uint32_t seed, bool maps) {
  RunResult r;
  r.impl = label == "reference" ? "reference" : "eager";
  r.label = label;
  r.backend = "cpu";
  r.device = "CPU (test)";
  r.ran = true;
  r.error = seed % 2 ? "" : "some error text, with \"quotes\"";
  r.verdict.add(Severity::Note, "test.note", "a note", "attnscope");
  r.verdict.add(Severity::Warning, "test.warn", "ünïcode warning", "flash-attn 2.x");
  if (seed % 3 == 0) r.verdict.add(Severity::Error, "test.err", "an error", "torch 2.x");
  r.what_if_dropped = {WhatIfDrop::Sinks, WhatIfDrop::Softcap};
  r.sdpa_backend = "efficient";
  r.out = filled(s.dtype, {s.batch, s.heads_q, s.seq_q, s.head_dim_v}, seed);
  r.lse = filled(DType::F32, {s.batch, s.heads_q, s.seq_q}, seed + 1);
  if (maps) {
    r.scores = filled(DType::F32, {s.batch, s.heads_q, s.seq_q, s.seq_k}, seed + 2);
    r.probs = filled(s.dtype, {s.batch, s.heads_q, s.seq_q, s.seq_k}, seed + 3);
  }
  r.probe.where = {true, 1, 3, 2, 5};
  r.probe.kv_tile = 8;
  r.probe.n_tiles = 3;
  r.probe.p = filled(s.dtype, {3, s.seq_k}, seed + 4);
  r.probe.row_max = filled(DType::F32, {3, 3}, seed + 5);
  r.probe.row_sum = filled(DType::F32, {3, 3}, seed + 6);
  r.probe.tile_used = {1, 0, 1};
  r.spans = {{"eager/qk", 1.5, 10.25, 0}, {"eager/softmax", 12.0, 3.0, 1}};
  KernelRecord k;
  k.name = "attnscope::flash2_fwd<128, bf16>";
  k.start_us = 100.125;
  k.dur_us = 42.5;
  k.grid[0] = 4; k.grid[1] = 8; k.grid[2] = 2;
  k.block[0] = 128; k.block[1] = 1; k.block[2] = 1;
  k.registers = 168;
  k.shared_static = 1024;
  k.shared_dynamic = 49152;
  k.stream = 7;
  k.correlation = 0x123456789abcull;
  k.repeat = -1;
  r.kernels = {k, k};
  r.kernels[1].repeat = 0;
  r.kernels[1].start_us = 200.0;
  r.memory = {{0.5, 4096, "scores"}, {9.0, -4096, "scores"}};
  r.peak_bytes = int64_t{5} << 33;
  r.model_bytes = 123456789;
  r.median_ms = 0.123456789;
  r.times_ms = {0.1, 0.123456789, 0.2};
  if (seed % 2 == 0) {  // a backward pass, its costs apart from the forward's
    const DType gd = label == "reference" ? DType::F32 : s.dtype;
    r.grad.ran = true;
    r.grad.dq = filled(gd, {s.batch, s.heads_q, s.seq_q, s.head_dim}, seed + 7);
    r.grad.dk = filled(gd, {s.batch, s.heads_kv, s.seq_k, s.head_dim}, seed + 8);
    r.grad.dv = filled(gd, {s.batch, s.heads_kv, s.seq_k, s.head_dim_v}, seed + 9);
    if (s.sinks) r.grad.dsinks = filled(gd, {s.heads_q}, seed + 10);
    r.grad.spans = {{"eager/bwd/autograd", 20.0, 30.5, 0}};
    r.grad.kernels = {k};
    r.grad.kernels[0].name = "attnscope::flash2_bwd_dq_dk_dv<64, bf16>";
    r.grad.kernels[0].repeat = 0;
    r.grad.kernels[0].start_us = 300.0;
    r.grad.memory = {{21.0, 8192, "dq_accum"}, {40.0, -8192, "dq_accum"}};
    r.grad.peak_bytes = 777777;
    r.grad.model_bytes = 888888;
    r.grad.median_ms = 0.5;
    r.grad.times_ms = {0.5, 0.75};
  } else if (seed % 3 == 2) {  // asked for, none: the reason is kept
    r.grad.error = "no backward: NotImplementedError: You must implement either the backward or vjp method";
  }
  return r;
}

inline Capture full_capture(DType d) {
  Capture c;
  c.spec = small_spec(d);
  const LayerSpec& s = c.spec;
  c.env.attnscope_version = "0.1.0";
  c.env.created = "2026-11-25T12:00:00Z";
  c.env.host = "testhost";
  c.env.os = "Linux";
  c.env.cpu = "x86-64";
  c.env.backend = "cpu";
  c.env.device = "CPU";
  c.env.gpu_backend_status = "not loaded: test";
  c.env.command_line = "attnscope run --seq 12";
  c.env.seed = 0xfedcba9876543210ull;
  c.env.distribution = "normal";
  c.inputs.q = filled(d, {s.batch, s.heads_q, s.seq_q, s.head_dim}, 1);
  c.inputs.k = filled(d, {s.batch, s.heads_kv, s.seq_k, s.head_dim}, 2);
  c.inputs.v = filled(d, {s.batch, s.heads_kv, s.seq_k, s.head_dim_v}, 3);
  c.inputs.sinks = {0.5f, -1.25f, 2.0f, -0.0f};
  c.inputs.mask = filled(DType::F32, {1, s.heads_q, s.seq_q, s.seq_k}, 4);
  c.inputs.origin = "random normal seed=1";
  c.reference = full_run(s, "reference", 10, false);
  c.runs.push_back(full_run(s, "eager", 20, true));
  c.runs.push_back(full_run(s, "flash2 (what-if)", 30, false));
  c.runs.push_back(full_run(s, "outside/run 100%", 41, false));
  c.runs.back().backend = "outside";
  c.runs.push_back(RunResult{});  // refused: no output at all
  c.runs.back().label = "sink";
  c.runs.back().impl = "sink";
  c.runs.back().error = "FlashAttention only supports Ampere GPUs or newer.";
  c.runs.back().verdict.add(Severity::Error, "fa2.arch", "FlashAttention only supports Ampere GPUs or newer.", "flash-attn 2.x");
  c.acceptance_baseline = 0.0078125;
  c.inputs.dout = filled(d, {s.batch, s.heads_q, s.seq_q, s.head_dim_v}, 5);
  c.gradient_baseline = {{"dq", 0.015625}, {"dk", 0.25}, {"dv", 1.0 / 3}, {"dsinks", 2.5}};
  return c;
}

inline bool same_bits(const Tensor& a, const Tensor& b) {
  return a.dtype == b.dtype && a.shape == b.shape && a.data.size() == b.data.size() &&
         (a.data.empty() || std::memcmp(a.data.data(), b.data.data(), a.data.size() * 4) == 0);
}

inline void expect_same_run(const RunResult& a, const RunResult& b) {
  SCOPED_TRACE("run " + a.label);
  EXPECT_EQ(a.impl, b.impl);
  EXPECT_EQ(a.label, b.label);
  EXPECT_EQ(a.backend, b.backend);
  EXPECT_EQ(a.device, b.device);
  EXPECT_EQ(a.ran, b.ran);
  EXPECT_EQ(a.error, b.error);
  EXPECT_EQ(a.what_if_dropped, b.what_if_dropped);
  EXPECT_EQ(a.sdpa_backend, b.sdpa_backend);
  EXPECT_EQ(a.verdict.supported, b.verdict.supported);
  ASSERT_EQ(a.verdict.reasons.size(), b.verdict.reasons.size());
  for (size_t i = 0; i < a.verdict.reasons.size(); ++i) {
    EXPECT_EQ(a.verdict.reasons[i].severity, b.verdict.reasons[i].severity);
    EXPECT_EQ(a.verdict.reasons[i].code, b.verdict.reasons[i].code);
    EXPECT_EQ(a.verdict.reasons[i].text, b.verdict.reasons[i].text);
    EXPECT_EQ(a.verdict.reasons[i].source, b.verdict.reasons[i].source);
  }
  EXPECT_TRUE(same_bits(a.out, b.out)) << "out";
  EXPECT_TRUE(same_bits(a.lse, b.lse)) << "lse";
  EXPECT_TRUE(same_bits(a.scores, b.scores)) << "scores";
  EXPECT_TRUE(same_bits(a.probs, b.probs)) << "probs";
  EXPECT_EQ(a.probe.where.enabled, b.probe.where.enabled);
  EXPECT_EQ(a.probe.where.batch, b.probe.where.batch);
  EXPECT_EQ(a.probe.where.head, b.probe.where.head);
  EXPECT_EQ(a.probe.where.row_begin, b.probe.where.row_begin);
  EXPECT_EQ(a.probe.where.row_end, b.probe.where.row_end);
  EXPECT_EQ(a.probe.kv_tile, b.probe.kv_tile);
  EXPECT_EQ(a.probe.n_tiles, b.probe.n_tiles);
  EXPECT_TRUE(same_bits(a.probe.p, b.probe.p)) << "probe.p";
  EXPECT_TRUE(same_bits(a.probe.row_max, b.probe.row_max)) << "probe.row_max";
  EXPECT_TRUE(same_bits(a.probe.row_sum, b.probe.row_sum)) << "probe.row_sum";
  EXPECT_EQ(a.probe.tile_used, b.probe.tile_used);
  ASSERT_EQ(a.spans.size(), b.spans.size());
  for (size_t i = 0; i < a.spans.size(); ++i) {
    EXPECT_EQ(a.spans[i].name, b.spans[i].name);
    EXPECT_EQ(a.spans[i].start_us, b.spans[i].start_us);
    EXPECT_EQ(a.spans[i].dur_us, b.spans[i].dur_us);
    EXPECT_EQ(a.spans[i].thread, b.spans[i].thread);
  }
  ASSERT_EQ(a.kernels.size(), b.kernels.size());
  for (size_t i = 0; i < a.kernels.size(); ++i) {
    const KernelRecord &x = a.kernels[i], &y = b.kernels[i];
    EXPECT_EQ(x.name, y.name);
    EXPECT_EQ(x.start_us, y.start_us);
    EXPECT_EQ(x.dur_us, y.dur_us);
    for (int j = 0; j < 3; ++j) {
      EXPECT_EQ(x.grid[j], y.grid[j]);
      EXPECT_EQ(x.block[j], y.block[j]);
    }
    EXPECT_EQ(x.registers, y.registers);
    EXPECT_EQ(x.shared_static, y.shared_static);
    EXPECT_EQ(x.shared_dynamic, y.shared_dynamic);
    EXPECT_EQ(x.stream, y.stream);
    EXPECT_EQ(x.correlation, y.correlation);
    EXPECT_EQ(x.repeat, y.repeat);
  }
  ASSERT_EQ(a.memory.size(), b.memory.size());
  for (size_t i = 0; i < a.memory.size(); ++i) {
    EXPECT_EQ(a.memory[i].t_us, b.memory[i].t_us);
    EXPECT_EQ(a.memory[i].bytes, b.memory[i].bytes);
    EXPECT_EQ(a.memory[i].what, b.memory[i].what);
  }
  EXPECT_EQ(a.peak_bytes, b.peak_bytes);
  EXPECT_EQ(a.model_bytes, b.model_bytes);
  EXPECT_EQ(a.median_ms, b.median_ms);
  EXPECT_EQ(a.times_ms, b.times_ms);
  const Gradients &ga = a.grad, &gb = b.grad;
  EXPECT_EQ(ga.ran, gb.ran);
  EXPECT_EQ(ga.error, gb.error);
  for (const auto& t : kGradientTensors) EXPECT_TRUE(same_bits(ga.*t.member, gb.*t.member)) << t.name;
  ASSERT_EQ(ga.spans.size(), gb.spans.size());
  for (size_t i = 0; i < ga.spans.size(); ++i) {
    EXPECT_EQ(ga.spans[i].name, gb.spans[i].name);
    EXPECT_EQ(ga.spans[i].start_us, gb.spans[i].start_us);
  }
  ASSERT_EQ(ga.kernels.size(), gb.kernels.size());
  for (size_t i = 0; i < ga.kernels.size(); ++i) EXPECT_EQ(ga.kernels[i].name, gb.kernels[i].name);
  ASSERT_EQ(ga.memory.size(), gb.memory.size());
  for (size_t i = 0; i < ga.memory.size(); ++i) EXPECT_EQ(ga.memory[i].bytes, gb.memory[i].bytes);
  EXPECT_EQ(ga.peak_bytes, gb.peak_bytes);
  EXPECT_EQ(ga.model_bytes, gb.model_bytes);
  EXPECT_EQ(ga.median_ms, gb.median_ms);
  EXPECT_EQ(ga.times_ms, gb.times_ms);
}

// A fresh, empty folder under the build tree for one test.
inline std::string scratch_dir(const std::string& name) {
  namespace fs = std::filesystem;
  fs::path p = fs::path(ATTNSCOPE_BINARY_DIR) / "test-scratch" / name;
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

}  // namespace attnscope::testing
