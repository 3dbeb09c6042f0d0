#include "kernels/torch_plan.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace attnscope {

int ttype_bytes(TType t) {
  switch (t) {
    case TType::F32: return 4;
    case TType::F16:
    case TType::BF16: return 2;
    case TType::Bool: return 1;
    case TType::I64: return 8;
  }
  return 0;
}

const char* ttype_name(TType t) {
  switch (t) {
    case TType::F32: return "fp32";
    case TType::F16: return "fp16";
    case TType::BF16: return "bf16";
    case TType::Bool: return "bool";
    case TType::I64: return "int64";
  }
  return "?";
}

TType ttype_of(DType d) {
  switch (d) {
    case DType::F32: return TType::F32;
    case DType::F16: return TType::F16;
    case DType::BF16: return TType::BF16;
  }
  return TType::F32;
}

int64_t torch_alloc_bytes(int64_t requested) {
  constexpr int64_t kMinBlock = 512;  // c10/cuda/CUDACachingAllocator.cpp kMinBlockSize
  return std::max<int64_t>(kMinBlock, (requested + kMinBlock - 1) / kMinBlock * kMinBlock);
}

int64_t PlanTensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

const char* plan_op_name(PlanOpKind k) {
  switch (k) {
    case PlanOpKind::RepeatHeads: return "repeat heads";
    case PlanOpKind::Cast: return "cast";
    case PlanOpKind::MulScalar: return "mul scalar";
    case PlanOpKind::DivScalar: return "div scalar";
    case PlanOpKind::Tanh: return "tanh";
    case PlanOpKind::AddBroadcast: return "add";
    case PlanOpKind::Softmax: return "softmax";
    case PlanOpKind::GemmQK: return "matmul QK^T";
    case PlanOpKind::GemmPV: return "matmul PV";
    case PlanOpKind::CatSink: return "cat sink column";
    case PlanOpKind::RowMax: return "row max";
    case PlanOpKind::Transpose12: return "transpose(1,2).contiguous";
    case PlanOpKind::Fill: return "fill";
    case PlanOpKind::Tril: return "tril";
    case PlanOpKind::WhereScalars: return "where (mask to bias)";
    case PlanOpKind::IsNegInf: return "isneginf";
    case PlanOpKind::AllLastDim: return "all(dim=-1)";
    case PlanOpKind::WhereRowsZero: return "where (zero masked rows)";
    case PlanOpKind::GemmDP: return "matmul dO V^T";
    case PlanOpKind::GemmDV: return "matmul P^T dO";
    case PlanOpKind::GemmDQ: return "matmul dS K";
    case PlanOpKind::GemmDK: return "matmul dS^T Q";
    case PlanOpKind::Mul: return "mul";
    case PlanOpKind::SoftmaxBackward: return "softmax backward";
    case PlanOpKind::TanhBackward: return "tanh backward";
    case PlanOpKind::SumGroups: return "sum over the group (repeat_kv backward)";
    case PlanOpKind::SliceBackward: return "slice backward (zeros + copy)";
    case PlanOpKind::RowSum: return "sum(dim=-1)";
    case PlanOpKind::MaxBackward: return "max backward (scatter)";
    case PlanOpKind::SinkColumnSum: return "sum of the sink column";
    case PlanOpKind::RowArgMax: return "row argmax";
  }
  return "?";
}

int64_t TorchPlan::peak_bytes() const {
  int64_t cur = 0, peak = 0;
  for (int64_t x : allocation_trace()) {
    cur += x;
    peak = std::max(peak, cur);
  }
  return peak;
}

int64_t TorchPlan::end_bytes() const {
  int64_t cur = 0;
  for (int64_t x : allocation_trace()) cur += x;
  return cur;
}

std::vector<int64_t> TorchPlan::allocation_trace(int from) const {
  std::vector<int64_t> t;
  for (size_t i = static_cast<size_t>(std::max(0, from)); i < events.size(); ++i) {
    const PlanEvent& e = events[i];
    if (e.kind == PlanEvent::Kind::Op) continue;
    const int64_t b = torch_alloc_bytes(tensors[static_cast<size_t>(e.index)].bytes());
    t.push_back(e.kind == PlanEvent::Kind::Alloc ? b : -b);
  }
  return t;
}

std::vector<int> TorchPlan::alive_at(int at) const {
  std::vector<int> live;
  for (int i = 0; i < at && i < static_cast<int>(events.size()); ++i) {
    const PlanEvent& e = events[static_cast<size_t>(i)];
    if (e.kind == PlanEvent::Kind::Alloc) live.push_back(e.index);
    if (e.kind == PlanEvent::Kind::Free) live.erase(std::find(live.begin(), live.end(), e.index));
  }
  return live;
}

int64_t TorchPlan::backward_peak_bytes() const {
  if (backward_begin < 0) return 0;
  int64_t cur = 0;
  for (int id : alive_at(backward_begin)) cur += torch_alloc_bytes(tensors[static_cast<size_t>(id)].bytes());
  int64_t peak = cur;
  for (int64_t x : allocation_trace(backward_begin)) {
    cur += x;
    peak = std::max(peak, cur);
  }
  return peak;
}

int64_t TorchPlan::place(std::vector<int64_t>* offset, int pin_at) const {
  // Offline, as arena planners do: each tensor's lifetime (its alloc to its free event), then the
  // largest first, each at the lowest offset where it overlaps no placed tensor alive at the same
  // time. On the bench plans this packs into exactly the peak.
  const size_t n = tensors.size();
  std::vector<int64_t> born(n, -1), dies(n, static_cast<int64_t>(events.size()));
  for (size_t i = 0; i < events.size(); ++i) {
    if (events[i].kind == PlanEvent::Kind::Alloc) born[static_cast<size_t>(events[i].index)] = static_cast<int64_t>(i);
    if (events[i].kind == PlanEvent::Kind::Free) dies[static_cast<size_t>(events[i].index)] = static_cast<int64_t>(i);
  }
  if (pin_at >= 0)
    for (int id : alive_at(pin_at)) dies[static_cast<size_t>(id)] = static_cast<int64_t>(events.size());
  std::vector<size_t> order;
  for (size_t i = 0; i < n; ++i)
    if (born[i] >= 0) order.push_back(i);
  auto bytes = [&](size_t i) { return torch_alloc_bytes(tensors[i].bytes()); };
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return bytes(a) > bytes(b); });
  offset->assign(n, -1);
  std::vector<size_t> placed;
  int64_t high = 0;
  for (size_t t : order) {
    std::vector<std::pair<int64_t, int64_t>> busy;  // [start, end) of placed tensors alive with t
    for (size_t u : placed)
      if (born[u] < dies[t] && born[t] < dies[u]) busy.push_back({(*offset)[u], (*offset)[u] + bytes(u)});
    std::sort(busy.begin(), busy.end());
    int64_t at = 0;
    for (const auto& [b0, b1] : busy) {
      if (b0 - at >= bytes(t)) break;
      at = std::max(at, b1);
    }
    (*offset)[t] = at;
    high = std::max(high, at + bytes(t));
    placed.push_back(t);
  }
  return high;
}

