#include "viewers/timeline_ranges.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

namespace attnscope {

namespace {
constexpr int kMaxRows = 3;  // implementation, phase, launch

// "repeat 3" -> "repeat": the launches of one kind share a colour.
std::string kind_of(const std::string& name) {
  size_t sp = name.rfind(' ');
  if (sp == std::string::npos || sp + 1 >= name.size()) return name;
  for (size_t i = sp + 1; i < name.size(); ++i)
    if (!std::isdigit(static_cast<unsigned char>(name[i]))) return name;
  return name.substr(0, sp);
}
}  // namespace

std::string bar_json(bool first, float x0, float x1, float yc, double dur_us, ImU32 color, int k, float fs,
                     int flag) {
  char e[160];
  std::snprintf(e, sizeof e, "%s[%.3f,%.3f,%.3f,%.9g,%u,%d", first ? "" : ",", x0 * fs, x1 * fs, yc * fs, dur_us,
                color, k);
  std::string s = e;
  if (flag >= 0) s += "," + std::to_string(flag);
  return s + "]";
}

RangeRows range_rows(const RunResult& r) {
  RangeRows rows;
  for (const RangeRecord& g : r.ranges) rows.rows = std::max(rows.rows, std::min(g.depth, kMaxRows - 1) + 1);
  return rows;
}

ImU32 range_color(const RangeRecord& g) {
  // Darker than the kernels' colours, so phases read as background for the kernels below them.
  ImVec4 c = ImGui::ColorConvertU32ToFloat4(name_color(kind_of(g.name)));
  return ImGui::ColorConvertFloat4ToU32(ImVec4(c.x * 0.6f, c.y * 0.6f, c.z * 0.6f, 1.0f));
}

std::string draw_range_rows(ImDrawList* dl, const RunResult& r, const RangeRows& rows, float y, float x0, float x1,
                            const std::function<float(double)>& tx, float fs, const RangeRecord** hovered) {
  const ImGuiIO& io = ImGui::GetIO();
  std::string js = "\"rows\":" + std::to_string(rows.rows) + ",\"row_h\":" + fmt_g(rows.row_h * fs, 6) + ",\"bars\":[";
  bool first = true;
  dl->PushClipRect(ImVec2(x0, y), ImVec2(x1, y + rows.height()), true);
  for (const RangeRecord& g : r.ranges) {
    const int row = std::min(g.depth, kMaxRows - 1);
    const float bx0 = tx(g.start_us), bx1 = std::max(tx(g.start_us + g.dur_us), bx0 + 1.0f);
    const float by0 = y + row * rows.row_h + 1, by1 = by0 + rows.row_h - 2;
    const ImU32 c = range_color(g);
    dl->AddRectFilled(ImVec2(bx0, by0), ImVec2(bx1, by1), c);
    // The name from the visible left edge: a range that began before the view keeps its label.
    const float lx0 = std::max(bx0, x0), lx1 = std::min(bx1, x1);
    if (lx1 - lx0 > 30) {
      dl->PushClipRect(ImVec2(lx0, by0), ImVec2(lx1, by1), true);
      dl->AddText(ImGui::GetFont(), ImGui::GetFontSize() * 0.85f, ImVec2(lx0 + 3, by0), IM_COL32(235, 235, 235, 255),
                  g.name.c_str());
      dl->PopClipRect();
    }
    if (hovered && io.MousePos.x >= bx0 && io.MousePos.x < bx1 && io.MousePos.y >= by0 && io.MousePos.y < by1)
      *hovered = &g;
    js += bar_json(first, bx0, bx1, (by0 + by1) * 0.5f, g.dur_us, c, g.depth, fs);
    first = false;
  }
  dl->PopClipRect();
  return js + "]";
}

}  // namespace attnscope
