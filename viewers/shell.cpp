#include "viewers/shell.h"

#include <GLFW/glfw3.h>
#include <imgui.h>
#include <imgui_stdlib.h>

#include <algorithm>
#include <filesystem>

#include "capture/export.h"
#include "kernels/gpu_backend.h"
#include "viewers/widgets.h"

namespace attnscope {
namespace fs = std::filesystem;

namespace {

const char* dialog_title(int d) {
  static const char* const t[] = {"", "Open capture (.h5)", "Open layer spec / HF config.json", "Save capture as (.h5)",
                                  "Export panel as PNG", "Export window as PNG", "Export Chrome trace (.json)",
                                  "Export summary (.json)", "Export summary (.csv)"};
  return t[d];
}

const char* kShortcuts =
    "Ctrl+O      open capture\n"
    "Ctrl+L      open layer spec / HF config.json\n"
    "Ctrl+S      save capture as\n"
    "Ctrl+E      export the current panel as PNG\n"
    "Ctrl+R      run the layer\n"
    "Esc         cancel the running job\n"
    "Ctrl+1..6   maps, divergence, probe, timeline, memory, diagnose\n"
    "Maps: wheel zooms around the cursor, drag pans, double-click resets;\n"
    "      every map follows (synchronised), the tooltip shows each implementation's value.\n"
    "Divergence: click a worst row or a cell to jump the maps there.\n"
    "Timeline: wheel zooms, drag pans, hover a bar for its launch configuration.\n"
    "Drop a .h5 capture or a .json spec/config on the window to open it.";

}  // namespace

Shell::Shell() : views_(make_views()) {}

std::string Shell::busy_with(const Model& m) const {
  if (m.jobs.busy()) return m.jobs.current()->what;
  for (const auto& v : views_)
    if (v->pending()) return std::string(v->title()) + " panel";
  return "";
}

void Shell::open_dialog(Dialog d, const Model& m) {
  dialog_ = d;
  dialog_open_request_ = true;
  std::error_code ec;
  dialog_dir_ = !m.settings.last_dir.empty() && fs::is_directory(m.settings.last_dir, ec)
                    ? m.settings.last_dir
                    : fs::current_path(ec).string();
  dialog_name_.clear();
  if (d == Dialog::SaveCapture) dialog_name_ = m.doc.cap_path.empty() ? "capture.h5" : fs::path(m.doc.cap_path).filename().string();
  if (d == Dialog::ExportPanelPng) dialog_name_ = std::string(panel_name(m.sel.panel)) + ".png";
  if (d == Dialog::ExportWindowPng) dialog_name_ = "attnscope.png";
  if (d == Dialog::ExportTrace) dialog_name_ = "trace.json";
  if (d == Dialog::ExportSummaryJson) dialog_name_ = "summary.json";
  if (d == Dialog::ExportSummaryCsv) dialog_name_ = "summary.csv";
  dialog_listed_.clear();
}

void Shell::export_text(Model& m, Dialog d, const std::string& path) {
  if (!m.doc.cap) {
    m.add_error("export: no capture is open");
    return;
  }
  std::string text = d == Dialog::ExportTrace         ? trace_json(*m.doc.cap)
                     : d == Dialog::ExportSummaryJson ? summary_json(*m.doc.cap)
                                                      : summary_csv(*m.doc.cap);
  std::string err = write_text_file(path, text);
  if (err.empty())
    m.info = "exported " + path;
  else
    m.add_error(err);
}

void Shell::finish_dialog(Model& m, const std::string& path) {
  m.settings.last_dir = fs::path(path).parent_path().string();
  switch (dialog_) {
    case Shell::Dialog::OpenCapture: start_load(m, path); break;
    case Shell::Dialog::OpenSpec: m.add_error(m.open_spec(path, 0)); break;
    case Shell::Dialog::SaveCapture: start_save(m, path); break;
    case Shell::Dialog::ExportPanelPng:
    case Shell::Dialog::ExportWindowPng:
      m.png_request = path;
      m.png_panel_only = dialog_ == Dialog::ExportPanelPng;
      break;
    case Shell::Dialog::ExportTrace:
    case Shell::Dialog::ExportSummaryJson:
    case Shell::Dialog::ExportSummaryCsv: export_text(m, dialog_, path); break;
    case Shell::Dialog::None: break;
  }
  dialog_ = Dialog::None;
}

// The file types a dialog lists beside folders.
std::vector<std::string> Shell::dialog_extensions(Dialog d) {
  switch (d) {
    case Dialog::OpenCapture:
    case Dialog::SaveCapture: return {".h5", ".hdf5"};
    case Dialog::OpenSpec:
    case Dialog::ExportTrace:
    case Dialog::ExportSummaryJson: return {".json"};
    case Dialog::ExportPanelPng:
    case Dialog::ExportWindowPng: return {".png"};
    case Dialog::ExportSummaryCsv: return {".csv"};
    case Dialog::None: break;
  }
  return {};
}


// The open/save dialog: the folder (editable, "..": up), its folders and matching files (a folder
// click enters it, a file double-click picks it), the name, OK and Cancel.
void Shell::file_dialog(Model& m) {
  if (dialog_ == Dialog::None) return;
  const char* title = dialog_title(static_cast<int>(dialog_));
  if (dialog_open_request_) {
    ImGui::OpenPopup(title);
    dialog_open_request_ = false;
  }
  ImGui::SetNextWindowSize(ImVec2(640, 460), ImGuiCond_Appearing);
  bool open = true;
  if (!ImGui::BeginPopupModal(title, &open)) {
    if (!open) dialog_ = Dialog::None;
    return;
  }
  if (dialog_listed_ != dialog_dir_) list_dialog_dir();
  ImGui::SetNextItemWidth(-1);
  ImGui::InputText("##dir", &dialog_dir_);
  if (ImGui::Button("..")) dialog_dir_ = fs::path(dialog_dir_).parent_path().string();
  ImGui::BeginChild("entries", ImVec2(0, -ImGui::GetFrameHeightWithSpacing() * 2), true);
  const std::string picked = dialog_entry_list(m);
  ImGui::EndChild();
  if (!picked.empty()) {  // a file double-clicked
    finish_dialog(m, picked);
    ImGui::CloseCurrentPopup();
    ImGui::EndPopup();
    return;
  }
  ImGui::SetNextItemWidth(-160);
  const bool enter = ImGui::InputText("##name", &dialog_name_, ImGuiInputTextFlags_EnterReturnsTrue);
  ImGui::SameLine();
  if ((ImGui::Button("OK", ImVec2(70, 0)) || enter) && !dialog_name_.empty()) {
    const fs::path p(dialog_name_);
    finish_dialog(m, p.is_absolute() ? p.string() : (fs::path(dialog_dir_) / p).string());
    ImGui::CloseCurrentPopup();
  }
  ImGui::SameLine();
  if (ImGui::Button("Cancel", ImVec2(70, 0))) {
    dialog_ = Dialog::None;
    ImGui::CloseCurrentPopup();
  }
  ImGui::EndPopup();
}

// The dialog's folder listed once per folder change: folders first, then the files it is for,
// hidden entries left out.
void Shell::list_dialog_dir() {
  dialog_listed_ = dialog_dir_;
  dialog_entries_.clear();
  const std::vector<std::string> exts = dialog_extensions(dialog_);
  std::error_code ec;
  for (fs::directory_iterator it(dialog_dir_, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string n = it->path().filename().string();
    if (!n.empty() && n[0] == '.') continue;
    const bool dir = it->is_directory(ec);
    std::string e = it->path().extension().string();
    std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return std::tolower(c); });
    if (!dir && !exts.empty() && std::find(exts.begin(), exts.end(), e) == exts.end()) continue;
    dialog_entries_.push_back({n, dir});
  }
  std::sort(dialog_entries_.begin(), dialog_entries_.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second : a.first < b.first;
  });
}

