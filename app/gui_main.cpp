// run_gui: the GLFW window and GL context, the ImGui frame loop around the Shell, headless
// screenshots (`--screenshot`), scripted input (`--input`) and the pan benchmark (`--bench-pan`).
#include "app/gui_main.h"

#include <GLFW/glfw3.h>
#include <imgui.h>
#include <imgui_impl_glfw.h>
#include <imgui_impl_opengl3.h>

#define GL_GLEXT_PROTOTYPES 1
#include <GL/gl.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "app/gui_args.h"
#include "app/gui_bench_pan.h"
#include "app/gui_input_replay.h"
#include "app/gui_session_deadline.h"
#include "capture/spec_io.h"
#include "viewers/model.h"
#include "viewers/screenshot.h"
#include "viewers/shell.h"

namespace attnscope {
namespace {

std::vector<std::string>* g_dropped = nullptr;
void on_drop(GLFWwindow*, int n, const char** paths) {
  if (!g_dropped) return;
  for (int i = 0; i < n; ++i) g_dropped->push_back(paths[i]);
}
void on_glfw_error(int code, const char* what) { std::fprintf(stderr, "attnscope gui: GLFW error %d: %s\n", code, what); }

// GLFW and an OpenGL 3.3 core window; nullptr (said on stderr) where there is no display.
GLFWwindow* open_window(const GuiOptions& o, bool headless) {
  glfwSetErrorCallback(on_glfw_error);
  if (!glfwInit()) {
    std::fprintf(stderr, "attnscope gui: cannot open a window (no display? DISPLAY=%s). The CLI verbs work "
                         "without one; for headless screenshots run under xvfb-run.\n",
                 std::getenv("DISPLAY") ? std::getenv("DISPLAY") : "");
    return nullptr;
  }
  glfwWindowHint(GLFW_CONTEXT_VERSION_MAJOR, 3);
  glfwWindowHint(GLFW_CONTEXT_VERSION_MINOR, 3);
  glfwWindowHint(GLFW_OPENGL_PROFILE, GLFW_OPENGL_CORE_PROFILE);
  glfwWindowHint(GLFW_RESIZABLE, headless ? GLFW_FALSE : GLFW_TRUE);
  GLFWwindow* win = glfwCreateWindow(o.width, o.height, "attnscope", nullptr, nullptr);
  if (!win) {
    std::fprintf(stderr, "attnscope gui: cannot create an OpenGL 3.3 window\n");
    glfwTerminate();
    return nullptr;
  }
  glfwMakeContextCurrent(win);
  glfwSwapInterval(headless ? 0 : 1);
  return win;
}

// The ImGui context on `win`. An interactive session reads the settings and keeps ImGui's layout
// (`ini_path`, which must outlive the context) in the settings folder; a headless one leaves both.
void start_imgui(GLFWwindow* win, bool headless, Model& m, std::string* ini_path) {
  IMGUI_CHECKVERSION();
  ImGui::CreateContext();
  if (!headless) {
    std::string dir = settings_dir();
    if (!dir.empty()) {
      m.settings_path = dir + "/settings.ini";
      *ini_path = dir + "/imgui.ini";
      if (std::string e = load_settings(m.settings_path, &m.settings); !e.empty()) m.add_error(e);
      std::error_code ec;
      std::filesystem::create_directories(dir, ec);
    }
  }
  ImGui::GetIO().IniFilename = ini_path->empty() ? nullptr : ini_path->c_str();
  ImGui::StyleColorsDark();
  ImGui::GetStyle().FrameRounding = 2;
  ImGui_ImplGlfw_InitForOpenGL(win, true);
  ImGui_ImplOpenGL3_Init("#version 330 core");
}

void stop_imgui(GLFWwindow* win) {
  ImGui_ImplOpenGL3_Shutdown();
  ImGui_ImplGlfw_Shutdown();
  ImGui::DestroyContext();
  glfwDestroyWindow(win);
  glfwTerminate();
}

// The command line into the model: panel, view options, the file to open and the run to start.
void apply_options(const GuiOptions& o, bool headless, Model& m) {
  if (!o.panel.empty()) parse_panel(o.panel, &m.sel.panel);
  else m.sel.panel = static_cast<PanelId>(std::clamp(m.settings.panel, 0, static_cast<int>(PanelId::Count) - 1));
  m.sel.panel_requested = true;
  if (o.log) m.settings.log_scale = true;
  if (o.minus_ref) m.sel.maps_minus_reference = true;
  if (!o.gpu.empty()) m.settings.verdict_gpu = o.gpu;
  if (!o.env.empty()) m.settings.diagnose_env = o.env;
  if (!o.compare.empty()) {
    m.sel.div_a = o.compare.substr(0, o.compare.find(','));
    m.sel.div_b = o.compare.substr(o.compare.find(',') + 1);
  }
  if (!o.tensor.empty()) m.sel.div_tensor = o.tensor;
  if (o.what_if) m.doc.what_if = true;
  if (!o.impls.empty()) {
    const auto& names = implementation_names();
    for (size_t i = 0; i < 4 && i < names.size(); ++i)
      m.doc.impl_on[i] = ("," + o.impls + ",").find("," + names[i] + ",") != std::string::npos;
  }
  m.doc.spec = default_spec();
  if (!o.file.empty()) {
    std::string ext = std::filesystem::path(o.file).extension().string();
    if (ext == ".json") {
      m.add_error(m.open_spec(o.file, o.layer));
    } else {
      start_load(m, o.file);
    }
  }
  // A first start (no file) shows the embedded default layer running rather than empty panels.
  if (o.file.empty() && !o.run && !o.no_run) m.doc.what_if = true;  // as the CLI's default job
  if (o.run || (o.file.empty() && !o.no_run)) start_run(m, o.file.empty() && !o.run);
  if (MapTexture::max_uploads_per_frame() < 1000 && headless) MapTexture::max_uploads_per_frame() = 1000;
}

// One session of the frame loop: the shell drawn every frame until the window closes, or, in a
// scripted session, until the screenshot is written or the deadline passes.
class FrameLoop {
 public:
  FrameLoop(const GuiOptions& o, bool headless, GLFWwindow* win, Model& m)
      : o_(o),
        headless_(headless),
        win_(win),
        m_(m),
        replay_(o.input),
        // A scripted session ends by itself: at the deadline the loop leaves saying what it waited
        // for; 15 s later (a frame or a worker stuck past that) the watchdog ends the process.
        deadline_(o.quit_after || headless ? o.timeout_s : 0, 15,
                  "attnscope gui: the session did not end " + std::to_string(o.timeout_s + 15) +
                      " s after it started (--timeout " + std::to_string(o.timeout_s) +
                      "): the frame loop is stuck; exiting",
                  3) {
    g_dropped = &dropped_;
    glfwSetDropCallback(win_, on_drop);
  }
  ~FrameLoop() { g_dropped = nullptr; }

