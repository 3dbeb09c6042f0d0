#include "viewers/timeline_view.h"

#include "viewers/environment_header.h"
#include "viewers/timeline_ranges.h"

#include <algorithm>
#include <cmath>
#include <map>

namespace attnscope {
namespace {

struct Bar {
  std::string name;
  double start = 0, dur = 0;
  int lane = 0;
  const KernelRecord* k = nullptr;
  const HostSpan* s = nullptr;
  bool backward = false;  // the backward pass's (RunResult::grad), on lanes below the forward's
};

// A run's bars: GPU kernels when it has any, else its host spans, lanes by stream / thread; then
// the same for its backward pass, on lanes of its own under the forward's.
std::vector<Bar> bars_of(const RunResult& r, int* lanes) {
  std::vector<Bar> v;
  int used = 0;
  auto add = [&](const std::vector<KernelRecord>& ks, const std::vector<HostSpan>& ss, bool backward) {
    std::map<int, int> lane_of;
    auto lane = [&](int key) {
      auto it = lane_of.find(key);
      if (it != lane_of.end()) return it->second;
      int n = static_cast<int>(lane_of.size());
      lane_of[key] = n;
      return n;
    };
    if (!ks.empty()) {
      for (const KernelRecord& k : ks) v.push_back({k.name, k.start_us, k.dur_us, used + lane(k.stream), &k, nullptr, backward});
    } else {
      for (const HostSpan& s : ss) v.push_back({s.name, s.start_us, s.dur_us, used + lane(s.thread), nullptr, &s, backward});
    }
    used += static_cast<int>(lane_of.size());
  };
  add(r.kernels, r.spans, false);
  add(r.grad.kernels, r.grad.spans, true);
  *lanes = std::max(1, used);
  return v;
}

// Time extent of what a panel draws, padded by 1% on each side.
struct Extent {
  bool any = false;
  double lo = 0, hi = 1;
  void add(double a, double b) {
    lo = any ? std::min(lo, a) : a;
    hi = any ? std::max(hi, b) : b;
    any = true;
  }
  void pad() {
    if (hi <= lo) hi = lo + 1;
    const double p = (hi - lo) * 0.01;
    lo -= p;
    hi += p;
  }
};

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace

void TimelineView::draw(Model& m) {
  if (!m.doc.cap) {
    ImGui::TextWrapped("No capture open.");
    return;
  }
  const Capture& cap = *m.doc.cap;
  if (for_version_ != m.doc.cap_version) {
    for_version_ = m.doc.cap_version;
    // The view opens on the GPU kernels where any run has them (CPU spans sit on the session's
    // clock, kernels on their run's: a capture mixing them opens on the kernels), else on the
    // spans; the NVTX phases around them (upload, download, probe) and the rest widen only the
    // zoom-out limit ("fit all").
    Extent kernels, spans, all;
    for (const RunResult& r : cap.runs) {
      int lanes;
      for (const Bar& b : bars_of(r, &lanes)) {
        (b.k ? kernels : spans).add(b.start, b.start + b.dur);
        all.add(b.start, b.start + b.dur);
      }
      for (const RangeRecord& g : r.ranges) all.add(g.start_us, g.start_us + g.dur_us);
    }
    Extent bars = kernels.any ? kernels : spans.any ? spans : all;
    // The axis' zero: the runs' own (their first warm-up launch) for kernels, the first span's start.
    origin_ = kernels.any ? 0.0 : bars.lo;
    bars.pad();
    all.pad();
    fit0_ = bars.lo, fit1_ = bars.hi;
    t_min_ = std::min(all.lo, fit0_), t_max_ = std::max(all.hi, fit1_);
    v0_ = fit0_;
    v1_ = fit1_;
  }
  environment_header(m);
  if (ImGui::Button("fit")) v0_ = fit0_, v1_ = fit1_;
  ImGui::SameLine();
  if (ImGui::Button("fit all")) v0_ = t_min_, v1_ = t_max_;
  ImGui::SameLine();
  ImGui::TextDisabled("visible %s of %s  |  wheel: zoom, drag: pan", fmt_us(v1_ - v0_).c_str(),
                      fmt_us(t_max_ - t_min_).c_str());

  ImGuiIO& io = ImGui::GetIO();
  const float fs = io.DisplayFramebufferScale.x;
  const float label_w = 170, lane_h = 22, track_gap = 8;
  ImVec2 avail = ImGui::GetContentRegionAvail();
  std::vector<std::vector<Bar>> all;
  std::vector<int> lanes_of;
  for (const RunResult& r : cap.runs) {
    int lanes;
    all.push_back(bars_of(r, &lanes));
    lanes_of.push_back(lanes);
  }
  const float axis_h = 22;
  float plot_h = axis_h + 4;
  std::vector<RangeRows> rows_of;
  for (const RunResult& r : cap.runs) rows_of.push_back(range_rows(r));
  auto track_height = [&](size_t ri) {
    return std::max(lanes_of[ri] * lane_h + rows_of[ri].height(), 2 * ImGui::GetTextLineHeight() + 8);
  };
  for (size_t ri = 0; ri < cap.runs.size(); ++ri) plot_h += track_height(ri) + track_gap;
  plot_h = std::min(plot_h, std::max(120.0f, avail.y * 0.55f));
  ImVec2 p0 = ImGui::GetCursorScreenPos();
  ImVec2 size(avail.x, plot_h);
  ImGui::InvisibleButton("timeline", size);
  const bool hovered = ImGui::IsItemHovered();
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const float x0 = p0.x + label_w, x1 = p0.x + size.x - 4;
  const float pw = std::max(1.0f, x1 - x0);
  auto tx = [&](double t) { return static_cast<float>(x0 + (t - v0_) / (v1_ - v0_) * pw); };
  // Zoom around the mouse, drag to pan.
  if (hovered && io.MouseWheel != 0 && io.MousePos.x >= x0) {
    double tm = v0_ + (io.MousePos.x - x0) / pw * (v1_ - v0_);
    double f = std::pow(0.8, io.MouseWheel);
    double w = std::clamp((v1_ - v0_) * f, 1e-3, (t_max_ - t_min_) * 1.0);
    v0_ = tm - (tm - v0_) / (v1_ - v0_) * w;
    v1_ = v0_ + w;
  }
  if (ImGui::IsItemActive() && ImGui::IsMouseDragging(ImGuiMouseButton_Left, 1.0f)) {
    double dt = -io.MouseDelta.x / pw * (v1_ - v0_);
    v0_ += dt;
    v1_ += dt;
  }
  dl->AddRectFilled(p0, ImVec2(p0.x + size.x, p0.y + size.y), IM_COL32(22, 22, 26, 255));
  // Axis with ticks at 1/2/5 x 10^k.
  {
    double span = v1_ - v0_;
    // At most ~8 labelled ticks, and none closer than 90 px.
    double target = std::max(span / 8, span * 90.0 / pw);
    double base = std::pow(10.0, std::floor(std::log10(target)));
    double step = base * 10;
    for (double mlt : {1.0, 2.0, 5.0})
      if (base * mlt >= target) {
        step = base * mlt;
        break;
      }
    for (double t = origin_ + std::ceil((v0_ - origin_) / step) * step; t <= v1_; t += step) {
      float x = tx(t);
      dl->AddLine(ImVec2(x, p0.y + axis_h - 5), ImVec2(x, p0.y + size.y), IM_COL32(60, 60, 70, 255));
      dl->AddText(ImVec2(x + 2, p0.y + 2), IM_COL32(170, 170, 180, 255), fmt_us(t - origin_).c_str());
    }
  }
  dl->PushClipRect(p0, ImVec2(p0.x + size.x, p0.y + size.y), true);
  float y = p0.y + axis_h;
  const Bar* hover_bar = nullptr;
  const RangeRecord* hover_range = nullptr;
  std::string hover_run;
  for (size_t ri = 0; ri < cap.runs.size(); ++ri) {
    const RunResult& r = cap.runs[ri];
    const float track_h = track_height(ri);
    dl->AddText(ImVec2(p0.x + 4, y + 3), IM_COL32(230, 230, 230, 255), r.label.c_str());
    const char* kind = !r.ran                ? "(did not run)"
                       : !is_timed(r)        ? "not timed"
                       : !r.kernels.empty()  ? (r.backend == "outside" ? "outside kernels" : "gpu kernels")
                       : r.spans.empty()     ? "(no timing)"
                                             : "cpu spans";
    const bool has_bwd = !r.grad.kernels.empty() || !r.grad.spans.empty();
    dl->AddText(ImVec2(p0.x + 4, y + 3 + ImGui::GetTextLineHeight()), IM_COL32(140, 140, 150, 255),
                has_bwd ? (std::string(kind) + " + backward").c_str() : kind);
    if (rows_of[ri].rows > 0) {
      std::string rj = draw_range_rows(dl, r, rows_of[ri], y, x0, x1, tx, fs, hovered ? &hover_range : nullptr);
      if (hover_range && hover_run.empty()) hover_run = r.label;
      m.add_region({"timeline:ranges:" + r.label, x0 * fs, y * fs, pw * fs, rows_of[ri].height() * fs, rj});
    }
    const float ky = y + rows_of[ri].height();  // the kernel lanes start below the phase rows
    std::string js = "\"lanes\":" + std::to_string(lanes_of[ri]) + ",\"lane_h\":" + fmt_g(lane_h * fs, 6) +
                     ",\"bars\":[";
    bool first = true;
    dl->PushClipRect(ImVec2(x0, ky), ImVec2(x1, y + track_h), true);
    for (const Bar& b : all[ri]) {
      float bx0 = tx(b.start), bx1 = std::max(tx(b.start + b.dur), bx0 + 1.0f);
      float by0 = ky + b.lane * lane_h + 2, by1 = by0 + lane_h - 4;
      ImU32 c = name_color(b.name);
      dl->AddRectFilled(ImVec2(bx0, by0), ImVec2(bx1, by1), c);
      // The backward's bars: outlined, so the two passes read apart at a glance.
      if (b.backward && bx1 - bx0 > 4) dl->AddRect(ImVec2(bx0, by0), ImVec2(bx1, by1), IM_COL32(240, 240, 240, 255));
      if (bx1 - bx0 > 40) {
        dl->PushClipRect(ImVec2(bx0, by0), ImVec2(bx1, by1), true);
        dl->AddText(ImVec2(bx0 + 3, by0 + 2), IM_COL32(15, 15, 15, 255), b.name.c_str());
        dl->PopClipRect();
      }
      if (hovered && io.MousePos.x >= bx0 && io.MousePos.x < bx1 && io.MousePos.y >= by0 && io.MousePos.y < by1) {
        hover_bar = &b;
        hover_run = r.label;
      }
      js += bar_json(first, bx0, bx1, (by0 + by1) * 0.5f, b.dur, c, b.lane, fs, b.backward ? 1 : 0);
      first = false;
    }
    dl->PopClipRect();
    js += "]";
    const double pct = cupti_overhead_pct(r);
    js += ",\"timed\":" + std::string(is_timed(r) ? "true" : "false") +
          ",\"cupti_overhead_pct\":" + (std::isfinite(pct) ? fmt_g(pct, 9) : std::string("null"));
    m.add_region({"timeline:track:" + r.label, x0 * fs, ky * fs, pw * fs, (y + track_h - ky) * fs, js});
    y += track_h + track_gap;
    dl->AddLine(ImVec2(p0.x, y - track_gap / 2), ImVec2(p0.x + size.x, y - track_gap / 2), IM_COL32(50, 50, 58, 255));
  }
  dl->PopClipRect();
  char js[96];
  std::snprintf(js, sizeof js, "\"t0_us\":%.9g,\"t1_us\":%.9g", v0_, v1_);
  m.add_region({"timeline:plot", x0 * fs, p0.y * fs, pw * fs, size.y * fs, js});
  if (hover_bar) {
    ImGui::BeginTooltip();
    ImGui::Text("%s  (%s)", hover_bar->name.c_str(), hover_run.c_str());
    ImGui::Text("start %s   duration %s", fmt_us(hover_bar->start - origin_).c_str(), fmt_us(hover_bar->dur).c_str());
    if (hover_bar->backward) ImGui::TextColored(ImVec4(0.9f, 0.9f, 0.5f, 1), "backward pass");
    if (const KernelRecord* k = hover_bar->k) {
      ImGui::Text("grid (%d, %d, %d)  block (%d, %d, %d)", k->grid[0], k->grid[1], k->grid[2], k->block[0],
                  k->block[1], k->block[2]);
      ImGui::Text("registers %d  shared %d static + %d dynamic B  stream %d  repeat %d", k->registers,
                  k->shared_static, k->shared_dynamic, k->stream, k->repeat);
    } else if (const HostSpan* s = hover_bar->s) {
      ImGui::Text("host thread %d", s->thread);
    }
    ImGui::EndTooltip();
  } else if (hover_range) {
    ImGui::BeginTooltip();
    ImGui::Text("%s  (%s, NVTX domain attnscope)", hover_range->name.c_str(), hover_run.c_str());
    ImGui::Text("start %s   duration %s", fmt_us(hover_range->start_us - origin_).c_str(),
                fmt_us(hover_range->dur_us).c_str());
    ImGui::EndTooltip();
  }

  // Per-kernel medians and totals.
  ImGui::Spacing();
  double best_total = 0;
  std::vector<double> totals;
  for (const RunResult& r : cap.runs) {
    double t = r.median_ms > 0 ? r.median_ms * 1e3 : 0;
    if (t == 0) {
      int lanes;
      for (const Bar& b : bars_of(r, &lanes)) t += b.dur;
    }
    totals.push_back(t);
    if (t > 0 && (best_total == 0 || t < best_total)) best_total = t;
  }
  if (ImGui::BeginTable("kernels", 7,
                        ImGuiTableFlags_RowBg | ImGuiTableFlags_ScrollY | ImGuiTableFlags_BordersInnerV |
                            ImGuiTableFlags_Resizable,
                        ImVec2(0, std::max(80.0f, ImGui::GetContentRegionAvail().y)))) {
    ImGui::TableSetupScrollFreeze(0, 1);
    ImGui::TableSetupColumn("run");
    ImGui::TableSetupColumn("kernel / span", ImGuiTableColumnFlags_WidthStretch);
    ImGui::TableSetupColumn("count");
    ImGui::TableSetupColumn("median");
    ImGui::TableSetupColumn("sum");
    ImGui::TableSetupColumn("run total / fastest");
    ImGui::TableSetupColumn("CUPTI overhead");
    ImGui::TableHeadersRow();
    for (size_t ri = 0; ri < cap.runs.size(); ++ri) {
      const RunResult& r = cap.runs[ri];
      int lanes;
      std::map<std::string, std::vector<double>> by_name;
      for (const Bar& b : bars_of(r, &lanes)) by_name[b.name].push_back(b.dur);
      ImGui::TableNextRow();
      ImGui::TableNextColumn();
      ImGui::TextUnformatted(r.label.c_str());
      ImGui::TableNextColumn();
      ImGui::TextDisabled(r.ran && !is_timed(r) ? "total"
                          : r.median_ms > 0     ? "total (median of repeats)"
                                                : "total (sum of spans)");
      ImGui::TableNextColumn();
      ImGui::TableNextColumn();
      ImGui::TableNextColumn();
      ImGui::TableNextColumn();
      if (r.ran && !is_timed(r))
        ImGui::TextDisabled("not timed");
      else if (totals[ri] > 0 && best_total > 0)
        ImGui::Text("%s  %.2fx", fmt_us(totals[ri]).c_str(), totals[ri] / best_total);
      else
        ImGui::TextDisabled("-");
      ImGui::TableNextColumn();
      // The same repeats timed with tracing off (GPU: CUPTI; outside: torch.profiler).
      if (const double pct = cupti_overhead_pct(r); std::isfinite(pct)) {
        ImGui::Text("%+.1f%%", pct);
        if (ImGui::IsItemHovered())
          ImGui::SetTooltip("median %s traced, %s with tracing off", fmt_us(r.median_ms * 1e3).c_str(),
                            fmt_us(r.median_untraced_ms * 1e3).c_str());
      } else {
        ImGui::TextDisabled("-");
      }
      if (r.grad.median_ms > 0) {
        ImGui::TableNextRow();
        ImGui::TableNextColumn();
        ImGui::TableNextColumn();
        ImGui::TextDisabled("backward total (median of repeats)");
        ImGui::TableNextColumn();
        ImGui::TableNextColumn();
        ImGui::TableNextColumn();
        ImGui::TableNextColumn();
        ImGui::TextUnformatted(fmt_us(r.grad.median_ms * 1e3).c_str());
        ImGui::TableNextColumn();
      }
      for (auto& [name, durs] : by_name) {
        double sum = 0;
        for (double d : durs) sum += d;
        ImGui::TableNextRow();
        ImGui::TableNextColumn();
        ImGui::TableNextColumn();
        ImGui::ColorButton(("##c" + name).c_str(), ImGui::ColorConvertU32ToFloat4(name_color(name)),
                           ImGuiColorEditFlags_NoTooltip, ImVec2(10, 10));
        ImGui::SameLine();
        ImGui::TextUnformatted(name.c_str());
        ImGui::TableNextColumn();
        ImGui::Text("%zu", durs.size());
        ImGui::TableNextColumn();
        ImGui::TextUnformatted(fmt_us(median(durs)).c_str());
        ImGui::TableNextColumn();
        ImGui::TextUnformatted(fmt_us(sum).c_str());
        ImGui::TableNextColumn();
        ImGui::TableNextColumn();
      }
    }
    ImGui::EndTable();
  }
}

}  // namespace attnscope
