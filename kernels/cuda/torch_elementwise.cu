// TensorIterator-style elementwise ops (kernels/cuda/torch_ops.h): operands coalesced, split below
// 2^31 bytes, then torch's vectorised, unrolled or generic strided loop.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <stdexcept>
#include <type_traits>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/mma_util.cuh"
#include "kernels/cuda/torch_ops.h"

namespace attnscope::cuda::torchlike {

int64_t View::numel() const {
  int64_t n = 1;
  for (int d = 0; d < ndim; ++d) n *= size[d];
  return n;
}

bool View::contiguous() const {
  int64_t s = 1;
  for (int d = ndim - 1; d >= 0; --d) {
    if (size[d] != 1 && stride[d] != s) return false;
    s *= size[d];
  }
  return true;
}

View View::dense(TType t, void* p, const std::vector<int64_t>& shape) {
  if (shape.size() > static_cast<size_t>(kMaxDims)) throw std::invalid_argument("torchlike::View: too many dims");
  View v;
  v.type = t;
  v.data = p;
  v.ndim = static_cast<int>(shape.size());
  int64_t s = 1;
  for (int d = v.ndim - 1; d >= 0; --d) {
    v.size[d] = shape[static_cast<size_t>(d)];
    v.stride[d] = s;
    s *= v.size[d];
  }
  return v;
}

View View::scalar(TType t, void* p, const View& like) {
  View v = like;
  v.type = t;
  v.data = p;
  for (int d = 0; d < v.ndim; ++d) v.stride[d] = 0;
  return v;
}

View broadcast_to(View v, const View& like) {
  if (v.ndim != like.ndim) throw std::invalid_argument("torchlike::broadcast_to: ranks differ");
  for (int d = 0; d < v.ndim; ++d)
    if (v.size[d] != like.size[d]) {
      if (v.size[d] != 1) throw std::invalid_argument("torchlike::broadcast_to: sizes do not broadcast");
      v.size[d] = like.size[d];
      v.stride[d] = 0;
    }
  return v;
}

namespace {

template <class T> __device__ __forceinline__ float ld(const T* p) { return to_float<T>(*p); }
template <> __device__ __forceinline__ float ld<bool>(const bool* p) { return *p ? 1.f : 0.f; }
template <class T> __device__ __forceinline__ void st(T* p, float x) { *p = from_float<T>(x); }
template <> __device__ __forceinline__ void st<bool>(bool* p, float x) { *p = x != 0.f; }

// ---- the iterator ------------------------------------------------------------------------------

constexpr int kMaxOps = 4;  // output + 3 inputs

struct Iter {
  int ndim = 0;  // row-major: dim 0 outermost
  int64_t size[kMaxDims] = {};
  int nops = 0;
  char* data[kMaxOps] = {};
  int elem[kMaxOps] = {};
  int64_t stride[kMaxOps][kMaxDims] = {};  // elements
  int64_t numel() const {
    int64_t n = 1;
    for (int d = 0; d < ndim; ++d) n *= size[d];
    return n;
  }
  bool contiguous() const {
    if (ndim > 1) return false;
    for (int k = 0; k < nops; ++k)
      if (ndim == 1 && stride[k][0] != 1) return false;
    return true;
  }
};

// Operands over the output's sizes; size-1 dims dropped, adjacent dims merged where every operand
// is contiguous across them (TensorIterator's coalesce_dimensions).
Iter make_iter(std::initializer_list<const View*> ops) {
  Iter it;
  const View& out = **ops.begin();
  for (const View* v : ops) {
    if (v->ndim != out.ndim) throw std::invalid_argument("torchlike: operands of different rank");
    for (int d = 0; d < out.ndim; ++d)
      if (v->size[d] != out.size[d]) throw std::invalid_argument("torchlike: operands of different sizes");
    it.data[it.nops] = static_cast<char*>(v->data);
    it.elem[it.nops] = ttype_bytes(v->type);
    ++it.nops;
  }
  // Inner to outer; merge dim d into the group outside it when contiguous for every operand.
  int64_t sz[kMaxDims];
  int64_t str[kMaxOps][kMaxDims];
  int n = 0;
  for (int d = out.ndim - 1; d >= 0; --d) {
    if (out.size[d] == 1) continue;
    bool merge = n > 0;
    int k = 0;
    for (const View* v : ops) {
      if (merge && v->stride[d] != str[k][n - 1] * sz[n - 1]) merge = false;
      ++k;
    }
    if (merge) {
      sz[n - 1] *= out.size[d];
      continue;
    }
    sz[n] = out.size[d];
    k = 0;
    for (const View* v : ops) str[k++][n] = v->stride[d];
    ++n;
  }
  it.ndim = n;
  for (int d = 0; d < n; ++d) {
    it.size[d] = sz[n - 1 - d];
    for (int k = 0; k < it.nops; ++k) it.stride[k][d] = str[k][n - 1 - d];
  }
  return it;
}

// torch's with_32bit_indexing: halve the dimension with the largest extent until every operand's
// largest byte offset (can_use_32bit_indexing's 1 + sum of (size - 1) x byte stride) and the element
// count fit in 31 bits; one launch per piece, in order. (A 2^31-byte fp32 tensor is one piece.)
template <class Launch>
void for_each_32bit(const Iter& it, const Launch& launch) {
  int64_t worst = 0;
  int dim = -1;
  for (int k = 0; k < it.nops; ++k) {
    int64_t span = 1;
    for (int d = 0; d < it.ndim; ++d) span += (it.size[d] - 1) * it.stride[k][d] * it.elem[k];
    worst = std::max(worst, span);
  }
  if (worst <= INT_MAX && it.numel() <= INT_MAX) {
    launch(it);
    return;
  }
  int64_t best = -1;
  for (int d = 0; d < it.ndim; ++d) {
    if (it.size[d] < 2) continue;
    int64_t ext = 0;
    for (int k = 0; k < it.nops; ++k) ext = std::max(ext, (it.size[d] - 1) * it.stride[k][d] * it.elem[k]);
    if (ext > best) {
      best = ext;
      dim = d;
    }
  }
  if (dim < 0) throw std::runtime_error("torchlike: a tensor cannot be split below 2^31 bytes");
  Iter a = it, b = it;
  const int64_t half = it.size[dim] / 2;
  a.size[dim] = half;
  b.size[dim] = it.size[dim] - half;
  for (int k = 0; k < it.nops; ++k) b.data[k] += half * it.stride[k][dim] * it.elem[k];
  for_each_32bit(a, launch);
  for_each_32bit(b, launch);
}

// n / d for 32-bit n by a multiply-high and a shift (what TensorIterator's IntDivider does).
struct FastDiv {
  uint32_t d = 1, m = 1, s = 0;
  FastDiv() = default;
  explicit FastDiv(uint32_t div) : d(div) {
    while ((uint64_t{1} << s) < d) ++s;
    m = static_cast<uint32_t>(((uint64_t{1} << 32) * ((uint64_t{1} << s) - d)) / d + 1);
  }
  __device__ __forceinline__ uint32_t div(uint32_t n) const { return (__umulhi(n, m) + n) >> s; }
};

template <int NOPS>
struct Offsets {
  int ndim = 0;
  FastDiv div[kMaxDims];              // innermost first
  uint32_t stride[kMaxDims][NOPS] = {};  // elements, innermost first
  __device__ __forceinline__ void get(uint32_t idx, uint32_t (&off)[NOPS]) const {
#pragma unroll
    for (int k = 0; k < NOPS; ++k) off[k] = 0;
#pragma unroll
    for (int d = 0; d < kMaxDims; ++d) {
      if (d == ndim) break;
      const uint32_t q = div[d].div(idx);
      const uint32_t r = idx - q * div[d].d;
      idx = q;
#pragma unroll
      for (int k = 0; k < NOPS; ++k) off[k] += r * stride[d][k];
    }
  }
};

template <int NOPS>
Offsets<NOPS> offsets_of(const Iter& it) {
  Offsets<NOPS> o;
  o.ndim = it.ndim;
  for (int d = 0; d < it.ndim; ++d) {
    const int src = it.ndim - 1 - d;
    o.div[d] = FastDiv(static_cast<uint32_t>(it.size[src]));
    for (int k = 0; k < NOPS; ++k) o.stride[d][k] = static_cast<uint32_t>(it.stride[k][src]);
  }
  return o;
}

// ---- the three loops ---------------------------------------------------------------------------
// An op: `Out`, `In...` types and `float f(float...)`; operands in order (out, in0, in1, in2).

template <class Op, int NIN>
struct Apply;
template <class Op>
struct Apply<Op, 0> {
  __device__ static void at(const Op& op, char* const* p, const uint32_t* off) {
    st(reinterpret_cast<typename Op::Out*>(p[0]) + off[0], op.f());
  }
};
template <class Op>
struct Apply<Op, 1> {
  __device__ static void at(const Op& op, char* const* p, const uint32_t* off) {
    st(reinterpret_cast<typename Op::Out*>(p[0]) + off[0], op.f(ld(reinterpret_cast<const typename Op::In0*>(p[1]) + off[1])));
  }
};
template <class Op>
struct Apply<Op, 2> {
  __device__ static void at(const Op& op, char* const* p, const uint32_t* off) {
    st(reinterpret_cast<typename Op::Out*>(p[0]) + off[0],
       op.f(ld(reinterpret_cast<const typename Op::In0*>(p[1]) + off[1]),
            ld(reinterpret_cast<const typename Op::In1*>(p[2]) + off[2])));
  }
};
template <class Op>
struct Apply<Op, 3> {
  __device__ static void at(const Op& op, char* const* p, const uint32_t* off) {
    st(reinterpret_cast<typename Op::Out*>(p[0]) + off[0],
       op.f(ld(reinterpret_cast<const typename Op::In0*>(p[1]) + off[1]),
            ld(reinterpret_cast<const typename Op::In1*>(p[2]) + off[2]),
            ld(reinterpret_cast<const typename Op::In2*>(p[3]) + off[3])));
  }
};

template <int NOPS>
struct Ptrs {
  char* p[NOPS];
};

// elementwise_kernel<128, VT>: VT elements a thread, 128 apart, offsets per dimension.
template <int NT, int VT, class Op>
__global__ void __launch_bounds__(NT, 4)
    generic_loop(int n, Ptrs<Op::kIn + 1> ptrs, Offsets<Op::kIn + 1> oc, Op op) {
  int64_t idx = int64_t(blockIdx.x) * NT * VT + threadIdx.x;  // n < 2^31; the last block may pass it
#pragma unroll
  for (int i = 0; i < VT; ++i) {
    if (idx < n) {
      uint32_t off[Op::kIn + 1];
      oc.get(static_cast<uint32_t>(idx), off);
      Apply<Op, Op::kIn>::at(op, ptrs.p, off);
      idx += NT;
    }
  }
}

// unrolled_elementwise_kernel: contiguous operands with a cast; 4 scalar elements a thread, 128 apart.
// Its loads and stores are torch's LoadWithCast / StoreWithCast: the element type is looked up at run
// time, element by element (c10::fetch_and_cast's switch), which is what makes torch's casting copies
// slower than its vectorised ones; a statically typed loop ran them 20% faster than torch on an H200.
enum DynType : uint8_t { kDynF32, kDynF16, kDynBF16, kDynBool };
template <class T> constexpr uint8_t dyn_type_of() {
  if constexpr (std::is_same_v<T, __half>) return kDynF16;
  else if constexpr (std::is_same_v<T, __nv_bfloat16>) return kDynBF16;
  else if constexpr (std::is_same_v<T, bool>) return kDynBool;
  else return kDynF32;
}
__device__ __forceinline__ float fetch_and_cast(const char* base, uint32_t i, uint8_t t) {
  switch (t) {
    case kDynF16: return ld(reinterpret_cast<const __half*>(base) + i);
    case kDynBF16: return ld(reinterpret_cast<const __nv_bfloat16*>(base) + i);
    case kDynBool: return ld(reinterpret_cast<const bool*>(base) + i);
    default: return ld(reinterpret_cast<const float*>(base) + i);
  }
}
__device__ __forceinline__ void cast_and_store(char* base, uint32_t i, uint8_t t, float x) {
  switch (t) {
    case kDynF16: st(reinterpret_cast<__half*>(base) + i, x); return;
    case kDynBF16: st(reinterpret_cast<__nv_bfloat16*>(base) + i, x); return;
    case kDynBool: st(reinterpret_cast<bool*>(base) + i, x); return;
    default: st(reinterpret_cast<float*>(base) + i, x); return;
  }
}

template <class Op>
__global__ void __launch_bounds__(128, 4) unrolled_loop(int n, Ptrs<Op::kIn + 1> ptrs, Op op, uint8_t out_type,
                                                        uint8_t in_type) {
  static_assert(Op::kIn == 1, "the casting loop serves unary ops (torch's copy with a cast)");
  int64_t idx = int64_t(blockIdx.x) * 512 + threadIdx.x;
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    if (idx < n) {
      const uint32_t k = static_cast<uint32_t>(idx);
      cast_and_store(ptrs.p[0], k, out_type, op.f(fetch_and_cast(ptrs.p[1], k, in_type)));
      idx += 128;
    }
  }
}

template <class T, int N>
struct alignas(sizeof(T) * N) Vec {
  T v[N];
};

// vectorized_elementwise_kernel<VEC>: one aligned vector of VEC elements per operand a thread.
template <int VEC, class Op>
__global__ void __launch_bounds__(128) vectorized_loop(int n, Ptrs<Op::kIn + 1> ptrs, Op op) {
  const int64_t base = (int64_t(blockIdx.x) * 128 + threadIdx.x) * VEC;
  if (base >= n) return;
  using Out = typename Op::Out;
  if (base + VEC <= n) {
    Vec<Out, VEC> o;
    if constexpr (Op::kIn == 0) {
#pragma unroll
      for (int j = 0; j < VEC; ++j) st(&o.v[j], op.f());
    } else {
      using In0 = typename Op::In0;
      const Vec<In0, VEC> a = reinterpret_cast<const Vec<In0, VEC>*>(ptrs.p[1])[base / VEC];
#pragma unroll
      for (int j = 0; j < VEC; ++j) st(&o.v[j], op.f(ld(&a.v[j])));
    }
    reinterpret_cast<Vec<Out, VEC>*>(ptrs.p[0])[base / VEC] = o;
    return;
  }
  for (int64_t i = base; i < n; ++i) {  // the tail, element by element
    uint32_t off[Op::kIn + 1];
#pragma unroll
    for (int k = 0; k <= Op::kIn; ++k) off[k] = static_cast<uint32_t>(i);
    Apply<Op, Op::kIn>::at(op, ptrs.p, off);
  }
}

template <class Op>
void run(const Iter& whole, const Op& op, bool widening_cast, int vec, cudaStream_t st) {
  constexpr int NOPS = Op::kIn + 1;
  for_each_32bit(whole, [&](const Iter& it) {
    const int64_t n64 = it.numel();
    if (n64 == 0) return;
    const int n = static_cast<int>(n64);
    Ptrs<NOPS> ptrs;
    for (int k = 0; k < NOPS; ++k) ptrs.p[k] = it.data[k];
    int max_elem = 0;
    for (int k = 0; k < NOPS; ++k) max_elem = std::max(max_elem, it.elem[k]);
    // A vector of `vec` elements per operand must be aligned to its own size (32 bytes for 8 fp32).
    bool aligned = true;
    for (int k = 0; k < NOPS; ++k)
      aligned &= reinterpret_cast<uintptr_t>(it.data[k]) % static_cast<uintptr_t>(it.elem[k] * vec) == 0;
    if constexpr (Op::kIn == 1) {
      if (it.contiguous() && widening_cast) {
        unrolled_loop<Op><<<(n + 511) / 512, 128, 0, st>>>(n, ptrs, op, dyn_type_of<typename Op::Out>(),
                                                           dyn_type_of<typename Op::In0>());
        ATTNSCOPE_LAUNCH_CHECK();
        return;
      }
    }
    if constexpr (Op::kIn <= 1) {
      if (it.contiguous() && aligned) {
        const int blocks = (n + 128 * vec - 1) / (128 * vec);
        if (vec == 8) vectorized_loop<8, Op><<<blocks, 128, 0, st>>>(n, ptrs, op);
        else if (vec == 4) vectorized_loop<4, Op><<<blocks, 128, 0, st>>>(n, ptrs, op);
        else vectorized_loop<2, Op><<<blocks, 128, 0, st>>>(n, ptrs, op);
        ATTNSCOPE_LAUNCH_CHECK();
        return;
      }
    }
    // 8 bytes of the widest operand a thread: <128, 4> for 16-bit tensors, <128, 2> for 32-bit.
    const Offsets<NOPS> oc = offsets_of<NOPS>(it);
    if (max_elem >= 4) generic_loop<128, 2, Op><<<(n + 255) / 256, 128, 0, st>>>(n, ptrs, oc, op);
    else generic_loop<128, 4, Op><<<(n + 511) / 512, 128, 0, st>>>(n, ptrs, oc, op);
    ATTNSCOPE_LAUNCH_CHECK();
  });
}

// ---- ops ---------------------------------------------------------------------------------------

template <class O, class I>
struct CopyOp {
  static constexpr int kIn = 1;
  using Out = O;
  using In0 = I;
  __device__ float f(float a) const { return a; }
};
// Same-type copies move bits: 16-bit values through float are exact, fp32 too.

// tensor * scalar and tensor / scalar (fp32 opmath, the scalar converted to fp32 first).
template <class T, bool kDivide>
struct ScalarOp {
  static constexpr int kIn = 1;
  using Out = T;
  using In0 = T;
  float x;
  __device__ float f(float a) const { return kDivide ? a / x : a * x; }
};
template <class T>
using MulOp = ScalarOp<T, false>;
template <class T>
using DivOp = ScalarOp<T, true>;
template <class T>
struct TanhOp {
  static constexpr int kIn = 1;
  using Out = T;
  using In0 = T;
  float unused;  // constructed like the scalar ops
  __device__ float f(float a) const { return tanhf(a); }
};
template <class O, class A, class B>
struct AddOp {
  static constexpr int kIn = 2;
  using Out = O;
  using In0 = A;
  using In1 = B;
  float alpha;
  __device__ float f(float a, float b) const { return a + alpha * b; }
};
// A binary op on one float type, fp32 opmath: out = F::apply(a, b).
template <class T, class F>
struct SameTypeBinaryOp {
  static constexpr int kIn = 2;
  using Out = T;
  using In0 = T;
  using In1 = T;
  float unused;
  __device__ float f(float a, float b) const { return F::apply(a, b); }
};
// tanh_backward(grad, t) = grad * (1 - t²) (BinaryMiscBackwardOpsKernels.cu).
struct TanhBackwardFn {
  __device__ static float apply(float g, float t) { return g * (1.f - t * t); }
};
// a * b (BinaryFunctor<MulFunctor>): softmax backward's grad * output.
struct MulFn {
  __device__ static float apply(float a, float b) { return a * b; }
};
template <class T>
using TanhBackwardOp = SameTypeBinaryOp<T, TanhBackwardFn>;
template <class T>
using MulTensorOp = SameTypeBinaryOp<T, MulFn>;
template <class T>
struct FillOp {
  static constexpr int kIn = 0;
  using Out = T;
  float x;
  __device__ float f() const { return x; }
};
template <class T>
struct WhereOp {
  static constexpr int kIn = 3;
  using Out = T;
  using In0 = bool;
  using In1 = T;
  using In2 = T;
  __device__ float f(float c, float t, float e) const { return c != 0.f ? t : e; }
};
struct IsNegInfOp {
  static constexpr int kIn = 1;
  using Out = bool;
  using In0 = float;
  __device__ float f(float a) const { return a == -INFINITY ? 1.f : 0.f; }
};

// A same-type unary op (Op<T>{x}) on 16/32-bit floats: torch's vectorised loop, 16-byte vectors.
template <template <class> class Op>
void unary(const View& o, const View& i, float x, cudaStream_t st) {
  const Iter it = make_iter({&o, &i});
  switch (o.type) {
    case TType::F32: run(it, Op<float>{x}, false, 4, st); return;
    case TType::F16: run(it, Op<__half>{x}, false, 8, st); return;
    case TType::BF16: run(it, Op<__nv_bfloat16>{x}, false, 8, st); return;
    default: throw std::invalid_argument(std::string("torchlike: unsupported type ") + ttype_name(o.type));
  }
}

}  // namespace

