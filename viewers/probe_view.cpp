#include "viewers/probe_view.h"

#include <algorithm>
#include <cmath>

#include "viewers/attention_maps.h"

namespace attnscope {
namespace {

// One polyline per probed row over the KV tiles (values [rows, nt]); the chosen row bright with
// a dot per tile. Non-finite values (tiles not visited yet: -inf) break the line.
void tile_plot(const char* id, const float* v, int rows, int nt, int sel, ImVec2 size) {
  ImVec2 p0 = ImGui::GetCursorScreenPos();
  ImGui::InvisibleButton(id, size);
  ImDrawList* dl = ImGui::GetWindowDrawList();
  dl->AddRectFilled(p0, ImVec2(p0.x + size.x, p0.y + size.y), IM_COL32(22, 22, 26, 255));
  float lo = 0, hi = 0;
  bool any = false;
  for (int i = 0; i < rows * nt; ++i)
    if (std::isfinite(v[i])) {
      if (!any) lo = hi = v[i];
      any = true;
      lo = std::min(lo, v[i]);
      hi = std::max(hi, v[i]);
    }
  if (!any) return;
  if (hi <= lo) hi = lo + 1;
  auto X = [&](int t) { return p0.x + 8 + (size.x - 16) * (nt > 1 ? static_cast<float>(t) / (nt - 1) : 0.5f); };
  auto Y = [&](float y) { return p0.y + size.y - 6 - (size.y - 20) * (y - lo) / (hi - lo); };
  for (int pass = 0; pass < 2; ++pass) {
    for (int r = 0; r < rows; ++r) {
      if ((pass == 1) != (r == sel)) continue;
      ImU32 c = r == sel ? IM_COL32(255, 210, 90, 255) : IM_COL32(120, 150, 200, 60);
      const float* row = v + static_cast<ptrdiff_t>(r) * nt;
      for (int t = 0; t < nt; ++t) {
        if (!std::isfinite(row[t])) continue;
        if (t > 0 && std::isfinite(row[t - 1]))
          dl->AddLine(ImVec2(X(t - 1), Y(row[t - 1])), ImVec2(X(t), Y(row[t])), c, r == sel ? 2.0f : 1.0f);
        if (r == sel) dl->AddCircleFilled(ImVec2(X(t), Y(row[t])), 3.0f, c);
      }
    }
  }
  dl->AddText(ImVec2(p0.x + 4, p0.y + 2), IM_COL32(160, 160, 170, 255), fmt_g(hi, 4).c_str());
  dl->AddText(ImVec2(p0.x + 4, p0.y + size.y - 16), IM_COL32(160, 160, 170, 255), fmt_g(lo, 4).c_str());
  if (ImGui::IsItemHovered()) {
    float mx = ImGui::GetIO().MousePos.x;
    int t = std::clamp(static_cast<int>(std::lround((mx - p0.x - 8) / std::max(1.0f, size.x - 16) * (nt - 1))), 0, nt - 1);
    ImGui::SetTooltip("tile %d: %.6g", t, v[static_cast<ptrdiff_t>(sel) * nt + t]);
  }
}

}  // namespace

void ProbeView::draw(Model& m) {
  if (!m.doc.cap) {
    ImGui::TextWrapped("No capture open.");
    return;
  }
  const Capture& cap = *m.doc.cap;
  const RunResult* r = choose_run(m);
  if (!r) {
    ImGui::TextWrapped("No run in this capture recorded a probe. Enable \"probe\" in the layer panel (batch, "
                       "head, row range) and Run: the fused implementations (flash2, sink, sdpa's "
                       "memory-efficient kernel) then record their P tiles and running max/sum.");
    return;
  }
  const ProbeData& pd = r->probe;
  const int rows = static_cast<int>(pd.p.dim(0));
  ImGui::SameLine();
  ImGui::Text("batch %d, head %d, rows %d-%d, KV tile %d keys, %d tiles", pd.where.batch, pd.where.head,
              pd.where.row_begin, pd.where.row_begin + rows - 1, pd.kv_tile, pd.n_tiles);
  ImGui::SameLine();
  ImGui::Checkbox("normalised", &normalise_);
  if (built_run_ != r->label || built_norm_ != normalise_) {
    if (built_run_ != r->label) row_ = rows - 1;  // the last row has visited the most tiles
    built_run_ = r->label;
    built_norm_ = normalise_;
    build_maps(cap, *r);
  }
  row_ = std::clamp(row_, 0, std::max(0, rows - 1));
  ImGui::SetNextItemWidth(300);
  ImGui::SliderInt("probed row", &row_, 0, std::max(0, rows - 1));
  ImGui::SameLine();
  ImGui::TextDisabled("(query row %d)", pd.where.row_begin + row_);
  draw_tile_plots(pd);
  draw_maps(m, *r);
}

// The runs that recorded a probe, the chosen one in a combo (the first again when a new capture
// arrives); nullptr when none did.
const RunResult* ProbeView::choose_run(const Model& m) {
  std::vector<const RunResult*> probed;
  for (const RunResult& r : m.doc.cap->runs)
    if (!r.probe.empty()) probed.push_back(&r);
  if (probed.empty()) return nullptr;
  if (for_version_ != m.doc.cap_version) {
    for_version_ = m.doc.cap_version;
    run_ = probed.front()->label;
    built_run_.clear();
  }
  const RunResult* r = probed.front();
  for (const RunResult* p : probed)
    if (p->label == run_) r = p;
  ImGui::SetNextItemWidth(200);
  if (ImGui::BeginCombo("run", r->label.c_str())) {
    for (const RunResult* p : probed)
      if (ImGui::Selectable(p->label.c_str(), p == r)) run_ = p->label;
    ImGui::EndCombo();
  }
  return r;
}

// The probed P tiles as a map, and the first eager run's P on the same rows beside them.
void ProbeView::build_maps(const Capture& cap, const RunResult& r) {
  const ProbeData& pd = r.probe;
  const int rows = static_cast<int>(pd.p.dim(0));
  vp_ = MapViewport{};
  AttentionMap pm = probe_map(cap, r, normalise_);
  if (pm.ok) {
    auto pyr = std::make_shared<MapPyramid>(std::move(pm.data), pm.rows, pm.cols, false);
    ColorScale s;
    s.vmin = 0;
    s.vmax = std::max(1e-30f, pyr->max_value());
    probe_tex_.set(pyr, s);
  }
  eager_note_ = "no eager run";
  for (const RunResult& e : cap.runs) {
    if (e.impl != "eager") continue;
    AttentionMap em = attention_map(cap, e, pd.where.batch, pd.where.head);
    if (!em.ok) {
      eager_note_ = em.why_not;
      return;
    }
    std::vector<float> sl(static_cast<size_t>(rows) * em.cols, 0.0f);
    for (int i = 0; i < rows && pd.where.row_begin + i < em.rows; ++i)
      std::copy_n(em.data.begin() + static_cast<ptrdiff_t>(pd.where.row_begin + i) * em.cols, em.cols,
                  sl.begin() + static_cast<ptrdiff_t>(i) * em.cols);
    auto pyr = std::make_shared<MapPyramid>(std::move(sl), rows, em.cols, false);
    ColorScale es;
    es.vmin = 0;
    es.vmax = std::max(1e-30f, pyr->max_value());
    eager_tex_.set(pyr, es);
    eager_note_ = e.label + " P, same rows (" + em.note + ")";
    return;
  }
}

// Running max and running sum after each KV tile for the chosen row (the other probed rows faint),
// and which tiles the kernel visited.
void ProbeView::draw_tile_plots(const ProbeData& pd) {
  const int rows = static_cast<int>(pd.p.dim(0)), nt = pd.n_tiles;
  if (nt <= 0 || pd.row_max.numel() < static_cast<int64_t>(rows) * nt ||
      pd.row_sum.numel() < static_cast<int64_t>(rows) * nt)
    return;
  const ImVec2 avail = ImGui::GetContentRegionAvail();
  const float pw = (avail.x - 20) / 2, ph = std::clamp(avail.y * 0.28f, 70.0f, 220.0f);
  const float* mx = pd.row_max.data.data() + static_cast<ptrdiff_t>(row_) * nt;
  const float* sm = pd.row_sum.data.data() + static_cast<ptrdiff_t>(row_) * nt;
  const std::string t1 = "running max m after each KV tile (row " + std::to_string(pd.where.row_begin + row_) +
                         " bright, other probed rows faint; last " + fmt_g(mx[nt - 1], 5) + ")";
  const std::string t2 = "running sum l after each KV tile (last " + fmt_g(sm[nt - 1], 5) + ")";
  ImGui::BeginGroup();
  ImGui::TextUnformatted(t1.c_str());
  tile_plot("##max", pd.row_max.data.data(), rows, nt, row_, ImVec2(pw, ph));
  ImGui::EndGroup();
  ImGui::SameLine(0, 20);
  ImGui::BeginGroup();
  ImGui::TextUnformatted(t2.c_str());
  tile_plot("##sum", pd.row_sum.data.data(), rows, nt, row_, ImVec2(pw, ph));
  ImGui::EndGroup();
  const ImVec2 p = ImGui::GetCursorScreenPos();
  const float tw = avail.x / std::max(1, nt);
  ImDrawList* dl = ImGui::GetWindowDrawList();
  for (int t = 0; t < nt; ++t) {
    const bool used = t < static_cast<int>(pd.tile_used.size()) && pd.tile_used[static_cast<size_t>(t)];
    dl->AddRectFilled(ImVec2(p.x + t * tw, p.y), ImVec2(p.x + (t + 1) * tw - 1, p.y + 8),
                      used ? IM_COL32(90, 200, 120, 255) : IM_COL32(70, 70, 70, 255));
  }
  ImGui::Dummy(ImVec2(avail.x, 10));
  ImGui::TextDisabled("tiles visited (green) / skipped (grey) by the kernel");
}

// The P tiles beside eager's P rows, sharing one viewport, the KV tile boundaries drawn over both;
// the hovered cell's values from both in a tooltip.
void ProbeView::draw_maps(Model& m, const RunResult& r) {
  const ProbeData& pd = r.probe;
  const int rows = static_cast<int>(pd.p.dim(0)), cols = static_cast<int>(pd.p.dim(1)), nt = pd.n_tiles;
  const ImVec2 avail = ImGui::GetContentRegionAvail();
  const float mw = (avail.x - 20) / 2, mh = std::max(60.0f, avail.y - ImGui::GetTextLineHeightWithSpacing() * 3);
  const float fs = ImGui::GetIO().DisplayFramebufferScale.x;
  auto tile_lines = [&](const MapHit& h) {
    if (pd.kv_tile <= 0 || cols <= 0) return;
    ImDrawList* dl = ImGui::GetWindowDrawList();
    dl->PushClipRect(h.p0, h.p1, true);
    for (int t = 1; t < nt; ++t) {
      const double fx = static_cast<double>(t) * pd.kv_tile / cols;
      const float x = h.p0.x + static_cast<float>((fx - vp_.x0) / (vp_.x1 - vp_.x0) * (h.p1.x - h.p0.x));
      dl->AddLine(ImVec2(x, h.p0.y), ImVec2(x, h.p1.y), IM_COL32(255, 255, 255, 50));
    }
    dl->PopClipRect();
  };
  ImGui::BeginGroup();
  ImGui::Text("%s P tiles %s", r.label.c_str(), normalise_ ? "(normalised to probabilities)" : "(as used in P·V)");
  const MapHit h1 = map_widget("probe_p", probe_tex_, ImVec2(mw, mh), vp_, &vp_);
  tile_lines(h1);
  m.add_region({"probe:p", h1.p0.x * fs, h1.p0.y * fs, mw * fs, mh * fs,
                "\"rows\":" + std::to_string(rows) + ",\"cols\":" + std::to_string(cols)});
  color_bar(probe_tex_.scale(), std::min(mw, 300.0f), "");
  ImGui::EndGroup();
  ImGui::SameLine(0, 20);
  ImGui::BeginGroup();
  ImGui::TextUnformatted(eager_note_.c_str());
  const MapHit h2 = map_widget("eager_p", eager_tex_, ImVec2(mw, mh), vp_, &vp_);
  tile_lines(h2);
  m.add_region({"probe:eager", h2.p0.x * fs, h2.p0.y * fs, mw * fs, mh * fs, ""});
  color_bar(eager_tex_.scale(), std::min(mw, 300.0f), "");
  ImGui::EndGroup();
  if (!(h1.hovered || h2.hovered) || !probe_tex_.map()) return;
  const MapHit& h = h1.hovered ? h1 : h2;
  ImGui::BeginTooltip();
  ImGui::Text("query row %d, key %d (tile %d)", pd.where.row_begin + h.row, h.col,
              pd.kv_tile > 0 ? h.col / pd.kv_tile : 0);
  if (h.row < probe_tex_.map()->rows() && h.col < probe_tex_.map()->cols())
    ImGui::Text("probe  %.6g", probe_tex_.map()->at(h.row, h.col));
  if (eager_tex_.map() && h.row < eager_tex_.map()->rows() && h.col < eager_tex_.map()->cols())
    ImGui::Text("eager  %.6g", eager_tex_.map()->at(h.row, h.col));
  ImGui::EndTooltip();
}

}  // namespace attnscope
