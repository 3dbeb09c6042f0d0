// Layer 2 of the fused kernels (STYLE.md): runtime (path, dtype, head dim, sinks, probe) -> template.
#pragma once
#include <cuda_runtime.h>

#include <string>

#include "kernels/cuda/flash_params.h"
#include "kernels/dtype.h"

namespace attnscope::cuda {

// Which flash2/sink kernel runs: the mma.sync kernel (sm80-sm89, and sm90 when asked), or the
// warp-specialised wgmma + TMA kernel on compute capability 9.x.
enum class FlashPath { Sm80, Sm90 };
const char* flash_path_name(FlashPath path);

// The compiled head dim a real one runs in on `path` (kernels/flash_head_dims.h); 0 above 256.
int flash_compiled_head_dim(FlashPath path, int d);
// Whether this build carries the (path, dtype, compiled head dim) instantiation (ATTNSCOPE_CI_REDUCED
// builds only a few, and the sm90 kernels only where sm90 is among the CUDA architectures).
bool flash_instantiated(FlashPath path, DType dtype, int compiled_head_dim);
// The path for a device of compute capability `cc_major` and this layer: sm90 on 9.x where it is
// compiled (a head dim that is not a multiple of 8 runs there on zero-padded copies, impl_fused.cpp);
// else sm80. The measurement switch
// ATTNSCOPE_FLASH_PATH=sm80 keeps the mma.sync kernel on an H100/H200 (bench/gpu_bench.sh compares).
FlashPath choose_flash_path(int cc_major, DType dtype, int d, int dv, std::string* why_not_sm90);
// Keys per KV tile and query rows per block (work item) of the kernel that runs the layer of `p`
// (set_params_fprop): the probe's kv_tile, which the CPU versions can be asked for, and the bench's
// tile accounting.
int flash_kv_tile(FlashPath path, int compiled_head_dim, const FlashParams& p);
int flash_block_m(FlashPath path, int compiled_head_dim, const FlashParams& p);
// Launches flash2 (sinks=false) or sink (sinks=true); probe selects the Probe=true variant.
// Throws std::runtime_error for a combination this build does not carry.
void run_flash(FlashPath path, DType dtype, const FlashParams& p, bool sinks, bool probe, cudaStream_t stream);

struct FlashBwdParams;
// The backward (FA2's algorithm, mma.sync; every sm80+ GPU) for a compiled (dtype, head dim).
bool flash_bwd_instantiated(DType dtype, int compiled_head_dim);
// Launches preprocess, the main kernel and convert; throws for a combination not compiled.
void run_flash_bwd(DType dtype, const FlashBwdParams& p, bool sinks, cudaStream_t stream);

}  // namespace attnscope::cuda
