#include "app/gui_args.h"

#include <cstdio>
#include <optional>

#include "kernels/device.h"
#include "kernels/result.h"
#include "viewers/model.h"

namespace attnscope {
namespace {

const char* const kUsage =
    "usage: attnscope gui [CAPTURE.h5 | SPEC.json | config.json] [options]\n"
    "\n"
    "The desktop workbench: layer editor and verdicts, attention maps, divergence, probe,\n"
    "timeline, memory and diagnose panels over a capture.\n"
    "\n"
    "options:\n"
    "  --panel P          open on panel P: maps | divergence | probe | timeline | memory | diagnose\n"
    "  --screenshot FILE  render, write the window as PNG (plus FILE.json: the plot regions) and exit\n"
    "  --frames N         frames rendered before the screenshot once loading is done (default 3);\n"
    "                     without --screenshot: quit after N frames (settings are saved)\n"
    "  --timeout S        a --frames/--screenshot session gives up after S seconds (default 120),\n"
    "                     naming what it still waited for, with exit status 3\n"
    "  --size WxH         window size (default 1600x1000)\n"
    "  --crop-panel       the screenshot holds the panel area only\n"
    "  --head H, --batch B     select a head / batch element\n"
    "  --compare A,B      divergence pair (run labels or 'reference')\n"
    "  --tensor T         what the divergence compares: out (default), dq, dk, dv, dsinks\n"
    "  --log              log-scale attention maps and divergence heatmaps\n"
    "  --minus-reference  maps show P - P_fp64 with a diverging colormap\n"
    "  --layer N          layer of a HF config.json\n"
    "  --run              run the layer (a spec/config given, else the default) on start; with no\n"
    "                     file at all the default layer runs anyway (the panels fill as it goes)\n"
    "  --no-run           with no file: start with the default layer set up and nothing run\n"
    "  --impl LIST        implementations for --run (eager,sdpa,flash2,sink)\n"
    "  --what-if          with --run: run refused implementations with the feature dropped\n"
    "  --gpu NAME         judge verdicts against a named GPU (T4, A100, H100, sm75, ...)\n"
    "  --env FILE         the Python environment for the Diagnose panel (scripts/attnscope-env.py)\n"
    "  --input SCRIPT     headless: input events, one a frame: 'settle;move:X,Y;wheel:N;down;up;\n"
    "                     click;esc;wait:FRAMES;drop:FILE;png:FILE' (settle: until loading is done;\n"
    "                     window pixels; drop: FILE dropped on the window; png: this frame as\n"
    "                     FILE (+ FILE.json), whatever is still running)\n"
    "  --bench-pan        pan a 4k x 4k and a 16k x 16k map and print ms/frame (GPU time incl. glFinish)\n"
    "  --bench-frames N   frames per benchmark phase (default 120)\n"
    "  --help             this text\n"
    "\n"
    "Settings and recent files: $XDG_CONFIG_HOME/attnscope (headless runs leave them alone).\n";

// The arguments being read: the option at `i`, and its value after it.
struct ArgReader {
  const std::vector<std::string>& a;
  size_t i = 0;
  bool value(std::string* out) {
    if (i + 1 >= a.size()) return false;
    *out = a[++i];
    return true;
  }
  bool number(int* out) {
    std::string v;
    if (!value(&v)) return false;
    try {
      *out = std::stoi(v);
    } catch (const std::exception&) {
      return false;
    }
    return true;
  }
};

// Each group below answers for its own options: nullopt when `s` is not one of them, else "" or
// the problem.
using Parsed = std::optional<std::string>;

Parsed parse_view_option(const std::string& s, ArgReader& r, GuiOptions* o) {
  if (s == "--panel") {
    if (!r.value(&o->panel)) return "--panel needs a value";
    PanelId p;
    if (!parse_panel(o->panel, &p))
      return "--panel: unknown panel '" + o->panel + "' (maps, divergence, probe, timeline, memory, diagnose)";
  } else if (s == "--head") {
    if (!r.number(&o->head)) return "--head needs a number";
  } else if (s == "--batch") {
    if (!r.number(&o->batch)) return "--batch needs a number";
  } else if (s == "--tensor") {
    if (!r.value(&o->tensor)) return "--tensor needs out, dq, dk, dv or dsinks";
    if (o->tensor != "out" && !gradient(Gradients{}, o->tensor))
      return "--tensor: expected out, dq, dk, dv or dsinks, got '" + o->tensor + "'";
  } else if (s == "--compare") {
    if (!r.value(&o->compare) || o->compare.find(',') == std::string::npos) return "--compare needs A,B";
  } else if (s == "--log") {
    o->log = true;
  } else if (s == "--minus-reference") {
    o->minus_ref = true;
  } else {
    return std::nullopt;
  }
  return "";
}

Parsed parse_run_option(const std::string& s, ArgReader& r, GuiOptions* o) {
  if (s == "--layer") {
    if (!r.number(&o->layer) || o->layer < 0) return "--layer needs a number >= 0";
  } else if (s == "--run") {
    o->run = true;
  } else if (s == "--no-run") {
    o->no_run = true;
  } else if (s == "--impl") {
    if (!r.value(&o->impls)) return "--impl needs a list";
  } else if (s == "--what-if") {
    o->what_if = true;
  } else if (s == "--gpu") {
    if (!r.value(&o->gpu)) return "--gpu needs a name";
    if (!named_gpu(o->gpu)) return "--gpu: unknown GPU '" + o->gpu + "'";
  } else if (s == "--env") {
    if (!r.value(&o->env)) return "--env needs a file (written by scripts/attnscope-env.py)";
  } else {
    return std::nullopt;
  }
  return "";
}

Parsed parse_session_option(const std::string& s, ArgReader& r, GuiOptions* o) {
  std::string v;
  if (s == "--screenshot") {
    if (!r.value(&o->screenshot)) return "--screenshot needs a file";
  } else if (s == "--frames") {
    if (!r.number(&o->frames) || o->frames < 1) return "--frames needs a positive number";
    o->quit_after = true;
  } else if (s == "--timeout") {
    if (!r.number(&o->timeout_s) || o->timeout_s < 1) return "--timeout needs a number of seconds >= 1";
  } else if (s == "--size") {
    if (!r.value(&v) || std::sscanf(v.c_str(), "%dx%d", &o->width, &o->height) != 2 || o->width < 200 ||
        o->height < 150 || o->width > 16384 || o->height > 16384)
      return "--size needs WxH (at least 200x150), got '" + v + "'";
  } else if (s == "--crop-panel") {
    o->crop = true;
  } else if (s == "--bench-pan") {
    o->bench = true;
  } else if (s == "--input") {
    if (!r.value(&v)) return "--input needs a script";
    std::string e = parse_input_script(v, &o->input);
    if (!e.empty()) return "--input: " + e;
  } else if (s == "--bench-frames") {
    if (!r.number(&o->bench_frames) || o->bench_frames < 2) return "--bench-frames needs a number >= 2";
  } else {
    return std::nullopt;
  }
  return "";
}

}  // namespace

const char* gui_usage() { return kUsage; }

std::string parse_gui_args(const std::vector<std::string>& args, GuiOptions* o, bool* help) {
  for (ArgReader r{args}; r.i < args.size(); ++r.i) {
    const std::string& s = args[r.i];
    if (s == "--help" || s == "-h") {
      *help = true;
      continue;
    }
    Parsed p = parse_view_option(s, r, o);
    if (!p) p = parse_run_option(s, r, o);
    if (!p) p = parse_session_option(s, r, o);
    if (p && !p->empty()) return *p;
    if (p) continue;
    if (!s.empty() && s[0] == '-') return "unknown option '" + s + "'";
    if (!o->file.empty()) return "more than one file given ('" + o->file + "', '" + s + "')";
    o->file = s;
  }
  return "";
}

}  // namespace attnscope
