// Damaged captures (cut short, a flipped bit in data or metadata, a foreign HDF5 file, not HDF5
// at all, a newer format version) are refused by report, diff and export-trace with exit status
// 2 and one line naming the file and the object.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>

#include "tests/capture/damaged_captures.h"

namespace {

struct Out {
  int code;
  std::string text;
};
Out sh(const std::string& cmd) {
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  int st = pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

class DamagedCapture : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::string(::testing::TempDir()) + "/attnscope_damaged_" + std::to_string(getpid());
    std::filesystem::create_directories(dir_);
    good_ = dir_ + "/good.h5";
    Out r = sh("ATTNSCOPE_NO_GPU=1 " + bin() + " run --spec " ATTNSCOPE_SOURCE_DIR "/samples/gpt-oss-20b.json --seq 64 "
               "--impl eager,sink --quiet -o " + good_);
    ASSERT_EQ(r.code, 0) << r.text;
    damaged_ = attnscope::damage::make_damaged(good_, dir_ + "/damaged");
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  static std::string bin() { return ATTNSCOPE_BINARY_DIR "/attnscope"; }
  static std::string dir_, good_;
  static std::vector<attnscope::damage::Damaged> damaged_;
};
std::string DamagedCapture::dir_, DamagedCapture::good_;
std::vector<attnscope::damage::Damaged> DamagedCapture::damaged_;

TEST_F(DamagedCapture, EveryVerbRefusesItWithOneLineNamingTheFileAndTheObject) {
  ASSERT_EQ(damaged_.size(), 7u);
  for (const auto& d : damaged_) {
    for (const std::string& verb : {"report " + d.path, "report --json " + d.path, "diff " + d.path + " eager sink",
                                    "diff " + good_ + ":eager " + d.path + ":eager",
                                    "export-trace " + d.path + " -o " + dir_ + "/trace.json"}) {
      Out r = sh(bin() + " " + verb);
      EXPECT_EQ(r.code, 2) << d.name << ": " << verb << "\n" << r.text;
      EXPECT_EQ(r.text.find('\n'), r.text.size() - 1) << d.name << ": " << verb << ": not one line:\n" << r.text;
      EXPECT_EQ(r.text.rfind("attnscope: " + d.path + ": ", 0), 0u) << d.name << ": " << verb << ": " << r.text;
      EXPECT_NE(r.text.find(d.expect), std::string::npos) << d.name << ": " << verb << ": " << r.text;
    }
  }
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/trace.json")) << "no trace from a damaged capture";
  // The undamaged original still reads.
  EXPECT_EQ(sh(bin() + " report " + good_).code, 0);
}

// A file on which libhdf5 itself crashes (tests/fuzz/regressions/h5_tensors: H5Oopen reads past
// a damaged object header) is refused by every verb, --inputs included, with one line saying so,
// and attnscope exits 2 instead of dying of the signal.
TEST_F(DamagedCapture, AFileThatCrashesLibhdf5IsRefusedByEveryVerbWithOneLine) {
  const std::string bad = ATTNSCOPE_SOURCE_DIR "/tests/fuzz/regressions/h5_tensors/fill_value_overflow.h5";
  // SIGSEGV; SIGABRT under AddressSanitizer, which sees the overflow first (scripts/sanitize.sh).
  const std::string expect = "attnscope: " + bad + ": the HDF5 library crashed reading this file (SIG";
  for (const std::string& verb :
       {"report " + bad, "report --json " + bad, "diff " + bad + " eager sink", "diff " + good_ + ":eager " + bad + ":eager",
        "export-trace " + bad + " -o " + dir_ + "/trace.json",
        "run --spec " ATTNSCOPE_SOURCE_DIR "/samples/gpt-oss-20b.json --seq 64 --impl eager --inputs " + bad + " -o " +
            dir_ + "/out.h5"}) {
    Out r = sh("ATTNSCOPE_NO_GPU=1 " + bin() + " " + verb);
    EXPECT_EQ(r.code, 2) << verb << "\n" << r.text;
    EXPECT_EQ(r.text.find('\n'), r.text.size() - 1) << verb << ": not one line:\n" << r.text;
    EXPECT_EQ(r.text.rfind(expect, 0), 0u) << verb << ": " << r.text;
    // Which call faults depends on what lies past the header in memory (H5Oopen in a fresh process).
    EXPECT_NE(r.text.find(" in libhdf5's H5"), std::string::npos) << verb << ": " << r.text;
    EXPECT_NE(r.text.find(" while walking /mask); the file is damaged\n"), std::string::npos) << verb << ": " << r.text;
  }
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/trace.json"));
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/out.h5"));
}

}  // namespace
