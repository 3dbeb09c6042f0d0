// First start: `attnscope` (or `attnscope gui`) with no file runs the embedded default layer at
// once - the panels fill as its implementations finish, the status bar shows the progress - and
// opening a file meanwhile supersedes that run instead of failing as "busy".
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#include <stb_image.h>

#include "capture/session.h"
#include "capture/spec_io.h"
#include "capture/store.h"
#include "tests/gui/gui_test_util.h"
#include "viewers/model.h"

namespace attnscope {
namespace {
namespace fs = std::filesystem;
using gui_test::have_xvfb;
using gui_test::q;
using gui_test::run_cmd;
using nlohmann::json;

LayerSpec small_default() {
  LayerSpec s = default_spec();
  s.seq_q = s.seq_k = 192;
  return s;
}

// Polls the model as the frame loop does until its job ends; the run counts it showed meanwhile.
std::vector<size_t> shown_while_running(Model& m) {
  std::vector<size_t> shown;
  uint64_t version = m.doc.cap_version;
  const auto t0 = std::chrono::steady_clock::now();
  while (m.jobs.busy() && std::chrono::steady_clock::now() - t0 < std::chrono::minutes(2)) {
    m.jobs.poll(m);
    if (m.jobs.busy() && m.doc.cap_version != version) {
      version = m.doc.cap_version;
      shown.push_back(m.doc.cap->runs.size());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return shown;
}

TEST(FirstStart, ThePanelsFillAsTheDefaultRunGoes) {
  setenv("ATTNSCOPE_NO_GPU", "1", 1);
  Model m;
  m.doc.spec = small_default();
  m.doc.what_if = true;
  ASSERT_TRUE(start_run(m, true));
  const std::vector<size_t> shown = shown_while_running(m);
  ASSERT_FALSE(m.jobs.busy());
  ASSERT_NE(m.doc.cap, nullptr);
  EXPECT_EQ(m.doc.cap->runs.size(), 6u) << "eager, sdpa and flash2 refused and as what-ifs, sink";
  ASSERT_GE(shown.size(), 2u) << "partial results reached the panels before the end";
  for (size_t i = 1; i < shown.size(); ++i) EXPECT_LE(shown[i - 1], shown[i]);
  EXPECT_LT(shown.front(), 6u);
  EXPECT_EQ(m.doc.cap_path, "");
  EXPECT_TRUE(m.errors.empty()) << m.errors.front();
  // The finished capture has eager's own P again (partial copies leave S and P with the run).
  EXPECT_FALSE(m.doc.cap->find("eager")->probs.empty());
}

TEST(FirstStart, OpeningAFileSupersedesTheStartUpRun) {
  setenv("ATTNSCOPE_NO_GPU", "1", 1);
  const fs::path dir = fs::temp_directory_path() / ("attnscope_first_start_" + std::to_string(getpid()));
  fs::create_directories(dir);
  LayerSpec s = small_default();
  s.seq_q = s.seq_k = 32;
  s.name = "opened meanwhile";
  Capture cap;
  SessionOptions opt;
  opt.impls = {"eager"};
  ASSERT_EQ(run_session(s, random_inputs(s, 1, Distribution::Normal), opt, &cap), "");
  const std::string path = (dir / "opened.h5").string();
  ASSERT_EQ(save_capture(cap, path), "");
  Model m;
  m.doc.spec = default_spec();  // 512 tokens: still running when the file is opened
  ASSERT_TRUE(start_run(m, true));
  ASSERT_TRUE(start_load(m, path));
  shown_while_running(m);
  m.jobs.poll(m);
  ASSERT_NE(m.doc.cap, nullptr);
  EXPECT_EQ(m.doc.cap_path, path);
  EXPECT_EQ(m.doc.cap->spec.name, "opened meanwhile");
  EXPECT_TRUE(m.errors.empty()) << m.errors.front();
  // A run the user started is not superseded.
  ASSERT_TRUE(start_run(m, false));
  EXPECT_FALSE(start_load(m, path));
  ASSERT_FALSE(m.errors.empty());
  EXPECT_EQ(m.errors.back().rfind("busy: running ", 0), 0u) << m.errors.back();
  m.jobs.cancel();
  shown_while_running(m);
  fs::remove_all(dir);
}

struct Png {
  int w = 0, h = 0;
  std::vector<unsigned char> px;
  double lum(int x, int y) const {
    const unsigned char* p = px.data() + (static_cast<size_t>(y) * w + x) * 3;
    return 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
  }
};
Png read_png(const std::string& path) {
  Png p;
  int ch = 0;
  unsigned char* d = stbi_load(path.c_str(), &p.w, &p.h, &ch, 3);
  if (d) p.px.assign(d, d + static_cast<size_t>(p.w) * p.h * 3);
  stbi_image_free(d);
  return p;
}
const json* region(const json& j, const std::string& name) {
  for (const auto& r : j["regions"])
    if (r["name"] == name) return &r;
  return nullptr;
}

TEST(FirstStart, NoFileShowsTheDefaultLayerRunningThenEveryMap) {
  if (!have_xvfb()) GTEST_SKIP() << "xvfb-run not found (Debian package xvfb)";
  const fs::path dir = fs::temp_directory_path() / ("attnscope_first_shot_" + std::to_string(getpid()));
  fs::create_directories(dir);
  const std::string mid = (dir / "mid.png").string(), end = (dir / "end.png").string();
  const bool keep = std::getenv("ATTNSCOPE_KEEP_GUI_TEST_FILES") != nullptr;
  const std::string cmd = "ATTNSCOPE_NO_GPU=1 " + std::string(ATTNSCOPE_XVFB_RUN) + " -a -s '-screen 0 1600x1000x24' " +
                          ATTNSCOPE_BIN + " gui --panel maps --size 1600x1000 --timeout 110 --input " +
                          q("png:" + mid + ";settle") + " --screenshot " + q(end);
  std::string log;
  int rc = run_cmd(cmd, &log);
  for (int retry = 0; retry < 3 && log.find("xvfb-run: error") != std::string::npos; ++retry) rc = run_cmd(cmd, &log);
  ASSERT_EQ(rc, 0) << log;

  // The first frame: the default layer is running, with its progress in the status bar.
  const json jm = json::parse(std::ifstream(mid + ".json"));
  const json* progress = region(jm, "status:progress");
  ASSERT_NE(progress, nullptr) << "no progress bar on the first frame: " << jm.dump();
  EXPECT_LT((*progress)["fraction"].get<double>(), 1.0);
  const Png pm = read_png(mid);
  ASSERT_EQ(pm.w, 1600);

  // Settled: GPT-OSS-20B's sliding layer with its four maps; each row's brightest pixel lies in
  // its 128-key window (causal, bottom-right), nothing right of the diagonal.
  const json je = json::parse(std::ifstream(end + ".json"));
  EXPECT_EQ(region(je, "status:progress"), nullptr);
  EXPECT_EQ(je["info"], "run finished: 6 runs") << je.dump();
  const Png pe = read_png(end);
  for (const char* name : {"map:eager", "map:sdpa (what-if)", "map:flash2 (what-if)", "map:sink"}) {
    const json* r = region(je, name);
    ASSERT_NE(r, nullptr) << name << " missing: " << je.dump();
    EXPECT_EQ((*r)["rows"], 512);
    const double rx = (*r)["x"], ry = (*r)["y"], rw = (*r)["w"], rh = (*r)["h"];
    int in_window = 0, rows = 0, lit_above = 0;
    for (int y = static_cast<int>(ry) + 2; y < static_cast<int>(ry + rh) - 2; y += 3) {
      const double i = (y + 0.5 - ry) / rh * 512;
      int best_x = 0;
      double best = -1;
      for (int x = static_cast<int>(rx) + 1; x < static_cast<int>(rx + rw) - 1; ++x) {
        const double l = pe.lum(x, y);
        if (l > best) best = l, best_x = x;
        const double j = (x + 0.5 - rx) / rw * 512;
        if (j > i + 4 && l > pe.lum(static_cast<int>(rx + rw) - 2, static_cast<int>(ry) + 2) + 8) ++lit_above;
      }
      const double j = (best_x + 0.5 - rx) / rw * 512;
      ++rows;
      if (j <= i + 2 && j >= i - 128 - 2) ++in_window;
    }
    EXPECT_GE(in_window, rows * 0.95) << name << ": " << in_window << " of " << rows << " rows peak in their window";
    EXPECT_EQ(lit_above, 0) << name << ": pixels lit right of the causal diagonal";
  }
  if (!keep) fs::remove_all(dir);
}

}  // namespace
}  // namespace attnscope
