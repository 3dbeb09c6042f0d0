// Device allocations of one run, tracked: every byte an implementation allocates beyond its inputs
// is counted (peak_bytes) and logged (RunResult::memory). Frees everything on destruction.
#pragma once
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/cuda/cuda_check.h"
#include "kernels/result.h"

namespace attnscope::cuda {

class DeviceArena {
 public:
  explicit DeviceArena(std::chrono::steady_clock::time_point t0) : t0_(t0) {}
  DeviceArena(const DeviceArena&) = delete;
  DeviceArena& operator=(const DeviceArena&) = delete;
  ~DeviceArena() { release(); }

  // counted=false for the inputs (q, k, v, sinks, mask) and measurement scaffolding.
  void* alloc(size_t bytes, const std::string& what, bool counted) {
    void* p = nullptr;
    if (bytes == 0) bytes = 1;
    ATTNSCOPE_CUDA_CHECK(cudaMalloc(&p, bytes));
    blocks_.push_back({p, bytes, what, counted});
    if (counted) {
      current_ += static_cast<int64_t>(bytes);
      peak_ = std::max(peak_, current_);
      events_.push_back({now_us(), static_cast<int64_t>(bytes), what});
    }
    return p;
  }
  // A logical allocation (bytes > 0) or free (< 0) inside memory already held uncounted, e.g. a
  // plan's tensors in its pool: counted and logged as if allocated, nothing reaches CUDA.
  void account(int64_t bytes, const std::string& what) {
    current_ += bytes;
    peak_ = std::max(peak_, current_);
    events_.push_back({now_us(), bytes, what});
  }
  template <class T>
  T* alloc_as(size_t count, const std::string& what, bool counted) {
    return static_cast<T*>(alloc(count * sizeof(T), what, counted));
  }
  // Frees in reverse order; errors are ignored (a lost context frees nothing anyway).
  void release() {
    for (auto it = blocks_.rbegin(); it != blocks_.rend(); ++it) {
      cudaFree(it->ptr);
      if (it->counted) {
        current_ -= static_cast<int64_t>(it->bytes);
        events_.push_back({now_us(), -static_cast<int64_t>(it->bytes), it->what});
      }
    }
    blocks_.clear();
  }
  int64_t peak() const { return peak_; }
  const std::vector<MemoryEvent>& events() const { return events_; }

 private:
  double now_us() const {
    return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0_).count();
  }
  struct Block {
    void* ptr;
    size_t bytes;
    std::string what;
    bool counted;
  };
  std::chrono::steady_clock::time_point t0_;
  std::vector<Block> blocks_;
  std::vector<MemoryEvent> events_;
  int64_t current_ = 0, peak_ = 0;
};

}  // namespace attnscope::cuda
