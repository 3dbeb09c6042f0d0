// `kill -9` during `attnscope run -o cap.h5`, at several points of the write: the previous
// cap.h5 stays byte-identical and readable, nothing half-written ever carries its name, and the
// next successful run replaces it and removes the killed writers' temporaries.
#include <gtest/gtest.h>
#include <signal.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

#include "capture/store.h"

extern char** environ;

namespace attnscope {
namespace {
namespace fs = std::filesystem;

std::vector<char> bytes_of(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The writer's temporary file ("cap.h5.tmp-<pid>-XXXXXX") and its size; "" while there is none.
std::string temp_of(const fs::path& dir, pid_t pid, uintmax_t* size) {
  const std::string prefix = "cap.h5.tmp-" + std::to_string(pid) + "-";
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().filename().string().rfind(prefix, 0) == 0) {
      *size = fs::file_size(e.path(), ec);
      return e.path().string();
    }
  return "";
}

pid_t start_run(const fs::path& dir, const std::string& spec) {
  std::vector<std::string> args = {ATTNSCOPE_BINARY_DIR "/attnscope", "run", "--spec", spec, "--impl", "eager",
                                   "--quiet", "-o", (dir / "cap.h5").string()};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  return rc == 0 ? pid : -1;
}

TEST(InterruptedWrite, KillNineAtAnyPointOfTheWriteLeavesThePreviousCaptureIntact) {
  setenv("ATTNSCOPE_NO_GPU", "1", 1);
  const fs::path dir = fs::path(::testing::TempDir()) / ("attnscope_kill9_" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  // The previous capture: small. The new one: eager's S and P at 512 tokens x 8 heads in fp32
  // (16 MiB, seconds of deflate), so the write is long enough to be killed inside.
  std::ofstream(dir / "small.json") << R"({"name": "previous", "seq": 32, "heads_q": 2, "heads_kv": 2, "head_dim": 16, "dtype": "fp32"})";
  std::ofstream(dir / "big.json") << R"({"name": "interrupted", "seq": 512, "heads_q": 8, "heads_kv": 8, "head_dim": 64, "dtype": "fp32"})";
  pid_t first = start_run(dir, (dir / "small.json").string());
  ASSERT_GT(first, 0);
  int st = 0;
  waitpid(first, &st, 0);
  ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  const std::vector<char> previous = bytes_of(dir / "cap.h5");
  ASSERT_FALSE(previous.empty());

  struct Point {
    const char* name;
    uintmax_t temp_bytes;  // kill once the temporary file holds at least this much
  };
  for (const Point& at : {Point{"as the temporary file appears", 0}, Point{"after 1 MiB", 1u << 20},
                          Point{"after 4 MiB", 4u << 20}, Point{"after 12 MiB", 12u << 20}}) {
    pid_t pid = start_run(dir, (dir / "big.json").string());
    ASSERT_GT(pid, 0);
    bool killed = false;
    uintmax_t size = 0;
    std::string temp;
    const auto t0 = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() - t0 < std::chrono::minutes(3)) {
      if (waitpid(pid, &st, WNOHANG) == pid) break;  // ended by itself: the kill point was missed
      temp = temp_of(dir, pid, &size);
      if (!temp.empty() && size >= at.temp_bytes) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        killed = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
    ASSERT_TRUE(killed) << at.name << ": the writer finished (or took 3 minutes) before the kill point";
    EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    EXPECT_EQ(bytes_of(dir / "cap.h5"), previous) << "killed " << at.name << ": cap.h5 changed";
    Capture c;
    LoadStatus ls = load_capture((dir / "cap.h5").string(), &c);
    EXPECT_TRUE(ls.ok()) << ls.message;
    EXPECT_EQ(c.spec.name, "previous");
    EXPECT_TRUE(fs::exists(temp)) << "the killed writer's temporary is what it left (" << size << " bytes)";
  }
  // A run that completes replaces cap.h5 and clears what the killed writers left.
  pid_t last = start_run(dir, (dir / "big.json").string());
  waitpid(last, &st, 0);
  ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  Capture c;
  ASSERT_TRUE(load_capture((dir / "cap.h5").string(), &c).ok());
  EXPECT_EQ(c.spec.name, "interrupted");
  std::vector<std::string> left;
  for (const auto& e : fs::directory_iterator(dir)) left.push_back(e.path().filename().string());
  std::sort(left.begin(), left.end());
  EXPECT_EQ(left, (std::vector<std::string>{"big.json", "cap.h5", "small.json"}));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace attnscope