// The entries as selectables (each a region the GUI tests click); the path of a double-clicked
// file, else "".
std::string Shell::dialog_entry_list(Model& m) {
  const float f = ImGui::GetIO().DisplayFramebufferScale.x;
  for (const auto& [name, dir] : dialog_entries_) {
    const std::string label = dir ? "[" + name + "]" : name;
    const bool picked = ImGui::Selectable(label.c_str(), name == dialog_name_, ImGuiSelectableFlags_AllowDoubleClick);
    const ImVec2 a = ImGui::GetItemRectMin(), z = ImGui::GetItemRectMax();
    m.add_region({"dialog:entry:" + name, a.x * f, a.y * f, (z.x - a.x) * f, (z.y - a.y) * f, ""});
    if (!picked) continue;
    if (dir) {
      dialog_dir_ = (fs::path(dialog_dir_) / name).string();
      continue;
    }
    dialog_name_ = name;
    if (ImGui::IsMouseDoubleClicked(0)) return (fs::path(dialog_dir_) / dialog_name_).string();
  }
  return "";
}

void Shell::menu(Model& m) {
  if (!ImGui::BeginMenuBar()) return;
  if (ImGui::BeginMenu("File")) {
    if (ImGui::MenuItem("Open capture...", "Ctrl+O")) open_dialog(Dialog::OpenCapture, m);
    if (ImGui::MenuItem("Open spec / config.json...", "Ctrl+L")) open_dialog(Dialog::OpenSpec, m);
    if (ImGui::BeginMenu("Open recent", !m.settings.recent.empty())) {
      for (const auto& r : m.settings.recent)
        if (ImGui::MenuItem(r.c_str())) m.open_path(r);
      ImGui::Separator();
      if (ImGui::MenuItem("Clear list")) {
        m.settings.recent.clear();
        m.save_settings_now();
      }
      ImGui::EndMenu();
    }
    if (ImGui::MenuItem("Save capture as...", "Ctrl+S", false, m.doc.cap != nullptr)) open_dialog(Dialog::SaveCapture, m);
    ImGui::Separator();
    if (ImGui::BeginMenu("Export")) {
      if (ImGui::MenuItem("Panel as PNG...", "Ctrl+E")) open_dialog(Dialog::ExportPanelPng, m);
      if (ImGui::MenuItem("Window as PNG...")) open_dialog(Dialog::ExportWindowPng, m);
      if (ImGui::MenuItem("Chrome trace (.json)...", nullptr, false, m.doc.cap != nullptr)) open_dialog(Dialog::ExportTrace, m);
      if (ImGui::MenuItem("Summary (.json)...", nullptr, false, m.doc.cap != nullptr))
        open_dialog(Dialog::ExportSummaryJson, m);
      if (ImGui::MenuItem("Summary (.csv)...", nullptr, false, m.doc.cap != nullptr))
        open_dialog(Dialog::ExportSummaryCsv, m);
      ImGui::EndMenu();
    }
    ImGui::Separator();
    if (ImGui::MenuItem("Quit", "Ctrl+Q")) glfwSetWindowShouldClose(glfwGetCurrentContext(), GLFW_TRUE);
    ImGui::EndMenu();
  }
  if (ImGui::BeginMenu("Run")) {
    if (ImGui::MenuItem("Run layer", "Ctrl+R", false, m.jobs.can_start())) start_run(m);
    if (ImGui::MenuItem("Cancel", "Esc", false, m.jobs.busy())) m.jobs.cancel();
    ImGui::MenuItem("What-if for refused implementations", nullptr, &m.doc.what_if);
    ImGui::MenuItem("Probe fused kernels", nullptr, &m.doc.probe);
    ImGui::EndMenu();
  }
  if (ImGui::BeginMenu("View")) {
    for (const auto& v : views_) {
      int i = static_cast<int>(v->id());
      std::string sc = "Ctrl+" + std::to_string(i + 1);
      if (ImGui::MenuItem(v->title(), sc.c_str(), m.sel.panel == v->id())) {
        m.sel.panel = v->id();
        m.sel.panel_requested = true;
      }
    }
    ImGui::Separator();
    ImGui::MenuItem("Log scale maps", nullptr, &m.settings.log_scale);
    ImGui::MenuItem("Reference map", nullptr, &m.settings.show_reference_map);
    if (ImGui::MenuItem("Reset map zoom")) m.sel.view = MapViewport{};
    ImGui::EndMenu();
  }
  if (ImGui::BeginMenu("Help")) {
    if (ImGui::MenuItem("Keyboard shortcuts", "F1")) help_request_ = true;
    ImGui::EndMenu();
  }
  ImGui::EndMenuBar();
}

