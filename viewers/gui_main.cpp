// run_gui: options, the GLFW window and GL context, the ImGui frame loop, headless screenshots
// (`--screenshot`) and the pan benchmark (`--bench-pan`).
#include "viewers/gui.h"

#include <GLFW/glfw3.h>
#include <imgui.h>
#include <imgui_impl_glfw.h>
#include <imgui_impl_opengl3.h>

#define GL_GLEXT_PROTOTYPES 1
#include <GL/gl.h>

#include <algorithm>
#include <chrono>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include "capture/spec_io.h"
#include "viewers/model.h"
#include "viewers/screenshot.h"
#include "viewers/session_deadline.h"
#include "viewers/shell.h"
#include "viewers/widgets.h"

namespace attnscope {
namespace {

const char* kUsage =
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
    "  --run              run the layer (a spec/config given, else the default) on start\n"
    "  --impl LIST        implementations for --run (eager,sdpa,flash2,sink)\n"
    "  --what-if          with --run: run refused implementations with the feature dropped\n"
    "  --gpu NAME         judge verdicts against a named GPU (T4, A100, H100, sm75, ...)\n"
    "  --env FILE         the Python environment for the Diagnose panel (scripts/attnscope-env.py)\n"
    "  --input SCRIPT     headless: input events, one a frame: 'settle;move:X,Y;wheel:N;down;up;\n"
    "                     click;esc;wait:FRAMES' (settle: until loading is done; window pixels)\n"
    "  --bench-pan        pan a 4k x 4k and a 16k x 16k map and print ms/frame (GPU time incl. glFinish)\n"
    "  --bench-frames N   frames per benchmark phase (default 120)\n"
    "  --help             this text\n"
    "\n"
    "Settings and recent files: $XDG_CONFIG_HOME/attnscope (headless runs leave them alone).\n";

// --input: mouse events replayed one per frame in a headless run (tests drive zoom, pan, clicks):
//   move:X,Y  wheel:N  down  up  click (down then up)  esc (the Escape key)  wait:FRAMES
//   settle (until loading and background work are done)   separated by ';', window pixels.
struct InputEvent {
  enum Kind { Move, Wheel, Down, Up, Settle, Wait, Escape } kind = Move;
  float x = 0, y = 0;
};

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
    } else if (item == "click") {
      out->push_back({InputEvent::Down, 0, 0});
      e.kind = InputEvent::Up;
    } else {
      return "cannot read '" + item + "' (move:X,Y wheel:N down up click esc wait:FRAMES settle)";
    }
    out->push_back(e);
  }
  return "";
}

struct Options {
  std::string file;
  std::string panel;
  std::string screenshot;
  int frames = 3;
  bool quit_after = false;  // --frames given
  int timeout_s = 120;      // --timeout: the bound of a --frames / --screenshot session
  int width = 1600, height = 1000;
  bool crop = false;
  int head = -1, batch = -1;
  std::string compare;
  std::string tensor;
  bool log = false;
  bool minus_ref = false;
  int layer = 0;
  bool run = false;
  std::string impls;
  bool what_if = false;
  std::string gpu;
  std::string env;
  bool bench = false;
  int bench_frames = 120;
  std::vector<InputEvent> input;
};

