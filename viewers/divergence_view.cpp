#include "viewers/divergence_view.h"

#include <algorithm>
#include <cfloat>
#include <cmath>

namespace attnscope {
namespace {

const RunResult* find_run(const Capture& cap, const std::string& label) {
  if (label == "reference") return &cap.reference;
  return cap.find(label);
}

// The tensor the panel compares in run r: its output, or one of its gradients.
const Tensor* tensor_of(const RunResult& r, const std::string& t) {
  return t == "out" ? &r.out : gradient(r.grad, t);
}

// [B, H, N, D] view of a compared tensor (dsinks [Hq] is one value per head: [1, Hq, 1, 1]).
std::vector<int64_t> view_of(const Tensor& t) {
  if (t.shape.size() == 1) return {1, t.shape[0], 1, 1};
  return {t.dim(0), t.dim(1), t.dim(2), t.dim(3)};
}

// What rows and columns of a tensor's head slice are, for the panel's captions.
const char* axes_of(const std::string& t) {
  if (t == "dk" || t == "dv") return "[key row x head dim]";
  if (t == "dq") return "[query row x head dim]";
  if (t == "dsinks") return "[one value per query head]";
  return "[query row x value dim]";
}

void location_line(const char* what, const Location& l) {
  if (!l.found) {
    ImGui::Text("%s: none", what);
    return;
  }
  ImGui::TextColored(ImVec4(1, 0.4f, 0.4f, 1), "%s: %s at batch %d head %d row %lld col %lld", what,
                     l.nan ? "NaN" : "Inf", l.b, l.h, static_cast<long long>(l.row),
                     static_cast<long long>(l.col));
}

void histogram(const char* id, const std::vector<int64_t>& h, const std::vector<std::string>& labels,
               ImVec2 size) {
  ImVec2 p0 = ImGui::GetCursorScreenPos();
  ImGui::InvisibleButton(id, size);
  ImDrawList* dl = ImGui::GetWindowDrawList();
  dl->AddRectFilled(p0, ImVec2(p0.x + size.x, p0.y + size.y), IM_COL32(30, 30, 36, 255));
  if (h.empty()) return;
  int64_t mx = *std::max_element(h.begin(), h.end());
  if (mx <= 0) return;
  float bw = size.x / h.size();
  int hovered = -1;
  ImVec2 mp = ImGui::GetIO().MousePos;
  for (size_t i = 0; i < h.size(); ++i) {
    // sqrt height: a bucket with 1% of the elements is still visible beside one with 99%.
    float f = static_cast<float>(std::sqrt(static_cast<double>(h[i]) / mx));
    float x0 = p0.x + i * bw, x1 = x0 + bw - 1;
    dl->AddRectFilled(ImVec2(x0, p0.y + size.y * (1 - f)), ImVec2(x1, p0.y + size.y),
                      IM_COL32(110, 170, 240, 255));
    if (ImGui::IsItemHovered() && mp.x >= x0 && mp.x < x1 + 1) hovered = static_cast<int>(i);
  }
  if (hovered >= 0)
    ImGui::SetTooltip("%s: %lld", hovered < static_cast<int>(labels.size()) ? labels[hovered].c_str() : "",
                      static_cast<long long>(h[hovered]));
}

}  // namespace

void DivergenceView::draw(Model& m) {
  if (!m.doc.cap) {
    ImGui::TextWrapped("No capture open.");
    return;
  }
  const Capture& cap = *m.doc.cap;
  const bool grads = cap.has_backward();
  toolbar(m, cap, grads);
  if (!find_run(cap, m.sel.div_a) || !find_run(cap, m.sel.div_b)) {
    ImGui::TextDisabled("choose two runs");
    return;
  }
  if (grads) draw_gradient_table(m);
  refresh(m);
  if (auto r = job_.take()) res_ = r;
  if (!res_) {
    ImGui::TextColored(ImVec4(1, 0.8f, 0.3f, 1), "comparing %s with %s...", m.sel.div_a.c_str(), m.sel.div_b.c_str());
    return;
  }
  const Divergence& d = res_->d;
  if (!d.comparable) {
    ImGui::TextColored(ImVec4(1, 0.5f, 0.4f, 1), "not comparable: %s", d.why_not.c_str());
    return;
  }
  measures(m, cap, d);
  verdict_lines(m, d);
  ImGui::Separator();
  draw_heatmaps(m, cap);
  draw_tables(m);
}

// Runs A and B, the tensor (out or a gradient, when the capture has a backward), scale, head, batch.
void DivergenceView::toolbar(Model& m, const Capture& cap, bool grads) {
  std::vector<std::string> labels;
  for (const RunResult& r : cap.runs) labels.push_back(r.label);
  labels.push_back("reference");
  auto combo = [&](const char* name, std::string* v) {
    ImGui::SetNextItemWidth(200);
    if (ImGui::BeginCombo(name, v->c_str())) {
      for (const auto& l : labels)
        if (ImGui::Selectable(l.c_str(), l == *v)) *v = l;
      ImGui::EndCombo();
    }
  };
  combo("A", &m.sel.div_a);
  ImGui::SameLine();
  combo("B", &m.sel.div_b);
  ImGui::SameLine();
  if (!grads) m.sel.div_tensor = "out";
  if (grads) {
    ImGui::SetNextItemWidth(90);
    if (ImGui::BeginCombo("tensor", m.sel.div_tensor.c_str())) {
      if (ImGui::Selectable("out", m.sel.div_tensor == "out")) m.sel.div_tensor = "out";
      for (const auto& g : kGradientTensors)
        if (ImGui::Selectable(g.name, m.sel.div_tensor == g.name)) m.sel.div_tensor = g.name;
      ImGui::EndCombo();
    }
    if (ImGui::IsItemHovered())
      ImGui::SetTooltip("out: the forward's output; dq, dk, dv, dsinks: the backward's gradients");
    ImGui::SameLine();
  }
  ImGui::Checkbox("log scale##div", &m.settings.log_scale);
  ImGui::SameLine();
  ImGui::SetNextItemWidth(140);
  ImGui::SliderInt("head##div", &m.sel.head, 0, std::max(0, cap.spec.heads_q - 1));
  if (cap.spec.batch > 1) {
    ImGui::SameLine();
    ImGui::SetNextItemWidth(100);
    ImGui::SliderInt("batch##div", &m.sel.batch, 0, cap.spec.batch - 1);
  }
}

// A new capture, pair or tensor starts the comparison (and the acceptance verdicts) off the UI thread.
void DivergenceView::refresh(Model& m) {
  if (for_version_ == m.doc.cap_version && for_a_ == m.sel.div_a && for_b_ == m.sel.div_b &&
      for_tensor_ == m.sel.div_tensor)
    return;
  for_version_ = m.doc.cap_version;
  for_a_ = m.sel.div_a;
  for_b_ = m.sel.div_b;
  for_tensor_ = m.sel.div_tensor;
  res_.reset();
  heat_version_ = 0;
  job_.start([c = m.doc.cap, a = m.sel.div_a, b = m.sel.div_b, t = m.sel.div_tensor] {
    Result r;
    const RunResult* x = find_run(*c, a);
    const RunResult* y = find_run(*c, b);
    if (t != "out") {  // a gradient tensor, judged per tensor against the reference's
      r.d = compare_gradient(*c, *x, *y, t);
      for (auto [run, label, acc, has] : {std::tuple{x, a, &r.acc_a, &r.has_acc_a}, {y, b, &r.acc_b, &r.has_acc_b}}) {
        if (label == "reference") continue;
        const bool direct = (run == x && b == "reference");
        *acc = gradient_acceptance(*c, *run, t, direct ? r.d : compare_gradient(*c, *run, c->reference, t));
        *has = true;
      }
      return r;
    }
    r.d = (b == "reference") ? compare_to_reference(*c, *x)
          : (a == "reference") ? compare_to_reference(*c, *y)
                               : compare(*c, *x, *y);
    // Against the reference, the divergence just computed serves the acceptance rule too.
    if (a != "reference") {
      r.acc_a = b == "reference" ? acceptance(*c, *x, r.d) : acceptance(*c, *x);
      r.has_acc_a = true;
    }
    if (b != "reference") {
      r.acc_b = a == "reference" ? acceptance(*c, *y, r.d) : acceptance(*c, *y);
      r.has_acc_b = true;
    }
    return r;
  });
}

// The summary measures, ULPs, and (for the output) the LSE difference along the rows and P's agreement.
void DivergenceView::measures(Model& m, const Capture& cap, const Divergence& d) {
  ImGui::Text("max |A-B| %.3g   mean %.3g   rel. Frobenius %.3g   cosine %.8f", d.max_abs, d.mean_abs, d.rel_fro,
              d.cosine);
  if (d.worst.found) {
    ImGui::SameLine();
    ImGui::TextDisabled("(worst at b%d h%d row %lld col %lld)", d.worst.b, d.worst.h,
                        static_cast<long long>(d.worst.row), static_cast<long long>(d.worst.col));
  }
  ImGui::Text("rows compared %lld, unattended rows excluded %lld;  ULP<=1: %.2f%%  ULP<=2: %.2f%%",
              static_cast<long long>(d.rows_compared), static_cast<long long>(d.rows_unattended),
              100 * d.ulp_within_1, 100 * d.ulp_within_2);
  if (m.sel.div_tensor != "out") {
    // Gradients have no LSE or P rows; the tensor's own measures are above.
  } else if (d.lse_compared) {
    ImGui::Text("LSE: max |dLSE| %.3g  (max rel %.3g)", d.lse_max_abs, d.lse_max_rel);
    // LSE_A - LSE_B along the query rows of the selected head.
    const RunResult* xa = find_run(cap, m.sel.div_a);
    const RunResult* xb = find_run(cap, m.sel.div_b);
    const int64_t nq = cap.spec.seq_q;
    const int64_t off = (static_cast<int64_t>(m.sel.batch) * cap.spec.heads_q + m.sel.head) * nq;
    if (xa && xb && xa->lse.numel() >= off + nq && xb->lse.numel() >= off + nq) {
      lse_diff_.assign(static_cast<size_t>(nq), 0.0f);
      for (int64_t i = 0; i < nq; ++i) {
        float a = xa->lse.data[static_cast<size_t>(off + i)], b = xb->lse.data[static_cast<size_t>(off + i)];
        lse_diff_[static_cast<size_t>(i)] = std::isfinite(a) && std::isfinite(b) ? a - b : 0.0f;
      }
      ImGui::SameLine();
      std::string ov = "LSE A - B, head " + std::to_string(m.sel.head);
      ImGui::PlotLines("##lse", lse_diff_.data(), static_cast<int>(nq), 0, ov.c_str(), FLT_MAX, FLT_MAX,
                       ImVec2(std::max(120.0f, ImGui::GetContentRegionAvail().x), ImGui::GetTextLineHeight() * 2.2f));
    }
  } else
    ImGui::TextDisabled("LSE: not compared (a run has no LSE)");
  if (d.p_compared && m.sel.div_tensor == "out") {
    ImGui::SameLine();
    ImGui::Text("   P rows: argmax agree %.2f%%, top-5 agree %.2f%%", 100 * d.p_argmax_agree, 100 * d.p_top5_agree);
  }
}

// A's and B's acceptance verdicts (FA2's rule, the rule in the tooltip) and the first NaN/Inf of each.
void DivergenceView::verdict_lines(Model& m, const Divergence& d) {
  auto acc_line = [](const char* who, const std::string& label, const Acceptance& a) {
    if (!a.applicable) {
      ImGui::TextDisabled("%s %s: acceptance not applicable", who, label.c_str());
      return;
    }
    ImGui::TextColored(a.pass ? ImVec4(0.4f, 0.9f, 0.4f, 1) : ImVec4(1, 0.4f, 0.4f, 1), "%s %s: %s %s", who,
                       label.c_str(), a.pass ? "ACCEPTED" : "REJECTED", a.text.c_str());
    if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", a.rule.c_str());
  };
  if (res_->has_acc_a) acc_line("A", m.sel.div_a, res_->acc_a);
  if (res_->has_acc_b) acc_line("B", m.sel.div_b, res_->acc_b);
  location_line("first NaN/Inf in A", d.first_nan_a);
  ImGui::SameLine(0, 30);
  location_line("in B", d.first_nan_b);
}

// Every run's gradients against the reference, FA2's verdict per tensor: the backward at a glance.
// Cell colours: green accepted, red rejected, grey not applicable; a click opens that tensor.
void DivergenceView::draw_gradient_table(Model& m) {
  if (grads_version_ != m.doc.cap_version) {
    grads_version_ = m.doc.cap_version;
    grads_.reset();
    grads_job_.start([c = m.doc.cap] {
      GradTable t;
      for (const RunResult& r : c->runs) {
        if (!r.grad.ran && r.grad.error.empty()) continue;
        t.runs.push_back(r.label);
        t.errors.push_back(r.grad.ran ? "" : r.grad.error);
        for (const auto& g : kGradientTensors) {
          GradCell cell;
          cell.run = r.label;
          cell.tensor = g.name;
          cell.present = !(r.grad.*g.member).empty();
          if (cell.present) {
            Divergence d = compare_gradient(*c, r, c->reference, g.name);
            cell.max_abs = d.comparable ? d.max_abs : 0;
            cell.acc = gradient_acceptance(*c, r, g.name, d);
          }
          t.cells.push_back(std::move(cell));
        }
      }
      return t;
    });
  }
  if (auto t = grads_job_.take()) grads_ = t;
  if (!grads_) {
    ImGui::TextDisabled("judging the gradients...");
    return;
  }
  const GradTable& t = *grads_;
  if (t.runs.empty()) return;
  const int n_t = static_cast<int>(std::size(kGradientTensors));
  ImGui::TextUnformatted("backward: gradients vs fp64, FA2's rule per tensor (click a cell to compare it)");
  const float fs = ImGui::GetIO().DisplayFramebufferScale.x;
  if (ImGui::BeginTable("grad_verdicts", 1 + n_t, ImGuiTableFlags_BordersInner | ImGuiTableFlags_SizingFixedFit)) {
    ImGui::TableSetupColumn("run");
    for (const auto& g : kGradientTensors) ImGui::TableSetupColumn(g.name, ImGuiTableColumnFlags_WidthFixed, 150);
    ImGui::TableHeadersRow();
    for (size_t ri = 0; ri < t.runs.size(); ++ri) {
      ImGui::TableNextRow();
      ImGui::TableNextColumn();
      ImGui::TextUnformatted(t.runs[ri].c_str());
      if (!t.errors[ri].empty()) {
        ImGui::TableNextColumn();
        ImGui::TextColored(ImVec4(1, 0.6f, 0.3f, 1), "no gradients: %s", t.errors[ri].c_str());
        if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", t.errors[ri].c_str());
        continue;
      }
      for (int k = 0; k < n_t; ++k) {
        const GradCell& c = t.cells[ri * n_t + k];
        ImGui::TableNextColumn();
        if (!c.present) {
          ImGui::TextDisabled("-");
          continue;
        }
        const ImU32 bg = !c.acc.applicable ? IM_COL32(70, 70, 78, 255)
                         : c.acc.pass      ? IM_COL32(40, 120, 60, 255)
                                           : IM_COL32(150, 45, 45, 255);
        ImGui::TableSetBgColor(ImGuiTableBgTarget_CellBg, bg);
        char lbl[96];
        std::snprintf(lbl, sizeof lbl, "%.3g %s##g%zu_%d", c.max_abs,
                      !c.acc.applicable ? "" : c.acc.pass ? "pass" : "FAIL", ri, k);
        const bool selected = m.sel.div_a == c.run && m.sel.div_b == "reference" && m.sel.div_tensor == c.tensor;
        if (ImGui::Selectable(lbl, selected)) {
          m.sel.div_a = c.run;
          m.sel.div_b = "reference";
          m.sel.div_tensor = c.tensor;
        }
        if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s %s: %s\n%s", c.run.c_str(), c.tensor.c_str(), c.acc.text.c_str(),
                                                      c.acc.rule.c_str());
        ImVec2 a = ImGui::GetItemRectMin(), z = ImGui::GetItemRectMax();
        m.add_region({"div:grad:" + c.run + ":" + c.tensor, a.x * fs, a.y * fs, (z.x - a.x) * fs, (z.y - a.y) * fs,
                      std::string("\"applicable\":") + (c.acc.applicable ? "true" : "false") +
                          ",\"pass\":" + (c.acc.pass ? "true" : "false") + ",\"bg\":" + std::to_string(bg)});
      }
    }
    ImGui::EndTable();
  }
  ImGui::Separator();
}

