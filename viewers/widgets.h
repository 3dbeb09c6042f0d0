// Small drawing helpers shared by the panels: the interactive map widget (zoom with the wheel
// around the cursor, drag to pan, double-click to reset; the viewport is shared so every map
// follows), a colour bar, severity colours, byte/time formatting and a background value.
#pragma once
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <imgui.h>

#include "kernels/verdict.h"
#include "viewers/map_texture.h"

namespace attnscope {

struct MapHit {
  bool hovered = false;
  int row = 0, col = 0;        // data cell under the mouse
  bool clicked = false;
  ImVec2 p0, p1;               // the drawn rectangle
};

// Draws `tex` into a size.x x size.y box at the cursor. With `vp_edit` the mouse zooms/pans it.
MapHit map_widget(const char* id, MapTexture& tex, ImVec2 size, const MapViewport& vp,
                  MapViewport* vp_edit);
// Crosshair at a data cell on a drawn map.
void draw_cursor(ImDrawList* dl, const MapHit& h, const MapViewport& vp, int rows, int cols, int row,
                 int col);
// Horizontal colour bar with min / max labels.
void color_bar(const ColorScale& s, float width, const char* unit);

ImVec4 severity_color(Severity s);
void verdict_lines(const Verdict& v);   // one coloured line per reason (with its source)
std::string fmt_bytes(double b);
std::string fmt_us(double us);
std::string fmt_g(double v, int prec = 3);
ImU32 name_color(const std::string& name);  // stable colour per kernel/span name

// A value computed on a worker thread; the UI polls it every frame. Starting a new one abandons
// the old (its thread finishes on its own and its result is dropped).
template <class T>
class Background {
 public:
  void start(std::function<T()> f) {
    auto st = std::make_shared<State>();
    state_ = st;
    std::thread([st, f = std::move(f)]() mutable {
      T v = f();
      std::lock_guard<std::mutex> lock(st->mu);
      st->value = std::make_shared<T>(std::move(v));
    }).detach();
  }
  // The finished value once (then nullptr), or nullptr while running / idle.
  std::shared_ptr<T> take() {
    if (!state_) return nullptr;
    std::lock_guard<std::mutex> lock(state_->mu);
    if (!state_->value) return nullptr;
    auto v = std::move(state_->value);
    state_.reset();
    return v;
  }
  // Started and not yet taken: the owner's bookkeeping (one build at a time).
  bool running() const { return state_ != nullptr; }
  // The worker has not finished. What "pending" means to a headless run: a finished value that
  // is never taken (its panel is not drawn, e.g. a tab left on the first frame) is not work.
  bool computing() const {
    if (!state_) return false;
    std::lock_guard<std::mutex> lock(state_->mu);
    return !state_->value;
  }

 private:
  struct State {
    std::mutex mu;
    std::shared_ptr<T> value;
  };
  std::shared_ptr<State> state_;
};

}  // namespace attnscope
