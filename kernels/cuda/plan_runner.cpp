#include "kernels/cuda/plan_runner.h"

#include <algorithm>
#include <iterator>
#include <stdexcept>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/torch_ops.h"

namespace attnscope::cuda {

namespace tl = torchlike;

namespace {

int64_t rows_of(const PlanTensor& t) { return t.numel() / std::max<int64_t>(1, t.shape.back()); }

// `b` (a plan tensor's shape, lower rank allowed) seen with `like`'s sizes.
tl::View expanded(const PlanTensor& t, void* p, const tl::View& like) {
  std::vector<int64_t> shape(static_cast<size_t>(like.ndim) - t.shape.size(), 1);
  shape.insert(shape.end(), t.shape.begin(), t.shape.end());
  return tl::broadcast_to(tl::View::dense(t.type, p, shape), like);
}

cudaDataType_t cuda_type(TType t) {
  switch (t) {
    case TType::F32: return CUDA_R_32F;
    case TType::F16: return CUDA_R_16F;
    case TType::BF16: return CUDA_R_16BF;
    default: throw std::invalid_argument(std::string("GEMM on ") + ttype_name(t));
  }
}

// torch's bmm: C[b] (m x n, column-major) = op(A[b]) op(B[b]); fp32 through cublasSgemm (no TF32,
// torch's default), fp16/bf16 through cublasGemmEx with fp32 accumulation.
void bgemm(cublasHandle_t h, TType t, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const void* A,
           int lda, long long sa, const void* B, int ldb, long long sb, void* C, int ldc, long long sc, int batch) {
  const float one = 1.0f, zero = 0.0f;
  if (t == TType::F32) {
    ATTNSCOPE_CUBLAS_CHECK(cublasSgemmStridedBatched(h, ta, tb, m, n, k, &one, static_cast<const float*>(A), lda, sa,
                                                     static_cast<const float*>(B), ldb, sb, &zero,
                                                     static_cast<float*>(C), ldc, sc, batch));
    return;
  }
  const cudaDataType_t ct = cuda_type(t);
  ATTNSCOPE_CUBLAS_CHECK(cublasGemmStridedBatchedEx(h, ta, tb, m, n, k, &one, A, ct, lda, sa, B, ct, ldb, sb, &zero, C,
                                                    ct, ldc, sc, batch, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

}  // namespace

PlanRunner::PlanRunner(TorchPlan plan, int pin_at) : plan_(std::move(plan)) {
  pool_bytes_ = static_cast<size_t>(std::max<int64_t>(512, plan_.place(&offset_, pin_at)));
  bound_.assign(plan_.tensors.size(), nullptr);
}

void PlanRunner::bind(int tensor, const void* p) {
  if (tensor < 0) return;
  if (!plan_.tensors[static_cast<size_t>(tensor)].external)
    throw std::logic_error("PlanRunner::bind: " + plan_.tensors[static_cast<size_t>(tensor)].name + " is not an input");
  bound_[static_cast<size_t>(tensor)] = p;
}

void* PlanRunner::ptr(int tensor) const {
  const size_t i = static_cast<size_t>(tensor);
  if (plan_.tensors[i].external) {
    if (!bound_[i]) throw std::logic_error("PlanRunner: input " + plan_.tensors[i].name + " not bound");
    return const_cast<void*>(bound_[i]);
  }
  if (!pool_) throw std::logic_error("PlanRunner: no pool");
  return pool_ + offset_[i];
}

int PlanRunner::last_writer(int tensor) const {
  for (int i = static_cast<int>(plan_.ops.size()) - 1; i >= 0; --i)
    if (plan_.ops[static_cast<size_t>(i)].out == tensor) return i;
  return -1;
}

void PlanRunner::run(const PlanEnv& env, const std::function<void(const PlanEvent&)>& after, int begin,
                     int end) const {
  const int n = static_cast<int>(plan_.events.size());
  const int last = end < 0 ? n : std::min(end, n);
  for (int i = std::max(0, begin); i < last; ++i) {
    const PlanEvent& e = plan_.events[static_cast<size_t>(i)];
    if (e.kind == PlanEvent::Kind::Op) launch(plan_.ops[static_cast<size_t>(e.index)], env);  // memory is in place
    if (after) after(e);
  }
}

void PlanRunner::launch(const PlanOp& op, const PlanEnv& env) const {
  const cudaStream_t st = env.stream;
  const PlanTensor& out = plan_.tensors[static_cast<size_t>(op.out)];
  auto in = [&](int k) -> const PlanTensor& { return plan_.tensors[static_cast<size_t>(op.in[static_cast<size_t>(k)])]; };
  auto in_ptr = [&](int k) { return ptr(op.in[static_cast<size_t>(k)]); };
  const tl::View o = tl::View::dense(out.type, ptr(op.out), out.shape);
  switch (op.kind) {
    case PlanOpKind::RepeatHeads: {
      // expand(B, Hkv, G, N, D).reshape(B, Hq, N, D): a copy from a view with a 0 stride over G.
      const PlanTensor& src = in(0);
      const int64_t B = src.shape[0], Hkv = src.shape[1], N = src.shape[2], D = src.shape[3];
      const int64_t G = out.shape[1] / Hkv;
      const tl::View o5 = tl::View::dense(out.type, ptr(op.out), {B, Hkv, G, N, D});
      tl::View i5 = o5;
      i5.type = src.type;
      i5.data = in_ptr(0);
      const int64_t s[5] = {Hkv * N * D, N * D, 0, D, 1};
      std::copy(std::begin(s), std::end(s), i5.stride);
      tl::copy(o5, i5, st);
      return;
    }
    case PlanOpKind::Cast:
      tl::copy(o, tl::View::dense(in(0).type, in_ptr(0), in(0).shape), st);
      return;
    case PlanOpKind::MulScalar: {
      // A column slice of a wider gradient (cat's backward) is read through its row stride.
      tl::View i = tl::View::dense(in(0).type, in_ptr(0), in(0).shape);
      if (op.lda > 0) {
        if (in(0).shape.back() != op.lda || i.ndim != o.ndim) throw std::logic_error("PlanRunner: bad slice");
        i.size[i.ndim - 1] = out.shape.back();
      }
      tl::mul_scalar(o, i, static_cast<float>(op.scalar), st);
      return;
    }
    case PlanOpKind::DivScalar:
      tl::div_scalar(o, tl::View::dense(in(0).type, in_ptr(0), in(0).shape), static_cast<float>(op.scalar), st);
      return;
    case PlanOpKind::Tanh:
      tl::tanh(o, tl::View::dense(in(0).type, in_ptr(0), in(0).shape), st);
      return;
    case PlanOpKind::AddBroadcast:
      tl::add(o, tl::View::dense(in(0).type, in_ptr(0), in(0).shape), expanded(in(1), in_ptr(1), o),
              static_cast<float>(op.scalar), st);
      return;
    case PlanOpKind::Softmax:
      tl::softmax(ptr(op.out), out.type, in_ptr(0), in(0).type, rows_of(in(0)), in(0).shape.back(), st);
      return;
    case PlanOpKind::GemmDP:  // dO·Vᵀ: the same shape of product
    case PlanOpKind::GemmQK: {
      // out[b, h] (Nq x Nk) = a[b, h] (Nq x D) · b[b, h]ᵀ: column-major Cᵀ = op_T(K) · Q.
      const PlanTensor& q = in(0);
      const int64_t BH = q.shape[0] * q.shape[1], Nq = q.shape[2], D = q.shape[3], Nk = in(1).shape[2];
      bgemm(env.cublas, q.type, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(Nk), static_cast<int>(Nq),
            static_cast<int>(D), in_ptr(1), static_cast<int>(D), Nk * D, in_ptr(0), static_cast<int>(D), Nq * D,
            ptr(op.out), static_cast<int>(Nk), Nq * Nk, static_cast<int>(BH));
      return;
    }
    case PlanOpKind::GemmDQ:  // dS·K: the same shape of product (lda = Nk)
    case PlanOpKind::GemmPV: {
      // out[b, h] (Nq x Dv) = a[b, h][:, :cols] (rows lda apart) · v[b, h]: Oᵀ = V · Pᵀ column-major.
      const PlanTensor& v = in(1);
      const int64_t BH = out.shape[0] * out.shape[1], Nq = out.shape[2], Dv = out.shape[3];
      bgemm(env.cublas, v.type, CUBLAS_OP_N, CUBLAS_OP_N, static_cast<int>(Dv), static_cast<int>(Nq),
            static_cast<int>(op.cols), in_ptr(1), static_cast<int>(Dv), v.shape[2] * Dv, in_ptr(0),
            static_cast<int>(op.lda), Nq * op.lda, ptr(op.out), static_cast<int>(Dv), Nq * Dv, static_cast<int>(BH));
      return;
    }
    case PlanOpKind::GemmDV:
    case PlanOpKind::GemmDK: {
      // out[b, h] (Nk x W) = a[b, h][:, :cols]ᵀ (rows lda apart) · b[b, h] (Nq x W): column-major
      // outᵀ = bᵀ · a, with a's rows read as columns (op T).
      const PlanTensor& a = in(0);
      const PlanTensor& bm = in(1);
      const int64_t BH = out.shape[0] * out.shape[1], Nk = out.shape[2], W = out.shape[3], Nq = bm.shape[2];
      const int64_t lda = op.lda > 0 ? op.lda : a.shape.back();
      if (bm.shape[3] != W || a.shape[2] != Nq) throw std::logic_error("PlanRunner: GEMM shapes disagree");
      bgemm(env.cublas, bm.type, CUBLAS_OP_N, CUBLAS_OP_T, static_cast<int>(W), static_cast<int>(Nk),
            static_cast<int>(Nq), in_ptr(1), static_cast<int>(W), Nq * W, in_ptr(0), static_cast<int>(lda), Nq * lda,
            ptr(op.out), static_cast<int>(W), Nk * W, static_cast<int>(BH));
      return;
    }
    case PlanOpKind::Mul:
      tl::mul(o, tl::View::dense(in(0).type, in_ptr(0), in(0).shape), tl::View::dense(in(1).type, in_ptr(1), in(1).shape),
              st);
      return;
    case PlanOpKind::SoftmaxBackward:
      if (in(0).numel() != out.numel() || in(1).numel() != out.numel())
        throw std::logic_error("PlanRunner: softmax backward shapes disagree");
      tl::softmax_backward(ptr(op.out), out.type, in_ptr(0), in(0).type, in_ptr(1), in(1).type, rows_of(out),
                           out.shape.back(), st);
      return;
    case PlanOpKind::TanhBackward:
      tl::tanh_backward(o, tl::View::dense(in(0).type, in_ptr(0), in(0).shape),
                        tl::View::dense(in(1).type, in_ptr(1), in(1).shape), st);
      return;
    case PlanOpKind::SumGroups: {
      const PlanTensor& src = in(0);
      const int64_t B = out.shape[0], Hkv = out.shape[1], G = src.shape[1] / Hkv;
      const int64_t inner = out.numel() / (B * Hkv);
      if (src.numel() != out.numel() * G || src.type != out.type) throw std::logic_error("PlanRunner: bad group sum");
      tl::sum_groups(ptr(op.out), in_ptr(0), out.type, B, Hkv, G, inner, st);
      return;
    }
    case PlanOpKind::SliceBackward: {
      // slice_backward: zeros, then the gradient copied into the first `cols` columns.
      const int64_t e = ttype_bytes(out.type), rows = rows_of(out);
      if (in(0).shape.back() != op.cols || rows_of(in(0)) != rows) throw std::logic_error("PlanRunner: bad slice backward");
      tl::fill(o, 0.0, st);
      ATTNSCOPE_CUDA_CHECK(cudaMemcpy2DAsync(ptr(op.out), static_cast<size_t>(out.shape.back() * e), in_ptr(0),
                                             static_cast<size_t>(op.cols * e), static_cast<size_t>(op.cols * e),
                                             static_cast<size_t>(rows), cudaMemcpyDeviceToDevice, st));
      return;
    }
    case PlanOpKind::RowSum:
      tl::row_sum(ptr(op.out), in_ptr(0), in(0).type, rows_of(in(0)), in(0).shape.back(), st);
      return;
    case PlanOpKind::RowArgMax:
      if (out.type != TType::I64) throw std::logic_error("PlanRunner: argmax into " + out.name);
      tl::row_argmax(static_cast<int64_t*>(ptr(op.out)), in_ptr(0), in(0).type, rows_of(in(0)), in(0).shape.back(), st);
      return;
    case PlanOpKind::MaxBackward: {
      // value_selecting_reduction_backward: zeros.scatter(dim, indices, grad) (scatter clones first).
      const PlanTensor& z = in(0);
      if (z.numel() != out.numel() || in(1).type != TType::I64) throw std::logic_error("PlanRunner: bad max backward");
      ATTNSCOPE_CUDA_CHECK(cudaMemcpyAsync(ptr(op.out), in_ptr(0), static_cast<size_t>(out.bytes()),
                                           cudaMemcpyDeviceToDevice, st));
      tl::scatter_rows(ptr(op.out), static_cast<const int64_t*>(in_ptr(1)), in_ptr(2), out.type, rows_of(out),
                       out.shape.back(), st);
      return;
    }
    case PlanOpKind::SinkColumnSum: {
      const PlanTensor& g = in(0);
      tl::sink_column_sum(ptr(op.out), in_ptr(0), out.type, g.shape[0], g.shape[1], g.shape[2], op.cols, st);
      return;
    }
    case PlanOpKind::CatSink: {
      const PlanTensor& a = in(0);
      tl::cat_sink(ptr(op.out), in_ptr(0), in_ptr(1), a.type, a.shape[0], a.shape[1], a.shape[2], a.shape[3],
                   env.sm_count, st);
      return;
    }
    case PlanOpKind::RowMax:
      tl::row_max(ptr(op.out), in_ptr(0), in(0).type, rows_of(in(0)), in(0).shape.back(), st);
      return;
    case PlanOpKind::Transpose12: {
      // transpose(1, 2).contiguous(): out [B, N, H, D] from in [B, H, N, D] read through its strides.
      const PlanTensor& src = in(0);
      const int64_t H = src.shape[1], N = src.shape[2], D = src.shape[3];
      tl::View i = o;
      i.type = src.type;
      i.data = in_ptr(0);
      const int64_t s[4] = {H * N * D, D, N * D, 1};
      std::copy(std::begin(s), std::end(s), i.stride);
      tl::copy(o, i, st);
      return;
    }
    case PlanOpKind::Fill:
      tl::fill(o, op.scalar, st);
      return;
    case PlanOpKind::Tril:
      tl::tril(ptr(op.out), in_ptr(0), out.shape[0], out.shape[1], st);
      return;
    case PlanOpKind::WhereScalars:
      tl::where_scalars(o, expanded(in(0), in_ptr(0), o), in_ptr(1), in_ptr(2), st);
      return;
    case PlanOpKind::IsNegInf:
      tl::isneginf(o, tl::View::dense(in(0).type, in_ptr(0), in(0).shape), st);
      return;
    case PlanOpKind::AllLastDim:
      tl::row_all(ptr(op.out), in_ptr(0), rows_of(in(0)), in(0).shape.back(), st);
      return;
    case PlanOpKind::WhereRowsZero:
      tl::where_rows_zero(ptr(op.out), in_ptr(0), in_ptr(1), rows_of(out), out.shape.back(), st);
      return;
  }
  throw std::logic_error(std::string("PlanRunner: op ") + plan_op_name(op.kind));
}

}  // namespace attnscope::cuda
