// Walking a user's HDF5 file in a child process before reading it (see hdf5_guard.h).
#include "capture/hdf5_guard.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <mutex>
#include <set>
#include <tuple>
#include <type_traits>
#include <vector>

#include "capture/hdf5_util.h"

extern char** environ;

// Present in sanitizer runtimes only. libFuzzer registers a death callback that saves the input
// it is running as a crash: a child's deliberate death must not be saved as the harness's.
extern "C" void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

namespace attnscope {

namespace {

std::atomic<int64_t>& limit_ms() {
  static std::atomic<int64_t> ms = [] {
    const char* s = std::getenv("ATTNSCOPE_HDF5_CHECK_SECONDS");
    const double v = s ? std::atof(s) : 0.0;
    return v > 0 && v < 86400 ? static_cast<int64_t>(std::ceil(v * 1000)) : int64_t{10000};
  }();
  return ms;
}

// ---- the walk, in the child ----

// Data read whole per check, in walk order: all of a small file (the fuzzers' inputs, a small
// --inputs file); beyond it one element per dataset, which still brings its first chunk through
// the filters and the chunk index. Reading all of a capture would double its load time (a 28 MB
// capture at 512 tokens holds about 100 MiB of data), and a capture's chunk indexes and data are
// checksummed (Fletcher32, HDF5 1.10 metadata checksums), so damage there is an HDF5 error,
// not a crash.
constexpr uint64_t kDataBudget = uint64_t{4} << 20;
constexpr uint64_t kMaxAttributeBytes = uint64_t{16} << 20;
constexpr int kMaxDepth = 64;
constexpr hsize_t kMaxLinks = hsize_t{1} << 20;

class Walker {
 public:
  explicit Walker(h5guard::Progress* p) : p_(p) {}

  void file(const std::string& path) {
    where("/");
    const htri_t is = lib("H5Fis_hdf5", [&] { return H5Fis_hdf5(path.c_str()); });
    if (is <= 0) return;
    const hid_t f = lib("H5Fopen", [&] { return H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT); });
    if (f < 0) return;
    attributes(f, "/");
    group(f, "", 0);
    // Nothing closed: the child exits at once (_exit), and closing a file opened read-only
    // writes nothing.
  }

 private:
  // Runs one libhdf5 call with its name in the progress record: a signal while it is there is
  // the library's fault.
  template <class F>
  std::invoke_result_t<F> lib(const char* call, F&& f) {
    std::strncpy(p_->call, call, sizeof p_->call - 1);
    auto r = f();
    p_->call[0] = '\0';
    return r;
  }
  void where(const std::string& w) {
    std::strncpy(p_->where, w.c_str(), sizeof p_->where - 1);
    p_->where[sizeof p_->where - 1] = '\0';
  }

  void group(hid_t g, const std::string& path, int depth) {
    if (depth > kMaxDepth) return;
    H5G_info_t gi;
    if (lib("H5Gget_info", [&] { return H5Gget_info(g, &gi); }) < 0) return;
    for (hsize_t i = 0; i < gi.nlinks && i < kMaxLinks; ++i) {
      where(path.empty() ? "/" : path);
      const ssize_t len = lib("H5Lget_name_by_idx", [&] {
        return H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
      });
      if (len <= 0 || len > 4096) continue;
      std::string name(static_cast<size_t>(len) + 1, '\0');
      lib("H5Lget_name_by_idx", [&] {
        return H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size(), H5P_DEFAULT);
      });
      name.resize(static_cast<size_t>(len));
      const std::string child = path + "/" + name;
      where(child);
      H5L_info_t li;
      if (lib("H5Lget_info", [&] { return H5Lget_info(g, name.c_str(), &li, H5P_DEFAULT); }) < 0) continue;
      if (li.type != H5L_TYPE_HARD) continue;  // soft and external links: the readers follow none
      H5O_info_t oi;
      if (lib("H5Oget_info_by_name", [&] { return H5Oget_info_by_name(g, name.c_str(), &oi, H5P_DEFAULT); }) < 0)
        continue;
      if (!seen_.insert(oi.addr).second) continue;  // a second link to an object, or a cycle
      h5::Id o(lib("H5Oopen", [&] { return H5Oopen(g, name.c_str(), H5P_DEFAULT); }));
      if (!o.ok()) continue;
      attributes(o, child);
      if (oi.type == H5O_TYPE_GROUP) group(o, child, depth + 1);
      if (oi.type == H5O_TYPE_DATASET) dataset(o, child);
      where(child);
      lib("H5Oclose", [&] { return H5Oclose(o.release()); });
    }
  }