void copy(const View& out, const View& in, cudaStream_t st) {
  const Iter it = make_iter({&out, &in});
  const TType o = out.type, i = in.type;
  if (o == i) {
    // Bits: a 16-bit copy as bf16 (exact through fp32), 32-bit as fp32.
    if (ttype_bytes(o) == 2) run(it, CopyOp<__nv_bfloat16, __nv_bfloat16>{}, false, 8, st);
    else if (ttype_bytes(o) == 4) run(it, CopyOp<float, float>{}, false, 4, st);
    else throw std::invalid_argument("torchlike::copy: unsupported type");
    return;
  }
  // .to(float32) of fp16/bf16: torch's unrolled loop; fp32 -> fp16/bf16: its vectorised one.
  if (o == TType::F32 && i == TType::BF16) run(it, CopyOp<float, __nv_bfloat16>{}, true, 4, st);
  else if (o == TType::F32 && i == TType::F16) run(it, CopyOp<float, __half>{}, true, 4, st);
  else if (o == TType::BF16 && i == TType::F32) run(it, CopyOp<__nv_bfloat16, float>{}, false, 8, st);
  else if (o == TType::F16 && i == TType::F32) run(it, CopyOp<__half, float>{}, false, 8, st);
  else throw std::invalid_argument(std::string("torchlike::copy: ") + ttype_name(i) + " -> " + ttype_name(o));
}

