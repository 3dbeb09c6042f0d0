// 50 captures in a row in one process, each run, saved, read back, reported, diffed and exported
// as the CLI verbs do: host memory comes back to where it was after the first one.
#include <gtest/gtest.h>
#include <malloc.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "capture/export.h"
#include "capture/report.h"
#include "capture/session.h"
#include "capture/spec_io.h"
#include "capture/store.h"
#include "tests/capture/rss.h"

namespace attnscope {
namespace {

// Resident memory once the allocator has handed back what it merely caches: a leak stays in.
int64_t settled_rss() {
  malloc_trim(0);
  return test::rss_bytes();
}

TEST(Load, FiftyCapturesInARowKeepHostMemoryWithinFivePercent) {
  LayerSpec s = default_spec();  // GPT-OSS-20B's sliding layer: sinks, window, GQA
  s.seq_q = s.seq_k = 64;
  s.heads_q = 4;
  s.heads_kv = 1;
  const std::string path =
      (std::filesystem::path(::testing::TempDir()) / ("attnscope_load_" + std::to_string(getpid()) + ".h5")).string();
  SessionOptions opt;
  opt.what_if = true;
  opt.force_cpu = true;
  int64_t base = 0;
  for (int i = 0; i < 50; ++i) {
    Capture cap;
    ASSERT_EQ(run_session(s, random_inputs(s, static_cast<uint64_t>(i), Distribution::Normal), opt, &cap), "");
    ASSERT_EQ(save_capture(cap, path), "");
    Capture back;
    LoadStatus st = load_capture(path, &back);
    ASSERT_TRUE(st.ok()) << st.message;
    report_text(back, path);
    report_json(back, path);
    diff_text(back, back.runs.front(), back, back.runs.back());
    trace_json(back);
    summary_json(back);
    summary_csv(back);
    for (const RunResult& r : back.runs) {
      StoredIntermediates si;
      load_intermediates(path, r.label, &si);
    }
    if (i == 1) base = settled_rss();  // after one capture has warmed every cache
  }
  const int64_t end = settled_rss();
  std::printf("host RSS after capture 2: %.1f MiB, after capture 50: %.1f MiB\n", base / 1048576.0, end / 1048576.0);
  EXPECT_LE(end, base * 1.05);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace attnscope
