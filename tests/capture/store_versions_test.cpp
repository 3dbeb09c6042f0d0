// format_version 3 (NVTX ranges, untraced times, the GPU environment) beside versions 1 and 2
// (gradients): the committed H100 captures (version 1) still open, with nothing invented for what
// they lack, and a version-3 file is refused where what version 3 promises is damaged.
#include <gtest/gtest.h>
#include <hdf5.h>

#include "capture/store.h"
#include "store_fixture.h"

namespace attnscope {
namespace {

const std::string kV1Fixture = std::string(ATTNSCOPE_SOURCE_DIR) + "/tests/fixtures/gpu_gptoss_256.h5";

TEST(StoreVersions, TheVersion1GpuFixtureStillOpens) {
  Capture c;
  LoadStatus st = load_capture(kV1Fixture, &c);
  ASSERT_TRUE(st.ok()) << st.message;
  EXPECT_EQ(c.format_version, 1);
  EXPECT_TRUE(c.env.gpu.empty()) << "version 1 had no /env/gpu";
  const RunResult* sink = c.find("sink");
  ASSERT_NE(sink, nullptr);
  EXPECT_EQ(sink->kernels.size(), 12u);
  EXPECT_TRUE(sink->ranges.empty());
  EXPECT_TRUE(sink->times_untraced_ms.empty());
  EXPECT_TRUE(std::isnan(cupti_overhead_pct(*sink))) << "not measured in version 1: no number";
  // Its kernel records: 2 warm-up launches (-1), then repeats 0..9 (assigned by launch order).
  EXPECT_EQ(sink->kernels.front().repeat, -1);
  EXPECT_EQ(sink->kernels.back().repeat, 9);
}

TEST(StoreVersions, TheGpuEnvironmentRoundTripsAndACpuCaptureHasNone) {
  const std::string dir = testing::scratch_dir("store_versions_env");
  Capture c = testing::full_capture(DType::BF16);
  ASSERT_EQ(save_capture(c, dir + "/gpu.h5"), "");
  Capture b;
  ASSERT_TRUE(load_capture(dir + "/gpu.h5", &b).ok());
  EXPECT_EQ(b.format_version, Capture::kFormatVersion);
  testing::expect_same_gpu_environment(c.env.gpu, b.env.gpu);
  EXPECT_EQ(b.env.gpu.cudnn, "") << "cuDNN not loaded stays empty";

  c.env.gpu = GpuEnvironment{};
  ASSERT_EQ(save_capture(c, dir + "/cpu.h5"), "");
  hid_t f = H5Fopen((dir + "/cpu.h5").c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  EXPECT_EQ(H5Lexists(f, "/env/gpu", H5P_DEFAULT), 0) << "a CPU capture writes no /env/gpu";
  H5Fclose(f);
  ASSERT_TRUE(load_capture(dir + "/cpu.h5", &b).ok());
  EXPECT_TRUE(b.env.gpu.empty());
}

TEST(StoreVersions, ADamagedGpuEnvironmentIsRefusedByName) {
  const std::string dir = testing::scratch_dir("store_versions_bad_env");
  ASSERT_EQ(save_capture(testing::full_capture(DType::F16), dir + "/cap.h5"), "");
  hid_t f = H5Fopen((dir + "/cap.h5").c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(H5Adelete_by_name(f, "/env/gpu", "sm_clock_mhz", H5P_DEFAULT), 0);
  H5Fclose(f);
  Capture c;
  LoadStatus st = load_capture(dir + "/cap.h5", &c);
  EXPECT_EQ(st.code, LoadError::Malformed);
  EXPECT_NE(st.message.find("/env/gpu: attribute sm_clock_mhz"), std::string::npos) << st.message;
}

TEST(StoreVersions, AnOlderVersionsReaderIsNotAskedForWhatItLacks) {
  // Readers of versions 1 and 2 do not look for ranges and untraced times: labelled so, a file's
  // are not read (and version 1 reads no gradients either), the rest is.
  const std::string dir = testing::scratch_dir("store_versions_relabel");
  const Capture full = testing::full_capture(DType::F32);
  ASSERT_EQ(save_capture(full, dir + "/cap.h5"), "");
  for (int64_t v : {2, 1}) {
    hid_t f = H5Fopen((dir + "/cap.h5").c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t a = H5Aopen(f, "format_version", H5P_DEFAULT);
    H5Awrite(a, H5T_NATIVE_INT64, &v);
    H5Aclose(a);
    H5Fclose(f);
    Capture c;
    LoadStatus st = load_capture(dir + "/cap.h5", &c);
    ASSERT_TRUE(st.ok()) << v << ": " << st.message;
    EXPECT_EQ(c.format_version, v);
    ASSERT_FALSE(c.runs.empty());
    EXPECT_TRUE(c.runs[0].ranges.empty()) << v;
    EXPECT_TRUE(c.runs[0].times_untraced_ms.empty()) << v;
    EXPECT_EQ(c.runs[0].kernels.size(), full.runs[0].kernels.size()) << v;
  }
}

}  // namespace
}  // namespace attnscope
