// `attnscope gui` options: what the shell opens, shows, runs and, in a scripted session, when it
// stops and what it writes.
#pragma once
#include <string>
#include <vector>

#include "app/gui_input_replay.h"

namespace attnscope {

struct GuiOptions {
  std::string file;            // a capture (.h5) or a layer spec / HF config.json
  // What the panels show.
  std::string panel;           // --panel: maps | divergence | probe | timeline | memory | diagnose
  int head = -1, batch = -1;   // -1: as the model starts
  std::string compare;         // "A,B": the divergence pair
  std::string tensor;          // out, dq, dk, dv, dsinks
  bool log = false;
  bool minus_ref = false;
  // What runs.
  int layer = 0;               // of a HF config.json
  bool run = false;
  bool no_run = false;
  std::string impls;           // comma-separated implementation names
  bool what_if = false;
  std::string gpu;             // judge verdicts against this named GPU
  std::string env;             // the Python environment for the Diagnose panel
  // A scripted session: how it ends and what it writes.
  std::string screenshot;
  int frames = 3;
  bool quit_after = false;     // --frames given
  int timeout_s = 120;         // --timeout: the bound of a --frames / --screenshot session
  int width = 1600, height = 1000;
  bool crop = false;
  bool bench = false;          // --bench-pan
  int bench_frames = 120;
  std::vector<InputEvent> input;
};

// The usage text of `attnscope gui --help`.
const char* gui_usage();
// Reads the arguments after "gui" into `o`; `help` is set for --help. "" or the problem.
std::string parse_gui_args(const std::vector<std::string>& args, GuiOptions* o, bool* help);

}  // namespace attnscope
