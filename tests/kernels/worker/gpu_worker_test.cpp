// The GPU worker process (kernels/gpu_worker.h) with the CPU test plugin: the protocol carries
// verdicts, progress and whole results; a worker that dies mid-run (SIGSEGV, SIGKILL), loses its
// context or is cancelled costs that run only, is reported in its verdict, and the next run gets
// a fresh worker; a session with a crashing implementation saves the others.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "capture/session.h"
#include "capture/store.h"
#include "kernels/gpu_worker.h"

namespace attnscope {
namespace {

// Before anything asks for GpuBackend::instance(): its worker loads the test plugin.
const bool kEnv = [] {
  setenv("ATTNSCOPE_GPU_PLUGIN", ATTNSCOPE_TEST_PLUGIN, 1);
  setenv("ATTNSCOPE_GPU_WORKER", ATTNSCOPE_WORKER_EXE, 1);
  unsetenv("ATTNSCOPE_NO_GPU");
  return true;
}();

LayerSpec small_layer(const std::string& name = "worker test") {
  LayerSpec s;
  s.name = name;
  s.seq_q = s.seq_k = 48;
  s.heads_q = 4;
  s.heads_kv = 2;
  s.head_dim = s.head_dim_v = 32;
  s.causal = true;
  return s;
}

bool same(const Tensor& a, const Tensor& b) { return a.shape == b.shape && a.dtype == b.dtype && a.data == b.data; }

bool alive(pid_t pid) { return pid > 0 && kill(pid, 0) == 0; }

TEST(GpuWorker, CarriesVerdictsProgressAndWholeResults) {
  GpuWorker w(ATTNSCOPE_WORKER_EXE);
  ASSERT_TRUE(w.ready()) << w.why_not();
  EXPECT_NE(w.device().name.find("attnscope test plugin"), std::string::npos);
  EXPECT_NE(w.pid(), getpid());
  const LayerSpec s = small_layer();
  const Inputs in = random_inputs(s, 7, Distribution::Normal);
  for (const char* impl : {"eager", "flash2", "sink"}) {
    const Verdict v = w.check(impl, s, w.device());
    const Verdict here = cpu_implementation(impl)->check(s, w.device());
    ASSERT_EQ(v.reasons.size(), here.reasons.size()) << impl;
    for (size_t i = 0; i < v.reasons.size(); ++i) EXPECT_EQ(v.reasons[i].text, here.reasons[i].text);
    RunOptions opt;
    opt.probe = {true, 0, 1, 0, 16};
    std::vector<double> seen;
    opt.progress = [&](double f) { seen.push_back(f); };
    RunResult r;
    w.run(impl, s, in, opt, &r);
    ASSERT_TRUE(r.ran) << impl << ": " << r.error;
    RunOptions local;
    local.probe = opt.probe;
    const RunResult ref = cpu_implementation(impl)->run(s, in, local);
    EXPECT_TRUE(same(r.out, ref.out)) << impl << ": the output changed crossing the process boundary";
    EXPECT_TRUE(same(r.lse, ref.lse)) << impl;
    EXPECT_TRUE(same(r.probs, ref.probs)) << impl;
    EXPECT_TRUE(same(r.probe.p, ref.probe.p)) << impl;
    EXPECT_EQ(r.probe.tile_used, ref.probe.tile_used) << impl;
    EXPECT_EQ(r.spans.size(), ref.spans.size()) << impl;
    ASSERT_FALSE(seen.empty()) << impl << ": no progress reached attnscope";
    EXPECT_DOUBLE_EQ(seen.back(), 1.0) << impl;
  }
  EXPECT_EQ(w.restarts(), 0);
}

// What the profiler records (issue 13) crosses the boundary: the environment in the hello, each
// run's NVTX ranges and its repeats timed without CUPTI; the kernel's path and shape.
TEST(GpuWorker, CarriesTheEnvironmentRangesAndUntracedTimes) {
  GpuWorker w(ATTNSCOPE_WORKER_EXE);
  ASSERT_TRUE(w.ready()) << w.why_not();
  const GpuEnvironment e = w.environment();
  EXPECT_EQ(e.name, "attnscope test plugin");
  EXPECT_EQ(e.cc_major, 8);
  EXPECT_EQ(e.sm_count, 108);
  EXPECT_EQ(e.memory_bytes, int64_t{80} << 30);
  EXPECT_EQ(e.sm_clock_mhz, 1410);
  EXPECT_EQ(e.driver, "580.95.05");
  EXPECT_EQ(e.cupti, "13.0 (API 130001)");
  const LayerSpec s = small_layer();
  RunResult r;
  w.run("flash2", s, random_inputs(s, 3, Distribution::Normal), RunOptions{}, &r);
  ASSERT_TRUE(r.ran) << r.error;
  ASSERT_EQ(r.ranges.size(), 3u);
  EXPECT_EQ(r.ranges[1].name, "timed repeats");
  EXPECT_DOUBLE_EQ(r.ranges[1].start_us, 5.0);
  EXPECT_DOUBLE_EQ(r.ranges[2].dur_us, 2.5);
  EXPECT_EQ(r.ranges[2].depth, 2);
  EXPECT_EQ(r.times_untraced_ms, (std::vector<double>{0.25, 0.5}));
  EXPECT_DOUBLE_EQ(r.median_untraced_ms, 0.375);
  EXPECT_NEAR(cupti_overhead_pct(r), 100.0 * (r.median_ms / 0.375 - 1.0), 1e-9);
  EXPECT_EQ(r.kernel_path, "test plugin's kernel");
  EXPECT_EQ(r.kv_tile, 64);
  EXPECT_EQ(r.block_m, 192);
}

// What main's backward and packed sequences added crosses the boundary whole: cu_seqlens and
// max_context, dO, RunOptions::backward and every gradient with its costs; the plugin's features
// (GpuBackendApi::supports) reach attnscope in the hello.
TEST(GpuWorker, CarriesPackedLayersTheBackwardAndTheFeatures) {
  GpuWorker w(ATTNSCOPE_WORKER_EXE);
  ASSERT_TRUE(w.ready()) << w.why_not();
  EXPECT_TRUE(w.supports("flash2", "packed"));
  EXPECT_FALSE(w.supports("eager", "packed"));
  EXPECT_FALSE(w.supports("flash2", "something else"));
  for (const char* impl : {"flash2", "sink"}) {
    LayerSpec s = small_layer();
    s.cu_seqlens = {0, 17, 30, 48};
    s.max_context = 4096;
    s.sinks = std::string(impl) == "sink";  // dsinks crosses too
    Inputs in = random_inputs(s, 11, Distribution::Normal);
    in.dout = random_dout(s, 11, {});
    RunOptions opt;
    opt.backward = true;
    RunResult r;
    w.run(impl, s, in, opt, &r);
    ASSERT_TRUE(r.ran) << impl << ": " << r.error;
    const RunResult ref = cpu_implementation(impl)->run(s, in, opt);
    ASSERT_TRUE(ref.grad.ran) << impl << ": " << ref.grad.error;
    EXPECT_TRUE(same(r.out, ref.out)) << impl << ": cu_seqlens or dO changed crossing the boundary";
    EXPECT_EQ(r.grad.ran, ref.grad.ran) << impl;
    EXPECT_EQ(r.grad.error, ref.grad.error) << impl;
    for (const auto& t : kGradientTensors)
      EXPECT_TRUE(same(r.grad.*t.member, ref.grad.*t.member)) << impl << ": " << t.name;
    EXPECT_EQ(r.grad.spans.size(), ref.grad.spans.size()) << impl;
    EXPECT_EQ(r.grad.model_bytes, ref.grad.model_bytes) << impl;
  }
}

struct Fault {
  const char* kind;
  const char* death;  // what the run's error says about the worker's end
};

void PrintTo(const Fault& f, std::ostream* os) { *os << f.kind; }

class WorkerDeath : public ::testing::TestWithParam<Fault> {};

TEST_P(WorkerDeath, CostsThatRunOnlyAndTheNextRunGetsAFreshWorker) {
  GpuWorker w(ATTNSCOPE_WORKER_EXE);
  ASSERT_TRUE(w.ready()) << w.why_not();
  const pid_t first = w.pid();
  const LayerSpec bad = small_layer(std::string("worker test fault=flash2:") + GetParam().kind);
  const Inputs in = random_inputs(bad, 3, Distribution::Normal);
  bool progressed = false;
  RunOptions opt;
  opt.progress = [&](double) { progressed = true; };
  RunResult r;
  w.run("flash2", bad, in, opt, &r);
  EXPECT_TRUE(progressed) << "the fault should strike mid-run, after progress";
  EXPECT_FALSE(r.ran);
  EXPECT_TRUE(r.out.empty());
  const std::string pid_text = "the GPU worker (pid " + std::to_string(first) + ") " + GetParam().death +
                               " while running flash2: flash2 has no result; a fresh worker serves the next run";
  EXPECT_EQ(r.error, pid_text);
  ASSERT_TRUE(r.verdict.has("gpu.worker_died")) << r.error;
  EXPECT_FALSE(r.verdict.supported);
  EXPECT_FALSE(alive(first)) << "the dead worker is reaped";

  // The next run, and a verdict, in the same process.
  const LayerSpec good = small_layer();
  RunResult next;
  w.run("flash2", good, in, RunOptions{}, &next);
  ASSERT_TRUE(next.ran) << next.error;
  EXPECT_TRUE(same(next.out, cpu_implementation("flash2")->run(good, in, RunOptions{}).out));
  EXPECT_EQ(w.restarts(), 1);
  EXPECT_NE(w.pid(), first);
  EXPECT_TRUE(w.check("sink", good, w.device()).supported);
}

INSTANTIATE_TEST_SUITE_P(Faults, WorkerDeath,
                         ::testing::Values(Fault{"segv", "killed by signal 11 (SIGSEGV, Segmentation fault)"},
                                           Fault{"kill", "killed by signal 9 (SIGKILL, Killed)"}),
                         [](const auto& info) { return std::string(info.param.kind); });

TEST(GpuWorker, ALostContextEndsTheWorkerAfterItsAnswer) {
  GpuWorker w(ATTNSCOPE_WORKER_EXE);
  ASSERT_TRUE(w.ready()) << w.why_not();
  const pid_t first = w.pid();
  const LayerSpec bad = small_layer("worker test fault=sink:lost");
  const Inputs in = random_inputs(bad, 3, Distribution::Normal);
  RunResult r;
  w.run("sink", bad, in, RunOptions{}, &r);
  EXPECT_FALSE(r.ran);
  EXPECT_NE(r.error.find("illegal memory access"), std::string::npos) << r.error;
  EXPECT_TRUE(r.verdict.has("gpu.run_failed")) << "the plugin's error is in the verdict";
  ASSERT_TRUE(r.verdict.has("gpu.worker_restarted"));
  EXPECT_FALSE(alive(first));
  RunResult next;
  w.run("sink", small_layer(), in, RunOptions{}, &next);
  EXPECT_TRUE(next.ran) << next.error;
  EXPECT_NE(w.pid(), first);
}

TEST(GpuWorker, CancelEndsAHungRunPromptlyAndVerdictsStillAnswerDuringIt) {
  GpuWorker w(ATTNSCOPE_WORKER_EXE);
  ASSERT_TRUE(w.ready()) << w.why_not();
  const LayerSpec hung = small_layer("worker test fault=eager:hang");
  const Inputs in = random_inputs(hung, 3, Distribution::Normal);
  std::atomic<bool> cancel{false}, started{false};
  RunOptions opt;
  opt.cancel = &cancel;
  opt.progress = [&](double) { started = true; };
  RunResult r;
  std::thread t([&] { w.run("eager", hung, in, opt, &r); });
  const auto t0 = std::chrono::steady_clock::now();
  while (!started && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(30))
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_TRUE(started);
  // The run socket is busy; verdicts come over the other one.
  const auto c0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(w.check("eager", small_layer(), w.device()).supported);
  EXPECT_LT(std::chrono::steady_clock::now() - c0, std::chrono::seconds(5));
  cancel = true;
  const auto k0 = std::chrono::steady_clock::now();
  t.join();
  EXPECT_LT(std::chrono::steady_clock::now() - k0, std::chrono::seconds(5));
  EXPECT_FALSE(r.ran);
  EXPECT_EQ(r.error, "cancelled");
  RunResult next;
  w.run("eager", small_layer(), in, RunOptions{}, &next);
  EXPECT_TRUE(next.ran) << next.error;
  EXPECT_EQ(w.restarts(), 1);
}

TEST(GpuWorker, AWorkerThatCannotStartSaysWhy) {
  GpuWorker w("/nonexistent/attnscope-gpu-worker");
  EXPECT_FALSE(w.ready());
  EXPECT_NE(w.why_not().find("cannot start the GPU worker /nonexistent/attnscope-gpu-worker"), std::string::npos)
      << w.why_not();
  RunResult r;
  w.run("eager", small_layer(), random_inputs(small_layer(), 1, Distribution::Normal), RunOptions{}, &r);
  EXPECT_FALSE(r.ran);
  EXPECT_EQ(r.error, w.why_not());
}

// The whole path attnscope takes: a session over the GPU backend (the worker with the test
// plugin) where sdpa's worker crashes; the other implementations complete and are saved, and the
// next session in the same process runs everything.
TEST(GpuBackendSession, ACrashingImplementationCostsOnlyItsRunAndTheNextSessionWorks) {
  const GpuBackend& g = GpuBackend::instance();
  ASSERT_TRUE(g.available()) << g.why_not();
  LayerSpec s = small_layer("session fault=sdpa:segv");
  Capture cap;
  SessionOptions opt;
  ASSERT_EQ(run_session(s, random_inputs(s, 5, Distribution::Normal), opt, &cap), "");
  ASSERT_EQ(cap.runs.size(), 4u);
  for (const RunResult& r : cap.runs) {
    if (r.label == "sdpa") {
      EXPECT_FALSE(r.ran);
      EXPECT_TRUE(r.verdict.has("gpu.worker_died")) << r.error;
      EXPECT_NE(r.error.find("killed by signal 11 (SIGSEGV"), std::string::npos) << r.error;
    } else {
      EXPECT_TRUE(r.ran) << r.label << ": " << r.error;
      EXPECT_EQ(r.backend, "cuda");
    }
  }
  const std::string path = std::string(::testing::TempDir()) + "/worker_session_" + std::to_string(getpid()) + ".h5";
  ASSERT_EQ(save_capture(cap, path), "");
  Capture back;
  ASSERT_TRUE(load_capture(path, &back).ok());
  ASSERT_EQ(back.runs.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(back.runs[i].ran, cap.runs[i].ran) << cap.runs[i].label;
    EXPECT_TRUE(same(back.runs[i].out, cap.runs[i].out)) << cap.runs[i].label;
    EXPECT_EQ(back.runs[i].error, cap.runs[i].error);
  }
  std::filesystem::remove(path);

  LayerSpec ok = small_layer("session");
  Capture again;
  ASSERT_EQ(run_session(ok, random_inputs(ok, 5, Distribution::Normal), opt, &again), "");
  for (const RunResult& r : again.runs) EXPECT_TRUE(r.ran) << r.label << ": " << r.error;
  EXPECT_GE(g.worker()->restarts(), 1);
}

}  // namespace
}  // namespace attnscope
