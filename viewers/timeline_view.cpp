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


constexpr float kLabelW = 170, kLaneH = 22, kTrackGap = 8, kAxisH = 22;

// What the plot draws per run: its bars, its lanes and its phase rows.
struct Tracks {
  std::vector<std::vector<Bar>> bars;
  std::vector<int> lanes;
  std::vector<RangeRows> rows;
  float height(size_t ri) const {
    return std::max(lanes[ri] * kLaneH + rows[ri].height(), 2 * ImGui::GetTextLineHeight() + 8);
  }
};

Tracks tracks_of(const Capture& cap) {
  Tracks t;
  for (const RunResult& r : cap.runs) {
    int lanes;
    t.bars.push_back(bars_of(r, &lanes));
    t.lanes.push_back(lanes);
  }
  for (const RunResult& r : cap.runs) t.rows.push_back(range_rows(r));
  return t;
}

// What the mouse is over: a kernel (or span) bar, else a phase, and the run it belongs to.
struct Hover {
  const Bar* bar = nullptr;
  const RangeRecord* range = nullptr;
  std::string run;
};

// A track's label column: the run's name and what its bars are.
void draw_track_label(ImDrawList* dl, const RunResult& r, ImVec2 at) {
  dl->AddText(at, IM_COL32(230, 230, 230, 255), r.label.c_str());
  const char* kind = !r.ran                ? "(did not run)"
                     : !is_timed(r)        ? "not timed"
                     : !r.kernels.empty()  ? (r.backend == "outside" ? "outside kernels" : "gpu kernels")
                     : r.spans.empty()     ? "(no timing)"
                                           : "cpu spans";
  const bool has_bwd = !r.grad.kernels.empty() || !r.grad.spans.empty();
  dl->AddText(ImVec2(at.x, at.y + ImGui::GetTextLineHeight()), IM_COL32(140, 140, 150, 255),
              has_bwd ? (std::string(kind) + " + backward").c_str() : kind);
}

void hover_tooltip(const Hover& h, double origin) {
  if (const Bar* b = h.bar) {
    ImGui::BeginTooltip();
    ImGui::Text("%s  (%s)", b->name.c_str(), h.run.c_str());
    ImGui::Text("start %s   duration %s", fmt_us(b->start - origin).c_str(), fmt_us(b->dur).c_str());
    if (b->backward) ImGui::TextColored(ImVec4(0.9f, 0.9f, 0.5f, 1), "backward pass");
    if (const KernelRecord* k = b->k) {
      ImGui::Text("grid (%d, %d, %d)  block (%d, %d, %d)", k->grid[0], k->grid[1], k->grid[2], k->block[0],
                  k->block[1], k->block[2]);
      ImGui::Text("registers %d  shared %d static + %d dynamic B  stream %d  repeat %d", k->registers,
                  k->shared_static, k->shared_dynamic, k->stream, k->repeat);
    } else if (const HostSpan* s = b->s) {
      ImGui::Text("host thread %d", s->thread);
    }
    ImGui::EndTooltip();
  } else if (const RangeRecord* g = h.range) {
    ImGui::BeginTooltip();
    ImGui::Text("%s  (%s, NVTX domain attnscope)", g->name.c_str(), h.run.c_str());
    ImGui::Text("start %s   duration %s", fmt_us(g->start_us - origin).c_str(), fmt_us(g->dur_us).c_str());
    ImGui::EndTooltip();
  }
}

// The plot's place on screen this frame and its time window (v0, v1: microseconds).
struct Plot {
  ImDrawList* dl = nullptr;
  ImVec2 p0, size;
  float x0 = 0, x1 = 0, pw = 1;  // the time axis' pixels (right of the label column)
  float fs = 1;                  // framebuffer scale
  bool hovered = false;
  double v0 = 0, v1 = 1;
  float tx(double t) const { return static_cast<float>(x0 + (t - v0) / (v1 - v0) * pw); }
};

// Zoom around the mouse, drag to pan.
// `v0`, `v1`: the visible window, at most t_max - t_min wide.
void pan_and_zoom(const Plot& p, double t_min, double t_max, double* v0, double* v1) {
  const ImGuiIO& io = ImGui::GetIO();
  if (p.hovered && io.MouseWheel != 0 && io.MousePos.x >= p.x0) {
    double tm = *v0 + (io.MousePos.x - p.x0) / p.pw * (*v1 - *v0);
    double f = std::pow(0.8, io.MouseWheel);
    double w = std::clamp((*v1 - *v0) * f, 1e-3, (t_max - t_min) * 1.0);
    *v0 = tm - (tm - *v0) / (*v1 - *v0) * w;
    *v1 = *v0 + w;
  }
  if (ImGui::IsItemActive() && ImGui::IsMouseDragging(ImGuiMouseButton_Left, 1.0f)) {
    double dt = -io.MouseDelta.x / p.pw * (*v1 - *v0);
    *v0 += dt;
    *v1 += dt;
  }
}

