// What one implementation produced and what it cost.
#pragma once
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "tensor.h"
#include "verdict.h"
#include "what_if.h"

namespace attnscope {

// Which rows a probe watches inside a fused kernel.
struct ProbeSpec {
  bool enabled = false;
  int batch = 0;
  int head = 0;        // query head
  int row_begin = 0;   // [row_begin, row_end) query rows
  int row_end = 0;
};

// Inside a fused kernel for the probed rows. Every fused implementation (CPU and GPU) fills it
// in this layout, KV tile by KV tile:
//   p      [rows, Nk]      P values exactly as they entered P·V (rounded to the input dtype),
//                          exp(s - m_t) where m_t is the running max after tile t; columns of a
//                          skipped tile (outside the window) hold 0
//   row_max[rows, tiles]   running max m after each tile (natural-log units of the scaled scores)
//   row_sum[rows, tiles]   running sum l after each tile, relative to that tile's m
//                          (the sink term is added in the epilogue, so not included here)
//   tile_used[tiles]       1 when the kernel visited the tile, 0 when it skipped it
// With O the kernel's output: O = sum_t (p_t · V_t) · exp(m_t - m_last) / L, where
// L = l_last (+ exp(sink - m_last) with sinks).
struct ProbeData {
  ProbeSpec where;
  int kv_tile = 0;      // keys per tile
  int n_tiles = 0;
  Tensor p;
  Tensor row_max;
  Tensor row_sum;
  std::vector<uint8_t> tile_used;
  bool empty() const { return p.empty(); }
};

struct HostSpan {      // host-timed phase (CPU runs, and host side of GPU runs)
  std::string name;    // "eager/qk", "flash2/run", ...
  double start_us = 0; // since the session start
  double dur_us = 0;
  int thread = 0;
};

struct KernelRecord {  // one GPU kernel from CUPTI's activity records (or torch.profiler's, outside runs)
  std::string name;
  double start_us = 0, dur_us = 0;  // since the run's first warm-up launch (GPU and outside runs)
  int grid[3] = {0, 0, 0};
  int block[3] = {0, 0, 0};
  int registers = 0;
  int shared_static = 0, shared_dynamic = 0;
  int stream = 0;
  uint64_t correlation = 0;
  int repeat = 0;      // which timed repeat (-1 warm-up, -2 not attributed)
};

// One NVTX range of the harness (the `attnscope` domain, collected through CUPTI) or one profiler
// annotation of an outside run, on the same time axis as the run's KernelRecords.
struct RangeRecord {
  std::string name;    // "sink" (implementation), "upload", "warm-up", "timed repeats", "repeat 3", ...
  double start_us = 0, dur_us = 0;  // the run's time base (KernelRecord's); before the warm-up < 0
  int depth = 0;       // nesting: 0 implementation, 1 phase, 2 one launch (warm-up or repeat)
};

struct MemoryEvent {   // allocation timeline: bytes > 0 allocated, < 0 freed
  double t_us = 0;
  int64_t bytes = 0;
  std::string what;
};

// The backward pass of one run (--backward): gradients of L = sum(out ∘ dO) with dO = Inputs::dout,
// and what the backward cost, kept apart from the forward's (its own spans, kernels, memory, peak).
// Every implementation fills it in this layout, CPU and GPU alike:
//   dq      [B, Hq,  Nq, D]   in the spec dtype (the fp64 reference: fp32 holding fp64 results rounded once)
//   dk      [B, Hkv, Nk, D]   summed over each GQA group (HF repeat_kv's backward, FA2's dk_expanded sum)
//   dv      [B, Hkv, Nk, Dv]  likewise
//   dsinks  [Hq]              layers with sinks only: summed over batch and query rows; spec dtype
// Rounding points of each implementation are documented beside its CPU version (kernels/cpu/*_backward.cpp).
struct Gradients {
  bool ran = false;
  std::string error;           // why there are no gradients (no backward, refused, cancelled, outside run's exception)
  Tensor dq, dk, dv, dsinks;
  std::vector<HostSpan> spans;        // host-timed backward phases ("flash2/bwd/preprocess", ...)
  std::vector<KernelRecord> kernels;  // the backward's GPU kernels (CUPTI)
  std::vector<MemoryEvent> memory;    // the backward's allocation timeline
  int64_t peak_bytes = 0;      // extra memory at the backward's peak beyond inputs, dO and the forward's outputs
  int64_t model_bytes = 0;     // analytic model of the same
  double median_ms = 0;        // median over the timed repeats of the backward alone
  std::vector<double> times_ms;
  bool empty() const { return dq.empty() && dk.empty() && dv.empty(); }
};

// The gradient tensors by name, in report order; the capture file uses the same names.
struct GradientTensor {
  const char* name;             // "dq", "dk", "dv", "dsinks"
  Tensor Gradients::*member;
  const char* of;               // "q", "k", "v", "sinks": the input it is the gradient of
};
inline constexpr GradientTensor kGradientTensors[] = {
    {"dq", &Gradients::dq, "q"}, {"dk", &Gradients::dk, "k"}, {"dv", &Gradients::dv, "v"},
    {"dsinks", &Gradients::dsinks, "sinks"}};

// The named gradient tensor of g, or nullptr for a name not in kGradientTensors.
inline const Tensor* gradient(const Gradients& g, const std::string& name) {
  for (const auto& t : kGradientTensors)
    if (name == t.name) return &(g.*t.member);
  return nullptr;
}

struct RunResult {
  std::string impl;          // registry name that ran: "eager", "sdpa", "sdpa:math", "flash2", "sink"
  std::string label;         // name shown and stored; differs for what-if ("flash2 (what-if)") and outside runs
  std::string backend;       // "cpu", "cuda" or "outside"
  std::string device;        // device description
  Verdict verdict;
  bool ran = false;
  std::string error;         // why it did not produce an output (refused, OOM, launch failure)
  std::vector<WhatIfDrop> what_if_dropped;  // features a what-if run dropped (apply_what_if rebuilds its spec)
  std::string sdpa_backend;  // sdpa: the backend that ran ("flash", "efficient", "math", "cudnn")
  std::string kernel_path;   // GPU: which kernel family ran ("sm90 wgmma+TMA", "sm80 mma.sync", "cuBLAS", ...)
  int kv_tile = 0;           // fused kernels: keys per KV tile (RunOptions::kv_tile reproduces it on the CPU)
  int block_m = 0;           // fused kernels: query rows per block (work item)

