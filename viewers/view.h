// One panel = one class: it keeps its own state and draws into the area the shell gives it.
// All panels are created in one place (make_views, views.cpp).
#pragma once
#include <memory>
#include <vector>

#include "viewers/model.h"

namespace attnscope {

class View {
 public:
  virtual ~View() = default;
  virtual PanelId id() const = 0;
  virtual const char* title() const = 0;
  // Draws the panel's content into the current window region.
  virtual void draw(Model& m) = 0;
  // True while background work this panel started is not finished (headless runs wait for it).
  virtual bool pending() const { return false; }
};

std::vector<std::unique_ptr<View>> make_views();

}  // namespace attnscope
