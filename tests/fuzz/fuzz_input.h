// What the fuzz harnesses share: the input as a file for the readers that take a path (in
// memory, unique per process so parallel fuzzers never collide), and a check that aborts with a
// message (libFuzzer records the input as a crash).
#pragma once
#include <hdf5.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <chrono>
#include <vector>

#include "capture/hdf5_guard.h"

namespace attnscope::fuzz {

// The bytes as a file named by path(): a fresh file in /dev/shm (memory, unique to this process),
// removed with the object. A memfd would be cheaper, but HDF5 resolves the real path of what it
// opens and /proc/self/fd/N has none.
class MemFile {
 public:
  MemFile(const uint8_t* data, size_t size) {
    const char* dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    path_ = std::string(dir) + "/attnscope-fuzz-XXXXXX";
    fd_ = mkstemp(path_.data());
    if (fd_ < 0) {
      std::perror("mkstemp");
      std::abort();
    }
    for (size_t done = 0; done < size;) {
      ssize_t n = write(fd_, data + done, size - done);
      if (n <= 0) {
        std::perror("write");
        std::abort();
      }
      done += static_cast<size_t>(n);
    }
  }
  MemFile() : MemFile(nullptr, 0) {}
  ~MemFile() {
    close(fd_);
    unlink(path_.c_str());
  }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  int fd_ = -1;
  std::string path_;
};

// A property every input must keep; a violation is a finding like a crash.
inline void require(bool ok, const std::string& what) {
  if (ok) return;
  std::fprintf(stderr, "fuzz property violated: %s\n", what.c_str());
  std::abort();
}

// The same values: equal bits, or NaN on both sides (a NaN's payload is not a value: converting
// binary16 NaNs through float gives the canonical one, as CUDA's __float2half_rn does).
inline bool same_values(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    uint32_t x, y;
    std::memcpy(&x, &a[i], 4);
    std::memcpy(&y, &b[i], 4);
    if (x != y && !(a[i] != a[i] && b[i] != b[i])) return false;
  }
  return true;
}

// Every error message names its origin: the file (path) or the text's origin.
inline void require_names(const std::string& err, const std::string& origin) {
  require(err.empty() || err.find(origin) != std::string::npos, "the error does not name '" + origin + "': " + err);
}

// Every HDF5 object the readers opened is closed again, on every path. (A leaked id would be
// freed by HDF5 at exit, so the leak checker alone cannot see it.)
inline void require_h5_closed() {
  const ssize_t open = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);
  require(open == 0, std::to_string(open) + " HDF5 objects left open");
}

// The HDF5 check's time limit inside the harnesses: 2 s, so a file that hangs libhdf5 is refused
// well within libFuzzer's own -timeout (10 s in scripts/fuzz.sh) even when checked twice.
inline void init_hdf5_check() { set_hdf5_check_limit(std::chrono::milliseconds(2000)); }

// The HDF5 check of the input: a refusal must be the library's fault (a crash or a hang inside
// libhdf5), never a failure of attnscope's own walk.
inline Hdf5Check require_hdf5_check(const std::string& path) {
  Hdf5Check c = check_hdf5_file(path);
  require(c.fault != Hdf5Fault::CheckFailed, "the HDF5 check itself failed: " + c.message);
  require(c.ok() == c.message.empty(), "an HDF5 check with ok=" + std::to_string(c.ok()) + " and message '" + c.message + "'");
  require_names(c.message, path);
  return c;
}

}  // namespace attnscope::fuzz
