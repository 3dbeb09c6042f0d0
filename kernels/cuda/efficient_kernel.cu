#include "kernels/cuda/efficient_kernel.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <stdexcept>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/mask.cuh"
#include "kernels/cuda/softmax.cuh"
#include "kernels/cuda/mma_util.cuh"

namespace attnscope::cuda {

namespace {

// 32 rows x 64 keys a block, 4 threads a row: each thread scores 16 keys (j = lane%4 + 4c) and
// owns every 4th output column. K, V, Q and the O accumulator live in shared memory as fp32 with
// rows padded by one word, so the 8 rows a warp touches at one column fall in 8 different banks.
constexpr int kBM = kEfficientBlockM;
constexpr int kBN = kEfficientBlockN;
constexpr int kThreads = 128;
constexpr int kKeysPerThread = kBN / 4;
static_assert(kBM * 4 == kThreads, "4 threads per query row");

size_t smem_floats(int d, int dv) {
  return size_t(kBM) * (d + 1) + size_t(kBN) * (d + 1) + size_t(kBN) * (dv + 1) + size_t(kBM) * (kBN + 1) +
         size_t(kBM) * (dv + 1);
}

template <class T>
__device__ void load_rows(float* s, int s_stride, const T* g, int64_t g_stride, int rows, int valid_rows, int cols) {
  for (int i = threadIdx.x; i < rows * cols; i += kThreads) {
    const int r = i / cols, c = i % cols;
    s[r * s_stride + c] = r < valid_rows ? to_float<T>(g[r * g_stride + c]) : 0.f;
  }
}

template <class T, bool Probe>
__global__ void __launch_bounds__(kThreads) efficient_fwd_kernel(const FlashParams p) {
  extern __shared__ float sm[];
  const int d = p.d, dv = p.dv;
  float* sQ = sm;                              // [kBM][d+1]
  float* sK = sQ + kBM * (d + 1);              // [kBN][d+1]
  float* sV = sK + kBN * (d + 1);              // [kBN][dv+1]
  float* sP = sV + kBN * (dv + 1);             // [kBM][kBN+1]
  float* sO = sP + kBM * (kBN + 1);            // [kBM][dv+1]

  const int m_block = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
  const int hk = h / p.group;
  const int tid = threadIdx.x, r = tid / 4, q4 = tid % 4;
  const int m0 = m_block * kBM;
  const int64_t row = m0 + r;
  const T* qg = static_cast<const T*>(p.q) + b * p.q_batch_stride + h * p.q_head_stride;
  const T* kg = static_cast<const T*>(p.k) + b * p.k_batch_stride + hk * p.k_head_stride;
  const T* vg = static_cast<const T*>(p.v) + b * p.v_batch_stride + hk * p.v_head_stride;
  const float* mg = p.mask ? p.mask + b * p.m_batch_stride + h * p.m_head_stride : nullptr;
  const int kv_len = p.kv_len ? min(max(p.kv_len[b], 0), p.seq_k) : p.seq_k;

  const int last_row = min(m0 + kBM, p.seq_q) - 1;
  const KeyRange keys = visible_keys(p, m0, last_row, kv_len);
  const int n_begin = keys.end > keys.begin ? static_cast<int>(keys.begin / kBN) : 0;
  const int n_end = keys.end > keys.begin ? static_cast<int>((keys.end + kBN - 1) / kBN) : 0;

  load_rows<T>(sQ, d + 1, qg + int64_t(m0) * p.q_row_stride, p.q_row_stride, kBM, p.seq_q - m0, d);
  for (int c = q4; c < dv; c += 4) sO[r * (dv + 1) + c] = 0.f;

  float m_run = -INFINITY, l_run = 0.f;  // l_run: this thread's share of the row sum
  const bool probe_row = Probe && b == p.probe_batch && h == p.probe_head && row >= p.probe_row_begin &&
                         row < p.probe_row_end;
  const bool probing = Probe && b == p.probe_batch && h == p.probe_head && m0 < p.probe_row_end &&
                       m0 + kBM > p.probe_row_begin;
  if constexpr (Probe) {
    if (probe_row && q4 == 0)
      for (int nb = 0; nb < n_begin; ++nb) {
        p.probe_max[(row - p.probe_row_begin) * p.probe_tiles + nb] = -INFINITY;
        p.probe_sum[(row - p.probe_row_begin) * p.probe_tiles + nb] = 0.f;
      }
  }

  for (int nb = n_begin; nb < n_end; ++nb) {
    const int n0 = nb * kBN;
    __syncthreads();
    load_rows<T>(sK, d + 1, kg + int64_t(n0) * p.k_row_stride, p.k_row_stride, kBN, p.seq_k - n0, d);
    load_rows<T>(sV, dv + 1, vg + int64_t(n0) * p.v_row_stride, p.v_row_stride, kBN, p.seq_k - n0, dv);
    __syncthreads();

    float s[kKeysPerThread];
#pragma unroll
    for (int c = 0; c < kKeysPerThread; ++c) s[c] = 0.f;
    for (int k = 0; k < d; ++k) {
      const float qv = sQ[r * (d + 1) + k];
#pragma unroll
      for (int c = 0; c < kKeysPerThread; ++c) s[c] = fmaf(qv, sK[(q4 + 4 * c) * (d + 1) + k], s[c]);
    }
    float mx = m_run;
#pragma unroll
    for (int c = 0; c < kKeysPerThread; ++c) {
      const int64_t col = n0 + q4 + 4 * c;
      float x = s[c] * p.scale;
      if (p.softcap > 0.f) x = p.softcap * tanhf(x / p.softcap);
      bool vis = row < p.seq_q && key_visible(p, row, col, kv_len);
      if (vis && mg) {
        const float mv = mg[row * p.m_row_stride + col];
        if (p.mask_kind == 1) vis = mv != 0.f;
        else x += mv;
      }
      s[c] = vis ? x : -INFINITY;
      mx = fmaxf(mx, s[c]);
    }
    mx = quad_max(mx);
    const float base = mx == -INFINITY ? 0.f : mx;
    const float alpha = __expf(m_run - base);
    m_run = mx;
    l_run *= alpha;
#pragma unroll
    for (int c = 0; c < kKeysPerThread; ++c) {
      const float pv = __expf(s[c] - base);
      l_run += pv;
      sP[r * (kBN + 1) + q4 + 4 * c] = round_to<T>(pv);  // P enters P·V in the input dtype
    }
    __syncwarp();  // the row's 4 threads (one quad of this warp) wrote sP[r]
    if constexpr (Probe) {
      if (probing) {
        const float l_full = quad_sum(l_run);
        if (probe_row) {
          const int64_t pr = row - p.probe_row_begin;
          for (int c = 0; c < kKeysPerThread; ++c) {
            const int col = n0 + q4 + 4 * c;
            if (col < p.seq_k) p.probe_p[pr * p.seq_k + col] = sP[r * (kBN + 1) + q4 + 4 * c];
          }
          if (q4 == 0) {
            p.probe_max[pr * p.probe_tiles + nb] = m_run;
            p.probe_sum[pr * p.probe_tiles + nb] = l_full;
          }
        }
        if (tid == 0) p.probe_tile_used[nb] = 1;
      }
    }
    const int n_keys = min(kBN, p.seq_k - n0);
    for (int c = q4; c < dv; c += 4) {
      float o = sO[r * (dv + 1) + c] * alpha;
      for (int j = 0; j < n_keys; ++j) o = fmaf(sP[r * (kBN + 1) + j], sV[j * (dv + 1) + c], o);
      sO[r * (dv + 1) + c] = o;
    }
  }

  const float l_full = quad_sum(l_run);
  if constexpr (Probe) {
    if (probe_row && q4 == 0)
      for (int nb = max(n_end, n_begin); nb < p.probe_tiles; ++nb) {
        p.probe_max[(row - p.probe_row_begin) * p.probe_tiles + nb] = m_run;
        p.probe_sum[(row - p.probe_row_begin) * p.probe_tiles + nb] = l_full;
      }
  }
  if (row >= p.seq_q) return;
  const float inv = l_full > 0.f ? 1.f / l_full : 0.f;
  T* og = static_cast<T*>(p.out) + b * p.o_batch_stride + h * p.o_head_stride + row * p.o_row_stride;
  for (int c = q4; c < dv; c += 4) og[c] = from_float<T>(sO[r * (dv + 1) + c] * inv);
  if (q4 == 0)
    p.lse[(int64_t(b) * p.heads_q + h) * p.seq_q + row] = l_full > 0.f ? m_run + logf(l_full) : -INFINITY;
}

template <class T, bool Probe>
void launch(const FlashParams& p, cudaStream_t stream) {
  auto kernel = &efficient_fwd_kernel<T, Probe>;
  const size_t smem = smem_floats(p.d, p.dv) * sizeof(float);
  if (smem > 48 * 1024)
    ATTNSCOPE_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
  const dim3 grid((p.seq_q + kBM - 1) / kBM, p.heads_q, p.batch);
  kernel<<<grid, kThreads, smem, stream>>>(p);
  ATTNSCOPE_LAUNCH_CHECK();
}

template <class T>
void launch_probe_switch(const FlashParams& p, bool probe, cudaStream_t s) {
  if (probe) launch<T, true>(p, s);
  else launch<T, false>(p, s);
}

}  // namespace

size_t efficient_smem_bytes(int d, int dv) { return smem_floats(d, dv) * sizeof(float); }

void run_efficient(DType dtype, const FlashParams& p, bool probe, cudaStream_t stream) {
  if (p.d > 256 || p.dv > 256) throw std::runtime_error("efficient: head dim above 256");
  switch (dtype) {
    case DType::F32: launch_probe_switch<float>(p, probe, stream); break;
    case DType::F16: launch_probe_switch<__half>(p, probe, stream); break;
    case DType::BF16: launch_probe_switch<__nv_bfloat16>(p, probe, stream); break;
  }
}

}  // namespace attnscope::cuda
