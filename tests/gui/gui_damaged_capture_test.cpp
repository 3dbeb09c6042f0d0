// The GUI refuses damaged captures as the CLI does: the window shows the one-line error naming the
// file and the object, no capture opens, and a headless screenshot session exits with status 2.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "tests/capture/damaged_captures.h"
#include "tests/gui/gui_test_util.h"

namespace attnscope {
namespace {
namespace fs = std::filesystem;
using gui_test::have_xvfb;
using gui_test::q;
using gui_test::run_cmd;

class GuiDamagedCapture : public ::testing::TestWithParam<const char*> {};

TEST_P(GuiDamagedCapture, IsAnErrorLineInTheWindowAndExitStatusTwo) {
  if (!have_xvfb()) GTEST_SKIP() << "xvfb-run not found (Debian package xvfb)";
  const fs::path dir = fs::temp_directory_path() / ("attnscope_gui_damaged_" + std::to_string(getpid()));
  fs::create_directories(dir);
  const std::string good = (dir / "good.h5").string();
  std::string log;
  ASSERT_EQ(run_cmd("ATTNSCOPE_NO_GPU=1 " + std::string(ATTNSCOPE_BIN) + " run --spec " ATTNSCOPE_SOURCE_DIR
                    "/samples/gpt-oss-20b.json --seq 32 --impl eager,sink --quiet -o " + q(good), &log),
            0)
      << log;
  damage::Damaged d;
  for (const auto& x : damage::make_damaged(good, (dir / "damaged").string()))
    if (x.name == GetParam()) d = x;
  ASSERT_FALSE(d.path.empty());
  const std::string png = (dir / "shot.png").string();
  const std::string cmd = std::string(ATTNSCOPE_XVFB_RUN) + " -a -s '-screen 0 1600x1000x24' " + ATTNSCOPE_BIN + " gui " +
                          q(d.path) + " --panel maps --frames 2 --screenshot " + q(png);
  int rc = run_cmd(cmd, &log);
  for (int retry = 0; retry < 3 && log.find("xvfb-run: error") != std::string::npos; ++retry) rc = run_cmd(cmd, &log);
  EXPECT_EQ(rc, 2) << log;
  EXPECT_NE(log.find("attnscope gui: " + d.path + ": "), std::string::npos) << log;
  EXPECT_NE(log.find(d.expect), std::string::npos) << log;
  std::ifstream j(png + ".json");
  ASSERT_TRUE(j.good()) << "the window is still drawn (with the error in it): " << log;
  const nlohmann::json side = nlohmann::json::parse(j);
  EXPECT_EQ(side["errors"], 1) << side.dump();
  EXPECT_EQ(side["capture"], "") << side.dump();
  fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Damage, GuiDamagedCapture,
                         ::testing::Values("truncated", "flipped_data", "flipped_metadata", "foreign", "not_hdf5",
                                           "newer"));

}  // namespace
}  // namespace attnscope
