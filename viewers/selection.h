// What the user has picked, shared by the panels: the panel on screen, the batch element and
// head, the maps' zoom and pan, the linked cursor and the divergence pair.
#pragma once
#include <cstdint>
#include <string>

#include "viewers/map_texture.h"

namespace attnscope {

struct Capture;

enum class PanelId { Maps, Divergence, Probe, Timeline, Memory, Diagnose, Count };
const char* panel_name(PanelId p);         // "maps", "divergence", ...
bool parse_panel(const std::string& s, PanelId* out);

struct Selection {
  int batch = 0, head = 0;
  MapViewport view;                     // synchronised zoom and pan of every map
  bool maps_minus_reference = false;    // maps show P - P_fp64 (diverging colours)
  bool cursor_valid = false;            // linked cursor (query row, key column)
  int cursor_row = 0, cursor_col = 0;
  std::string div_a, div_b;             // divergence pair (run labels, "reference")
  std::string div_tensor = "out";       // what the divergence compares: "out", "dq", "dk", "dv", "dsinks"
  PanelId panel = PanelId::Maps;
  bool panel_requested = false;         // switch the tab bar to `panel` next frame

  // Keeps the picks inside capture `c` (batch, head, a divergence pair of runs it has); `first`:
  // a capture new to the screen, so the zoom and the cursor start over.
  void fit(const Capture& c, bool first);
  // Centers the maps on query row `row` of `seq_q` (and head) at a readable zoom, on the Maps tab.
  void focus_row(int b, int h, int64_t row, int seq_q);
};

}  // namespace attnscope
