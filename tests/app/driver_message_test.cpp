// What attnscope says about the GPU backend when it cannot have one: on a machine with no NVIDIA
// driver, that (not a CUDA runtime/driver version mismatch); with a driver older than the CUDA
// runtime, both versions.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "kernels/gpu_backend.h"

namespace {

std::string stdout_of(const std::string& cmd, int* code) {
  FILE* p = popen((cmd + " 2>/dev/null").c_str(), "r");
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  int st = pclose(p);
  *code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return out;
}

TEST(DriverMessage, NoDriverSaysSoInTheCaptureAndTheReport) {
  if (attnscope::nvidia_driver_loadable()) GTEST_SKIP() << "libcuda.so.1 loads here: this machine has a driver";
  const std::string bin = ATTNSCOPE_BINARY_DIR "/attnscope";
  const std::string cap = std::string(::testing::TempDir()) + "/attnscope_no_driver.h5";
  int code = 0;
  // Whatever the build holds (a plugin next to the binary or none): the reason is the driver.
  std::string out = stdout_of("env -u ATTNSCOPE_NO_GPU -u ATTNSCOPE_GPU_PLUGIN " + bin + " run --spec " +
                                  ATTNSCOPE_SOURCE_DIR "/samples/llama-2-7b.json --seq 32 --impl eager --quiet --json -o " +
                                  cap,
                              &code);
  ASSERT_EQ(code, 0) << out;
  auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["env"]["backend"], "cpu");
  EXPECT_EQ(j["env"]["gpu_backend_status"], "no NVIDIA driver found (libcuda.so.1 not loadable)");
  std::string text = stdout_of(bin + " report " + cap, &code);
  EXPECT_NE(text.find("[no NVIDIA driver found (libcuda.so.1 not loadable)]"), std::string::npos) << text;
  EXPECT_EQ(text.find("insufficient"), std::string::npos) << text;
  std::remove(cap.c_str());
}

TEST(DriverMessage, AnOldDriverNamesBothVersions) {
  EXPECT_EQ(attnscope::cuda_driver_too_old(12020, 13000),
            "the NVIDIA driver supports CUDA up to 12.2, older than the CUDA 13.0 runtime this GPU backend was built "
            "with: install a driver for CUDA 13.0 or newer (cudaDriverGetVersion 12020, cudaRuntimeGetVersion 13000)");
  EXPECT_NE(attnscope::cuda_driver_too_old(11080, 12080).find("up to 11.8, older than the CUDA 12.8 runtime"),
            std::string::npos);
}

}  // namespace
