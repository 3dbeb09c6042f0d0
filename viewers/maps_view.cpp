#include "viewers/maps_view.h"

#include "capture/scores.h"
#include "capture/store.h"

#include <algorithm>
#include <cmath>

namespace attnscope {

std::vector<MapsView::Built> MapsView::build(std::shared_ptr<const Capture> cap, const std::string& path, int b,
                                             int h, bool diff, bool with_ref) {
  std::vector<Built> out;
  // The reference's P is a full map only when shown or subtracted (a 16k x 16k head is 1 GiB);
  // the tooltip computes its value for the hovered row alone otherwise.
  AttentionMap refm;
  if (diff || with_ref) refm = reference_map(*cap, b, h);
  diff = diff && refm.ok;
  // Rows outside [r0, r1) hold no data (probe maps): they stay 0 in the difference too.
  auto add = [&](AttentionMap am, bool ref, int r0 = 0, int r1 = 1 << 30) {
    Built e;
    e.label = am.label;
    e.note = am.note;
    e.why_not = am.why_not;
    e.ok = am.ok;
    e.reference = ref;
    if (am.ok && diff && !ref && am.rows == refm.rows && am.cols == refm.cols) {
      for (int i = std::max(0, r0); i < std::min(am.rows, r1); ++i)
        for (int j = 0; j < am.cols; ++j)
          am.data[static_cast<size_t>(i) * am.cols + j] -= refm.data[static_cast<size_t>(i) * am.cols + j];
      e.note += ", minus reference";
      e.map = std::make_shared<MapPyramid>(std::move(am.data), am.rows, am.cols, true);
    } else if (am.ok && (!diff || ref)) {
      e.map = std::make_shared<MapPyramid>(std::move(am.data), am.rows, am.cols, false);
    } else if (am.ok) {
      e.ok = false;
      e.why_not = "shape differs from the reference";
    }
    out.push_back(std::move(e));
  };
  for (const RunResult& r : cap->runs) {
    AttentionMap am = attention_map(*cap, r, b, h);
    StoredIntermediates si;
    if (!am.ok && r.ran && !path.empty() && load_intermediates(path, r.label, &si).ok() && si.storage == "rows" &&
        si.probs_overview.shape.size() == 4 && b < si.probs_overview.dim(0) && h < si.probs_overview.dim(1)) {
      // P cannot be rebuilt here: show what the file kept, the max-pooled overview of this head.
      const int oq = static_cast<int>(si.probs_overview.dim(2)), ok = static_cast<int>(si.probs_overview.dim(3));
      const float* src = si.probs_overview.data.data() + (static_cast<int64_t>(b) * si.probs_overview.dim(1) + h) * oq * ok;
      Built e;
      e.label = r.label;
      e.note = "stored overview, max-pooled " + std::to_string(si.pool_q) + "x" + std::to_string(si.pool_k);
      e.ok = true;
      e.pool_q = static_cast<int>(si.pool_q);
      e.pool_k = static_cast<int>(si.pool_k);
      e.map = std::make_shared<MapPyramid>(std::vector<float>(src, src + static_cast<int64_t>(oq) * ok), oq, ok, false);
      out.push_back(std::move(e));
      continue;
    }
    add(std::move(am), false);
    if (!r.probe.empty() && r.probe.where.batch == b && r.probe.where.head == h) {
      // The probed rows placed in a full-size map, so it zooms and pans with the others.
      AttentionMap pm = probe_map(*cap, r, true);
      if (pm.ok) {
        AttentionMap full;
        full.label = r.label + " probe";
        full.note = pm.note;
        full.rows = cap->spec.seq_q;
        full.cols = cap->spec.seq_k;
        full.data.assign(static_cast<size_t>(full.rows) * full.cols, 0.0f);
        for (int i = 0; i < pm.rows && pm.row_begin + i < full.rows; ++i)
          std::copy_n(pm.data.begin() + static_cast<ptrdiff_t>(i) * pm.cols, std::min(pm.cols, full.cols),
                      full.data.begin() + static_cast<ptrdiff_t>(pm.row_begin + i) * full.cols);
        full.ok = true;
        add(std::move(full), false, pm.row_begin, pm.row_begin + pm.rows);
      }
    }
  }
  if (with_ref) add(std::move(refm), true);
  return out;
}

// The maps this frame shows, on one scale: `scale` for all (diverging when they are
// differences), `pscale` the base of a probability map's own scale beside differences.
struct MapsView::Shown {
  std::vector<Entry*> maps;
  const Entry* ref = nullptr;  // the fp64 reference's, shown or not
  bool signed_maps = false;
  ColorScale scale, pscale;
  std::string not_shown;       // "label: why; ..."
};

namespace {

// The grid's column count and map size that give the largest maps (aspect Nq : Nk kept).
struct Grid {
  float w = 40, h = 40;
  int cols = 1;
};
constexpr float kGap = 10.0f;

Grid grid_for(int n, const LayerSpec& spec, ImVec2 avail, float line) {
  const float aspect = static_cast<float>(std::max(1, spec.seq_q)) / std::max(1, spec.seq_k);
  const float ar = std::clamp(aspect, 0.25f, 4.0f);
  Grid g;
  for (int c = 1; c <= n; ++c) {
    int r = (n + c - 1) / c;
    float cw = (avail.x - kGap * (c - 1)) / c;
    float ch = (avail.y - 2.5f * line - r * line - kGap * (r - 1)) / r;
    float mw = std::min(cw, ch / ar), mh = mw * ar;
    if (mw > g.w) g.w = mw, g.h = mh, g.cols = c;
  }
  return g;
}

// A map's label and note, clipped to the map's width so the grid stays aligned.
void map_label(const MapsView::Built& b, float w, float line) {
  ImVec2 lp = ImGui::GetCursorScreenPos();
  ImDrawList* dl = ImGui::GetWindowDrawList();
  dl->PushClipRect(lp, ImVec2(lp.x + w, lp.y + line), true);
  dl->AddText(lp, ImGui::GetColorU32(ImGuiCol_Text), b.label.c_str());
  float lw = ImGui::CalcTextSize(b.label.c_str()).x;
  dl->AddText(ImVec2(lp.x + lw + 8, lp.y), ImGui::GetColorU32(ImGuiCol_TextDisabled), b.note.c_str());
  dl->PopClipRect();
  ImGui::Dummy(ImVec2(w, ImGui::GetTextLineHeight()));
}

}  // namespace

void MapsView::draw(Model& m) {
  if (m.jobs.busy() && (!m.doc.cap || m.doc.cap->runs.empty())) {  // a run just started (the first start's included)
    ImGui::TextWrapped("%s: the maps appear as each implementation finishes.", m.jobs.current()->what.c_str());
    if (!m.doc.cap) return;
  }
  if (!m.doc.cap) {
    ImGui::TextWrapped("No capture open. File > Open capture (Ctrl+O), drop a .h5 file on the window, "
                       "or set up a layer on the left and press Run (Ctrl+R).");
    return;
  }
  const Capture& cap = *m.doc.cap;
  update_build(m);
  toolbar(m, cap);
  const Shown shown = pick_shown(m);
  if (!shown.not_shown.empty()) {
    ImGui::PushStyleColor(ImGuiCol_Text, ImVec4(0.6f, 0.6f, 0.65f, 1));
    ImGui::TextWrapped("no map for %s", shown.not_shown.c_str());
    ImGui::PopStyleColor();
  }
  if (shown.maps.empty()) return;
  ImVec2 avail = ImGui::GetContentRegionAvail();
  const float line = ImGui::GetTextLineHeightWithSpacing();
  const int n = static_cast<int>(shown.maps.size());
  const Grid g = grid_for(n, cap.spec, avail, line);
  MapHit hover;
  int hover_idx = -1;
  for (int i = 0; i < n; ++i) {
    if (i % g.cols) ImGui::SameLine(0, kGap);
    ImGui::BeginGroup();
    ImGui::PushID(i);
    map_label(shown.maps[static_cast<size_t>(i)]->b, g.w, line);
    if (draw_map(m, cap, *shown.maps[static_cast<size_t>(i)], shown, ImVec2(g.w, g.h), &hover)) hover_idx = i;
    ImGui::PopID();
    ImGui::EndGroup();
  }
  color_bar(shown.scale, std::min(avail.x, 420.0f), shown.signed_maps ? "P - P_ref" : "P");
  if (hover_idx >= 0) cursor_tooltip(m, cap, shown, hover);
}

// One build at a time: dragging the head slider over a 16k capture must not start a build
// (gigabytes) per step. A finished build is shown; then the latest wanted key is built.
void MapsView::update_build(Model& m) {
  const Key want{m.doc.cap_version, m.sel.batch, m.sel.head, m.sel.maps_minus_reference, m.settings.show_reference_map};
  if (auto done = build_.take()) {
    entries_.clear();
    for (Built& b : *done) entries_.push_back(Entry{std::move(b), std::make_unique<MapTexture>()});
    shown_ = building_;
  }
  if (!build_.running() && !(want == shown_)) {
    building_ = want;
    build_.start([c = m.doc.cap, p = m.doc.cap_path, want] { return build(c, p, want.b, want.h, want.diff, want.ref); });
  }
  if (!(shown_.version == m.doc.cap_version)) entries_.clear();  // never another capture's maps
}

void MapsView::toolbar(Model& m, const Capture& cap) {
  ImGui::SetNextItemWidth(120);
  if (cap.spec.batch > 1) {
    ImGui::SliderInt("batch", &m.sel.batch, 0, cap.spec.batch - 1);
    ImGui::SameLine();
  }
  ImGui::SetNextItemWidth(160);
  ImGui::SliderInt("head", &m.sel.head, 0, std::max(0, cap.spec.heads_q - 1));
  ImGui::SameLine();
  ImGui::Checkbox("log scale", &m.settings.log_scale);
  if (m.settings.log_scale) {
    ImGui::SameLine();
    ImGui::SetNextItemWidth(100);
    ImGui::SliderFloat("decades", &m.settings.log_decades, 1.0f, 12.0f, "%.0f");
  }
  ImGui::SameLine();
  ImGui::Checkbox("reference map", &m.settings.show_reference_map);
  ImGui::SameLine();
  ImGui::Checkbox("minus reference", &m.sel.maps_minus_reference);
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("show P - P_fp64 (signed, diverging colours)");
  ImGui::SameLine();
  if (ImGui::Button("reset view")) m.sel.view = MapViewport{};
  ImGui::SameLine();
  ImGui::TextDisabled("zoom %.1fx  |  wheel: zoom, drag: pan, double-click: reset",
                      1.0 / std::max(1e-9, m.sel.view.x1 - m.sel.view.x0));
  if (build_.running()) {
    ImGui::SameLine();
    ImGui::TextColored(ImVec4(1, 0.8f, 0.3f, 1), "building maps...");
  }
}

// The built maps to show and their shared scale.
MapsView::Shown MapsView::pick_shown(const Model& m) {
  Shown s;
  s.scale.log = m.settings.log_scale;
  s.scale.decades = m.settings.log_decades;
  s.scale.vmin = 0;
  s.scale.vmax = 0;
  for (Entry& e : entries_) {
    if (e.b.reference) s.ref = &e;
    if (e.b.reference && !m.settings.show_reference_map) continue;
    if (e.b.ok && e.b.map->signed_data()) s.signed_maps = true;
    if (!e.b.ok) {
      s.not_shown += (s.not_shown.empty() ? "" : "; ") + e.b.label + ": " + e.b.why_not;
      continue;
    }
    s.maps.push_back(&e);
    s.scale.vmax = std::max(s.scale.vmax, e.b.map->signed_data() ? e.b.map->abs_max() : e.b.map->max_value());
  }
  if (!(s.scale.vmax > 0)) s.scale.vmax = 1;
  // Differences share one symmetric diverging scale (the reference map, if shown, keeps viridis
  // through its own texture scale below).
  s.pscale = s.scale;
  if (s.signed_maps) {
    s.scale.map = Colormap::Diverging;
    s.scale.vmin = -s.scale.vmax;
  }
  return s;
}

// One map with the shared zoom and pan and the linked cursor; true (and `hover` set, in
// full-resolution query and key whatever the map's pooling) when the mouse is over it.
bool MapsView::draw_map(Model& m, const Capture& cap, Entry& e, const Shown& shown, ImVec2 size, MapHit* hover) {
  const ImGuiIO& io = ImGui::GetIO();
  if (e.b.map->signed_data()) {
    e.tex->set(e.b.map, shown.scale);
  } else {
    ColorScale ps = shown.pscale;
    ps.vmax = std::max(1e-30f, e.b.map->max_value());
    e.tex->set(e.b.map, shown.signed_maps ? ps : shown.scale);
  }
  MapHit hit = map_widget("map", *e.tex, size, m.sel.view, &m.sel.view);
  if (hit.hovered) {
    *hover = hit;
    hover->row = hit.row * e.b.pool_q;
    hover->col = hit.col * e.b.pool_k;
  }
  if (m.sel.cursor_valid)
    draw_cursor(ImGui::GetWindowDrawList(), hit, m.sel.view, cap.spec.seq_q, cap.spec.seq_k, m.sel.cursor_row,
                m.sel.cursor_col);
  char js[256];
  std::snprintf(js, sizeof js,
                "\"rows\":%d,\"cols\":%d,\"x0\":%.9g,\"x1\":%.9g,\"y0\":%.9g,\"y1\":%.9g,\"level\":%d,"
                "\"vmax\":%.9g,\"log\":%s,\"batch\":%d,\"head\":%d",
                e.b.map->rows(), e.b.map->cols(), m.sel.view.x0, m.sel.view.x1, m.sel.view.y0, m.sel.view.y1,
                e.tex->last_level(), shown.scale.vmax, shown.scale.log ? "true" : "false", m.sel.batch, m.sel.head);
  m.add_region({"map:" + e.b.label, hit.p0.x * io.DisplayFramebufferScale.x, hit.p0.y * io.DisplayFramebufferScale.y,
                size.x * io.DisplayFramebufferScale.x, size.y * io.DisplayFramebufferScale.y, js});
  return hit.hovered;
}

// The linked cursor: every run's value at the hovered cell, and the fp64 reference's (its map's,
// else one row of fp64 scores rebuilt from the inputs and cached while the cursor stays on it).
void MapsView::cursor_tooltip(Model& m, const Capture& cap, const Shown& shown, const MapHit& hover) {
  m.sel.cursor_valid = true;
  m.sel.cursor_row = hover.row;
  m.sel.cursor_col = hover.col;
  ImGui::BeginTooltip();
  ImGui::Text("q %d, k %d   (batch %d, head %d)", hover.row, hover.col, m.sel.batch, m.sel.head);
  ImGui::Separator();
  for (const Entry& e : entries_) {
    if (!e.b.ok || e.b.reference) continue;
    int r = hover.row / e.b.pool_q, c = hover.col / e.b.pool_k;
    if (r < e.b.map->rows() && c < e.b.map->cols())
      ImGui::Text("%-22s %.6g%s", e.b.label.c_str(), e.b.map->at(r, c), e.b.pool_q > 1 ? "  (max of its pooled cell)" : "");
  }
  double refv = 0;
  bool have_ref = false;
  const Entry* ref = shown.ref;
  if (ref && ref->b.ok && hover.row < ref->b.map->rows() && hover.col < ref->b.map->cols()) {
    refv = ref->b.map->at(hover.row, hover.col);
    have_ref = true;
  } else if (!cap.inputs.q.empty() && hover.row < cap.spec.seq_q && hover.col < cap.spec.seq_k) {
    if (ref_row_key_ != Key{m.doc.cap_version, m.sel.batch, m.sel.head, false, false} || ref_row_i_ != hover.row) {
      ref_row_key_ = Key{m.doc.cap_version, m.sel.batch, m.sel.head, false, false};
      ref_row_i_ = hover.row;
      ref_row_.assign(static_cast<size_t>(cap.spec.seq_k), 0.0);
      scores_row(cap.spec, cap.inputs, m.sel.batch, m.sel.head, hover.row, true, ref_row_.data());
    }
    const int64_t li = (static_cast<int64_t>(m.sel.batch) * cap.spec.heads_q + m.sel.head) * cap.spec.seq_q + hover.row;
    if (li < cap.reference.lse.numel()) {
      double s = ref_row_[static_cast<size_t>(hover.col)], l = cap.reference.lse.data[static_cast<size_t>(li)];
      refv = std::isinf(s) || std::isinf(l) ? 0.0 : std::exp(s - l);
      have_ref = true;
    }
  }
  if (have_ref)
    ImGui::Text("%-22s %.6g%s", "reference (fp64)", refv, shown.signed_maps ? "   (maps show the difference to it)" : "");
  ImGui::EndTooltip();
}

}  // namespace attnscope
