// Diagnose: the same data model as `attnscope diagnose` (capture/diagnose/diagnose.h) for the layer being
// edited, against the local device or a named GPU: each implementation's verdict with every
// reason, what transformers does with its attention names when a config.json is loaded, and
// the features a what-if run would drop.
//
// With a Python environment file (written by scripts/attnscope-env.py, as `attnscope diagnose --env`)
// each transformers name also gets a badge: what from_pretrained and the first forward do in a fresh
// process (runs / fails at load / fails at the first forward), the exception type with its message
// (hover, or open the row), and the outcome of a retry in the same process where it differs. The
// env file is typed into the panel; ATTNSCOPE_DIAGNOSE_ENV gives its initial value (headless runs).
#pragma once
#include <string>
#include <vector>

#include "capture/diagnose/diagnose.h"
#include "viewers/view.h"
#include "viewers/widgets.h"

namespace attnscope {

class DiagnoseView : public View {
 public:
  PanelId id() const override { return PanelId::Diagnose; }
  const char* title() const override { return "Diagnose"; }
  void draw(Model& m) override;
  bool pending() const override { return job_.computing(); }

  struct Built {
    std::string error;
    DiagnoseReport report;
  };

 private:
  bool env_field(Model& m);
  void rebuild_if_changed(Model& m, const DeviceInfo& dev, bool env_editing);

  uint64_t for_spec_ = 0;
  std::string for_gpu_, for_config_, for_env_;
  bool env_init_ = false;
  char env_path_[1024] = {0};
  int for_layer_ = -1;
  std::shared_ptr<Built> built_;
  Background<Built> job_;
  std::vector<std::string> what_if_;
};

}  // namespace attnscope
