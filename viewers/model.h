// The GUI's shared model: the open capture, the layer being edited, selections shared by the
// panels (batch, head, zoom/pan, linked cursor), the one background job, messages and settings.
// Panels read and write it; they never hold pointers to each other.
#pragma once
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "capture/capture.h"
#include "kernels/inputs.h"
#include "viewers/map_texture.h"
#include "viewers/settings.h"

namespace attnscope {

enum class PanelId { Maps, Divergence, Probe, Timeline, Memory, Diagnose, Count };
const char* panel_name(PanelId p);         // "maps", "divergence", ...
bool parse_panel(const std::string& s, PanelId* out);

// Work off the UI thread (load, run, save): progress and cancel shared with the worker; the
// result is applied on the UI thread by `finish` once `done` is set.
struct Job {
  std::string what;
  std::thread thread;
  std::atomic<bool> cancel{false};
  std::atomic<bool> done{false};
  std::atomic<double> progress{0.0};
  std::mutex mu;
  std::string stage;                       // guarded by mu
  std::function<void(struct Model&)> finish;  // guarded by mu; set by the worker at its end
};

// A plot area drawn this frame, for the screenshot's sidecar JSON (tests read pixels inside).
struct Region {
  std::string name;   // "map:eager", "div:heatmap", "timeline:track:eager", "memory:bar:sdpa" ...
  float x = 0, y = 0, w = 0, h = 0;  // framebuffer pixels, origin top-left
  std::string json;   // extra fields as a JSON object body ("\"rows\":128,...") or ""
};

struct Model {
  Settings settings;
  std::string settings_path;   // "" = do not persist (headless runs)

  // The open capture; replaced as a whole (the panels rebuild what they cached on a new version).
  std::shared_ptr<const Capture> cap;
  std::string cap_path;
  uint64_t cap_version = 0;

  // Layer and run options being edited.
  LayerSpec spec;
  std::vector<std::string> layer_types;  // from the last HF config.json
  std::string config_path;
  int config_layer = 0;
  uint64_t config_spec_version = 0;      // spec_version right after the config was loaded
  uint64_t seed = 1;
  Distribution dist = Distribution::Normal;
  std::string inputs_path;
  bool impl_on[4] = {true, true, true, true};  // eager, sdpa, flash2, sink
  int sdpa_backend = 0;                         // 0 auto, 1 flash, 2 efficient, 3 math, 4 cudnn
  bool what_if = false;
  bool force_cpu = false;
  bool probe = false;
  ProbeSpec probe_spec;
  uint64_t spec_version = 1;                    // bumped on every edit (verdicts recomputed)

  // Selections shared by the panels.
  int batch = 0, head = 0;
  MapViewport view;                     // synchronised zoom and pan of every map
  bool maps_minus_reference = false;    // maps show P - P_fp64 (diverging colours)
  bool cursor_valid = false;            // linked cursor (query row, key column)
  int cursor_row = 0, cursor_col = 0;
  std::string div_a, div_b;             // divergence pair (run labels, "reference")
  std::string div_tensor = "out";       // what the divergence compares: "out", "dq", "dk", "dv", "dsinks"
  PanelId panel = PanelId::Maps;
  bool panel_requested = false;         // switch the tab bar to `panel` next frame

  // Messages: errors stay until dismissed; the info line is replaced.
  std::vector<std::string> errors;
  std::string info;

  std::unique_ptr<Job> job;
  std::vector<Region> regions;          // cleared every frame
  float panel_rect[4] = {0, 0, 0, 0};   // x, y, w, h of the current panel's area this frame
  std::string png_request;              // File > Export PNG: written after this frame renders
  bool png_panel_only = true;

  // Background work. Each returns false (with a message) when a job is already running.
  bool start_load(const std::string& path);
  bool start_run();
  bool start_save(const std::string& path);
  void cancel_job();
  bool busy() const { return job != nullptr; }
  // Joins a finished job and applies its result (UI thread, once per frame).
  void poll();
  // Opens a spec (attnscope JSON) or a HuggingFace config.json; "" or the error.
  std::string open_spec(const std::string& path, int layer);
  // Routes a dropped or recent path by extension.
  void open_path(const std::string& path);
  void set_capture(std::shared_ptr<const Capture> c, const std::string& path);
  void add_error(const std::string& e);
  void save_settings_now();
  // Center the maps on query row `row` (and head) at a readable zoom.
  void focus_row(int b, int h, int64_t row);
  std::vector<std::string> selected_impls() const;
  DeviceInfo verdict_device(std::string* why) const;
  void add_region(Region r) { regions.push_back(std::move(r)); }
};

}  // namespace attnscope
