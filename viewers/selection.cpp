#include "viewers/selection.h"

#include <algorithm>

#include "capture/capture.h"

namespace attnscope {

namespace {
const char* const kPanelNames[] = {"maps", "divergence", "probe", "timeline", "memory", "diagnose"};
}  // namespace

const char* panel_name(PanelId p) {
  int i = static_cast<int>(p);
  return i >= 0 && i < static_cast<int>(PanelId::Count) ? kPanelNames[i] : "?";
}

bool parse_panel(const std::string& s, PanelId* out) {
  for (int i = 0; i < static_cast<int>(PanelId::Count); ++i)
    if (s == kPanelNames[i]) {
      *out = static_cast<PanelId>(i);
      return true;
    }
  return false;
}

void Selection::fit(const Capture& c, bool first) {
  batch = std::clamp(batch, 0, std::max(0, c.spec.batch - 1));
  head = std::clamp(head, 0, std::max(0, c.spec.heads_q - 1));
  if (first) {
    view = MapViewport{};
    cursor_valid = false;
  }
  auto has = [&](const std::string& l) { return l == "reference" || c.find(l) != nullptr; };
  if (div_a.empty() || !has(div_a)) div_a = c.runs.empty() ? "reference" : c.runs.front().label;
  if (div_b.empty() || !has(div_b)) div_b = "reference";
}

void Selection::focus_row(int b, int h, int64_t row, int seq_q) {
  batch = b;
  head = h;
  double rows = std::max(1, seq_q);
  // Show about 64 rows around the chosen one, all columns.
  double span = std::min(1.0, 64.0 / rows);
  double c = (static_cast<double>(row) + 0.5) / rows;
  double y0 = std::clamp(c - span / 2, 0.0, 1.0 - span);
  view = MapViewport{0.0, 1.0, y0, y0 + span};
  cursor_valid = true;
  cursor_row = static_cast<int>(row);
  cursor_col = 0;
  panel = PanelId::Maps;
  panel_requested = true;
}

}  // namespace attnscope
