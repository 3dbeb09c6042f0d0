// The attnscope binary as users run it: no CUDA library at load time, CPU runs without the GPU
// backend, clear errors for bad input, --help on every verb.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "tests/app/shell_util.h"

namespace {

const std::string kBin = ATTNSCOPE_BINARY_DIR "/attnscope";
const std::string kSrc = ATTNSCOPE_SOURCE_DIR;

using attnscope::app_test::Shell;
using attnscope::app_test::sh;

std::string tmp(const std::string& name) {
  return std::string(::testing::TempDir()) + "/attnscope_cli_" + name;
}

TEST(Binary, HasNoCudaLibraryAsALoadTimeDependency) {
  Shell r = sh("readelf -d " + kBin);
  ASSERT_EQ(r.code, 0) << r.out;
  ASSERT_NE(r.out.find("NEEDED"), std::string::npos);
  for (const char* lib : {"libcudart", "libcupti", "libcublas", "libcudnn", "libcuda.so", "libnvToolsExt"})
    EXPECT_EQ(r.out.find(lib), std::string::npos) << lib << " is a NEEDED entry:\n" << r.out;
}

TEST(Binary, RunsOnTheCpuWithTheGpuBackendAbsent) {
  const std::string cap = tmp("gptoss.h5");
  Shell r = sh("ATTNSCOPE_GPU_PLUGIN=/nonexistent/libattnscope_cuda.so ATTNSCOPE_NO_GPU=1 " + kBin + " run --spec " +
             kSrc + "/samples/gpt-oss-20b.json --seq 128 --what-if --quiet -o " + cap);
  ASSERT_EQ(r.code, 0) << r.out;
  Shell rep = sh("ATTNSCOPE_NO_GPU=1 " + kBin + " report " + cap + " --json", false);
  ASSERT_EQ(rep.code, 0) << rep.out;
  auto j = nlohmann::json::parse(rep.out);
  EXPECT_EQ(j["env"]["backend"], "cpu");
  std::map<std::string, nlohmann::json> runs;
  for (const auto& run : j["runs"]) runs[run["label"]] = run;
  // The done criterion of the core issue: eager and sink pass, flash2 refused for its sinks,
  // the what-if flash2 shows the divergence dropping them causes.
  ASSERT_TRUE(runs.count("eager") && runs.count("sink") && runs.count("flash2") && runs.count("flash2 (what-if)"));
  EXPECT_TRUE(runs["eager"]["acceptance"]["pass"].get<bool>());
  EXPECT_TRUE(runs["sink"]["acceptance"]["pass"].get<bool>());
  EXPECT_EQ(runs["flash2"]["status"], "refused");
  bool sinks_reason = false;
  for (const auto& why : runs["flash2"]["verdict"]["reasons"]) sinks_reason |= why["code"] == "fa2.sinks";
  EXPECT_TRUE(sinks_reason);
  EXPECT_FALSE(runs["flash2 (what-if)"]["acceptance"]["pass"].get<bool>());
  EXPECT_GT(runs["flash2 (what-if)"]["vs_reference"]["max_abs"].get<double>(), 0.1);
  EXPECT_EQ(runs["sdpa"]["status"], "refused");
}

TEST(Binary, TextReportNamesVerdictsAndAcceptance) {
  const std::string cap = tmp("llama.h5");
  ASSERT_EQ(sh(kBin + " run --spec " + kSrc + "/samples/llama-3-8b.json --seq 96 --quiet -o " + cap).code, 0);
  Shell rep = sh(kBin + " report " + cap);
  ASSERT_EQ(rep.code, 0);
  EXPECT_NE(rep.out.find("passes: max abs"), std::string::npos) << rep.out;
  EXPECT_NE(rep.out.find("dispatches to the flash backend"), std::string::npos) << rep.out;
  Shell diff = sh(kBin + " diff " + cap + " eager flash2");
  EXPECT_EQ(diff.code, 0) << diff.out;
  EXPECT_NE(diff.out.find("within 1 ulp"), std::string::npos);
  Shell bad = sh(kBin + " diff " + cap + " eager nosuch");
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.out.find("no run 'nosuch'"), std::string::npos);
}