void Shell::shortcuts(Model& m) {
  ImGuiIO& io = ImGui::GetIO();
  if (io.WantTextInput) return;
  // ImGui 1.86 indexes keys by the GLFW backend's key codes.
  if (io.KeyCtrl) {
    if (ImGui::IsKeyPressed(GLFW_KEY_O, false)) open_dialog(Dialog::OpenCapture, m);
    if (ImGui::IsKeyPressed(GLFW_KEY_L, false)) open_dialog(Dialog::OpenSpec, m);
    if (ImGui::IsKeyPressed(GLFW_KEY_S, false) && m.doc.cap) open_dialog(Dialog::SaveCapture, m);
    if (ImGui::IsKeyPressed(GLFW_KEY_E, false)) open_dialog(Dialog::ExportPanelPng, m);
    if (ImGui::IsKeyPressed(GLFW_KEY_R, false) && m.jobs.can_start()) start_run(m);
    if (ImGui::IsKeyPressed(GLFW_KEY_Q, false)) glfwSetWindowShouldClose(glfwGetCurrentContext(), GLFW_TRUE);
    for (int i = 0; i < static_cast<int>(PanelId::Count); ++i)
      if (ImGui::IsKeyPressed(GLFW_KEY_1 + i, false)) {
        m.sel.panel = static_cast<PanelId>(i);
        m.sel.panel_requested = true;
      }
  }
  if (ImGui::IsKeyPressed(GLFW_KEY_ESCAPE, false) && m.jobs.busy()) m.jobs.cancel();
  if (ImGui::IsKeyPressed(GLFW_KEY_F1, false)) help_request_ = true;
}