// The time axis with ticks at 1/2/5 x 10^k from the axis' zero.
void draw_axis(const Plot& p, double origin) {
  double span = p.v1 - p.v0;
  // At most ~8 labelled ticks, and none closer than 90 px.
  double target = std::max(span / 8, span * 90.0 / p.pw);
  double base = std::pow(10.0, std::floor(std::log10(target)));
  double step = base * 10;
  for (double mlt : {1.0, 2.0, 5.0})
    if (base * mlt >= target) {
      step = base * mlt;
      break;
    }
  for (double t = origin + std::ceil((p.v0 - origin) / step) * step; t <= p.v1; t += step) {
    float x = p.tx(t);
    p.dl->AddLine(ImVec2(x, p.p0.y + kAxisH - 5), ImVec2(x, p.p0.y + p.size.y), IM_COL32(60, 60, 70, 255));
    p.dl->AddText(ImVec2(x + 2, p.p0.y + 2), IM_COL32(170, 170, 180, 255), fmt_us(t - origin).c_str());
  }
}

// Run ri's track at `y`: its label, its phase rows, then its kernel (or span) lanes; returns the
// next track's y.
float draw_track(Model& m, const RunResult& r, const Tracks& tracks, size_t ri, const Plot& p, float y, Hover* hover) {
  ImDrawList* dl = p.dl;
  const float fs = p.fs;
  const float track_h = tracks.height(ri);
  draw_track_label(dl, r, ImVec2(p.p0.x + 4, y + 3));
  const RangeRows& rows = tracks.rows[ri];
  if (rows.rows > 0) {
    auto tx = [&p](double t) { return p.tx(t); };
    std::string rj = draw_range_rows(dl, r, rows, y, p.x0, p.x1, tx, fs, p.hovered ? &hover->range : nullptr);
    if (hover->range && hover->run.empty()) hover->run = r.label;
    m.add_region({"timeline:ranges:" + r.label, p.x0 * fs, y * fs, p.pw * fs, rows.height() * fs, rj});
  }
  const float ky = y + rows.height();  // the kernel lanes start below the phase rows
  std::string js = "\"lanes\":" + std::to_string(tracks.lanes[ri]) + ",\"lane_h\":" + fmt_g(kLaneH * fs, 6) +
                   ",\"bars\":[";
  bool first = true;
  const ImVec2 mouse = ImGui::GetIO().MousePos;
  dl->PushClipRect(ImVec2(p.x0, ky), ImVec2(p.x1, y + track_h), true);
  for (const Bar& b : tracks.bars[ri]) {
    float bx0 = p.tx(b.start), bx1 = std::max(p.tx(b.start + b.dur), bx0 + 1.0f);
    float by0 = ky + b.lane * kLaneH + 2, by1 = by0 + kLaneH - 4;
    ImU32 c = name_color(b.name);
    dl->AddRectFilled(ImVec2(bx0, by0), ImVec2(bx1, by1), c);
    // The backward's bars: outlined, so the two passes read apart at a glance.
    if (b.backward && bx1 - bx0 > 4) dl->AddRect(ImVec2(bx0, by0), ImVec2(bx1, by1), IM_COL32(240, 240, 240, 255));
    if (bx1 - bx0 > 40) {
      dl->PushClipRect(ImVec2(bx0, by0), ImVec2(bx1, by1), true);
      dl->AddText(ImVec2(bx0 + 3, by0 + 2), IM_COL32(15, 15, 15, 255), b.name.c_str());
      dl->PopClipRect();
    }
    if (p.hovered && mouse.x >= bx0 && mouse.x < bx1 && mouse.y >= by0 && mouse.y < by1) {
      hover->bar = &b;
      hover->run = r.label;
    }
    js += bar_json(first, bx0, bx1, (by0 + by1) * 0.5f, b.dur, c, b.lane, fs, b.backward ? 1 : 0);
    first = false;
  }
  dl->PopClipRect();
  js += "]";
  const double pct = cupti_overhead_pct(r);
  js += ",\"timed\":" + std::string(is_timed(r) ? "true" : "false") +
        ",\"cupti_overhead_pct\":" + (std::isfinite(pct) ? fmt_g(pct, 9) : std::string("null"));
  m.add_region({"timeline:track:" + r.label, p.x0 * fs, ky * fs, p.pw * fs, (y + track_h - ky) * fs, js});
  y += track_h + kTrackGap;
  dl->AddLine(ImVec2(p.p0.x, y - kTrackGap / 2), ImVec2(p.p0.x + p.size.x, y - kTrackGap / 2),
              IM_COL32(50, 50, 58, 255));
  return y;
}

