// `attnscope diagnose`: the report and the code that builds it from what the user has (a GPU or a
// named one, a Python environment, a model config, a verl config, an attn_implementation string,
// a log). Each concern has its own file in this folder; render.h writes the report as text or
// JSON, and the GUI's Diagnose panel draws the same struct.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "capture/diagnose/env.h"
#include "capture/diagnose/fixes.h"
#include "capture/diagnose/hf_rules.h"
#include "capture/diagnose/log_scan.h"
#include "capture/diagnose/model_info.h"
#include "capture/diagnose/verdicts.h"
#include "capture/diagnose/verl.h"
#include "capture/spec_io.h"
#include "kernels/device.h"
#include "kernels/layer_spec.h"
#include "kernels/verdict.h"

namespace attnscope {

// ---- memory, runs ---------------------------------------------------------------------------------

struct MemoryNeed {
  std::string impl;
  int seq = 0, batch = 0, layers = 0;
  int64_t forward_bytes = 0;    // one layer's attention, forward only (extra beyond q/k/v)
  int64_t backward_bytes = 0;   // one layer, with what backward keeps (activations saved)
  int64_t model_total_bytes = 0; // all layers, activations kept for backward
  std::string note;
};

struct DiagnoseRun {
  std::string impl;
  std::string label;
  bool ran = false;
  std::string error;
  std::string device;           // where it ran
  int seq = 0, batch = 0;
  std::string dtype;
  double max_abs_vs_fp64 = 0, rel_fro_vs_fp64 = 0;
  bool acceptance_applicable = false, acceptance_pass = false;
  std::string acceptance;       // the rule's verdict in words
  double median_ms = 0;
  int64_t peak_bytes = 0;
};

// ---- the report -------------------------------------------------------------------------------

struct DiagnoseReport {
  std::string attnscope_version;
  DeviceInfo device;               // the GPU verdicts are judged against (or the CPU)
  std::string device_origin;       // "--gpu T4", "local GPU", "--env (GPU 0)", "none"
  std::vector<Reason> device_notes;  // no driver, env GPU differs from --gpu, ...
  PyEnv env;
  ModelInfo model;
  LayerSpec spec;                  // the layer the kernel verdicts use (first layer type)
  std::string spec_source;
  std::vector<ImplVerdict> implementations;  // attnscope's eager, sdpa, flash2, sink
  std::vector<ImplVerdict> hf;               // transformers' names (+ hub kernels)
  std::optional<AttnImplCheck> requested;    // --attn-implementation
  VerlReport verl;
  std::vector<LogFinding> log;
  std::string log_file;
  int log_lines = 0;
  std::vector<Fix> fixes;
  std::vector<MemoryNeed> memory;
  std::vector<DiagnoseRun> runs;
  std::string run_note;            // why --run did not run, or the shape it used
  std::vector<std::string> summary;  // headline findings, most important first
};

struct DiagnoseOptions {
  std::string gpu;                 // --gpu NAME ("" = local GPU when present)
  bool local_gpu = true;           // probe GpuBackend::instance() when no --gpu
  std::string env_file;
  std::string config_file;         // HF config.json
  std::string spec_file;           // attnscope --spec
  int layer = -1;                  // --layer N: only that layer
  SpecOverrides overrides;
  std::string verl_file;
  std::vector<std::string> verl_overrides;
  std::string attn_implementation;
  std::string log_file;
  bool run = false;                // --run: run the fallback and fp64 reference
  int run_seq = 0;                 // sequence length for --run (0 = largest that fits a budget)
};

// Builds the report. Returns "" or an error that names the file/option at fault (unreadable or
// malformed input). Findings about the user's setup are never errors: they are in the report.
std::string build_diagnose_report(const DiagnoseOptions& opt, DiagnoseReport* report);

}  // namespace attnscope
