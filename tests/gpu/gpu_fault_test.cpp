// GPU faults stay in the GPU worker (kernels/gpu_worker.h), on the device: a deliberately
// faulting kernel (illegal address, test-only: tests/gpu/fault_plugin.cu) and an implementation
// that runs out of device memory are each reported in that implementation's verdict while the
// others complete and are saved, and the next run in the same process works. Then 50 sessions in
// a row: host and device memory back within 5% of their baseline. Every test skips without a GPU.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "capture/analysis.h"
#include "capture/export.h"
#include "capture/report.h"
#include "capture/session.h"
#include "capture/store.h"
#include "kernels/gpu_worker.h"
#include "tests/capture/rss.h"

namespace attnscope {
namespace {
namespace fs = std::filesystem;

// Before GpuBackend::instance(): attnscope's worker with the test fault plugin.
const bool kEnv = [] {
  setenv("ATTNSCOPE_GPU_PLUGIN", ATTNSCOPE_FAULT_PLUGIN, 1);
  setenv("ATTNSCOPE_GPU_WORKER", ATTNSCOPE_BINARY_DIR "/attnscope-gpu-worker", 1);
  unsetenv("ATTNSCOPE_NO_GPU");
  return true;
}();

#define REQUIRE_GPU()                                                                                   \
  do {                                                                                                  \
    if (!GpuBackend::instance().available())                                                            \
      GTEST_SKIP() << "no GPU through the worker: " << GpuBackend::instance().why_not();                \
  } while (0)

LayerSpec layer(const std::string& name, int seq = 256) {
  LayerSpec s;
  s.name = name;
  s.seq_q = s.seq_k = seq;
  s.heads_q = 8;
  s.heads_kv = 2;
  s.head_dim = s.head_dim_v = 64;
  s.dtype = DType::BF16;
  s.causal = true;
  return s;
}

const RunResult* find(const Capture& c, const std::string& label) {
  for (const auto& r : c.runs)
    if (r.label == label) return &r;
  return nullptr;
}

std::string fresh_path(const std::string& name) {
  return (fs::path(::testing::TempDir()) / (name + "_" + std::to_string(getpid()) + ".h5")).string();
}

// The others ran on the GPU, agree with the reference (FA2's rule) and come back from the file.
void expect_others_complete_and_saved(const Capture& cap, const std::string& failed) {
  const std::string path = fresh_path("fault_" + failed);
  ASSERT_EQ(save_capture(cap, path), "");
  Capture back;
  LoadStatus st = load_capture(path, &back);
  ASSERT_TRUE(st.ok()) << st.message;
  for (const char* label : {"eager", "sdpa", "flash2", "sink"}) {
    if (label == failed) continue;
    const RunResult* r = find(back, label);
    ASSERT_NE(r, nullptr) << label;
    EXPECT_TRUE(r->ran) << label << ": " << r->error;
    EXPECT_EQ(r->backend, "cuda") << label;
    EXPECT_FALSE(r->out.empty()) << label;
    EXPECT_TRUE(acceptance(back, *r).pass) << label;
  }
  fs::remove(path);
}

TEST(GpuFaults, AnIllegalAddressCostsOneImplementationAndTheNextRunWorks) {
  REQUIRE_GPU();
  GpuWorker* w = GpuBackend::instance().worker();
  const pid_t before = w->pid();
  const int restarts = w->restarts();
  Capture cap;
  const LayerSpec bad = layer("gpu fault=sdpa:illegal_address");
  ASSERT_EQ(run_session(bad, random_inputs(bad, 1, Distribution::Normal), SessionOptions{}, &cap), "");
  const RunResult* sdpa = find(cap, "sdpa");
  ASSERT_NE(sdpa, nullptr);
  EXPECT_FALSE(sdpa->ran);
  EXPECT_NE(sdpa->error.find("cudaErrorIllegalAddress"), std::string::npos) << sdpa->error;
  EXPECT_TRUE(sdpa->verdict.has("gpu.run_failed")) << "the fault is in sdpa's verdict";
  EXPECT_TRUE(sdpa->verdict.has("gpu.worker_restarted"));
  std::printf("sdpa: %s\n", sdpa->error.c_str());
  for (const auto& why : sdpa->verdict.reasons) std::printf("  [%s] %s\n", why.code.c_str(), why.text.c_str());
  expect_others_complete_and_saved(cap, "sdpa");
  EXPECT_EQ(w->restarts(), restarts + 1);
  EXPECT_NE(w->pid(), before);

  Capture next;
  const LayerSpec ok = layer("gpu after the fault");
  ASSERT_EQ(run_session(ok, random_inputs(ok, 2, Distribution::Normal), SessionOptions{}, &next), "");
  for (const auto& r : next.runs) EXPECT_TRUE(r.ran) << r.label << ": " << r.error;
}

TEST(GpuFaults, OutOfMemoryIsInItsVerdictAndKeepsTheWorker) {
  REQUIRE_GPU();
  GpuWorker* w = GpuBackend::instance().worker();
  Capture warm;
  const LayerSpec ok = layer("gpu warm-up", 64);
  ASSERT_EQ(run_session(ok, random_inputs(ok, 2, Distribution::Normal), SessionOptions{}, &warm), "");
  const pid_t before = w->pid();
  Capture cap;
  const LayerSpec bad = layer("gpu fault=flash2:oom");
  ASSERT_EQ(run_session(bad, random_inputs(bad, 3, Distribution::Normal), SessionOptions{}, &cap), "");
  const RunResult* flash2 = find(cap, "flash2");
  ASSERT_NE(flash2, nullptr);
  EXPECT_FALSE(flash2->ran);
  EXPECT_EQ(flash2->error.rfind("CUDA out of memory", 0), 0u) << flash2->error;
  EXPECT_TRUE(flash2->verdict.has("gpu.out_of_memory"));
  EXPECT_FALSE(flash2->verdict.has("gpu.worker_restarted")) << "out of memory is not sticky";
  EXPECT_EQ(w->pid(), before) << "the same worker served every run";
  expect_others_complete_and_saved(cap, "flash2");
}

// The product's own path, from the command line: the device has 512 MiB free (the test plugin
// takes the rest), eager's S and P (2 x 512 MiB in fp32) need more, and the fused kernels fit.
TEST(GpuFaults, AnImplementationThatDoesNotFitTheDeviceIsRefusedInItsVerdictFromTheCli) {
  REQUIRE_GPU();
  const std::string spec = fresh_path("too_big") + ".json";
  const std::string cap = fresh_path("too_big");
  {
    std::FILE* f = std::fopen(spec.c_str(), "w");
    std::fprintf(f,
                 R"({"name": "eager does not fit", "seq": 4096, "heads_q": 8, "heads_kv": 8, "head_dim": 64, "dtype": "bf16", "causal": true})");
    std::fclose(f);
  }
  const std::string bin = ATTNSCOPE_BINARY_DIR "/attnscope";
  const std::string cmd = "ATTNSCOPE_FAULTS_LEAVE_FREE_MIB=512 " + bin + " run --spec " + spec + " --quiet -o " + cap +
                          " 2>&1 && " + bin + " report --json " + cap;
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  ASSERT_EQ(pclose(p), 0) << out;
  const auto j = nlohmann::json::parse(out.substr(out.find('{')));
  EXPECT_EQ(j["env"]["backend"], "cuda");
  for (const auto& r : j["runs"]) {
    const std::string label = r["label"];
    if (label == "eager") {
      EXPECT_NE(r["status"], "ran");
      // Refused before it runs by the memory model (eager.oom, against the device's free memory),
      // or else by the harness's own estimate before it allocates (gpu.memory_estimate).
      const std::string why = r.dump();
      EXPECT_TRUE(why.find("eager.oom") != std::string::npos || why.find("gpu.memory_estimate") != std::string::npos)
          << r.dump(2);
      EXPECT_NE(why.find(" free"), std::string::npos) << "names the free memory: " << r.dump(2);
    } else {
      EXPECT_EQ(r["status"], "ran") << label << ": " << r.dump(2);
    }
  }
  fs::remove(spec);
  fs::remove(cap);
}

int64_t device_used(const Capture& c) {
  int64_t used = 0;
  for (const auto& r : c.runs)
    for (const auto& why : r.verdict.reasons)
      if (why.code == "test.device_used") used = std::stoll(why.text);
  return used;
}

// 50 captures in a row in one process, each saved, read back, reported, diffed and exported as
// the CLI verbs do: host memory (this process and the worker) and device memory come back.
TEST(GpuLoad, FiftySessionsInARowKeepHostAndDeviceMemorySteady) {
  REQUIRE_GPU();
  // Small and untimed (one repeat, no warm-up): the device hook has 45 s for every check.
  const LayerSpec s = layer("gpu load", 128);
  SessionOptions opt;
  opt.repeats = 1;
  opt.warmup = 0;
  const std::string path = fresh_path("load");
  int64_t host0 = 0, worker0 = 0, device0 = 0;
  for (int i = 0; i < 50; ++i) {
    Capture cap;
    ASSERT_EQ(run_session(s, random_inputs(s, static_cast<uint64_t>(i), Distribution::Normal), opt, &cap), "");
    for (const auto& r : cap.runs) ASSERT_TRUE(r.ran) << r.label << ": " << r.error;
    ASSERT_EQ(save_capture(cap, path), "");
    Capture back;
    ASSERT_TRUE(load_capture(path, &back).ok());
    report_text(back, path);
    report_json(back, path);
    diff_text(back, *find(back, "eager"), back, *find(back, "flash2"));
    trace_json(back);
    summary_csv(back);
    const int64_t host = test::rss_bytes(), worker = test::rss_bytes(GpuBackend::instance().worker()->pid()),
                  device = device_used(cap);
    if (i == 1) host0 = host, worker0 = worker, device0 = device;  // after a warm-up session
    if (i == 1 || i == 49)
      std::printf("session %2d: host RSS %.1f MiB, worker RSS %.1f MiB, device in use %.1f MiB\n", i + 1,
                  host / 1048576.0, worker / 1048576.0, device / 1048576.0);
    if (i == 49) {
      EXPECT_LE(host, host0 * 1.05) << "host RSS grew over 49 sessions";
      EXPECT_LE(worker, worker0 * 1.05) << "the worker's RSS grew";
      ASSERT_GT(device0, 0) << "the fault plugin reports the device memory in use";
      EXPECT_LE(device, device0 * 1.05) << "device memory grew";
    }
  }
  fs::remove(path);
}

}  // namespace
}  // namespace attnscope