  // Returns the exit status.
  int run() {
    int rc = 0;
    while (!glfwWindowShouldClose(win_)) {
      auto f0 = std::chrono::steady_clock::now();
      begin_frame();
      int fw, fh;
      render(&fw, &fh);
      write_requested_png(fw, fh);
      if (o_.quit_after && !headless_) close_when_settled();
      if (headless_ && screenshot_when_settled(fw, fh, &rc)) break;
      if (gave_up(&rc)) break;
      glFinish();
      shell_.frame_ms = 0.9 * shell_.frame_ms +
                        0.1 * std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - f0).count();
      glfwSwapBuffers(win_);
    }
    return rc;
  }

 private:
  // Events, finished jobs, the window title, dropped files, the command line's selections (once a
  // capture is there) and, headless, the scripted input; then ImGui's new frame.
  void begin_frame() {
    glfwPollEvents();
    m_.jobs.poll(m_);
    if (std::string t = m_.doc.cap_path.empty() ? (m_.doc.cap ? "attnscope - unsaved run" : "attnscope")
                                                : "attnscope - " + m_.doc.cap_path;
        t != title_) {
      glfwSetWindowTitle(win_, t.c_str());
      title_ = t;
    }
    for (const auto& p : dropped_) m_.open_path(p);
    dropped_.clear();
    if (!selections_applied_ && m_.doc.cap) {
      if (o_.head >= 0) m_.sel.head = std::min(o_.head, m_.doc.cap->spec.heads_q - 1);
      if (o_.batch >= 0) m_.sel.batch = std::min(o_.batch, m_.doc.cap->spec.batch - 1);
      selections_applied_ = true;
    }
    ImGui_ImplOpenGL3_NewFrame();
    ImGui_ImplGlfw_NewFrame();
    if (headless_) {
      // Scripted frames are paced by the frame, not the clock: a loaded machine (seconds a
      // frame) must not turn the script's 'click;click' into two single clicks (ImGui's
      // double-click window is 0.3 s) or fire tooltips that a quiet one would not.
      ImGui::GetIO().DeltaTime = 1.0f / 60.0f;
      // Xvfb parks the pointer mid-screen: the replay keeps it off the window once done.
      replay_.feed(ImGui::GetIO(), m_, &dropped_);
    }
    ImGui::NewFrame();
  }

  void render(int* fw, int* fh) {
    m_.regions.clear();
    shell_.draw(m_);
    ImGui::Render();
    glfwGetFramebufferSize(win_, fw, fh);
    glViewport(0, 0, *fw, *fh);
    glClearColor(0.08f, 0.08f, 0.1f, 1);
    glClear(GL_COLOR_BUFFER_BIT);
    ImGui_ImplOpenGL3_RenderDrawData(ImGui::GetDrawData());
  }

