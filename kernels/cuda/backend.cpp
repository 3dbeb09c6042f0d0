// The plugin's API table (kernels/gpu_backend.h): open the device, verdicts, and run one
// implementation: the name picks a family (gpu_impl.h), the harness (run_harness.h) measures it.
// Every failure ends in RunResult::error; after a sticky CUDA error the context is reported lost.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cudnn_attention.h"
#include "kernels/cuda/device_environment.h"
#include "kernels/cuda/device_state.h"
#include "kernels/cuda/efficient_kernel.h"
#include "kernels/cuda/flash_dispatch.h"
#include "kernels/cuda/impl_eager.h"
#include "kernels/cuda/impl_fused.h"
#include "kernels/cuda/run_harness.h"
#include "kernels/gpu_backend.h"
#include "kernels/sdpa_dispatch.h"

namespace attnscope::cuda {

namespace {

constexpr const char* kSource = "attnscope GPU backend";

enum class Family { Eager, Math, Flash, Sink, Efficient, Cudnn, Unknown };

struct Plan {
  Family family = Family::Unknown;
  std::string sdpa_backend;  // sdpa: the backend the dispatcher picked or was forced to
};

// The shared verdict rules for `impl`, and what this build and device add to them.
Plan plan_for(const std::string& impl, const LayerSpec& spec, const DeviceInfo& dev, Verdict* v) {
  Plan plan;
  if (impl == "eager") {
    *v = check_eager(spec, dev);
    plan.family = Family::Eager;
  } else if (impl == "flash2") {
    *v = check_flash2(spec, dev);
    plan.family = Family::Flash;
  } else if (impl == "sink") {
    *v = check_sink(spec, dev);
    plan.family = Family::Sink;
  } else if (impl == "sdpa" || impl.rfind("sdpa:", 0) == 0) {
    std::string chosen;
    *v = check_sdpa(spec, dev, impl == "sdpa" ? "" : impl.substr(5), &chosen);
    if (impl == "sdpa" && chosen == "cudnn" && !cudnn_library().available) {
      // torch would run cuDNN; without it here, run what torch picks when cuDNN is not first.
      const std::string next = sdpa_choice(spec, dev, TorchSdpaBuild{0});
      v->add(Severity::Warning, "gpu.cudnn.fallback",
             "torch would run cuDNN attention here, which this GPU backend cannot (" + cudnn_library().why +
                 "): runs the " + next + " backend, torch's choice without cuDNN",
             kSource);
      chosen = next;
    }
    plan.sdpa_backend = chosen;
    plan.family = chosen == "flash"       ? Family::Flash
                  : chosen == "efficient" ? Family::Efficient
                  : chosen == "math"      ? Family::Math
                  : chosen == "cudnn"     ? Family::Cudnn
                                          : Family::Unknown;
  } else {
    v->add(Severity::Error, "gpu.unknown_impl", "unknown implementation '" + impl + "'", kSource);
  }
  switch (plan.family) {
    case Family::Flash:
    case Family::Sink: {
      if (spec.dtype == DType::F32) break;
      std::string why_not_sm90;
      const FlashPath path = choose_flash_path(dev.is_gpu() && !dev.named ? dev.cc_major : 0, spec.dtype,
                                               spec.head_dim, spec.head_dim_v, &why_not_sm90);
      const int hd = flash_compiled_head_dim(path, std::max(spec.head_dim, spec.head_dim_v));
      if (hd > 0 && !flash_instantiated(path, spec.dtype, hd))
        v->add(Severity::Error, "gpu.not_compiled",
               std::string(dtype_name(spec.dtype)) + " x head dim " + std::to_string(hd) + " of the " +
                   flash_path_name(path) + " kernel is not compiled in this build (ATTNSCOPE_CI_REDUCED)",
               kSource);
      if (dev.is_gpu() && !dev.named && dev.cc_major == 9 && path == FlashPath::Sm80)
        v->add(Severity::Note, "gpu.flash_path", "runs the sm80 mma.sync kernel: " + why_not_sm90, kSource);
      if (spec.packed())
        v->add(Severity::Note, "gpu.varlen_tiles",
               "the GPU kernels tile the packed row as one (each row bounded by its sequence): the visible pairs "
               "are FA2's varlen ones, but KV tiles start at multiples of the tile from the row's start, not from "
               "each sequence's first key, so a sequence's fp32 accumulation order (and its last bits) can differ "
               "from the same sequence run alone, and from the CPU version",
               kSource);
      break;
    }
    case Family::Efficient: {
      if (spec.dtype != DType::F32) {  // the tensor-core variant of the sm80 flash kernel
        const int hd = flash_compiled_head_dim(FlashPath::Sm80, std::max(spec.head_dim, spec.head_dim_v));
        if (hd == 0)  // torch's memory-efficient kernel takes larger head dims (288, 320: the dispatcher picks it)
          v->add(Severity::Error, "gpu.efficient.head_dim",
                 "attnscope's memory-efficient kernel handles head dims up to 256; torch's would run this layer",
                 kSource);
        else if (!flash_instantiated(FlashPath::Sm80, spec.dtype, hd))
          v->add(Severity::Error, "gpu.not_compiled",
                 std::string(dtype_name(spec.dtype)) + " x head dim " + std::to_string(hd) +
                     " of the sm80 kernel is not compiled in this build (ATTNSCOPE_CI_REDUCED)",
                 kSource);
        break;
      }
      int optin = 0;
      if (dev.is_gpu() && !dev.named) cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, 0);
      const size_t need = efficient_smem_bytes(spec.head_dim, spec.head_dim_v);
      if (optin > 0 && need > static_cast<size_t>(optin))
        v->add(Severity::Error, "gpu.efficient.smem",
               "the memory-efficient kernel needs " + std::to_string(need) +
                   " bytes of shared memory per block, the device allows " + std::to_string(optin),
               kSource);
      break;
    }
    case Family::Cudnn: {
      const CudnnLibrary& lib = cudnn_library();
      if (!lib.available)
        v->add(Severity::Error, "gpu.cudnn", "sdpa:cudnn is unavailable: " + lib.why, kSource);
      else
        v->add(Severity::Note, "gpu.cudnn", "runs cuDNN " + lib.version + " (" + lib.path + ")", kSource);
      break;
    }
    default:
      break;
  }
  return plan;
}

std::unique_ptr<GpuImpl> make_impl(const Plan& plan, const LayerSpec& spec, const DeviceState& st) {
  switch (plan.family) {
    case Family::Eager: return make_eager_impl(spec, st.cublas, st.dev.sm_count, false);
    case Family::Math: return make_eager_impl(spec, st.cublas, st.dev.sm_count, true);
    case Family::Flash: return make_flash_impl(spec, st.dev, false);
    case Family::Sink: return make_flash_impl(spec, st.dev, true);
    case Family::Efficient: return make_efficient_impl(spec);
    case Family::Cudnn: return make_cudnn_impl(spec);
    default: return nullptr;
  }
}

bool api_open(DeviceInfo* dev, std::string* why) {
  DeviceState& s = device_state();
  std::lock_guard<std::mutex> lock(s.mu);
  if (!open_device(s, why)) return false;
  *dev = s.dev;
  return true;
}

std::vector<std::string> api_names() {
  return {"eager", "sdpa", "flash2", "sink", "sdpa:flash", "sdpa:efficient", "sdpa:math", "sdpa:cudnn"};
}

Verdict api_check(const std::string& impl, const LayerSpec& spec, const DeviceInfo& dev) {
  Verdict v;
  plan_for(impl, spec, dev, &v);
  return v;
}

// Refusal, spec and input checks, then the family under the harness.
void run_impl(const std::string& impl, const LayerSpec& spec, const Inputs& in, const RunOptions& opt,
              DeviceState& st, RunResult* r) {
  // The check's reasons are the caller's (Session shows check()); a run adds only what it learnt
  // itself (memory estimate, CUPTI, probe), except a refusal, which carries the whole verdict.
  Verdict checked;
  const Plan plan = plan_for(impl, spec, st.dev, &checked);
  r->sdpa_backend = plan.sdpa_backend;
  r->model_bytes = model_bytes(impl == "sdpa" && !plan.sdpa_backend.empty() ? "sdpa:" + plan.sdpa_backend : impl, spec);
  if (!checked.supported) {
    r->verdict = checked;
    if (std::string why = checked.first_error(); !why.empty()) r->error = "refused: " + why;
    return;
  }
  if (std::string e = spec.validate(); !e.empty()) {
    r->error = "layer spec: " + e;
    return;
  }
  if (std::string e = in.check_against(spec); !e.empty()) {
    r->error = "inputs: " + e;
    return;
  }
  std::unique_ptr<GpuImpl> family = make_impl(plan, spec, st);
  if (!family) {
    r->error = "no GPU implementation for '" + impl + "'";
    return;
  }
  run_measured(impl, *family, spec, in, opt, st, r);
}

void api_run(const std::string& impl, const LayerSpec& spec, const Inputs& in, const RunOptions& opt,
             RunResult* r) {
  DeviceState& st = device_state();
  std::lock_guard<std::mutex> lock(st.mu);
  r->impl = impl;
  r->label = impl;
  r->backend = "cuda";
  r->device = st.dev.describe();
  r->ran = false;
  if (!st.open) {
    r->error = "GPU backend not opened";
    return;
  }
  if (st.context_lost) {
    r->error = "CUDA context lost after an earlier error (" + st.lost_why + "); restart attnscope to use the GPU again";
    return;
  }
  try {
    run_impl(impl, spec, in, opt, st, r);
  } catch (const GpuFailure& e) {
    r->ran = false;
    r->out = Tensor();
    r->error = e.oom ? std::string("CUDA out of memory: ") + e.what() : e.what();
    // A launch error can be reported by a later call: look once more, then decide stickiness.
    cudaError_t late = cudaDeviceSynchronize();
    if (e.sticky || is_sticky(late)) {
      st.context_lost = true;
      st.lost_why = e.what();
      r->error += "; the CUDA context is lost (sticky error): later GPU runs in this process will fail";
    } else {
      cudaGetLastError();  // clear a non-sticky error
    }
  } catch (const std::exception& e) {
    r->ran = false;
    r->error = e.what();
  }
}

void api_close() {
  DeviceState& s = device_state();
  std::lock_guard<std::mutex> lock(s.mu);
  close_device(s);
}

bool api_healthy() {
  DeviceState& s = device_state();
  std::lock_guard<std::mutex> lock(s.mu);
  return !s.context_lost;
}

void api_environment(GpuEnvironment* env) {
  DeviceState& s = device_state();
  std::lock_guard<std::mutex> lock(s.mu);
  *env = GpuEnvironment{};
  if (s.open && !s.context_lost) fill_environment(s, env);
}

// Packed sequences (cu_seqlens) run FA2's varlen semantics in the flash2/sink kernels, forward and
// backward (mask.cuh's sequence bounds); eager and sdpa have no cu_seqlens input (their CPU versions
// run what HF runs instead).
bool api_supports(const std::string& impl, const std::string& feature) {
  return feature == "packed" && (impl == "flash2" || impl == "sink");
}

const GpuBackendApi kApi = {kGpuBackendAbi, &api_open,    &api_names,     &api_check, &api_run, &api_close,
                            &api_healthy,   &api_supports, &api_environment};

}  // namespace

}  // namespace attnscope::cuda

extern "C" __attribute__((visibility("default"))) const attnscope::GpuBackendApi* attnscope_gpu_backend() {
  return &attnscope::cuda::kApi;
}
