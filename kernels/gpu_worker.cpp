#include "kernels/gpu_worker.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>

#include "kernels/gpu_wire.h"

extern char** environ;

namespace attnscope {

namespace {

constexpr int kHelloTimeoutMs = 180000;  // CUDA + CUPTI initialisation on a busy 8-GPU host
constexpr const char* kSource = "attnscope GPU backend";

// "killed by signal 11 (SIGSEGV, Segmentation fault)", "exited with status 3".
std::string describe_status(int st) {
  if (WIFSIGNALED(st)) {
    const int s = WTERMSIG(st);
    const char* abbrev = sigabbrev_np(s);
    return "killed by signal " + std::to_string(s) + " (" + (abbrev ? std::string("SIG") + abbrev + ", " : "") +
           strsignal(s) + ")";
  }
  if (WIFEXITED(st)) return "exited with status " + std::to_string(WEXITSTATUS(st));
  return "ended (wait status " + std::to_string(st) + ")";
}

// A socket end moved to a descriptor >= 10 (close-on-exec): the spawn's dup2 onto 3 and 4 must
// never see its own source there.
int high_fd(int fd) {
  if (fd >= 10) return fd;
  int h = fcntl(fd, F_DUPFD_CLOEXEC, 10);
  close(fd);
  return h;
}

// Waits until `fd` is readable; false on timeout (ms < 0: no limit).
bool wait_readable(int fd, int ms) {
  pollfd p{fd, POLLIN, 0};
  for (;;) {
    int r = poll(&p, 1, ms);
    if (r < 0 && errno == EINTR) continue;
    return r > 0;
  }
}

}  // namespace

struct GpuWorker::Proc {
  pid_t pid = 0;
  int check_fd = -1, run_fd = -1;
  std::mutex mu;      // guards reaped, how
  bool reaped = false;
  std::string how;    // how it ended, once reaped
  ~Proc() {
    if (check_fd >= 0) close(check_fd);
    if (run_fd >= 0) close(run_fd);
  }
};

GpuWorker::GpuWorker(std::string exe) : exe_(std::move(exe)) {
  std::lock_guard<std::mutex> lock(proc_mu_);
  proc_ = start(&why_, &dev_, &names_, &features_, &ready_);
}

GpuWorker::~GpuWorker() {
  std::shared_ptr<Proc> p;
  {
    std::lock_guard<std::mutex> lock(proc_mu_);
    p = std::move(proc_);
  }
  if (!p) return;
  // Closing both sockets ends the worker (it releases the CUDA context on its way out).
  close(p->check_fd);
  close(p->run_fd);
  p->check_fd = p->run_fd = -1;
  std::lock_guard<std::mutex> lock(p->mu);
  if (p->reaped) return;
  int st = 0;
  for (int i = 0; i < 100 && waitpid(p->pid, &st, WNOHANG) == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  if (waitpid(p->pid, &st, WNOHANG) == 0) {
    kill(p->pid, SIGKILL);
    waitpid(p->pid, &st, 0);
  }
  p->reaped = true;
}

std::shared_ptr<GpuWorker::Proc> GpuWorker::start(std::string* why, DeviceInfo* dev, std::vector<std::string>* names,
                                                  std::vector<std::string>* features, bool* opened) {
  *opened = false;
  int cs[2], rs[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, cs) != 0) {
    *why = std::string("cannot create the GPU worker's sockets: ") + std::strerror(errno);
    return nullptr;
  }
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, rs) != 0) {
    *why = std::string("cannot create the GPU worker's sockets: ") + std::strerror(errno);
    close(cs[0]);
    close(cs[1]);
    return nullptr;
  }
  auto p = std::make_shared<Proc>();
  p->check_fd = cs[0];
  p->run_fd = rs[0];
  const int child_check = high_fd(cs[1]), child_run = high_fd(rs[1]);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, child_check, 3);
  posix_spawn_file_actions_adddup2(&fa, child_run, 4);
  std::string a0 = exe_, a1 = "3", a2 = "4";
  char* argv[] = {a0.data(), a1.data(), a2.data(), nullptr};
  const int rc = posix_spawn(&p->pid, exe_.c_str(), &fa, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(child_check);
  close(child_run);
  if (rc != 0) {
    *why = "cannot start the GPU worker " + exe_ + ": " + std::strerror(rc);
    p->reaped = true;
    return nullptr;
  }
  uint32_t type = 0;
  std::string payload, err;
  if (!wait_readable(p->check_fd, kHelloTimeoutMs))
    err = "no answer within " + std::to_string(kHelloTimeoutMs / 1000) + " s";
  else
    err = wire::recv_frame(p->check_fd, &type, &payload);
  if (err.empty() && type != worker_msg::Hello) err = "it spoke out of turn (message " + std::to_string(type) + ")";
  if (err.empty()) {
    try {
      wire::Reader r(payload);
      *opened = r.u8();
      *why = r.str();
      wire::get(r, dev);
      wire::get(r, names);
      wire::get(r, features);
    } catch (const wire::WireError& e) {
      err = std::string("garbled hello: ") + e.what();
    }
  }
  if (!err.empty()) {
    std::string how;
    retire(p, &how);
    *why = "the GPU worker " + exe_ + " did not start: " + (err == "eof" ? how : err + "; " + how);
    return nullptr;
  }
  if (!*opened) {
    std::string how;
    retire(p, &how);  // it ends by itself after a failed open
    return nullptr;
  }
  return p;
}

