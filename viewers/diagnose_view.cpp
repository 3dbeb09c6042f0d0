#include "viewers/diagnose_view.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "capture/spec_io.h"
#include "kernels/gpu_backend.h"
#include "kernels/implementation.h"

namespace attnscope {
namespace {

std::string json_str(const std::string& t) {
  std::string o = "\"";
  for (char c : t) {
    if (c == '"' || c == '\\') o += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    o += c;
  }
  return o + "\"";
}

// Badge text and colour of a predicted outcome: runs green (as a supported verdict), a load failure
// in the error colour, a load that succeeds and a first forward that raises in the warning colour.
const char* stage_label(const std::string& stage) {
  if (stage == "runs") return "runs";
  if (stage == "load") return "fails at load";
  if (stage == "forward") return "fails at 1st forward";
  return "not predicted";
}
ImVec4 stage_color(const std::string& stage) {
  if (stage == "runs") return ImVec4(0.4f, 0.9f, 0.4f, 1);
  if (stage == "load") return severity_color(Severity::Error);
  if (stage == "forward") return severity_color(Severity::Warning);
  return ImVec4(0.6f, 0.6f, 0.6f, 1);
}

// The exception's message: the text of the reason the outcome names (its stable prefix when the rest
// embeds shapes, paths or versions).
std::string outcome_message(const HfOutcome& o, const Verdict& v) {
  for (const Reason& r : v.reasons)
    if (r.code == o.code) return r.text + (o.prefix_only ? " ..." : "");
  return o.code.empty() ? "" : "(" + o.code + ")";
}

bool same_outcome(const HfOutcome& a, const HfOutcome& b) {
  return a.stage == b.stage && a.exception == b.exception && a.code == b.code && a.resolved == b.resolved;
}

// One outcome: a coloured badge (hover: exception, message, code, resolved name), then the exception
// type as a tree node that opens on the message. Listed in the sidecar JSON as diagnose:<kind>:<name>.
void outcome_cell(Model& m, const std::string& name, const char* kind, const HfOutcome& o, const Verdict& v,
                  bool have_env) {
  ImGui::PushID(kind);
  const char* label = stage_label(o.stage);
  const ImVec4 col = stage_color(o.stage);
  const ImGuiStyle& st = ImGui::GetStyle();
  const ImVec2 ts = ImGui::CalcTextSize(label);
  const ImVec2 size(ts.x + 2 * st.FramePadding.x, ts.y + 2 * st.FramePadding.y);
  const ImVec2 p0 = ImGui::GetCursorScreenPos();
  ImGui::InvisibleButton("badge", size);
  const bool hovered = ImGui::IsItemHovered();
  ImDrawList* dl = ImGui::GetWindowDrawList();
  dl->AddRectFilled(p0, ImVec2(p0.x + size.x, p0.y + size.y), ImGui::GetColorU32(col), 4.0f);
  dl->AddText(ImVec2(p0.x + st.FramePadding.x, p0.y + st.FramePadding.y), IM_COL32(20, 20, 24, 255), label);
  const std::string msg = outcome_message(o, v);
  if (ImGui::IsRectVisible(p0, ImVec2(p0.x + size.x, p0.y + size.y))) {
    const float fs = ImGui::GetIO().DisplayFramebufferScale.x;
    const std::string js = "\"stage\":" + json_str(o.stage) + ",\"exception\":" + json_str(o.exception) +
                           ",\"code\":" + json_str(o.code) + ",\"message\":" + json_str(msg) +
                           ",\"resolved\":" + json_str(o.resolved) +
                           ",\"color\":" + std::to_string(ImGui::GetColorU32(col));
    m.add_region({std::string("diagnose:") + kind + ":" + name, p0.x * fs, p0.y * fs, size.x * fs, size.y * fs, js});
  }
  if (hovered) {
    ImGui::BeginTooltip();
    ImGui::PushTextWrapPos(ImGui::GetFontSize() * 40);
    if (o.stage.empty()) {
      ImGui::TextUnformatted(have_env ? "not predicted: attnscope does not model this name's load / first-forward split "
                                        "for this transformers version (see the reasons)"
                                      : "not predicted: needs transformers' version from a Python env file (>= 5.3 "
                                        "for every name; eager and sdpa with any known version)");
    } else {
      ImGui::TextColored(col, "%s", std::strcmp(kind, "retried") == 0 ? "retry in the same process" : "fresh process");
      if (o.stage != "runs") {
        ImGui::Text("%s: %s", o.exception.empty() ? "exception type not known" : o.exception.c_str(), msg.c_str());
        ImGui::TextDisabled("%s%s", o.code.c_str(), o.prefix_only ? " (the message's stable prefix)" : "");
      }
      if (!o.resolved.empty()) ImGui::Text("config._attn_implementation = %s", o.resolved.c_str());
      if (!o.lazy_kernel.empty()) ImGui::TextDisabled("kernel name cached process-wide: %s", o.lazy_kernel.c_str());
    }
    ImGui::PopTextWrapPos();
    ImGui::EndTooltip();
  }
  if (o.stage != "runs" && !o.stage.empty()) {
    ImGui::PushStyleColor(ImGuiCol_Text, col);
    bool open = ImGui::TreeNodeEx("exc", ImGuiTreeNodeFlags_SpanAvailWidth, "%s",
                                  o.exception.empty() ? "exception type not known" : o.exception.c_str());
    ImGui::PopStyleColor();
    if (open) {
      ImGui::TextWrapped("%s", msg.c_str());
      ImGui::TextDisabled("%s%s", o.code.c_str(), o.prefix_only ? " (stable prefix)" : "");
      ImGui::TreePop();
    }
  } else if (!o.resolved.empty()) {
    ImGui::TextDisabled("as %s", o.resolved.c_str());
  }
  ImGui::PopID();
}

void verdict_table(Model& m, const char* id, const std::vector<ImplVerdict>& rows, bool hf, bool have_env = false) {
  const int ncol = hf ? 4 : 3;
  if (!ImGui::BeginTable(id, ncol, ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersInnerH | ImGuiTableFlags_Resizable))
    return;
  ImGui::TableSetupColumn("implementation", ImGuiTableColumnFlags_WidthFixed, 230);
  if (hf) ImGui::TableSetupColumn("from_pretrained + forward", ImGuiTableColumnFlags_WidthFixed, 200);
  ImGui::TableSetupColumn("outcome", ImGuiTableColumnFlags_WidthFixed, 260);
  ImGui::TableSetupColumn(hf ? "reasons" : "reasons (hover: code and source)", ImGuiTableColumnFlags_WidthStretch);
  ImGui::TableHeadersRow();
  for (const ImplVerdict& v : rows) {
    ImGui::PushID(&v);
    ImGui::TableNextRow();
    ImGui::TableNextColumn();
    // Grey "?" where attnscope has no rules for the installed transformers: neither runs nor fails is claimed.
    const ImVec4 col = !v.known ? ImGui::GetStyleColorVec4(ImGuiCol_TextDisabled)
                       : v.verdict.supported ? ImVec4(0.4f, 0.9f, 0.4f, 1)
                                             : ImVec4(1, 0.4f, 0.4f, 1);
    ImGui::TextColored(col, "%s %s", !v.known ? "?  " : v.verdict.supported ? "OK " : "NO ", v.name.c_str());
    if (!v.runs_as.empty()) {
      ImGui::PushStyleColor(ImGuiCol_Text, ImGui::GetStyleColorVec4(ImGuiCol_TextDisabled));
      ImGui::TextWrapped("runs as %s", v.runs_as.c_str());
      ImGui::PopStyleColor();
    }
    if (hf) {
      ImGui::TableNextColumn();
      outcome_cell(m, v.name, "predicted", v.predicted, v.verdict, have_env);
      if (v.retried && !same_outcome(*v.retried, v.predicted)) {
        ImGui::TextDisabled("retry, same process:");
        outcome_cell(m, v.name, "retried", *v.retried, v.verdict, have_env);
      }
    }
    ImGui::TableNextColumn();
    ImGui::TextWrapped("%s", v.outcome.c_str());
    if (!v.sdpa_backend.empty()) ImGui::TextDisabled("SDPA picks: %s", v.sdpa_backend.c_str());
    ImGui::TableNextColumn();
    if (v.verdict.reasons.empty()) ImGui::TextDisabled("no reasons: supported as is");
    verdict_lines(v.verdict);
    ImGui::PopID();
  }
  ImGui::EndTable();
}


// Device picker (shared with the layer panel's verdicts); returns the device verdicts are judged against.
DeviceInfo device_picker(Model& m) {
  std::string cur = m.settings.verdict_gpu.empty() ? "local device" : m.settings.verdict_gpu;
  ImGui::SetNextItemWidth(200);
  if (ImGui::BeginCombo("judge against", cur.c_str())) {
    if (ImGui::Selectable("local device", m.settings.verdict_gpu.empty())) m.settings.verdict_gpu.clear();
    for (const auto& g : named_gpu_list())
      if (ImGui::Selectable(g.c_str(), g == m.settings.verdict_gpu)) m.settings.verdict_gpu = g;
    ImGui::EndCombo();
  }
  std::string why;
  DeviceInfo dev = m.verdict_device(&why);
  ImGui::SameLine();
  ImGui::TextDisabled("%s%s", dev.describe().c_str(), dev.named ? " (named: verdicts only)" : "");
  if (!why.empty()) ImGui::TextColored(ImVec4(1, 0.5f, 0.4f, 1), "%s", why.c_str());
  GpuBackend& g = GpuBackend::instance();
  if (!g.available()) ImGui::TextDisabled("GPU backend: %s", g.why_not().c_str());
  return dev;
}

// The report, off the UI thread. It reads a spec from a file (as `attnscope diagnose --spec`):
// an edited layer (`spec_json`) is written to a private temporary file first.
DiagnoseView::Built build_report(DiagnoseOptions opt, const std::string& spec_json) {
  DiagnoseView::Built b;
  std::string tmp;
  if (!spec_json.empty()) {
    char path[] = "/tmp/attnscope-gui-spec-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) {
      b.error = "cannot create a temporary spec file";
      return b;
    }
    ssize_t w = write(fd, spec_json.data(), spec_json.size());
    close(fd);
    tmp = path;
    if (w != static_cast<ssize_t>(spec_json.size())) b.error = "cannot write the temporary spec file";
    opt.spec_file = tmp;
  }
  if (b.error.empty()) b.error = build_diagnose_report(opt, &b.report);
  if (!tmp.empty()) unlink(tmp.c_str());
  return b;
}

// The layer, the device and its notes, and the report's summary lines.
void report_header(const DiagnoseReport& r) {
  std::string src = r.spec_source.find("attnscope-gui-spec-") != std::string::npos ? "the edited layer" : r.spec_source;
  ImGui::TextWrapped("Layer (%s): %s", src.c_str(), r.spec.summary().c_str());
  ImGui::TextDisabled("device: %s (%s)", r.device.describe().c_str(), r.device_origin.c_str());
  for (const Reason& n : r.device_notes) {
    ImGui::PushStyleColor(ImGuiCol_Text, severity_color(n.severity));
    ImGui::TextWrapped("%s", n.text.c_str());
    ImGui::PopStyleColor();
  }
  if (!r.summary.empty()) {
    ImGui::Separator();
    for (const auto& line : r.summary) {
      ImGui::Bullet();
      ImGui::TextWrapped("%s", line.c_str());
    }
  }
}

// transformers' attention names for the model (or a hint to open its config.json).
void hf_section(Model& m, const DiagnoseReport& r) {
  if (!r.hf.empty()) {
    ImGui::Separator();
    if (r.model.num_layers > 0)
      ImGui::Text("transformers' attention names for %s (%s, %d layers)", r.model.architecture.c_str(),
                  r.model.model_type.c_str(), r.model.num_layers);
    else
      ImGui::Text("transformers' attention names for a %s-shaped layer",
                  r.model.model_type.empty() ? "generic" : r.model.model_type.c_str());
    if (!r.env.present)
      ImGui::TextDisabled("from_pretrained + forward: give a Python env file above to predict load / first-forward "
                          "failures per name");
    else
      ImGui::TextDisabled("from_pretrained + forward as predicted for %s (transformers %s); hover a badge for the "
                          "exception, open it for the message",
                          r.env.file.c_str(), r.env.version("transformers").empty() ? "not installed"
                                                                                   : r.env.version("transformers").c_str());
    verdict_table(m, "hf_verdicts", r.hf, true, r.env.present);
  } else {
    ImGui::TextDisabled("Open a HuggingFace config.json (File > Open spec/config) to see what transformers does "
                        "with eager / sdpa / flash_attention_2 for that model.");
  }
}

// The fixes, cheapest first, each with a Copy button.
void fixes_list(Model& m, const DiagnoseReport& r) {
  if (r.fixes.empty()) return;
  ImGui::Separator();
  ImGui::TextUnformatted("fixes, cheapest first");
  for (size_t i = 0; i < r.fixes.size(); ++i) {
    const Fix& f = r.fixes[i];
    ImGui::PushID(static_cast<int>(i));
    if (ImGui::SmallButton("Copy")) {
      ImGui::SetClipboardText(f.line.c_str());
      m.info = "copied: " + f.line;
    }
    if (ImGui::IsItemHovered()) ImGui::SetTooltip("copy this line to the clipboard");
    {
      const ImVec2 a = ImGui::GetItemRectMin(), b = ImGui::GetItemRectMax();
      const float fs = ImGui::GetIO().DisplayFramebufferScale.x;
      if (ImGui::IsRectVisible(a, b))
        m.add_region({"diagnose:fix:copy:" + std::to_string(f.rank), a.x * fs, a.y * fs, (b.x - a.x) * fs,
                      (b.y - a.y) * fs, "\"line\":" + json_str(f.line)});
    }
    ImGui::SameLine();
    ImGui::Text("%d. [%s]", f.rank, f.where.c_str());
    ImGui::SameLine();
    ImGui::TextColored(ImVec4(0.5f, 0.9f, 1.0f, 1), "%s", f.line.c_str());
    ImGui::Indent(24);
    ImGui::TextWrapped("%s  (cost: %s)", f.why.c_str(), f.cost.c_str());
    ImGui::Unindent(24);
    ImGui::PopID();
  }
}

// What the layer needs per implementation, forward and with the backward.
void memory_table(const DiagnoseReport& r) {
  if (!r.memory.empty() &&
      ImGui::BeginTable("memory_need", 5, ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersInnerV)) {
    ImGui::TableSetupColumn("impl");
    ImGui::TableSetupColumn("seq x batch");
    ImGui::TableSetupColumn("forward / layer");
    ImGui::TableSetupColumn("with backward / layer");
    ImGui::TableSetupColumn("note", ImGuiTableColumnFlags_WidthStretch);
    ImGui::TableHeadersRow();
    for (const MemoryNeed& mn : r.memory) {
      ImGui::TableNextRow();
      ImGui::TableNextColumn();
      ImGui::TextUnformatted(mn.impl.c_str());
      ImGui::TableNextColumn();
      ImGui::Text("%d x %d", mn.seq, mn.batch);
      ImGui::TableNextColumn();
      ImGui::TextUnformatted(fmt_bytes(static_cast<double>(mn.forward_bytes)).c_str());
      ImGui::TableNextColumn();
      ImGui::TextUnformatted(fmt_bytes(static_cast<double>(mn.backward_bytes)).c_str());
      ImGui::TableNextColumn();
      ImGui::TextWrapped("%s", mn.note.c_str());
    }
    ImGui::EndTable();
  }
}

}  // namespace