std::string parse(const std::vector<std::string>& a, Options* o, bool* help) {
  for (size_t i = 0; i < a.size(); ++i) {
    const std::string& s = a[i];
    auto val = [&](std::string* out) -> bool {
      if (i + 1 >= a.size()) return false;
      *out = a[++i];
      return true;
    };
    auto ival = [&](int* out) -> bool {
      std::string v;
      if (!val(&v)) return false;
      try {
        *out = std::stoi(v);
      } catch (const std::exception&) {
        return false;
      }
      return true;
    };
    std::string v;
    if (s == "--help" || s == "-h") {
      *help = true;
    } else if (s == "--panel") {
      if (!val(&o->panel)) return "--panel needs a value";
      PanelId p;
      if (!parse_panel(o->panel, &p))
        return "--panel: unknown panel '" + o->panel + "' (maps, divergence, probe, timeline, memory, diagnose)";
    } else if (s == "--screenshot") {
      if (!val(&o->screenshot)) return "--screenshot needs a file";
    } else if (s == "--frames") {
      if (!ival(&o->frames) || o->frames < 1) return "--frames needs a positive number";
      o->quit_after = true;
    } else if (s == "--timeout") {
      if (!ival(&o->timeout_s) || o->timeout_s < 1) return "--timeout needs a number of seconds >= 1";
    } else if (s == "--size") {
      if (!val(&v) || std::sscanf(v.c_str(), "%dx%d", &o->width, &o->height) != 2 || o->width < 200 ||
          o->height < 150 || o->width > 16384 || o->height > 16384)
        return "--size needs WxH (at least 200x150), got '" + v + "'";
    } else if (s == "--crop-panel") {
      o->crop = true;
    } else if (s == "--head") {
      if (!ival(&o->head)) return "--head needs a number";
    } else if (s == "--batch") {
      if (!ival(&o->batch)) return "--batch needs a number";
    } else if (s == "--tensor") {
      if (!val(&o->tensor)) return "--tensor needs out, dq, dk, dv or dsinks";
      if (o->tensor != "out" && !gradient(Gradients{}, o->tensor))
        return "--tensor: expected out, dq, dk, dv or dsinks, got '" + o->tensor + "'";
    } else if (s == "--compare") {
      if (!val(&o->compare) || o->compare.find(',') == std::string::npos) return "--compare needs A,B";
    } else if (s == "--log") {
      o->log = true;
    } else if (s == "--minus-reference") {
      o->minus_ref = true;
    } else if (s == "--layer") {
      if (!ival(&o->layer) || o->layer < 0) return "--layer needs a number >= 0";
    } else if (s == "--run") {
      o->run = true;
    } else if (s == "--impl") {
      if (!val(&o->impls)) return "--impl needs a list";
    } else if (s == "--what-if") {
      o->what_if = true;
    } else if (s == "--gpu") {
      if (!val(&o->gpu)) return "--gpu needs a name";
      if (!named_gpu(o->gpu)) return "--gpu: unknown GPU '" + o->gpu + "'";
    } else if (s == "--env") {
      if (!val(&o->env)) return "--env needs a file (written by scripts/attnscope-env.py)";
    } else if (s == "--bench-pan") {
      o->bench = true;
    } else if (s == "--input") {
      if (!val(&v)) return "--input needs a script";
      std::string e = parse_input_script(v, &o->input);
      if (!e.empty()) return "--input: " + e;
    } else if (s == "--bench-frames") {
      if (!ival(&o->bench_frames) || o->bench_frames < 2) return "--bench-frames needs a number >= 2";
    } else if (!s.empty() && s[0] == '-') {
      return "unknown option '" + s + "'";
    } else if (o->file.empty()) {
      o->file = s;
    } else {
      return "more than one file given ('" + o->file + "', '" + s + "')";
    }
  }
  return "";
}

std::vector<std::string>* g_dropped = nullptr;
void on_drop(GLFWwindow*, int n, const char** paths) {
  if (!g_dropped) return;
  for (int i = 0; i < n; ++i) g_dropped->push_back(paths[i]);
}
void on_glfw_error(int code, const char* what) { std::fprintf(stderr, "attnscope gui: GLFW error %d: %s\n", code, what); }

double now_ms() {
  using namespace std::chrono;
  return duration<double, std::milli>(steady_clock::now().time_since_epoch()).count();
}

struct Stats {
  double median = 0, mean = 0, p95 = 0, max = 0;
};
Stats stats(std::vector<double> v) {
  Stats s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  s.median = v[v.size() / 2];
  s.p95 = v[std::min(v.size() - 1, static_cast<size_t>(v.size() * 0.95))];
  s.max = v.back();
  for (double x : v) s.mean += x;
  s.mean /= v.size();
  return s;
}

