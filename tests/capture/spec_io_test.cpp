#include "capture/spec_io.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace attnscope {
namespace {

const std::string kHf = ATTNSCOPE_SOURCE_DIR "/samples/hf/";

TEST(HfConfig, GptOssAlternatesSlidingAndFullLayersWithSinks) {
  LayerSpec s;
  std::vector<std::string> types;
  ASSERT_EQ(load_hf_config(kHf + "gpt-oss-20b.json", 0, &s, &types), "");
  EXPECT_EQ(s.heads_q, 64);
  EXPECT_EQ(s.heads_kv, 8);
  EXPECT_EQ(s.head_dim, 64);
  EXPECT_TRUE(s.sinks);
  EXPECT_EQ(s.sliding_window, 128);
  EXPECT_EQ(s.softmax_dtype, DType::BF16);  // GPT-OSS's eager softmax runs in the model dtype
  EXPECT_EQ(types, (std::vector<std::string>{"sliding_attention", "full_attention"}));
  ASSERT_EQ(load_hf_config(kHf + "gpt-oss-20b.json", 1, &s), "");
  EXPECT_EQ(s.sliding_window, 0);
  EXPECT_NE(load_hf_config(kHf + "gpt-oss-20b.json", 24, &s).find("24 layers"), std::string::npos);
}

TEST(HfConfig, DerivesHeadDimAndReadsSoftcapScaleAndWindow) {
  LayerSpec s;
  ASSERT_EQ(load_hf_config(kHf + "phi-2.json", 0, &s), "");
  EXPECT_EQ(s.head_dim, 80);  // 2560 / 32
  EXPECT_EQ(s.dtype, DType::F16);
  ASSERT_EQ(load_hf_config(kHf + "gemma-2-9b.json", 1, &s), "");
  EXPECT_EQ(s.head_dim, 256);
  EXPECT_FLOAT_EQ(s.softcap, 50.0f);
  EXPECT_DOUBLE_EQ(s.scale, 1.0 / 16.0);  // query_pre_attn_scalar 256
  EXPECT_EQ(s.sliding_window, 0);          // odd layers are global
  ASSERT_EQ(load_hf_config(kHf + "gemma-2-9b.json", 0, &s), "");
  EXPECT_EQ(s.sliding_window, 4096);
  ASSERT_EQ(load_hf_config(kHf + "mistral-7b.json", 3, &s), "");
  EXPECT_EQ(s.sliding_window, 4096);
  EXPECT_EQ(s.heads_kv, 8);
  ASSERT_EQ(load_hf_config(kHf + "llama-2-7b.json", 0, &s), "");
  EXPECT_EQ(s.dtype, DType::F16);
  EXPECT_TRUE(s.causal);
}

TEST(HfConfig, BrokenConfigsNameTheField) {
  LayerSpec s;
  EXPECT_NE(spec_from_hf_config_text("{", "c.json", 0, &s).find("c.json: not valid JSON"), std::string::npos);
  EXPECT_NE(spec_from_hf_config_text(R"({"hidden_size": 64})", "c.json", 0, &s).find("'num_attention_heads'"),
            std::string::npos);
  EXPECT_NE(spec_from_hf_config_text(R"({"num_attention_heads": 3, "hidden_size": 64})", "c.json", 0, &s)
                .find("'hidden_size'"),
            std::string::npos);
  EXPECT_NE(spec_from_hf_config_text(R"({"num_attention_heads": 4, "head_dim": 16, "torch_dtype": "int8"})",
                                     "c.json", 0, &s)
                .find("'torch_dtype'"),
            std::string::npos);
  EXPECT_NE(spec_from_hf_config_text(
                R"({"num_attention_heads": 4, "head_dim": 16, "layer_types": ["chunked_attention"]})", "c.json", 0, &s)
                .find("chunked_attention"),
            std::string::npos);
}

TEST(SpecJson, RoundTripsEveryField) {
  LayerSpec s;
  s.name = "x";
  s.batch = 3;
  s.seq_q = 17;
  s.seq_k = 33;
  s.heads_q = 12;
  s.heads_kv = 4;
  s.head_dim = 40;
  s.head_dim_v = 24;
  s.dtype = DType::F16;
  s.scale = 0.3;
  s.causal = true;
  s.align = CausalAlign::TopLeft;
  s.window_left = 5;
  s.window_right = 2;
  s.sliding_window = 9;
  s.sinks = true;
  s.softcap = 30;
  s.mask = MaskKind::Padding;
  s.kv_lengths = {33, 1, 20};
  s.softmax_dtype = DType::F16;
  LayerSpec t;
  ASSERT_EQ(spec_from_json_text(spec_to_json(s), "mem", &t), "");
  EXPECT_EQ(spec_to_json(s), spec_to_json(t));
  EXPECT_EQ(t.summary(), s.summary());
}

TEST(SpecJson, RefusesBadFieldsByName) {
  LayerSpec s;
  EXPECT_NE(spec_from_json_text(R"({"heads_q": 8, "heads_kv": 3})", "s.json", &s).find("'heads_kv'"), std::string::npos);
  EXPECT_NE(spec_from_json_text(R"({"window": [1]})", "s.json", &s).find("'window'"), std::string::npos);
  EXPECT_NE(spec_from_json_text(R"({"causal_align": "middle"})", "s.json", &s).find("'causal_align'"), std::string::npos);
  EXPECT_NE(spec_from_json_text(R"({"dtype": "fp8"})", "s.json", &s).find("'dtype'"), std::string::npos);
  EXPECT_NE(spec_from_json_text(R"({"mask": "padding", "batch": 2, "kv_lengths": [3]})", "s.json", &s)
                .find("'kv_lengths'"),
            std::string::npos);
  EXPECT_NE(spec_from_json_text(R"({"num_attention_heads": 8})", "s.json", &s).find("--config"), std::string::npos);
  EXPECT_NE(spec_from_json_text("[1,2]", "s.json", &s).find("JSON object"), std::string::npos);
  EXPECT_NE(load_spec_json("/nonexistent/s.json", &s).find("cannot open"), std::string::npos);
  // A huge file given by mistake is refused from its size, before it is read (a sparse file here).
  const std::string huge = std::string(::testing::TempDir()) + "/huge_spec.json";
  std::filesystem::remove(huge);
  std::ofstream(huge).close();
  std::filesystem::resize_file(huge, (int64_t{64} << 20) + 1);
  std::string e = load_spec_json(huge, &s);
  EXPECT_NE(e.find(huge), std::string::npos) << e;
  EXPECT_NE(e.find("larger than a layer spec file may be"), std::string::npos) << e;
  std::filesystem::remove(huge);
}

TEST(Overrides, ApplyAndValidate) {
  LayerSpec s = default_spec();
  SpecOverrides o;
  o.seq_q = 7;
  o.seq_k = 90;
  o.batch = 2;
  o.dtype = "float16";
  ASSERT_EQ(apply_overrides(o, &s), "");
  EXPECT_EQ(s.seq_q, 7);
  EXPECT_EQ(s.seq_k, 90);
  EXPECT_EQ(s.dtype, DType::F16);
  EXPECT_EQ(s.softmax_dtype, DType::F16);  // GPT-OSS's model-dtype softmax follows
  o = {};
  o.dtype = "int4";
  EXPECT_NE(apply_overrides(o, &s).find("--dtype"), std::string::npos);
}

}  // namespace
}  // namespace attnscope