void GpuWorker::retire(const std::shared_ptr<Proc>& p, std::string* how, bool let_it_end) {
  std::lock_guard<std::mutex> lock(p->mu);
  if (!p->reaped) {
    int st = 0;
    // A worker that closed its sockets is on its way out: give it a moment to finish dying of
    // its own cause (the status says which signal) before making sure of it.
    pid_t w = 0;
    for (int i = 0; let_it_end && i < 100 && (w = waitpid(p->pid, &st, WNOHANG)) == 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (w == 0) {
      kill(p->pid, SIGKILL);
      waitpid(p->pid, &st, 0);
    }
    p->reaped = true;
    p->how = describe_status(st);
  }
  if (how) *how = p->how;
}

std::shared_ptr<GpuWorker::Proc> GpuWorker::current(std::string* why) {
  std::lock_guard<std::mutex> lock(proc_mu_);
  if (proc_) {
    std::lock_guard<std::mutex> plock(proc_->mu);
    if (!proc_->reaped) return proc_;
  }
  if (!ready_) {
    *why = why_;
    return nullptr;
  }
  DeviceInfo dev;
  std::vector<std::string> names, features;
  bool opened = false;
  std::string w;
  proc_ = start(&w, &dev, &names, &features, &opened);
  ++restarts_;
  if (!proc_) *why = "the GPU worker could not be restarted: " + (w.empty() ? std::string("no GPU") : w);
  return proc_;
}

std::string GpuWorker::ask(uint32_t type, const std::string& payload, uint32_t reply,
                           const std::function<void(wire::Reader&)>& read, const std::string& what) {
  std::string failure;
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::shared_ptr<Proc> p = current(&failure);
    if (!p) return failure;
    uint32_t got = 0;
    std::string answer;
    std::string err = wire::send_frame(p->check_fd, type, payload);
    if (err.empty()) err = wire::recv_frame(p->check_fd, &got, &answer);
    if (err.empty() && got == reply) {
      try {
        wire::Reader r(answer);
        read(r);
        return "";
      } catch (const wire::WireError&) {
      }
    }
    std::string how;
    retire(p, &how);  // out of step on its check socket: the next request starts a fresh worker
    failure = "the GPU worker (pid " + std::to_string(p->pid) + ") " + how + " while " + what;
  }
  return failure;
}