void mul_scalar(const View& out, const View& in, float x, cudaStream_t st) { unary<MulOp>(out, in, x, st); }
void div_scalar(const View& out, const View& in, float x, cudaStream_t st) { unary<DivOp>(out, in, x, st); }
void tanh(const View& out, const View& in, cudaStream_t st) { unary<TanhOp>(out, in, 0.f, st); }

// A binary op whose operands and result share one 16/32-bit float type (8 / 4 elements a vector).
template <template <class> class Op>
void binary_same(const char* name, const View& out, const View& a, const View& b, cudaStream_t st) {
  if (a.type != out.type || b.type != out.type)
    throw std::invalid_argument(std::string("torchlike::") + name + ": mixed types");
  const Iter it = make_iter({&out, &a, &b});
  switch (out.type) {
    case TType::F32: run(it, Op<float>{0.f}, false, 4, st); return;
    case TType::F16: run(it, Op<__half>{0.f}, false, 8, st); return;
    case TType::BF16: run(it, Op<__nv_bfloat16>{0.f}, false, 8, st); return;
    default: throw std::invalid_argument(std::string("torchlike::") + name + ": " + ttype_name(out.type));
  }
}

void tanh_backward(const View& out, const View& g, const View& t, cudaStream_t st) {
  binary_same<TanhBackwardOp>("tanh_backward", out, g, t, st);
}
void mul(const View& out, const View& a, const View& b, cudaStream_t st) { binary_same<MulTensorOp>("mul", out, a, b, st); }

