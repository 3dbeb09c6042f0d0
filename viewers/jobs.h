// The background jobs: loading a capture, running the layer, saving a capture, one at a time off
// the UI thread, with progress and cancel shared with the worker. A job's result is applied to
// the model on the UI thread (Jobs::poll, once a frame).
#pragma once
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace attnscope {

struct Capture;
struct Model;

struct Job {
  std::string what;
  std::thread thread;
  std::atomic<bool> cancel{false};
  std::atomic<bool> done{false};
  std::atomic<double> progress{0.0};
  std::mutex mu;
  std::string stage;                       // guarded by mu
  std::function<void(Model&)> finish;      // guarded by mu; set by the worker at its end
  std::shared_ptr<const Capture> partial;  // guarded by mu: a run's results so far, for poll
  bool partial_shown = false;              // UI thread: a partial of this job is on screen
  bool supersedable = false;               // the start-up run: opening or running something else cancels it
};

class Jobs {
 public:
  bool busy() const { return job_ != nullptr; }
  bool can_start() const { return !job_ || job_->supersedable; }  // a new run or load may begin
  Job* current() const { return job_.get(); }                      // nullptr when idle
  void cancel() {
    if (job_) job_->cancel = true;
  }
  // Cancels the job in flight, waits for its thread and forgets it (its result is not applied).
  void stop();
  // A new job (none may be in flight): its thread is started by the caller.
  Job& begin(std::string what, std::string stage, bool supersedable = false);
  // Shows a run's results so far and, once the job is done, joins it and applies its result.
  void poll(Model& m);

 private:
  std::unique_ptr<Job> job_;
};

// Each returns false (with a message in the model) when another job is running. `at_start`: the
// run of the default layer a session with no file starts with; the panels fill as its
// implementations finish, and opening a file or starting another run supersedes it.
bool start_load(Model& m, const std::string& path);
bool start_run(Model& m, bool at_start = false);
bool start_save(Model& m, const std::string& path);

}  // namespace attnscope
