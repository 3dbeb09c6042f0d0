// The left column beside the panels (not a View: always shown): the layer spec editor, the
// inputs, the implementations with their verdicts, and Run.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/verdict.h"
#include "viewers/model.h"

namespace attnscope {

class LayerView {
 public:
  void draw(Model& m);

 private:
  bool layer_fields(LayerSpec& s);
  bool mask_fields(LayerSpec& s);
  void config_picker(Model& m);
  void inputs_fields(Model& m);
  void refresh_verdicts(Model& m, const DeviceInfo& dev, bool valid);
  void implementation_rows(Model& m);
  void run_options(Model& m);
  struct Row {
    std::string impl;
    Verdict verdict;
    std::string what_if;  // features a what-if run would drop
  };
  uint64_t verdicts_for_ = 0;  // spec_version the verdicts were computed for
  std::string verdict_gpu_;    // settings.verdict_gpu they were computed for
  bool force_cpu_ = false;
  std::vector<Row> rows_;
  std::string kv_lengths_text_;
  std::string config_path_text_;
  std::string spec_error_;
};

}  // namespace attnscope