MaskInput eager_mask_input(const LayerSpec& s) {
  // transformers' eager gets a 4D additive mask whenever anything is masked (masking_utils); packed
  // sequences reach it as the padded batch with its padding mask.
  if (s.packed() || s.causal || s.has_window() || s.mask != MaskKind::None) return MaskInput::Additive4D;
  return MaskInput::None;
}

MaskInput sdpa_mask_input(const LayerSpec& s) {
  // transformers' sdpa_attention_forward: is_causal when the causal mask alone is top-left and
  // nothing else is masked; otherwise the boolean mask (an additive one stays additive).
  if (s.mask == MaskKind::ExplicitAdditive) return MaskInput::Additive4D;
  if (s.packed()) return MaskInput::Bool4D;  // the padded batch and its padding mask
  const bool only_causal = s.mask == MaskKind::None && !s.has_window();
  if (s.causal && only_causal && (s.seq_q == s.seq_k || s.align == CausalAlign::TopLeft)) return MaskInput::IsCausal;
  if (s.causal || s.has_window() || s.mask != MaskKind::None) return MaskInput::Bool4D;
  return MaskInput::None;
}

namespace {

// Records tensors, ops and the allocator's events in program order.
class Builder {
 public:
  explicit Builder(std::string what) { p_.what = std::move(what); }
  int external(std::string name, TType t, std::vector<int64_t> shape) {
    p_.tensors.push_back({std::move(name), t, std::move(shape), true});
    return static_cast<int>(p_.tensors.size()) - 1;
  }
  int alloc(std::string name, TType t, std::vector<int64_t> shape) {
    p_.tensors.push_back({std::move(name), t, std::move(shape), false});
    const int id = static_cast<int>(p_.tensors.size()) - 1;
    p_.events.push_back({PlanEvent::Kind::Alloc, id});
    return id;
  }
  void free(int id) { p_.events.push_back({PlanEvent::Kind::Free, id}); }
  // A free that autograd skips because a backward node saved the tensor: recorded only for a plan
  // built without autograd (the inference plans).
  void release(int id) {
    if (!autograd) free(id);
  }
  bool autograd = false;  // the forward of a backward plan: the nodes' saved tensors stay
  // query [B, Hq, Nq, D], key [B, Hkv, Nk, D], value [B, Hkv, Nk, Dv] in the model dtype.
  void inputs(const LayerSpec& s) {
    const TType t = ttype_of(s.dtype);
    p_.q = external("query", t, {s.batch, s.heads_q, s.seq_q, s.head_dim});
    p_.k = external("key", t, {s.batch, s.heads_kv, s.seq_k, s.head_dim});
    p_.v = external("value", t, {s.batch, s.heads_kv, s.seq_k, s.head_dim_v});
  }
  PlanOp& op(PlanOpKind k, std::vector<int> in, int out, std::string torch_kernel) {
    PlanOp o;
    o.kind = k;
    o.in = std::move(in);
    o.out = out;
    o.torch_kernel = std::move(torch_kernel);
    p_.ops.push_back(o);
    p_.events.push_back({PlanEvent::Kind::Op, static_cast<int>(p_.ops.size()) - 1});
    return p_.ops.back();
  }
  const PlanTensor& tensor(int id) const { return p_.tensors[static_cast<size_t>(id)]; }
  TorchPlan& plan() { return p_; }

 private:
  TorchPlan p_;
};

// convert_boolean_attn_mask: two 0-dim tensors (0 and -inf in `t`) and at::where into a bias of
// the mask's shape; the scalars go once the where is done.
int bool_mask_to_bias(Builder& b, int mask_bool, TType t, const std::string& name) {
  const int zero = b.alloc("0 (scalar_tensor)", t, {});
  b.op(PlanOpKind::Fill, {}, zero, "vectorized_elementwise_kernel<4, FillFunctor>").scalar = 0.0;
  const int ninf = b.alloc("-inf (scalar_tensor)", t, {});
  b.op(PlanOpKind::Fill, {}, ninf, "vectorized_elementwise_kernel<4, FillFunctor>").scalar =
      -std::numeric_limits<double>::infinity();
  const int bias = b.alloc(name, t, b.tensor(mask_bool).shape);
  b.op(PlanOpKind::WhereScalars, {mask_bool, zero, ninf}, bias, "elementwise_kernel<128, 2, where_kernel_impl>");
  b.free(zero);
  b.free(ninf);
  return bias;
}

}  // namespace