void DiagnoseView::draw(Model& m) {
  const DeviceInfo dev = device_picker(m);
  const bool env_editing = env_field(m);
  rebuild_if_changed(m, dev, env_editing);
  if (auto b = job_.take()) built_ = b;
  if (!built_) {
    ImGui::TextColored(ImVec4(1, 0.8f, 0.3f, 1), "building the report...");
    return;
  }
  if (!built_->error.empty()) {
    ImGui::TextColored(ImVec4(1, 0.4f, 0.4f, 1), "diagnose: %s", built_->error.c_str());
    return;
  }
  const DiagnoseReport& r = built_->report;
  ImGui::BeginChild("report", ImVec2(0, -ImGui::GetFrameHeightWithSpacing()), false);
  report_header(r);
  ImGui::Separator();
  ImGui::TextUnformatted("attnscope implementations (the kernels the library would run)");
  verdict_table(m, "kernel_verdicts", r.implementations, false);
  for (const auto& w : what_if_) ImGui::TextColored(ImVec4(0.95f, 0.6f, 0.95f, 1), "%s", w.c_str());
  hf_section(m, r);
  fixes_list(m, r);
  memory_table(r);
  ImGui::EndChild();
  if (ImGui::Button("Run the supported implementations, what-if for the rest")) {
    m.doc.what_if = true;
    start_run(m);
  }
}

