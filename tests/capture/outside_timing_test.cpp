// The timing record of an outside run (capture/outside_timing.h): what attnscope_dump.py --time
// writes becomes the run's times, kernels, ranges and peak; every malformed field is refused with
// the file, the field and the problem; a dump without the record is "not timed", never 0 ms.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <nlohmann/json.hpp>

#include "capture/outside_timing.h"
#include "capture/tensor_io.h"
#include "kernels/implementation.h"

namespace attnscope {
namespace {

using nlohmann::json;

// A record as the dump writes it for 2 warm-up calls and 3 repeats of a function launching a
// Triton kernel and a copy per call.
json good_record() {
  json kernels = json::array();
  for (int rep = -1; rep < 3; ++rep) {
    const double t = 40.0 * (rep + 1);
    kernels.push_back({{"name", "_sink_attn_fwd"}, {"start_us", t + 3}, {"dur_us", 11.5}, {"grid", {2, 8, 1}},
                       {"block", {128, 1, 1}}, {"registers", 96}, {"shared_memory", 32768}, {"stream", 7},
                       {"correlation", 100 + 2 * (rep + 1)}, {"repeat", rep}});
    kernels.push_back({{"name", "void at::native::elementwise_kernel<128, 4>(int)"}, {"start_us", t + 15},
                       {"dur_us", 2.25}, {"grid", {64, 1, 1}}, {"block", {128, 1, 1}}, {"registers", 20},
                       {"shared_memory", 0}, {"stream", 7}, {"correlation", 101 + 2 * (rep + 1)}, {"repeat", rep}});
  }
  return {{"format", "attnscope-outside-timing"},
          {"version", 1},
          {"producer", "attnscope_dump.py"},
          {"function", "triton_sink"},
          {"device", "NVIDIA H200"},
          {"environment", {{"torch", "2.11.0"}, {"triton", "3.6.0"}}},
          {"warmup", 1},
          {"repeats", 3},
          {"l2_flush_bytes", 104857600},
          {"times_ms", {0.0141, 0.0139, 0.0150}},
          {"profiled_times_ms", {0.0160, 0.0158, 0.0171}},
          {"peak_bytes", 1310720},
          {"kernels", kernels},
          {"ranges",
           {{{"name", "triton_sink"}, {"start_us", -5.0}, {"dur_us", 200.0}, {"depth", 0}},
            {{"name", "warm-up"}, {"start_us", 0.0}, {"dur_us", 30.0}, {"depth", 1}},
            {{"name", "warm-up 0"}, {"start_us", 0.5}, {"dur_us", 29.0}, {"depth", 2}},
            {{"name", "timed repeats"}, {"start_us", 38.0}, {"dur_us", 130.0}, {"depth", 1}}}}};
}

std::string apply_record(const json& rec, RunResult* r) { return apply_outside_timing("dump/layer000.safetensors", rec.dump(), r); }

TEST(OutsideTiming, TheRecordBecomesTheRunsCost) {
  RunResult r;
  r.ran = true;
  ASSERT_EQ(apply_record(good_record(), &r), "");
  EXPECT_TRUE(is_timed(r));
  // Under the profiler is the headline time (attnscope's own runs are timed under CUPTI too);
  // without it is the untraced time: the profiler's overhead.
  EXPECT_EQ(r.times_ms, (std::vector<double>{0.0160, 0.0158, 0.0171}));
  EXPECT_DOUBLE_EQ(r.median_ms, 0.0160);
  EXPECT_DOUBLE_EQ(r.median_untraced_ms, 0.0141);
  EXPECT_NEAR(cupti_overhead_pct(r), 100.0 * (0.0160 / 0.0141 - 1), 1e-9);
  EXPECT_EQ(r.peak_bytes, 1310720);
  ASSERT_EQ(r.kernels.size(), 8u);
  EXPECT_EQ(r.kernels[0].name, "_sink_attn_fwd");
  EXPECT_EQ(r.kernels[0].repeat, -1);
  EXPECT_EQ(r.kernels[7].repeat, 2);
  EXPECT_EQ(r.kernels[0].grid[1], 8);
  EXPECT_EQ(r.kernels[0].block[0], 128);
  EXPECT_EQ(r.kernels[0].registers, 96);
  EXPECT_EQ(r.kernels[0].shared_dynamic + r.kernels[0].shared_static, 32768);
  EXPECT_EQ(r.kernels[0].stream, 7);
  EXPECT_EQ(r.kernels[0].correlation, 100u);
  ASSERT_EQ(r.ranges.size(), 4u);
  EXPECT_EQ(r.ranges[3].name, "timed repeats");
  EXPECT_EQ(r.ranges[3].depth, 1);
  EXPECT_NE(r.device.find("NVIDIA H200"), std::string::npos);
  ASSERT_TRUE(r.verdict.has("outside.timing"));
  const std::string& note = r.verdict.reasons.back().text;
  EXPECT_NE(note.find("3 repeats after 1 warm-up"), std::string::npos) << note;
  EXPECT_NE(note.find("triton 3.6.0"), std::string::npos) << note;
}

TEST(OutsideTiming, WithoutTheProfilerPassTheEventTimesStandAlone) {
  json rec = good_record();
  rec.erase("profiled_times_ms");
  rec["kernels"] = json::array();
  RunResult r;
  r.ran = true;
  ASSERT_EQ(apply_record(rec, &r), "");
  EXPECT_DOUBLE_EQ(r.median_ms, 0.0141);
  EXPECT_TRUE(r.times_untraced_ms.empty());
  EXPECT_TRUE(std::isnan(cupti_overhead_pct(r)));
}

TEST(OutsideTiming, ASplitOfSharedMemoryIsKeptWhereGiven) {
  json rec = good_record();
  rec["kernels"][0].erase("shared_memory");
  rec["kernels"][0]["shared_static"] = 1024;
  rec["kernels"][0]["shared_dynamic"] = 4096;
  RunResult r;
  ASSERT_EQ(apply_record(rec, &r), "");
  EXPECT_EQ(r.kernels[0].shared_static, 1024);
  EXPECT_EQ(r.kernels[0].shared_dynamic, 4096);
}

// Each case: a change to the good record and what the one-line error must name.
struct Bad {
  const char* what;
  std::function<void(json&)> edit;
  const char* field;
  const char* problem;
};

TEST(OutsideTiming, EveryMalformedFieldIsNamedWithItsProblem) {
  const std::vector<Bad> cases = {
      {"format", [](json& j) { j["format"] = "chrome-trace"; }, "attnscope_timing.format", "is not"},
      {"version", [](json& j) { j["version"] = 2; }, "attnscope_timing.version", "2 is not supported"},
      {"repeats", [](json& j) { j["repeats"] = 0; }, "attnscope_timing.repeats", "outside [1,"},
      {"times count", [](json& j) { j["times_ms"].erase(0); }, "attnscope_timing.times_ms", "2 times for 3 repeats"},
      {"time value", [](json& j) { j["times_ms"][1] = -1; }, "attnscope_timing.times_ms[1]", "positive number"},
      {"profiled", [](json& j) { j["profiled_times_ms"][2] = "fast"; }, "attnscope_timing.profiled_times_ms[2]",
       "positive number"},
      {"peak", [](json& j) { j["peak_bytes"] = -4; }, "attnscope_timing.peak_bytes", "outside [0,"},
      {"peak missing", [](json& j) { j.erase("peak_bytes"); }, "attnscope_timing.peak_bytes", "missing"},
      {"grid", [](json& j) { j["kernels"][3]["grid"] = {1, 2}; }, "attnscope_timing.kernels[3].grid", "expected [x, y, z]"},
      {"block", [](json& j) { j["kernels"][1]["block"] = {128, -1, 1}; }, "attnscope_timing.kernels[1].block",
       "non-negative integers"},
      {"repeat", [](json& j) { j["kernels"][2]["repeat"] = 3; }, "attnscope_timing.kernels[2].repeat", "outside [-2, 2]"},
      {"name", [](json& j) { j["kernels"][0]["name"] = 7; }, "attnscope_timing.kernels[0].name", "expected a string"},
      {"dur", [](json& j) { j["kernels"][4]["dur_us"] = -1.0; }, "attnscope_timing.kernels[4].dur_us", "finite number >= 0"},
      {"shared", [](json& j) { j["kernels"][5].erase("shared_memory"); }, "attnscope_timing.kernels[5].shared_memory",
       "missing"},
      {"kernels", [](json& j) { j["kernels"] = "none"; }, "attnscope_timing.kernels", "expected a list"},
      {"kernel", [](json& j) { j["kernels"][6] = 1; }, "attnscope_timing.kernels[6]", "expected an object"},
      {"range depth", [](json& j) { j["ranges"][1]["depth"] = 99; }, "attnscope_timing.ranges[1].depth", "outside [0, 64]"},
      {"range start", [](json& j) { j["ranges"][2]["start_us"] = nullptr; }, "attnscope_timing.ranges[2].start_us",
       "expected a number"},
      {"environment", [](json& j) { j["environment"]["torch"] = 2.11; }, "attnscope_timing.environment.torch",
       "expected a string"},
  };
  for (const Bad& b : cases) {
    json rec = good_record();
    b.edit(rec);
    RunResult r;
    r.median_ms = 7;  // untouched on failure
    const std::string e = apply_record(rec, &r);
    EXPECT_EQ(e.rfind("dump/layer000.safetensors: ", 0), 0u) << b.what << ": " << e;
    EXPECT_NE(e.find(std::string(b.field) + ":"), std::string::npos) << b.what << ": " << e;
    EXPECT_NE(e.find(b.problem), std::string::npos) << b.what << ": " << e;
    EXPECT_EQ(r.median_ms, 7) << b.what;
  }
  RunResult r;
  EXPECT_EQ(apply_outside_timing("f.safetensors", "{\"format\": ", &r), "f.safetensors: attnscope_timing: not valid JSON");
  EXPECT_NE(apply_outside_timing("f.safetensors", "[1, 2]", &r).find("expected a JSON object"), std::string::npos);
}

// The import path: the record read from the .safetensors metadata beside the output it belongs to.
TEST(OutsideTiming, ImportReadsTheRecordFromTheTensorFileOrSaysNotTimed) {
  LayerSpec s;
  s.heads_q = 4;
  s.heads_kv = 2;
  s.seq_q = s.seq_k = 24;
  s.head_dim = s.head_dim_v = 16;
  s.dtype = DType::BF16;
  Inputs in = random_inputs(s, 3, Distribution::Normal);
  RunResult eager = cpu_implementation("eager")->run(s, in, RunOptions{});
  const std::string dir = ::testing::TempDir();
  NamedTensors nt;
  nt.tensors["out"] = eager.out;
  ASSERT_EQ(write_safetensors(dir + "/untimed.safetensors", nt), "");
  RunResult r;
  ASSERT_EQ(load_outside_run("mine", dir + "/untimed.safetensors:out", Layout::BHND, s, &r), "");
  EXPECT_TRUE(r.ran);
  EXPECT_FALSE(is_timed(r));
  ASSERT_EQ(r.verdict.reasons.size(), 1u);
  EXPECT_NE(r.verdict.reasons[0].text.find("not timed"), std::string::npos) << r.verdict.reasons[0].text;

  nt.metadata[kOutsideTimingKey] = good_record().dump();
  ASSERT_EQ(write_safetensors(dir + "/timed.safetensors", nt), "");
  ASSERT_EQ(load_outside_run("mine", dir + "/timed.safetensors:out", Layout::BHND, s, &r), "");
  EXPECT_TRUE(is_timed(r));
  EXPECT_EQ(r.kernels.size(), 8u);
  EXPECT_EQ(r.peak_bytes, 1310720);
  EXPECT_EQ(r.verdict.reasons[0].code, "outside.run");
  EXPECT_EQ(r.verdict.reasons[0].text.find("not timed"), std::string::npos);
  EXPECT_EQ(r.verdict.reasons.back().code, "outside.timing");

  json bad = good_record();
  bad["kernels"][0]["grid"] = "4x8";
  nt.metadata[kOutsideTimingKey] = bad.dump();
  ASSERT_EQ(write_safetensors(dir + "/bad.safetensors", nt), "");
  const std::string e = load_outside_run("mine", dir + "/bad.safetensors:out", Layout::BHND, s, &r);
  EXPECT_NE(e.find("bad.safetensors: attnscope_timing.kernels[0].grid: expected [x, y, z]"), std::string::npos) << e;
}

}  // namespace
}  // namespace attnscope
