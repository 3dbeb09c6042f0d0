// The GUI opening captures one after another (dropped on the window) 50 times keeps its memory:
// the resident size at the end of a 50-capture session is within 5% of a 10-capture session's.
// (Ten, not one: the first opens fill caches that then stay - texture tiles, a worker thread's
// malloc arena; measured 142.6 MiB after 2 opens, 148.5 after 20, 148.4 after 50, 148.3 after 100.)
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "tests/gui/gui_test_util.h"

namespace attnscope {
namespace {
namespace fs = std::filesystem;
using gui_test::have_xvfb;
using gui_test::q;
using gui_test::run_cmd;

TEST(GuiLoad, OpeningFiftyCapturesKeepsMemoryWithinFivePercentOfOpeningTen) {
  if (!have_xvfb()) GTEST_SKIP() << "xvfb-run not found (Debian package xvfb)";
  const fs::path dir = fs::temp_directory_path() / ("attnscope_gui_load_" + std::to_string(getpid()));
  fs::create_directories(dir);
  std::string log;
  for (const char* name : {"a", "b"}) {
    const std::string cap = (dir / (std::string(name) + ".h5")).string();
    ASSERT_EQ(run_cmd("ATTNSCOPE_NO_GPU=1 " + std::string(ATTNSCOPE_BIN) + " run --spec " ATTNSCOPE_SOURCE_DIR
                      "/samples/gpt-oss-20b.json --seq 32 --seed " + std::string(name[0] == 'a' ? "1" : "2") +
                      " --quiet -o " + q(cap), &log), 0) << log;
  }
  auto session = [&](int opens) {
    std::string script;
    for (int i = 0; i < opens; ++i) script += "drop:" + (dir / (i % 2 ? "b.h5" : "a.h5")).string() + ";settle;";
    const std::string png = (dir / ("opens" + std::to_string(opens) + ".png")).string();
    const std::string cmd = std::string(ATTNSCOPE_XVFB_RUN) + " -a -s '-screen 0 1600x1000x24' " + ATTNSCOPE_BIN +
                            " gui --no-run --panel maps --size 1600x1000 --input " + q(script) + " --screenshot " + q(png);
    int rc = run_cmd(cmd, &log);
    for (int retry = 0; retry < 3 && log.find("xvfb-run: error") != std::string::npos; ++retry) rc = run_cmd(cmd, &log);
    EXPECT_EQ(rc, 0) << log;
    std::ifstream j(png + ".json");
    const nlohmann::json side = nlohmann::json::parse(j);
    EXPECT_EQ(side["capture"], (dir / (opens % 2 ? "a.h5" : "b.h5")).string()) << "the last drop is open";
    EXPECT_EQ(side["errors"], 0) << side.dump();
    return side["rss_bytes"].get<int64_t>();
  };
  const int64_t ten = session(10), fifty = session(50);
  std::printf("GUI resident memory: %.1f MiB after 10 captures, %.1f MiB after 50\n", ten / 1048576.0, fifty / 1048576.0);
  EXPECT_LE(fifty, ten * 1.05);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace attnscope
