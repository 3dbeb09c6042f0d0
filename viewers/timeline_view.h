// Timeline: every run's GPU kernels (CUPTI records) or CPU spans on one zoomable, pannable time
// axis, one track per implementation (a lane per stream/thread), drawn with ImDrawList as
// Nsight/Tracy do; hover shows the launch configuration. A run's backward pass (its own kernels or
// spans) sits on lanes under its forward's, outlined. Below: per-kernel medians and totals.
#pragma once
#include "viewers/view.h"
#include "viewers/widgets.h"

namespace attnscope {

class TimelineView : public View {
 public:
  PanelId id() const override { return PanelId::Timeline; }
  const char* title() const override { return "Timeline"; }
  void draw(Model& m) override;

 private:
  uint64_t for_version_ = 0;
  double t_min_ = 0, t_max_ = 1;   // data extent (us), padded
  double origin_ = 0;              // first bar's start: the axis' zero
  double v0_ = 0, v1_ = 1;         // visible window (us)
};

}  // namespace attnscope
