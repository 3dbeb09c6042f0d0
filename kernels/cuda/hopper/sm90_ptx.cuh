// Hopper (sm_90a) building blocks of the warp-specialised flash kernel, as thin inline PTX:
// mbarriers (transaction counts for TMA), TMA tile loads (cp.async.bulk.tensor), the wgmma
// fence/commit/wait protocol, shared-memory matrix descriptors and register reallocation.
// PTX ISA 8.x sections "mbarrier", "cp.async.bulk.tensor", "wgmma" and "setmaxnreg".
#pragma once
#include <cuda.h>  // CUtensorMap
#include <cuda_runtime.h>

#include <cstdint>

namespace attnscope::cuda::sm90 {

__device__ __forceinline__ uint32_t smem_u32(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// ---- mbarrier ---------------------------------------------------------------------------------
__device__ __forceinline__ void mbar_init(uint64_t* bar, uint32_t count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(smem_u32(bar)), "r"(count));
}
// Makes the initialised barriers visible to the async proxy (TMA) before first use.
__device__ __forceinline__ void mbar_fence_init() { asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory"); }

// One arrival that also announces `bytes` the TMA will deliver to this phase.
__device__ __forceinline__ void mbar_arrive_expect_tx(uint64_t* bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(smem_u32(bar)), "r"(bytes)
               : "memory");
}
// Announces `bytes` the TMA will deliver to the current phase, without arriving.
__device__ __forceinline__ void mbar_expect_tx(uint64_t* bar, uint32_t bytes) {
  asm volatile("mbarrier.expect_tx.relaxed.cta.shared::cta.b64 [%0], %1;\n" ::"r"(smem_u32(bar)), "r"(bytes)
               : "memory");
}
__device__ __forceinline__ void mbar_arrive(uint64_t* bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(smem_u32(bar)) : "memory");
}
// Blocks until the phase with parity `phase` has completed.
__device__ __forceinline__ void mbar_wait(uint64_t* bar, uint32_t phase) {
  asm volatile(
      "{\n"
      ".reg .pred done;\n"
      "wait_%=:\n"
      "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
      "@!done bra wait_%=;\n"
      "}\n" ::"r"(smem_u32(bar)),
      "r"(phase)
      : "memory");
}

// ---- TMA ----------------------------------------------------------------------------------------
// A [box] tile of a rank-3 tensor (dim0 innermost) at coordinates (c0, c1, c2) into shared memory;
// completion counts `box bytes` on `bar`. Out-of-bounds elements are written as zeros.
__device__ __forceinline__ void tma_load_3d(void* smem, const CUtensorMap* map, uint64_t* bar, int c0, int c1,
                                            int c2) {
  asm volatile(
      "cp.async.bulk.tensor.3d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%3, %4, %5}], "
      "[%2];\n" ::"r"(smem_u32(smem)),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(smem_u32(bar)), "r"(c0), "r"(c1), "r"(c2)
      : "memory");
}
// The reverse: a [box] tile from shared memory into the tensor at (c0, c1, c2), in this thread's bulk
// group (commit with bulk_commit_group); out-of-bounds rows and columns are not written.
__device__ __forceinline__ void tma_store_3d(const CUtensorMap* map, const void* smem, int c0, int c1, int c2) {
  asm volatile("cp.async.bulk.tensor.3d.global.shared::cta.bulk_group [%0, {%2, %3, %4}], [%1];\n" ::"l"(
                   reinterpret_cast<uint64_t>(map)),
               "r"(smem_u32(smem)), "r"(c0), "r"(c1), "r"(c2)
               : "memory");
}
__device__ __forceinline__ void bulk_commit_group() { asm volatile("cp.async.bulk.commit_group;\n" ::: "memory"); }
// Waits until at most N of this thread's bulk groups still read their shared memory source.
template <int N>
__device__ __forceinline__ void bulk_wait_group_read() {
  asm volatile("cp.async.bulk.wait_group.read %0;\n" ::"n"(N) : "memory");
}
// Waits until at most N of this thread's bulk groups are still in flight (writes included).
template <int N>
__device__ __forceinline__ void bulk_wait_group() {
  asm volatile("cp.async.bulk.wait_group %0;\n" ::"n"(N) : "memory");
}
// Makes this thread's generic-proxy shared memory writes visible to the async proxy (a TMA store).
__device__ __forceinline__ void fence_proxy_async_shared() {
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}
// Four 8x8 16-bit matrices from registers into shared memory: lane L gives the address of row L % 8
// of matrix L / 8; register i holds this lane's two elements of matrix i in the mma C-fragment order
// (row lane / 4, columns 2 (lane % 4), + 1).
__device__ __forceinline__ void stmatrix_x4(uint32_t smem_addr, uint32_t r0, uint32_t r1, uint32_t r2, uint32_t r3) {
  asm volatile("stmatrix.sync.aligned.m8n8.x4.shared.b16 [%0], {%1, %2, %3, %4};\n" ::"r"(smem_addr), "r"(r0),
               "r"(r1), "r"(r2), "r"(r3)
               : "memory");
}
// A warpgroup's m64 x D fp32 accumulator (wgmma order: o[4i + e] is row 16 warp + lane / 4, + 8 for
// e >= 2, column 8i + 2 (lane % 4) + e % 2), each row times its scale (inv0 for the upper eight rows of
// the warp's sixteen, inv1 for the lower), rounded to T and written with stmatrix x4 into `base` as
// [D / 64][64][64] 16-bit elements with 128-byte swizzle: what a TMA store of 64-row boxes reads.
// `round` is pack_round<T> (kernels/cuda/mma_util.cuh): two floats -> one packed pair.
template <int D, class Round>
__device__ __forceinline__ void stmatrix_rows_sw128(uint32_t base, const float* o, float inv0, float inv1, int warp,
                                                    int lane, Round round) {
  // Matrices (i, row half 0), (i, 1), (i + 1, 0), (i + 1, 1); lane L addresses row L % 8 of matrix L / 8.
  const int mat = lane / 8, r_in = lane % 8;
  const uint32_t row_base = base + (16 * warp + 8 * (mat % 2) + r_in) * 128;
#pragma unroll
  for (int i = 0; i < D / 8; i += 2) {
    const int my_i = i + mat / 2;  // the 16-byte chunk this lane addresses: column block my_i / 8
    stmatrix_x4(row_base + (my_i / 8) * (64 * 128) + (((my_i % 8) ^ r_in) * 16),
                round(o[4 * i] * inv0, o[4 * i + 1] * inv0), round(o[4 * i + 2] * inv1, o[4 * i + 3] * inv1),
                round(o[4 * i + 4] * inv0, o[4 * i + 5] * inv0), round(o[4 * i + 6] * inv1, o[4 * i + 7] * inv1));
  }
}
__device__ __forceinline__ void tma_prefetch_descriptor(const CUtensorMap* map) {
  asm volatile("prefetch.tensormap [%0];\n" ::"l"(reinterpret_cast<uint64_t>(map)) : "memory");
}

