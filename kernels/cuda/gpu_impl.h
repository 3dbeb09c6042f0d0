// One implementation family on the GPU, as the run harness (run_harness.h) drives it: the harness
// owns inputs, outputs, timing, tracing and the probe; a family owns its parameters, workspace and
// launches. Families: impl_fused.cpp (flash2, sink, sdpa's flash and memory-efficient backends),
// impl_eager.cpp (eager, sdpa's math backend).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "kernels/cuda/device_arena.h"
#include "kernels/cuda/device_inputs.h"
#include "kernels/cuda/flash_params.h"
#include "kernels/implementation.h"

namespace attnscope::cuda {

class GpuImpl {
 public:
  virtual ~GpuImpl() = default;
  // Bytes allocated beyond the inputs and out/lse (S, P, workspace), known before anything is allocated.
  virtual int64_t workspace_bytes() const { return 0; }
  // True when the family counts its own output (a torch plan's output lives in its pool): the
  // harness's out/lse buffers are then scaffolding, filled by collect() and not counted.
  virtual bool counts_own_output() const { return false; }
  // Counted allocations and parameters, once the inputs are on the device and out/lse allocated.
  virtual void prepare(DeviceArena& arena, const DeviceInputs& in, void* out, float* lse) = 0;
  // One forward pass on `stream`: what the warm-up and the timed repeats launch.
  virtual void launch(cudaStream_t stream) = 0;
  // After the timed repeats, before out/lse are downloaded: results beyond them (eager's S and P),
  // notes in r->verdict; a family that counts its own output writes out/lse here.
  virtual void collect(RunResult* r, const RunOptions& opt, cudaStream_t stream) { (void)r, (void)opt, (void)stream; }
  // The Probe=true variant once, writing `probe`'s buffers and out/lse given there; false when the
  // family has none.
  virtual bool launch_probe(const FlashParams& probe, cudaStream_t stream) { (void)probe, (void)stream; return false; }
  // Keys per KV tile of a fused kernel (ProbeData::kv_tile, RunResult::kv_tile); 0 for unfused ones.
  virtual int kv_tile() const { return 0; }
  // Query rows per block (work item) of a fused kernel (RunResult::block_m); 0 for unfused ones.
  virtual int block_m() const { return 0; }
  // What ran, for RunResult::kernel_path ("sm90 wgmma", "sm80 mma.sync", "cuBLAS", ...).
  virtual std::string path() const = 0;
  // Before the arena frees the run's memory (unbind the cuBLAS workspace, ...).
  virtual void release() {}

  // The backward pass (RunOptions::backward), after the forward's results are downloaded and while its
  // out/LSE are still on the device. Empty when the family has none on the GPU (the reason).
  virtual std::string no_backward() const { return "the GPU backend has no backward for this implementation"; }
  // Bytes the backward allocates (gradients, workspace), known before anything is allocated.
  virtual int64_t backward_bytes() const { return 0; }
  // Gradients and workspace (counted in the backward's own arena), given dO on the device.
  virtual void prepare_backward(DeviceArena& arena, const void* dout, cudaStream_t stream) {
    (void)arena, (void)dout, (void)stream;
  }
  // One backward pass on `stream`: what the backward's warm-up and timed repeats launch.
  virtual void launch_backward(cudaStream_t stream) { (void)stream; }
  // dq, dk, dv (dsinks) downloaded into g.
  virtual void collect_backward(Gradients* g, cudaStream_t stream) { (void)g, (void)stream; }
};

}  // namespace attnscope::cuda
