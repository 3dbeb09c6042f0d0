// `attnscope gui --input SCRIPT`: input events replayed one a frame in a headless session, so
// tests can drive zoom, pan, clicks, dropped files and mid-run screenshots.
#pragma once
#include <cfloat>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include <imgui.h>

namespace attnscope {

struct Model;

// One scripted event. The script's items, separated by ';', coordinates in window pixels:
//   move:X,Y  wheel:N  down  up  click (down then up)  esc (the Escape key)  wait:FRAMES
//   settle (until loading and background work are done)  drop:FILE (FILE dropped on the window)
//   png:FILE (this frame, mid-run or not, as FILE and FILE.json)
struct InputEvent {
  enum Kind { Move, Wheel, Down, Up, Settle, Wait, Escape, Drop, Png } kind = Move;
  float x = 0, y = 0;  // Move: the pointer; Wheel: the notches; Wait: the frames
  std::string path;    // Drop, Png
};

// Appends the script's events to `out`; "" or what could not be read.
std::string parse_input_script(const std::string& text, std::vector<InputEvent>* out);

// Feeds a script to ImGui, one event a frame ('settle' and 'wait' hold the script until they are
// met); once it is done the pointer leaves the window, so no tooltip lands in a screenshot.
class InputReplay {
 public:
  explicit InputReplay(std::vector<InputEvent> script) : script_(std::move(script)) {}

  // Before ImGui::NewFrame: this frame's event into `io`; a drop is appended to `dropped` (opened
  // next frame, as GLFW's drop callback would), a png asks the model for this frame.
  void feed(ImGuiIO& io, Model& m, std::vector<std::string>* dropped);
  // After the frame: whether background work was in flight ('settle' waits for two quiet frames).
  void frame_done(bool busy) { quiet_frames_ = busy ? 0 : quiet_frames_ + 1; }
  bool finished() const { return next_ >= script_.size(); }
  // The 1-based number of the event the script waits on (for a timeout's message).
  size_t waiting_on() const { return next_ + 1; }
  // True when the model's pending PNG request came from a png:FILE event; cleared by the call.
  bool take_png_request() { return std::exchange(png_requested_, false); }

 private:
  std::vector<InputEvent> script_;
  size_t next_ = 0;
  ImVec2 mouse_{-FLT_MAX, -FLT_MAX};
  bool mouse_down_ = false;
  int quiet_frames_ = 0, wait_frames_ = 0;
  bool png_requested_ = false;
};

}  // namespace attnscope