  Tensor out;                // [B, Hq, Nq, Dv] in the spec dtype
  Tensor lse;                // [B, Hq, Nq] fp32, natural log, sinks included; -inf for a row with no key
  Tensor scores;             // eager's S [B, Hq, Nq, Nk] when kept (softmax input, after mask/softcap)
  Tensor probs;              // eager's P [B, Hq, Nq, Nk] when kept
  ProbeData probe;

  std::vector<HostSpan> spans;
  std::vector<KernelRecord> kernels;
  std::vector<RangeRecord> ranges;       // implementation / phase / repeat ranges (NVTX, profiler annotations)
  std::vector<MemoryEvent> memory;
  int64_t peak_bytes = 0;    // extra memory beyond the inputs: measured on GPU, counted on CPU
  int64_t model_bytes = 0;   // analytic model of the same
  double median_ms = 0;      // median over the timed repeats
  std::vector<double> times_ms;  // empty: not timed (an outside run dumped without --time)
  // CUPTI's cost: the same repeats timed with CUDA events while CUPTI traced nothing but NVTX
  // (GPU runs), or without torch.profiler (outside runs). Empty where not measured.
  std::vector<double> times_untraced_ms;
  double median_untraced_ms = 0;

  Gradients grad;            // the backward pass, when the session ran one (--backward)
};

// A run carries a measured cost (times, and on the GPU or outside its peak) only when timed:
// an outside run dumped without --time is "not timed", never 0 ms / 0 B.
inline bool is_timed(const RunResult& r) { return r.ran && !r.times_ms.empty(); }

// 100 * (traced / untraced - 1) over the medians; NaN where the untraced repeats were not run.
inline double cupti_overhead_pct(const RunResult& r) {
  if (r.median_untraced_ms <= 0 || r.median_ms <= 0) return std::numeric_limits<double>::quiet_NaN();
  return 100.0 * (r.median_ms / r.median_untraced_ms - 1.0);
}

}  // namespace attnscope