void DivergenceView::draw_heatmaps(Model& m, const Capture& cap) {
  const RunResult* ra = find_run(cap, m.sel.div_a);
  const RunResult* rb = find_run(cap, m.sel.div_b);
  const LayerSpec& sp = cap.spec;
  const std::string& tn = m.sel.div_tensor;
  const Tensor* ta = tensor_of(*ra, tn);
  const Tensor* tb = tensor_of(*rb, tn);
  if (!ta || !tb || ta->empty() || ta->shape != tb->shape) return;
  const std::vector<int64_t> view = view_of(*ta);
  const int heads = static_cast<int>(view[1]);
  // dK/dV have a row per kv head: the selected query head's kv head (GQA).
  const int head = (tn == "dk" || tn == "dv") ? m.sel.head / std::max(1, sp.kv_group()) : std::min(m.sel.head, heads - 1);
  // dsinks: one value per head, drawn as one row of heads.
  const bool per_head = tn == "dsinks";
  const int nq = per_head ? 1 : static_cast<int>(view[2]), dv = per_head ? heads : static_cast<int>(view[3]);
  if (heat_version_ != m.doc.cap_version || heat_b_ != m.sel.batch || heat_h_ != head || heat_tensor_ != tn) {
    heat_version_ = m.doc.cap_version;
    heat_b_ = m.sel.batch;
    heat_h_ = head;
    heat_tensor_ = tn;
    heat_vp_ = MapViewport{};
    const int b = std::min<int>(m.sel.batch, static_cast<int>(view[0]) - 1);
    std::vector<float> diff(static_cast<size_t>(nq) * dv, 0.0f);
    const int64_t per = static_cast<int64_t>(nq) * dv;
    const int64_t off = per_head ? 0 : (static_cast<int64_t>(b) * heads + head) * per;
    if (ta->numel() >= off + per)
      for (int64_t i = 0; i < per; ++i)
        diff[static_cast<size_t>(i)] = std::fabs(ta->data[static_cast<size_t>(off + i)] - tb->data[static_cast<size_t>(off + i)]);
    heat_map_ = std::make_shared<MapPyramid>(std::move(diff), nq, dv, false);
    // Per-row max error of every head of this batch element: [H, N].
    const Divergence& d = res_->d;
    const int64_t rows_n = view[2];
    std::vector<float> rows(static_cast<size_t>(heads) * rows_n, 0.0f);
    const size_t base = static_cast<size_t>(b) * heads * rows_n;
    if (d.per_row_max.size() >= base + rows.size())
      std::copy_n(d.per_row_max.begin() + static_cast<ptrdiff_t>(base), rows.size(), rows.begin());
    rows_map_ = std::make_shared<MapPyramid>(std::move(rows), heads, static_cast<int>(rows_n), false);
  }
  // Linear or log (the maps' setting): log shows the small errors far from the worst rows.
  for (auto [tex, map] : {std::pair{&heat_tex_, &heat_map_}, std::pair{&rows_tex_, &rows_map_}}) {
    ColorScale s;
    s.vmin = 0;
    s.vmax = (*map)->max_value();
    s.log = m.settings.log_scale;
    s.decades = m.settings.log_decades;
    tex->set(*map, s);
  }
  ImGuiIO& io = ImGui::GetIO();
  float fs = io.DisplayFramebufferScale.x;
  ImVec2 avail = ImGui::GetContentRegionAvail();
  float hh = std::clamp(avail.y * 0.42f, 80.0f, 420.0f);
  float w1 = std::min(avail.x * 0.30f, 360.0f);
  ImGui::BeginGroup();
  if (per_head)
    ImGui::Text("|A-B| of dsinks  %s", axes_of(tn));
  else
    ImGui::Text("|A-B| of %s, %s %d  %s", tn.c_str(), (tn == "dk" || tn == "dv") ? "kv head" : "head", head,
                axes_of(tn));
  MapHit h1 = map_widget("heat", heat_tex_, ImVec2(w1, hh), heat_vp_, &heat_vp_);
  char js[200];
  std::snprintf(js, sizeof js, "\"rows\":%d,\"cols\":%d,\"vmax\":%.9g,\"tensor\":\"%s\",\"head\":%d", nq, dv,
                heat_tex_.scale().vmax, tn.c_str(), head);
  m.add_region({"div:heatmap", h1.p0.x * fs, h1.p0.y * fs, w1 * fs, hh * fs, js});
  if (h1.hovered) {
    ImGui::SetTooltip("row %d, dim %d: |A-B| = %.4g", h1.row, h1.col, heat_tex_.map()->at(h1.row, h1.col));
    if (h1.clicked && (tn == "out" || tn == "dq")) m.focus_row(m.sel.batch, m.sel.head, h1.row);
  }
  color_bar(heat_tex_.scale(), w1, "");
  ImGui::EndGroup();
  ImGui::SameLine(0, 16);
  ImGui::BeginGroup();
  ImGui::Text("max |A-B| per row, every head  [head x %s row]", (tn == "dk" || tn == "dv") ? "key" : "query");
  float w2 = avail.x - w1 - 24;
  MapHit h2 = map_widget("rows", rows_tex_, ImVec2(w2, hh), rows_vp_, &rows_vp_);
  std::snprintf(js, sizeof js, "\"rows\":%d,\"cols\":%d,\"vmax\":%.9g,\"tensor\":\"%s\"", rows_tex_.map()->rows(),
                rows_tex_.map()->cols(), rows_tex_.scale().vmax, tn.c_str());
  m.add_region({"div:rows", h2.p0.x * fs, h2.p0.y * fs, w2 * fs, hh * fs, js});
  if (h2.hovered) {
    ImGui::SetTooltip("head %d row %d: max |A-B| = %.4g%s", h2.row, h2.col, rows_tex_.map()->at(h2.row, h2.col),
                      (tn == "out" || tn == "dq") ? " (click: show in maps)" : "");
    if (h2.clicked && (tn == "out" || tn == "dq")) m.focus_row(m.sel.batch, h2.row, h2.col);
  }
  color_bar(rows_tex_.scale(), std::min(w2, 360.0f), "");
  ImGui::EndGroup();
}

