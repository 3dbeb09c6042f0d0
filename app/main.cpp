// attnscope: one attention layer under eager, sdpa, flash2 and sink, side by side.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "app/commands.h"
#include "kernels/gpu_backend.h"

#include "app/cmd_diagnose.h"
#ifdef ATTNSCOPE_HAVE_GUI
#include "app/gui_main.h"
#endif

namespace {

constexpr const char* kUsage = R"(attnscope - one attention layer, every implementation, side by side

usage: attnscope [VERB] [options]       (attnscope VERB --help for a verb's options)

verbs:
  run            run eager, sdpa, flash2, sink (+ fp64 reference) on a layer, write a capture .h5
  report         summarise a capture: verdicts, timings, divergence, acceptance (--json)
  diff           compare two runs (of one capture or two captures)
  diagnose       why an implementation will (not) run here or on a named GPU, and the fix
  export-trace   Chrome/Perfetto trace JSON of a capture's kernels and spans
  bench          time implementations over sequence lengths, with ratios
  gui            the desktop workbench (default with no verb where there is a display)

With no verb: the GUI where there is a display, otherwise a capture of the embedded default
sample (GPT-OSS-20B sliding layer, 512 tokens) and its report.
)";

}  // namespace

int main(int argc, char** argv) {
  using namespace attnscope;
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || (args[0].size() > 1 && args[0][0] == '-' && args[0] != "--help" && args[0] != "-h" &&
                       args[0] != "--version")) {
#ifdef ATTNSCOPE_HAVE_GUI
    const char* display = std::getenv("DISPLAY");
    const char* wayland = std::getenv("WAYLAND_DISPLAY");
    if ((display && *display) || (wayland && *wayland)) return run_gui(args);
#endif
    return cmd_default_job(args);
  }
  const std::string verb = args[0];
  ArgList rest(args.begin() + 1, args.end());
  if (verb == "--help" || verb == "-h" || verb == "help") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (verb == "--version") {
    std::printf("attnscope %s\n", ATTNSCOPE_VERSION);
    return 0;
  }
  if (verb == "run") return cmd_run(rest);
  if (verb == "report") return cmd_report(rest);
  if (verb == "diff") return cmd_diff(rest);
  if (verb == "export-trace") return cmd_export_trace(rest);
  if (verb == "bench") return cmd_bench(rest);
  if (verb == "diagnose") {
    return cmd_diagnose(rest);
  }
  if (verb == "gui") {
#ifdef ATTNSCOPE_HAVE_GUI
    return run_gui(rest);
#else
    std::fputs("attnscope gui: this build has no GUI (GLFW/Dear ImGui were not found at configure time); "
               "use report/export-trace, or open the capture on a machine with a display\n", stderr);
    return 2;
#endif
  }
  std::fprintf(stderr, "attnscope: unknown verb '%s'\n\n%s", verb.c_str(), kUsage);
  return 2;
}