void Shell::status_bar(Model& m) {
  GpuBackend& g = GpuBackend::instance();
  if (g.available())
    ImGui::TextColored(ImVec4(0.4f, 0.9f, 0.4f, 1), "GPU backend: %s", g.device().describe().c_str());
  else
    ImGui::TextColored(ImVec4(0.9f, 0.8f, 0.4f, 1), "CPU backend");
  if (!g.available() && ImGui::IsItemHovered()) ImGui::SetTooltip("GPU backend not loaded: %s", g.why_not().c_str());
  ImGui::SameLine(0, 24);
  if (m.doc.cap)
    ImGui::Text("capture: %s", m.doc.cap_path.empty() ? "(unsaved run)" : m.doc.cap_path.c_str());
  else
    ImGui::TextDisabled("no capture");
  if (Job* job = m.jobs.current()) {
    ImGui::SameLine(0, 24);
    std::string stage;
    {
      std::lock_guard<std::mutex> lock(job->mu);
      stage = job->stage;
    }
    ImGui::ProgressBar(static_cast<float>(job->progress.load()), ImVec2(220, 0), stage.c_str());
    {
      ImVec2 a = ImGui::GetItemRectMin(), z = ImGui::GetItemRectMax();
      const float f = ImGui::GetIO().DisplayFramebufferScale.x;
      m.add_region({"status:progress", a.x * f, a.y * f, (z.x - a.x) * f, (z.y - a.y) * f,
                    "\"fraction\": " + std::to_string(job->progress.load())});
    }
    ImGui::SameLine();
    if (ImGui::SmallButton(job->cancel ? "cancelling..." : "Cancel")) m.jobs.cancel();
    ImGui::SameLine();
    ImGui::TextDisabled("%s", job->what.c_str());
  } else if (!m.info.empty()) {
    ImGui::SameLine(0, 24);
    ImGui::TextDisabled("%s", m.info.c_str());
  }
  ImGui::SameLine(std::max(ImGui::GetCursorPosX() + 10, ImGui::GetWindowWidth() - 110));
  ImGui::TextDisabled("%.1f ms/frame", frame_ms);
}