  void attributes(hid_t obj, const std::string& path) {
    H5O_info_t oi;
    if (lib("H5Oget_info", [&] { return H5Oget_info(obj, &oi); }) < 0) return;
    for (hsize_t i = 0; i < oi.num_attrs && i < 4096; ++i) {
      where("attribute " + std::to_string(i) + " of " + path);
      h5::Id a(lib("H5Aopen_by_idx", [&] {
        return H5Aopen_by_idx(obj, ".", H5_INDEX_NAME, H5_ITER_INC, i, H5P_DEFAULT, H5P_DEFAULT);
      }));
      if (!a.ok()) continue;
      char name[256] = "";
      if (lib("H5Aget_name", [&] { return H5Aget_name(a, sizeof name, name); }) > 0)
        where("attribute " + std::string(name) + " of " + path);
      h5::Id t(lib("H5Aget_type", [&] { return H5Aget_type(a); }));
      h5::Id s(lib("H5Aget_space", [&] { return H5Aget_space(a); }));
      if (!t.ok() || !s.ok()) continue;
      uint64_t budget = kMaxAttributeBytes;
      read_data(t, s, [&](hid_t mt, void* buf) { return H5Aread(a, mt, buf); }, "H5Aread", budget);
    }
  }

  void dataset(hid_t d, const std::string& path) {
    where(path);
    h5::Id t(lib("H5Dget_type", [&] { return H5Dget_type(d); }));
    h5::Id s(lib("H5Dget_space", [&] { return H5Dget_space(d); }));
    h5::Id dcpl(lib("H5Dget_create_plist", [&] { return H5Dget_create_plist(d); }));
    if (dcpl.ok()) {
      const int nf = lib("H5Pget_nfilters", [&] { return H5Pget_nfilters(dcpl); });
      for (int i = 0; i < nf && i < 32; ++i) {
        unsigned flags = 0, cd[16];
        size_t ncd = 16;
        char fname[64];
        unsigned fconfig = 0;
        lib("H5Pget_filter2", [&] { return H5Pget_filter2(dcpl, static_cast<unsigned>(i), &flags, &ncd, cd, sizeof fname, fname, &fconfig); });
      }
    }
    if (!t.ok() || !s.ok()) return;
    const hssize_t n = lib("H5Sget_simple_extent_npoints", [&] { return H5Sget_simple_extent_npoints(s); });
    const size_t item = lib("H5Tget_size", [&] { return H5Tget_size(t); });
    if (n <= 0 || item == 0 || static_cast<uint64_t>(n) > (uint64_t{1} << 62) / item) return;
    // Storage the shape cannot fit (a null or out-of-file address) is the reader's to refuse: it
    // checks the same before reading (h5::check_storage), and HDF5 would read through it.
    const std::string bad = lib("H5Dget_storage_size", [&] { return h5::check_storage(d, static_cast<uint64_t>(n) * item); });
    if (!bad.empty()) return;
    auto whole = [&](hid_t mt, void* buf) { return H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf); };
    if (read_data(t, s, whole, "H5Dread", budget_)) return;
    // Over the budget: one element, which still brings its chunk through the filters.
    const int rank = lib("H5Sget_simple_extent_ndims", [&] { return H5Sget_simple_extent_ndims(s); });
    if (rank <= 0 || rank > 32) return;
    std::vector<hsize_t> start(static_cast<size_t>(rank), 0), count(static_cast<size_t>(rank), 1);
    if (lib("H5Sselect_hyperslab", [&] { return H5Sselect_hyperslab(s, H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr); }) < 0)
      return;
    const hsize_t one = 1;
    h5::Id ms(H5Screate_simple(1, &one, nullptr));
    auto first = [&](hid_t mt, void* buf) { return H5Dread(d, mt, ms, s, H5P_DEFAULT, buf); };
    uint64_t small = kMaxAttributeBytes;
    read_data(t, ms, first, "H5Dread", small);
  }

  // Reads what `space` selects with the native memory type of `ftype` when it fits `budget`
  // (which it then spends). False when it does not fit.
  template <class Read>
  bool read_data(hid_t ftype, hid_t space, Read&& rd, const char* call, uint64_t& budget) {
    h5::Id mt(lib("H5Tget_native_type", [&] { return H5Tget_native_type(ftype, H5T_DIR_ASCEND); }));
    if (!mt.ok()) return true;
    const hssize_t n = lib("H5Sget_select_npoints", [&] { return H5Sget_select_npoints(space); });
    const size_t item = H5Tget_size(mt);
    if (n < 0 || item == 0) return true;
    if (static_cast<uint64_t>(n) > budget / item) return false;
    budget -= static_cast<uint64_t>(n) * item;
    std::vector<unsigned char> buf(static_cast<size_t>(n) * item + 1);
    if (lib(call, [&] { return rd(mt, buf.data()); }) < 0) return true;
    if (lib("H5Tdetect_class", [&] { return H5Tdetect_class(mt, H5T_VLEN) > 0 || H5Tis_variable_str(mt) > 0; }))
      lib("H5Dvlen_reclaim", [&] { return H5Dvlen_reclaim(mt, space, H5P_DEFAULT, buf.data()); });
    return true;
  }

  h5guard::Progress* p_;
  uint64_t budget_ = kDataBudget;
  std::set<haddr_t> seen_;
};