// A synthetic attention-like map: a bright diagonal band, a few vertical "sink" stripes and
// low noise; one isolated spike per 1024 x 1024 block checks that max-pooling keeps it.
std::vector<float> synthetic_map(int n) {
  std::vector<float> d(static_cast<size_t>(n) * n);
  uint32_t x = 12345;
  for (int i = 0; i < n; ++i) {
    float* row = d.data() + static_cast<size_t>(i) * n;
    for (int j = 0; j < n; ++j) {
      x = x * 1664525u + 1013904223u;
      float noise = static_cast<float>(x >> 8) * (1.0f / 16777216.0f) * 0.02f;
      int dd = std::abs(i - j);
      row[j] = (dd < 16 ? 0.6f * (1.0f - dd / 16.0f) : 0.0f) + (j % 2048 == 0 ? 0.3f : 0.0f) + noise;
    }
  }
  for (int bi = 0; bi + 1024 <= n; bi += 1024)
    for (int bj = 0; bj + 1024 <= n; bj += 1024) d[static_cast<size_t>(bi + 517) * n + bj + 301] = 1.0f;
  return d;
}

int run_bench(GLFWwindow* win, const Options& o) {
  glfwSwapInterval(0);
  MapTexture::max_uploads_per_frame() = 8;
  std::printf("attnscope gui --bench-pan: window %dx%d, renderer %s\n", o.width, o.height,
              reinterpret_cast<const char*>(glGetString(GL_RENDERER)));
  for (int n : {4096, 16384}) {
    double t0 = now_ms();
    auto pyr = std::make_shared<MapPyramid>(synthetic_map(n), n, n, false);
    double t_build = now_ms() - t0;
    MapTexture tex;
    ColorScale sc;
    sc.vmax = pyr->max_value();
    tex.set(pyr, sc);
    struct Phase {
      const char* name;
      double zoom;
      float size;  // map edge in pixels; 0 = the whole window; < 0 = no map (baseline)
    };
    for (Phase ph : {Phase{"empty window", 1.0, -1}, Phase{"whole map", 1.0, 0}, Phase{"zoom 4x, panning", 4.0, 0},
                     Phase{"zoom 64x, panning", 64.0, 0}, Phase{"800px map, 4x pan", 4.0, 800}}) {
      std::vector<double> times;
      for (int f = 0; f < o.bench_frames + 5; ++f) {
        double f0 = now_ms();
        glfwPollEvents();
        ImGui_ImplOpenGL3_NewFrame();
        ImGui_ImplGlfw_NewFrame();
        ImGui::NewFrame();
        ImGui::SetNextWindowPos(ImVec2(0, 0));
        ImGui::SetNextWindowSize(ImGui::GetIO().DisplaySize);
        ImGui::Begin("bench", nullptr, ImGuiWindowFlags_NoDecoration | ImGuiWindowFlags_NoSavedSettings);
        ImGui::Text("%dx%d map, %s, level %d, %d tiles cached", n, n, ph.name, tex.last_level(), tex.tiles_cached());
        // The viewport moves diagonally across the map, one full sweep per phase.
        double w = 1.0 / ph.zoom;
        double t = static_cast<double>(f) / (o.bench_frames + 5);
        double x0 = (1.0 - w) * t, y0 = (1.0 - w) * (0.5 + 0.5 * std::sin(6.2831853 * t));
        MapViewport vp{x0, x0 + w, y0, y0 + w};
        ImVec2 avail = ImGui::GetContentRegionAvail();
        if (ph.size > 0) avail = ImVec2(ph.size, ph.size);
        if (ph.size >= 0) map_widget("m", tex, avail, vp, nullptr);
        ImGui::End();
        ImGui::Render();
        int fw, fh;
        glfwGetFramebufferSize(win, &fw, &fh);
        glViewport(0, 0, fw, fh);
        glClearColor(0.1f, 0.1f, 0.12f, 1);
        glClear(GL_COLOR_BUFFER_BIT);
        ImGui_ImplOpenGL3_RenderDrawData(ImGui::GetDrawData());
        glFinish();
        double f1 = now_ms();
        glfwSwapBuffers(win);
        if (f >= 5) times.push_back(f1 - f0);  // first frames upload the initial tiles
      }
      Stats s = stats(times);
      double load[1] = {0};
      getloadavg(load, 1);
      std::printf("map %5dx%-5d %-20s median %6.2f ms/frame  mean %6.2f  p95 %6.2f  max %6.2f  (%d frames, load avg %.1f)\n", n, n,
                  ph.name, s.median, s.mean, s.p95, s.max, static_cast<int>(times.size()), load[0]);
    }
    std::printf("map %5dx%-5d pyramid build (CPU, max-pool, %d levels) %.0f ms\n", n, n, pyr->levels(), t_build);
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

int run_gui(const std::vector<std::string>& args) {
  Options o;
  bool help = false;
  if (std::string e = parse(args, &o, &help); !e.empty()) {
    std::fprintf(stderr, "attnscope gui: %s\n\n%s", e.c_str(), kUsage);
    return 1;
  }
  if (help) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  const bool headless = !o.screenshot.empty() || o.bench;
  glfwSetErrorCallback(on_glfw_error);
  if (!glfwInit()) {
    std::fprintf(stderr, "attnscope gui: cannot open a window (no display? DISPLAY=%s). The CLI verbs work "
                         "without one; for headless screenshots run under xvfb-run.\n",
                 std::getenv("DISPLAY") ? std::getenv("DISPLAY") : "");
    return 1;
  }
  glfwWindowHint(GLFW_CONTEXT_VERSION_MAJOR, 3);
  glfwWindowHint(GLFW_CONTEXT_VERSION_MINOR, 3);
  glfwWindowHint(GLFW_OPENGL_PROFILE, GLFW_OPENGL_CORE_PROFILE);
  glfwWindowHint(GLFW_RESIZABLE, headless ? GLFW_FALSE : GLFW_TRUE);
  GLFWwindow* win = glfwCreateWindow(o.width, o.height, "attnscope", nullptr, nullptr);
  if (!win) {
    std::fprintf(stderr, "attnscope gui: cannot create an OpenGL 3.3 window\n");
    glfwTerminate();
    return 1;
  }
  glfwMakeContextCurrent(win);
  glfwSwapInterval(headless ? 0 : 1);

  IMGUI_CHECKVERSION();
  ImGui::CreateContext();
  ImGuiIO& io = ImGui::GetIO();
  Model m;
  std::string ini_path;
  if (!headless) {
    std::string dir = settings_dir();
    if (!dir.empty()) {
      m.settings_path = dir + "/settings.ini";
      ini_path = dir + "/imgui.ini";
      if (std::string e = load_settings(m.settings_path, &m.settings); !e.empty()) m.add_error(e);
      std::error_code ec;
      std::filesystem::create_directories(dir, ec);
    }
  }
  io.IniFilename = ini_path.empty() ? nullptr : ini_path.c_str();
  ImGui::StyleColorsDark();
  ImGui::GetStyle().FrameRounding = 2;
  ImGui_ImplGlfw_InitForOpenGL(win, true);
  ImGui_ImplOpenGL3_Init("#version 330 core");
  std::vector<std::string> dropped;
  g_dropped = &dropped;
  glfwSetDropCallback(win, on_drop);

  int rc = 0;
  if (o.bench) {
    rc = run_bench(win, o);
  } else {
    Shell shell;
    if (!o.panel.empty()) parse_panel(o.panel, &m.panel);
    else m.panel = static_cast<PanelId>(std::clamp(m.settings.panel, 0, static_cast<int>(PanelId::Count) - 1));
    m.panel_requested = true;
    if (o.log) m.settings.log_scale = true;
    if (o.minus_ref) m.maps_minus_reference = true;
    if (!o.gpu.empty()) m.settings.verdict_gpu = o.gpu;
    if (!o.env.empty()) m.settings.diagnose_env = o.env;
    if (!o.compare.empty()) {
      m.div_a = o.compare.substr(0, o.compare.find(','));
      m.div_b = o.compare.substr(o.compare.find(',') + 1);
    }
    if (!o.tensor.empty()) m.div_tensor = o.tensor;
    if (o.what_if) m.what_if = true;
    if (!o.impls.empty()) {
      const auto& names = implementation_names();
      for (size_t i = 0; i < 4 && i < names.size(); ++i)
        m.impl_on[i] = ("," + o.impls + ",").find("," + names[i] + ",") != std::string::npos;
    }
    m.spec = default_spec();
    if (!o.file.empty()) {
      std::string ext = std::filesystem::path(o.file).extension().string();
      if (ext == ".json") {
        m.add_error(m.open_spec(o.file, o.layer));
      } else {
        m.start_load(o.file);
      }
    }
    if (o.run) m.start_run();
    if (MapTexture::max_uploads_per_frame() < 1000 && headless) MapTexture::max_uploads_per_frame() = 1000;

    int ready_frames = 0;
    // A scripted session ends by itself: at the deadline the loop leaves saying what it waited
    // for; 15 s later (a frame or a worker stuck past that) the watchdog ends the process.
    const bool scripted = o.quit_after || headless;
    SessionDeadline deadline(scripted ? o.timeout_s : 0, 15,
                             "attnscope gui: the session did not end " + std::to_string(o.timeout_s + 15) +
                                 " s after it started (--timeout " + std::to_string(o.timeout_s) +
                                 "): the frame loop is stuck; exiting",
                             3);
    std::string titled;
    size_t input_next = 0;
    ImVec2 mouse(-FLT_MAX, -FLT_MAX);
    bool mouse_down = false;
    int quiet_frames = 0, wait_frames = 0;
    bool selections_applied = false;
    while (!glfwWindowShouldClose(win)) {
      double f0 = now_ms();
      glfwPollEvents();
      m.poll();
      if (std::string t = m.cap_path.empty() ? (m.cap ? "attnscope - unsaved run" : "attnscope")
                                             : "attnscope - " + m.cap_path;
          t != titled) {
        glfwSetWindowTitle(win, t.c_str());
        titled = t;
      }
      for (const auto& p : dropped) m.open_path(p);
      dropped.clear();
      if (!selections_applied && m.cap) {
        if (o.head >= 0) m.head = std::min(o.head, m.cap->spec.heads_q - 1);
        if (o.batch >= 0) m.batch = std::min(o.batch, m.cap->spec.batch - 1);
        selections_applied = true;
      }
      ImGui_ImplOpenGL3_NewFrame();
      ImGui_ImplGlfw_NewFrame();
      // Headless: Xvfb parks the pointer mid-screen; keep it off so no tooltip lands in a screenshot.
      if (headless) {
        // Scripted frames are paced by the frame, not the clock: a loaded machine (seconds a
        // frame) must not turn the script's 'click;click' into two single clicks (ImGui's
        // double-click window is 0.3 s) or fire tooltips that a quiet one would not.
        io.DeltaTime = 1.0f / 60.0f;
        // Scripted input (--input) one event a frame, then the pointer leaves the window.
        io.KeysDown[GLFW_KEY_ESCAPE] = false;
        if (input_next < o.input.size()) {
          const InputEvent& e = o.input[input_next];
          bool done = true;
          if (e.kind == InputEvent::Move) mouse = ImVec2(e.x, e.y);
          if (e.kind == InputEvent::Wheel) io.MouseWheel = e.x;
          if (e.kind == InputEvent::Down) mouse_down = true;
          if (e.kind == InputEvent::Up) mouse_down = false;
          if (e.kind == InputEvent::Escape) io.KeysDown[GLFW_KEY_ESCAPE] = true;
          if (e.kind == InputEvent::Settle) done = quiet_frames >= 2;
          if (e.kind == InputEvent::Wait) done = ++wait_frames >= static_cast<int>(e.x);
          if (done) {
            ++input_next;
            wait_frames = 0;
          }
        } else if (!mouse_down) {
          mouse = ImVec2(-FLT_MAX, -FLT_MAX);
        }
        io.MousePos = mouse;
        io.MouseDown[0] = mouse_down;
      }
      ImGui::NewFrame();
      m.regions.clear();
      shell.draw(m);
      ImGui::Render();
      int fw, fh;
      glfwGetFramebufferSize(win, &fw, &fh);
      glViewport(0, 0, fw, fh);
      glClearColor(0.08f, 0.08f, 0.1f, 1);
      glClear(GL_COLOR_BUFFER_BIT);
      ImGui_ImplOpenGL3_RenderDrawData(ImGui::GetDrawData());

      if (!m.png_request.empty()) {
        glReadBuffer(GL_BACK);
        std::string e = m.png_panel_only
                            ? write_framebuffer_png(m.png_request, fw, fh, m.panel_rect[0], m.panel_rect[1],
                                                    m.panel_rect[2], m.panel_rect[3])
                            : write_framebuffer_png(m.png_request, fw, fh);
        if (e.empty())
          m.info = "wrote " + m.png_request;
        else
          m.add_error(e);
        m.png_request.clear();
      }
      if (o.quit_after && !headless) {
        // --frames without --screenshot: a normal session (settings and recent files are saved)
        // that closes itself once loading is done; scripts and tests use it.
        ready_frames = shell.pending(m) ? 0 : ready_frames + 1;
        if (ready_frames >= o.frames) glfwSetWindowShouldClose(win, GLFW_TRUE);
      }
      if (headless) {
        // Scripted input starts once loading has settled (two quiet frames); settled frames for
        // the screenshot are counted after it.
        bool busy = shell.pending(m);
        ready_frames = busy ? 0 : ready_frames + 1;
        quiet_frames = busy ? 0 : quiet_frames + 1;
        if (input_next < o.input.size()) ready_frames = 0;  // settled frames count after the script
        if (ready_frames >= o.frames + 1) {
          // One frame more than asked: the first settled frame may still switch tabs.
          glReadBuffer(GL_BACK);
          float x = 0, y = 0, w = 0, h = 0;
          if (o.crop) x = m.panel_rect[0], y = m.panel_rect[1], w = m.panel_rect[2], h = m.panel_rect[3];
          std::string e = write_framebuffer_png(o.screenshot, fw, fh, x, y, w, h);
          if (e.empty()) {
            std::ofstream(o.screenshot + ".json") << regions_json(m, o.crop ? static_cast<int>(w) : fw,
                                                                  o.crop ? static_cast<int>(h) : fh, x, y);
            for (const auto& err : m.errors) std::fprintf(stderr, "attnscope gui: %s\n", err.c_str());
            if (!o.file.empty() && std::filesystem::path(o.file).extension() != ".json" && !m.cap) rc = 2;
            std::printf("wrote %s (%dx%d, panel %s)\n", o.screenshot.c_str(), o.crop ? static_cast<int>(w) : fw,
                        o.crop ? static_cast<int>(h) : fh, panel_name(m.panel));
          } else {
            std::fprintf(stderr, "attnscope gui: %s\n", e.c_str());
            rc = 2;
          }
          break;
        }
      }
      if (deadline.expired()) {
        std::string what = shell.busy_with(m);
        if (what.empty() && input_next < o.input.size())
          what = "the --input script (event " + std::to_string(input_next + 1) + ")";
        std::fprintf(stderr, "attnscope gui: gave up after %d s (--timeout): still waiting for %s\n", o.timeout_s,
                     what.empty() ? "settled frames" : what.c_str());
        rc = 3;
        break;
      }
      glFinish();
      shell.frame_ms = 0.9 * shell.frame_ms + 0.1 * (now_ms() - f0);
      glfwSwapBuffers(win);
    }
    if (!headless) {
      m.settings.panel = static_cast<int>(m.panel);
      m.save_settings_now();
    }
    if (m.job) {
      m.cancel_job();
      if (m.job->thread.joinable()) m.job->thread.join();
    }
  }
  g_dropped = nullptr;
  ImGui_ImplOpenGL3_Shutdown();
  ImGui_ImplGlfw_Shutdown();
  ImGui::DestroyContext();
  glfwDestroyWindow(win);
  glfwTerminate();
  return rc;
}

}  // namespace attnscope
