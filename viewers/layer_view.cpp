// The left column: every LayerSpec field, config.json loading with a layer picker, inputs,
// implementation selection with each one's verdict before running, and Run.
#include "viewers/layer_view.h"

#include <imgui.h>
#include <imgui_stdlib.h>

#include <algorithm>
#include <sstream>

#include "kernels/gpu_backend.h"
#include "kernels/implementation.h"
#include "viewers/widgets.h"

namespace attnscope {
namespace {

bool dtype_combo(const char* label, DType* d) {
  bool changed = false;
  if (ImGui::BeginCombo(label, dtype_name(*d))) {
    for (DType t : {DType::F32, DType::F16, DType::BF16})
      if (ImGui::Selectable(dtype_name(t), t == *d)) {
        *d = t;
        changed = true;
      }
    ImGui::EndCombo();
  }
  return changed;
}

}  // namespace

constexpr float kFieldWidth = 150;

void LayerView::draw(Model& m) {
  bool changed = false;
  if (ImGui::CollapsingHeader("Layer", ImGuiTreeNodeFlags_DefaultOpen)) {
    changed = layer_fields(m.doc.spec);
    config_picker(m);
  }
  if (ImGui::CollapsingHeader("Inputs", ImGuiTreeNodeFlags_DefaultOpen)) inputs_fields(m);
  if (changed) {
    ++m.doc.spec_version;
    kv_lengths_text_.clear();
  }
  const std::string verr = m.doc.spec.validate();
  if (!verr.empty()) ImGui::TextColored(ImVec4(1, 0.4f, 0.4f, 1), "invalid: %s", verr.c_str());
  if (ImGui::CollapsingHeader("Implementations", ImGuiTreeNodeFlags_DefaultOpen)) {
    std::string why;
    const DeviceInfo dev = m.verdict_device(&why);
    ImGui::TextDisabled("verdicts against %s", dev.describe().c_str());
    refresh_verdicts(m, dev, verr.empty());
    implementation_rows(m);
    run_options(m);
  }
  ImGui::Spacing();
  ImGui::BeginDisabled(m.jobs.busy() || !verr.empty());
  if (ImGui::Button("Run  (Ctrl+R)", ImVec2(-1, 0))) start_run(m);
  ImGui::EndDisabled();
}

// Every LayerSpec field; true when one changed this frame.
bool LayerView::layer_fields(LayerSpec& s) {
  bool changed = false;
  changed |= ImGui::InputText("name", &s.name);
  ImGui::TextDisabled("source: %s", s.source.c_str());
  ImGui::PushItemWidth(kFieldWidth);
  changed |= ImGui::InputInt("batch", &s.batch);
  changed |= ImGui::InputInt("seq q (Nq)", &s.seq_q);
  changed |= ImGui::InputInt("seq k (Nk)", &s.seq_k);
  changed |= ImGui::InputInt("query heads", &s.heads_q);
  changed |= ImGui::InputInt("kv heads", &s.heads_kv);
  changed |= ImGui::InputInt("head dim", &s.head_dim);
  changed |= ImGui::InputInt("head dim v", &s.head_dim_v);
  changed |= dtype_combo("dtype", &s.dtype);
  changed |= ImGui::InputDouble("scale (0=1/sqrt d)", &s.scale, 0, 0, "%.6g");
  changed |= ImGui::Checkbox("causal", &s.causal);
  ImGui::SameLine();
  if (ImGui::BeginCombo("align", causal_align_name(s.align))) {
    for (CausalAlign a : {CausalAlign::TopLeft, CausalAlign::BottomRight})
      if (ImGui::Selectable(causal_align_name(a), a == s.align)) {
        s.align = a;
        changed = true;
      }
    ImGui::EndCombo();
  }
  changed |= ImGui::InputInt("window left", &s.window_left);
  changed |= ImGui::InputInt("window right", &s.window_right);
  changed |= ImGui::InputInt("sliding window W", &s.sliding_window);
  changed |= ImGui::Checkbox("learned sinks", &s.sinks);
  changed |= ImGui::InputFloat("softcap", &s.softcap, 0, 0, "%.3g");
  changed |= mask_fields(s);
  changed |= dtype_combo("eager softmax dtype", &s.softmax_dtype);
  ImGui::PopItemWidth();
  return changed;
}

// The mask kind, and the padding's kv lengths or the explicit mask's file.
bool LayerView::mask_fields(LayerSpec& s) {
  bool changed = false;
  if (ImGui::BeginCombo("mask", mask_kind_name(s.mask))) {
    for (MaskKind k : {MaskKind::None, MaskKind::Padding, MaskKind::ExplicitBool, MaskKind::ExplicitAdditive})
      if (ImGui::Selectable(mask_kind_name(k), k == s.mask)) {
        s.mask = k;
        changed = true;
      }
    ImGui::EndCombo();
  }
  if (s.mask == MaskKind::Padding) {
    if (kv_lengths_text_.empty() && !s.kv_lengths.empty()) {
      for (size_t i = 0; i < s.kv_lengths.size(); ++i)
        kv_lengths_text_ += (i ? "," : "") + std::to_string(s.kv_lengths[i]);
    }
    if (ImGui::InputText("kv lengths", &kv_lengths_text_)) {
      s.kv_lengths.clear();
      std::stringstream ss(kv_lengths_text_);
      std::string tok;
      while (std::getline(ss, tok, ','))
        try {
          s.kv_lengths.push_back(std::stoi(tok));
        } catch (const std::exception&) {
        }
      changed = true;
    }
  }
  if (s.mask == MaskKind::ExplicitBool || s.mask == MaskKind::ExplicitAdditive)
    changed |= ImGui::InputText("mask file", &s.mask_file);
  return changed;
}

// A HF config.json's layer picker and its layer types, when the layer came from one.
void LayerView::config_picker(Model& m) {
  if (m.doc.layer_types.empty() && m.doc.config_path.empty()) return;
  ImGui::TextDisabled("config: %s", m.doc.config_path.c_str());
  ImGui::SetNextItemWidth(kFieldWidth);
  if (ImGui::InputInt("config layer", &m.doc.config_layer)) {
    m.doc.config_layer = std::max(0, m.doc.config_layer);
    m.add_error(m.open_spec(m.doc.config_path, m.doc.config_layer));
  }
  if (!m.doc.layer_types.empty()) {
    std::string t;
    for (const auto& x : m.doc.layer_types) t += (t.empty() ? "" : ", ") + x;
    ImGui::TextDisabled("layer types: %s", t.c_str());
  }
}

// Seed, distribution and the inputs file.
void LayerView::inputs_fields(Model& m) {
  ImGui::PushItemWidth(kFieldWidth);
  int seed = static_cast<int>(m.doc.seed);
  if (ImGui::InputInt("seed", &seed)) m.doc.seed = static_cast<uint64_t>(std::max(0, seed));
  int dist = m.doc.dist == Distribution::Normal ? 0 : 1;
  if (ImGui::Combo("distribution", &dist, "normal\0outliers\0")) m.doc.dist = dist ? Distribution::Outliers : Distribution::Normal;
  ImGui::InputText("inputs file", &m.doc.inputs_path);
  if (ImGui::IsItemHovered()) ImGui::SetTooltip(".npy folder, .safetensors or .h5 with q, k, v [bhnd]; empty = random");
  ImGui::PopItemWidth();
}

// Each implementation's verdict (and what a what-if run would drop), again when the layer, the
// verdict GPU or the backend choice changed.
void LayerView::refresh_verdicts(Model& m, const DeviceInfo& dev, bool valid) {
  if (verdicts_for_ == m.doc.spec_version && verdict_gpu_ == m.settings.verdict_gpu && force_cpu_ == m.doc.force_cpu)
    return;
  verdicts_for_ = m.doc.spec_version;
  verdict_gpu_ = m.settings.verdict_gpu;
  force_cpu_ = m.doc.force_cpu;
  rows_.clear();
  if (!valid) return;
  const LayerSpec& s = m.doc.spec;
  GpuBackend& g = GpuBackend::instance();
  for (const auto& name : implementation_names()) {
    Row r;
    r.impl = name;
    if (g.available() && !m.doc.force_cpu && m.settings.verdict_gpu.empty() && g.provides(name))
      r.verdict = g.check(name, s, dev);
    else if (const Implementation* impl = cpu_implementation(name))
      r.verdict = impl->check(s, dev);
    LayerSpec ws;
    std::vector<WhatIfDrop> dropped;
    if (!r.verdict.supported && what_if_spec(name, s, dev, &ws, &dropped)) r.what_if = what_if_drop_names(dropped);
    rows_.push_back(std::move(r));
  }
}

// One row per implementation: its checkbox, supported / refused, sdpa's backend, the verdict's lines.
void LayerView::implementation_rows(Model& m) {
  const auto& names = implementation_names();
  for (size_t i = 0; i < names.size() && i < 4; ++i) {
    ImGui::PushID(static_cast<int>(i));
    ImGui::Checkbox("##on", &m.doc.impl_on[i]);
    ImGui::SameLine();
    const Row* r = i < rows_.size() ? &rows_[i] : nullptr;
    if (r)
      ImGui::TextColored(r->verdict.supported ? ImVec4(0.4f, 0.9f, 0.4f, 1) : ImVec4(1, 0.4f, 0.4f, 1), "%s  %s",
                         names[i].c_str(), r->verdict.supported ? "supported" : "refused");
    else
      ImGui::TextUnformatted(names[i].c_str());
    if (names[i] == "sdpa") {
      ImGui::SameLine();
      ImGui::SetNextItemWidth(110);
      ImGui::Combo("backend", &m.doc.sdpa_backend, "auto\0flash\0efficient\0math\0cudnn\0");
    }
    if (r) {
      ImGui::Indent(24);
      verdict_lines(r->verdict);
      if (!r->what_if.empty()) ImGui::TextDisabled("what-if drops: %s", r->what_if.c_str());
      ImGui::Unindent(24);
    }
    ImGui::PopID();
  }
}

// What-if, the CPU backend switch and the probe's rows.
void LayerView::run_options(Model& m) {
  ImGui::Checkbox("what-if (run refused ones with the feature dropped)", &m.doc.what_if);
  GpuBackend& g = GpuBackend::instance();
  if (g.available()) ImGui::Checkbox("force CPU backend", &m.doc.force_cpu);
  ImGui::Checkbox("probe", &m.doc.probe);
  if (!m.doc.probe) return;
  ImGui::PushItemWidth(kFieldWidth);
  ImGui::InputInt("probe batch", &m.doc.probe_spec.batch);
  ImGui::InputInt("probe head", &m.doc.probe_spec.head);
  ImGui::InputInt("probe rows from", &m.doc.probe_spec.row_begin);
  ImGui::InputInt("probe rows to", &m.doc.probe_spec.row_end);
  ImGui::PopItemWidth();
  if (m.doc.probe_spec.row_end <= m.doc.probe_spec.row_begin) m.doc.probe_spec.row_end = m.doc.probe_spec.row_begin + 16;
}

}  // namespace attnscope
