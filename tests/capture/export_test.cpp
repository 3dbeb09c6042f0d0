// Chrome trace JSON and the per-run summaries.
#include "capture/export.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "store_fixture.h"

namespace attnscope {
namespace {

using nlohmann::json;

std::vector<json> events(const json& doc, const std::string& ph) {
  std::vector<json> r;
  for (const auto& e : doc["traceEvents"])
    if (e["ph"] == ph) r.push_back(e);
  return r;
}

TEST(Trace, EventsTracksAndKernelArgs) {
  Capture c = testing::full_capture(DType::BF16);
  json doc = json::parse(trace_json(c));
  ASSERT_TRUE(doc["traceEvents"].is_array());
  auto meta = events(doc, "M");
  int process_names = 0;
  std::map<int, std::string> threads;
  for (const auto& m : meta) {
    if (m["name"] == "process_name") {
      ++process_names;
      EXPECT_EQ(m["pid"], 1);
      EXPECT_NE(m["args"]["name"].get<std::string>().find("store test layer"), std::string::npos);
    }
    if (m["name"] == "thread_name") threads[m["tid"].get<int>()] = m["args"]["name"];
  }
  EXPECT_EQ(process_names, 1);
  // reference, eager, flash2 (what-if), outside/run each have NVTX ranges + kernels + host spans:
  // 3 tracks each; the refused run has nothing to show.
  EXPECT_EQ(threads.size(), 12u);
  bool saw_eager = false, saw_host = false;
  for (const auto& [tid, name] : threads) {
    saw_eager |= name == "eager [cpu]";
    saw_host |= name == "eager (host)";
    EXPECT_EQ(name.find("sink"), std::string::npos);
  }
  EXPECT_TRUE(saw_eager);
  EXPECT_TRUE(saw_host);

  auto x = events(doc, "X");
  int kernels = 0, spans = 0, ranges = 0, bwd_kernels = 0, bwd_spans = 0;
  // The ranges start at -50.5 us (before the first warm-up launch): the trace moves by +50.5.
  const double shift = 50.5;
  for (const auto& e : x) {
    ASSERT_TRUE(e["ts"].is_number());
    ASSERT_TRUE(e["dur"].is_number());
    EXPECT_TRUE(threads.count(e["tid"].get<int>()));
    if (e["cat"] == "kernel,backward") {  // the backward's kernels: same track, their own category
      ++bwd_kernels;
      EXPECT_EQ(e["name"], "attnscope::flash2_bwd_dq_dk_dv<64, bf16>");
      EXPECT_EQ(e["args"]["pass"], "backward");
      EXPECT_EQ(e["ts"].get<double>(), 300.0 + shift);
    } else if (e["cat"] == "host,backward") {
      ++bwd_spans;
      EXPECT_EQ(e["name"], "eager/bwd/autograd");
      EXPECT_EQ(e["args"]["pass"], "backward");
    } else if (e["cat"] == "kernel") {
      ++kernels;
      const json& a = e["args"];
      EXPECT_EQ(e["name"], "attnscope::flash2_fwd<128, bf16>");
      EXPECT_EQ(a["grid"], json({4, 8, 2}));
      EXPECT_EQ(a["block"], json({128, 1, 1}));
      EXPECT_EQ(a["registers per thread"], 168);
      EXPECT_EQ(a["shared memory"], 1024 + 49152);
      EXPECT_EQ(a["stream"], 7);
      EXPECT_EQ(a["correlation"], 0x123456789abcull);
      EXPECT_EQ(e["ts"].get<double>(), 200.0 + shift);  // the warm-up kernel is left out by default
      EXPECT_EQ(e["dur"].get<double>(), 42.5);
    } else if (e["cat"] == "nvtx") {
      EXPECT_NE(threads[e["tid"].get<int>()].find(" NVTX"), std::string::npos);
      EXPECT_GE(e["ts"].get<double>(), 0.0);
      if (e["name"] == "timed repeats") {
        EXPECT_EQ(e["ts"].get<double>(), 150.0 + shift);
        EXPECT_EQ(e["args"]["depth"], 1);
      }
      ++ranges;
    } else {
      EXPECT_EQ(e["cat"], "host");
      ++spans;
    }
  }
  EXPECT_EQ(kernels, 4);  // one timed kernel in each of 4 runs (the warm-up one skipped)
  EXPECT_EQ(spans, 8);
  EXPECT_EQ(ranges, 12);  // 3 in each of 4 runs
  EXPECT_EQ(bwd_kernels, 3);  // reference, eager and flash2 (what-if) ran a backward
  EXPECT_EQ(bwd_spans, 3);
  auto counters = events(doc, "C");
  ASSERT_EQ(counters.size(), 8u + 6u);
  int bwd_counters = 0;
  for (const auto& cn : counters) bwd_counters += cn["name"].get<std::string>().find(" backward memory") != std::string::npos;
  EXPECT_EQ(bwd_counters, 6);
  EXPECT_EQ(counters[0]["args"]["bytes in use"], 4096);
  EXPECT_EQ(counters[1]["args"]["bytes in use"], 0);
  EXPECT_EQ(counters[0]["name"], "reference memory");

  TraceOptions opt;
  opt.warmup = true;
  opt.memory = false;
  opt.spans = false;
  opt.ranges = false;
  doc = json::parse(trace_json(c, opt));
  EXPECT_EQ(events(doc, "X").size(), 8u + 3u);
  EXPECT_TRUE(events(doc, "C").empty());
}

TEST(Trace, OneProcessPerCapture) {
  Capture a = testing::full_capture(DType::F16), b = testing::full_capture(DType::BF16);
  b.spec.name = "second";
  json doc = json::parse(trace_json(std::vector<const Capture*>{&a, &b}));
  std::set<int> pids;
  for (const auto& e : doc["traceEvents"]) pids.insert(e["pid"].get<int>());
  EXPECT_EQ(pids, (std::set<int>{1, 2}));
}

// A real small capture: fp64 reference and eager on the CPU, so the errors are real numbers.
Capture computed_capture() {
  Capture c;
  c.spec = testing::small_spec(DType::BF16);
  c.spec.sinks = false;
  c.inputs = random_inputs(c.spec, 1, Distribution::Normal);
  RunOptions o;
  c.reference = run_reference(c.spec, c.inputs, o);
  c.reference.label = "reference";
  RunResult e = cpu_implementation("eager")->run(c.spec, c.inputs, o);
  e.label = "eager";
  e.backend = "cpu";
  e.median_ms = 1.5;
  e.peak_bytes = 1000;
  e.model_bytes = 2000;
  c.runs.push_back(e);
  RunResult refused;
  refused.label = "flash2, \"odd\" label";
  refused.impl = "flash2";
  refused.error = "FlashAttention only supports Ampere GPUs or newer.";
  refused.verdict.add(Severity::Error, "fa2.arch", refused.error, "flash-attn 2.x");
  c.runs.push_back(refused);
  return c;
}

TEST(Summary, JsonAndCsv) {
  Capture c = computed_capture();
  json j = json::parse(summary_json(c));
  ASSERT_EQ(j["runs"].size(), 2u);
  const json& e = j["runs"][0];
  EXPECT_EQ(e["label"], "eager");
  EXPECT_EQ(e["backend"], "cpu");
  EXPECT_EQ(e["median_ms"], 1.5);
  EXPECT_EQ(e["peak_bytes"], 1000);
  EXPECT_EQ(e["model_bytes"], 2000);
  ASSERT_TRUE(e["max_abs_err"].is_number());
  EXPECT_GT(e["max_abs_err"].get<double>(), 0.0);   // bf16 eager differs from fp64 ...
  EXPECT_LT(e["max_abs_err"].get<double>(), 0.05);  // ... by bf16 rounding only
  EXPECT_TRUE(e["verdict"]["supported"]);
  const json& f = j["runs"][1];
  EXPECT_TRUE(f["max_abs_err"].is_null());
  EXPECT_FALSE(f["verdict"]["supported"]);
  EXPECT_EQ(f["verdict"]["reasons"][0]["code"], "fa2.arch");

  std::string csv = summary_csv(c);
  std::istringstream in(csv);
  std::string header, l1, l2, extra;
  std::getline(in, header);
  std::getline(in, l1);
  std::getline(in, l2);
  EXPECT_FALSE(std::getline(in, extra));
  EXPECT_EQ(header.rfind("label,impl,backend,ran,supported,verdict,median_ms,peak_bytes,model_bytes,max_abs_err", 0), 0u);
  EXPECT_EQ(l1.rfind("eager,", 0), 0u);
  EXPECT_NE(l1.find(",1.5,1000,2000,"), std::string::npos) << l1;
  EXPECT_EQ(l2.rfind("\"flash2, \"\"odd\"\" label\",flash2,", 0), 0u) << l2;
  EXPECT_NE(l2.find("unsupported: fa2.arch"), std::string::npos) << l2;
}

TEST(Summary, WriteTextFileIsAtomic) {
  std::string dir = testing::scratch_dir("export_write");
  EXPECT_EQ(write_text_file(dir + "/t.json", "{}"), "");
  EXPECT_NE(write_text_file(dir + "/missing/t.json", "{}"), "");
  int files = 0;
  for (const auto& x : std::filesystem::directory_iterator(dir)) { (void)x; ++files; }
  EXPECT_EQ(files, 1);
}

}  // namespace
}  // namespace attnscope