  // File > Export PNG, or the script's png:FILE (which writes the regions too, as --screenshot).
  void write_requested_png(int fw, int fh) {
    if (m_.png_request.empty()) return;
    glReadBuffer(GL_BACK);
    std::string e = m_.png_panel_only
                        ? write_framebuffer_png(m_.png_request, fw, fh, m_.panel_rect[0], m_.panel_rect[1],
                                                m_.panel_rect[2], m_.panel_rect[3])
                        : write_framebuffer_png(m_.png_request, fw, fh);
    bool from_script = replay_.take_png_request();
    if (e.empty() && from_script)
      std::ofstream(m_.png_request + ".json") << regions_json(m_, fw, fh, 0, 0);
    else if (e.empty())
      m_.info = "wrote " + m_.png_request;
    else
      m_.add_error(e);
    m_.png_request.clear();
  }

  // --frames without --screenshot: a normal session (settings and recent files are saved) that
  // closes itself once loading is done; scripts and tests use it.
  void close_when_settled() {
    ready_frames_ = shell_.pending(m_) ? 0 : ready_frames_ + 1;
    if (ready_frames_ >= o_.frames) glfwSetWindowShouldClose(win_, GLFW_TRUE);
  }

  // Headless: scripted input starts once loading has settled (two quiet frames); settled frames
  // for the screenshot are counted after it. True once the screenshot is written (or failed).
  bool screenshot_when_settled(int fw, int fh, int* rc) {
    bool busy = shell_.pending(m_);
    ready_frames_ = busy ? 0 : ready_frames_ + 1;
    replay_.frame_done(busy);
    if (!replay_.finished()) ready_frames_ = 0;  // settled frames count after the script
    // One frame more than asked: the first settled frame may still switch tabs.
    if (ready_frames_ < o_.frames + 1) return false;
    glReadBuffer(GL_BACK);
    float x = 0, y = 0, w = 0, h = 0;
    if (o_.crop) x = m_.panel_rect[0], y = m_.panel_rect[1], w = m_.panel_rect[2], h = m_.panel_rect[3];
    int width = o_.crop ? static_cast<int>(w) : fw, height = o_.crop ? static_cast<int>(h) : fh;
    std::string e = write_framebuffer_png(o_.screenshot, fw, fh, x, y, w, h);
    if (!e.empty()) {
      std::fprintf(stderr, "attnscope gui: %s\n", e.c_str());
      *rc = 2;
      return true;
    }
    std::ofstream(o_.screenshot + ".json") << regions_json(m_, width, height, x, y);
    for (const auto& err : m_.errors) std::fprintf(stderr, "attnscope gui: %s\n", err.c_str());
    if (!o_.file.empty() && std::filesystem::path(o_.file).extension() != ".json" && !m_.doc.cap) *rc = 2;
    std::printf("wrote %s (%dx%d, panel %s)\n", o_.screenshot.c_str(), width, height, panel_name(m_.sel.panel));
    return true;
  }

  // A scripted session past its --timeout: says what it still waited for.
  bool gave_up(int* rc) {
    if (!deadline_.expired()) return false;
    std::string what = shell_.busy_with(m_);
    if (what.empty() && !replay_.finished())
      what = "the --input script (event " + std::to_string(replay_.waiting_on()) + ")";
    std::fprintf(stderr, "attnscope gui: gave up after %d s (--timeout): still waiting for %s\n", o_.timeout_s,
                 what.empty() ? "settled frames" : what.c_str());
    *rc = 3;
    return true;
  }

  const GuiOptions& o_;
  const bool headless_;
  GLFWwindow* win_;
  Model& m_;
  Shell shell_;
  InputReplay replay_;
  SessionDeadline deadline_;
  std::vector<std::string> dropped_;  // by GLFW's drop callback or the script; opened next frame
  std::string title_;
  int ready_frames_ = 0;
  bool selections_applied_ = false;
};

}  // namespace

int run_gui(const std::vector<std::string>& args) {
  GuiOptions o;
  bool help = false;
  if (std::string e = parse_gui_args(args, &o, &help); !e.empty()) {
    std::fprintf(stderr, "attnscope gui: %s\n\n%s", e.c_str(), gui_usage());
    return 1;
  }
  if (help) {
    std::fputs(gui_usage(), stdout);
    return 0;
  }
  const bool headless = !o.screenshot.empty() || o.bench;
  GLFWwindow* win = open_window(o, headless);
  if (!win) return 1;
  Model m;
  std::string ini_path;
  start_imgui(win, headless, m, &ini_path);
  int rc = 0;
  if (o.bench) {
    rc = run_bench_pan(win, o.width, o.height, o.bench_frames);
  } else {
    apply_options(o, headless, m);
    FrameLoop loop(o, headless, win, m);  // its deadline also bounds the job's join below
    rc = loop.run();
    if (!headless) {
      m.settings.panel = static_cast<int>(m.sel.panel);
      m.save_settings_now();
    }
    m.jobs.stop();
  }
  stop_imgui(win);
  return rc;
}

}  // namespace attnscope