namespace {

// What autograd's backward nodes keep from hf_eager's forward (-1 where absent).
struct EagerSaved {
  int k = -1, v = -1;     // the GEMMs' key and value (the repeat_kv copies, or the inputs)
  int tanh = -1;          // softcap: TanhBackward's output
  int y = -1;             // SoftmaxBackward's result (fp32 for Llama's softmax, else the model dtype)
  int probs = -1;         // P as matmul(P, V) saved it (its rows probs_row_stride apart; may be y)
  int max_idx = -1;       // GPT-OSS: MaxBackward's int64 indices
  bool gptoss = false;    // the sink column and `- max` ran in the model dtype
  bool cast_softmax = false;  // Llama's softmax(dtype=fp32) on a bf16/fp16 input, cast back
};

// hf_eager's forward into `b`; with `saved` (autograd), the tensors a backward node saves are kept
// and recorded there, and the output is handed back (freed) at the end.
void hf_eager_forward(Builder& b, const LayerSpec& s, int mask_heads, EagerSaved* saved) {
  const bool gptoss = s.sinks && s.softmax_dtype != DType::F32;
  b.autograd = saved != nullptr;
  const TType t = ttype_of(s.dtype);
  const int64_t B = s.batch, Hq = s.heads_q, Hkv = s.heads_kv, Nq = s.seq_q, Nk = s.seq_k;
  const int64_t D = s.head_dim, Dv = s.head_dim_v;
  TorchPlan& p = b.plan();
  b.inputs(s);
  const MaskInput mi = eager_mask_input(s);
  if (mi != MaskInput::None) p.mask = b.external("attention_mask (4D, model dtype)", t, {B, mask_heads, Nq, Nk});
  if (s.sinks) p.sinks = b.external("module.sinks", t, {Hq});

  // repeat_kv: expand + reshape copies K and V per query head when there are fewer KV heads.
  int k = p.k, v = p.v;
  if (Hkv != Hq) {
    k = b.alloc("key_states (repeat_kv)", t, {B, Hq, Nk, D});
    b.op(PlanOpKind::RepeatHeads, {p.k}, k, "elementwise_kernel<128, 4, direct_copy>");
    v = b.alloc("value_states (repeat_kv)", t, {B, Hq, Nk, Dv});
    b.op(PlanOpKind::RepeatHeads, {p.v}, v, "elementwise_kernel<128, 4, direct_copy>");
  }
  // attn_weights = torch.matmul(query, key_states.transpose(2, 3)) * scaling: the matmul's result
  // goes as soon as the product exists.
  const std::vector<int64_t> sh = {B, Hq, Nq, Nk};
  int w = b.alloc("attn_weights (matmul)", t, sh);
  b.op(PlanOpKind::GemmQK, {p.q, k}, w, "cuBLAS bf16 GEMM (nvjet)");
  int w2 = b.alloc("attn_weights (* scaling)", t, sh);
  b.op(PlanOpKind::MulScalar, {w}, w2, "vectorized_elementwise_kernel<8, MulFunctor>").scalar = s.effective_scale();
  b.free(w);
  w = w2;
  if (s.softcap > 0) {  // Gemma 2: / softcap, tanh, * softcap, each a new tensor
    int a = b.alloc("attn_weights (/ softcap)", t, sh);
    b.op(PlanOpKind::DivScalar, {w}, a, "vectorized_elementwise_kernel<8, DivFunctor>").scalar = s.softcap;
    b.free(w);
    int c = b.alloc("attn_weights (tanh)", t, sh);
    b.op(PlanOpKind::Tanh, {a}, c, "vectorized_elementwise_kernel<8, tanh>");
    b.free(a);
    int d = b.alloc("attn_weights (* softcap)", t, sh);
    b.op(PlanOpKind::MulScalar, {c}, d, "vectorized_elementwise_kernel<8, MulFunctor>").scalar = s.softcap;
    b.release(c);
    if (saved) saved->tanh = c;
    w = d;
  }
  if (p.mask >= 0) {
    // + causal_mask: [B, 1, Nq, Nk] broadcast over heads, TensorIterator's generic strided kernel.
    int m = b.alloc("attn_weights (+ attention_mask)", t, sh);
    b.op(PlanOpKind::AddBroadcast, {w, p.mask}, m, "elementwise_kernel<128, 4, CUDAFunctor_add>").scalar = 1.0;
    b.free(w);
    w = m;
  }
  int probs = -1, combined = -1;
  if (s.sinks) {
    // combined_logits = torch.cat([attn_weights, sinks.reshape(1, -1, 1, 1).expand(B, -1, Nq, -1)], dim=-1)
    const std::vector<int64_t> shc = {B, Hq, Nq, Nk + 1};
    const int cat = b.alloc("combined_logits (cat)", t, shc);
    b.op(PlanOpKind::CatSink, {w, p.sinks}, cat, "CatArrayBatchedCopy<OpaqueType<2>, unsigned int, 4, 64, 64>");
    p.lse_from = cat;
    combined = cat;
    if (gptoss) {
      // combined_logits - combined_logits.max(dim=-1, keepdim=True).values: max.dim returns values
      // and int64 indices; its reduction stages 16 bytes per row (measured, freed at once).
      const int mx = b.alloc("max values", t, {B, Hq, Nq, 1});
      const int idx = b.alloc("max indices", TType::I64, {B, Hq, Nq, 1});
      const int stage = b.alloc("max reduction staging", TType::I64, {B, Hq, Nq, 2});
      b.op(PlanOpKind::RowMax, {cat}, mx, "reduce_kernel<512, 1, ReduceOp<MaxOps>>");
      if (saved)  // the same kernel's second output, which MaxBackward keeps (an op of its own here)
        b.op(PlanOpKind::RowArgMax, {cat}, idx, "reduce_kernel<512, 1, ReduceOp<MaxOps>> (indices)");
      b.free(stage);
      b.release(idx);
      if (saved) saved->max_idx = idx;
      const int sub = b.alloc("combined_logits (- max)", t, shc);
      b.op(PlanOpKind::AddBroadcast, {cat, mx}, sub, "elementwise_kernel<128, 4, CUDAFunctor_add>").scalar = -1.0;
      b.free(mx);   // the max's values die with the statement,
      b.free(cat);  // and the concatenated logits with the rebinding of combined_logits
      combined = sub;
      // F.softmax(combined_logits, dim=-1, dtype=combined_logits.dtype)
      probs = b.alloc("probs (softmax, model dtype)", t, shc);
      b.op(PlanOpKind::Softmax, {sub}, probs, "cunn_SoftMaxForwardReg<bf16, float, bf16>");
      // attn_weights (the masked scores) is rebound to the dropped-sink slice of probs.
      b.free(w);
    }
  }
  p.scores = w;
  if (p.lse_from < 0) p.lse_from = w;
  if (!gptoss) {
    const int in = s.sinks ? combined : w;
    const std::vector<int64_t> shp = b.tensor(in).shape;
    if (s.softmax_dtype != DType::F32 || t == TType::F32) {
      // Softmax in the input's own dtype (fp32 layers, or a model-dtype softmax without sinks).
      probs = b.alloc("attn_weights (softmax)", t, shp);
      b.op(PlanOpKind::Softmax, {in}, probs, "softmax_warp_forward / cunn_SoftMaxForward*");
      b.free(in);
      if (s.sinks) b.free(w);  // attn_weights rebound to the sliced probs
    } else {
      // nn.functional.softmax(attn_weights, dim=-1, dtype=torch.float32).to(query.dtype):
      // bf16 is first copied to fp32 (torch's softmax(dtype=) converts unless the input is
      // fp16, whose half_to_float kernel reads fp16 directly), then cast back.
      int pf;
      if (t == TType::BF16) {
        const int f = b.alloc("attn_weights (.to(float32))", TType::F32, shp);
        b.op(PlanOpKind::Cast, {in}, f, "unrolled_elementwise_kernel<direct_copy>");
        pf = b.alloc("softmax (fp32)", TType::F32, shp);
        b.op(PlanOpKind::Softmax, {f}, pf, "softmax_warp_forward / cunn_SoftMaxForwardReg<float>");
        b.free(f);
      } else {
        pf = b.alloc("softmax (fp32, half_to_float)", TType::F32, shp);
        b.op(PlanOpKind::Softmax, {in}, pf, "softmax_warp_forward / cunn_SoftMaxForward<half, float>");
      }
      probs = b.alloc("attn_weights (.to(query.dtype))", t, shp);
      b.op(PlanOpKind::Cast, {pf}, probs, "vectorized_elementwise_kernel<8, bfloat16_copy_kernel_cuda>");
      b.release(pf);
      if (saved) saved->y = pf, saved->cast_softmax = true;
      b.free(in);
      if (s.sinks) b.free(w);  // attn_weights rebound to the sliced probs
    }
  }
  p.probs = probs;
  p.probs_row_stride = b.tensor(probs).shape.back();
  // attn_output = torch.matmul(attn_weights, value_states) on the (possibly sliced) probabilities,
  // then attn_output.transpose(1, 2).contiguous().
  const int o = b.alloc("attn_output (matmul)", t, {B, Hq, Nq, Dv});
  PlanOp& pv = b.op(PlanOpKind::GemmPV, {probs, v}, o,
                    s.sinks ? "cuBLAS GEMM, lda = Nk + 1 (cutlass align1)" : "cuBLAS bf16 GEMM (nvjet)");
  pv.lda = p.probs_row_stride;
  pv.cols = Nk;
  const int o2 = b.alloc("attn_output (transpose(1, 2).contiguous())", t, {B, Nq, Hq, Dv});
  b.op(PlanOpKind::Transpose12, {o}, o2, "elementwise_kernel<128, 4, direct_copy>");
  b.free(o);
  // Function return: the repeated K/V and the kept logits go; attn_weights (probs) is returned
  // and dropped by the caller.
  if (k != p.k) b.release(k);
  if (v != p.v) b.release(v);
  if (gptoss) b.free(combined);
  b.release(probs);
  p.out = o2;
  p.out_bnhd = true;
  if (saved) {
    saved->k = k, saved->v = v, saved->probs = probs, saved->gptoss = gptoss;
    if (saved->y < 0) saved->y = probs;  // the softmax's own output is P
    b.free(o2);  // the output is the forward's: handed to the caller
  }
}

}  // namespace