GpuEnvironment GpuWorker::environment() {
  std::lock_guard<std::mutex> lock(check_mu_);
  GpuEnvironment e;
  if (!ask(worker_msg::Environment, "", worker_msg::Environment, [&](wire::Reader& r) { wire::get(r, &e); },
           "reading the GPU environment")
           .empty())
    return GpuEnvironment{};
  return e;
}

pid_t GpuWorker::pid() const {
  std::lock_guard<std::mutex> lock(proc_mu_);
  return proc_ ? proc_->pid : 0;
}

bool GpuWorker::supports(const std::string& impl, const std::string& feature) const {
  return std::find(features_.begin(), features_.end(), impl + " " + feature) != features_.end();
}

int GpuWorker::restarts() const {
  std::lock_guard<std::mutex> lock(proc_mu_);
  return restarts_;
}

Verdict GpuWorker::check(const std::string& impl, const LayerSpec& spec, const DeviceInfo& dev) {
  std::lock_guard<std::mutex> lock(check_mu_);
  wire::Writer w;
  w.str(impl);
  wire::put(w, spec);
  wire::put(w, dev);
  Verdict v;
  const std::string failure =
      ask(worker_msg::Check, w.bytes(), worker_msg::Verdict, [&](wire::Reader& r) { wire::get(r, &v); },
          "checking " + impl);
  if (!failure.empty()) {
    v = Verdict{};
    v.add(Severity::Error, "gpu.worker", failure, kSource);
  }
  return v;
}

void GpuWorker::run(const std::string& impl, const LayerSpec& spec, const Inputs& in, const RunOptions& opt,
                    RunResult* r) {
  std::lock_guard<std::mutex> lock(run_mu_);
  *r = RunResult{};
  r->impl = r->label = impl;
  r->backend = "cuda";
  r->device = dev_.describe();
  auto fail = [&](const std::string& code, const std::string& text) {
    r->ran = false;
    r->error = text;
    r->verdict.add(Severity::Error, code, text, kSource);
  };
  std::string why;
  std::shared_ptr<Proc> p = current(&why);
  if (!p) return fail("gpu.worker", why);
  const std::string who = "the GPU worker (pid " + std::to_string(p->pid) + ")";

  wire::Writer w;
  w.str(impl);
  wire::put(w, spec);
  wire::put(w, in);
  wire::put(w, opt);
  std::string err = wire::send_frame(p->run_fd, worker_msg::Run, w.take());
  while (err.empty()) {
    if (!wait_readable(p->run_fd, 100)) {
      if (opt.cancel && opt.cancel->load()) {
        // A kernel cannot be interrupted: the worker goes, a fresh one serves the next run.
        retire(p, nullptr, false);
        r->ran = false;
        r->error = "cancelled";
        return;
      }
      continue;
    }
    uint32_t type = 0;
    std::string payload;
    err = wire::recv_frame(p->run_fd, &type, &payload);
    if (!err.empty()) break;
    bool healthy = true;
    try {
      wire::Reader rd(payload);
      if (type == worker_msg::Progress) {
        const double f = rd.f64();
        if (opt.progress) opt.progress(f);
        continue;
      }
      if (type != worker_msg::Result) {
        err = "it sent message " + std::to_string(type) + " during a run";
        break;
      }
      healthy = rd.u8();
      RunResult got;
      wire::get(rd, &got);
      *r = std::move(got);
    } catch (const wire::WireError& e) {
      err = std::string("garbled result: ") + e.what();
      break;
    } catch (const std::bad_alloc&) {
      err = "its result does not fit in memory";
      break;
    }
    // The plugin puts a failed run's cause in `error`; the verdict is where reports look.
    if (!r->ran && !r->error.empty() && r->verdict.supported)
      r->verdict.add(Severity::Error, r->error.rfind("CUDA out of memory", 0) == 0 ? "gpu.out_of_memory" : "gpu.run_failed",
                     r->error, kSource);
    if (!healthy) {
      retire(p, nullptr);
      r->verdict.add(Severity::Note, "gpu.worker_restarted",
                     who + " lost its CUDA context and was ended; a fresh worker with a new context serves the next run",
                     kSource);
    }
    return;
  }
  std::string how;
  retire(p, &how);
  fail("gpu.worker_died", who + " " + (err == "eof" ? how : err + "; it was " + how) + " while running " + impl +
                              ": " + impl + " has no result; a fresh worker serves the next run");
}

