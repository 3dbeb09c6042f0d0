// The GPU worker's wire format (gpu_worker.h): what crosses the process boundary between
// attnscope and the worker that owns the CUDA context - layer specs, inputs, run options,
// verdicts, device descriptions and whole RunResults - as length-prefixed binary frames over a
// socket. Both ends are built from one tree (kGpuBackendAbi); the reader still checks every
// length against what is left, so a truncated or garbled frame is an error, never a crash.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/device.h"
#include "kernels/gpu_environment.h"
#include "kernels/implementation.h"

namespace attnscope::wire {

struct WireError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Writer {
 public:
  void u8(uint8_t v) { buf_.push_back(static_cast<char>(v)); }
  void i32(int32_t v) { raw(&v, sizeof v); }
  void i64(int64_t v) { raw(&v, sizeof v); }
  void u64(uint64_t v) { raw(&v, sizeof v); }
  void f32(float v) { raw(&v, sizeof v); }
  void f64(double v) { raw(&v, sizeof v); }
  void str(const std::string& s);
  void raw(const void* p, size_t n) { buf_.append(static_cast<const char*>(p), n); }
  const std::string& bytes() const { return buf_; }
  std::string take() { return std::move(buf_); }

 private:
  std::string buf_;
};

class Reader {
 public:
  explicit Reader(const std::string& b) : p_(b.data()), end_(b.data() + b.size()) {}
  uint8_t u8();
  int32_t i32();
  int64_t i64();
  uint64_t u64();
  float f32();
  double f64();
  std::string str();
  // A count of items of at least `item_bytes` each that must fit in what is left.
  size_t count(size_t item_bytes);
  void raw(void* out, size_t n);
  bool done() const { return p_ == end_; }

 private:
  const char* p_;
  const char* end_;
};

void put(Writer& w, const LayerSpec& s);
void get(Reader& r, LayerSpec* s);
void put(Writer& w, const DeviceInfo& d);
void get(Reader& r, DeviceInfo* d);
void put(Writer& w, const Verdict& v);
void get(Reader& r, Verdict* v);
void put(Writer& w, const Tensor& t);
void get(Reader& r, Tensor* t);
void put(Writer& w, const Inputs& in);
void get(Reader& r, Inputs* in);
// The serialisable part of RunOptions (probe, intermediates, threads, warm-up, repeats, KV tile); the
// progress callback and the cancel flag are the worker protocol's business.
void put(Writer& w, const RunOptions& o);
void get(Reader& r, RunOptions* o);
void put(Writer& w, const RunResult& rr);
void get(Reader& r, RunResult* rr);
void put(Writer& w, const std::vector<std::string>& v);
// The worker sends its device environment (clocks and library versions) in its hello.
void put(Writer& w, const GpuEnvironment& e);
void get(Reader& r, GpuEnvironment* e);
void get(Reader& r, std::vector<std::string>* v);

// Frames: [u32 type][u64 payload bytes][payload]. "" or the problem (peer gone, short read).
std::string send_frame(int fd, uint32_t type, const std::string& payload);
std::string recv_frame(int fd, uint32_t* type, std::string* payload);

}  // namespace attnscope::wire