// The Python environment file; true while it is being edited.
bool DiagnoseView::env_field(Model& m) {
  if (!env_init_) {
    env_init_ = true;
    // --env (or the last one used, from the settings), else $ATTNSCOPE_DIAGNOSE_ENV.
    const char* e = std::getenv("ATTNSCOPE_DIAGNOSE_ENV");
    if (!m.settings.diagnose_env.empty()) e = m.settings.diagnose_env.c_str();
    if (e) std::snprintf(env_path_, sizeof env_path_, "%s", e);
  }
  ImGui::SetNextItemWidth(420);
  ImGui::InputTextWithHint("Python env", "env.json from scripts/attnscope-env.py (as diagnose --env)", env_path_,
                           sizeof env_path_, ImGuiInputTextFlags_EnterReturnsTrue);
  // The report is rebuilt once the field is left (or Enter pressed), not on every keystroke.
  const bool env_editing = ImGui::IsItemActive();
  if (ImGui::IsItemHovered())
    ImGui::SetTooltip("python scripts/attnscope-env.py > env.json in the environment that runs the model:\n"
                      "versions and import errors decide what from_pretrained and the first forward do");
  return env_editing;
}

// A new report (and the what-if notes) when the layer, the device, the config or the env changed.
void DiagnoseView::rebuild_if_changed(Model& m, const DeviceInfo& dev, bool env_editing) {
  if (!(for_spec_ != m.doc.spec_version || for_gpu_ != m.settings.verdict_gpu || for_config_ != m.doc.config_path ||
        for_layer_ != m.doc.config_layer || (!env_editing && for_env_ != env_path_)))
    return;
  for_env_ = env_path_;
  m.settings.diagnose_env = for_env_;
  for_spec_ = m.doc.spec_version;
  for_gpu_ = m.settings.verdict_gpu;
  for_config_ = m.doc.config_path;
  for_layer_ = m.doc.config_layer;
  DiagnoseOptions opt;
  opt.gpu = m.settings.verdict_gpu;
  opt.local_gpu = !m.doc.force_cpu;
  opt.env_file = for_env_;
  std::string spec_json;
  // The config's own layer while it is unedited (the report then covers the model: every layer
  // type, transformers' names); once edited, the edited layer.
  if (!m.doc.config_path.empty() && m.doc.spec_version == m.doc.config_spec_version) {
    opt.config_file = m.doc.config_path;
    opt.layer = m.doc.config_layer;
  } else {
    spec_json = spec_to_json(m.doc.spec);
  }
  job_.start([opt, spec_json] { return build_report(opt, spec_json); });
  what_if_.clear();
  for (const auto& impl : implementation_names()) {
    LayerSpec ws;
    std::vector<WhatIfDrop> dropped;
    if (what_if_spec(impl, m.doc.spec, dev, &ws, &dropped) && !dropped.empty())
      what_if_.push_back(impl + ": a what-if run drops " + what_if_drop_names(dropped));
  }
}

}  // namespace attnscope