TEST(Binary, InvalidSpecIsRefusedNamingFileAndField) {
  const std::string spec = tmp("bad.json");
  std::ofstream(spec) << R"({"heads_q": 6, "heads_kv": 4, "head_dim": 64})";
  Shell r = sh(kBin + " run --spec " + spec + " -o " + tmp("never.h5"));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find(spec), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("heads_kv"), std::string::npos) << r.out;
  std::ofstream(spec) << R"({"heads": 8})";
  r = sh(kBin + " run --spec " + spec);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("'heads': unknown field"), std::string::npos) << r.out;
  std::ofstream(spec) << R"({"seq": "long"})";
  r = sh(kBin + " run --spec " + spec);
  EXPECT_NE(r.out.find("'seq': expected an integer"), std::string::npos) << r.out;
  r = sh(kBin + " run --config " + kSrc + "/samples/hf/gpt-oss-20b.json --layer 99");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("24 layers"), std::string::npos) << r.out;
  r = sh(kBin + " run --seq 0");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("--seq"), std::string::npos) << r.out;
}

TEST(Binary, BadCaptureIsAnErrorNotACrash) {
  const std::string junk = tmp("junk.h5");
  std::ofstream(junk) << "this is not an HDF5 file";
  Shell r = sh(kBin + " report " + junk);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find(junk), std::string::npos) << r.out;
  r = sh(kBin + " report /nonexistent/cap.h5");
  EXPECT_EQ(r.code, 2);
}

TEST(Binary, EveryVerbHasHelp) {
  for (const char* verb : {"run", "report", "diff", "diagnose", "export-trace", "bench"}) {
    Shell r = sh(kBin + " " + verb + " --help");
    EXPECT_EQ(r.code, 0) << verb << ": " << r.out;
    EXPECT_NE(r.out.find("attnscope"), std::string::npos) << verb;
  }
  Shell r = sh(kBin + " --help");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(sh(kBin + " frobnicate").code, 0);
}

TEST(Binary, ProbeAndImplSelection) {
  const std::string cap = tmp("probe.h5");
  Shell r = sh(kBin + " run --spec " + kSrc + "/samples/gpt-oss-20b.json --seq 160 --impl sink,eager "
             "--probe b=0,h=3,rows=64:128 --quiet -o " + cap);
  ASSERT_EQ(r.code, 0) << r.out;
  Shell bad = sh(kBin + " run --seq 64 --probe b=0,h=99,rows=0:8");
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.out.find("h=99"), std::string::npos) << bad.out;
  bad = sh(kBin + " run --impl eager,flash3");
  EXPECT_NE(bad.out.find("unknown implementation 'flash3'"), std::string::npos) << bad.out;
}

TEST(Binary, DefaultJobWithoutADisplayCapturesAndReports) {
  Shell r = sh("cd " + std::string(::testing::TempDir()) + " && env -u DISPLAY -u WAYLAND_DISPLAY " + kBin +
             " --seq 64 --quiet");
  ASSERT_EQ(r.code, 0) << r.out;
  std::ifstream f(std::string(::testing::TempDir()) + "/attnscope-default.h5");
  EXPECT_TRUE(f.good());
}

