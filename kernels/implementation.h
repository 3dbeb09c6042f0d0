// The implementation registry: name -> { check(spec, device) -> Verdict, run(...) -> RunResult }.
#pragma once
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "device.h"
#include "inputs.h"
#include "layer_spec.h"
#include "result.h"
#include "verdict.h"

namespace attnscope {

struct RunOptions {
  ProbeSpec probe;
  bool keep_intermediates = true;  // eager keeps S and P
  int threads = 0;                 // CPU worker threads over (batch, head); 0 = hardware
  int warmup = 0;                  // GPU: untimed runs first
  int repeats = 1;                 // timed runs (median reported)
  int kv_tile = 0;                 // CPU fused versions: keys per KV tile (0 = 64, the sm80 kernel's);
                                   // 128 reproduces the sm90 kernel's rounding at head dims <= 128
  bool backward = false;           // also run the backward pass with Inputs::dout into RunResult::grad
  std::function<void(double)> progress;        // fraction done, from any thread
  const std::atomic<bool>* cancel = nullptr;   // set -> stop early with error "cancelled"
};

class Implementation {
 public:
  virtual ~Implementation() = default;
  virtual std::string name() const = 0;
  // Can this layer run here, and every reason that bears on it.
  virtual Verdict check(const LayerSpec& spec, const DeviceInfo& dev) const = 0;
  // Runs regardless of the verdict's supported flag (what-if specs are prepared by the caller).
  // With opt.backward it runs the backward pass after the forward one and fills result.grad.
  virtual RunResult run(const LayerSpec& spec, const Inputs& in, const RunOptions& opt) const = 0;
};

// The four implementation names, in report order.
const std::vector<std::string>& implementation_names();
// "eager", "sdpa", "sdpa:flash|efficient|math|cudnn", "flash2", "sink" -> CPU implementation.
const Implementation* cpu_implementation(const std::string& name);

// The fp64 reference (defines "right"): output and LSE rounded to fp32 at the very end; with
// opt.backward its gradients too (fp64 throughout, rounded to fp32 once).
RunResult run_reference(const LayerSpec& spec, const Inputs& in, const RunOptions& opt);

// --what-if: the spec with the features `impl` cannot represent dropped, and their names.
// Returns false when nothing can be dropped to make it representable.
bool what_if_spec(const std::string& impl, const LayerSpec& spec, const DeviceInfo& dev,
                  LayerSpec* out, std::vector<WhatIfDrop>* dropped);

// Shared rules (the same for CPU and GPU versions; texts from REFERENCE.md).
Verdict check_eager(const LayerSpec& spec, const DeviceInfo& dev);
Verdict check_flash2(const LayerSpec& spec, const DeviceInfo& dev);
Verdict check_sink(const LayerSpec& spec, const DeviceInfo& dev);
// Packed sequences (LayerSpec::cu_seqlens) on an implementation without a cu_seqlens input (eager,
// sdpa): what transformers does with them, per version (the catalogue's hf.packed.* entries).
void packed_rules(Verdict& v, const LayerSpec& spec, const std::string& impl);
// SDPA: which backend the dispatcher picks ("flash", "efficient", "math", "cudnn") and the reason
// each one before it was skipped; `forced` = "" or a backend name.
Verdict check_sdpa(const LayerSpec& spec, const DeviceInfo& dev, const std::string& forced,
                   std::string* chosen);
// PyTorch's memory-efficient kernel refuses bf16 below sm80 (less_than_sm80_mem_efficient_dtypes): its text.
std::string sdpa_efficient_bf16_text();

// Extra bytes each implementation needs beyond its inputs: the analytic memory model's peak
// (kernels/memory_model.h, which follows each library's allocation plan).
int64_t model_bytes(const std::string& impl, const LayerSpec& spec);
// The same for its backward pass: bytes held at the backward's peak beyond the inputs, dO and the
// forward's out/LSE (what autograd saved from the forward counts: eager's P). eager: the peak of
// autograd's own plan (hf_eager_backward_plan's backward_peak_bytes).
int64_t model_bytes_backward(const std::string& impl, const LayerSpec& spec);

}  // namespace attnscope