// Three columns: the per-head table, the two error histograms, the worst rows.
void DivergenceView::draw_tables(Model& m) {
  const ImVec2 avail = ImGui::GetContentRegionAvail();
  const float col_w = (avail.x - 20) / 3, th = std::max(120.0f, avail.y - 8);
  ImGui::BeginChild("heads", ImVec2(col_w, th), true);
  draw_head_table(m);
  ImGui::EndChild();
  ImGui::SameLine();
  ImGui::BeginChild("hists", ImVec2(col_w, th), true);
  draw_histograms(col_w, th);
  ImGui::EndChild();
  ImGui::SameLine();
  ImGui::BeginChild("worst", ImVec2(0, th), true);
  draw_worst_rows(m);
  ImGui::EndChild();
}

// Per-head errors, sortable by any column; a click selects the head everywhere.
void DivergenceView::draw_head_table(Model& m) {
  const Divergence& d = res_->d;
  ImGui::TextUnformatted("per head");
  if (!ImGui::BeginTable("per_head", 5,
                         ImGuiTableFlags_Sortable | ImGuiTableFlags_RowBg | ImGuiTableFlags_ScrollY |
                             ImGuiTableFlags_BordersInnerV))
    return;
  ImGui::TableSetupScrollFreeze(0, 1);
  ImGui::TableSetupColumn("b", ImGuiTableColumnFlags_DefaultSort);
  ImGui::TableSetupColumn("h");
  ImGui::TableSetupColumn("max abs", ImGuiTableColumnFlags_PreferSortDescending);
  ImGui::TableSetupColumn("mean abs", ImGuiTableColumnFlags_PreferSortDescending);
  ImGui::TableSetupColumn("rel fro", ImGuiTableColumnFlags_PreferSortDescending);
  ImGui::TableHeadersRow();
  if (head_order_.size() != d.per_head.size()) {
    head_order_.resize(d.per_head.size());
    for (size_t i = 0; i < head_order_.size(); ++i) head_order_[i] = static_cast<int>(i);
  }
  if (ImGuiTableSortSpecs* ss = ImGui::TableGetSortSpecs(); ss && ss->SpecsCount > 0) {
    const ImGuiTableColumnSortSpecs& s = ss->Specs[0];
    auto keyf = [&](int i) -> double {
      const HeadError& e = d.per_head[static_cast<size_t>(i)];
      switch (s.ColumnIndex) {
        case 0: return e.b * 1e6 + e.h;
        case 1: return e.h * 1e6 + e.b;
        case 2: return e.max_abs;
        case 3: return e.mean_abs;
        default: return e.rel_fro;
      }
    };
    std::stable_sort(head_order_.begin(), head_order_.end(), [&](int x, int y) {
      return s.SortDirection == ImGuiSortDirection_Ascending ? keyf(x) < keyf(y) : keyf(x) > keyf(y);
    });
  }
  ImGuiListClipper clip;
  clip.Begin(static_cast<int>(head_order_.size()));
  while (clip.Step())
    for (int k = clip.DisplayStart; k < clip.DisplayEnd; ++k) {
      const HeadError& e = d.per_head[static_cast<size_t>(head_order_[static_cast<size_t>(k)])];
      ImGui::TableNextRow();
      ImGui::TableNextColumn();
      char lbl[32];
      std::snprintf(lbl, sizeof lbl, "%d##ph%d", e.b, k);
      if (ImGui::Selectable(lbl, e.b == m.sel.batch && e.h == m.sel.head, ImGuiSelectableFlags_SpanAllColumns)) {
        m.sel.batch = e.b;
        m.sel.head = e.h;
      }
      ImGui::TableNextColumn();
      ImGui::Text("%d", e.h);
      ImGui::TableNextColumn();
      ImGui::Text("%.3g", e.max_abs);
      ImGui::TableNextColumn();
      ImGui::Text("%.3g", e.mean_abs);
      ImGui::TableNextColumn();
      ImGui::Text("%.3g", e.rel_fro);
    }
  ImGui::EndTable();
}

