// A capture with one bit flipped anywhere is refused with one line naming the file, or (a bit in
// free space or padding) reads exactly as the original: every dataset carries a Fletcher32
// checksum and the 1.10 format checksums the metadata, so damage is never read as data.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "capture/report.h"
#include "capture/session.h"
#include "capture/store.h"

namespace attnscope {
namespace {

TEST(BitFlip, AnywhereInACaptureIsRefusedOrChangesNothing) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(::testing::TempDir()) / ("attnscope_bitflip_" + std::to_string(getpid()));
  fs::create_directories(dir);
  LayerSpec s;
  s.name = "bit flip";
  s.seq_q = s.seq_k = 24;
  s.heads_q = 2;
  s.heads_kv = 1;
  s.head_dim = s.head_dim_v = 16;
  s.causal = true;
  s.sinks = true;
  Capture cap;
  SessionOptions opt;
  opt.impls = {"eager", "sink"};
  opt.force_cpu = true;
  ASSERT_EQ(run_session(s, random_inputs(s, 9, Distribution::Normal), opt, &cap), "");
  const std::string good = (dir / "good.h5").string();
  ASSERT_EQ(save_capture(cap, good), "");
  Capture original;
  ASSERT_TRUE(load_capture(good, &original).ok());
  std::ifstream in(good, std::ios::binary);
  const std::vector<char> bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  const std::string path = (dir / "flipped.h5").string();
  const std::string expected = report_json(original, path);
  const size_t positions = 400;
  int refused = 0, unchanged = 0;
  for (size_t i = 0; i < positions; ++i) {
    const size_t at = i * bytes.size() / positions + i % 13;  // spread over the file, not all aligned
    std::vector<char> b = bytes;
    b[at] ^= static_cast<char>(1u << (i % 8));
    std::ofstream(path, std::ios::binary).write(b.data(), static_cast<std::streamsize>(b.size()));
    Capture c;
    LoadStatus st = load_capture(path, &c);
    if (!st.ok()) {
      ++refused;
      EXPECT_EQ(st.message.rfind(path + ": ", 0), 0u) << "byte " << at << ": " << st.message;
      EXPECT_EQ(st.message.find('\n'), std::string::npos) << "byte " << at << ": " << st.message;
      continue;
    }
    ++unchanged;
    EXPECT_EQ(report_json(c, path), expected) << "byte " << at << " (bit " << i % 8 << ") changed what the capture "
                                              << "reads as, and nothing refused it";
    for (size_t r = 0; r < c.runs.size() && r < original.runs.size(); ++r)
      EXPECT_EQ(c.runs[r].out.data, original.runs[r].out.data) << "byte " << at << ": run " << c.runs[r].label;
  }
  std::printf("%zu bytes, %zu flips: %d refused, %d in unused space\n", bytes.size(), positions, refused, unchanged);
  EXPECT_GT(refused, static_cast<int>(positions) / 2);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace attnscope