// ---- wgmma protocol -----------------------------------------------------------------------------
// Orders this thread's register writes (accumulators, A fragments) before the next wgmma reads them.
__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
// Waits until at most N committed groups are still in flight.
template <int N>
__device__ __forceinline__ void wgmma_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
// The compiler must not move accumulator reads/writes across an in-flight wgmma.
template <class T>
__device__ __forceinline__ void fence_operand(T& r) {
  asm volatile("" : "+f"(r)::"memory");
}
__device__ __forceinline__ void fence_operand_u32(uint32_t& r) { asm volatile("" : "+r"(r)::"memory"); }

// ---- shared-memory matrix descriptors (PTX "Matrix Descriptor Format") -----------------------------
// Tiles are stored as the TMA writes them with 128-byte swizzle: column blocks of 64 16-bit elements,
// each block [rows][64] with 128-byte rows, 8-row atoms of 1024 bytes (1024-byte aligned, so the base
// offset field stays 0).
//   K-major operand (Q or K, the reduction runs along the row): SBO = 1024 (next 8 rows); LBO unused.
//     The k-th 16-element slice of a column block starts 32*k bytes into it.
//   N-major operand (V for P·V, the reduction runs over rows = keys): LBO = bytes of one column block
//     (the next 64 output columns), SBO = 1024 (the next 8 keys). Keys [16k, 16k + 16) start at
//     2048*k bytes.
__device__ __forceinline__ uint64_t make_desc_sw128(uint32_t smem_addr, uint32_t lbo_bytes, uint32_t sbo_bytes) {
  uint64_t d = 0;
  d |= static_cast<uint64_t>((smem_addr & 0x3FFFF) >> 4);
  d |= static_cast<uint64_t>((lbo_bytes & 0x3FFFF) >> 4) << 16;
  d |= static_cast<uint64_t>((sbo_bytes & 0x3FFFF) >> 4) << 32;
  d |= uint64_t{1} << 62;  // 128-byte swizzle
  return d;
}

// The descriptor of the matrix `bytes` further on (a multiple of 16): the start address is the low field,
// and shared memory (< 256 KiB) never carries out of it.
__device__ __forceinline__ uint64_t desc_advance(uint64_t desc, uint32_t bytes) { return desc + (bytes >> 4); }

// ---- registers and proxies ----------------------------------------------------------------------------
template <int N>
__device__ __forceinline__ void setmaxnreg_inc() {
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(N));
}
template <int N>
__device__ __forceinline__ void setmaxnreg_dec() {
  asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(N));
}
// Named barrier among `threads` threads (a multiple of 32) of this block.
__device__ __forceinline__ void named_barrier_sync(int id, int threads) {
  asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}
// Arrives on a named barrier without waiting (the producer side of a hand-over).
__device__ __forceinline__ void named_barrier_arrive(int id, int threads) {
  asm volatile("bar.arrive %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}
__device__ __forceinline__ bool elect_one_lane() {
  uint32_t pred = 0;
  asm volatile(
      "{\n.reg .b32 r;\n.reg .pred p;\nelect.sync r|p, 0xffffffff;\nselp.u32 %0, 1, 0, p;\n}\n"
      : "=r"(pred));
  return pred != 0;
}

}  // namespace attnscope::cuda::sm90
