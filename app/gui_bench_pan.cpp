#include "app/gui_bench_pan.h"

#include <GLFW/glfw3.h>
#include <imgui.h>
#include <imgui_impl_glfw.h>
#include <imgui_impl_opengl3.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

#include "viewers/map_pyramid.h"
#include "viewers/map_texture.h"
#include "viewers/widgets.h"

namespace attnscope {
namespace {

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

}  // namespace

int run_bench_pan(GLFWwindow* win, int width, int height, int frames) {
  glfwSwapInterval(0);
  MapTexture::max_uploads_per_frame() = 8;
  std::printf("attnscope gui --bench-pan: window %dx%d, renderer %s\n", width, height,
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
      for (int f = 0; f < frames + 5; ++f) {
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
        double t = static_cast<double>(f) / (frames + 5);
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

}  // namespace attnscope