// ---- the parent ----

std::string signal_name(int sig) {
  switch (sig) {
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGABRT: return "SIGABRT";
    case SIGFPE: return "SIGFPE";
    case SIGILL: return "SIGILL";
    case SIGKILL: return "SIGKILL";
    case SIGTRAP: return "SIGTRAP";
    default: return "signal " + std::to_string(sig);
  }
}

std::string seconds_text(std::chrono::milliseconds ms) {
  const int64_t v = ms.count();
  if (v % 1000 == 0) return std::to_string(v / 1000) + " s";
  char b[32];
  std::snprintf(b, sizeof b, "%.1f s", static_cast<double>(v) / 1000.0);
  return b;
}

// A good file's identity: it is not walked again while these stay the same. The last field hashes
// the contents of a file up to kHashedBytes (0 for a larger one), which tells apart two versions
// written within one tick of the file system's clock (the fuzzers write thousands a second).
using FileKey = std::tuple<dev_t, ino_t, off_t, time_t, long, time_t, long, size_t>;
constexpr off_t kHashedBytes = off_t{1} << 20;

size_t contents_hash(const std::string& path, off_t size) {
  if (size > kHashedBytes) return 0;
  std::string bytes(static_cast<size_t>(size), '\0');
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return 0;
  const size_t n = std::fread(bytes.data(), 1, bytes.size(), f);
  std::fclose(f);
  bytes.resize(n);
  return std::hash<std::string>{}(bytes) | 1;  // never 0, the "not hashed" value
}
std::mutex& cache_mutex() {
  static std::mutex m;
  return m;
}
std::set<FileKey>& good_files() {
  static std::set<FileKey> s;
  return s;
}

}  // namespace

void set_hdf5_check_limit(std::chrono::milliseconds limit) { limit_ms() = std::max<int64_t>(1, limit.count()); }
std::chrono::milliseconds hdf5_check_limit() { return std::chrono::milliseconds(limit_ms().load()); }