// Issue 12's done criterion, on the CPU: forward and backward acceptance per tensor for eager,
// sink and the flash2 what-if of a GPT-OSS layer; the what-if's dropped sinks get no gradient.
TEST(Binary, BackwardJudgesEveryGradientTensor) {
  const std::string cap = tmp("gptoss_bwd.h5");
  Shell r = sh("ATTNSCOPE_NO_GPU=1 " + kBin + " run --spec " + kSrc +
               "/samples/gpt-oss-20b.json --seq 96 --backward --what-if --impl eager,flash2,sink --quiet -o " + cap);
  ASSERT_EQ(r.code, 0) << r.out;
  Shell rep = sh("ATTNSCOPE_NO_GPU=1 " + kBin + " report " + cap + " --json", false);
  ASSERT_EQ(rep.code, 0) << rep.out;
  auto j = nlohmann::json::parse(rep.out);
  EXPECT_GE(j["format_version"].get<int>(), 2);  // gradients came with version 2
  for (const char* g : {"dq", "dk", "dv", "dsinks"}) EXPECT_GT(j["gradient_baseline"][g].get<double>(), 0) << g;
  std::map<std::string, nlohmann::json> runs;
  for (const auto& run : j["runs"]) runs[run["label"]] = run;
  for (const char* name : {"eager", "sink"}) {
    const auto& b = runs[name]["backward"];
    ASSERT_TRUE(b["ran"].get<bool>()) << name << ": " << b;
    EXPECT_GT(b["peak_bytes"].get<int64_t>(), 0);
    for (const char* g : {"dq", "dk", "dv", "dsinks"})
      EXPECT_TRUE(b["gradients"][g]["acceptance"]["pass"].get<bool>()) << name << " " << g << ": " << b["gradients"][g];
  }
  const auto& w = runs["flash2 (what-if)"]["backward"];
  ASSERT_TRUE(w["ran"].get<bool>());
  EXPECT_FALSE(w["gradients"]["dsinks"]["acceptance"]["pass"].get<bool>());
  EXPECT_FALSE(w["gradients"]["dq"]["acceptance"]["pass"].get<bool>());
  // The dropped sinks' gradient is 0, so its error is the reference's dsinks itself.
  EXPECT_GT(w["gradients"]["dsinks"]["vs_reference"]["max_abs"].get<double>(), 0.5);

  // Training at the full context (131072 tokens): one line per implementation whose backward ran, in
  // the text and the JSON, eager's beyond its forward's need.
  std::map<std::string, int64_t> fwd_need, bwd_need;
  for (const auto& f : j["full_context"]) fwd_need[f["impl"]] = f["need_bytes"].get<int64_t>();
  for (const auto& f : j["full_context_backward"]) bwd_need[f["impl"]] = f["need_bytes"].get<int64_t>();
  ASSERT_EQ(bwd_need.count("eager"), 1u) << j["full_context_backward"];
  EXPECT_GT(bwd_need["eager"], fwd_need["eager"]);
  EXPECT_EQ(bwd_need.count("sink"), 1u);
  Shell text = sh("ATTNSCOPE_NO_GPU=1 " + kBin + " report " + cap);
  EXPECT_NE(text.out.find("backward (dO: stored as /inputs/do"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("flash2 (what-if) dsinks: FAILS"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("training this layer at the same length"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("eager backward at 131072 tokens needs "), std::string::npos) << text.out;
  const std::string trace = tmp("gptoss_bwd.json");
  ASSERT_EQ(sh(kBin + " export-trace " + cap + " -o " + trace).code, 0);
  std::ifstream f(trace);
  auto t = nlohmann::json::parse(f);
  int bwd = 0;
  for (const auto& e : t["traceEvents"])
    if (e.contains("args") && e["args"].contains("pass") && e["args"]["pass"] == "backward") ++bwd;
  EXPECT_GE(bwd, 3 * 2) << "eager, sink and the what-if each have backward phases on the timeline";
}

// Packed sequences: flash2/sink varlen and eager (as the padded batch) pass forward and backward;
// --what-if shows eager attending across the boundaries; a malformed --cu-seqlens is one line.
TEST(Binary, PackedSequencesAndTheBoundariesWhatIf) {
  const std::string cap = tmp("packed.h5");
  Shell r = sh("ATTNSCOPE_NO_GPU=1 " + kBin + " run --spec " + kSrc +
               "/samples/llama-3-8b.json --cu-seqlens 0,37,130,150,211 --backward --what-if --impl eager,flash2 "
               "--quiet -o " + cap);
  ASSERT_EQ(r.code, 0) << r.out;
  Shell rep = sh("ATTNSCOPE_NO_GPU=1 " + kBin + " report " + cap + " --json", false);
  auto j = nlohmann::json::parse(rep.out);
  EXPECT_EQ(j["spec"]["cu_seqlens"], nlohmann::json({0, 37, 130, 150, 211}));
  std::map<std::string, nlohmann::json> runs;
  for (const auto& run : j["runs"]) runs[run["label"]] = run;
  ASSERT_TRUE(runs.count("eager") && runs.count("flash2") && runs.count("eager (boundaries ignored)")) << rep.out;
  for (const char* name : {"eager", "flash2"}) {
    EXPECT_TRUE(runs[name]["acceptance"]["pass"].get<bool>()) << name;
    for (const char* g : {"dq", "dk", "dv"})
      EXPECT_TRUE(runs[name]["backward"]["gradients"][g]["acceptance"]["pass"].get<bool>()) << name << " " << g;
  }
  const auto& cross = runs["eager (boundaries ignored)"];
  EXPECT_FALSE(cross["acceptance"]["pass"].get<bool>());
  EXPECT_EQ(cross["what_if_dropped"], nlohmann::json({"cu_seqlens"}));
  EXPECT_FALSE(cross["backward"]["gradients"]["dk"]["acceptance"]["pass"].get<bool>());
  bool silent = false;
  for (const auto& why : runs["eager"]["verdict"]["reasons"]) silent |= why["code"] == "hf.packed.cross";
  EXPECT_TRUE(silent);

  Shell bad = sh(kBin + " run --cu-seqlens 0,50,40 -o " + tmp("bad_packed.h5"));
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.out.find("cu_seqlens: must not decrease: entry 2 (40) is below entry 1 (50)"), std::string::npos)
      << bad.out;
}

TEST(Binary, BenchTimesTheBackwardApart) {
  Shell r = sh(kBin + " bench --spec " + kSrc + "/samples/llama-3-8b.json --seqs 32 --impl eager,flash2 --cpu "
               "--backward --json", false);
  ASSERT_EQ(r.code, 0) << r.out;
  auto j = nlohmann::json::parse(r.out.substr(r.out.find('[')));
  int bwd = 0;
  for (const auto& row : j)
    if (row["pass"] == "backward" && row["run"] != "reference") {
      ++bwd;
      EXPECT_GT(row["ms"].get<double>(), 0);
      EXPECT_GT(row["peak_bytes"].get<int64_t>(), 0);
      for (const char* g : {"dq", "dk", "dv"}) EXPECT_LT(row["max_abs_vs_fp64"][g].get<double>(), 0.1) << row;
    }
  EXPECT_EQ(bwd, 2);
}

TEST(Binary, BenchPrintsEveryImplementationAndTheReference) {
  Shell r = sh(kBin + " bench --spec " + kSrc + "/samples/llama-3-8b.json --seqs 32,48 --cpu --json", false);
  ASSERT_EQ(r.code, 0) << r.out;
  auto j = nlohmann::json::parse(r.out.substr(r.out.find('[')));
  int refs = 0, flash = 0;
  for (const auto& row : j) {
    refs += row["run"] == "reference";
    flash += row["run"] == "flash2";
  }
  EXPECT_EQ(refs, 2);
  EXPECT_EQ(flash, 2);
}

}  // namespace

#include "capture/tensor_io.h"

namespace {

TEST(Binary, ExplicitBooleanMaskFromTheSpecsMaskFile) {
  attnscope::Tensor m(attnscope::DType::F32, {1, 1, 48, 48});
  for (int i = 0; i < 48; ++i)
    for (int j = 0; j < 48; ++j) m.data[i * 48 + j] = (j <= i && (i + j) % 5 != 1) ? 1.0f : 0.0f;
  const std::string mask = tmp("mask.npy"), spec = tmp("masked.json"), cap = tmp("masked.h5");
  ASSERT_EQ(attnscope::write_npy(mask, m), "");
  std::ofstream(spec) << R"({"seq": 48, "heads_q": 4, "heads_kv": 4, "head_dim": 32, "dtype": "fp16",
                             "mask": "bool", "mask_file": ")" << mask << "\"}";
  Shell r = sh(kBin + " run --spec " + spec + " --json -o " + cap, false);
  ASSERT_EQ(r.code, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  std::map<std::string, nlohmann::json> runs;
  for (const auto& run : j["runs"]) runs[run["label"]] = run;
  EXPECT_TRUE(runs["eager"]["acceptance"]["pass"].get<bool>());
  EXPECT_EQ(runs["sdpa"]["sdpa_backend"], "efficient");  // an attn_mask rules flash out
  EXPECT_TRUE(runs["sdpa"]["acceptance"]["pass"].get<bool>());
  EXPECT_EQ(runs["flash2"]["status"], "refused");
  std::ofstream(spec) << R"({"seq": 40, "mask": "bool", "mask_file": ")" << mask << "\"}";
  r = sh(kBin + " run --spec " + spec + " -o " + cap);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("does not broadcast"), std::string::npos) << r.out;
}

}  // namespace