namespace attnscope {
namespace {

TEST(SpecJson, PackedSequencesRoundTripAndBadOnesNameFileAndField) {
  LayerSpec s;
  ASSERT_EQ(spec_from_json_text(R"({"heads_q": 4, "head_dim": 64, "causal": true, "cu_seqlens": [0, 37, 130, 150, 211]})",
                                "packed.json", &s),
            "");
  EXPECT_EQ(s.seq_q, 211);  // the total, from the last entry
  EXPECT_EQ(s.seq_k, 211);
  EXPECT_EQ(s.packed_count(), 4);
  EXPECT_EQ(s.packed_max_len(), 93);
  LayerSpec back;
  ASSERT_EQ(spec_from_json_text(spec_to_json(s), "again.json", &back), "");
  EXPECT_EQ(back.cu_seqlens, s.cu_seqlens);
  EXPECT_EQ(spec_from_json_text(R"({"cu_seqlens": [0, 50, 40]})", "bad.json", &s),
            "bad.json: field 'cu_seqlens': must not decrease: entry 2 (40) is below entry 1 (50)");
  EXPECT_EQ(spec_from_json_text(R"({"cu_seqlens": [0, 50, "x"]})", "bad.json", &s),
            "bad.json: field 'cu_seqlens': expected integers [0, end_1, ..., total], got \"x\"");
  EXPECT_EQ(spec_from_json_text(R"({"batch": 2, "cu_seqlens": [0, 50, 70]})", "bad.json", &s),
            "bad.json: field 'cu_seqlens': packed sequences need batch 1 (the sequences are the batch), got batch 2");
  EXPECT_EQ(spec_from_json_text(R"({"seq": 64, "cu_seqlens": [0, 50, 70]})", "bad.json", &s),
            "bad.json: field 'cu_seqlens': ends at 70 but the layer has 64 tokens: the last entry is the total");
}

TEST(Overrides, CuSeqlensPacksTheLayer) {
  LayerSpec s = default_spec();
  SpecOverrides o;
  o.cu_seqlens = "0,100,180,300,301";
  ASSERT_EQ(apply_overrides(o, &s), "");
  EXPECT_EQ(s.batch, 1);
  EXPECT_EQ(s.seq_q, 301);
  EXPECT_EQ(s.packed_count(), 4);
  o.cu_seqlens = "0,100,x";
  EXPECT_EQ(apply_overrides(o, &s), "--cu-seqlens: entry 2 ('x') is not a token offset (expected 0,end_1,...,total)");
  o.cu_seqlens = "0,100";
  o.seq = 50;
  EXPECT_NE(apply_overrides(o, &s).find("drop --batch/--seq"), std::string::npos);
}

}  // namespace
}  // namespace attnscope
