// Runs a layer under each chosen implementation and collects a Capture.
#pragma once
#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "capture.h"

namespace attnscope {

struct SessionOptions {
  std::vector<std::string> impls;  // empty = eager, sdpa, flash2, sink
  bool what_if = false;            // also run unsupported ones with the feature dropped
  bool force_cpu = false;          // the CPU implementations even where the GPU backend is loaded
  DeviceInfo verdict_device;       // device verdicts are judged against (defaults to the one running)
  bool verdict_device_named = false;
  ProbeSpec probe;
  int repeats = 0;                 // 0: 1 on CPU, 10 on GPU
  int warmup = -1;                 // -1: 0 on CPU, 2 on GPU
  int threads = 0;
  bool backward = false;           // also the backward pass with Inputs::dout (which must be set)
  std::vector<std::pair<std::string, std::string>> import_runs;  // NAME, FILE[:tensor]
  Layout import_layout = Layout::BHND;
  std::function<void(const std::string& stage, double fraction)> progress;
  // What is done so far, after the reference and after each implementation (the GUI shows its
  // panels filling while the session runs). Called on the session's thread.
  std::function<void(const Capture& so_far)> partial;
  const std::atomic<bool>* cancel = nullptr;
};

// Returns "" or an error (bad option, an impl name unknown). Failures of single implementations
// are recorded in their RunResult and do not stop the session.
std::string run_session(const LayerSpec& spec, Inputs inputs, const SessionOptions& opt, Capture* cap);

EnvInfo current_env();

}  // namespace attnscope