namespace h5guard {

namespace {

// The signals a walking child must die of (or that a parent may have ignored): default
// dispositions, not a sanitizer's or libFuzzer's handler, which would report the fault as the
// parent's.
constexpr int kChildSignals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP, SIGSYS, SIGPIPE, SIGALRM, SIGXCPU};

// The child's progress record in a memory file both processes map: a forked child inherits the
// mapping, a spawned one maps the descriptor it is handed.
struct SharedProgress {
  int fd = -1;
  Progress* p = nullptr;
  int open() {
    fd = memfd_create("attnscope-hdf5-walk", MFD_CLOEXEC);
    if (fd < 0) return errno;
    if (ftruncate(fd, sizeof(Progress)) != 0) return errno;
    void* mem = mmap(nullptr, sizeof(Progress), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (mem == MAP_FAILED) return errno;
    p = new (mem) Progress{};
    return 0;
  }
  ~SharedProgress() {
    if (p) munmap(p, sizeof(Progress));
    if (fd >= 0) close(fd);
  }
};

// No core file from a child that dies of the file.
void no_core() {
  const rlimit none{0, 0};
  setrlimit(RLIMIT_CORE, &none);
}

// Waits for child `pid` at most `limit`: the child holds the write end of the pipe whose read end
// is `read_fd` and never writes, so its end of life (exit, signal, kill) is the parent's end of
// file, which poll can wait for with a time limit. Kills it at the limit.
ChildOutcome wait_for(pid_t pid, int read_fd, const Progress* progress, std::chrono::milliseconds limit) {
  ChildOutcome out;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  bool timed_out = false;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{read_fd, POLLIN, 0};
    const int r = poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count() + 1, 1 << 30)));
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) continue;  // the deadline is checked at the top
    char c;
    if (r > 0 && read(read_fd, &c, 1) != 0) continue;  // never written; only EOF ends the wait
    break;
  }
  if (timed_out) kill(pid, SIGKILL);
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  close(read_fd);
  out.progress = *progress;
  out.progress.where[sizeof out.progress.where - 1] = '\0';
  out.progress.call[sizeof out.progress.call - 1] = '\0';
  if (timed_out) {
    out.kind = ChildOutcome::TimedOut;
  } else if (WIFSIGNALED(st)) {
    out.kind = ChildOutcome::Signalled;
    out.signal_or_status = WTERMSIG(st);
  } else if (WIFEXITED(st) && WEXITSTATUS(st) != 0) {
    out.kind = ChildOutcome::ExitedNonZero;
    out.signal_or_status = WEXITSTATUS(st);
  }
  return out;
}

ChildOutcome cannot_start(int err) {
  ChildOutcome out;
  out.kind = ChildOutcome::CannotFork;
  out.signal_or_status = err;
  return out;
}

// What both ways of starting a walker share: its progress record and its pipe, then the wait.
// start(shared, write_fd) starts the child, which must hold write_fd open until it ends, and
// returns its pid, or -errno.
template <class Start>
ChildOutcome start_and_wait(Start&& start, std::chrono::milliseconds limit) {
  SharedProgress shared;
  if (const int err = shared.open()) return cannot_start(err);
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return cannot_start(errno);
  const pid_t pid = start(shared, fds[1]);
  close(fds[1]);
  if (pid < 0) {
    close(fds[0]);
    return cannot_start(-pid);
  }
  return wait_for(pid, fds[0], shared.p, limit);
}

// What a spawned copy of this program finds in its environment: the file to walk, and "M W": the
// descriptors of its progress record and of its end of the parent's pipe.
constexpr char kWalkFileEnv[] = "ATTNSCOPE_HDF5_WALK_FILE";
constexpr char kWalkFdsEnv[] = "ATTNSCOPE_HDF5_WALK_FDS";

// The walk in a spawned copy of this program: run from a static initializer, before main (and
// before a fuzzer's driver) could start anything, and ended with _exit. A process without those
// variables passes through.
[[maybe_unused]] const bool kWalkerEntry = [] {
  const char* path = std::getenv(kWalkFileEnv);
  const char* fds = std::getenv(kWalkFdsEnv);
  if (!path || !fds) return false;
  int progress_fd = -1, pipe_fd = -1;
  struct stat st;
  if (std::sscanf(fds, "%d %d", &progress_fd, &pipe_fd) != 2 || fstat(progress_fd, &st) != 0 ||
      st.st_size != static_cast<off_t>(sizeof(Progress)))
    _exit(4);
  void* mem = mmap(nullptr, sizeof(Progress), PROT_READ | PROT_WRITE, MAP_SHARED, progress_fd, 0);
  if (mem == MAP_FAILED) _exit(4);
  no_core();
  h5::silence_errors();
  try {
    Walker(static_cast<Progress*>(mem)).file(path);
  } catch (...) {
    _exit(3);
  }
  _exit(0);
}();

