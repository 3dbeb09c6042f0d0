// Divergence between two runs (or a run and the fp64 reference): |A-B| heatmap of the selected
// head, per-row error of every head, sortable per-head table, error and ULP histograms, worst
// rows (click jumps the maps there), LSE difference, acceptance verdicts, first NaN/Inf.
#pragma once
#include <string>
#include <vector>

#include "capture/analysis.h"
#include "viewers/view.h"
#include "viewers/widgets.h"

namespace attnscope {

class DivergenceView : public View {
 public:
  PanelId id() const override { return PanelId::Divergence; }
  const char* title() const override { return "Divergence"; }
  void draw(Model& m) override;
  bool pending() const override { return job_.computing(); }

  struct Result {
    Divergence d;
    Acceptance acc_a, acc_b;
    bool has_acc_a = false, has_acc_b = false;
  };

 private:
  void draw_heatmaps(Model& m, const Capture& cap);
  void draw_tables(Model& m);
  uint64_t for_version_ = 0;
  std::string for_a_, for_b_;
  std::shared_ptr<Result> res_;
  Background<Result> job_;
  // |A-B| of the selected head, [Nq, Dv], and per-row max of every head [H, Nq].
  int heat_b_ = -1, heat_h_ = -1;
  uint64_t heat_version_ = 0;
  MapPtr heat_map_, rows_map_;
  MapTexture heat_tex_, rows_tex_;
  MapViewport heat_vp_, rows_vp_;
  std::vector<int> head_order_;
  std::vector<float> lse_diff_;
};

}  // namespace attnscope