void Shell::draw(Model& m) {
  shortcuts(m);
  const ImGuiViewport* vp = ImGui::GetMainViewport();
  ImGui::SetNextWindowPos(vp->WorkPos);
  ImGui::SetNextWindowSize(vp->WorkSize);
  ImGuiWindowFlags flags = ImGuiWindowFlags_NoDecoration | ImGuiWindowFlags_MenuBar |
                           ImGuiWindowFlags_NoBringToFrontOnFocus | ImGuiWindowFlags_NoSavedSettings |
                           ImGuiWindowFlags_NoMove;
  ImGui::PushStyleVar(ImGuiStyleVar_WindowRounding, 0);
  ImGui::Begin("attnscope", nullptr, flags);
  ImGui::PopStyleVar();
  menu(m);

  // Errors stay until dismissed.
  for (size_t i = 0; i < m.errors.size();) {
    ImGui::PushID(static_cast<int>(i));
    bool close = ImGui::SmallButton("x");
    ImGui::SameLine();
    ImGui::PushStyleColor(ImGuiCol_Text, ImVec4(1, 0.45f, 0.45f, 1));
    ImGui::TextWrapped("%s", m.errors[i].c_str());
    ImGui::PopStyleColor();
    ImGui::PopID();
    if (close)
      m.errors.erase(m.errors.begin() + static_cast<ptrdiff_t>(i));
    else
      ++i;
  }

  const float status_h = ImGui::GetFrameHeightWithSpacing() + 4;
  ImVec2 avail = ImGui::GetContentRegionAvail();
  float body_h = avail.y - status_h;
  layer_width_ = std::clamp(layer_width_, 260.0f, std::max(260.0f, avail.x * 0.5f));
  ImGui::BeginChild("layer", ImVec2(layer_width_, body_h), true);
  layer_.draw(m);
  ImGui::EndChild();
  ImGui::SameLine();
  ImGui::BeginChild("panels", ImVec2(0, body_h), false);
  // A panel switch asked for while drawing (a click in a panel) is applied on the next frame.
  const bool requested = m.sel.panel_requested;
  if (ImGui::BeginTabBar("panel_tabs")) {
    for (const auto& v : views_) {
      ImGuiTabItemFlags tf = (requested && m.sel.panel == v->id()) ? ImGuiTabItemFlags_SetSelected : 0;
      if (!ImGui::BeginTabItem(v->title(), nullptr, tf)) continue;
      if (!requested && !m.sel.panel_requested) m.sel.panel = v->id();
      ImVec2 p = ImGui::GetCursorScreenPos();
      ImVec2 a = ImGui::GetContentRegionAvail();
      ImGuiIO& io = ImGui::GetIO();
      m.panel_rect[0] = p.x * io.DisplayFramebufferScale.x;
      m.panel_rect[1] = p.y * io.DisplayFramebufferScale.y;
      m.panel_rect[2] = a.x * io.DisplayFramebufferScale.x;
      m.panel_rect[3] = a.y * io.DisplayFramebufferScale.y;
      ImGui::BeginChild(v->title(), ImVec2(0, 0), false);
      v->draw(m);
      ImGui::EndChild();
      ImGui::EndTabItem();
    }
    ImGui::EndTabBar();
  }
  if (requested) m.sel.panel_requested = false;
  ImGui::EndChild();
  ImGui::Separator();
  status_bar(m);
  file_dialog(m);
  if (help_request_) {
    ImGui::OpenPopup("Keyboard shortcuts");
    help_request_ = false;
  }
  if (ImGui::BeginPopupModal("Keyboard shortcuts", nullptr, ImGuiWindowFlags_AlwaysAutoResize)) {
    ImGui::TextUnformatted(kShortcuts);
    if (ImGui::Button("Close")) ImGui::CloseCurrentPopup();
    ImGui::EndPopup();
  }
  ImGui::End();
}

}  // namespace attnscope
