// The desktop GUI's entry point, called by app/main.cpp for `attnscope gui ...` (and for no verb
// where there is a display): the GLFW window, the OpenGL context and the ImGui frame loop around
// viewers/' Shell.
#pragma once
#include <string>
#include <vector>

namespace attnscope {

// args: the arguments after "gui". Returns the process exit status (0 ok, 1 bad usage or no
// display, 2 a headless screenshot could not be made, 3 a --frames/--screenshot session ran past
// its --timeout).
int run_gui(const std::vector<std::string>& args);

}  // namespace attnscope