// ---- the worker's side ----

namespace {

// Progress frames: at most one per percent (a CPU-side loop may report per row).
class ProgressSender {
 public:
  explicit ProgressSender(int fd) : fd_(fd) {}
  void operator()(double f) {
    std::lock_guard<std::mutex> lock(mu_);
    if (f < last_ + 0.01 && f < 1.0) return;
    last_ = f;
    wire::Writer w;
    w.f64(f);
    wire::send_frame(fd_, worker_msg::Progress, w.bytes());
  }

 private:
  int fd_;
  std::mutex mu_;
  double last_ = -1.0;
};

}  // namespace

int gpu_worker_main(int check_fd, int run_fd) {
  // Ends with attnscope, whatever the way attnscope ends.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  signal(SIGPIPE, SIG_IGN);
  std::string why;
  DeviceInfo dev;
  const GpuBackendApi* api = load_gpu_plugin(&why);
  bool opened = false;
  if (api) {
    opened = api->open(&dev, &why);
    if (!opened) why = gpu_open_failure(why);
  }
  {
    wire::Writer w;
    w.u8(opened);
    w.str(why);
    wire::put(w, dev);
    std::vector<std::string> names, features;
    if (opened) names = api->names();
    for (const auto& n : names)
      for (const char* f : kGpuFeatures)
        if (api->supports && api->supports(n, f)) features.push_back(n + " " + f);
    wire::put(w, names);
    wire::put(w, features);
    if (!wire::send_frame(check_fd, worker_msg::Hello, w.bytes()).empty() || !opened) return 0;
  }
  // Verdicts on their own thread: the GUI asks for them while a run is in flight.
  std::thread([api, check_fd] {
    uint32_t type = 0;
    std::string payload;
    while (wire::recv_frame(check_fd, &type, &payload).empty() &&
           (type == worker_msg::Check || type == worker_msg::Environment)) {
      if (type == worker_msg::Environment) {
        GpuEnvironment env;
        if (api->environment) api->environment(&env);
        wire::Writer w;
        wire::put(w, env);
        if (!wire::send_frame(check_fd, worker_msg::Environment, w.bytes()).empty()) break;
        continue;
      }
      wire::Reader r(payload);
      std::string impl;
      LayerSpec spec;
      DeviceInfo d;
      try {
        impl = r.str();
        wire::get(r, &spec);
        wire::get(r, &d);
      } catch (const wire::WireError&) {
        break;
      }
      wire::Writer w;
      wire::put(w, api->check(impl, spec, d));
      if (!wire::send_frame(check_fd, worker_msg::Verdict, w.bytes()).empty()) break;
    }
    _exit(0);  // attnscope closed the socket (or garbled it): nothing more to serve
  }).detach();

  uint32_t type = 0;
  std::string payload;
  while (wire::recv_frame(run_fd, &type, &payload).empty() && type == worker_msg::Run) {
    std::string impl;
    LayerSpec spec;
    Inputs in;
    RunOptions opt;
    try {
      wire::Reader r(payload);
      impl = r.str();
      wire::get(r, &spec);
      wire::get(r, &in);
      wire::get(r, &opt);
    } catch (const wire::WireError&) {
      break;
    }
    payload = std::string();  // the inputs are decoded: free the frame
    ProgressSender progress(run_fd);
    opt.progress = [&progress](double f) { progress(f); };
    RunResult result;
    api->run(impl, spec, in, opt, &result);
    const bool healthy = api->healthy();
    wire::Writer w;
    w.u8(healthy);
    wire::put(w, result);
    if (!wire::send_frame(run_fd, worker_msg::Result, w.take()).empty() || !healthy) _exit(0);
  }
  api->close();
  _exit(0);
}

}  // namespace attnscope
