// A GPU plugin for the worker's tests on machines without a GPU: attnscope's ABI (gpu_backend.h)
// over the CPU implementations, so the worker process, its protocol and its restarts are tested
// for real in CI. The layer's name asks for a fault while an implementation runs:
//   "... fault=IMPL:segv"  the worker dies of a real SIGSEGV (a write through a null pointer)
//   "... fault=IMPL:kill"  the worker is SIGKILLed (as the OOM killer does)
//   "... fault=IMPL:lost"  the run fails as after a sticky CUDA error and healthy() turns false
//   "... fault=IMPL:hang"  the run never ends (cancel and concurrent-verdict tests)
// Each fault first reports progress, so it strikes mid-run. Test-only: never installed.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <string>

#include "kernels/gpu_backend.h"
#include "tests/kernels/worker/fault_spec.h"

namespace attnscope {
namespace {

std::atomic<bool> g_lost{false};

// A100 rules: on sm90 SDPA's dispatcher picks cuDNN (kernels/sdpa_dispatch.cpp), which has no CPU
// version to stand in for it; on sm80 it picks flash, and every implementation runs here.
bool open(DeviceInfo* dev, std::string* why) {
  auto d = named_gpu("A100");
  if (!d) {
    *why = "no A100 in the named GPU table";
    return false;
  }
  *dev = *d;
  dev->named = false;
  dev->name = "attnscope test plugin (CPU implementations, A100 rules)";
  return true;
}

std::vector<std::string> names() {
  return {"eager", "sdpa", "flash2", "sink", "sdpa:flash", "sdpa:efficient", "sdpa:math"};
}

Verdict check(const std::string& impl, const LayerSpec& spec, const DeviceInfo& dev) {
  const Implementation* i = cpu_implementation(impl);
  if (!i) {
    Verdict v;
    v.add(Severity::Error, "test.unknown_impl", "unknown implementation '" + impl + "'", "attnscope test plugin");
    return v;
  }
  return i->check(spec, dev);
}

void run(const std::string& impl, const LayerSpec& spec, const Inputs& in, const RunOptions& opt, RunResult* r) {
  const std::string fault = test::fault_for(spec, impl);
  if (!fault.empty() && opt.progress) opt.progress(0.3);
  if (fault == "segv") {
    signal(SIGSEGV, SIG_DFL);  // past any sanitizer's handler: the process dies of the signal itself
    volatile int* nowhere = nullptr;
    *nowhere = 1;
  } else if (fault == "kill") {
    raise(SIGKILL);
  } else if (fault == "hang") {
    for (;;) pause();
  } else if (fault == "lost") {
    g_lost = true;
    *r = RunResult{};
    r->impl = r->label = impl;
    r->error = "an illegal memory access was encountered (test plugin); the CUDA context is lost (sticky error)";
    return;
  }
  *r = cpu_implementation(impl)->run(spec, in, opt);
  // What a GPU run adds for the profiler (NVTX ranges, the repeats timed again without CUPTI), made
  // up here so the worker's protocol is seen to carry it.
  r->ranges = {{impl, 0.0, 30.0, 0}, {"timed repeats", 5.0, 20.0, 1}, {"repeat 0", 5.0, 2.5, 2}};
  r->times_untraced_ms = {0.25, 0.5};
  r->median_untraced_ms = 0.375;
  r->kernel_path = "test plugin's kernel";  // and the fused kernel's shape (the bench's tile accounting)
  r->kv_tile = 64, r->block_m = 192;
}

void close() {}
bool healthy() { return !g_lost; }
// flash2 only, so a test sees the worker tell one implementation's features from another's.
bool supports(const std::string& impl, const std::string& feature) { return impl == "flash2" && feature == "packed"; }

void environment(GpuEnvironment* e) {
  *e = GpuEnvironment{};
  e->name = "attnscope test plugin";
  e->cc_major = 8;
  e->sm_count = 108;
  e->memory_bytes = int64_t{80} << 30;
  e->sm_clock_mhz = 1410;
  e->driver = "580.95.05";
  e->cuda_runtime = "13.0";
  e->cupti = "13.0 (API 130001)";
}

const GpuBackendApi kApi = {kGpuBackendAbi, &open, &names, &check, &run, &close, &healthy, &supports, &environment};

}  // namespace
}  // namespace attnscope

extern "C" __attribute__((visibility("default"))) const attnscope::GpuBackendApi* attnscope_gpu_backend() {
  return &attnscope::kApi;
}