void add(const View& out, const View& a, const View& b, float alpha, cudaStream_t st) {
  const Iter it = make_iter({&out, &a, &b});
  if (out.type != a.type) throw std::invalid_argument("torchlike::add: out and a differ in type");
  switch (out.type) {
    case TType::BF16:
      if (b.type != TType::BF16) break;
      run(it, AddOp<__nv_bfloat16, __nv_bfloat16, __nv_bfloat16>{alpha}, false, 8, st);
      return;
    case TType::F16:
      if (b.type != TType::F16) break;
      run(it, AddOp<__half, __half, __half>{alpha}, false, 8, st);
      return;
    case TType::F32:
      if (b.type == TType::F32) run(it, AddOp<float, float, float>{alpha}, false, 4, st);
      else if (b.type == TType::BF16) run(it, AddOp<float, float, __nv_bfloat16>{alpha}, false, 4, st);
      else if (b.type == TType::F16) run(it, AddOp<float, float, __half>{alpha}, false, 4, st);
      else break;
      return;
    default: break;
  }
  throw std::invalid_argument(std::string("torchlike::add: ") + ttype_name(out.type) + " + " + ttype_name(b.type));
}

void fill(const View& out, double value, cudaStream_t st) {
  const Iter it = make_iter({&out});
  const float x = static_cast<float>(value);
  switch (out.type) {
    case TType::Bool: run(it, FillOp<bool>{x}, false, 4, st); return;
    case TType::F32: run(it, FillOp<float>{x}, false, 4, st); return;
    case TType::F16: run(it, FillOp<__half>{x}, false, 4, st); return;
    case TType::BF16: run(it, FillOp<__nv_bfloat16>{x}, false, 4, st); return;
    default: throw std::invalid_argument("torchlike::fill: unsupported type");
  }
}