// |A - B| in log10 bins and the ULP distance in power-of-two buckets.
void DivergenceView::draw_histograms(float col_w, float th) {
  const Divergence& d = res_->d;
  ImGui::TextUnformatted("|A-B| histogram (log10 bins, sqrt height)");
  std::vector<std::string> al;
  for (size_t i = 0; i < d.abs_hist.size(); ++i)
    al.push_back(i == 0 ? std::string("exactly 0")
                        : "1e" + fmt_g(-10 + 0.5 * (i - 1), 3) + " .. 1e" + fmt_g(-10 + 0.5 * i, 3));
  const float hh = std::max(40.0f, (th - 4 * ImGui::GetTextLineHeightWithSpacing()) / 2);
  histogram("abs_hist", d.abs_hist, al, ImVec2(col_w - 16, hh));
  ImGui::TextUnformatted("ULP distance histogram (bucket k: [2^(k-1), 2^k))");
  std::vector<std::string> ul;
  for (size_t i = 0; i < d.ulp_hist.size(); ++i)
    ul.push_back(i == 0 ? std::string("0 ulp")
                        : std::to_string(1ll << (i - 1)) + " .. " + std::to_string((1ll << i) - 1) + " ulp");
  histogram("ulp_hist", d.ulp_hist, ul, ImVec2(col_w - 16, hh));
}

