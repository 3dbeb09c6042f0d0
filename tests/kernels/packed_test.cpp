// Packed sequences (cu_seqlens, FlashAttention's varlen API): a batch of sequences of different
// lengths packed into one row runs forward and backward through flash2/sink varlen against the
// fp64 reference; each sequence gives exactly what it gives run alone; malformed cu_seqlens are
// refused naming the field and the problem.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "kernels/acceptance.h"
#include "tests/kernels/test_util.h"

namespace attnscope {
namespace {

// Rows [begin, end) of a [1, H, N, D] tensor as a [1, H, end - begin, D] one.
Tensor rows_of(const Tensor& t, int64_t begin, int64_t end) {
  const int64_t H = t.dim(1), N = t.dim(2), D = t.dim(3);
  Tensor r(t.dtype, {1, H, end - begin, D});
  for (int64_t h = 0; h < H; ++h)
    std::copy_n(t.data.begin() + (h * N + begin) * D, (end - begin) * D, r.data.begin() + h * (end - begin) * D);
  return r;
}

struct PackedCase {
  std::vector<int> cu;  // cu_seqlens
  int hq, hkv, d;
  DType dtype;
  int sliding;
  bool sinks;
};

LayerSpec packed_spec(const PackedCase& c) {
  LayerSpec s;
  s.batch = 1;
  s.cu_seqlens = c.cu;
  s.seq_q = s.seq_k = c.cu.back();
  s.heads_q = c.hq;
  s.heads_kv = c.hkv;
  s.head_dim = s.head_dim_v = c.d;
  s.dtype = c.dtype;
  s.causal = true;
  s.sliding_window = c.sliding;
  s.sinks = c.sinks;
  return s;
}

class Packed : public ::testing::TestWithParam<PackedCase> {};

// The test: 4 sequences of different lengths, forward and backward through the varlen
// CPU kernels, against the fp64 reference with FA2's rule (eager's error as the baseline).
TEST_P(Packed, FourSequencesForwardAndBackwardAgainstTheReference) {
  const PackedCase c = GetParam();
  const LayerSpec s = packed_spec(c);
  ASSERT_EQ(s.validate(), "");
  ASSERT_EQ(s.packed_count(), 4);
  std::random_device rd;
  const uint64_t seed = rd();
  SCOPED_TRACE("seed=" + std::to_string(seed));
  Inputs in = random_inputs(s, seed, Distribution::Normal);
  in.dout = random_dout(s, seed, {});
  RunOptions opt;
  opt.threads = 2;
  opt.backward = true;
  RunResult ref = run_reference(s, in, opt);
  LayerSpec base = s;
  base.softmax_dtype = DType::F32;
  RunResult eager = cpu_implementation("eager")->run(base, in, opt);
  ASSERT_TRUE(ref.grad.ran && eager.grad.ran);
  const double out_bound = fa2_bound(testing::max_abs_error(s, in, eager.out, ref.out));
  for (const char* name : {"flash2", "sink", "eager"}) {
    if (!cpu_implementation(name)->check(s, cpu_device()).supported) continue;
    RunResult r = cpu_implementation(name)->run(s, in, opt);
    ASSERT_TRUE(r.ran && r.grad.ran) << name << ": " << r.error << r.grad.error;
    EXPECT_LE(testing::max_abs_error(s, in, r.out, ref.out), out_bound) << name << " out";
    for (const auto& g : kGradientTensors) {
      const Tensor &t = r.grad.*g.member, &want = ref.grad.*g.member;
      if (want.empty()) continue;
      double biggest = 0;
      for (float x : want.data) biggest = std::max(biggest, static_cast<double>(std::abs(x)));
      const double bound = gradient_bound(gradient_baseline(g.name, s, in, eager, ref), s.dtype, biggest);
      EXPECT_LE(max_abs_diff(t, want), bound) << name << " " << g.name;
    }
  }
}

// Varlen semantics bit for bit: every packed sequence gets exactly what it gets run alone (its
// KV tiles counted from its own first key), forward, LSE and every gradient but dsinks (a sum
// over all sequences), for flash2/sink and the reference.
TEST_P(Packed, EachSequenceIsExactlyItsOwnRunAlone) {
  const PackedCase c = GetParam();
  const LayerSpec s = packed_spec(c);
  Inputs in = random_inputs(s, 5, Distribution::Normal);
  in.dout = random_dout(s, 5, {});
  RunOptions opt;
  opt.threads = 2;
  opt.backward = true;
  for (const char* name : {"flash2", "sink", "reference"}) {
    const bool is_ref = std::string(name) == "reference";
    if (!is_ref && !cpu_implementation(name)->check(s, cpu_device()).supported) continue;
    RunResult packed = is_ref ? run_reference(s, in, opt) : cpu_implementation(name)->run(s, in, opt);
    double dsinks_sum = 0;
    for (int q = 0; q < s.packed_count(); ++q) {
      const int64_t b = s.cu_seqlens[q], e = s.cu_seqlens[q + 1];
      LayerSpec one = s;
      one.cu_seqlens.clear();
      one.seq_q = one.seq_k = static_cast<int>(e - b);
      Inputs part;
      part.q = rows_of(in.q, b, e);
      part.k = rows_of(in.k, b, e);
      part.v = rows_of(in.v, b, e);
      part.dout = rows_of(in.dout, b, e);
      part.sinks = in.sinks;
      RunResult alone = is_ref ? run_reference(one, part, opt) : cpu_implementation(name)->run(one, part, opt);
      SCOPED_TRACE(std::string(name) + " sequence " + std::to_string(q));
      EXPECT_EQ(rows_of(packed.out, b, e).data, alone.out.data);
      EXPECT_EQ(rows_of(packed.grad.dq, b, e).data, alone.grad.dq.data);
      EXPECT_EQ(rows_of(packed.grad.dk, b, e).data, alone.grad.dk.data);
      EXPECT_EQ(rows_of(packed.grad.dv, b, e).data, alone.grad.dv.data);
      for (int h = 0; h < s.heads_q; ++h)
        EXPECT_EQ(packed.lse.data[static_cast<size_t>(h) * s.seq_q + b], alone.lse.data[static_cast<size_t>(h) * (e - b)]);
      if (s.sinks) dsinks_sum += alone.grad.dsinks.data[0];
    }
    if (s.sinks) {
      EXPECT_NEAR(packed.grad.dsinks.data[0], dsinks_sum, 0.02 * std::abs(dsinks_sum) + 1e-3) << name;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cpu, Packed,
    ::testing::Values(PackedCase{{0, 37, 130, 150, 211}, 4, 2, 64, DType::BF16, 0, false},
                      PackedCase{{0, 70, 71, 199, 260}, 8, 8, 64, DType::BF16, 48, true},  // GPT-OSS-like, a 1-token sequence
                      PackedCase{{0, 5, 69, 133, 140}, 4, 1, 40, DType::F16, 0, false}));

TEST(Packed, AttentionAcrossTheBoundariesIsWhatTheWhatIfShows) {
  // The same tokens unpacked (one causal sequence) differ from the packed run wherever a token has
  // an earlier sequence to attend to, and only there: the first sequence is the same.
  LayerSpec s = packed_spec({{0, 40, 100, 130, 170}, 4, 2, 32, DType::BF16, 0, false});
  Inputs in = random_inputs(s, 9, Distribution::Normal);
  RunOptions opt;
  LayerSpec flat = s;
  flat.cu_seqlens.clear();
  RunResult a = cpu_implementation("eager")->run(s, in, opt), b = cpu_implementation("eager")->run(flat, in, opt);
  EXPECT_EQ(rows_of(a.out, 0, 40).data, rows_of(b.out, 0, 40).data);
  EXPECT_GT(max_abs_diff(rows_of(a.out, 40, 170), rows_of(b.out, 40, 170)), 0.05);
}

TEST(Packed, MalformedCuSeqlensAreRefusedNamingTheProblem) {
  LayerSpec s;
  s.batch = 1;
  s.seq_q = s.seq_k = 100;
  auto err = [&](std::vector<int> cu) {
    LayerSpec t = s;
    t.cu_seqlens = std::move(cu);
    return t.validate();
  };
  EXPECT_EQ(err({0, 40, 100}), "");
  EXPECT_EQ(err({0, 40, 40, 100}), "");  // an empty sequence is allowed, as in FA2
  EXPECT_EQ(err({5, 40, 100}), "cu_seqlens: must start at 0, got 5");
  EXPECT_EQ(err({0, 60, 40, 100}), "cu_seqlens: must not decrease: entry 2 (40) is below entry 1 (60)");
  EXPECT_EQ(err({0, 40, 90}), "cu_seqlens: ends at 90 but the layer has 100 tokens: the last entry is the total");
  EXPECT_EQ(err({0}), "cu_seqlens: needs at least [0, total], got one entry");
  LayerSpec t = s;
  t.cu_seqlens = {0, 50, 100};
  t.batch = 2;
  EXPECT_EQ(t.validate(), "cu_seqlens: packed sequences need batch 1 (the sequences are the batch), got batch 2");
  t.batch = 1;
  t.mask = MaskKind::Padding;
  t.kv_lengths = {100};
  EXPECT_NE(t.validate().find("a packed batch has no padding"), std::string::npos);
}

TEST(Packed, VerdictsSayWhoTakesCuSeqlens) {
  LayerSpec s = packed_spec({{0, 40, 100, 130, 170}, 4, 4, 64, DType::BF16, 0, false});
  Verdict f = check_flash2(s, cpu_device());
  EXPECT_TRUE(f.supported);
  EXPECT_TRUE(f.has("fa2.varlen_packed"));
  Verdict e = check_eager(s, cpu_device());
  EXPECT_TRUE(e.supported);
  EXPECT_TRUE(e.has("hf.packed.no_varlen"));
  EXPECT_TRUE(e.has("hf.packed.cross"));
  EXPECT_TRUE(e.has("hf.packed.mask_given"));
  for (const Reason& r : e.reasons)
    if (r.code == "hf.packed.cross") {
      EXPECT_EQ(r.severity, Severity::Silent);
      EXPECT_NE(r.source.find("transformers"), std::string::npos) << r.source;
    }
  // SDPA gets the padded batch's mask: its flash backend refuses it.
  std::string chosen;
  Verdict d = check_sdpa(s, cpu_device(), "", &chosen);
  EXPECT_TRUE(d.has("sdpa.flash.attn_mask"));
  EXPECT_EQ(chosen, "efficient");
  // Eager's scores are the padded batch's: 4 sequences x 4 heads x 60 x 60, not 170 x 170.
  LayerSpec flat = s;
  flat.cu_seqlens.clear();
  EXPECT_LT(model_bytes("eager", s), model_bytes("eager", flat));
}

}  // namespace
}  // namespace attnscope
