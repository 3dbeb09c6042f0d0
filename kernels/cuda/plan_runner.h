// Runs a TorchPlan (kernels/torch_plan.h) on the GPU, op by op, with the torch-like kernels
// (kernels/cuda/torch_ops.h) and cuBLAS called as torch calls it. Memory comes from one pool sized
// for the plan's worst case and allocated once outside the timed loop; each tensor has a fixed
// place in it (a best-fit replay of the plan's allocations in order), so a call allocates nothing
// and the plan's own alloc/free events are the logical timeline, counted as torch counts them.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "kernels/torch_plan.h"

namespace attnscope::cuda {

struct PlanEnv {
  cublasHandle_t cublas = nullptr;  // bound to `stream`, with its workspace set
  cudaStream_t stream = nullptr;
  int sm_count = 0;
};

class PlanRunner {
 public:
  // `pin_at` >= 0: the tensors alive at that event keep their place to the end (TorchPlan::place),
  // so the events from it on can run again and again (a backward replayed after one forward).
  explicit PlanRunner(TorchPlan plan, int pin_at = -1);

  const TorchPlan& plan() const { return plan_; }
  // Bytes of the pool: the end of the highest tensor once every allocation has its place.
  size_t pool_bytes() const { return pool_bytes_; }
  void set_pool(void* base) { pool_ = static_cast<char*>(base); }
  // External inputs (q, k, v, mask, sinks): device pointers the caller owns.
  void bind(int tensor, const void* p);
  void* ptr(int tensor) const;

  // One call: every op in order on env.stream. `after(event)` sees every event of the plan in order,
  // an op right after its launch: the untimed capture pass counts the allocations there and reads
  // tensors before later ops reuse their memory.
  // Events [begin, end) only where given (end -1: to the last).
  void run(const PlanEnv& env, const std::function<void(const PlanEvent&)>& after = nullptr, int begin = 0,
           int end = -1) const;

  // The last op that writes `tensor` (-1 when none).
  int last_writer(int tensor) const;

 private:
  void launch(const PlanOp& op, const PlanEnv& env) const;

  TorchPlan plan_;
  std::vector<int64_t> offset_;      // per tensor: byte offset in the pool (-1 external)
  std::vector<const void*> bound_;   // per tensor: external pointer
  size_t pool_bytes_ = 0;
  char* pool_ = nullptr;
};

}  // namespace attnscope::cuda