TorchPlan hf_eager_plan(const LayerSpec& s, int mask_heads) {
  const bool gptoss = s.sinks && s.softmax_dtype != DType::F32;
  Builder b(gptoss ? "transformers eager_attention_forward (GPT-OSS: sink column, softmax in the model dtype)"
                   : "transformers eager_attention_forward (Llama: softmax in fp32)");
  hf_eager_forward(b, s, mask_heads, nullptr);
  return std::move(b.plan());
}


TorchPlan hf_eager_backward_plan(const LayerSpec& s, int mask_heads) {
  Builder b(s.sinks && s.softmax_dtype != DType::F32
                ? "autograd through transformers eager_attention_forward (GPT-OSS), torch 2.11's engine"
                : "autograd through transformers eager_attention_forward (Llama), torch 2.11's engine");
  EagerSaved sv;
  hf_eager_forward(b, s, mask_heads, &sv);
  TorchPlan& p = b.plan();
  p.backward_begin = static_cast<int>(p.events.size());
  const TType t = ttype_of(s.dtype);
  const int64_t B = s.batch, Hq = s.heads_q, Hkv = s.heads_kv, Nq = s.seq_q, Nk = s.seq_k;
  const int64_t D = s.head_dim, Dv = s.head_dim_v;
  const bool gqa = Hkv != Hq;
  const std::vector<int64_t> sh = {B, Hq, Nq, Nk}, shy = b.tensor(sv.y).shape;
  const bool sliced = shy.back() != Nk;  // P is probs[..., :-1] (a sink column)
  const std::string gemm = t == TType::F32 ? "cuBLAS fp32 GEMM" : "cuBLAS GEMM (fp32 accumulation)";

  // attn_output.transpose(1, 2).contiguous(): the gradient arrives [B, Nq, Hq, Dv]; transpose's
  // backward is a view and matmul's UnsafeViewBackward reshapes it to [B·Hq, Nq, Dv]: a copy.
  p.dout = b.external("attn_output.grad", t, {B, Nq, Hq, Dv});
  const int dout = b.alloc("grad attn_output (contiguous for bmm)", t, {B, Hq, Nq, Dv});
  b.op(PlanOpKind::Transpose12, {p.dout}, dout, "elementwise_kernel<128, 4, direct_copy>");
  // matmul(P, V)'s BmmBackward0: grad of P first (dO·Vᵀ), then of V (Pᵀ·dO); the node then
  // releases P and the value copy.
  int g = b.alloc("grad attn_weights (dO·Vᵀ)", t, sh);
  b.op(PlanOpKind::GemmDP, {dout, sv.v}, g, gemm);
  const int dv_h = b.alloc(gqa ? "grad value_states (Pᵀ·dO, per query head)" : "value.grad (Pᵀ·dO)", t, {B, Hq, Nk, Dv});
  PlanOp& dvop = b.op(PlanOpKind::GemmDV, {sv.probs, dout}, dv_h, gemm);
  dvop.lda = shy.back();
  dvop.cols = Nk;
  b.free(dout);
  if (sv.probs != sv.y) b.free(sv.probs);
  if (gqa) b.free(sv.v);
  // The P chain, ahead of repeat_kv's sums (autograd runs the later-created node first).
  if (sliced) {  // probs[..., :-1]: zeros with the gradient copied in
    const int full = b.alloc("grad probs (slice backward)", t, shy);
    PlanOp& o = b.op(PlanOpKind::SliceBackward, {g}, full, "FillFunctor + elementwise_kernel<direct_copy>");
    o.cols = Nk;
    b.free(g);
    g = full;
  }
  // _softmax_backward_data as softmax_backward_cuda_out runs it: tmp = grad * output (a full-size
  // tensor of grad's type, vectorised BinaryFunctor), then gI = tmp - y * sum(tmp) per row; tmp, the
  // grad and the saved y are released in that order. On an H200 (torch 2.11) tmp is the fourth
  // score-sized tensor at the backward's peak: 16 bytes a score for Llama in bf16, 8 for GPT-OSS.
  auto softmax_backward = [&](int grad, int y, int out, const std::string& kernel) {
    // Copies: alloc grows the plan's tensor list, which a reference into it would not survive.
    const TType type = b.tensor(grad).type;
    const std::vector<int64_t> shape = b.tensor(grad).shape;
    const int tmp = b.alloc("softmax backward tmp (grad * output)", type, shape);
    b.op(PlanOpKind::Mul, {grad, y}, tmp,
         std::string("vectorized_elementwise_kernel<") + (type == TType::F32 ? "4" : "8") +
             ", BinaryFunctor<MulFunctor>>");
    b.op(PlanOpKind::SoftmaxBackward, {tmp, y}, out, kernel);
    b.free(tmp);
  };
  // host_softmax_backward's kernel: a warp a row up to 1024 columns (4096 bytes), else a block a row.
  const int64_t ycols = shy.back();
  auto bwd_kernel = [&](TType yt) {
    return ycols <= 1024 && ycols * ttype_bytes(yt) <= 4096 ? std::string("softmax_warp_backward")
                                                            : std::string("cunn_SoftMaxBackward");
  };
  int dx = -1;
  if (sv.cast_softmax) {
    // P = softmax(dtype=fp32).to(dtype): ToCopyBackward to fp32, SoftmaxBackward on the fp32 output
    // (into fp16 directly for half_to_float; bf16 through an fp32 result and ToCopyBackward).
    const int g32 = b.alloc("grad softmax output (.to(float32))", TType::F32, shy);
    b.op(PlanOpKind::Cast, {g}, g32, "unrolled_elementwise_kernel<direct_copy>");
    b.free(g);
    if (t == TType::F16) {
      dx = b.alloc("grad attn_weights (softmax backward, half_to_float)", t, shy);
      softmax_backward(g32, sv.y, dx, bwd_kernel(TType::F32) + "<half, float>");
      b.free(g32);
      b.free(sv.y);
    } else {
      const int dx32 = b.alloc("grad softmax input (fp32)", TType::F32, shy);
      softmax_backward(g32, sv.y, dx32, bwd_kernel(TType::F32) + "<float>");
      b.free(g32);
      b.free(sv.y);
      dx = b.alloc("grad attn_weights (.to(query.dtype))", t, shy);
      b.op(PlanOpKind::Cast, {dx32}, dx, "vectorized_elementwise_kernel<8, bfloat16_copy_kernel_cuda>");
      b.free(dx32);
    }
  } else {
    dx = b.alloc("grad softmax input", t, shy);
    softmax_backward(g, sv.y, dx, bwd_kernel(t));
    b.free(g);
    b.free(sv.y);  // and P, a view of it
  }
  if (sv.gptoss) {
    // combined - combined.max().values: SubBackward0's grad of the max is -grad summed to [.., 1]
    // (validate_outputs' sum_to_size); MaxBackward scatters it into zeros at the max's index
    // (zeros, then scatter's clone), accumulated into the softmax's gradient in place.
    const std::vector<int64_t> sh1 = {B, Hq, Nq, 1};
    const int neg = b.alloc("grad max values (-grad)", t, shy);
    b.op(PlanOpKind::MulScalar, {dx}, neg, "vectorized_elementwise_kernel<8, neg_kernel>").scalar = -1.0;
    const int gm = b.alloc("grad max values (sum_to_size)", t, sh1);
    b.op(PlanOpKind::RowSum, {neg}, gm, "reduce_kernel<512, 1, ReduceOp<sum>>");
    b.free(neg);
    const int z = b.alloc("max backward zeros", t, shy);
    b.op(PlanOpKind::Fill, {}, z, "vectorized_elementwise_kernel<4, FillFunctor>").scalar = 0.0;
    const int sc = b.alloc("max backward scatter", t, shy);
    b.op(PlanOpKind::MaxBackward, {z, sv.max_idx, gm}, sc, "scatter_gather_elementwise_kernel");
    b.free(z);
    b.free(gm);
    b.free(sv.max_idx);
    b.op(PlanOpKind::AddBroadcast, {dx, sc}, dx, "vectorized_elementwise_kernel<8, CUDAFunctor_add>").scalar = 1.0;
    b.free(sc);
  }
  if (s.sinks) {
    // torch.cat's backward: slices of the gradient; the sink column's expand sums over batch and rows.
    p.dsinks = b.alloc("sinks.grad (expand backward)", t, {Hq});
    PlanOp& o = b.op(PlanOpKind::SinkColumnSum, {dx}, p.dsinks, "reduce_kernel<512, 1, ReduceOp<sum>>");
    o.cols = Nk;
  }
  // + attention_mask passes the gradient on. Softcap's * c, tanh, / c backwards, then * scaling's.
  int cur = dx;
  int64_t cur_lda = sliced ? Nk + 1 : 0;  // the first consumer reads cat's slice of the gradient
  auto step = [&](PlanOpKind k, std::vector<int> in, double scalar, const std::string& name, const std::string& tk) {
    const int o = b.alloc(name, t, sh);
    PlanOp& op = b.op(k, std::move(in), o, tk);
    op.scalar = scalar;
    op.lda = cur_lda;
    cur_lda = 0;
    b.free(cur);
    cur = o;
  };
  if (s.softcap > 0) {
    step(PlanOpKind::MulScalar, {cur}, s.softcap, "grad tanh output (* softcap backward)",
         "vectorized_elementwise_kernel<8, MulFunctor>");
    step(PlanOpKind::TanhBackward, {cur, sv.tanh}, 0, "grad tanh input (tanh backward)",
         "vectorized_elementwise_kernel<8, tanh_backward>");
    b.free(sv.tanh);
    step(PlanOpKind::DivScalar, {cur}, s.softcap, "grad scores (/ softcap backward)",
         "vectorized_elementwise_kernel<8, DivFunctor>");
  }
  step(PlanOpKind::MulScalar, {cur}, s.effective_scale(), "grad attn_weights (* scaling backward)",
       "vectorized_elementwise_kernel<8, MulFunctor>");
  // matmul(Q, Kᵀ)'s BmmBackward0: dQ = dS·K, then dK = dSᵀ·Q; the node releases the key copy.
  p.dq = b.alloc("query.grad (dS·K)", t, {B, Hq, Nq, D});
  b.op(PlanOpKind::GemmDQ, {cur, sv.k}, p.dq, gemm).lda = Nk;
  p.ops.back().cols = Nk;
  const int dk_h = b.alloc(gqa ? "grad key_states (dSᵀ·Q, per query head)" : "key.grad (dSᵀ·Q)", t, {B, Hq, Nk, D});
  b.op(PlanOpKind::GemmDK, {cur, p.q}, dk_h, gemm);
  b.free(cur);
  if (gqa) b.free(sv.k);
  // repeat_kv's backward (expand's sum over the group), value's first: it was created later.
  p.dv = dv_h, p.dk = dk_h;
  if (gqa) {
    p.dv = b.alloc("value.grad (repeat_kv backward: sum over the group)", t, {B, Hkv, Nk, Dv});
    b.op(PlanOpKind::SumGroups, {dv_h}, p.dv, "reduce_kernel<512, 1, ReduceOp<sum>>");
    b.free(dv_h);
    p.dk = b.alloc("key.grad (repeat_kv backward: sum over the group)", t, {B, Hkv, Nk, D});
    b.op(PlanOpKind::SumGroups, {dk_h}, p.dk, "reduce_kernel<512, 1, ReduceOp<sum>>");
    b.free(dk_h);
  }
  return std::move(p);
}

