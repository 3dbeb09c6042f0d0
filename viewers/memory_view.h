// Memory: measured peak bytes per run as bars with the analytic model marked (an outside run's is
// the peak attnscope_dump.py --time measured, or an empty "not timed" outline), the allocation
// timeline from each run's memory events, and a sequence-length slider extrapolating the
// analytic model against the device's memory.
#pragma once
#include "viewers/view.h"
#include "viewers/widgets.h"

namespace attnscope {

class MemoryView : public View {
 public:
  PanelId id() const override { return PanelId::Memory; }
  const char* title() const override { return "Memory"; }
  void draw(Model& m) override;

 private:
  // The sequence length the model is shown at, "full context" to reset it, and what it is judged against.
  void length_slider(int full, bool known_context, const std::string& dev_name, int64_t dev_mem);

  int seq_ = 0;  // slider value; 0 = the layer's own
  bool training_ = false;  // also the layer's backward at that length
  uint64_t for_version_ = 0;
};

}  // namespace attnscope
