// The GUI's shared model: the document (open capture, layer being edited), the selection shared by
// the panels, the background jobs, and beside them the settings, the messages and what this frame
// drew for the screenshot. Panels read and write it; they never hold pointers to each other.
// Its own functions are the steps that touch more than one part (a capture arriving resets the
// selection and goes into the recent files).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "viewers/document.h"
#include "viewers/jobs.h"
#include "viewers/selection.h"
#include "viewers/settings.h"

namespace attnscope {

// A plot area drawn this frame, for the screenshot's sidecar JSON (tests read pixels inside).
struct Region {
  std::string name;   // "map:eager", "div:heatmap", "timeline:track:eager", "memory:bar:sdpa" ...
  float x = 0, y = 0, w = 0, h = 0;  // framebuffer pixels, origin top-left
  std::string json;   // extra fields as a JSON object body ("\"rows\":128,...") or ""
};

struct Model {
  Document doc;
  Selection sel;
  Jobs jobs;

  Settings settings;
  std::string settings_path;   // "" = do not persist (headless runs)

  // Messages: errors stay until dismissed; the info line is replaced.
  std::vector<std::string> errors;
  std::string info;

  // This frame's output.
  std::vector<Region> regions;          // cleared every frame
  float panel_rect[4] = {0, 0, 0, 0};   // x, y, w, h of the current panel's area this frame
  std::string png_request;              // File > Export PNG: written after this frame renders
  bool png_panel_only = true;

  // Opens a spec (attnscope JSON) or a HuggingFace config.json; "" or the error.
  std::string open_spec(const std::string& path, int layer);
  // Routes a dropped or recent path by extension.
  void open_path(const std::string& path);
  void set_capture(std::shared_ptr<const Capture> c, const std::string& path);
  // A running session's results so far (no path, no recent-files entry; the view stays put).
  void show_partial(std::shared_ptr<const Capture> c, bool first);
  // Center the maps on query row `row` (and head) at a readable zoom.
  void focus_row(int b, int h, int64_t row);
  DeviceInfo verdict_device(std::string* why) const { return doc.verdict_device(settings.verdict_gpu, why); }
  void add_error(const std::string& e);
  void save_settings_now();
  void add_region(Region r) { regions.push_back(std::move(r)); }
};

}  // namespace attnscope
