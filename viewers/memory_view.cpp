#include "viewers/memory_view.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>

#include "kernels/memory_model.h"
#include "kernels/sdpa_dispatch.h"

namespace attnscope {
namespace {

int64_t host_memory() {
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? static_cast<int64_t>(pages) * page : 0;
}

// An empty outline where the bar would be, "not timed" inside it and the label below.
void draw_not_timed(Model& m, ImDrawList* dl, const RunResult& r, float cx, float bw, float base, float top, float fs) {
  const float h = std::min(base - top, 3 * ImGui::GetTextLineHeight());
  const ImVec2 a(cx - bw / 2, base - h), b(cx + bw / 2, base);
  dl->AddRect(a, b, IM_COL32(150, 150, 160, 255), 0.0f, 0, 1.0f);
  const char* t = "not timed";
  dl->AddText(ImVec2(cx - ImGui::CalcTextSize(t).x / 2, base - h / 2 - ImGui::GetTextLineHeight() / 2),
              IM_COL32(170, 170, 180, 255), t);
  dl->AddText(ImVec2(cx - ImGui::CalcTextSize(r.label.c_str()).x / 2, base + 3), IM_COL32(220, 220, 220, 255),
              r.label.c_str());
  m.add_region({"memory:not_timed:" + r.label, a.x * fs, a.y * fs, bw * fs, h * fs, "\"timed\":false"});
}


// One run's bar at `cx`: measured peak, the analytic model's line, the values and the label.
void draw_peak_bar(Model& m, ImDrawList* dl, const RunResult& r, float cx, float bw, float base, float ph, double mx,
                   float fs) {
  float bh = static_cast<float>(r.peak_bytes / mx) * ph;
  ImU32 c = name_color(r.impl.empty() ? r.label : r.impl);
  dl->AddRectFilled(ImVec2(cx - bw / 2, base - bh), ImVec2(cx + bw / 2, base), c);
  float my = base - static_cast<float>(r.model_bytes / mx) * ph;
  if (r.model_bytes > 0)
    dl->AddLine(ImVec2(cx - bw / 2 - 6, my), ImVec2(cx + bw / 2 + 6, my), IM_COL32(255, 255, 255, 255), 2.0f);
  std::string v = fmt_bytes(static_cast<double>(r.peak_bytes));
  dl->AddText(ImVec2(cx - ImGui::CalcTextSize(v.c_str()).x / 2, base - bh - ImGui::GetTextLineHeight() - 1),
              IM_COL32(230, 230, 230, 255), v.c_str());
  dl->AddText(ImVec2(cx - ImGui::CalcTextSize(r.label.c_str()).x / 2, base + 3), IM_COL32(220, 220, 220, 255),
              r.label.c_str());
  // An outside run's peak is what its dump measured; attnscope's analytic model is not its.
  std::string mb = r.backend == "outside" ? std::string("measured by the dump")
                                          : "model " + fmt_bytes(static_cast<double>(r.model_bytes));
  dl->AddText(ImVec2(cx - ImGui::CalcTextSize(mb.c_str()).x / 2, base + 3 + ImGui::GetTextLineHeight()),
              IM_COL32(150, 150, 160, 255), mb.c_str());
  char js[128];
  std::snprintf(js, sizeof js, "\"peak\":%lld,\"model\":%lld,\"color\":%u", static_cast<long long>(r.peak_bytes),
                static_cast<long long>(r.model_bytes), c);
  m.add_region({"memory:bar:" + r.label, (cx - bw / 2) * fs, (base - bh) * fs, bw * fs, bh * fs, js});
  const ImVec2 mouse = ImGui::GetIO().MousePos;
  if (ImGui::IsItemHovered() && mouse.x >= cx - bw / 2 && mouse.x <= cx + bw / 2)
    ImGui::SetTooltip("%s\nmeasured peak %s\nanalytic model %s\n%s", r.label.c_str(),
                      fmt_bytes(static_cast<double>(r.peak_bytes)).c_str(),
                      fmt_bytes(static_cast<double>(r.model_bytes)).c_str(), r.device.c_str());
}

// The peak bars of the runs that ran, drawn into `dl` (the panel's draw list) in a child of `size`.
void draw_peaks(Model& m, ImDrawList* dl, const Capture& cap, ImVec2 size) {
  const float fs = ImGui::GetIO().DisplayFramebufferScale.x;
  ImGui::BeginChild("peaks", size, true);
  ImGui::TextUnformatted("peak extra memory per run (bar: measured, line: analytic model)");
  ImVec2 p0 = ImGui::GetCursorScreenPos();
  ImVec2 sz = ImGui::GetContentRegionAvail();
  sz.y -= ImGui::GetTextLineHeightWithSpacing() * 2;
  ImGui::InvisibleButton("bars", sz);
  std::vector<const RunResult*> ran;
  for (const RunResult& r : cap.runs)
    if (r.ran) ran.push_back(&r);
  double mx = 1;
  for (const RunResult* r : ran) mx = std::max({mx, static_cast<double>(r->peak_bytes), static_cast<double>(r->model_bytes)});
  const float label_h = ImGui::GetTextLineHeight() * 2 + 4;
  const float base = p0.y + sz.y - label_h, top = p0.y + ImGui::GetTextLineHeight() + 4;
  const float ph = std::max(10.0f, base - top);
  const int n = std::max<int>(1, static_cast<int>(ran.size()));
  const float slot = sz.x / n, bw = std::min(70.0f, slot * 0.6f);
  dl->AddLine(ImVec2(p0.x, base), ImVec2(p0.x + sz.x, base), IM_COL32(140, 140, 150, 255));
  char js[128];
  std::snprintf(js, sizeof js, "\"baseline_y\":%.3f,\"top_y\":%.3f,\"max_bytes\":%.17g", base * fs, top * fs, mx);
  m.add_region({"memory:plot", p0.x * fs, p0.y * fs, sz.x * fs, sz.y * fs, js});
  for (int i = 0; i < static_cast<int>(ran.size()); ++i) {
    const RunResult& r = *ran[static_cast<size_t>(i)];
    float cx = p0.x + slot * (i + 0.5f);
    if (!is_timed(r))  // an outside run dumped without --time: no peak is known, not 0 B
      draw_not_timed(m, dl, r, cx, bw, base, top, fs);
    else
      draw_peak_bar(m, dl, r, cx, bw, base, ph, mx, fs);
  }
  ImGui::EndChild();
}

// Bytes in use over time per run, from its memory events, drawn into `dl` in a child `height` high.
void draw_allocations(ImDrawList* dl, const Capture& cap, float height) {
  ImGui::BeginChild("alloc", ImVec2(0, height), true);
  ImGui::TextUnformatted("allocation timeline (bytes in use, per run)");
  ImVec2 q0 = ImGui::GetCursorScreenPos();
  ImVec2 qs = ImGui::GetContentRegionAvail();
  ImGui::InvisibleButton("alloc_plot", qs);
  double t0 = 0, t1 = 0, bmax = 1;
  bool any = false;
  for (const RunResult& r : cap.runs) {
    int64_t cur = 0;
    for (const MemoryEvent& e : r.memory) {
      if (!any) t0 = t1 = e.t_us;
      any = true;
      t0 = std::min(t0, e.t_us);
      t1 = std::max(t1, e.t_us);
      cur += e.bytes;
      bmax = std::max(bmax, static_cast<double>(cur));
    }
  }
  dl->AddRectFilled(q0, ImVec2(q0.x + qs.x, q0.y + qs.y), IM_COL32(22, 22, 26, 255));
  if (!any) {
    dl->AddText(ImVec2(q0.x + 8, q0.y + 8), IM_COL32(150, 150, 150, 255), "no memory events recorded");
    ImGui::EndChild();
    return;
  }
  if (t1 <= t0) t1 = t0 + 1;
  auto X = [&](double t) { return static_cast<float>(q0.x + 4 + (t - t0) / (t1 - t0) * (qs.x - 8)); };
  auto Y = [&](double b) { return static_cast<float>(q0.y + qs.y - 4 - b / bmax * (qs.y - 24)); };
  float ly = q0.y + 4;
  for (const RunResult& r : cap.runs) {
    if (r.memory.empty()) continue;
    ImU32 c = name_color(r.impl.empty() ? r.label : r.impl);
    int64_t cur = 0;
    ImVec2 prev(X(r.memory.front().t_us), Y(0));
    for (const MemoryEvent& e : r.memory) {
      ImVec2 a(X(e.t_us), prev.y);
      dl->AddLine(prev, a, c, 1.5f);
      cur += e.bytes;
      ImVec2 b(a.x, Y(static_cast<double>(cur)));
      dl->AddLine(a, b, c, 1.5f);
      prev = b;
    }
    dl->AddText(ImVec2(q0.x + qs.x - 160, ly), c, r.label.c_str());
    ly += ImGui::GetTextLineHeight();
  }
  dl->AddText(ImVec2(q0.x + 6, q0.y + 4), IM_COL32(160, 160, 170, 255), fmt_bytes(bmax).c_str());
  ImGui::EndChild();
}

// What the memory model is judged against: the layer, the device and its memory.
struct Target {
  LayerSpec base;
  DeviceInfo dev;
  bool gpu = false;
  int64_t dev_mem = 0;
  std::string dev_name;
  int full = 0;  // the layer's full context
  // sdpa's memory is its backend's: the one torch picks on this device.
  std::string key(const std::string& impl, const LayerSpec& s) const {
    return impl == "sdpa" ? "sdpa:" + sdpa_choice(s, dev) : impl;
  }
  LayerSpec spec_at(double n) const {
    LayerSpec s = base;
    s.seq_q = s.seq_k = static_cast<int>(n);
    return s;
  }
  // What the layer needs at a length: q, k, v, the mask transformers builds, and the call's peak.
  int64_t need(const std::string& impl, double n) const {
    const LayerSpec s = spec_at(n);
    return estimate_memory(key(impl, s), s).total();
  }
  // The same for training the layer: what its backward holds (training_bytes).
  int64_t train_need(const std::string& impl, double n) const {
    const LayerSpec s = spec_at(n);
    return training_bytes(key(impl, s), s);
  }
};

Target target_of(Model& m) {
  Target t;
  t.base = m.doc.cap ? m.doc.cap->spec : m.doc.spec;
  std::string why;
  t.dev = m.verdict_device(&why);
  // A capture made on a GPU, viewed where there is none: judge against that GPU's memory when
  // the built-in table knows it ("NVIDIA H100 80GB HBM3" -> H100).
  if (!t.dev.is_gpu() && m.settings.verdict_gpu.empty() && m.doc.cap && m.doc.cap->env.backend == "cuda")
    if (auto g = named_gpu_in(m.doc.cap->env.device)) t.dev = *g;
  t.gpu = t.dev.is_gpu() && t.dev.mem_total > 0;
  t.dev_mem = t.gpu ? t.dev.mem_total : host_memory();
  t.dev_name = t.gpu ? t.dev.describe() : "host memory (" + t.dev.name + ")";
  t.full = full_context(t.base);
  return t;
}

// Each implementation's need against the sequence length (log-log), the device's memory and the full
// context and the slider's length `seq` marked; with `training`, the backward's need as a thinner,
// dashed line above each.
void draw_model_plot(Model& m, ImDrawList* dl, const Target& t, int seq, bool training) {
  const float fs = ImGui::GetIO().DisplayFramebufferScale.x;
  const auto& impls = implementation_names();
  ImVec2 c0 = ImGui::GetCursorScreenPos();
  ImVec2 cs = ImGui::GetContentRegionAvail();
  const size_t lines = impls.size() * (training ? 2 : 1) + 3;  // the checkbox, the legend, one per sentence
  cs.y = std::max(120.0f, cs.y - ImGui::GetTextLineHeightWithSpacing() * static_cast<float>(lines));
  ImGui::InvisibleButton("model_plot", cs);
  dl->AddRectFilled(c0, ImVec2(c0.x + cs.x, c0.y + cs.y), IM_COL32(22, 22, 26, 255));
  // log2(seq) from 4 to 20 on x, log2(bytes) on y from 2^10 to the larger of 4x the device and the max.
  const double lx0 = 4, lx1 = 20;
  double ly1 = std::log2(std::max<double>(t.dev_mem, 1 << 20)) + 2, ly0 = 10;
  for (const auto& impl : impls)
    for (double lx = lx0; lx <= lx1; lx += 0.25) {
      const double n = std::exp2(lx);
      const int64_t most = training ? std::max(t.need(impl, n), t.train_need(impl, n)) : t.need(impl, n);
      ly1 = std::max(ly1, std::log2(std::max<double>(1, static_cast<double>(most))) + 0.5);
    }
  auto X = [&](double lx) { return static_cast<float>(c0.x + 50 + (lx - lx0) / (lx1 - lx0) * (cs.x - 60)); };
  auto Y = [&](double ly) { return static_cast<float>(c0.y + cs.y - 18 - (ly - ly0) / (ly1 - ly0) * (cs.y - 26)); };
  for (int lx = 4; lx <= 20; ++lx) {
    dl->AddLine(ImVec2(X(lx), c0.y), ImVec2(X(lx), c0.y + cs.y - 16), IM_COL32(45, 45, 52, 255));
    std::string label = lx >= 10 ? std::to_string(1 << (lx - 10)) + "k" : std::to_string(1 << lx);
    dl->AddText(ImVec2(X(lx) - 8, c0.y + cs.y - 15), IM_COL32(150, 150, 160, 255), label.c_str());
  }
  float dy = Y(std::log2(static_cast<double>(std::max<int64_t>(t.dev_mem, 1))));
  dl->AddLine(ImVec2(X(lx0), dy), ImVec2(X(lx1), dy), IM_COL32(255, 90, 90, 255), 1.5f);
  dl->AddText(ImVec2(X(lx0) + 4, dy - ImGui::GetTextLineHeight()), IM_COL32(255, 120, 120, 255),
              ("device memory " + fmt_bytes(static_cast<double>(t.dev_mem))).c_str());
  const float fx = X(std::log2(static_cast<double>(t.full)));
  dl->AddLine(ImVec2(fx, c0.y), ImVec2(fx, c0.y + cs.y - 16), IM_COL32(120, 200, 255, 200), 1.0f);
  dl->AddText(ImVec2(fx + 3, c0.y + 2), IM_COL32(120, 200, 255, 255), "full context");
  for (const auto& impl : impls) {
    const ImU32 c = name_color(impl);
    ImVec2 prev;
    bool first = true;
    for (double lx = lx0; lx <= lx1 + 1e-9; lx += 0.125) {
      ImVec2 p(X(lx), Y(std::log2(std::max(1.0, static_cast<double>(t.need(impl, std::exp2(lx)))))));
      if (!first) dl->AddLine(prev, p, c, 2.0f);
      prev = p;
      first = false;
    }
    if (!training) continue;
    first = true;
    for (double lx = lx0; lx <= lx1 + 1e-9; lx += 0.25) {  // dashed: every other segment
      ImVec2 p(X(lx), Y(std::log2(std::max(1.0, static_cast<double>(t.train_need(impl, std::exp2(lx)))))));
      if (!first && static_cast<int>(std::lround(lx * 4)) % 2 == 0) dl->AddLine(prev, p, (c & 0x00FFFFFFu) | 0xB0000000u, 1.5f);
      prev = p;
      first = false;
    }
  }
  float sx = X(std::log2(static_cast<double>(seq)));
  dl->AddLine(ImVec2(sx, c0.y), ImVec2(sx, c0.y + cs.y - 16), IM_COL32(255, 255, 255, 160));
  char js[160];
  std::snprintf(js, sizeof js, "\"full\":%d,\"seq\":%d,\"device_bytes\":%lld", t.full, seq,
                static_cast<long long>(t.dev_mem));
  m.add_region({"memory:model", c0.x * fs, c0.y * fs, cs.x * fs, cs.y * fs, js});
}

// One sentence per implementation: what it needs at `seq` tokens and the device it runs out on;
// with `training`, what the layer's backward needs under it (q, k, v, the mask, the output, dO and
// the backward's peak).
void context_sentences(Model& m, const Target& t, int seq, bool training) {
  ImGui::TextDisabled("needs = q, k, v + the mask transformers builds + the call's peak, by each library's allocation plan");
  auto line = [&](const ContextFit& f, const std::string& region) {
    const bool over = f.bytes > t.dev_mem;
    ImGui::TextColored(over ? ImVec4(1, 0.4f, 0.4f, 1) : ImVec4(0.85f, 0.85f, 0.85f, 1), "%s", f.sentence.c_str());
    char js[160];
    std::snprintf(js, sizeof js, "\"need\":%lld,\"over\":%d", static_cast<long long>(f.bytes), over ? 1 : 0);
    m.add_region({region, 0, 0, 0, 0, js});
  };
  for (const auto& impl : implementation_names()) {
    const LayerSpec s = t.spec_at(seq);
    const DeviceInfo* here = t.gpu ? &t.dev : nullptr;
    const ContextFit f = fit_at_context(t.key(impl, s), t.base, seq, here);
    ImGui::ColorButton(("##m" + impl).c_str(), ImGui::ColorConvertU32ToFloat4(name_color(impl)),
                       ImGuiColorEditFlags_NoTooltip, ImVec2(10, 10));
    ImGui::SameLine();
    line(f, "memory:need:" + impl);
    if (ImGui::IsItemHovered()) {
      std::string tip = f.need.basis + "\nalive at the peak:";
      for (const auto& [what, bytes] : f.need.at_peak) tip += "\n  " + what + ": " + fmt_bytes(static_cast<double>(bytes));
      ImGui::SetTooltip("%s", tip.c_str());
    }
    if (!training) continue;
    ImGui::Indent(18);
    line(fit_backward_at_context(t.key(impl, s), t.base, seq, here), "memory:train:" + impl);
    ImGui::Unindent(18);
  }
}

}  // namespace

void MemoryView::draw(Model& m) {
  ImDrawList* dl = ImGui::GetWindowDrawList();
  ImVec2 avail = ImGui::GetContentRegionAvail();
  const float top_h = std::max(160.0f, avail.y * 0.5f);
  if (m.doc.cap && !m.doc.cap->runs.empty()) {
    draw_peaks(m, dl, *m.doc.cap, ImVec2(avail.x * 0.45f, top_h));
    ImGui::SameLine();
    draw_allocations(dl, *m.doc.cap, top_h);
  } else {
    ImGui::TextDisabled("No capture open: the model below uses the layer being edited.");
  }
  // The memory model at any length, and at the layer's full context.
  if (for_version_ != m.doc.cap_version) {
    for_version_ = m.doc.cap_version;
    seq_ = 0;
    training_ = m.doc.cap && m.doc.cap->has_backward();  // a capture with gradients opens with the training lines
  }
  const Target t = target_of(m);
  length_slider(t.full, t.base.max_context > 0, t.dev_name, t.dev_mem);
  draw_model_plot(m, dl, t, seq_, training_);
  ImGui::Checkbox("training (the backward's need too: dashed)", &training_);
  context_sentences(m, t, seq_, training_);
}

void MemoryView::length_slider(int full, bool known_context, const std::string& dev_name, int64_t dev_mem) {
  if (seq_ <= 0) seq_ = full;  // opens at the full context (HF max_position_embeddings when known)
  ImGui::SetNextItemWidth(360);
  ImGui::SliderInt("sequence length (Nq = Nk)", &seq_, 16, 1 << 20, "%d", ImGuiSliderFlags_Logarithmic);
  ImGui::SameLine();
  if (ImGui::SmallButton("full context")) seq_ = full;
  ImGui::SameLine();
  ImGui::TextDisabled("%s %d tokens; against %s: %s", known_context ? "full context" : "layer length", full,
                      dev_name.c_str(), fmt_bytes(static_cast<double>(dev_mem)).c_str());
}

}  // namespace attnscope
