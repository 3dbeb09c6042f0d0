#include "viewers/environment_header.h"

#include <imgui.h>

#include <nlohmann/json.hpp>

namespace attnscope {

void environment_header(Model& m) {
  if (!m.doc.cap || m.doc.cap->env.gpu.empty()) return;
  const auto lines = environment_lines(m.doc.cap->env.gpu);
  // Closed: the lines that decide how fast a kernel can run, in one row.
  std::string summary;
  nlohmann::json fields = nlohmann::json::object();
  for (const auto& [label, value] : lines) {
    fields[label] = value;
    if (label == "GPU" || label == "SM clock at start" || label == "driver" || label == "CUDA runtime")
      summary += (summary.empty() ? "" : "  |  ") + (label == "GPU" ? value : label + " " + value);
  }
  const ImVec2 p = ImGui::GetCursorScreenPos();
  const bool open = ImGui::TreeNodeEx("gpu_environment", ImGuiTreeNodeFlags_SpanAvailWidth, "GPU environment: %s",
                                      summary.c_str());
  const float fs = ImGui::GetIO().DisplayFramebufferScale.x;
  m.add_region({"environment", p.x * fs, p.y * fs, ImGui::GetContentRegionAvail().x * fs,
                ImGui::GetFrameHeight() * fs, "\"open\":" + std::string(open ? "true" : "false") +
                                                  ",\"lines\":" + fields.dump(-1, ' ', false,
                                                                              nlohmann::json::error_handler_t::replace)});
  if (!open) return;
  if (ImGui::BeginTable("environment_lines", 2, ImGuiTableFlags_SizingFixedFit | ImGuiTableFlags_RowBg)) {
    for (const auto& [label, value] : lines) {
      ImGui::TableNextRow();
      ImGui::TableNextColumn();
      ImGui::TextDisabled("%s", label.c_str());
      ImGui::TableNextColumn();
      ImGui::TextUnformatted(value.c_str());
    }
    ImGui::EndTable();
  }
  ImGui::TreePop();
}

}  // namespace attnscope