// The environment of a spawned walker: this one's, without walker variables of its own, with the
// two above, and with a sanitizer runtime's fault handlers off (a fault is the child's death, as
// in a forked child whose dispositions are reset).
std::vector<std::string> walker_environment(const std::string& path, int progress_fd, int pipe_fd) {
  std::vector<std::string> env;
  bool asan = false;
  constexpr char kAsanPrefix[] = "ASAN_OPTIONS=";
  constexpr char kQuiet[] = "handle_segv=0:handle_sigbus=0:handle_sigfpe=0:handle_sigill=0:handle_abort=0:detect_leaks=0";
  for (char** e = environ; e && *e; ++e) {
    const std::string v = *e;
    if (v.rfind(std::string(kWalkFileEnv) + "=", 0) == 0 || v.rfind(std::string(kWalkFdsEnv) + "=", 0) == 0) continue;
    if (v.rfind(kAsanPrefix, 0) == 0) {
      env.push_back(v + (v.size() > sizeof kAsanPrefix - 1 ? ":" : "") + kQuiet);
      asan = true;
      continue;
    }
    env.push_back(v);
  }
  if (!asan) env.push_back(std::string(kAsanPrefix) + kQuiet);
  env.push_back(std::string(kWalkFileEnv) + "=" + path);
  env.push_back(std::string(kWalkFdsEnv) + "=" + std::to_string(progress_fd) + " " + std::to_string(pipe_fd));
  return env;
}

// The threads of this process (1 where /proc cannot say: then only fork is possible).
int thread_count() {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return 1;
  char line[256];
  int n = 1;
  while (std::fgets(line, sizeof line, f))
    if (std::sscanf(line, "Threads: %d", &n) == 1) break;
  std::fclose(f);
  return n;
}

}  // namespace

ChildOutcome run_in_child(const std::function<void(Progress*)>& walk, std::chrono::milliseconds limit) {
  return start_and_wait(
      [&](SharedProgress& shared, int /*write_fd: the child's copy stays open until _exit*/) -> pid_t {
        const pid_t pid = fork();
        if (pid != 0) return pid < 0 ? -errno : pid;
        for (int sig : kChildSignals) signal(sig, SIG_DFL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        if (__sanitizer_set_death_callback) __sanitizer_set_death_callback(nullptr);
        no_core();
        const int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) {
          dup2(devnull, STDOUT_FILENO);
          dup2(devnull, STDERR_FILENO);
        }
        try {
          walk(shared.p);
        } catch (...) {
          _exit(3);
        }
        _exit(0);
      },
      limit);
}

ChildOutcome walk_in_fresh_process(const std::string& path, std::chrono::milliseconds limit) {
  return start_and_wait(
      [&](SharedProgress& shared, int write_fd) -> pid_t {
        // The child's copies of the two descriptors, above both (so that neither dup2 overwrites the
        // other's source); a dup2 clears close-on-exec on its copy.
        const int progress_fd = std::max(shared.fd, write_fd) + 1, pipe_fd = progress_fd + 1;
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, shared.fd, progress_fd);
        posix_spawn_file_actions_adddup2(&actions, write_fd, pipe_fd);
        posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
        posix_spawnattr_t attr;
        posix_spawnattr_init(&attr);
        sigset_t defaults, none;
        sigemptyset(&defaults);
        for (int sig : kChildSignals) sigaddset(&defaults, sig);
        sigemptyset(&none);
        posix_spawnattr_setsigdefault(&attr, &defaults);
        posix_spawnattr_setsigmask(&attr, &none);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
        std::vector<std::string> env = walker_environment(path, progress_fd, pipe_fd);
        std::vector<char*> envp;
        for (std::string& e : env) envp.push_back(e.data());
        envp.push_back(nullptr);
        char name[] = "attnscope-hdf5-walk";
        char* argv[] = {name, nullptr};
        pid_t pid = -1;
        // This program's own file, as the kernel keeps it (a rebuilt binary on disk is not it).
        const int err = posix_spawn(&pid, "/proc/self/exe", &actions, &attr, argv, envp.data());
        posix_spawn_file_actions_destroy(&actions);
        posix_spawnattr_destroy(&attr);
        return err != 0 ? -err : pid;
      },
      limit);
}

