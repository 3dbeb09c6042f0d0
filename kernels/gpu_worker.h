// The GPU plugin runs in a worker process that owns the CUDA context. A kernel that faults
// (illegal address) poisons its context for good, and a crash in a kernel library takes its
// process down: either way only the worker is lost. attnscope reports the implementation that
// was running as failed, with why, and starts a fresh worker for the next run.
//
// The worker is the executable attnscope-gpu-worker (kernels/worker/), built beside attnscope;
// it loads libattnscope_cuda.so (load_gpu_plugin) and serves two sockets, one for verdicts and
// one for runs, so the GUI can ask for a verdict while a run is in flight:
//   check socket: worker -> Hello {opened, why, device, names, features}; then Check -> Verdict,
//                 Environment -> Environment {GpuEnvironment: clocks as of the request}
//   run socket:   Run {impl, spec, inputs, options} -> Progress* then Result {healthy, RunResult}
// A Result with healthy = false (the plugin lost its CUDA context) ends the worker; so does a
// closed socket. Cancelling a run kills the worker (a kernel cannot be interrupted).
#pragma once
#include <sys/types.h>

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "kernels/gpu_backend.h"

namespace attnscope {

namespace wire {
class Reader;
}

namespace worker_msg {
enum : uint32_t { Hello = 1, Check = 2, Verdict = 3, Run = 4, Progress = 5, Result = 6, Environment = 7 };
}

class GpuWorker {
 public:
  // Starts `exe` and waits for its hello (the plugin loaded and a GPU opened, or why not).
  explicit GpuWorker(std::string exe);
  ~GpuWorker();
  GpuWorker(const GpuWorker&) = delete;
  GpuWorker& operator=(const GpuWorker&) = delete;

  bool ready() const { return ready_; }
  const std::string& why_not() const { return why_; }
  const DeviceInfo& device() const { return dev_; }
  const std::vector<std::string>& names() const { return names_; }
  // GpuBackendApi::supports as the plugin answered at start (kGpuFeatures).
  bool supports(const std::string& impl, const std::string& feature) const;

  // As GpuBackendApi's check and run, in the worker. A worker that died is restarted first.
  Verdict check(const std::string& impl, const LayerSpec& spec, const DeviceInfo& dev);
  void run(const std::string& impl, const LayerSpec& spec, const Inputs& in, const RunOptions& opt,
           RunResult* result);

  // The plugin's GpuBackendApi::environment, asked now (clocks as of this call); empty when the
  // worker cannot answer.
  GpuEnvironment environment();
  pid_t pid() const;           // the current worker process (0 when none is running)
  int restarts() const;        // workers started after the first

 private:
  struct Proc;
  std::shared_ptr<Proc> current(std::string* why);  // the live worker, started when needed
  // One request on the check socket (caller holds check_mu_), its answer of type `reply` decoded by
  // `read` (which may throw wire::WireError). Tried twice: the worker may have been lost to a run on
  // the other socket since the last request. "" or why not, ending "... while <what>".
  std::string ask(uint32_t type, const std::string& payload, uint32_t reply,
                  const std::function<void(wire::Reader&)>& read, const std::string& what);
  std::shared_ptr<Proc> start(std::string* why, DeviceInfo* dev, std::vector<std::string>* names,
                              std::vector<std::string>* features, bool* opened);
  // Reaps `p` (killing it unless it ends by itself within a second with let_it_end) and says how
  // it ended ("killed by signal 11 (SIGSEGV, ...)").
  void retire(const std::shared_ptr<Proc>& p, std::string* how, bool let_it_end = true);

  std::string exe_;
  bool ready_ = false;
  std::string why_;
  DeviceInfo dev_;
  std::vector<std::string> names_;
  std::vector<std::string> features_;  // "IMPL FEATURE" for each feature the plugin supports
  mutable std::mutex proc_mu_;  // guards proc_ and restarts_
  std::shared_ptr<Proc> proc_;
  int restarts_ = 0;
  std::mutex check_mu_, run_mu_;  // one request at a time on each socket
};

// The worker's side: serves the two sockets until attnscope closes them. Returns the exit status.
int gpu_worker_main(int check_fd, int run_fd);

}  // namespace attnscope
