// Diagnose panel screenshots: GPT-OSS-20B's config judged against a named T4 with the recorded H100
// Python environment (transformers 5.17, no `kernels`), rendered headless under Xvfb. The badges of
// what from_pretrained and the first forward do per transformers name are listed in the sidecar
// JSON (diagnose:predicted:<name>, diagnose:retried:<name>) and checked against the report model
// and pixel by pixel; the fixes' Copy buttons are clicked through scripted input.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#include <stb_image.h>

#include "tests/gui/gui_test_util.h"

#include "capture/diagnose/diagnose.h"
#include "viewers/widgets.h"

namespace attnscope {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

using gui_test::have_xvfb;
using gui_test::q;
using gui_test::run_cmd;

struct DiagShot {
  int w = 0, h = 0;
  std::vector<unsigned char> px;
  json j;
  std::string log;
  const json* region(const std::string& name) const {
    for (const auto& r : j["regions"])
      if (r["name"] == name) return &r;
    return nullptr;
  }
  // Fraction of the pixels inside region r (one pixel in from its edges) that are colour c (ImU32, ABGR).
  double fraction(const json& r, uint32_t c) const {
    const int x0 = static_cast<int>(r["x"].get<double>()) + 1, y0 = static_cast<int>(r["y"].get<double>()) + 1;
    const int x1 = static_cast<int>(r["x"].get<double>() + r["w"].get<double>()) - 1;
    const int y1 = static_cast<int>(r["y"].get<double>() + r["h"].get<double>()) - 1;
    int n = 0, eq = 0;
    for (int y = y0; y < y1; ++y)
      for (int x = x0; x < x1; ++x, ++n) {
        if (x < 0 || y < 0 || x >= w || y >= h) continue;
        const unsigned char* p = px.data() + (static_cast<size_t>(y) * w + x) * 3;
        if (std::abs(p[0] - static_cast<int>(c & 255)) <= 1 && std::abs(p[1] - static_cast<int>((c >> 8) & 255)) <= 1 &&
            std::abs(p[2] - static_cast<int>((c >> 16) & 255)) <= 1)
          ++eq;
      }
    return n ? static_cast<double>(eq) / n : 0.0;
  }
};

uint32_t u32(ImVec4 c) { return ImGui::ColorConvertFloat4ToU32(c); }

class GuiDiagnose : public ::testing::Test {
 protected:
  static fs::path dir() {
    static fs::path d = fs::temp_directory_path() / ("attnscope_gui_diag_test_" + std::to_string(::getpid()));
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
  static std::string src(const std::string& rel) { return std::string(ATTNSCOPE_SOURCE_DIR) + "/" + rel; }

  // The diagnose panel for GPT-OSS-20B on a T4; `env` is the Python env file ("" = none); `input` the
  // scripted events (the report is scrolled with the wheel to bring the transformers table into view).
  static DiagShot render(const std::string& env, const std::string& input) {
    static int n = 0;
    fs::path png = dir() / ("diagnose_" + std::to_string(n++) + ".png");
    // The env file through `gui --env` (headless runs read no settings, so none leaks in).
    std::string cmd = std::string("env -u ATTNSCOPE_DIAGNOSE_ENV ") + ATTNSCOPE_XVFB_RUN +
                      " -a -s '-screen 0 1600x1000x24' " + ATTNSCOPE_BIN + " gui " +
                      q(src("samples/hf/gpt-oss-20b.json")) + (env.empty() ? "" : " --env " + q(env)) +
                      " --panel diagnose --gpu T4 --screenshot " +
                      q(png.string()) + " --frames 3 --size 1600x1000 --input " + q(input);
    DiagShot s;
    int rc = run_cmd(cmd, &s.log);
    for (int retry = 0; retry < 3 && s.log.find("xvfb-run: error") != std::string::npos; ++retry) {
      ::sleep(1);
      rc = run_cmd(cmd, &s.log);
    }
    EXPECT_EQ(rc, 0) << cmd << "\n" << s.log;
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
  static constexpr const char* kScrollToHf = "settle;move:1000,600;wheel:-8;wait:3";
};

TEST_F(GuiDiagnose, EachTransformersNameShowsItsPredictedOutcomeAndTheRetryWhereItDiffers) {
  const std::string env = src("tests/fixtures/device_h100/env.json");
  DiagShot s = render(env, kScrollToHf);
  ASSERT_FALSE(s.px.empty());

  // The same report the panel draws, built here from the same inputs.
  DiagnoseOptions opt;
  opt.gpu = "T4";
  opt.local_gpu = false;
  opt.env_file = env;
  opt.config_file = src("samples/hf/gpt-oss-20b.json");
  opt.layer = 0;
  DiagnoseReport rep;
  ASSERT_EQ(build_diagnose_report(opt, &rep), "");

  const uint32_t green = u32(ImVec4(0.4f, 0.9f, 0.4f, 1));
  const uint32_t red = u32(severity_color(Severity::Error));
  const uint32_t orange = u32(severity_color(Severity::Warning));
  int checked = 0;
  bool saw_retry = false;
  for (const ImplVerdict& iv : rep.hf) {
    const json* r = s.region("diagnose:predicted:" + iv.name);
    if (!r) continue;  // scrolled out of view
    ++checked;
    EXPECT_EQ((*r)["stage"], iv.predicted.stage) << iv.name;
    EXPECT_EQ((*r)["exception"], iv.predicted.exception) << iv.name;
    EXPECT_EQ((*r)["code"], iv.predicted.code) << iv.name;
    // The badge is filled with its stage's colour (the text covers the rest).
    const uint32_t want = iv.predicted.stage == "runs" ? green : iv.predicted.stage == "load" ? red : orange;
    if (!iv.predicted.stage.empty()) {
      EXPECT_EQ((*r)["color"].get<uint32_t>(), want) << iv.name;
      EXPECT_GT(s.fraction(*r, want), 0.5) << iv.name << ": badge not drawn in its stage's colour";
    }
    const json* again = s.region("diagnose:retried:" + iv.name);
    const bool differs = iv.retried && (iv.retried->stage != iv.predicted.stage ||
                                        iv.retried->exception != iv.predicted.exception ||
                                        iv.retried->code != iv.predicted.code);
    EXPECT_EQ(again != nullptr, differs) << iv.name << ": the retry badge shows exactly when the retry differs";
    if (again && differs) {
      saw_retry = true;
      EXPECT_EQ((*again)["stage"], iv.retried->stage);
      EXPECT_EQ((*again)["exception"], iv.retried->exception);
      EXPECT_GT((*again)["y"].get<double>(), (*r)["y"].get<double>()) << "the retry sits under the fresh outcome";
    }
  }
  EXPECT_GE(checked, 3) << s.j.dump();
  EXPECT_TRUE(saw_retry) << s.j.dump();

  // The cases this environment decides, as the device record saw them (tests/fixtures/device_h100).
  const json* eager = s.region("diagnose:predicted:eager");
  ASSERT_NE(eager, nullptr) << s.j.dump();
  EXPECT_EQ((*eager)["stage"], "runs");
  EXPECT_EQ((*eager)["resolved"], "eager");
  const json* sdpa = s.region("diagnose:predicted:sdpa");
  ASSERT_NE(sdpa, nullptr);
  EXPECT_EQ((*sdpa)["stage"], "load");
  EXPECT_EQ((*sdpa)["exception"], "ValueError");
  EXPECT_EQ((*sdpa)["message"].get<std::string>().rfind("GptOssForCausalLM does not support an attention", 0), 0u)
      << (*sdpa)["message"];
  const json* fa2 = s.region("diagnose:predicted:flash_attention_2");
  const json* fa2_again = s.region("diagnose:retried:flash_attention_2");
  ASSERT_NE(fa2, nullptr);
  ASSERT_NE(fa2_again, nullptr);
  EXPECT_EQ((*fa2)["exception"], "ImportError");
  EXPECT_NE((*fa2)["message"].get<std::string>().find("`kernels` is either not installed"), std::string::npos);
  EXPECT_EQ((*fa2_again)["stage"], "forward");
  EXPECT_EQ((*fa2_again)["exception"], "KeyError");
  EXPECT_NE((*fa2_again)["message"].get<std::string>().find("is not a valid attention implementation"),
            std::string::npos);
  EXPECT_GT(s.fraction(*fa2, red), 0.5);
  EXPECT_GT(s.fraction(*fa2_again, orange), 0.5);
}

TEST_F(GuiDiagnose, WithoutAPythonEnvTheBadgeSaysNotPredicted) {
  DiagShot s = render("", kScrollToHf);
  ASSERT_FALSE(s.px.empty());
  const json* eager = s.region("diagnose:predicted:eager");
  ASSERT_NE(eager, nullptr) << s.j.dump();
  EXPECT_EQ((*eager)["stage"], "");
  EXPECT_EQ(s.region("diagnose:retried:flash_attention_2"), nullptr);
}

TEST_F(GuiDiagnose, CopyPutsTheFixLineOnTheClipboardAndSaysSo) {
  const std::string env = src("tests/fixtures/device_h100/env.json");
  const std::string scroll = "settle;move:1000,600;wheel:-60;wait:3";
  DiagShot s = render(env, scroll);
  const json* b = s.region("diagnose:fix:copy:1");
  ASSERT_NE(b, nullptr) << s.j.dump();
  const std::string line = (*b)["line"];
  EXPECT_EQ(line, "from_pretrained(..., attn_implementation=\"eager\")");
  const double cx = (*b)["x"].get<double>() + (*b)["w"].get<double>() / 2;
  const double cy = (*b)["y"].get<double>() + (*b)["h"].get<double>() / 2;
  EXPECT_EQ(s.j["info"].get<std::string>().find("copied"), std::string::npos);
  // The layout is the same run to run: click the button where the first render drew it.
  DiagShot c = render(env, scroll + ";move:" + std::to_string(cx) + "," + std::to_string(cy) + ";click;wait:2");
  EXPECT_EQ(c.j["info"], "copied: " + line) << c.log;
}

}  // namespace
}  // namespace attnscope
