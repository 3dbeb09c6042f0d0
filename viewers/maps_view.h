// Attention maps: one map per implementation side by side (eager's materialised P, the fused
// kernels' P reconstructed from their LSE, probe tiles, optionally the fp64 reference), shared
// zoom/pan and colour scale, linked cursor tooltip with every implementation's value.
#pragma once
#include <string>
#include <vector>

#include "viewers/attention_maps.h"
#include "viewers/view.h"
#include "viewers/widgets.h"

namespace attnscope {

class MapsView : public View {
 public:
  PanelId id() const override { return PanelId::Maps; }
  const char* title() const override { return "Attention maps"; }
  void draw(Model& m) override;
  bool pending() const override { return build_.computing(); }

  struct Built {
    std::string label, note, why_not;
    bool ok = false;
    bool reference = false;
    MapPtr map;
    int pool_q = 1, pool_k = 1;  // a stored max-pooled overview: one cell per pool_q x pool_k
  };
  // Builds the maps of (b, h) for every run of `cap` (and the reference), pyramids included.
  // With `diff`, every map holds P - P_reference (signed, drawn with the diverging colormap).
  // `path`: the capture's file, read for the stored overview of runs whose P cannot be rebuilt
  // (a capture saved without inputs and over the intermediates budget).
  static std::vector<Built> build(std::shared_ptr<const Capture> cap, const std::string& path, int b, int h,
                                  bool diff, bool with_ref);

 private:
  struct Entry {
    Built b;
    std::unique_ptr<MapTexture> tex;
  };
  struct Shown;
  void update_build(Model& m);
  void toolbar(Model& m, const Capture& cap);  // batch, head, scale options, reset, zoom
  Shown pick_shown(const Model& m);
  bool draw_map(Model& m, const Capture& cap, Entry& e, const Shown& shown, ImVec2 size, MapHit* hover);
  void cursor_tooltip(Model& m, const Capture& cap, const Shown& shown, const MapHit& hover);

  struct Key {
    uint64_t version = 0;
    int b = -1, h = -1;
    bool diff = false;
    bool ref = false;
    bool operator==(const Key&) const = default;
  };
  Key shown_, building_;
  Key ref_row_key_;           // the fp64 scores row cached for the tooltip
  int ref_row_i_ = -1;
  std::vector<double> ref_row_;
  std::vector<Entry> entries_;
  Background<std::vector<Built>> build_;
};

}  // namespace attnscope
