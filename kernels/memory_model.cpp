#include "kernels/memory_model.h"

#include <algorithm>

#include "kernels/format.h"
#include "kernels/implementation.h"
#include "kernels/torch_plan.h"

namespace attnscope {

namespace {

int64_t elem(DType d) { return d == DType::F32 ? 4 : 2; }

// Tensors alive at the plan's peak (the first time it is reached), largest first.
std::vector<std::pair<std::string, int64_t>> live_at_peak(const TorchPlan& p) {
  std::vector<int> live, best;
  int64_t cur = 0, peak = -1;
  for (const PlanEvent& e : p.events) {
    if (e.kind == PlanEvent::Kind::Op) continue;
    const int64_t b = torch_alloc_bytes(p.tensors[static_cast<size_t>(e.index)].bytes());
    if (e.kind == PlanEvent::Kind::Alloc) {
      live.push_back(e.index);
      cur += b;
      if (cur > peak) {
        peak = cur;
        best = live;
      }
    } else {
      live.erase(std::find(live.begin(), live.end(), e.index));
      cur -= b;
    }
  }
  std::vector<std::pair<std::string, int64_t>> r;
  for (int id : best) {
    const PlanTensor& t = p.tensors[static_cast<size_t>(id)];
    r.push_back({t.name + " " + ttype_name(t.type), torch_alloc_bytes(t.bytes())});
  }
  std::stable_sort(r.begin(), r.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  return r;
}

MemoryEstimate from_plan(const std::string& impl, const TorchPlan& p) {
  MemoryEstimate m;
  m.impl = impl;
  m.basis = p.what;
  m.peak_bytes = p.peak_bytes();
  m.at_peak = live_at_peak(p);
  return m;
}

}  // namespace

namespace {

// Packed sequences through eager or SDPA: what transformers runs without remove-padding, the padded
// batch [n, max_len] with a padding mask (the fused varlen kernels keep the packed [1, total]).
LayerSpec padded_equivalent(const LayerSpec& s) {
  LayerSpec p = s;
  p.cu_seqlens.clear();
  p.batch = s.packed_count();
  p.seq_q = p.seq_k = s.packed_max_len();
  p.mask = MaskKind::Padding;
  p.kv_lengths.clear();
  for (int i = 0; i < s.packed_count(); ++i) p.kv_lengths.push_back(s.cu_seqlens[i + 1] - s.cu_seqlens[i]);
  return p;
}
bool runs_padded(const std::string& impl, const LayerSpec& s) {
  return s.packed() && (impl == "eager" || impl.rfind("sdpa", 0) == 0 || impl == "reference");
}

}  // namespace

MemoryEstimate estimate_memory(const std::string& impl, const LayerSpec& s) {
  if (runs_padded(impl, s)) return estimate_memory(impl, padded_equivalent(s));
  const int64_t e = elem(s.dtype);
  const int64_t rows = int64_t{s.batch} * s.heads_q * s.seq_q;
  const int64_t out = torch_alloc_bytes(rows * s.head_dim_v * e);
  const int64_t lse = torch_alloc_bytes(rows * 4);
  MemoryEstimate m;
  if (impl == "eager") {
    m = from_plan(impl, hf_eager_plan(s));
    if (eager_mask_input(s) != MaskInput::None) m.mask_bytes = int64_t{s.batch} * s.seq_q * s.seq_k * e;
  } else if (impl == "sdpa:math") {
    m = from_plan(impl, torch_math_plan(s));
    const MaskInput mi = sdpa_mask_input(s);
    if (mi == MaskInput::Bool4D || mi == MaskInput::Additive4D)
      m.mask_bytes = int64_t{s.batch} * s.seq_q * s.seq_k * (mi == MaskInput::Bool4D ? 1 : e);
  } else if (impl == "sdpa:cudnn") {
    m.impl = impl;
    m.basis = "cuDNN fused flash attention (graph API): output and the plan's workspace";
    m.peak_bytes = out + torch_alloc_bytes(kCudnnFpropWorkspace);
    m.at_peak = {{"output", out}, {"workspace", torch_alloc_bytes(kCudnnFpropWorkspace)}};
    if (sdpa_mask_input(s) == MaskInput::Bool4D) {
      // scaled_dot_product_attention turns a boolean mask into a model-dtype bias inside the call.
      const int64_t bias = torch_alloc_bytes(int64_t{s.batch} * s.seq_q * s.seq_k * e);
      m.peak_bytes += bias;
      m.at_peak.push_back({"attn_mask as a bias", bias});
    }
  } else {
    // flash2, sink, sdpa, sdpa:flash, sdpa:efficient: the output and the fp32 log-sum-exp.
    m.impl = impl;
    m.basis = "fused kernel: output and the fp32 log-sum-exp per row";
    m.peak_bytes = out + lse;
    m.at_peak = {{"output", out}, {"lse (fp32)", lse}};
  }
  m.input_bytes = (int64_t{s.batch} * s.heads_q * s.seq_q * s.head_dim +
                   int64_t{s.batch} * s.heads_kv * s.seq_k * (s.head_dim + s.head_dim_v)) * e +
                  (s.sinks ? s.heads_q * e : 0);
  if (impl.rfind("sdpa", 0) == 0 && impl != "sdpa:math") {
    // The fused backends read the same boolean / additive mask transformers builds for SDPA.
    const MaskInput mi = sdpa_mask_input(s);
    if (mi == MaskInput::Bool4D || mi == MaskInput::Additive4D)
      m.mask_bytes = int64_t{s.batch} * s.seq_q * s.seq_k * (mi == MaskInput::Bool4D ? 1 : e);
  }
  return m;
}

int64_t model_bytes(const std::string& impl, const LayerSpec& s) { return estimate_memory(impl, s).peak_bytes; }

// The backward pass (issue 12's model): what autograd / FA2's backward hold beside the gradients.
int64_t model_bytes_backward(const std::string& impl, const LayerSpec& s) {
  if (runs_padded(impl, s) && impl != "reference") return model_bytes_backward(impl, padded_equivalent(s));
  const int64_t e = elem(s.dtype);
  const int64_t rows = int64_t{s.batch} * s.heads_q * s.seq_q;
  // The gradients themselves: dQ, dK, dV (dsinks is Hq values).
  const int64_t grads = rows * s.head_dim * e + int64_t{s.batch} * s.heads_kv * s.seq_k * (s.head_dim + s.head_dim_v) * e;
  // GQA: per query head dK/dV before the group sum (repeat_kv's backward, FA2's dk_expanded).
  const int64_t expanded =
      s.heads_q != s.heads_kv ? int64_t{s.batch} * s.heads_q * s.seq_k * (s.head_dim + s.head_dim_v) * e : 0;
  const std::string base = impl.substr(0, impl.find(':'));
  // eager: autograd's own plan, allocation by allocation (saved tensors counted from the start).
  if (impl.rfind("eager", 0) == 0) return hf_eager_backward_plan(s).backward_peak_bytes();
  if (impl == "sdpa:math") return torch_math_backward_plan(s).backward_peak_bytes();
  if (impl == "reference") {
    // Analytic (no plan): autograd through HF eager with an fp32 softmax at the softmax backward: the
    // saved softmax output (fp32) and P in the model dtype, dP = dO·Vᵀ in the model dtype, and the
    // softmax's input gradient (fp32 before the cast back); the repeat_kv copies of K and V.
    const int64_t scores = rows * (s.seq_k + (s.sinks ? 1 : 0));
    const int64_t rep =
        s.heads_q != s.heads_kv ? int64_t{s.batch} * s.heads_q * s.seq_k * (s.head_dim + s.head_dim_v) * e : 0;
    return scores * (4 + e + e + 4) + rep + grads + expanded;
  }
  // cuDNN's backward: dQ, dK, dV (empty_like, per KV head: cuDNN sums the groups itself), the workspace
  // the frontend asks for (its sdpa_backward node's get_fe_workspace_size_node: dQ_accum fp32
  // [B, Hq, Nq, D] and softmax_sum fp32 [B, Hq, Nq], as FA2's dq_accum and softmax_d) and, with GQA,
  // the graph's full-head dK and dV ([B, Hq, Nk, D] in the input dtype before the "red_dK_head" /
  // "red_dV_head" reductions): virtual in dense layouts, so in the engine's workspace. Measured on
  // the H200 to the MiB: 169 of gpt-oss n4096 (105 without them), 706 of llama-3-8b 16k (450).
  if (impl == "sdpa:cudnn") return rows * s.head_dim * 4 + rows * 4 + grads + expanded;
  // FA2's backward: dq_accum in fp32 [B, Hq, Nq, D], softmax_d = rowsum(dO ∘ O) in fp32.
  return rows * s.head_dim * 4 + rows * 4 + grads + expanded;
}

void memory_verdict(Verdict& v, const std::string& impl, const LayerSpec& s, const DeviceInfo& dev) {
  if (!dev.is_gpu() || dev.mem_total <= 0) return;
  const MemoryEstimate m = estimate_memory(impl, s);
  const int64_t need = m.peak_bytes + m.mask_bytes;
  const int64_t have = dev.named ? dev.mem_total : (dev.mem_free > 0 ? dev.mem_free : dev.mem_total);
  if (need <= have) return;
  std::string what = m.peak_bytes == need ? "" : " (" + format_bytes(m.mask_bytes) + " of it the attention mask)";
  v.add(Severity::Error, impl.substr(0, impl.find(':')) + ".oom",
        "CUDA out of memory: " + m.basis + " needs " + format_bytes(need) + " beyond q, k and v" + what +
            ", the device has " + format_bytes(have) + (dev.named ? " in all" : " free"),
        "attnscope memory model");
}

int full_context(const LayerSpec& s) { return s.max_context > 0 ? s.max_context : s.seq_k; }

namespace {

// `f.bytes` against `here` and the table's GPUs: the largest one it exceeds, the smallest one it fits,
// and the sentence "<what> at <seq> tokens needs <bytes>: ...".
void place_on_gpus(ContextFit* f, const std::string& what, const DeviceInfo* here) {
  const int64_t need = f->bytes;
  // "an NVIDIA ...", "a Tesla T4", "a GeForce ...": the article goes by the first letter's sound.
  auto named = [](const DeviceInfo& d) {
    const bool vowel = !d.name.empty() && std::string("AEFHILMNORSX").find(d.name[0]) != std::string::npos;
    return std::string(vowel ? "an " : "a ") + d.name + " (" + format_bytes(d.mem_total) + ")";
  };
  // The table's GPUs: the largest one it exceeds and the smallest one it fits (ties: the later,
  // newer entry, so an 80 GiB exceeded names the H100 rather than the A100).
  std::optional<DeviceInfo> largest;
  for (const auto& key : named_gpu_list()) {
    const auto g = named_gpu(key);
    if (!g || g->mem_total <= 0) continue;
    if (!largest || g->mem_total >= largest->mem_total) largest = *g;
    if (need > g->mem_total) {
      if (!f->exceeded || g->mem_total >= f->exceeded->mem_total) f->exceeded = *g;
    } else if (!f->fits || g->mem_total < f->fits->mem_total) {
      f->fits = *g;
    }
  }
  std::vector<std::string> parts;
  if (here && here->is_gpu() && here->mem_total > 0)
    parts.push_back((need > here->mem_total ? "out of memory on this GPU, " : "fits this GPU, ") + here->name + " (" +
                    format_bytes(here->mem_total) + ")");
  if (f->exceeded) parts.push_back("out of memory on " + named(*f->exceeded));
  if (f->fits) parts.push_back("fits " + named(*f->fits));
  else if (largest) parts.push_back("more than any GPU attnscope knows (the largest: " + named(*largest) + ")");
  f->sentence = what + " at " + std::to_string(f->seq) + " tokens needs " + format_bytes(need);
  for (size_t i = 0; i < parts.size(); ++i) f->sentence += (i == 0 ? ": " : "; ") + parts[i];
}

}  // namespace

ContextFit fit_at_context(const std::string& impl, const LayerSpec& s, int seq, const DeviceInfo* here) {
  ContextFit f;
  f.seq = seq;
  LayerSpec t = s;
  t.seq_q = t.seq_k = seq;
  f.need = estimate_memory(impl, t);
  f.bytes = f.need.total();
  place_on_gpus(&f, impl, here);
  return f;
}

int64_t training_bytes(const std::string& impl, const LayerSpec& s) {
  const MemoryEstimate m = estimate_memory(impl, s);
  const int64_t out = torch_alloc_bytes(int64_t{s.batch} * s.heads_q * s.seq_q * s.head_dim_v * elem(s.dtype));
  return m.input_bytes + m.mask_bytes + 2 * out + model_bytes_backward(impl, s);  // 2 x: O and dO
}

ContextFit fit_backward_at_context(const std::string& impl, const LayerSpec& s, int seq, const DeviceInfo* here) {
  ContextFit f;
  f.seq = seq;
  f.backward = true;
  LayerSpec t = s;
  t.seq_q = t.seq_k = seq;
  f.need = estimate_memory(impl, t);
  f.bytes = training_bytes(impl, t);
  place_on_gpus(&f, impl + " backward", here);
  return f;
}

}  // namespace attnscope
