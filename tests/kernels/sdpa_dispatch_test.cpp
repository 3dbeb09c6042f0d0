// attnscope's SDPA dispatcher replayed against torch on an H200: tests/fixtures/sdpa_dispatch_h200.json
// (tests/device/sdpa_dispatch_truth.py) holds, for random layers, torch's own backend choice
// (torch._fused_sdp_choice) and the warnings each fused backend printed when forced. Every choice
// and every refusal text must match.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "kernels/implementation.h"
#include "kernels/sdpa_dispatch.h"

namespace attnscope {
namespace {

using nlohmann::json;

const json& fixture() {
  static const json j = [] {
    std::ifstream f(std::string(ATTNSCOPE_SOURCE_DIR) + "/tests/fixtures/sdpa_dispatch_h200.json");
    return f ? json::parse(f) : json();
  }();
  return j;
}

// A fixture case as attnscope's layer (the script's own field names).
LayerSpec spec_of(const json& c) {
  LayerSpec s;
  s.dtype = *parse_dtype(c["dtype"].get<std::string>());
  s.batch = c["batch"], s.heads_q = c["heads_q"], s.heads_kv = c["heads_kv"];
  s.head_dim = c["head_dim"], s.head_dim_v = c["head_dim_v"];
  s.seq_q = c["seq_q"], s.seq_k = c["seq_k"];
  const std::string m = c["mask"];
  s.causal = m == "causal";
  s.align = c["causal_align"] == "top-left" ? CausalAlign::TopLeft : CausalAlign::BottomRight;
  if (m == "padding") {
    s.mask = MaskKind::Padding;
    for (const auto& x : c["kv_lengths"]) s.kv_lengths.push_back(x.get<int>());
  }
  if (m == "bool") s.mask = MaskKind::ExplicitBool;
  if (m == "additive") s.mask = MaskKind::ExplicitAdditive;
  return s;
}

std::string describe(const json& c) {
  json d = c;
  d.erase("forced");
  return d.dump();
}

// torch's warning lines for a forced backend without the "<backend> kernel not used because:" headers
// and the "... has been runtime disabled." lines of the backends sdpa_kernel switched off.
std::vector<std::string> reason_lines(const json& forced) {
  std::vector<std::string> r;
  for (const auto& w : forced["warnings"]) {
    const std::string x = w;
    if (x.find("kernel not used because:") != std::string::npos) continue;
    if (x.find("has been runtime disabled.") != std::string::npos) continue;
    r.push_back(x);
  }
  return r;
}

DeviceInfo fixture_gpu() {
  const int sm = fixture()["sm"];
  return *named_gpu("sm" + std::to_string(sm));
}

TEST(SdpaDispatch, FixtureIsThere) {
  ASSERT_TRUE(fixture().is_object()) << "tests/fixtures/sdpa_dispatch_h200.json missing";
  EXPECT_GE(fixture()["cases"].size(), 150u);
  EXPECT_EQ(fixture()["sm"], 90);
}

TEST(SdpaDispatch, ForcedBackendsRefuseWithTorchsTexts) {
  const DeviceInfo gpu = fixture_gpu();
  const TorchSdpaBuild build{fixture()["cudnn"].get<long>()};
  int refusals = 0, accepted = 0;
  for (const json& c : fixture()["cases"]) {
    const LayerSpec s = spec_of(c);
    SCOPED_TRACE(describe(c));
    ASSERT_EQ(s.validate(), "");
    // The fixture's own record of how transformers called SDPA.
    const SdpaCall call = sdpa_call(s);
    EXPECT_EQ(call.enable_gqa, c["enable_gqa"].get<bool>());
    EXPECT_EQ(call.heads_k != s.heads_kv, c["gqa_repeat"].get<bool>());
    for (const char* b : {"flash", "efficient", "cudnn"}) {
      const json& f = c["forced"][b];
      const std::string be = b;
      const std::optional<SdpaRefusal> r = be == "flash"       ? sdpa_flash_refusal(s, gpu)
                                           : be == "efficient" ? sdpa_efficient_refusal(s, gpu)
                                                               : sdpa_cudnn_refusal(s, gpu, build);
      const std::vector<std::string> lines = reason_lines(f);
      if (f["ok"].get<bool>()) {
        EXPECT_FALSE(r.has_value()) << b << " ran in torch, attnscope refuses: " << (r ? r->text : "");
        ++accepted;
        continue;
      }
      ++refusals;
      ASSERT_TRUE(r.has_value()) << b << " refused in torch: " << (lines.empty() ? "" : lines[0]);
      if (lines.empty()) {
        // TORCH_WARN_ONCE: printed the first time only.
        EXPECT_TRUE(r->warn_once) << b << ": torch printed no reason, attnscope says " << r->text;
      } else {
        EXPECT_EQ(lines.size(), 1u) << "torch stops at its first failing check";
        EXPECT_EQ(r->text, lines[0]) << b;
      }
      // The verdict of a forced run carries torch's header and line.
      std::string chosen;
      const Verdict v = check_sdpa(s, gpu, b, &chosen);
      EXPECT_FALSE(v.supported);
      EXPECT_TRUE(v.has(r->code));
    }
  }
  EXPECT_GT(refusals, 300);
  EXPECT_GT(accepted, 200);
}

TEST(SdpaDispatch, ChoicesAreTorchs) {
  const DeviceInfo gpu = fixture_gpu();
  const TorchSdpaBuild build{fixture()["cudnn"].get<long>()};
  int recorded = 0;
  for (const json& c : fixture()["cases"]) {
    const LayerSpec s = spec_of(c);
    SCOPED_TRACE(describe(c));
    const std::string ours = sdpa_choice(s, gpu, build);
    if (c.contains("choice") && c["choice"] != "error") {
      EXPECT_EQ(ours, c["choice"].get<std::string>());
      ++recorded;
    }
    // Independently of the recorded choice: in torch's priority order on sm90 with cuDNN 9.19
    // (cuDNN, flash, efficient, math), the first backend torch ran when forced is the one it picks.
    std::string first = "math";
    for (const char* b : {"cudnn", "flash", "efficient"})
      if (c["forced"][b]["ok"].get<bool>()) {
        first = b;
        break;
      }
    EXPECT_EQ(ours, first);
  }
  // The fixture made before tests/device/sdpa_dispatch_truth.py recorded choices has none.
  std::printf("[ attnscope ] %d recorded torch choices replayed\n", recorded);
}

TEST(SdpaDispatch, PriorityFollowsTheGpuAndCudnn) {
  EXPECT_EQ(sdpa_priority(*named_gpu("H100"))[0], "cudnn");
  EXPECT_EQ(sdpa_priority(*named_gpu("B200"))[0], "cudnn");
  EXPECT_EQ(sdpa_priority(*named_gpu("A100"))[0], "flash");
  EXPECT_EQ(sdpa_priority(*named_gpu("H100"), TorchSdpaBuild{91400})[0], "flash");
  EXPECT_EQ(sdpa_priority(cpu_device())[0], "flash");
}

TEST(SdpaDispatch, OlderGpusRefuseInTorchsOrder) {
  LayerSpec s;
  s.dtype = DType::BF16;
  s.head_dim = s.head_dim_v = 64;
  const DeviceInfo t4 = *named_gpu("T4");
  EXPECT_EQ(sdpa_flash_refusal(s, t4)->text,
            "Flash attention only supports gpu architectures in the range [sm80, sm121]. Attempting to run on a sm "
            "7.5 gpu.");
  EXPECT_EQ(sdpa_efficient_refusal(s, t4)->code, "sdpa.efficient.dtype");  // bf16 below sm80
  EXPECT_EQ(sdpa_choice(s, t4), "math");
  s.dtype = DType::F16;
  EXPECT_EQ(sdpa_choice(s, t4), "efficient");
  // A mask is checked before the architecture.
  s.mask = MaskKind::Padding;
  s.kv_lengths = {100};
  EXPECT_EQ(sdpa_flash_refusal(s, t4)->code, "sdpa.flash.attn_mask");
  // fp32 on a T4 needs no alignment (no tensor cores for fp32 there).
  s.dtype = DType::F32;
  s.head_dim = s.head_dim_v = 59;
  EXPECT_FALSE(sdpa_efficient_refusal(s, t4).has_value());
  EXPECT_EQ(sdpa_efficient_refusal(s, *named_gpu("A100"))->code, "sdpa.efficient.alignment");
}

}  // namespace
}  // namespace attnscope