namespace {

// What autograd's nodes keep from the math backend's forward (-1 where absent): both BmmBackward0s'
// operands (q·sf and kᵀ·sf; P and the (repeated) fp32 value) and _safe_softmax's result, which is P.
struct MathSaved {
  int qs = -1, ks = -1, p = -1, v = -1;
  bool upcast = false;  // fp16/bf16: q, k, v went through .to(float) (ToCopyBackward0 on the way back)
};

// _scaled_dot_product_attention_math's forward into `b`; with `saved` (autograd), the tensors a
// backward node saves are kept and the output is handed back (freed) at the end.
void torch_math_forward(Builder& b, const LayerSpec& s, int mask_heads, MathSaved* saved) {
  b.autograd = saved != nullptr;
  const TType t = ttype_of(s.dtype);
  const int64_t B = s.batch, Hq = s.heads_q, Hkv = s.heads_kv, Nq = s.seq_q, Nk = s.seq_k;
  const int64_t D = s.head_dim, Dv = s.head_dim_v;
  TorchPlan& p = b.plan();
  b.inputs(s);
  const MaskInput mi = sdpa_mask_input(s);
  int mask = -1;
  if (mi == MaskInput::Bool4D) {
    // scaled_dot_product_attention converts a boolean mask to a bias in the query's dtype first.
    p.mask = b.external("attn_mask (bool)", TType::Bool, {B, mask_heads, Nq, Nk});
    mask = bool_mask_to_bias(b, p.mask, t, "attn_mask (bias, model dtype)");
  } else if (mi == MaskInput::Additive4D) {
    p.mask = b.external("attn_mask (additive, model dtype)", t, {B, mask_heads, Nq, Nk});
    mask = p.mask;
  }
  // Keep query, key, value in high precision: fp16/bf16 are copied to fp32.
  const bool up = t != TType::F32;
  int qa = p.q, ka = p.k, va = p.v;
  if (up) {
    qa = b.alloc("query_acc (.to(float))", TType::F32, {B, Hq, Nq, D});
    b.op(PlanOpKind::Cast, {p.q}, qa, "unrolled_elementwise_kernel<direct_copy>");
    ka = b.alloc("key_acc (.to(float))", TType::F32, {B, Hkv, Nk, D});
    b.op(PlanOpKind::Cast, {p.k}, ka, "unrolled_elementwise_kernel<direct_copy>");
    va = b.alloc("value_acc (.to(float))", TType::F32, {B, Hkv, Nk, Dv});
    b.op(PlanOpKind::Cast, {p.v}, va, "unrolled_elementwise_kernel<direct_copy>");
  }
  // Scale q and k before the matmul, each by sqrt(scale).
  const double sf = std::sqrt(s.effective_scale());
  const int qs = b.alloc("query * sqrt(scale)", TType::F32, {B, Hq, Nq, D});
  b.op(PlanOpKind::MulScalar, {qa}, qs, "vectorized_elementwise_kernel<4, MulFunctor<float>>").scalar = sf;
  if (mi == MaskInput::IsCausal) {
    // attn_mask = at::ones({L, S}, bool).tril(); convert_boolean_attn_mask(attn_mask, fp32).
    const int ones = b.alloc("ones (bool)", TType::Bool, {Nq, Nk});
    b.op(PlanOpKind::Fill, {}, ones, "vectorized_elementwise_kernel<4, FillFunctor<bool>>").scalar = 1.0;
    const int tril = b.alloc("tril (bool)", TType::Bool, {Nq, Nk});
    b.op(PlanOpKind::Tril, {ones}, tril, "triu_tril_kernel<bool>");
    b.free(ones);
    mask = bool_mask_to_bias(b, tril, TType::F32, "causal bias (fp32)");
    b.free(tril);
  }
  // GQA (enable_gqa): repeat_interleave K and V over the query heads.
  int ke = ka, ve = va;
  if (Hkv != Hq) {
    ke = b.alloc("key (repeat_interleave)", TType::F32, {B, Hq, Nk, D});
    b.op(PlanOpKind::RepeatHeads, {ka}, ke, "elementwise_kernel<128, 2, direct_copy>");
    ve = b.alloc("value (repeat_interleave)", TType::F32, {B, Hq, Nk, Dv});
    b.op(PlanOpKind::RepeatHeads, {va}, ve, "elementwise_kernel<128, 2, direct_copy>");
  }
  // attn = at::matmul(query, key_expanded.transpose(-2, -1) * scaling_factor): fp32 GEMM, no TF32.
  const int ks = b.alloc("key^T * sqrt(scale)", TType::F32, {B, Hq, Nk, D});
  b.op(PlanOpKind::MulScalar, {ke}, ks, "vectorized_elementwise_kernel<4, MulFunctor<float>>").scalar = sf;
  const std::vector<int64_t> sh = {B, Hq, Nq, Nk};
  const int attn = b.alloc("attn (fp32)", TType::F32, sh);
  b.op(PlanOpKind::GemmQK, {qs, ks}, attn, "cuBLAS fp32 GEMM (sm80_xmma ffma)");
  b.release(ks);
  if (mask >= 0)  // attn.add_(attn_mask): in place
    b.op(PlanOpKind::AddBroadcast, {attn, mask}, attn, "elementwise_kernel<128, 2, CUDAFunctor_add<float>>").scalar =
        1.0;
  p.scores = p.lse_from = attn;
  // _safe_softmax: softmax, then rows whose every input is -inf become 0 instead of NaN.
  const int pf = b.alloc("attn (_safe_softmax)", TType::F32, sh);
  b.op(PlanOpKind::Softmax, {attn}, pf, "softmax_warp_forward / cunn_SoftMaxForwardReg<float>");
  const int neg = b.alloc("isneginf", TType::Bool, sh);
  b.op(PlanOpKind::IsNegInf, {attn}, neg, "vectorized_elementwise_kernel<4, isneginf>");
  const int rows = b.alloc("all(dim=-1)", TType::Bool, {B, Hq, Nq, 1});
  b.op(PlanOpKind::AllLastDim, {neg}, rows, "reduce_kernel<512, 1, ReduceOp<bool, and>>");
  const int zero = b.alloc("0 (scalar_tensor)", TType::F32, {});
  b.op(PlanOpKind::Fill, {}, zero, "vectorized_elementwise_kernel<4, FillFunctor<float>>").scalar = 0.0;
  b.op(PlanOpKind::WhereRowsZero, {rows, zero}, pf, "elementwise_kernel<128, 2, where_kernel_impl>");
  b.free(zero);
  b.free(rows);
  b.free(neg);
  b.free(attn);
  p.probs = pf;
  p.probs_row_stride = Nk;
  // return {at::matmul(attn, value_expanded).to(origin_dtype), attn.to(origin_dtype)}: the
  // arguments are evaluated right to left (GCC), so the probabilities are cast first.
  int pb = -1;
  if (up) {
    pb = b.alloc("attn (.to(origin_dtype), returned)", t, sh);
    b.op(PlanOpKind::Cast, {pf}, pb, "vectorized_elementwise_kernel<8, bfloat16_copy_kernel_cuda>");
  }
  const int of = b.alloc("output (fp32 matmul)", TType::F32, {B, Hq, Nq, Dv});
  PlanOp& pv = b.op(PlanOpKind::GemmPV, {pf, ve}, of, "cuBLAS fp32 GEMM (sm80_xmma ffma)");
  pv.lda = Nk;
  pv.cols = Nk;
  int out = of;
  if (up) {
    out = b.alloc("output (.to(origin_dtype))", t, {B, Hq, Nq, Dv});
    b.op(PlanOpKind::Cast, {of}, out, "vectorized_elementwise_kernel<8, bfloat16_copy_kernel_cuda>");
    b.free(of);
  }
  // Locals go at return; the returned probabilities are dropped by scaled_dot_product_attention.
  b.release(pf);
  b.release(qs);
  if (ke != ka) b.free(ke);
  if (ve != va) b.release(ve);
  if (mask >= 0 && mask != p.mask) b.free(mask);
  if (up) {
    b.free(ka);
    if (ve != va) b.free(va);
    else b.release(va);
    b.free(qa);
    b.free(pb);
  }
  p.out = out;
  p.out_bnhd = false;
  if (saved) {
    saved->qs = qs, saved->ks = ks, saved->p = pf, saved->v = ve, saved->upcast = up;
    b.free(out);  // the output is the forward's: handed to the caller
  }
}

}  // namespace