// The worst rows (worst key rows for dK/dV, heads for dSinks); a click on an output or dQ row shows
// it in the maps. The first eight are regions the GUI tests click.
void DivergenceView::draw_worst_rows(Model& m) {
  const Divergence& d = res_->d;
  ImGui::TextUnformatted(m.sel.div_tensor == "dk" || m.sel.div_tensor == "dv" ? "worst key rows (h: kv head)"
                         : m.sel.div_tensor == "dsinks"                 ? "worst heads"
                                                                    : "worst rows (click: show in maps)");
  const float fs = ImGui::GetIO().DisplayFramebufferScale.x;
  for (size_t i = 0; i < d.worst_rows.size(); ++i) {
    const RowError& r = d.worst_rows[i];
    char lbl[96];
    std::snprintf(lbl, sizeof lbl, "b%d h%-3d row %-6lld  %.3g##wr%zu", r.b, r.h, static_cast<long long>(r.row),
                  r.max_abs, i);
    if (ImGui::Selectable(lbl) && (m.sel.div_tensor == "out" || m.sel.div_tensor == "dq")) m.focus_row(r.b, r.h, r.row);
    if (i >= 8) continue;
    const ImVec2 a = ImGui::GetItemRectMin(), z = ImGui::GetItemRectMax();
    m.add_region({"div:worst:" + std::to_string(i), a.x * fs, a.y * fs, (z.x - a.x) * fs, (z.y - a.y) * fs,
                  "\"batch\":" + std::to_string(r.b) + ",\"head\":" + std::to_string(r.h) +
                      ",\"row\":" + std::to_string(r.row)});
  }
}

}  // namespace attnscope
