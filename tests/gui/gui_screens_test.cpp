// Screenshot tests: captures made with the CLI (`attnscope run ... -o`), rendered headless with
// `attnscope gui CAP --panel P --screenshot OUT.png` under Xvfb (Mesa llvmpipe), then checked pixel
// by pixel inside the plot regions the GUI lists in OUT.png.json.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

#include <nlohmann/json.hpp>

#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#include <stb_image.h>

#include "tests/gui/gui_test_util.h"

#include "capture/spec_io.h"
#include "capture/store.h"
#include "capture/tensor_io.h"
#include "kernels/memory_model.h"
#include "viewers/colormap.h"

namespace attnscope {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

using gui_test::have_xvfb;
using gui_test::q;
using gui_test::run_cmd;

struct Rgb {
  int r = 0, g = 0, b = 0;
  double lum() const { return 0.299 * r + 0.587 * g + 0.114 * b; }
  bool near(Rgb o, int tol = 2) const {
    return std::abs(r - o.r) <= tol && std::abs(g - o.g) <= tol && std::abs(b - o.b) <= tol;
  }
};
Rgb rgb(uint32_t c) { return {static_cast<int>(c & 255), static_cast<int>((c >> 8) & 255), static_cast<int>((c >> 16) & 255)}; }

struct Shot {
  int w = 0, h = 0;
  std::vector<unsigned char> px;
  json j;
  std::string log;
  Rgb at(int x, int y) const {
    x = std::clamp(x, 0, w - 1);
    y = std::clamp(y, 0, h - 1);
    const unsigned char* p = px.data() + (static_cast<size_t>(y) * w + x) * 3;
    return {p[0], p[1], p[2]};
  }
  const json* region(const std::string& name) const {
    for (const auto& r : j["regions"])
      if (r["name"] == name) return &r;
    return nullptr;
  }
};

class GuiScreens : public ::testing::Test {
 protected:
  static fs::path dir() {
    static fs::path d = fs::temp_directory_path() / ("attnscope_gui_test_" + std::to_string(::getpid()));
    fs::create_directories(d);
    return d;
  }
  void SetUp() override {
    if (!have_xvfb()) GTEST_SKIP() << "xvfb-run not found (Debian package xvfb): GUI screenshot tests skipped";
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    if (!std::getenv("ATTNSCOPE_KEEP_GUI_TEST_FILES")) fs::remove_all(dir(), ec);
  }

  // `attnscope run` with the given arguments, once per name.
  static std::string cli_capture(const std::string& name, const std::string& args) {
    fs::path out = dir() / (name + ".h5");
    if (fs::exists(out)) return out.string();
    std::string log;
    int rc = run_cmd(std::string(ATTNSCOPE_BIN) + " run " + args + " --quiet -o " + q(out.string()), &log);
    EXPECT_EQ(rc, 0) << log;
    return out.string();
  }

  // Inputs with one planted strong key per query row: in head h, k[j] = q[(j - offset[h]) mod N],
  // so query i's largest score is at key (i + offset[h]) mod N (q·q ~ 64 against ~N(0, 8)).
  static std::string planted_capture() {
    fs::path out = dir() / "planted.h5";
    if (fs::exists(out)) return out.string();
    LayerSpec s;
    s.name = "planted diagonal";
    s.seq_q = s.seq_k = kN;
    s.heads_q = s.heads_kv = 2;
    s.head_dim = s.head_dim_v = 64;
    s.dtype = DType::BF16;
    s.causal = false;
    std::ofstream(dir() / "planted.json") << spec_to_json(s);
    NamedTensors nt;
    Tensor tq(DType::F32, {1, 2, kN, 64}), tk(DType::F32, {1, 2, kN, 64}), tv(DType::F32, {1, 2, kN, 64});
    std::mt19937 rng(3);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    for (float& x : tq.data) x = nd(rng);
    for (float& x : tv.data) x = nd(rng);
    for (int h = 0; h < 2; ++h)
      for (int j = 0; j < kN; ++j) {
        int i = ((j - kOffset[h]) % kN + kN) % kN;
        for (int d = 0; d < 64; ++d)
          tk.data[(static_cast<size_t>(h) * kN + j) * 64 + d] = tq.data[(static_cast<size_t>(h) * kN + i) * 64 + d];
      }
    nt.tensors["q"] = tq;
    nt.tensors["k"] = tk;
    nt.tensors["v"] = tv;
    EXPECT_EQ(write_safetensors((dir() / "planted.safetensors").string(), nt), "");
    std::string log;
    int rc = run_cmd(std::string(ATTNSCOPE_BIN) + " run --spec " + q((dir() / "planted.json").string()) + " --inputs " +
                         q((dir() / "planted.safetensors").string()) + " --impl eager,flash2 --quiet -o " +
                         q(out.string()),
                     &log);
    EXPECT_EQ(rc, 0) << log;
    return out.string();
  }
  // GPT-OSS-20B's sliding layer (the embedded default: learned sinks) at 128 tokens, with
  // flash2 run as a what-if (sinks dropped) and a probe in head 0.
  static std::string gptoss_capture() {
    return cli_capture("gptoss", "--seq 128 --impl eager,sdpa,flash2,sink --what-if --probe b=0,h=0,rows=0:32");
  }

  // The same layer with the backward pass: eager, sink and the sink-dropping flash2 what-if.
  static std::string gptoss_backward_capture() {
    return cli_capture("gptoss_bwd", "--seq 128 --impl eager,flash2,sink --what-if --backward");
  }

  static Shot render(const std::string& cap, const std::string& panel, const std::string& extra = "",
                     int expect_rc = 0) {
    static int n = 0;
    fs::path png = dir() / (panel + "_" + std::to_string(n++) + ".png");
    std::string cmd = std::string(ATTNSCOPE_XVFB_RUN) + " -a -s '-screen 0 1600x1000x24' " + ATTNSCOPE_BIN +
                      " gui " + q(cap) + " --panel " + panel + " --screenshot " + q(png.string()) +
                      " --frames 3 --size 1600x1000 " + extra;
    Shot s;
    int rc = run_cmd(cmd, &s.log);
    // xvfb-run -a can lose the race for a display number against another Xvfb starting at the
    // same moment (parallel ctest, other users): that is not the GUI failing, so try again.
    for (int retry = 0; retry < 3 && s.log.find("xvfb-run: error") != std::string::npos; ++retry) {
      ::sleep(1);
      rc = run_cmd(cmd, &s.log);
    }
    EXPECT_EQ(rc, expect_rc) << cmd << "\n" << s.log;
    int ch = 0;
    unsigned char* data = stbi_load(png.string().c_str(), &s.w, &s.h, &ch, 3);
    EXPECT_NE(data, nullptr) << "no PNG from: " << cmd << "\n" << s.log;
    if (!data) return s;
    s.px.assign(data, data + static_cast<size_t>(s.w) * s.h * 3);
    stbi_image_free(data);
    std::ifstream jf(png.string() + ".json");
    EXPECT_TRUE(jf.good()) << "no sidecar JSON";
    if (jf) s.j = json::parse(jf);
    return s;
  }

  // The timeline of a capture, the capture itself, and the plot's pixels per microsecond (0 when
  // the screenshot or its plot region is missing).
  static Shot timeline_shot(const std::string& path, Capture* cap, double* px_per_us) {
    *px_per_us = 0;
    EXPECT_TRUE(load_capture(path, cap).ok());
    Shot s = render(path, "timeline");
    const json* plot = s.px.empty() ? nullptr : s.region("timeline:plot");
    if (plot)
      *px_per_us = (*plot)["w"].get<double>() / ((*plot)["t1_us"].get<double>() - (*plot)["t0_us"].get<double>());
    return s;
  }