TorchPlan torch_math_plan(const LayerSpec& s, int mask_heads) {
  Builder b("torch 2.11 SDPA math backend (_scaled_dot_product_attention_math)");
  torch_math_forward(b, s, mask_heads, nullptr);
  return std::move(b.plan());
}

// Autograd through the math backend, node by node as torch 2.11's engine runs them (the later-created
// node first among those ready). Everything is fp32 (the forward upcast q, k, v), so the gradients
// are rounded only by the ToCopyBackward0s at the end. At the softmax backward the saved q·sf, kᵀ·sf
// and P, dP, the repeated value's gradient, the softmax backward's tmp and its result are alive: four
// fp32 score-sized tensors, 16 bytes a score (Llama's eager holds the same at its peak).
TorchPlan torch_math_backward_plan(const LayerSpec& s, int mask_heads) {
  Builder b("autograd through torch 2.11's SDPA math backend (_scaled_dot_product_attention_math)");
  MathSaved sv;
  torch_math_forward(b, s, mask_heads, &sv);
  TorchPlan& p = b.plan();
  p.backward_begin = static_cast<int>(p.events.size());
  const TType t = ttype_of(s.dtype), f = TType::F32;
  const int64_t B = s.batch, Hq = s.heads_q, Hkv = s.heads_kv, Nq = s.seq_q, Nk = s.seq_k;
  const int64_t D = s.head_dim, Dv = s.head_dim_v;
  const bool gqa = Hkv != Hq;
  const std::vector<int64_t> sh = {B, Hq, Nq, Nk};
  const std::string gemm = "cuBLAS fp32 GEMM (sm80_xmma ffma)";
  const std::string narrow = t == TType::BF16 ? "vectorized_elementwise_kernel<4, bfloat16_copy_kernel_cuda>"
                                              : "vectorized_elementwise_kernel<4, half_copy_kernel_cuda>";
  // .to(origin_dtype)'s ToCopyBackward0: the gradient arrives [B, Hq, Nq, Dv] in the model dtype.
  p.dout = b.external("output.grad", t, {B, Hq, Nq, Dv});
  int g = p.dout;
  if (sv.upcast) {
    g = b.alloc("grad output (.to(float))", f, {B, Hq, Nq, Dv});
    b.op(PlanOpKind::Cast, {p.dout}, g, "unrolled_elementwise_kernel<direct_copy>");
  }
  // matmul(P, value)'s BmmBackward0: the grad of P (dO·veᵀ), then of the value (Pᵀ·dO); the node
  // then releases its grad and the value (P stays: _safe_softmax's backward saved it too).
  const int dp = b.alloc("grad attn (dO·vᵀ)", f, sh);
  b.op(PlanOpKind::GemmDP, {g, sv.v}, dp, gemm);
  const int dv_h = b.alloc(gqa ? "grad value (Pᵀ·dO, per query head)" : "grad value_acc (Pᵀ·dO)", f, {B, Hq, Nk, Dv});
  PlanOp& dvop = b.op(PlanOpKind::GemmDV, {sv.p, g}, dv_h, gemm);
  dvop.lda = Nk;
  dvop.cols = Nk;
  if (g != p.dout) b.free(g);
  if (sv.v != p.v) b.free(sv.v);
  // _safe_softmax's backward: _softmax_backward_data(grad, result) as softmax_backward_cuda_out runs it.
  const int ds = b.alloc("grad attn (softmax backward)", f, sh);
  const int tmp = b.alloc("softmax backward tmp (grad * output)", f, sh);
  b.op(PlanOpKind::Mul, {dp, sv.p}, tmp, "vectorized_elementwise_kernel<4, BinaryFunctor<MulFunctor>>");
  b.op(PlanOpKind::SoftmaxBackward, {tmp, sv.p}, ds,
       Nk <= 1024 ? "softmax_warp_backward<float>" : "cunn_SoftMaxBackward<float>");
  b.free(tmp);
  b.free(dp);
  b.free(sv.p);
  // attn.add_(mask) passes dS on. matmul(q·sf, kᵀ·sf)'s BmmBackward0: dqs = dS·ks, then the grad of
  // kᵀ·sf (qsᵀ·dS, kept [Nk, D] here where torch holds its [D, Nk] view); the node releases dS and both
  // operands.
  const int dqs = b.alloc("grad query * sqrt(scale) (dS·ks)", f, {B, Hq, Nq, D});
  PlanOp& qop = b.op(PlanOpKind::GemmDQ, {ds, sv.ks}, dqs, gemm);
  qop.lda = Nk;
  qop.cols = Nk;
  const int dks = b.alloc("grad key^T * sqrt(scale) (dSᵀ·qs)", f, {B, Hq, Nk, D});
  b.op(PlanOpKind::GemmDK, {ds, sv.qs}, dks, gemm);
  b.free(ds);
  b.free(sv.qs);
  b.free(sv.ks);
  // key * sqrt(scale)'s MulBackward1 (created after the query's and the repeats: it runs first).
  const int dke = b.alloc(gqa ? "grad key (repeat_interleave) (* sqrt(scale) backward)" : "grad key_acc (* sqrt(scale) backward)",
                          f, {B, Hq, Nk, D});
  b.op(PlanOpKind::MulScalar, {dks}, dke, "vectorized_elementwise_kernel<4, MulFunctor<float>>").scalar =
      std::sqrt(s.effective_scale());
  b.free(dks);
  // repeat_interleave's backwards (expand's sum over the group), the value's first: it was created later.
  int dv32 = dv_h, dk32 = dke;
  if (gqa) {
    dv32 = b.alloc("grad value_acc (repeat_interleave backward: sum over the group)", f, {B, Hkv, Nk, Dv});
    b.op(PlanOpKind::SumGroups, {dv_h}, dv32, "reduce_kernel<512, 1, ReduceOp<sum>>");
    b.free(dv_h);
    dk32 = b.alloc("grad key_acc (repeat_interleave backward: sum over the group)", f, {B, Hkv, Nk, D});
    b.op(PlanOpKind::SumGroups, {dke}, dk32, "reduce_kernel<512, 1, ReduceOp<sum>>");
    b.free(dke);
  }
  // query * sqrt(scale)'s MulBackward1.
  const int dq32 = b.alloc("grad query_acc (* sqrt(scale) backward)", f, {B, Hq, Nq, D});
  b.op(PlanOpKind::MulScalar, {dqs}, dq32, "vectorized_elementwise_kernel<4, MulFunctor<float>>").scalar =
      std::sqrt(s.effective_scale());
  b.free(dqs);
  // The ToCopyBackward0s of .to(float), value's, key's, query's: each gradient rounded once.
  p.dv = dv32, p.dk = dk32, p.dq = dq32;
  if (sv.upcast) {
    auto narrow_to = [&](int src, const char* name, std::vector<int64_t> shape) {
      const int o = b.alloc(name, t, std::move(shape));
      b.op(PlanOpKind::Cast, {src}, o, narrow);
      b.free(src);
      return o;
    };
    p.dv = narrow_to(dv32, "value.grad (.to(dtype) backward)", {B, Hkv, Nk, Dv});
    p.dk = narrow_to(dk32, "key.grad (.to(dtype) backward)", {B, Hkv, Nk, D});
    p.dq = narrow_to(dq32, "query.grad (.to(dtype) backward)", {B, Hq, Nq, D});
  }
  return std::move(p);
}

}  // namespace attnscope
