// Reading an HDF5 file a user hands us without letting libhdf5 take attnscope down with it.
//
// Debian 12's libhdf5 (1.10) trusts some fields of a damaged file: the fuzzers found heap
// overflows while decoding object headers (a fill-value message whose size runs past its
// buffer, read by H5Dopen2) and inputs that keep it busy forever. Checks of our own cannot reach
// inside the library, so before a reader opens a file, a child process opens it and walks
// it with libhdf5 — every group, object header, attribute and dataset, the data itself within a
// budget — under a time limit. A child that dies of a signal or runs out of time means the file
// is refused with one line; a walk that only meets HDF5 errors is no refusal: the reader then
// says what is wrong in its own words. The child is a fork where this process has one thread, else
// a fresh copy of this program (/proc/self/exe) that walks from a static initializer before main:
// a fork copies only the calling thread, and a lock another thread held (the allocator's, under
// ASan: a forked walker deadlocked in free while the other threads of a test saved captures) stays
// held in the child for good.
//
// Every HDF5 reader of user files calls check_hdf5_file first (capture/store.cpp's
// open_capture for report, diff, export-trace and the GUI; capture/tensor_io.cpp's
// read_h5_tensors for --inputs, masks and --import-run).
#pragma once
#include <chrono>
#include <functional>
#include <string>

namespace attnscope {

enum class Hdf5Fault {
  None,         // walked (HDF5 errors met on the way are the readers' to report)
  Crashed,      // the child died of a signal inside a libhdf5 call
  Hung,         // the child was still walking when the time limit ran out
  CheckFailed,  // the check itself failed: no child (fork), or it died outside libhdf5 (our bug)
};

struct Hdf5Check {
  Hdf5Fault fault = Hdf5Fault::None;
  // "" for None, else one line: "cap.h5: the HDF5 library crashed reading this file (SIGSEGV in
  // libhdf5's H5Dopen2 while walking /runs/eager/out); the file is damaged".
  std::string message;
  bool ok() const { return fault == Hdf5Fault::None; }
};

// Walks `path` in a child process as described above. Refuses nothing but what crashes or hangs
// the library: a missing, foreign or malformed file passes, for the reader to refuse by name.
// A file found good is remembered (device, inode, size, times, and the contents' hash up to 1 MiB)
// once its last change is more than 2 s old or its contents are in the key, so the GUI's repeated
// reads of one capture (and load_capture then load_intermediates) cost one check.
Hdf5Check check_hdf5_file(const std::string& path);

// The time limit of one check (default 10 s, or $ATTNSCOPE_HDF5_CHECK_SECONDS): a walk of a
// normal file takes milliseconds; the fuzzers set it below their own per-input limit.
void set_hdf5_check_limit(std::chrono::milliseconds limit);
std::chrono::milliseconds hdf5_check_limit();

namespace h5guard {

// What the child reports to the parent through shared memory while it walks, read after it died.
struct Progress {
  char where[512];  // the object being walked, "/runs/eager/out"
  char call[64];    // the libhdf5 function running now, "" while attnscope's own code runs
};

// The machinery under check_hdf5_file, open to tests: run_in_child runs walk(progress) in a forked
// child with stdout/stderr silenced and fault handlers reset, waits at most `limit`. `walk` reports
// where it is by writing `progress`.
struct ChildOutcome {
  enum Kind { Finished, Signalled, TimedOut, ExitedNonZero, CannotFork } kind = Finished;
  int signal_or_status = 0;  // the signal (Signalled) or exit status (ExitedNonZero)
  Progress progress{};       // as the child last wrote it
};
ChildOutcome run_in_child(const std::function<void(Progress*)>& walk, std::chrono::milliseconds limit);

// The file walk of check_hdf5_file in a fresh copy of this program (posix_spawn of /proc/self/exe,
// the same silencing and dispositions, a sanitizer's fault handlers off), waited for as above.
ChildOutcome walk_in_fresh_process(const std::string& path, std::chrono::milliseconds limit);

// The walk check_hdf5_file runs: forked where this process has one thread, else in a fresh copy.
ChildOutcome walk_file(const std::string& path, std::chrono::milliseconds limit);

// The one-line verdict on a child's outcome for file `path` (what check_hdf5_file returns).
Hdf5Check judge(const std::string& path, const ChildOutcome& o, std::chrono::milliseconds limit);

}  // namespace h5guard
}  // namespace attnscope