  static constexpr int kN = 160;
  static constexpr int kOffset[2] = {0, 37};
};

// For every pixel row of a map, the brightest pixel must sit on the planted band (rows whose band
// lies outside the visible columns of a zoomed view are skipped).
void expect_diagonal(const Shot& s, const std::string& name, int offset) {
  const json* r = s.region(name);
  ASSERT_NE(r, nullptr) << "no region " << name << " in " << s.j.dump();
  const double rx = (*r)["x"], ry = (*r)["y"], rw = (*r)["w"], rh = (*r)["h"];
  const int rows = (*r)["rows"], cols = (*r)["cols"];
  const double vx0 = (*r)["x0"], vx1 = (*r)["x1"], vy0 = (*r)["y0"], vy1 = (*r)["y1"];
  ASSERT_GT(rw, 100);
  ASSERT_GT(rh, 100);
  const double cpp = (vx1 - vx0) * cols / rw, rpp = (vy1 - vy0) * rows / rh;  // cells per pixel
  const double tol = 2.0 + 2.0 * std::max(cpp, rpp);
  int ok = 0, total = 0;
  for (int y = static_cast<int>(std::ceil(ry)) + 1; y < static_cast<int>(ry + rh) - 1; ++y) {
    double row = (vy0 + (y + 0.5 - ry) / rh * (vy1 - vy0)) * rows;
    double expect = std::fmod(std::floor(row) + 0.5 + offset, static_cast<double>(cols));
    if (expect < vx0 * cols + 1 || expect > vx1 * cols - 1) continue;
    int best_x = -1;
    double best = -1;
    for (int x = static_cast<int>(std::ceil(rx)); x < static_cast<int>(rx + rw); ++x) {
      double l = s.at(x, y).lum();
      if (l > best) best = l, best_x = x;
    }
    double col = (vx0 + (best_x + 0.5 - rx) / rw * (vx1 - vx0)) * cols;
    double d = std::fabs(col - expect);
    d = std::min(d, cols - d);  // the band wraps around
    ++total;
    if (d <= tol) ++ok;
  }
  EXPECT_GT(total, 20) << name << ": too few rows show the band";
  EXPECT_GE(ok, total * 0.95) << name << ": " << ok << " of " << total << " rows have their brightest pixel on the "
                              << "planted band (offset " << offset << ", tolerance " << tol << " keys)";
}

TEST_F(GuiScreens, MapsPutTheBrightestPixelsOnThePlantedDiagonal) {
  std::string cap = planted_capture();
  for (int h = 0; h < 2; ++h) {
    Shot s = render(cap, "maps", "--head " + std::to_string(h));
    ASSERT_FALSE(s.px.empty());
    EXPECT_EQ(s.w, 1600);
    EXPECT_EQ(s.h, 1000);
    // eager's materialised P and flash2's P reconstructed from its LSE.
    expect_diagonal(s, "map:eager", kOffset[h]);
    expect_diagonal(s, "map:flash2", kOffset[h]);
  }
}

TEST_F(GuiScreens, WheelZoomAndDragPanStaySynchronisedAcrossMaps) {
  std::string cap = planted_capture();
  Shot base = render(cap, "maps", "--head 0");
  const json* r = base.region("map:eager");
  ASSERT_NE(r, nullptr);
  const double rx = (*r)["x"], ry = (*r)["y"], rw = (*r)["w"], rh = (*r)["h"];
  const double cx = rx + 0.4 * rw, cy = ry + 0.4 * rh;
  char script[256];
  // Two wheel steps of 4 around (cx, cy), then a drag by (+60, +40) pixels.
  std::snprintf(script, sizeof script, "settle;move:%.0f,%.0f;wheel:4;wheel:4;move:%.0f,%.0f;down;move:%.0f,%.0f;up", cx, cy,
                cx + 5, cy, cx + 65, cy + 40);
  Shot s = render(cap, "maps", std::string("--head 0 --input '") + script + "'");
  ASSERT_FALSE(s.px.empty());
  const json* e = s.region("map:eager");
  const json* f = s.region("map:flash2");
  ASSERT_TRUE(e && f);
  for (const char* k : {"x0", "x1", "y0", "y1"}) EXPECT_EQ((*e)[k], (*f)[k]) << k << ": the maps must move together";
  const double w = (*e)["x1"].get<double>() - (*e)["x0"].get<double>();
  EXPECT_NEAR(w, std::pow(0.85, 8), 1e-3) << "wheel 4 + 4 zooms by 0.85^8";
  // The wheel keeps the cell under the cursor in place; the drag then moves the view by
  // (60, 40) pixels' worth of map, against the drag direction.
  const double fx = (std::round(cx) - rx) / rw, fy = (std::round(cy) - ry) / rh;
  const double x0 = fx - fx * w - 60.0 / rw * w, y0 = fy - fy * w - 40.0 / rh * w;
  EXPECT_NEAR((*e)["x0"].get<double>(), x0, 2.0 / rw);
  EXPECT_NEAR((*e)["y0"].get<double>(), y0, 2.0 / rh);
  // The zoomed maps are drawn from the finest level and still show the planted band.
  EXPECT_EQ((*e)["level"], 0);
  expect_diagonal(s, "map:eager", 0);
  expect_diagonal(s, "map:flash2", 0);
}

TEST_F(GuiScreens, ClickingAWorstRowShowsItInTheMaps) {
  std::string cap = gptoss_capture();
  const std::string cmp = "--compare 'eager,flash2 (what-if)'";
  Shot d = render(cap, "divergence", cmp);
  const json* w = d.region("div:worst:3");
  ASSERT_NE(w, nullptr) << d.j.dump();
  const int row = (*w)["row"], head = (*w)["head"];
  char script[160];
  std::snprintf(script, sizeof script, "settle;move:%.0f,%.0f;move:%.0f,%.0f;click",
                (*w)["x"].get<double>() + 30, (*w)["y"].get<double>() + (*w)["h"].get<double>() / 2,
                (*w)["x"].get<double>() + 31, (*w)["y"].get<double>() + (*w)["h"].get<double>() / 2);
  Shot s = render(cap, "divergence", cmp + " --input '" + script + "'");
  ASSERT_FALSE(s.px.empty());
  EXPECT_EQ(s.j["panel"], "maps") << "the click should switch to the maps";
  const json* e = s.region("map:eager");
  ASSERT_NE(e, nullptr) << s.j.dump();
  EXPECT_EQ((*e)["head"], head);
  const double rows = (*e)["rows"];
  EXPECT_LE((*e)["y0"].get<double>() * rows, row);
  EXPECT_GE((*e)["y1"].get<double>() * rows, row + 1);
  EXPECT_LT((*e)["y1"].get<double>() - (*e)["y0"].get<double>(), 1.0) << "zoomed onto the row";
}

TEST_F(GuiScreens, MapsStayOnTheDiagonalInLogScale) {
  Shot s = render(planted_capture(), "maps", "--head 1 --log");
  ASSERT_FALSE(s.px.empty());
  expect_diagonal(s, "map:eager", kOffset[1]);
}

// All pixels of a region's interior; the fraction equal to `c`.
double fraction_of(const Shot& s, const json& r, Rgb c) {
  const int x0 = static_cast<int>(std::ceil(r["x"].get<double>())) + 1, y0 = static_cast<int>(std::ceil(r["y"].get<double>())) + 1;
  const int x1 = static_cast<int>(r["x"].get<double>() + r["w"].get<double>()) - 1;
  const int y1 = static_cast<int>(r["y"].get<double>() + r["h"].get<double>()) - 1;
  int64_t n = 0, eq = 0;
  for (int y = y0; y < y1; ++y)
    for (int x = x0; x < x1; ++x, ++n)
      if (s.at(x, y).near(c, 1)) ++eq;
  return n ? static_cast<double>(eq) / n : 0.0;
}

TEST_F(GuiScreens, ACaptureWithoutInputsOverTheBudgetShowsTheStoredOverview) {
  // --no-inputs and a zero budget: P cannot be rebuilt, the file keeps a 32x32 max-pooled overview.
  std::string cap = cli_capture("overview", "--seq 256 --impl eager,sink --budget 0 --no-inputs");
  Shot s = render(cap, "maps");
  ASSERT_FALSE(s.px.empty());
  const json* r = s.region("map:eager");
  ASSERT_NE(r, nullptr) << s.j.dump();
  EXPECT_EQ((*r)["rows"], 8);
  EXPECT_EQ((*r)["cols"], 8);
  EXPECT_EQ(s.region("map:sink"), nullptr) << "sink's P needs the inputs: no map, a reason instead";
  // Causal: the cell above the diagonal (row 0, last column) is at the floor colour, the first
  // cell (row 0 attends to key 0 only: P = 1 before the sink's share) is the brightest.
  const double x = (*r)["x"], y = (*r)["y"], w = (*r)["w"], h = (*r)["h"];
  Rgb first = s.at(static_cast<int>(x + w / 16), static_cast<int>(y + h / 16));
  Rgb corner = s.at(static_cast<int>(x + w * 15 / 16), static_cast<int>(y + h / 16));
  EXPECT_TRUE(corner.near(rgb(colormap_at(Colormap::Viridis, 0.0f)), 2));
  EXPECT_GT(first.lum(), corner.lum() + 100);
}

TEST_F(GuiScreens, DivergenceOfARunWithItselfIsUniformlyTheZeroColour) {
  Shot s = render(planted_capture(), "divergence", "--compare eager,eager");
  ASSERT_FALSE(s.px.empty());
  const Rgb zero = rgb(colormap_at(Colormap::Viridis, 0.0f));
  for (const char* name : {"div:heatmap", "div:rows"}) {
    const json* r = s.region(name);
    ASSERT_NE(r, nullptr) << name;
    EXPECT_EQ((*r)["vmax"].get<double>(), 0.0) << name;
    EXPECT_EQ(fraction_of(s, *r, zero), 1.0) << name << " should be uniformly the zero colour";
  }
}

TEST_F(GuiScreens, DivergenceOfEagerAgainstTheWhatIfFlash2WithoutSinksIsNotZero) {
  Shot s = render(gptoss_capture(), "divergence", "--compare 'eager,flash2 (what-if)'");
  ASSERT_FALSE(s.px.empty());
  const Rgb zero = rgb(colormap_at(Colormap::Viridis, 0.0f));
  const json* r = s.region("div:heatmap");
  ASSERT_NE(r, nullptr);
  EXPECT_GT((*r)["vmax"].get<double>(), 1e-3);
  // Dropping the sinks changes every row's normalisation, most in the first rows (few keys
  // visible, so the sink's share is largest): the heatmap is far from uniform, its top rows lit.
  EXPECT_LT(fraction_of(s, *r, zero), 0.9);
  json top = *r;
  top["h"] = r->at("h").get<double>() * 5.0 / r->at("rows").get<double>();
  EXPECT_LT(fraction_of(s, top, zero), 0.2) << "the first five query rows should all differ";
  const json* rows = s.region("div:rows");
  ASSERT_NE(rows, nullptr);
  EXPECT_LT(fraction_of(s, *rows, zero), 0.9);
}

TEST_F(GuiScreens, MapsMinusReferenceAreWhiteForSinkAndRedWhereTheWhatIfDroppedTheSinks) {
  Shot s = render(gptoss_capture(), "maps", "--minus-reference --head 0");
  ASSERT_FALSE(s.px.empty());
  const Rgb white = rgb(colormap_at(Colormap::Diverging, 0.5f));
  const json* sink = s.region("map:sink");
  ASSERT_NE(sink, nullptr);
  // The sink kernel keeps the sinks: its P matches the reference to bf16 rounding.
  EXPECT_GT(fraction_of(s, *sink, white), 0.9);
  // flash2 without sinks gives the sink's mass to the keys: P above the reference (red), most in
  // the first rows where few keys are visible.
  const json* fw = s.region("map:flash2 (what-if)");
  ASSERT_NE(fw, nullptr);
  const int x0 = static_cast<int>(std::ceil((*fw)["x"].get<double>())), y0 = static_cast<int>(std::ceil((*fw)["y"].get<double>()));
  const int cell = static_cast<int>((*fw)["w"].get<double>() / (*fw)["cols"].get<double>());
  int red = 0;
  for (int y = y0; y < y0 + 4 * std::max(1, cell); ++y)
    for (int x = x0; x < x0 + 4 * std::max(1, cell); ++x) {
      Rgb c = s.at(x, y);
      if (c.r > c.b + 60) ++red;
    }
  EXPECT_GT(red, 4) << "no red (P above the reference) in the first rows of flash2 (what-if)";
}

TEST_F(GuiScreens, TimelineDrawsOneBarPerSpanAtTheRecordedRelativeWidths) {
  Capture cap;
  double px_per_us = 0;
  Shot s = timeline_shot(gptoss_capture(), &cap, &px_per_us);
  ASSERT_GT(px_per_us, 0);
  int checked = 0;
  for (const RunResult& r : cap.runs) {
    const json* t = s.region("timeline:track:" + r.label);
    ASSERT_NE(t, nullptr) << r.label;
    size_t expect = r.kernels.empty() ? r.spans.size() : r.kernels.size();
    ASSERT_EQ((*t)["bars"].size(), expect) << r.label;
    for (size_t i = 0; i < expect; ++i) {
      const json& b = (*t)["bars"][i];
      double x0 = b[0], x1 = b[1], yc = b[2], dur = b[3];
      uint32_t color = b[4];
      double want = r.kernels.empty() ? r.spans[i].dur_us : r.kernels[i].dur_us;
      EXPECT_NEAR(dur, want, 1e-6 * std::max(1.0, want));
      EXPECT_NEAR(x1 - x0, std::max(1.0, want * px_per_us), 1.0) << r.label << " bar " << i;
      if (x1 - x0 < 6) continue;
      // Measure the bar in the PNG along its lower edge (labels sit in the upper part).
      int y = static_cast<int>(yc) + 7;
      Rgb c = rgb(color);
      ASSERT_TRUE(s.at(static_cast<int>((x0 + x1) / 2), y).near(c, 3)) << r.label << " bar " << i << " not drawn";
      int left = static_cast<int>((x0 + x1) / 2), right = left;
      while (left > 0 && s.at(left - 1, y).near(c, 3)) --left;
      while (right + 1 < s.w && s.at(right + 1, y).near(c, 3)) ++right;
      EXPECT_NEAR(right + 1 - left, x1 - x0, 2.0) << r.label << " bar " << i << " width in pixels";
      ++checked;
    }
  }
  EXPECT_GE(checked, 3) << "at least three runs should have measurable bars";
  // Relative widths between runs follow the recorded durations.
  std::vector<std::pair<double, double>> wd;
  for (const RunResult& r : cap.runs) {
    const json* t = s.region("timeline:track:" + r.label);
    for (const auto& b : (*t)["bars"]) wd.push_back({b[1].get<double>() - b[0].get<double>(), b[3].get<double>()});
  }
  for (size_t i = 1; i < wd.size(); ++i)
    if (wd[0].first > 20 && wd[i].first > 20) {
      EXPECT_NEAR(wd[i].first / wd[0].first, wd[i].second / wd[0].second, 0.05 * wd[i].second / wd[0].second + 0.02);
    }
}

// Kernel records as the CUPTI path stores them (several kernels per run on two streams, repeats),
// written into a CPU capture: the timeline's GPU path without a GPU.
TEST_F(GuiScreens, TimelineDrawsOneBarPerKernelRecordOnItsStreamLane) {
  Capture cap;
  ASSERT_TRUE(load_capture(planted_capture(), &cap).ok());
  const double durs[3] = {40.0, 120.0, 15.0};
  double t = 1000;
  for (RunResult& r : cap.runs) {
    r.kernels.clear();
    for (int rep = 0; rep < 2; ++rep)
      for (int k = 0; k < 3; ++k) {
        KernelRecord kr;
        kr.name = r.label + "_kernel_" + std::to_string(k);
        kr.start_us = t;
        kr.dur_us = durs[k] * (r.label == "eager" ? 2.0 : 1.0);
        kr.grid[0] = 64;
        kr.block[0] = 128;
        kr.stream = k == 2 ? 14 : 7;
        kr.repeat = rep;
        t += kr.dur_us + 10;
        r.kernels.push_back(kr);
      }
    r.memory = {{t - 500, 1 << 20, "workspace"}, {t - 100, -(1 << 20), "workspace"}};
  }
  fs::path path = dir() / "kernels.h5";
  ASSERT_EQ(save_capture(cap, path.string()), "");
  Shot s = render(path.string(), "timeline");
  ASSERT_FALSE(s.px.empty());
  const json* plot = s.region("timeline:plot");
  ASSERT_NE(plot, nullptr);
  const double px_per_us = (*plot)["w"].get<double>() / ((*plot)["t1_us"].get<double>() - (*plot)["t0_us"].get<double>());
  for (const RunResult& r : cap.runs) {
    const json* tr = s.region("timeline:track:" + r.label);
    ASSERT_NE(tr, nullptr);
    EXPECT_EQ((*tr)["lanes"], 2) << "two streams, two lanes";
    ASSERT_EQ((*tr)["bars"].size(), 6u) << r.label;
    for (size_t i = 0; i < 6; ++i) {
      const json& b = (*tr)["bars"][i];
      EXPECT_NEAR(b[1].get<double>() - b[0].get<double>(), r.kernels[i].dur_us * px_per_us, 1.0);
      EXPECT_EQ(b[5].get<int>(), r.kernels[i].stream == 14 ? 1 : 0);
      // Bars on the second lane sit one lane lower.
      if (i % 3 == 2) {
        EXPECT_GT(b[2].get<double>(), (*tr)["bars"][i - 1][2].get<double>());
      }
      double w = b[1].get<double>() - b[0].get<double>();
      if (w >= 6) {
        Rgb c = rgb(b[4].get<uint32_t>());
        EXPECT_TRUE(s.at(static_cast<int>((b[0].get<double>() + b[1].get<double>()) / 2), static_cast<int>(b[2].get<double>()) + 7).near(c, 3))
            << r.label << " kernel " << i << " not drawn";
      }
    }
  }
  // eager's kernels were recorded twice as long: its bars are twice as wide.
  const json* e = s.region("timeline:track:eager");
  const json* f = s.region("timeline:track:flash2");
  ASSERT_TRUE(e && f);
  double we = (*e)["bars"][1][1].get<double>() - (*e)["bars"][1][0].get<double>();
  double wf = (*f)["bars"][1][1].get<double>() - (*f)["bars"][1][0].get<double>();
  EXPECT_NEAR(we / wf, 2.0, 0.05);
}

TEST_F(GuiScreens, TimelineWheelZoomKeepsTheTimeUnderTheCursor) {
  std::string cap = gptoss_capture();
  Shot a = render(cap, "timeline");
  const json* p = a.region("timeline:plot");
  ASSERT_NE(p, nullptr);
  const double x = p->at("x").get<double>(), w = p->at("w").get<double>();
  const double t0 = p->at("t0_us"), t1 = p->at("t1_us");
  const double mx = std::round(x + 0.3 * w), my = p->at("y").get<double>() + 40;
  char script[128];
  std::snprintf(script, sizeof script, "settle;move:%.0f,%.0f;move:%.0f,%.0f;wheel:3", mx, my, mx, my);
  Shot b = render(cap, "timeline", std::string("--input '") + script + "'");
  const json* q = b.region("timeline:plot");
  ASSERT_NE(q, nullptr);
  const double u0 = q->at("t0_us"), u1 = q->at("t1_us");
  EXPECT_NEAR((u1 - u0) / (t1 - t0), std::pow(0.8, 3), 1e-6);
  const double f = (mx - x) / w;
  EXPECT_NEAR(u0 + f * (u1 - u0), t0 + f * (t1 - t0), 1e-6 * (t1 - t0)) << "the time under the cursor moved";
}

TEST_F(GuiScreens, MemoryBarHeightsOrderAsThePeaks) {
  std::string path = gptoss_capture();
  Shot s = render(path, "memory");
  ASSERT_FALSE(s.px.empty());
  const json* plot = s.region("memory:plot");
  ASSERT_NE(plot, nullptr);
  const double base = (*plot)["baseline_y"], top = (*plot)["top_y"], max_bytes = (*plot)["max_bytes"];
  std::vector<std::pair<int64_t, double>> bars;  // peak, measured pixel height
  for (const auto& r : s.j["regions"]) {
    std::string name = r["name"];
    if (name.rfind("memory:bar:", 0) != 0) continue;
    int64_t peak = r["peak"];
    Rgb c = rgb(r["color"].get<uint32_t>());
    int x = static_cast<int>(r["x"].get<double>() + r["w"].get<double>() / 2);
    // The topmost pixel of the bar's colour in its centre column.
    int top_px = static_cast<int>(base);
    for (int y = static_cast<int>(top); y < static_cast<int>(base); ++y)
      if (s.at(x, y).near(c, 3)) {
        top_px = y;
        break;
      }
    double h = base - top_px;
    double want = peak / max_bytes * (base - top);
    EXPECT_NEAR(h, want, 3.0) << name;
    bars.push_back({peak, h});
  }
  ASSERT_GE(bars.size(), 3u);
  for (size_t i = 0; i < bars.size(); ++i)
    for (size_t k = 0; k < bars.size(); ++k)
      if (bars[i].first > bars[k].first * 1.05 + 4096) {
        EXPECT_GT(bars[i].second, bars[k].second) << "peak " << bars[i].first << " vs " << bars[k].first;
      }
}

// The memory model at the model's full context: a Llama-3-8B layer from its HF config (8192
// tokens) against a T4: eager's plan needs more than the card, flash2 does not.
TEST_F(GuiScreens, MemoryPanelOpensAtTheFullContextAgainstTheGpu) {
  const std::string cap = cli_capture("llama3_config", "--config " + q(std::string(ATTNSCOPE_SOURCE_DIR) +
                                                                       "/samples/hf/llama-3-8b.json") +
                                                           " --seq 128 --impl eager,flash2");
  Shot s = render(cap, "memory", "--gpu T4");
  ASSERT_FALSE(s.px.empty());
  const json* m = s.region("memory:model");
  ASSERT_NE(m, nullptr) << s.j.dump();
  EXPECT_EQ((*m)["full"], 8192);
  EXPECT_EQ((*m)["seq"], 8192);
  EXPECT_EQ((*m)["device_bytes"], int64_t{16} << 30);
  const json* eager = s.region("memory:need:eager");
  const json* flash = s.region("memory:need:flash2");
  ASSERT_NE(eager, nullptr);
  ASSERT_NE(flash, nullptr);
  LayerSpec spec;
  ASSERT_EQ(load_hf_config(std::string(ATTNSCOPE_SOURCE_DIR) + "/samples/hf/llama-3-8b.json", 0, &spec, nullptr), "");
  spec.seq_q = spec.seq_k = 8192;
  EXPECT_EQ((*eager)["need"], estimate_memory("eager", spec).total());
  EXPECT_EQ((*eager)["over"], 1);
  EXPECT_EQ((*flash)["over"], 0);
}

// A capture with gradients opens the Memory panel with the training lines: each implementation's
// backward need at the full context under its forward's (T4: eager's backward does not fit, flash2's does).
TEST_F(GuiScreens, MemoryPanelShowsWhatTrainingNeedsForACaptureWithGradients) {
  const std::string cap = cli_capture("llama3_config_bwd", "--config " + q(std::string(ATTNSCOPE_SOURCE_DIR) +
                                                                           "/samples/hf/llama-3-8b.json") +
                                                               " --seq 64 --impl eager,flash2 --backward");
  Shot s = render(cap, "memory", "--gpu T4");
  ASSERT_FALSE(s.px.empty());
  const json* eager = s.region("memory:need:eager");
  const json* eager_train = s.region("memory:train:eager");
  const json* flash_train = s.region("memory:train:flash2");
  ASSERT_NE(eager, nullptr);
  ASSERT_NE(eager_train, nullptr) << s.j.dump();
  ASSERT_NE(flash_train, nullptr);
  LayerSpec spec;
  ASSERT_EQ(load_hf_config(std::string(ATTNSCOPE_SOURCE_DIR) + "/samples/hf/llama-3-8b.json", 0, &spec, nullptr), "");
  EXPECT_EQ((*eager_train)["need"], fit_backward_at_context("eager", spec, 8192, nullptr).bytes);
  EXPECT_GT((*eager_train)["need"].get<int64_t>(), (*eager)["need"].get<int64_t>());
  EXPECT_EQ((*eager_train)["over"], 1);
  EXPECT_EQ((*flash_train)["over"], 0);
}

TEST_F(GuiScreens, ProbePanelShowsTheProbedTiles) {
  Shot s = render(gptoss_capture(), "probe");
  ASSERT_FALSE(s.px.empty());
  const json* r = s.region("probe:p");
  ASSERT_NE(r, nullptr) << s.j.dump();
  EXPECT_EQ((*r)["rows"], 32);
  EXPECT_EQ((*r)["cols"], 128);
  // Causal probe rows 0-31: the upper-left triangle lit, the rest at the floor colour.
  const Rgb zero = rgb(colormap_at(Colormap::Viridis, 0.0f));
  double f = fraction_of(s, *r, zero);
  EXPECT_GT(f, 0.5);
  EXPECT_LT(f, 0.98);
}

// One session a test: each stays far inside the GUI tests' 60 s limit on a loaded machine.
class EveryPanel : public GuiScreens, public ::testing::WithParamInterface<const char*> {};

TEST_P(EveryPanel, RendersAndExitsZero) {
  std::string cap = gptoss_capture();
  const char* p = GetParam();
  Shot s = render(cap, p, "--gpu T4");
  ASSERT_FALSE(s.px.empty()) << p;
  EXPECT_EQ(s.j["panel"], p);
  // Not a blank window: many distinct colours.
  std::map<int, int> hist;
  for (size_t i = 0; i + 2 < s.px.size(); i += 3 * 7) hist[(s.px[i] >> 4) << 8 | (s.px[i + 1] >> 4) << 4 | (s.px[i + 2] >> 4)]++;
  EXPECT_GT(hist.size(), 8u) << p;
}
INSTANTIATE_TEST_SUITE_P(GuiScreens, EveryPanel,
                         ::testing::Values("maps", "divergence", "probe", "timeline", "memory", "diagnose"));

TEST_F(GuiScreens, AMissingCaptureIsAnErrorInTheWindowAndExitStatusTwo) {
  Shot s = render((dir() / "does-not-exist.h5").string(), "maps", "", 2);
  EXPECT_FALSE(s.px.empty());
  EXPECT_NE(s.log.find("does-not-exist.h5"), std::string::npos) << s.log;
}

TEST_F(GuiScreens, CroppedPanelScreenshotHasThePanelSize) {
  std::string cap = planted_capture();
  fs::path png = dir() / "crop.png";
  std::string log;
  int rc = run_cmd(std::string(ATTNSCOPE_XVFB_RUN) + " -a -s '-screen 0 1600x1000x24' " + ATTNSCOPE_BIN + " gui " +
                       q(cap) + " --panel maps --crop-panel --size 1200x800 --screenshot " + q(png.string()),
                   &log);
  ASSERT_EQ(rc, 0) << log;
  int w, h, ch;
  unsigned char* d = stbi_load(png.string().c_str(), &w, &h, &ch, 3);
  ASSERT_NE(d, nullptr);
  stbi_image_free(d);
  EXPECT_LT(w, 1200);
  EXPECT_LT(h, 800);
  EXPECT_GT(w, 500);
  EXPECT_GT(h, 400);
}

// The GPU fixture committed under tests/fixtures (made on the GPU machine), when present.
// The captures committed from the GPU machine.
std::vector<fs::path> gpu_fixtures() {
  std::vector<fs::path> fixtures;
  std::error_code ec;
  for (const char* where : {"tests/fixtures", "tests/gui/fixtures"})
    for (const auto& e : fs::recursive_directory_iterator(fs::path(ATTNSCOPE_SOURCE_DIR) / where, ec))
      if (e.path().extension() == ".h5") fixtures.push_back(e.path());
  return fixtures;
}

TEST_F(GuiScreens, GpuFixtureTimelineHasOneBarPerKernel) {
  const std::vector<fs::path> fixtures = gpu_fixtures();
  if (fixtures.empty()) GTEST_SKIP() << "no GPU capture under tests/fixtures or tests/gui/fixtures";
  for (const auto& f : fixtures) {
    Capture cap;
    LoadStatus st = load_capture(f.string(), &cap);
    ASSERT_TRUE(st.ok()) << st.message;
    Shot s = render(f.string(), "timeline");
    ASSERT_FALSE(s.px.empty());
    int with_kernels = 0;
    for (const RunResult& r : cap.runs) {
      const json* t = s.region("timeline:track:" + r.label);
      ASSERT_NE(t, nullptr) << f << " " << r.label;
      EXPECT_EQ((*t)["bars"].size(), r.kernels.empty() ? r.spans.size() : r.kernels.size()) << r.label;
      with_kernels += !r.kernels.empty();
    }
    if (cap.env.backend == "cuda") {
      EXPECT_GT(with_kernels, 0) << f;
    }
  }
}

class GpuFixturePanel : public GuiScreens, public ::testing::WithParamInterface<const char*> {};

TEST_P(GpuFixturePanel, Renders) {
  const std::vector<fs::path> fixtures = gpu_fixtures();
  if (fixtures.empty()) GTEST_SKIP() << "no GPU capture under tests/fixtures or tests/gui/fixtures";
  for (const auto& f : fixtures) {
    Shot s = render(f.string(), GetParam());
    ASSERT_FALSE(s.px.empty()) << f;
  }
}
INSTANTIATE_TEST_SUITE_P(GuiScreens, GpuFixturePanel, ::testing::Values("maps", "memory"));

TEST_F(GuiScreens, RunFromTheGuiOnAWorkerThreadFillsEveryPanel) {
  // A layer spec opened in the GUI and run there (--run): the session runs off the UI thread and
  // the headless screenshot waits for it.
  LayerSpec s;
  s.name = "gui run";
  s.seq_q = s.seq_k = 64;
  s.heads_q = 2;
  s.heads_kv = 1;
  s.head_dim = s.head_dim_v = 32;
  s.causal = true;
  s.sinks = true;
  fs::path spec = dir() / "gui_run.json";
  std::ofstream(spec) << spec_to_json(s);
  Shot t = render(spec.string(), "timeline", "--run --impl eager,flash2,sink --what-if");
  ASSERT_FALSE(t.px.empty());
  for (const char* label : {"eager", "flash2 (what-if)", "sink"}) {
    const json* r = t.region(std::string("timeline:track:") + label);
    ASSERT_NE(r, nullptr) << label << " in " << t.j.dump();
    EXPECT_GE((*r)["bars"].size(), 1u) << label;
  }
  EXPECT_EQ(t.region("timeline:track:sdpa"), nullptr) << "sdpa was not selected";
}

TEST_F(GuiScreens, FileOpenDialogLoadsTheDoubleClickedCapture) {
  // File > Open capture..., then a double click on the capture in the dialog's listing (the
  // dialog starts in the working directory). Menu positions are those of ImGui's default font.
  fs::path wd = dir() / "open_dialog";
  fs::create_directories(wd);
  fs::copy_file(planted_capture(), wd / "planted.h5", fs::copy_options::overwrite_existing);
  const std::string menu = "settle;move:25,9;move:26,9;click;move:60,32;move:61,32;move:62,32;click";
  auto run = [&](const std::string& script, const std::string& png) {
    Shot s;
    std::string cmd = "cd " + q(wd.string()) + " && " + ATTNSCOPE_XVFB_RUN + " -a -s '-screen 0 1600x1000x24' " +
                      ATTNSCOPE_BIN + " gui --no-run --panel maps --size 1600x1000 --input '" + script + "' --screenshot " + png;
    EXPECT_EQ(run_cmd(cmd, &s.log), 0) << cmd << "\n" << s.log;
    std::ifstream jf(wd / (png + ".json"));
    if (jf) s.j = json::parse(jf);
    return s;
  };
  Shot open = run(menu, "dialog.png");
  const json* entry = open.region("dialog:entry:planted.h5");
  ASSERT_NE(entry, nullptr) << "the dialog should list planted.h5: " << open.j.dump();
  EXPECT_EQ(open.region("dialog:entry:dialog.png"), nullptr) << "only .h5 files are listed";
  char pick[96];
  std::snprintf(pick, sizeof pick, ";move:%.0f,%.0f;move:%.0f,%.0f;click;click", (*entry)["x"].get<double>() + 20,
                (*entry)["y"].get<double>() + 8, (*entry)["x"].get<double>() + 21, (*entry)["y"].get<double>() + 8);
  Shot loaded = run(menu + pick, "loaded.png");
  EXPECT_EQ(loaded.j["capture"], (wd / "planted.h5").string());
  EXPECT_NE(loaded.region("map:eager"), nullptr) << loaded.j.dump();
}

TEST_F(GuiScreens, EscapeCancelsARunningSessionPromptly) {
  // A layer that takes the CPU minutes (GPT-OSS-20B's 64 heads at 4096 tokens), run from the
  // GUI and cancelled with Escape a few frames in.
  LayerSpec s = default_spec();
  s.seq_q = s.seq_k = 4096;
  fs::path spec = dir() / "long_run.json";
  std::ofstream(spec) << spec_to_json(s);
  auto t0 = std::chrono::steady_clock::now();
  Shot r = render(spec.string(), "maps", "--run --impl eager,sink --input 'wait:10;esc'");
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_FALSE(r.px.empty());
  EXPECT_EQ(r.j["info"], "run cancelled") << r.log;
  EXPECT_EQ(r.j["capture"], "");
  EXPECT_EQ(r.region("map:eager"), nullptr);
  EXPECT_LT(secs, 60) << "cancelling should stop the session within seconds";
}

TEST_F(GuiScreens, SettingsAndRecentFilesPersistAcrossSessions) {
  // --frames without --screenshot is a normal session that closes itself: it saves settings.
  std::string cap = planted_capture();
  fs::path xdg = dir() / "xdg";
  auto session = [&](const std::string& args) {
    std::string log;
    int rc = run_cmd("XDG_CONFIG_HOME=" + q(xdg.string()) + " " + ATTNSCOPE_XVFB_RUN +
                         " -a -s '-screen 0 1600x1000x24' " + ATTNSCOPE_BIN + " gui " + args + " --frames 3",
                     &log);
    EXPECT_EQ(rc, 0) << log;
  };
  auto settings = [&] {
    std::ifstream f(xdg / "attnscope" / "settings.ini");
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  };
  session(q(cap) + " --panel memory");
  std::string s1 = settings();
  EXPECT_NE(s1.find("recent=" + cap + "\n"), std::string::npos) << s1;
  EXPECT_NE(s1.find("panel=4\n"), std::string::npos) << s1;
  EXPECT_TRUE(fs::exists(xdg / "attnscope" / "imgui.ini"));
  // A second session with no file and no --panel starts from the saved state and keeps it.
  session("--no-run");
  std::string s2 = settings();
  EXPECT_NE(s2.find("recent=" + cap + "\n"), std::string::npos) << s2;
  EXPECT_NE(s2.find("panel=4\n"), std::string::npos) << s2;
}

TEST(GuiCli, HelpPrintsUsage) {
  std::string out;
  EXPECT_EQ(run_cmd(std::string(ATTNSCOPE_BIN) + " gui --help", &out), 0);
  EXPECT_NE(out.find("usage: attnscope gui"), std::string::npos) << out;
  EXPECT_NE(out.find("--screenshot"), std::string::npos);
  EXPECT_EQ(run_cmd(std::string(ATTNSCOPE_BIN) + " gui --panel nosuch", &out), 1);
  EXPECT_NE(out.find("unknown panel"), std::string::npos) << out;
}

// A layer of a tiny GPT-OSS-shaped model recorded under transformers with a registered attention
// that drops the sinks (tests/device/hf_replay.py on the H100), replayed on the GPU: the outside
// run "hf" opens with its own attention map beside attnscope's runs, and against fp64 it shows the
// same excess mass in the first rows as the flash2 what-if (sinks dropped), where sink shows none.
TEST_F(GuiScreens, ARecordedHfLayerOpensWithTheOutsideRunsMapBesideOurs) {
  const std::string cap = std::string(ATTNSCOPE_SOURCE_DIR) + "/tests/fixtures/hf_dump_gptoss_drop_sinks/layer000.h5";
  Shot s = render(cap, "maps", "--minus-reference --head 0");
  ASSERT_FALSE(s.px.empty());
  for (const char* name : {"map:eager", "map:sink", "map:flash2 (what-if)", "map:hf"})
    EXPECT_NE(s.region(name), nullptr) << name << " missing:\n" << s.j.dump();
  const json* hf = s.region("map:hf");
  const json* sink = s.region("map:sink");
  ASSERT_TRUE(hf && sink);
  auto red_in_first_rows = [&](const json& r) {
    const int x0 = static_cast<int>(std::ceil(r["x"].get<double>())), y0 = static_cast<int>(std::ceil(r["y"].get<double>()));
    const int cell = std::max(1, static_cast<int>(r["w"].get<double>() / r["cols"].get<double>()));
    int red = 0;
    for (int y = y0; y < y0 + 3 * cell; ++y)
      for (int x = x0; x < x0 + 3 * cell; ++x) {
        Rgb c = s.at(x, y);
        if (c.r > c.b + 60) ++red;
      }
    return red;
  };
  EXPECT_GT(red_in_first_rows(*hf), 4) << "the sink-dropping function's P shows no excess in the first rows";
  EXPECT_EQ(red_in_first_rows(*sink), 0) << "sink keeps the sinks: no excess expected";
}

// The Llama layer with the Triton sink kernel as its attention, dumped with --time
// (tests/fixtures/outside_llama_triton_sink) and replayed beside attnscope's eager: the outside
// run's kernels sit on the timeline under its profiler phases, its peak in the memory panel; the
// same dump without its timing record is "not timed" there.
class GuiOutsideCost : public GuiScreens {
 protected:
  static std::string dump() { return std::string(ATTNSCOPE_SOURCE_DIR) + "/tests/fixtures/outside_llama_triton_sink/"; }
  static std::string capture(const std::string& name, const std::string& tensors) {
    return cli_capture(name, "--cpu --impl eager --spec " + q(dump() + "layer000.json") + " --inputs " + q(tensors) +
                                 " --import-run " + q("triton_sink=" + tensors + ":out"));
  }
  static std::string timed() { return capture("outside_timed", dump() + "layer000.safetensors"); }
  static std::string untimed() {
    NamedTensors nt;
    EXPECT_EQ(read_safetensors(dump() + "layer000.safetensors", &nt), "");
    nt.metadata.erase("attnscope_timing");
    const std::string t = (dir() / "untimed.safetensors").string();
    EXPECT_EQ(write_safetensors(t, nt), "");
    return capture("outside_untimed", t);
  }
};

TEST_F(GuiOutsideCost, TimelineDrawsTheOutsideKernelsUnderTheirPhases) {
  const std::string path = timed();
  Capture cap;
  ASSERT_TRUE(load_capture(path, &cap).ok());
  const RunResult* o = cap.find("triton_sink");
  ASSERT_TRUE(o && !o->kernels.empty() && !o->ranges.empty());
  Shot s = render(path, "timeline");
  ASSERT_FALSE(s.px.empty());
  const json* plot = s.region("timeline:plot");
  const json* track = s.region("timeline:track:triton_sink");
  const json* ranges = s.region("timeline:ranges:triton_sink");
  ASSERT_TRUE(plot && track && ranges) << s.j.dump();
  // The view opens on the kernels (the CPU run's spans are on the session's clock).
  const double t0 = (*plot)["t0_us"], t1 = (*plot)["t1_us"];
  for (const KernelRecord& k : o->kernels) {
    EXPECT_GE(k.start_us, t0);
    EXPECT_LE(k.start_us + k.dur_us, t1);
  }
  ASSERT_EQ((*track)["bars"].size(), o->kernels.size());
  EXPECT_TRUE((*track)["timed"].get<bool>());
  EXPECT_TRUE((*track)["cupti_overhead_pct"].is_number());
  const double px_per_us = (*plot)["w"].get<double>() / (t1 - t0);
  int drawn = 0;
  for (size_t i = 0; i < o->kernels.size(); ++i) {
    const json& b = (*track)["bars"][i];
    EXPECT_NEAR(b[1].get<double>() - b[0].get<double>(), std::max(1.0, o->kernels[i].dur_us * px_per_us), 1.0);
    if (b[1].get<double>() - b[0].get<double>() < 6) continue;
    Rgb c = rgb(b[4].get<uint32_t>());
    EXPECT_TRUE(s.at(static_cast<int>((b[0].get<double>() + b[1].get<double>()) / 2), static_cast<int>(b[2].get<double>()) + 7)
                    .near(c, 3))
        << o->kernels[i].name << " not drawn";
    ++drawn;
  }
  EXPECT_GE(drawn, 10) << "the Triton kernel of every repeat is wide enough to see";
  // Phases: one row per depth above the kernel lanes, each range drawn in its colour.
  EXPECT_EQ((*ranges)["rows"], 3);
  ASSERT_EQ((*ranges)["bars"].size(), o->ranges.size());
  EXPECT_LE((*ranges)["y"].get<double>() + (*ranges)["h"].get<double>(), (*track)["y"].get<double>() + 0.5);
  int phases_seen = 0;
  for (size_t i = 0; i < o->ranges.size(); ++i) {
    const json& b = (*ranges)["bars"][i];
    const double x0 = std::max(b[0].get<double>(), (*plot)["x"].get<double>());
    const double x1 = std::min(b[1].get<double>(), (*plot)["x"].get<double>() + (*plot)["w"].get<double>());
    EXPECT_EQ(b[5].get<int>(), o->ranges[i].depth);
    if (x1 - x0 < 8) continue;
    // Sample below the label, along the bar's lower edge.
    EXPECT_TRUE(s.at(static_cast<int>(x1) - 3, static_cast<int>(b[2].get<double>()) + 4).near(rgb(b[4].get<uint32_t>()), 3))
        << o->ranges[i].name << " not drawn";
    ++phases_seen;
  }
  EXPECT_GE(phases_seen, 3) << "implementation, warm-up and timed repeats at least";
  // A repeat's kernels are drawn right of where its range starts (launched inside it).
  for (size_t i = 0; i < o->kernels.size(); ++i) {
    if (o->kernels[i].repeat < 0) continue;
    for (size_t g = 0; g < o->ranges.size(); ++g)
      if (o->ranges[g].name == "repeat " + std::to_string(o->kernels[i].repeat)) {
        EXPECT_GE((*track)["bars"][i][0].get<double>() + 0.5, (*ranges)["bars"][g][0].get<double>()) << i;
      }
  }
}

TEST_F(GuiOutsideCost, MemoryShowsTheMeasuredPeakOrNotTimed) {
  NamedTensors nt;
  ASSERT_EQ(read_safetensors(dump() + "layer000.safetensors", &nt), "");
  const int64_t peak = json::parse(nt.metadata.at("attnscope_timing"))["peak_bytes"];
  Shot s = render(timed(), "memory");
  ASSERT_FALSE(s.px.empty());
  const json* plot = s.region("memory:plot");
  const json* bar = s.region("memory:bar:triton_sink");
  ASSERT_TRUE(plot && bar) << s.j.dump();
  EXPECT_EQ((*bar)["peak"], peak);
  EXPECT_EQ(s.region("memory:not_timed:triton_sink"), nullptr);
  const double base = (*plot)["baseline_y"], top = (*plot)["top_y"], max_bytes = (*plot)["max_bytes"];
  Rgb c = rgb((*bar)["color"].get<uint32_t>());
  const int x = static_cast<int>((*bar)["x"].get<double>() + (*bar)["w"].get<double>() / 2);
  int top_px = static_cast<int>(base);
  for (int y = static_cast<int>(top); y < static_cast<int>(base); ++y)
    if (s.at(x, y).near(c, 3)) {
      top_px = y;
      break;
    }
  EXPECT_NEAR(base - top_px, peak / max_bytes * (base - top), 3.0) << "the bar's height is the dump's peak";

  Shot u = render(untimed(), "memory");
  ASSERT_FALSE(u.px.empty());
  EXPECT_EQ(u.region("memory:bar:triton_sink"), nullptr) << "no 0 B bar for a run that was not timed";
  const json* nt_box = u.region("memory:not_timed:triton_sink");
  ASSERT_NE(nt_box, nullptr) << u.j.dump();
  EXPECT_FALSE((*nt_box)["timed"].get<bool>());
  // The outline is drawn: its top edge is grey, its inside the dark background.
  const int cx = static_cast<int>((*nt_box)["x"].get<double>() + (*nt_box)["w"].get<double>() / 2);
  const int ty = static_cast<int>(std::round((*nt_box)["y"].get<double>()));
  bool edge = false;
  for (int y = ty - 1; y <= ty + 1; ++y) edge |= u.at(cx, y).near(Rgb{150, 150, 160}, 20);
  EXPECT_TRUE(edge) << "no outline at the top of the not-timed box";
}

TEST_F(GuiOutsideCost, TheTimelineSaysNotTimedAndShowsTheGpuEnvironment) {
  // The untimed capture, given the environment a GPU session records (the GUI reads it from the file).
  Capture cap;
  ASSERT_TRUE(load_capture(untimed(), &cap).ok());
  cap.env.gpu.name = "NVIDIA H200";
  cap.env.gpu.cc_major = 9;
  cap.env.gpu.sm_count = 132;
  cap.env.gpu.memory_bytes = int64_t{143} << 30;
  cap.env.gpu.sm_clock_mhz = 1980;
  cap.env.gpu.sm_clock_max_mhz = 1980;
  cap.env.gpu.driver = "580.95.05";
  cap.env.gpu.cuda_runtime = "13.0";
  cap.env.gpu.cublas = "13.1.0";
  cap.env.gpu.cupti = "API 130001";
  for (RunResult& r : cap.runs)
    if (r.label == "eager") {
      r.times_untraced_ms = r.times_ms;
      r.median_untraced_ms = r.median_ms / 1.02;  // a 2% overhead
    }
  const fs::path path = dir() / "env.h5";
  ASSERT_EQ(save_capture(cap, path.string()), "");
  Shot s = render(path.string(), "timeline");
  ASSERT_FALSE(s.px.empty());
  const json* env = s.region("environment");
  ASSERT_NE(env, nullptr) << s.j.dump();
  EXPECT_NE((*env)["lines"]["GPU"].get<std::string>().find("NVIDIA H200, sm90, 132 SMs"), std::string::npos);
  EXPECT_EQ((*env)["lines"]["SM clock at start"], "1980 MHz (max 1980)");
  EXPECT_EQ((*env)["lines"]["cuDNN"], "not loaded");
  const json* e = s.region("timeline:track:eager");
  const json* o = s.region("timeline:track:triton_sink");
  ASSERT_TRUE(e && o);
  EXPECT_NEAR((*e)["cupti_overhead_pct"].get<double>(), 2.0, 1e-6);
  EXPECT_FALSE((*o)["timed"].get<bool>());
  EXPECT_TRUE((*o)["cupti_overhead_pct"].is_null());
  EXPECT_TRUE((*o)["bars"].empty());
  EXPECT_EQ(s.region("timeline:ranges:triton_sink"), nullptr);
}

// The Llama layer recorded on the GPU (tests/device/post_build_profile.sh; skipped until its capture
// is committed as tests/fixtures/gpu_llama_outside.h5): the outside Triton kernel on the timeline
// beside attnscope's kernels, our runs' NVTX phases above theirs, the environment in the header,
// and the outside run's measured peak in the memory panel.
TEST_F(GuiScreens, GpuCaptureOfTheLlamaLayerShowsTheOutsideKernelBesideOurs) {
  const std::string path = std::string(ATTNSCOPE_SOURCE_DIR) + "/tests/fixtures/gpu_llama_outside.h5";
  if (!fs::exists(path)) GTEST_SKIP() << "no device capture " << path;
  Capture cap;
  ASSERT_TRUE(load_capture(path, &cap).ok());
  const RunResult* o = cap.find("triton_sink");
  ASSERT_TRUE(o && !o->kernels.empty());
  Shot s = render(path, "timeline");
  ASSERT_FALSE(s.px.empty());
  const json* track = s.region("timeline:track:triton_sink");
  ASSERT_NE(track, nullptr) << s.j.dump();
  EXPECT_TRUE((*track)["timed"].get<bool>());
  EXPECT_EQ((*track)["bars"].size(), o->kernels.size());
  int ours = 0;
  for (const RunResult& r : cap.runs) {
    if (r.backend != "cuda" || !r.ran || r.kernels.empty()) continue;
    ++ours;
    const json* t = s.region("timeline:track:" + r.label);
    ASSERT_NE(t, nullptr) << r.label;
    EXPECT_FALSE((*t)["bars"].empty()) << r.label;
    EXPECT_NE(s.region("timeline:ranges:" + r.label), nullptr) << r.label << ": no NVTX phases";
  }
  EXPECT_GE(ours, 2);
  EXPECT_NE(s.region("environment"), nullptr);
  Shot m = render(path, "memory");
  ASSERT_FALSE(m.px.empty());
  const json* bar = m.region("memory:bar:triton_sink");
  ASSERT_NE(bar, nullptr) << m.j.dump();
  EXPECT_EQ((*bar)["peak"].get<int64_t>(), o->peak_bytes);
}

// The gradient views: the verdict table has a green cell for each tensor eager and sink get right
// and red ones for the what-if that dropped the sinks (its dsinks is 0); the dsinks heatmap of that
// what-if against fp64 is bright in every head (each head lost its whole gradient).
TEST_F(GuiScreens, GradientVerdictsPerTensorAndTheDroppedSinksGradient) {
  std::string path = gptoss_backward_capture();
  Capture cap;
  ASSERT_TRUE(load_capture(path, &cap).ok());
  Shot s = render(path, "divergence", "--compare " + q("flash2 (what-if),reference") + " --tensor dsinks");
  ASSERT_FALSE(s.px.empty());
  auto cell = [&](const std::string& run, const char* tensor) { return s.region("div:grad:" + run + ":" + tensor); };
  int green = 0, red = 0;
  for (const char* t : {"dq", "dk", "dv", "dsinks"}) {
    for (const char* run : {"eager", "sink", "flash2 (what-if)"}) {
      const json* c = cell(run, t);
      ASSERT_NE(c, nullptr) << run << " " << t << " in " << s.j.dump();
      const bool expect_pass = std::string(run) != "flash2 (what-if)";
      EXPECT_EQ((*c)["pass"].get<bool>(), expect_pass) << run << " " << t;
      // The cell's right end holds no text: its background colour is the verdict's.
      const int x = static_cast<int>((*c)["x"].get<double>() + (*c)["w"].get<double>() - 4);
      const int y = static_cast<int>((*c)["y"].get<double>() + (*c)["h"].get<double>() / 2);
      const Rgb px = s.at(x, y);
      if (std::string(run) == "flash2 (what-if)" && std::string(t) == "dsinks") continue;  // selected: highlight
      if (expect_pass) {
        EXPECT_GT(px.g, px.r + 40) << run << " " << t << " should be green";
        green += px.g > px.r + 40;
      } else {
        EXPECT_GT(px.r, px.g + 60) << run << " " << t << " should be red";
        red += px.r > px.g + 60;
      }
    }
  }
  EXPECT_EQ(green, 8);
  EXPECT_EQ(red, 3);
  const json* heat = s.region("div:heatmap");
  ASSERT_NE(heat, nullptr);
  EXPECT_EQ((*heat)["tensor"], "dsinks");
  EXPECT_EQ((*heat)["cols"].get<int>(), cap.spec.heads_q);
  EXPECT_GT((*heat)["vmax"].get<double>(), 0.5);
  // Every head column of the dsinks map is lit: no head kept its sink gradient.
  const double hx = (*heat)["x"], hy = (*heat)["y"], hw = (*heat)["w"], hh = (*heat)["h"];
  const Rgb zero = rgb(colormap_at(Colormap::Viridis, 0.0f));
  int lit = 0;
  for (int h = 0; h < cap.spec.heads_q; ++h) {
    const int x = static_cast<int>(hx + (h + 0.5) * hw / cap.spec.heads_q);
    lit += !s.at(x, static_cast<int>(hy + hh / 2)).near(zero, 12);
  }
  EXPECT_GE(lit, cap.spec.heads_q * 9 / 10);
}

// The backward's phases sit on each run's track under its forward, one bar per recorded span,
// outlined, at the recorded widths.
TEST_F(GuiScreens, TimelineShowsTheBackwardPhasesUnderTheForward) {
  Capture cap;
  double px_per_us = 0;
  Shot s = timeline_shot(gptoss_backward_capture(), &cap, &px_per_us);
  ASSERT_GT(px_per_us, 0);
  int checked = 0;
  for (const RunResult& r : cap.runs) {
    if (!r.grad.ran) continue;
    const json* t = s.region("timeline:track:" + r.label);
    ASSERT_NE(t, nullptr) << r.label;
    size_t fwd = 0, bwd = 0;
    double fwd_y = -1;
    for (const auto& b : (*t)["bars"]) {
      if (b[6].get<int>() == 0) {
        ++fwd;
        fwd_y = b[2].get<double>();
        continue;
      }
      EXPECT_GT(b[2].get<double>(), fwd_y) << r.label << ": the backward's lane is under the forward's";
      const HostSpan& sp = r.grad.spans[bwd++];
      EXPECT_NEAR(b[3].get<double>(), sp.dur_us, 1e-6 * std::max(1.0, sp.dur_us));
      const double x0 = b[0], x1 = b[1];
      EXPECT_NEAR(x1 - x0, std::max(1.0, sp.dur_us * px_per_us), 1.0) << r.label << " " << sp.name;
      if (x1 - x0 > 12) {
        const Rgb c = rgb(b[4].get<uint32_t>());
        EXPECT_TRUE(s.at(static_cast<int>((x0 + x1) / 2), static_cast<int>(b[2].get<double>()) + 7).near(c, 3))
            << r.label << " " << sp.name << " not drawn";
        ++checked;
      }
    }
    EXPECT_EQ(fwd, r.spans.size()) << r.label;
    EXPECT_EQ(bwd, r.grad.spans.size()) << r.label;
  }
  EXPECT_GE(checked, 3);
}

}  // namespace
}  // namespace attnscope
