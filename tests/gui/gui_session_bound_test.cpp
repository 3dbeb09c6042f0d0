// Scripted GUI sessions end by themselves: a background value that finished but is never taken
// (its panel is not drawn) is not pending work, and a --frames / --screenshot session that cannot
// settle gives up at its --timeout with a message naming what it waited for and exit status 3.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "tests/gui/gui_test_util.h"

#include "capture/spec_io.h"
#include "viewers/widgets.h"

namespace attnscope {
namespace {
namespace fs = std::filesystem;
using gui_test::have_xvfb;
using gui_test::q;
using gui_test::run_cmd;

// The hang of issue 14: the Maps panel started a build on the first frame (the tab bar shows its
// first tab until --panel's selection applies), the capture having loaded before that frame under
// load; the panel was never drawn again, its finished build never taken, and "pending" stayed true.
TEST(Background, AFinishedValueNobodyTakesIsNotComputing) {
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  Background<int> b;
  EXPECT_FALSE(b.running());
  EXPECT_FALSE(b.computing());
  b.start([&] {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return release; });
    return 7;
  });
  EXPECT_TRUE(b.running());
  EXPECT_TRUE(b.computing());
  EXPECT_EQ(b.take(), nullptr);
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
  const auto t0 = std::chrono::steady_clock::now();
  while (b.computing() && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(10))
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_FALSE(b.computing()) << "the worker returned: nothing is in flight";
  EXPECT_TRUE(b.running()) << "the value waits for its owner";
  auto v = b.take();
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(*v, 7);
  EXPECT_FALSE(b.running());
  EXPECT_EQ(b.take(), nullptr);
}

class GuiSessionBound : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_xvfb()) GTEST_SKIP() << "xvfb-run not found (Debian package xvfb): GUI session tests skipped";
    dir_ = fs::temp_directory_path() / ("attnscope_gui_bound_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  // Runs `attnscope gui ARGS` under Xvfb; the exit status, the output and the seconds it took.
  int gui(const std::string& args, std::string* log, double* secs) {
    const std::string cmd = "XDG_CONFIG_HOME=" + q((dir_ / "xdg").string()) + " " + ATTNSCOPE_XVFB_RUN +
                            " -a -s '-screen 0 1600x1000x24' " + ATTNSCOPE_BIN + " gui " + args;
    const auto t0 = std::chrono::steady_clock::now();
    int rc = run_cmd(cmd, log);
    for (int retry = 0; retry < 3 && log->find("xvfb-run: error") != std::string::npos; ++retry) rc = run_cmd(cmd, log);
    *secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return rc;
  }
  fs::path dir_;
};

TEST_F(GuiSessionBound, AScreenshotThatNeverSettlesGivesUpAtItsTimeout) {
  std::string log;
  double secs = 0;
  const std::string png = (dir_ / "never.png").string();
  int rc = gui("--no-run --panel maps --screenshot " + q(png) + " --input 'wait:100000000' --timeout 3", &log, &secs);
  EXPECT_EQ(rc, 3) << log;
  EXPECT_NE(log.find("gave up after 3 s (--timeout): still waiting for the --input script (event 1)"),
            std::string::npos)
      << log;
  EXPECT_FALSE(fs::exists(png)) << "no screenshot of an unsettled window";
  EXPECT_LT(secs, 30) << log;
}

TEST_F(GuiSessionBound, AFramesSessionStillRunningGivesUpAtItsTimeoutAndStopsTheRun) {
  // GPT-OSS-20B's 64 heads at 4096 tokens: minutes of CPU work, so the session cannot settle.
  LayerSpec s = default_spec();
  s.seq_q = s.seq_k = 4096;
  const fs::path spec = dir_ / "long_run.json";
  std::ofstream(spec) << spec_to_json(s);
  std::string log;
  double secs = 0;
  int rc = gui(q(spec.string()) + " --run --impl eager,sink --frames 3 --timeout 2", &log, &secs);
  EXPECT_EQ(rc, 3) << log;
  EXPECT_NE(log.find("gave up after 2 s (--timeout): still waiting for running "), std::string::npos) << log;
  EXPECT_LT(secs, 30) << "the run is cancelled when the session gives up\n" << log;
}

TEST_F(GuiSessionBound, TimeoutNeedsAPositiveNumberOfSeconds) {
  std::string log;
  EXPECT_EQ(run_cmd(std::string(ATTNSCOPE_BIN) + " gui --timeout 0", &log), 1);
  EXPECT_NE(log.find("--timeout needs a number of seconds >= 1"), std::string::npos) << log;
  EXPECT_EQ(run_cmd(std::string(ATTNSCOPE_BIN) + " gui --help", &log), 0);
  EXPECT_NE(log.find("--timeout S"), std::string::npos) << log;
}

}  // namespace
}  // namespace attnscope
