// The analytic memory model: the peak each implementation allocates beyond its inputs, following
// the real library's allocation plan, and whether a layer fits a GPU at its full context.
//   eager, sdpa:math      the torch plans (kernels/torch_plan.h), allocation by allocation
//   flash2, sink,         our fused kernels: the output and the fp32 LSE (as torch's flash and the
//   sdpa:flash|efficient  gpt-oss kernel; torch's efficient writes no LSE without grad: 2-3% less)
//   sdpa:cudnn            the output and the execution plan's workspace (256 B on the H200, cuDNN 9.19)
// Sizes are counted as torch.cuda.max_memory_allocated counts them (512-byte rounding). Checked
// against the H200's torch_plans.json on every bench case (tests/kernels/memory_model_test.cpp).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "device.h"
#include "layer_spec.h"
#include "verdict.h"

namespace attnscope {

struct MemoryEstimate {
  std::string impl;             // "eager", "sdpa:math", "flash2", ...
  std::string basis;            // whose allocation plan: "transformers eager_attention_forward (Llama ...)"
  int64_t peak_bytes = 0;       // beyond the inputs, during the call
  int64_t input_bytes = 0;      // q, k, v (and the sinks)
  int64_t mask_bytes = 0;       // the 4D mask transformers builds before the call (eager: model dtype, sdpa: bool)
  std::vector<std::pair<std::string, int64_t>> at_peak;  // tensors alive at the peak, largest first
  int64_t total() const { return peak_bytes + input_bytes + mask_bytes; }
};

// `impl`: "eager", "sdpa:math|flash|efficient|cudnn", "flash2", "sink"; plain "sdpa" is the fused
// footprint (use the dispatcher's choice, "sdpa:<backend>", where it is known).
MemoryEstimate estimate_memory(const std::string& impl, const LayerSpec& s);

// cuDNN's fused flash fprop workspace as its sm90 plan asked on the H200 (cuDNN 9.19, torch_plans.json).
constexpr int64_t kCudnnFpropWorkspace = 256;

// The layer at `seq` tokens (Nq = Nk) against GPU memory: the sentence the report and the Memory
// panel print, e.g. "eager at 16384 tokens needs 80.9 GiB: out of memory on an NVIDIA H100 80GB
// HBM3 (80.0 GiB); fits an NVIDIA H200 (141.0 GiB)". `here` is the GPU the capture ran on, if any.
struct ContextFit {
  int seq = 0;
  bool backward = false;
  MemoryEstimate need;                 // the forward's estimate at `seq`
  int64_t bytes = 0;                   // what the sentence counts: need.total(), or the backward's total
  std::optional<DeviceInfo> exceeded;  // the largest table GPU it does not fit (or `here`)
  std::optional<DeviceInfo> fits;      // the smallest table GPU it fits (or `here`)
  std::string sentence;
};
ContextFit fit_at_context(const std::string& impl, const LayerSpec& s, int seq, const DeviceInfo* here);
// What training the layer holds at its backward's peak: q, k, v, the mask, the output, dO and the
// backward's own peak (model_bytes_backward: autograd's saved tensors and the gradient buffers, or
// FA2's / cuDNN's workspace).
int64_t training_bytes(const std::string& impl, const LayerSpec& s);
// fit_at_context for training_bytes at `seq` tokens: for a Llama-3-8B layer "eager backward at 8192
// tokens needs 32.47 GiB: out of memory on a GeForce RTX 5090 (32.00 GiB); ...".
ContextFit fit_backward_at_context(const std::string& impl, const LayerSpec& s, int seq, const DeviceInfo* here);

// Adds "<impl>.oom" (an error) when the layer's need beyond q/k/v - the call's peak and the mask
// transformers builds for it - exceeds the device's free memory (a named GPU: all of it).
void memory_verdict(Verdict& v, const std::string& impl, const LayerSpec& s, const DeviceInfo& dev);

// The layer's full context: LayerSpec::max_context (HF max_position_embeddings) when known, else
// its own key length.
int full_context(const LayerSpec& s);

}  // namespace attnscope
