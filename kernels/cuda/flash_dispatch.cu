#include "kernels/cuda/flash_dispatch.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cstdlib>
#include <stdexcept>

#include "kernels/cuda/flash_bwd_params.h"
#include "kernels/cuda/flash_launch.h"
#include "kernels/cuda/flash_traits.h"
#include "kernels/cuda/hopper/flash_traits_sm90.h"
#include "kernels/cuda/hopper/sm90_variant.h"
#include "kernels/flash_head_dims.h"

namespace attnscope::cuda {

namespace {

// One line per compiled (path, dtype, head dim), generated from kernels/flash_head_dims.h.
bool dispatch(FlashPath path, DType dtype, int hd, const FlashParams& p, bool sinks, bool probe, cudaStream_t s,
              bool dry) {
#define ATTNSCOPE_FLASH_INSTANCE(PATH, DT, ELEM, HD)                                           \
  if (path == FlashPath::PATH && dtype == DType::DT && hd == HD) {                             \
    if (!dry) launch_flash_##PATH<ELEM, HD>(p, sinks, probe, s);                               \
    return true;                                                                               \
  }
#define ATTNSCOPE_FLASH_BWD_INSTANCE(DT, ELEM, HD)
#define launch_flash_Sm80 launch_flash_sm80
#define launch_flash_Sm90 launch_flash_sm90
#include "flash_instances.inc"
#undef launch_flash_Sm80
#undef launch_flash_Sm90
#undef ATTNSCOPE_FLASH_INSTANCE
#undef ATTNSCOPE_FLASH_BWD_INSTANCE
  (void)p, (void)sinks, (void)probe, (void)s, (void)dry;
  return false;
}

bool dispatch_bwd(DType dtype, int hd, const FlashBwdParams* p, bool sinks, cudaStream_t s) {
#define ATTNSCOPE_FLASH_INSTANCE(PATH, DT, ELEM, HD)
#define ATTNSCOPE_FLASH_BWD_INSTANCE(DT, ELEM, HD)        \
  if (dtype == DType::DT && hd == HD) {                  \
    if (p) launch_flash_bwd<ELEM, HD>(*p, sinks, s);     \
    return true;                                         \
  }
#include "flash_instances.inc"
#undef ATTNSCOPE_FLASH_INSTANCE
#undef ATTNSCOPE_FLASH_BWD_INSTANCE
  (void)p, (void)sinks, (void)s;
  return false;
}

}  // namespace

const char* flash_path_name(FlashPath path) { return path == FlashPath::Sm90 ? "sm90" : "sm80"; }

int flash_compiled_head_dim(FlashPath path, int d) {
  return path == FlashPath::Sm90 ? compiled_head_dim(kFlashSm90HeadDims, d) : compiled_head_dim(kFlashHeadDims, d);
}

bool flash_instantiated(FlashPath path, DType dtype, int compiled_head_dim) {
  return dispatch(path, dtype, compiled_head_dim, FlashParams{}, false, false, nullptr, true);
}

FlashPath choose_flash_path(int cc_major, DType dtype, int d, int dv, std::string* why_not_sm90) {
  auto no = [&](const std::string& why) {
    if (why_not_sm90) *why_not_sm90 = why;
    return FlashPath::Sm80;
  };
  if (cc_major != 9) return no("the wgmma kernel needs compute capability 9.x");
  if (const char* e = std::getenv("ATTNSCOPE_FLASH_PATH"); e && std::string(e) == "sm80")
    return no("ATTNSCOPE_FLASH_PATH=sm80");
  if (d != dv) return no("q/k and v head dims differ");
  const int hd = flash_compiled_head_dim(FlashPath::Sm90, d);
  if (hd == 0 || !flash_instantiated(FlashPath::Sm90, dtype, hd))
    return no(std::string(dtype_name(dtype)) + " x head dim " + std::to_string(hd) +
              " of the sm90 kernel is not compiled in this build");
  return FlashPath::Sm90;
}

int flash_kv_tile(FlashPath path, int compiled_head_dim, const FlashParams& p) {
  return path == FlashPath::Sm90 ? sm90_kv_tile(p, compiled_head_dim) : FlashTraits<uint16_t, 64>::kBlockN;
}

int flash_block_m(FlashPath path, int compiled_head_dim, const FlashParams& p) {
  return path == FlashPath::Sm90 ? sm90_block_m(p, compiled_head_dim) : FlashTraits<uint16_t, 64>::kBlockM;
}

bool flash_bwd_instantiated(DType dtype, int compiled_head_dim) {
  return dispatch_bwd(dtype, compiled_head_dim, nullptr, false, nullptr);
}

void run_flash_bwd(DType dtype, const FlashBwdParams& p, bool sinks, cudaStream_t stream) {
  const int d = std::max(p.fwd.d, p.fwd.dv);
  const int hd = flash_compiled_head_dim(FlashPath::Sm80, d);
  if (hd == 0) throw std::runtime_error("head dim " + std::to_string(d) + " exceeds 256");
  if (!dispatch_bwd(dtype, hd, &p, sinks, stream))
    throw std::runtime_error(std::string(sinks ? "sink" : "flash2") + " backward: " + dtype_name(dtype) +
                             " x head dim " + std::to_string(hd) + " is not compiled in this build (ATTNSCOPE_CI_REDUCED)");
}

void run_flash(FlashPath path, DType dtype, const FlashParams& p, bool sinks, bool probe, cudaStream_t stream) {
  const int d = std::max(p.d, p.dv);
  const int hd = flash_compiled_head_dim(path, d);
  if (hd == 0) throw std::runtime_error("head dim " + std::to_string(d) + " exceeds 256");
  if (!dispatch(path, dtype, hd, p, sinks, probe, stream, false))
    throw std::runtime_error(std::string(sinks ? "sink" : "flash2") + ": " + dtype_name(dtype) + " x head dim " +
                             std::to_string(hd) + " of the " + flash_path_name(path) +
                             " kernel is not compiled in this build (ATTNSCOPE_CI_REDUCED)");
}

}  // namespace attnscope::cuda
