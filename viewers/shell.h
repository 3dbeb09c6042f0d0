// The main window: menu bar (File, Run, View, Help), messages, the layer column, the panel tabs,
// the status bar (backend, device, capture, job progress with cancel), the file dialog and the
// keyboard shortcuts.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "viewers/layer_view.h"
#include "viewers/model.h"
#include "viewers/view.h"

namespace attnscope {

class Shell {
 public:
  Shell();
  void draw(Model& m);
  // True while a panel or the model has background work in flight.
  bool pending(const Model& m) const { return !busy_with(m).empty(); }
  // What is in flight ("loading cap.h5", "Attention maps panel"), "" when nothing is.
  std::string busy_with(const Model& m) const;
  double frame_ms = 0;  // shown in the status bar (set by the main loop)

 private:
  enum class Dialog { None, OpenCapture, OpenSpec, SaveCapture, ExportPanelPng, ExportWindowPng, ExportTrace,
                      ExportSummaryJson, ExportSummaryCsv };
  void menu(Model& m);
  void shortcuts(Model& m);
  void status_bar(Model& m);
  void file_dialog(Model& m);
  static std::vector<std::string> dialog_extensions(Dialog d);
  void list_dialog_dir();
  std::string dialog_entry_list(Model& m);
  void open_dialog(Dialog d, const Model& m);
  void finish_dialog(Model& m, const std::string& path);
  void export_text(Model& m, Dialog d, const std::string& path);

  std::vector<std::unique_ptr<View>> views_;
  LayerView layer_;
  Dialog dialog_ = Dialog::None;
  bool dialog_open_request_ = false;
  std::string dialog_dir_, dialog_name_;
  std::vector<std::pair<std::string, bool>> dialog_entries_;  // name, is_dir
  std::string dialog_listed_;
  bool help_request_ = false;
  float layer_width_ = 400;
};

}  // namespace attnscope