void where_scalars(const View& out, const View& cond, const void* t, const void* f, cudaStream_t st) {
  const View tv = View::scalar(out.type, const_cast<void*>(t), out);
  const View fv = View::scalar(out.type, const_cast<void*>(f), out);
  const Iter it = make_iter({&out, &cond, &tv, &fv});
  switch (out.type) {
    case TType::F32: run(it, WhereOp<float>{}, false, 4, st); return;
    case TType::F16: run(it, WhereOp<__half>{}, false, 4, st); return;
    case TType::BF16: run(it, WhereOp<__nv_bfloat16>{}, false, 4, st); return;
    default: throw std::invalid_argument("torchlike::where_scalars: unsupported type");
  }
}

void isneginf(const View& out, const View& in, cudaStream_t st) {
  if (out.type != TType::Bool || in.type != TType::F32) throw std::invalid_argument("torchlike::isneginf: fp32 -> bool");
  run(make_iter({&out, &in}), IsNegInfOp{}, false, 4, st);
}

void where_rows_zero(void* inout, const void* cond, const void* zero, int64_t rows, int64_t cols, cudaStream_t st) {
  // at::where(masked_rows [rows, 1], zero [], out [rows, cols]) into out: the generic loop.
  const View o = View::dense(TType::F32, inout, {rows, cols});
  const View c = broadcast_to(View::dense(TType::Bool, const_cast<void*>(cond), {rows, 1}), o);
  const View z = View::scalar(TType::F32, const_cast<void*>(zero), o);
  run(make_iter({&o, &c, &z, &o}), WhereOp<float>{}, false, 4, st);
}

namespace {
// triu_tril_kernel<bool, ..., 8>: 8 elements a thread along the row.
__global__ void tril_kernel(bool* out, const bool* in, int64_t rows, int64_t cols) {
  const int64_t start = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) * 8;
  for (int64_t k = start; k < start + 8 && k < rows * cols; ++k) {
    const int64_t i = k / cols, j = k - i * cols;
    out[k] = j <= i ? in[k] : false;
  }
}
}  // namespace

void tril(void* out, const void* in, int64_t rows, int64_t cols, cudaStream_t st) {
  const int64_t n = rows * cols, threads = (n + 7) / 8;
  tril_kernel<<<static_cast<unsigned>((threads + 127) / 128), 128, 0, st>>>(static_cast<bool*>(out),
                                                                           static_cast<const bool*>(in), rows, cols);
  ATTNSCOPE_LAUNCH_CHECK();
}

}  // namespace attnscope::cuda::torchlike
