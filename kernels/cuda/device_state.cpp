#include "kernels/cuda/device_state.h"

#include <cupti.h>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cupti_trace.h"
#include "kernels/gpu_backend.h"
#include "kernels/cuda/nvtx_ranges.h"

namespace attnscope::cuda {

DeviceState& device_state() {
  static DeviceState s;
  return s;
}

bool open_device(DeviceState& s, std::string* why) {
  if (s.open) return true;
  try {
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e == cudaErrorInsufficientDriver) {  // no driver, or one older than this runtime
      int drv = 0, rt = 0;
      cudaDriverGetVersion(&drv);
      cudaRuntimeGetVersion(&rt);
      *why = drv == 0 ? std::string(kNoDriver) : cuda_driver_too_old(drv, rt);
      return false;
    }
    if (e != cudaSuccess) {
      *why = std::string("cudaGetDeviceCount: ") + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")";
      return false;
    }
    if (count == 0) {
      *why = "no CUDA device";
      return false;
    }
    std::string cupti_why;
    CuptiTrace::init(&cupti_why);  // before the context exists; optional: runs still time with events
    nvtx_setup();                  // before the first NVTX call: the ranges' injection into CUPTI
    ATTNSCOPE_CUDA_CHECK(cudaSetDevice(0));
    cudaDeviceProp prop{};
    ATTNSCOPE_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    DeviceInfo d;
    d.kind = DeviceInfo::Kind::Cuda;
    d.name = prop.name;
    d.cc_major = prop.major;
    d.cc_minor = prop.minor;
    d.mem_total = static_cast<int64_t>(prop.totalGlobalMem);
    size_t free_b = 0, total_b = 0;
    ATTNSCOPE_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
    d.mem_free = static_cast<int64_t>(free_b);
    d.sm_count = prop.multiProcessorCount;
    d.bf16 = prop.major >= 8;
    int drv = 0;
    cudaDriverGetVersion(&drv);
    d.driver = "CUDA driver API " + std::to_string(drv / 1000) + "." + std::to_string((drv % 1000) / 10);
    s.l2_bytes = prop.l2CacheSize;
    ATTNSCOPE_CUDA_CHECK(cudaStreamCreateWithFlags(&s.stream, cudaStreamNonBlocking));
    ATTNSCOPE_CUBLAS_CHECK(cublasCreate(&s.cublas));
    ATTNSCOPE_CUBLAS_CHECK(cublasSetStream(s.cublas, s.stream));
    // Keep fp32 GEMMs in true fp32 (no TF32), as PyTorch's default for matmul.
    ATTNSCOPE_CUBLAS_CHECK(cublasSetMathMode(s.cublas, CUBLAS_DEFAULT_MATH));
    s.dev = d;
    s.open = true;
    return true;
  } catch (const std::exception& e) {
    *why = e.what();
    return false;
  }
}

void close_device(DeviceState& s) {
  if (!s.open) return;
  if (!s.context_lost) {
    cuptiActivityFlushAll(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED);
    if (s.cublas) cublasDestroy(s.cublas);
    if (s.stream) cudaStreamDestroy(s.stream);
  }
  s.cublas = nullptr;
  s.stream = nullptr;
  s.open = false;
}

}  // namespace attnscope::cuda
