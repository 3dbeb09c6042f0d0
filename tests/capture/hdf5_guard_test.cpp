// The HDF5 check (capture/hdf5_guard.h): a child process walks a user's file first, so a crash or
// a hang inside libhdf5 becomes one line refusing the file; a good file passes and still opens.
#include "capture/hdf5_guard.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>

#include "capture/store.h"
#include "capture/tensor_io.h"
#include "tests/capture/store_fixture.h"

namespace attnscope {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

// An HDF5 file from the fuzzers on which Debian's libhdf5 1.10 reads 6.5 MB past a 280-byte
// object header image in H5Dopen2 (a damaged fill-value message): a SIGSEGV outside a sanitizer.
const std::string kCrasher = ATTNSCOPE_SOURCE_DIR "/tests/fuzz/regressions/h5_tensors/fill_value_overflow.h5";

void at(h5guard::Progress* p, const char* call, const char* where) {
  std::strncpy(p->call, call, sizeof p->call - 1);
  std::strncpy(p->where, where, sizeof p->where - 1);
}

TEST(Hdf5Guard, ASignalInsideALibraryCallIsACrashNamingTheCallAndTheObject) {
  const auto o = h5guard::run_in_child(
      [](h5guard::Progress* p) {
        at(p, "H5Dopen2", "/runs/eager/out");
        raise(SIGSEGV);
      },
      milliseconds(5000));
  EXPECT_EQ(o.kind, h5guard::ChildOutcome::Signalled);
  const Hdf5Check c = h5guard::judge("cap.h5", o, milliseconds(5000));
  EXPECT_EQ(c.fault, Hdf5Fault::Crashed);
  EXPECT_EQ(c.message,
            "cap.h5: the HDF5 library crashed reading this file (SIGSEGV in libhdf5's H5Dopen2 while walking "
            "/runs/eager/out); the file is damaged");
}

TEST(Hdf5Guard, AHangingReadIsCutOffByTheTimeLimit) {
  const auto t0 = steady_clock::now();
  const auto o = h5guard::run_in_child(
      [](h5guard::Progress* p) {
        at(p, "H5Dread", "/q");
        for (;;) pause();
      },
      milliseconds(300));
  const auto took = std::chrono::duration_cast<milliseconds>(steady_clock::now() - t0);
  EXPECT_EQ(o.kind, h5guard::ChildOutcome::TimedOut);
  EXPECT_GE(took.count(), 300);
  EXPECT_LT(took.count(), 3000) << "the child is killed at the limit, not waited for";
  const Hdf5Check c = h5guard::judge("in.h5", o, milliseconds(300));
  EXPECT_EQ(c.fault, Hdf5Fault::Hung);
  EXPECT_EQ(c.message,
            "in.h5: the HDF5 library did not finish reading this file within 0.3 s (stuck in libhdf5's H5Dread "
            "while walking /q); the file is damaged");
}

TEST(Hdf5Guard, AFailureOutsideTheLibraryIsTheChecksOwnNotTheFiles) {
  const auto o = h5guard::run_in_child([](h5guard::Progress* p) { at(p, "", "/x"), raise(SIGABRT); }, milliseconds(5000));
  const Hdf5Check c = h5guard::judge("f.h5", o, milliseconds(5000));
  EXPECT_EQ(c.fault, Hdf5Fault::CheckFailed);
  EXPECT_NE(c.message.find("f.h5: attnscope's check of this HDF5 file failed (SIGABRT while walking /x)"),
            std::string::npos)
      << c.message;
}

TEST(Hdf5Guard, AFileThatCrashesLibhdf5IsRefusedByEveryReader) {
  ASSERT_TRUE(std::filesystem::exists(kCrasher));
  const Hdf5Check c = check_hdf5_file(kCrasher);
  ASSERT_EQ(c.fault, Hdf5Fault::Crashed) << c.message;
  EXPECT_EQ(c.message.rfind(kCrasher + ": the HDF5 library crashed reading this file (SIG", 0), 0u) << c.message;
  // Which call faults depends on what lies past the header in memory (H5Oopen in a fresh process).
  EXPECT_NE(c.message.find(" in libhdf5's H5"), std::string::npos) << c.message;
  EXPECT_NE(c.message.find(" while walking /mask); the file is damaged"), std::string::npos) << c.message;
  NamedTensors nt;
  EXPECT_EQ(read_h5_tensors(kCrasher, &nt), c.message);
  EXPECT_EQ(read_tensor_file(kCrasher, &nt), c.message);
  Capture cap;
  LoadStatus st = load_capture(kCrasher, &cap);
  EXPECT_EQ(st.code, LoadError::Malformed);
  EXPECT_EQ(st.message, c.message);
  StoredIntermediates si;
  EXPECT_EQ(load_intermediates(kCrasher, "eager", &si).message, c.message);
}

TEST(Hdf5Guard, AGoodCaptureIsWalkedAndStillOpens) {
  const std::string path = ::testing::TempDir() + "/attnscope_guard_good_" + std::to_string(getpid()) + ".h5";
  Capture cap = testing::full_capture(DType::BF16);
  ASSERT_EQ(save_capture(cap, path), "");
  const auto t0 = steady_clock::now();
  const Hdf5Check c = check_hdf5_file(path);
  const auto took = std::chrono::duration_cast<milliseconds>(steady_clock::now() - t0);
  EXPECT_TRUE(c.ok()) << c.message;
  EXPECT_LT(took.count(), 2000) << "a small capture is walked in milliseconds";
  Capture back;
  LoadStatus st = load_capture(path, &back);
  EXPECT_TRUE(st.ok()) << st.message;
  EXPECT_EQ(back.runs.size(), cap.runs.size());
  std::filesystem::remove(path);
}

// With other threads in the process the walk runs in a fresh copy of the test binary (a fork would
// copy a lock another thread holds): the same verdicts, the same progress record.
TEST(Hdf5Guard, AFreshCopyOfThisProgramWalksAsAForkedChildDoes) {
  const auto limit = milliseconds(5000);
  const auto crash = h5guard::walk_in_fresh_process(kCrasher, limit);
  ASSERT_EQ(crash.kind, h5guard::ChildOutcome::Signalled) << crash.signal_or_status;
  EXPECT_EQ(std::string(crash.progress.call).rfind("H5", 0), 0u) << crash.progress.call;
  EXPECT_STREQ(crash.progress.where, "/mask");
  EXPECT_EQ(h5guard::judge(kCrasher, crash, limit).fault, Hdf5Fault::Crashed);

  const std::string path = ::testing::TempDir() + "/attnscope_guard_fresh_" + std::to_string(getpid()) + ".h5";
  ASSERT_EQ(save_capture(testing::full_capture(DType::F16), path), "");
  const auto t0 = steady_clock::now();
  const auto good = h5guard::walk_in_fresh_process(path, limit);
  const auto took = std::chrono::duration_cast<milliseconds>(steady_clock::now() - t0);
  EXPECT_EQ(good.kind, h5guard::ChildOutcome::Finished) << good.signal_or_status;
  EXPECT_STREQ(good.progress.call, "") << "the walk ended outside libhdf5";
  EXPECT_NE(std::string(good.progress.where), "") << "the copy walked the file";
  EXPECT_LT(took.count(), 2000) << "a fresh copy starts and walks a small capture in milliseconds";
  std::filesystem::remove(path);
}

TEST(Hdf5Guard, WithOtherThreadsRunningTheCheckGivesTheSameVerdicts) {
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  std::thread other([&] {
    std::unique_lock<std::mutex> lock(m);
    cv.wait(lock, [&] { return done; });
  });
  const Hdf5Check crash = check_hdf5_file(kCrasher);
  const std::string path = ::testing::TempDir() + "/attnscope_guard_threads_" + std::to_string(getpid()) + ".h5";
  const std::string saved = save_capture(testing::full_capture(DType::BF16), path);
  const Hdf5Check good = check_hdf5_file(path);
  {
    std::lock_guard<std::mutex> lock(m);
    done = true;
  }
  cv.notify_all();
  other.join();
  EXPECT_EQ(crash.fault, Hdf5Fault::Crashed) << crash.message;
  EXPECT_EQ(crash.message.rfind(kCrasher + ": the HDF5 library crashed reading this file (SIG", 0), 0u) << crash.message;
  EXPECT_NE(crash.message.find(" while walking /mask); the file is damaged"), std::string::npos) << crash.message;
  ASSERT_EQ(saved, "");
  EXPECT_TRUE(good.ok()) << good.message;
  std::filesystem::remove(path);
}

TEST(Hdf5Guard, WhatIsNotAnHdf5FileIsLeftToTheReaderToRefuse) {
  EXPECT_TRUE(check_hdf5_file("/nonexistent/cap.h5").ok());
  const std::string path = ::testing::TempDir() + "/attnscope_guard_text_" + std::to_string(getpid()) + ".h5";
  {
    FILE* f = std::fopen(path.c_str(), "w");
    std::fputs("not hdf5\n", f);
    std::fclose(f);
  }
  EXPECT_TRUE(check_hdf5_file(path).ok());
  Capture cap;
  EXPECT_EQ(load_capture(path, &cap).code, LoadError::NotHdf5);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace attnscope
