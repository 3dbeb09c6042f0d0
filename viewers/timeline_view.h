// Timeline: every run's GPU kernels (CUPTI records; an outside run's from torch.profiler) or CPU
// spans on one zoomable, pannable time axis, one track per implementation (a lane per
// stream/thread) under its NVTX phases (timeline_ranges.h), drawn with ImDrawList as Nsight/Tracy
// do; hover shows the launch configuration. A run's backward pass (its own kernels or spans) sits
// on lanes under its forward's, outlined. Above: the GPU environment; below: per-kernel medians
// and totals, and CUPTI's overhead per run.
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
  void fit(const Capture& cap);  // the view and its limits for a new capture
  void toolbar();                // fit, fit all, the visible span
  void draw_plot(Model& m, const Capture& cap);
  void kernel_table(const Capture& cap);

  uint64_t for_version_ = 0;
  double t_min_ = 0, t_max_ = 1;   // data extent (us) with the NVTX phases, padded: the zoom-out limit
  double fit0_ = 0, fit1_ = 1;     // the kernels' (or spans') extent, padded: the view it opens on
  double origin_ = 0;              // first bar's start: the axis' zero
  double v0_ = 0, v1_ = 1;         // visible window (us)
};

}  // namespace attnscope
