// Probe: inside a fused kernel for the probed rows — running max and running sum after each KV
// tile, which tiles the kernel visited, and the P tiles exactly as they entered P·V, as small
// maps beside eager's P for the same rows.
#pragma once
#include <string>

#include "viewers/view.h"
#include "viewers/widgets.h"

namespace attnscope {

class ProbeView : public View {
 public:
  PanelId id() const override { return PanelId::Probe; }
  const char* title() const override { return "Probe"; }
  void draw(Model& m) override;

 private:
  const RunResult* choose_run(const Model& m);
  void build_maps(const Capture& cap, const RunResult& r);
  void draw_tile_plots(const ProbeData& pd);
  void draw_maps(Model& m, const RunResult& r);

  uint64_t for_version_ = 0;
  std::string run_;
  std::string built_run_;
  int row_ = 0;
  bool normalise_ = false;
  bool built_norm_ = false;
  MapTexture probe_tex_, eager_tex_;
  std::string eager_note_;
  MapViewport vp_;
};

}  // namespace attnscope
