// What PyTorch does for one attention call, step by step: every tensor its caching allocator hands
// out and takes back, in order, and the operation each step runs. Two plans:
//   hf_eager_plan:   transformers' eager_attention_forward (Llama's: repeat_kv, matmul, * scaling,
//                    + mask, softmax in fp32, cast back, matmul, transpose; GPT-OSS's: sink column
//                    concatenated, row max subtracted, softmax in the model dtype, column dropped)
//   torch_math_plan: torch 2.11's SDPA math backend (_scaled_dot_product_attention_math: q/k/v
//                    upcast to fp32, q and k each scaled by sqrt(scale), fp32 GEMMs, the mask as an
//                    fp32 bias, "safe" softmax that zeroes fully masked rows, output cast back)
// Both were read off torch 2.11 + transformers 5.17 on an H200 (bench/torch_plans.py ->
// bench/results/2026-12-01-h200/torch_plans.json). The GPU eager and sdpa:math execute these plans
// op by op; the memory model replays their allocations (kernels/memory_model.h). No CUDA here.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "layer_spec.h"

namespace attnscope {

// Element types of the tensors torch makes along the way (bool masks, int64 indices too).
enum class TType : uint8_t { F32, F16, BF16, Bool, I64 };
int ttype_bytes(TType t);
const char* ttype_name(TType t);
TType ttype_of(DType d);

// torch's caching allocator rounds every request up to a multiple of 512 bytes (kMinBlockSize), and
// torch.cuda.max_memory_allocated counts the rounded sizes.
int64_t torch_alloc_bytes(int64_t requested);

struct PlanTensor {
  std::string name;             // what HF/torch calls it: "attn_weights (matmul)", "query (fp32)", ...
  TType type = TType::F32;
  std::vector<int64_t> shape;   // row-major, contiguous
  bool external = false;        // owned by the caller (q, k, v, the 4D mask, sinks): never counted
  int64_t numel() const;
  int64_t bytes() const { return numel() * ttype_bytes(type); }
};

enum class PlanOpKind : uint8_t {
  RepeatHeads,   // out[b, h] = in[b, h / G]: HF repeat_kv (expand + reshape) and torch's repeat_interleave
  Cast,          // out = in converted (.to(dtype)): widening runs torch's unrolled copy, narrowing its vectorised one
  MulScalar,     // out = in * scalar, fp32 arithmetic (tensor * Python float), vectorised
  DivScalar,     // out = in / scalar (Gemma 2's softcap)
  Tanh,          // out = tanh(in)
  AddBroadcast,  // out = a + alpha * b, b broadcast over its size-1 dims (TensorIterator's generic strided kernel)
  Softmax,       // out = softmax(in) over the last dim, fp32 arithmetic; in/out types may differ (half_to_float)
  GemmQK,        // out[b, h] = a[b, h] · b[b, h]ᵀ (cuBLAS batched, batch = B·H)
  GemmPV,        // out[b, h] = a[b, h][:, :cols] · b[b, h]; a's rows are `lda` elements apart
  CatSink,       // out[b, h, i, :] = [a[b, h, i, :], sinks[h]]  (torch.cat of the expanded sink column)
  RowMax,        // out[b, h, i, 0] = max_j in[b, h, i, j]  (.max(dim=-1, keepdim=True).values)
  Transpose12,   // out[b, i, h, :] = in[b, h, i, :]  (.transpose(1, 2).contiguous())
  Fill,          // out[...] = scalar (torch.ones / at::scalar_tensor)
  Tril,          // out = in.tril()  (top-left causal, [Nq, Nk])
  WhereScalars,  // out = cond ? t : f, t and f 0-dim tensors (convert_boolean_attn_mask)
  IsNegInf,      // out = in == -inf
  AllLastDim,    // out[..., 0] = all(in[..., :])  (keepdim)
  WhereRowsZero, // inout[..., j] = cond[..., 0] ? zero : inout[..., j]  (_safe_softmax's where)
  // Autograd's backward (hf_eager_backward_plan):
  GemmDP,          // out[b, h] = dO[b, h] · v[b, h]ᵀ  (matmul(P, V)'s grad of P: bmm(grad, mat2ᵀ))
  GemmDV,          // out[b, h] = a[b, h][:, :cols]ᵀ · dO[b, h], a's rows `lda` apart  (its grad of V: Pᵀ·dO)
  GemmDQ,          // out[b, h] = dS[b, h] · k[b, h]  (matmul(Q, Kᵀ)'s grad of Q)
  GemmDK,          // out[b, h] = dS[b, h]ᵀ · q[b, h]  (its grad of K, stored [Nk, D] rather than torch's dKᵀ view)
  Mul,             // out = a * b, same shapes, fp32 arithmetic (softmax backward's tmp = grad * output)
  SoftmaxBackward, // out = t - y * sum_j(t) per row, fp32 arithmetic, t = the Mul's grad * y
                   // (softmax_backward_cuda_out's epilogue); in = {t, y}
  TanhBackward,    // out = g * (1 - t * t), fp32 arithmetic; in = {g, t}
  SumGroups,       // out[b, hk] = sum_g in[b, hk * G + g] in fp32, one rounding (repeat_kv's expand backward)
  SliceBackward,   // out = zeros [..., cols + 1]; out[..., :cols] = in  (probs[..., :-1]'s backward)
  RowSum,          // out[..., 0] = sum_j in[..., j] in fp32, one rounding (sum_to_size of a broadcast [.., 1])
  MaxBackward,     // out = zeros; out[r, idx[r]] = g[r]; in = {zeros, idx, g}  (value_selecting_reduction_backward's scatter)
  SinkColumnSum,   // out[h] = sum_{b, i} in[b, h, i, cols] in fp32, one rounding (the sink expand's backward)
  RowArgMax,       // out[..., 0] = the first j where in[..., j] is the row's max (int64; max.dim's indices)
};
const char* plan_op_name(PlanOpKind k);

struct PlanOp {
  PlanOpKind kind;
  std::vector<int> in;  // tensor ids
  int out = -1;         // tensor id (may equal in[0] for torch's in-place ops)
  double scalar = 0;    // MulScalar/DivScalar factor, Fill value, AddBroadcast alpha
  int64_t lda = 0;      // GemmPV/GemmDV: row stride of `a` in elements (Nk, or Nk + 1 on GPT-OSS's sliced P);
                        // MulScalar: row stride of its input when it is a column slice (0: dense)
  int64_t cols = 0;     // GemmPV/GemmDV: columns of `a` used (Nk)
  std::string torch_kernel;  // the kernel torch's profiler shows for this step (short form)
};

// One entry of the plan, in order: an allocation, a free, or an op.
struct PlanEvent {
  enum class Kind : uint8_t { Alloc, Free, Op } kind;
  int index;  // tensor id (Alloc/Free) or op index (Op)
};

struct TorchPlan {
  std::string what;                 // "transformers eager_attention_forward (Llama)", ...
  std::vector<PlanTensor> tensors;
  std::vector<PlanOp> ops;
  std::vector<PlanEvent> events;
  int out = -1;        // the attention output tensor
  bool out_bnhd = false;  // output laid out [B, Nq, Hq, Dv] (HF's transpose(1, 2).contiguous())
  // Tensors the capture reads (each as its last writer left it, before the plan frees it):
  int scores = -1;     // S [B, Hq, Nq, Nk]: the scores after scale, softcap and mask (no sink column)
  int lse_from = -1;   // the rows whose logsumexp is the LSE (S, or S with the sink column appended)
  int probs = -1;      // the probabilities P·V reads
  int64_t probs_row_stride = 0;  // elements between rows of `probs` (Nk, or Nk + 1 with the sink column)
  // External inputs by role (-1 when absent).
  int q = -1, k = -1, v = -1, mask = -1, sinks = -1;
  // Backward plans only (hf_eager_backward_plan): the events before `backward_begin` are the forward
  // under autograd (its saved tensors kept), those from it on the backward. `dout` is the external
  // gradient of the output (attn_output.grad, laid out as the output is); dq, dk, dv, dsinks the
  // gradients left allocated at the end ([B, Hq, Nq, D], [B, Hkv, Nk, D], [B, Hkv, Nk, Dv], [Hq]).
  int backward_begin = -1;
  int dout = -1, dq = -1, dk = -1, dv = -1, dsinks = -1;

