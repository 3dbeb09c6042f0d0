#include "kernels/layer_spec.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace attnscope {

static LayerSpec square(int n) {
  LayerSpec s;
  s.seq_q = s.seq_k = n;
  return s;
}

TEST(LayerSpec, CausalAlignments) {
  LayerSpec s;
  s.seq_q = 2;
  s.seq_k = 5;
  s.causal = true;
  s.align = CausalAlign::BottomRight;  // FA2: j <= i + Nk - Nq
  EXPECT_TRUE(s.visible(0, 0, 3));
  EXPECT_FALSE(s.visible(0, 0, 4));
  EXPECT_TRUE(s.visible(0, 1, 4));
  s.align = CausalAlign::TopLeft;  // SDPA is_causal: j <= i
  EXPECT_TRUE(s.visible(0, 0, 0));
  EXPECT_FALSE(s.visible(0, 0, 1));
  EXPECT_TRUE(s.visible(0, 1, 1));
  EXPECT_FALSE(s.visible(0, 1, 2));
}

TEST(LayerSpec, HfSlidingWindowIsTheLastWKeys) {
  LayerSpec s = square(10);
  s.causal = true;
  s.sliding_window = 3;  // causal and j > i - W
  for (int i = 0; i < 10; ++i)
    for (int j = 0; j < 10; ++j) EXPECT_EQ(s.visible(0, i, j), j <= i && j > i - 3) << i << "," << j;
  int l, r;
  s.effective_window(&l, &r);
  EXPECT_EQ(l, 2);  // HF passes FA2 window_size = (W - 1, W - 1); causal forces right = 0
  EXPECT_EQ(r, 0);
}

TEST(LayerSpec, Fa2WindowBoundsAreInclusiveAndLargeBoundsUnbounded) {
  LayerSpec s = square(8);
  s.window_left = 2;
  s.window_right = 1;
  for (int i = 0; i < 8; ++i)
    for (int j = 0; j < 8; ++j) EXPECT_EQ(s.visible(0, i, j), j >= i - 2 && j <= i + 1);
  s.window_left = 8;  // >= Nk: unbounded
  int l, r;
  s.effective_window(&l, &r);
  EXPECT_EQ(l, -1);
  EXPECT_TRUE(s.visible(0, 7, 0));
}

TEST(LayerSpec, PaddingHidesKeysBeyondEachLength) {
  LayerSpec s = square(4);
  s.batch = 2;
  s.mask = MaskKind::Padding;
  s.kv_lengths = {4, 2};
  EXPECT_TRUE(s.visible(0, 0, 3));
  EXPECT_TRUE(s.visible(1, 0, 1));
  EXPECT_FALSE(s.visible(1, 0, 2));
}

// Packed sequences: a token sees only its own sequence, causal and the window counted from its own
// diagonal; visible_range is that band, visible_pairs its sum (the bench's FLOPs).
TEST(LayerSpec, PackedSequencesSeeOnlyThemselvesWithCausalAndWindowPerSequence) {
  LayerSpec s = square(9);
  s.cu_seqlens = {0, 3, 3, 7, 9};  // lengths 3, 0, 4, 2
  s.causal = true;
  s.sliding_window = 2;  // the last 2 keys of the token's own sequence
  ASSERT_EQ(s.validate(), "");
  const int seq_start[9] = {0, 0, 0, 3, 3, 3, 3, 7, 7};
  int64_t pairs = 0;
  for (int i = 0; i < 9; ++i) {
    const KeyRange k = s.visible_range(0, i);
    EXPECT_EQ(k.lo, std::max(seq_start[i], i - 1)) << i;
    EXPECT_EQ(k.hi, i) << i;
    for (int j = 0; j < 9; ++j)
      EXPECT_EQ(s.visible(0, i, j), j >= seq_start[i] && j <= i && j > i - 2) << i << "," << j;
    pairs += k.size();
  }
  EXPECT_EQ(s.visible_pairs(), pairs);
  EXPECT_EQ(pairs, 15);  // per token: 1, 2, 2 | 1, 2, 2, 2 | 1, 2
}

TEST(LayerSpec, VisiblePairsCountPaddingPerBatchElement) {
  LayerSpec s = square(4);
  s.batch = 2;
  s.causal = true;
  EXPECT_EQ(s.visible_pairs(), 2 * (1 + 2 + 3 + 4));
  s.mask = MaskKind::Padding;
  s.kv_lengths = {4, 2};
  EXPECT_EQ(s.visible_pairs(), (1 + 2 + 3 + 4) + (1 + 2 + 2 + 2));
}

TEST(LayerSpec, ValidateNamesTheField) {
  LayerSpec s;
  s.heads_q = 6;
  s.heads_kv = 4;
  EXPECT_EQ(s.validate().rfind("heads_kv:", 0), 0u) << s.validate();
  s = LayerSpec();
  s.seq_q = 0;
  EXPECT_EQ(s.validate().rfind("seq_q:", 0), 0u);
  s = LayerSpec();
  s.mask = MaskKind::Padding;
  EXPECT_EQ(s.validate().rfind("kv_lengths:", 0), 0u);
  s = LayerSpec();
  s.softmax_dtype = DType::F16;  // model dtype is bf16
  EXPECT_EQ(s.validate().rfind("softmax_dtype:", 0), 0u);
  EXPECT_EQ(LayerSpec().validate(), "");
}

}  // namespace attnscope
