// The document: the open capture and the layer being edited with its run options (what the next
// run runs). A load or a run replaces the capture as a whole; the panels rebuild what they cached
// when `cap_version` changes and recompute verdicts when `spec_version` does.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "capture/capture.h"
#include "kernels/inputs.h"

namespace attnscope {

struct Document {
  // The open capture.
  std::shared_ptr<const Capture> cap;
  std::string cap_path;                  // "" for a run not saved yet
  uint64_t cap_version = 0;

  // Layer and run options being edited.
  LayerSpec spec;
  std::vector<std::string> layer_types;  // from the last HF config.json
  std::string config_path;
  int config_layer = 0;
  uint64_t config_spec_version = 0;      // spec_version right after the config was loaded
  uint64_t seed = 1;
  Distribution dist = Distribution::Normal;
  std::string inputs_path;
  bool impl_on[4] = {true, true, true, true};  // eager, sdpa, flash2, sink
  int sdpa_backend = 0;                         // 0 auto, 1 flash, 2 efficient, 3 math, 4 cudnn
  bool what_if = false;
  bool force_cpu = false;
  bool probe = false;
  ProbeSpec probe_spec;
  uint64_t spec_version = 1;                    // bumped on every edit (verdicts recomputed)

  // Reads a spec (attnscope JSON) or a HuggingFace config.json (layer `layer`) into the layer
  // being edited; "" or the error. `hf` says which of the two it was.
  std::string read_spec(const std::string& path, int layer, bool* hf);
  std::vector<std::string> selected_impls() const;
  // The device verdicts are judged against: the GPU named in the settings (`gpu_name`, "" for
  // none), else the local GPU unless the CPU is forced, else the CPU.
  DeviceInfo verdict_device(const std::string& gpu_name, std::string* why) const;
};

}  // namespace attnscope
