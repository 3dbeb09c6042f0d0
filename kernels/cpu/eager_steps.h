// One query row of HF's eager_attention_forward as PyTorch computes it, shared by the CPU eager
// forward (eager_cpu.cpp) and its autograd backward (eager_backward.cpp), so both see the same bits.
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/cpu/cpu_common.h"

namespace attnscope::cpu {

struct EagerRow {
  // Scores as the softmax receives them, each rounded to the model dtype where PyTorch stores a
  // tensor (QKᵀ, * scale, softcap's / tanh *, + mask); `cols` = Nk, + 1 for the sink column.
  std::vector<float> s;
  // Softcap only: the stored tanh output per key (its backward reads it: 1 - t²).
  std::vector<float> tanh_out;
  // The softmax output autograd saves for its backward: fp32 with Llama's fp32 softmax (before
  // the cast back), the model dtype when the softmax runs in it (GPT-OSS).
  std::vector<float> y;
  // P as it enters P·V: y rounded to the model dtype (the sink column dropped there).
  std::vector<float> p;
  float lse = 0;           // natural log of the row's softmax denominator, sinks included
  int64_t argmax = -1;     // GPT-OSS (model-dtype softmax with sinks): the column its row max came from
  bool subtract_max = false;  // GPT-OSS: `combined - combined.max()` ran in the model dtype
};

// Fills `r` for query row i of (b, h). Buffers are resized as needed (reuse one per thread).
void eager_row(const LayerSpec& s, const Inputs& in, int b, int h, int64_t i, EagerRow* r);

// P·V of one query row of (b, h): o[d] for d < Dv, the fp32 sum over keys j < Nk in order of p[j] *
// V[b, kv head of h, j, d] (p as it enters the GEMM, in the model dtype; zeros skipped), rounded to
// the model dtype once.
void eager_pv_row(const LayerSpec& s, const Inputs& in, int b, int h, const float* p, float* o);

}  // namespace attnscope::cpu