// A run's time for the table's "run total / fastest": its median, else the sum of its bars.
std::vector<double> run_totals(const Capture& cap, double* best) {
  *best = 0;
  std::vector<double> totals;
  for (const RunResult& r : cap.runs) {
    double t = r.median_ms > 0 ? r.median_ms * 1e3 : 0;
    if (t == 0) {
      int lanes;
      for (const Bar& b : bars_of(r, &lanes)) t += b.dur;
    }
    totals.push_back(t);
    if (t > 0 && (*best == 0 || t < *best)) *best = t;
  }
  return totals;
}

// The table's row for a run: its total against the fastest and CUPTI's overhead; then its
// backward's total when it has one.
void run_rows(const RunResult& r, double total, double best) {
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
  else if (total > 0 && best > 0)
    ImGui::Text("%s  %.2fx", fmt_us(total).c_str(), total / best);
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
}

// The table's rows under a run: one per kernel (or span) name, with its count, median and sum.
void kernel_rows(const RunResult& r) {
  int lanes;
  std::map<std::string, std::vector<double>> by_name;
  for (const Bar& b : bars_of(r, &lanes)) by_name[b.name].push_back(b.dur);
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

}  // namespace

void TimelineView::draw(Model& m) {
  if (!m.doc.cap) {
    ImGui::TextWrapped("No capture open.");
    return;
  }
  const Capture& cap = *m.doc.cap;
  if (for_version_ != m.doc.cap_version) {
    for_version_ = m.doc.cap_version;
    fit(cap);
  }
  environment_header(m);
  toolbar();
  draw_plot(m, cap);
  ImGui::Spacing();
  kernel_table(cap);
}

void TimelineView::fit(const Capture& cap) {
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

void TimelineView::toolbar() {
  if (ImGui::Button("fit")) v0_ = fit0_, v1_ = fit1_;
  ImGui::SameLine();
  if (ImGui::Button("fit all")) v0_ = t_min_, v1_ = t_max_;
  ImGui::SameLine();
  ImGui::TextDisabled("visible %s of %s  |  wheel: zoom, drag: pan", fmt_us(v1_ - v0_).c_str(),
                      fmt_us(t_max_ - t_min_).c_str());
}

void TimelineView::draw_plot(Model& m, const Capture& cap) {
  ImVec2 avail = ImGui::GetContentRegionAvail();
  const Tracks tracks = tracks_of(cap);
  float plot_h = kAxisH + 4;
  for (size_t ri = 0; ri < cap.runs.size(); ++ri) plot_h += tracks.height(ri) + kTrackGap;
  plot_h = std::min(plot_h, std::max(120.0f, avail.y * 0.55f));
  Plot p;
  p.fs = ImGui::GetIO().DisplayFramebufferScale.x;
  p.p0 = ImGui::GetCursorScreenPos();
  p.size = ImVec2(avail.x, plot_h);
  ImGui::InvisibleButton("timeline", p.size);
  p.hovered = ImGui::IsItemHovered();
  p.dl = ImGui::GetWindowDrawList();
  p.x0 = p.p0.x + kLabelW, p.x1 = p.p0.x + p.size.x - 4;
  p.pw = std::max(1.0f, p.x1 - p.x0);
  pan_and_zoom(p, t_min_, t_max_, &v0_, &v1_);
  p.v0 = v0_, p.v1 = v1_;
  const ImVec2 p1(p.p0.x + p.size.x, p.p0.y + p.size.y);
  p.dl->AddRectFilled(p.p0, p1, IM_COL32(22, 22, 26, 255));
  draw_axis(p, origin_);
  p.dl->PushClipRect(p.p0, p1, true);
  float y = p.p0.y + kAxisH;
  Hover hover;
  for (size_t ri = 0; ri < cap.runs.size(); ++ri) y = draw_track(m, cap.runs[ri], tracks, ri, p, y, &hover);
  p.dl->PopClipRect();
  char js[96];
  std::snprintf(js, sizeof js, "\"t0_us\":%.9g,\"t1_us\":%.9g", v0_, v1_);
  m.add_region({"timeline:plot", p.x0 * p.fs, p.p0.y * p.fs, p.pw * p.fs, p.size.y * p.fs, js});
  hover_tooltip(hover, origin_);
}

// Per-kernel medians and totals, a run's total against the fastest run's.
void TimelineView::kernel_table(const Capture& cap) {
  double best_total = 0;
  const std::vector<double> totals = run_totals(cap, &best_total);
  if (!ImGui::BeginTable("kernels", 7,
                         ImGuiTableFlags_RowBg | ImGuiTableFlags_ScrollY | ImGuiTableFlags_BordersInnerV |
                             ImGuiTableFlags_Resizable,
                         ImVec2(0, std::max(80.0f, ImGui::GetContentRegionAvail().y))))
    return;
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
    run_rows(cap.runs[ri], totals[ri], best_total);
    kernel_rows(cap.runs[ri]);
  }
  ImGui::EndTable();
}

}  // namespace attnscope