namespace {

// A layer of a tiny GPT-OSS-shaped model recorded on the H100 machine with attnscope_dump.py while
// it ran a registered attention that drops the sinks (tests/device/hf_replay.py), replayed here.
TEST(Binary, ReplaysARecordedHfLayerAndCatchesTheDroppedSinks) {
  const std::string dir = kSrc + "/tests/fixtures/hf_dump_gptoss_drop_sinks/";
  const std::string cap = tmp("dump.h5");
  Shell r = sh(kBin + " run --cpu --spec " + dir + "layer000.json --inputs " + dir + "layer000.safetensors" +
                   " --import-run hf=" + dir + "layer000.safetensors:out --what-if --json -o " + cap,
               false);
  ASSERT_EQ(r.code, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  std::map<std::string, nlohmann::json> runs;
  for (const auto& run : j["runs"]) runs[run["label"]] = run;
  ASSERT_TRUE(runs.count("hf"));
  EXPECT_EQ(runs["hf"]["backend"], "outside");
  EXPECT_TRUE(runs["eager"]["acceptance"]["pass"].get<bool>());
  EXPECT_TRUE(runs["sink"]["acceptance"]["pass"].get<bool>());
  EXPECT_FALSE(runs["hf"]["acceptance"]["pass"].get<bool>());
  // The user's function computes exactly what flash2 does with the sinks dropped.
  Shell d = sh(kBin + " diff " + cap + " hf 'flash2 (what-if)'");
  ASSERT_EQ(d.code, 0) << d.out;
  EXPECT_NE(d.out.find("worst heads:"), std::string::npos);
  const double hf_err = runs["hf"]["vs_reference"]["max_abs"].get<double>();
  const double wif_err = runs["flash2 (what-if)"]["vs_reference"]["max_abs"].get<double>();
  EXPECT_NEAR(hf_err, wif_err, 0.02 * wif_err);
  EXPECT_GT(hf_err, 0.1);
  // The capture made on the GPU machine from the same dump opens with the outside run beside ours.
  Shell rep = sh(kBin + " report " + dir + "layer000.h5 --json", false);
  ASSERT_EQ(rep.code, 0) << rep.out;
  auto jr = nlohmann::json::parse(rep.out);
  EXPECT_EQ(jr["env"]["backend"], "cuda");
  bool has_hf = false;
  for (const auto& run : jr["runs"]) has_hf |= run["label"] == "hf" && !run["acceptance"]["pass"].get<bool>();
  EXPECT_TRUE(has_hf);
}

}  // namespace