ChildOutcome walk_file(const std::string& path, std::chrono::milliseconds limit) {
  // A forked child holds one thread's copy of the parent: a lock another thread held at the fork
  // (the allocator's, under a sanitizer: a forked walker deadlocked in ASan's free) is held
  // forever there. With other threads (read from /proc, which a fresh copy needs too) the walk
  // runs in a fresh copy of this program, which shares no library state with this one.
  if (thread_count() > 1) return walk_in_fresh_process(path, limit);
  // The forked child inherits the library in a state no other thread is changing.
  std::lock_guard<std::recursive_mutex> lock(h5::library_mutex());
  h5::silence_errors();
  return run_in_child([&](Progress* p) { Walker(p).file(path); }, limit);
}

Hdf5Check judge(const std::string& path, const ChildOutcome& o, std::chrono::milliseconds limit) {
  const std::string call = o.progress.call;
  const std::string at = o.progress.where[0] ? " while walking " + std::string(o.progress.where) : std::string();
  const std::string in = call.empty() ? std::string() : " in libhdf5's " + call;
  switch (o.kind) {
    case ChildOutcome::Finished: return {};
    case ChildOutcome::TimedOut:
      return {Hdf5Fault::Hung, path + ": the HDF5 library did not finish reading this file within " + seconds_text(limit) +
                                   " (stuck" + (call.empty() ? std::string() : " in libhdf5's " + call) + at +
                                   "); the file is damaged"};
    case ChildOutcome::Signalled:
    case ChildOutcome::ExitedNonZero: {
      const std::string how = o.kind == ChildOutcome::Signalled ? signal_name(o.signal_or_status)
                                                                 : "exit status " + std::to_string(o.signal_or_status);
      if (call.empty())  // outside any libhdf5 call: attnscope's walk itself failed
        return {Hdf5Fault::CheckFailed, path + ": attnscope's check of this HDF5 file failed (" + how + at +
                                            "); this is a bug in attnscope, please report it with the file"};
      return {Hdf5Fault::Crashed,
              path + ": the HDF5 library crashed reading this file (" + how + in + at + "); the file is damaged"};
    }
    case ChildOutcome::CannotFork:
      return {Hdf5Fault::CheckFailed, path + ": cannot start the process that checks HDF5 files (" +
                                          std::strerror(o.signal_or_status) + ")"};
  }
  return {};
}

}  // namespace h5guard

Hdf5Check check_hdf5_file(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return {};  // the reader says "no such file"
  const size_t hash = contents_hash(path, st.st_size);
  const FileKey key{st.st_dev, st.st_ino, st.st_size, st.st_mtim.tv_sec, st.st_mtim.tv_nsec, st.st_ctim.tv_sec,
                    st.st_ctim.tv_nsec, hash};
  {
    std::lock_guard<std::mutex> lock(cache_mutex());
    if (good_files().count(key)) return {};
  }
  const std::chrono::milliseconds limit = hdf5_check_limit();
  const time_t started = std::time(nullptr);
  const Hdf5Check r = h5guard::judge(path, h5guard::walk_file(path, limit), limit);
  // Remembered when its contents are in the key, or when its last change is over 2 s old: a file
  // rewritten later gets another time stamp, even on file systems whose clock ticks coarsely.
  if (r.ok() && (hash != 0 || started - std::max(st.st_mtim.tv_sec, st.st_ctim.tv_sec) > 2)) {
    std::lock_guard<std::mutex> lock(cache_mutex());
    if (good_files().size() > 1024) good_files().clear();
    good_files().insert(key);
  }
  return r;
}

}  // namespace attnscope
