// Divergence between two runs (or a run and the fp64 reference): |A-B| heatmap of the selected
// head, per-row error of every head, sortable per-head table, error and ULP histograms, worst
// rows (click jumps the maps there), LSE difference, acceptance verdicts, first NaN/Inf. With a
// backward pass the same for each gradient tensor (dq, dk, dv, dsinks: the tensor selector), and
// a table of every run's acceptance verdict per gradient tensor (click a cell to open it).
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
  bool pending() const override { return job_.computing() || grads_job_.computing(); }

  struct Result {
    Divergence d;
    Acceptance acc_a, acc_b;
    bool has_acc_a = false, has_acc_b = false;
  };
  // Every run's gradients against the reference: one cell per (run, tensor).
  struct GradCell {
    std::string run, tensor;
    bool present = false;
    double max_abs = 0;
    Acceptance acc;
  };
  struct GradTable {
    std::vector<std::string> runs;  // runs with a backward (or its error), in capture order
    std::vector<std::string> errors;  // per run: why it has no gradients ("" when it has)
    std::vector<GradCell> cells;      // runs x 4 (kGradientTensors order)
  };

 private:
  void toolbar(Model& m, const Capture& cap, bool grads);
  void refresh(Model& m);
  void measures(Model& m, const Capture& cap, const Divergence& d);
  void verdict_lines(Model& m, const Divergence& d);
  void draw_heatmaps(Model& m, const Capture& cap);
  void draw_tables(Model& m);
  void draw_head_table(Model& m);
  void draw_histograms(float col_w, float th);
  void draw_worst_rows(Model& m);
  void draw_gradient_table(Model& m);
  uint64_t for_version_ = 0;
  std::string for_a_, for_b_, for_tensor_;
  uint64_t grads_version_ = 0;
  std::shared_ptr<GradTable> grads_;
  Background<GradTable> grads_job_;
  std::shared_ptr<Result> res_;
  Background<Result> job_;
  // |A-B| of the selected head, [Nq, Dv], and per-row max of every head [H, Nq].
  int heat_b_ = -1, heat_h_ = -1;
  std::string heat_tensor_;
  uint64_t heat_version_ = 0;
  MapPtr heat_map_, rows_map_;
  MapTexture heat_tex_, rows_tex_;
  MapViewport heat_vp_, rows_vp_;
  std::vector<int> head_order_;
  std::vector<float> lse_diff_;
};

}  // namespace attnscope
