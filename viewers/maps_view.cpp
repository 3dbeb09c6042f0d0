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
  // One build at a time: dragging the head slider over a 16k capture must not start a build
  // (gigabytes) per step. A finished build is shown; then the latest wanted key is built.
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

  // Toolbar.
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

  // Shared scale over the shown maps.
  ColorScale scale;
  scale.log = m.settings.log_scale;
  scale.decades = m.settings.log_decades;
  scale.vmin = 0;
  scale.vmax = 0;
  std::vector<Entry*> shown;
  std::string not_shown;
  const Entry* ref = nullptr;
  bool signed_maps = false;
  for (Entry& e : entries_) {
    if (e.b.reference) ref = &e;
    if (e.b.reference && !m.settings.show_reference_map) continue;
    if (e.b.ok && e.b.map->signed_data()) signed_maps = true;
    if (!e.b.ok) {
      not_shown += (not_shown.empty() ? "" : "; ") + e.b.label + ": " + e.b.why_not;
      continue;
    }
    shown.push_back(&e);
    scale.vmax = std::max(scale.vmax, e.b.map->signed_data() ? e.b.map->abs_max() : e.b.map->max_value());
  }
  if (!(scale.vmax > 0)) scale.vmax = 1;
  // Differences share one symmetric diverging scale (the reference map, if shown, keeps viridis
  // through its own texture scale below).
  ColorScale pscale = scale;
  if (signed_maps) {
    scale.map = Colormap::Diverging;
    scale.vmin = -scale.vmax;
  }
  if (!not_shown.empty()) {
    ImGui::PushStyleColor(ImGuiCol_Text, ImVec4(0.6f, 0.6f, 0.65f, 1));
    ImGui::TextWrapped("no map for %s", not_shown.c_str());
    ImGui::PopStyleColor();
  }
  if (shown.empty()) return;

  // Grid: the column count that gives the largest maps (aspect Nq : Nk kept).
  const float gap = 10.0f;
  ImVec2 avail = ImGui::GetContentRegionAvail();
  const float line = ImGui::GetTextLineHeightWithSpacing();
  const int n = static_cast<int>(shown.size());
  const float aspect = static_cast<float>(std::max(1, cap.spec.seq_q)) / std::max(1, cap.spec.seq_k);
  const float ar = std::clamp(aspect, 0.25f, 4.0f);
  float w = 40, h = 40;
  int cols = 1;
  for (int c = 1; c <= n; ++c) {
    int r = (n + c - 1) / c;
    float cw = (avail.x - gap * (c - 1)) / c;
    float ch = (avail.y - 2.5f * line - r * line - gap * (r - 1)) / r;
    float mw = std::min(cw, ch / ar), mh = mw * ar;
    if (mw > w) w = mw, h = mh, cols = c;
  }
  MapHit hover;
  int hover_idx = -1;
  ImGuiIO& io = ImGui::GetIO();
  for (int i = 0; i < n; ++i) {
    Entry& e = *shown[static_cast<size_t>(i)];
    if (i % cols) ImGui::SameLine(0, gap);
    ImGui::BeginGroup();
    ImGui::PushID(i);
    {
      // Label and note clipped to the map's width so the grid stays aligned.
      ImVec2 lp = ImGui::GetCursorScreenPos();
      ImDrawList* dl = ImGui::GetWindowDrawList();
      dl->PushClipRect(lp, ImVec2(lp.x + w, lp.y + line), true);
      dl->AddText(lp, ImGui::GetColorU32(ImGuiCol_Text), e.b.label.c_str());
      float lw = ImGui::CalcTextSize(e.b.label.c_str()).x;
      dl->AddText(ImVec2(lp.x + lw + 8, lp.y), ImGui::GetColorU32(ImGuiCol_TextDisabled), e.b.note.c_str());
      dl->PopClipRect();
      ImGui::Dummy(ImVec2(w, ImGui::GetTextLineHeight()));
    }
    {
      if (e.b.map->signed_data()) {
        e.tex->set(e.b.map, scale);
      } else {
        ColorScale ps = pscale;
        ps.vmax = std::max(1e-30f, e.b.map->max_value());
        e.tex->set(e.b.map, signed_maps ? ps : scale);
      }
      MapHit hit = map_widget("map", *e.tex, ImVec2(w, h), m.sel.view, &m.sel.view);
      if (hit.hovered) {
        hover = hit;
        hover_idx = i;
        // Cursor in full-resolution (query, key) whatever the hovered map's pooling.
        hover.row = hit.row * e.b.pool_q;
        hover.col = hit.col * e.b.pool_k;
      }
      if (m.sel.cursor_valid)
        draw_cursor(ImGui::GetWindowDrawList(), hit, m.sel.view, cap.spec.seq_q, cap.spec.seq_k, m.sel.cursor_row,
                    m.sel.cursor_col);
      char js[256];
      std::snprintf(js, sizeof js,
                    "\"rows\":%d,\"cols\":%d,\"x0\":%.9g,\"x1\":%.9g,\"y0\":%.9g,\"y1\":%.9g,\"level\":%d,"
                    "\"vmax\":%.9g,\"log\":%s,\"batch\":%d,\"head\":%d",
                    e.b.map->rows(), e.b.map->cols(), m.sel.view.x0, m.sel.view.x1, m.sel.view.y0, m.sel.view.y1,
                    e.tex->last_level(), scale.vmax, scale.log ? "true" : "false", m.sel.batch, m.sel.head);
      m.add_region({"map:" + e.b.label, hit.p0.x * io.DisplayFramebufferScale.x,
                    hit.p0.y * io.DisplayFramebufferScale.y, w * io.DisplayFramebufferScale.x,
                    h * io.DisplayFramebufferScale.y, js});
    }
    ImGui::PopID();
    ImGui::EndGroup();
  }
  color_bar(scale, std::min(avail.x, 420.0f), signed_maps ? "P - P_ref" : "P");

  if (hover_idx >= 0) {
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
    if (ref && ref->b.ok && hover.row < ref->b.map->rows() && hover.col < ref->b.map->cols()) {
      refv = ref->b.map->at(hover.row, hover.col);
      have_ref = true;
    } else if (!cap.inputs.q.empty() && hover.row < cap.spec.seq_q && hover.col < cap.spec.seq_k) {
      // One row of fp64 scores for the hovered query, cached while the cursor stays on it.
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
      ImGui::Text("%-22s %.6g%s", "reference (fp64)", refv, signed_maps ? "   (maps show the difference to it)" : "");
    ImGui::EndTooltip();
  }
}

}  // namespace attnscope