  // Peak of the bytes allocated during the call, as torch.cuda.max_memory_allocated counts them
  // (512-byte rounding), and the bytes still held at the end (the output).
  int64_t peak_bytes() const;
  int64_t end_bytes() const;
  // The rounded size of every allocation and free, in order (+ alloc, - free), from event `from` on.
  std::vector<int64_t> allocation_trace(int from = 0) const;
  // Backward plans: the peak from `backward_begin` on, counting the tensors alive there (autograd's
  // saved tensors: what the backward holds beyond the inputs, dO and the forward's output).
  int64_t backward_peak_bytes() const;
  // The tensors alive at event `at` (allocated before it, not yet freed).
  std::vector<int> alive_at(int at) const;
  // A place for every allocated tensor in one address range (byte offsets, -1 for inputs) where no
  // two tensors alive at the same time overlap. Returns the range's size: what one pool allocated
  // up front must hold (the peak itself on every bench plan). Tensors alive at event `pin_at`
  // (>= 0) keep their place to the end: a backward replayed many times re-reads the saved tensors
  // its first run freed.
  int64_t place(std::vector<int64_t>* offset, int pin_at = -1) const;
};

// How an attention mask reaches the implementation: transformers builds a 4D mask outside the
// attention function (not counted, as in the bench); SDPA gets is_causal or a mask.
enum class MaskInput : uint8_t {
  None,         // no mask
  IsCausal,     // SDPA is_causal=True (top-left); eager never sees this
  Additive4D,   // [B, 1, Nq, Nk] in the model dtype: 0 / finfo.min, or the user's additive mask
  Bool4D,       // [B, 1, Nq, Nk] bool (SDPA: converted to a 0 / -inf bias in the model dtype)
};
// The mask transformers hands eager (additive) or SDPA (is_causal / bool / additive) for this layer.
MaskInput eager_mask_input(const LayerSpec& s);
MaskInput sdpa_mask_input(const LayerSpec& s);

// `mask_heads`: the 4D mask's head dim (1, or Hq for an explicit per-head mask); inputs are never
// counted, so it changes how the mask broadcasts, not the memory.
TorchPlan hf_eager_plan(const LayerSpec& s, int mask_heads = 1);
TorchPlan torch_math_plan(const LayerSpec& s, int mask_heads = 1);

// Autograd through hf_eager_plan, as torch 2.11's engine runs it (retain_graph=False): the forward
// again with every tensor a backward node saves kept (the repeat_kv copies, the softmax output, P,
// softcap's tanh, GPT-OSS's max indices), the output handed back, then each node's backward in the
// engine's order (the later-created node first: the softmax chain before repeat_kv's sums), every
// gradient buffer allocated and freed where autograd does, saved tensors released as their node
// finishes. dO arrives as attn_output.grad [B, Nq, Hq, Dv]; dq, dk, dv (dsinks) stay allocated.
TorchPlan hf_eager_backward_plan(const LayerSpec& s, int mask_heads = 1);
// Autograd through torch_math_plan the same way: q·sf, kᵀ·sf, P and the fp32 value kept; every
// gradient fp32 until the .to(float)s' backwards round them once. dO arrives as output.grad
// [B, Hq, Nq, Dv]. Derived from torch 2.11's derivative formulas and engine order; bench/torch_plans.py
// --backward records torch's own allocations ("sdpa_math_bwd") to hold it to.
TorchPlan torch_math_backward_plan(const LayerSpec& s, int mask_heads = 1);

}  // namespace attnscope
