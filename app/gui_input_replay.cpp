#include "app/gui_input_replay.h"

#include <GLFW/glfw3.h>

#include <cstdio>

#include "viewers/model.h"

namespace attnscope {

std::string parse_input_script(const std::string& text, std::vector<InputEvent>* out) {
  size_t p = 0;
  while (p <= text.size()) {
    size_t q = text.find(';', p);
    std::string item = text.substr(p, q == std::string::npos ? std::string::npos : q - p);
    p = q == std::string::npos ? text.size() + 1 : q + 1;
    if (item.empty()) continue;
    InputEvent e;
    float a = 0, b = 0;
    if (std::sscanf(item.c_str(), "move:%f,%f", &a, &b) == 2) {
      e.kind = InputEvent::Move, e.x = a, e.y = b;
    } else if (std::sscanf(item.c_str(), "wheel:%f", &a) == 1) {
      e.kind = InputEvent::Wheel, e.x = a;
    } else if (item == "down") {
      e.kind = InputEvent::Down;
    } else if (item == "up") {
      e.kind = InputEvent::Up;
    } else if (item == "settle") {
      e.kind = InputEvent::Settle;
    } else if (std::sscanf(item.c_str(), "wait:%f", &a) == 1) {
      e.kind = InputEvent::Wait, e.x = a;
    } else if (item == "esc") {
      e.kind = InputEvent::Escape;
    } else if (item.rfind("drop:", 0) == 0 && item.size() > 5) {
      e.kind = InputEvent::Drop;
      e.path = item.substr(5);
    } else if (item.rfind("png:", 0) == 0 && item.size() > 4) {
      e.kind = InputEvent::Png;
      e.path = item.substr(4);
    } else if (item == "click") {
      out->push_back({InputEvent::Down, 0, 0, ""});
      e.kind = InputEvent::Up;
    } else {
      return "cannot read '" + item + "' (move:X,Y wheel:N down up click esc wait:FRAMES settle drop:FILE png:FILE)";
    }
    out->push_back(e);
  }
  return "";
}

void InputReplay::feed(ImGuiIO& io, Model& m, std::vector<std::string>* dropped) {
  io.KeysDown[GLFW_KEY_ESCAPE] = false;  // ImGui 1.86 indexes keys by the GLFW backend's codes
  if (!finished()) {
    const InputEvent& e = script_[next_];
    bool done = true;
    if (e.kind == InputEvent::Move) mouse_ = ImVec2(e.x, e.y);
    if (e.kind == InputEvent::Wheel) io.MouseWheel = e.x;
    if (e.kind == InputEvent::Down) mouse_down_ = true;
    if (e.kind == InputEvent::Up) mouse_down_ = false;
    if (e.kind == InputEvent::Escape) io.KeysDown[GLFW_KEY_ESCAPE] = true;
    if (e.kind == InputEvent::Png) {
      m.png_request = e.path;
      m.png_panel_only = false;
      png_requested_ = true;
    }
    if (e.kind == InputEvent::Drop) {
      dropped->push_back(e.path);
      quiet_frames_ = 0;  // a 'settle' after it waits for that load
    }
    if (e.kind == InputEvent::Settle) done = quiet_frames_ >= 2;
    if (e.kind == InputEvent::Wait) done = ++wait_frames_ >= static_cast<int>(e.x);
    if (done) {
      ++next_;
      wait_frames_ = 0;
    }
  } else if (!mouse_down_) {
    mouse_ = ImVec2(-FLT_MAX, -FLT_MAX);
  }
  io.MousePos = mouse_;
  io.MouseDown[0] = mouse_down_;
}

}  // namespace attnscope
