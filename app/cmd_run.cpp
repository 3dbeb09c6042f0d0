#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "app/commands.h"
#include "app/layer_options.h"
#include "capture/report.h"
#include "capture/store.h"
#include "kernels/gpu_backend.h"

namespace attnscope {

namespace {

constexpr const char* kRunHelp = R"(attnscope run - run a layer under each implementation and write a capture

usage: attnscope run [layer] [inputs] [implementations] [-o FILE.h5]

layer (default: the embedded GPT-OSS-20B sample):
  --spec FILE            attnscope layer spec JSON (samples/*.json)
  --config FILE          HuggingFace config.json; --layer N picks a layer (layer_types)
  --seq N | --seq-q N --seq-k N | --batch N | --dtype fp32|fp16|bf16
  --cu-seqlens 0,E1,...,TOTAL   packed sequences (FA2's varlen convention): batch 1, seq = TOTAL
inputs:
  --seed N (1)  --dist normal|outliers
  --inputs FILE          .npy folder, .safetensors or .h5 with q, k, v [, sinks, mask]
  --layout bhnd|bnhd     layout of the files (default bhnd: [batch, heads, seq, dim])
implementations:
  --impl LIST            eager,sdpa,flash2,sink (default all); sdpa:flash|efficient|math|cudnn forces
  --what-if              also run refused ones with the unsupported feature dropped
  --backward             also the backward pass: dQ, dK, dV (dSinks) from dO (`do` in --inputs, else
                         seeded), judged per gradient tensor; its costs recorded apart from the forward's
  --import-run NAME=FILE[:tensor]   add an output computed elsewhere (repeatable)
  --probe b=0,h=3,rows=128:192      record the fused kernels' tiles for these rows
  --gpu NAME             judge verdicts against a named GPU (T4, A100, H100, sm75, ...)
  --cpu                  run on the CPU even where the GPU backend is loaded
  --repeats N --warmup N --threads N
output:
  -o FILE                capture file (default capture.h5)
  --budget MiB           intermediates kept whole up to this size (default 256)
  --no-inputs            do not store q, k, v in the capture
  --quiet                no report after the run; --json prints it as JSON
)";

std::string parse_probe(const std::string& text, ProbeSpec* p) {
  // b=0,h=3,rows=128:192
  p->enabled = true;
  std::stringstream ss(text);
  std::string item;
  bool rows = false;
  while (std::getline(ss, item, ',')) {
    auto eq = item.find('=');
    if (eq == std::string::npos) return "--probe: expected key=value in '" + item + "' (b=0,h=3,rows=128:192)";
    std::string k = item.substr(0, eq), v = item.substr(eq + 1);
    try {
      if (k == "b") p->batch = std::stoi(v);
      else if (k == "h") p->head = std::stoi(v);
      else if (k == "rows") {
        auto c = v.find(':');
        if (c == std::string::npos) return "--probe: rows must be BEGIN:END, got '" + v + "'";
        p->row_begin = std::stoi(v.substr(0, c));
        p->row_end = std::stoi(v.substr(c + 1));
        rows = true;
      } else
        return "--probe: unknown key '" + k + "' (b, h, rows)";
    } catch (const std::exception&) {
      return "--probe: '" + v + "' is not a number";
    }
  }
  if (!rows) return "--probe: rows=BEGIN:END is required";
  if (p->row_begin < 0 || p->row_end <= p->row_begin || p->row_end - p->row_begin > 4096)
    return "--probe: rows must satisfy 0 <= BEGIN < END, at most 4096 rows";
  return "";
}

std::string check_probe(const ProbeSpec& p, const LayerSpec& s) {
  if (!p.enabled) return "";
  if (p.batch < 0 || p.batch >= s.batch) return "--probe: b=" + std::to_string(p.batch) + " outside the batch of " + std::to_string(s.batch);
  if (p.head < 0 || p.head >= s.heads_q) return "--probe: h=" + std::to_string(p.head) + " outside the " + std::to_string(s.heads_q) + " query heads";
  if (p.row_end > s.seq_q) return "--probe: rows end at " + std::to_string(p.row_end) + ", the layer has " + std::to_string(s.seq_q) + " query rows";
  return "";
}

int fail(const std::string& msg) {
  std::fprintf(stderr, "attnscope: %s\n", msg.c_str());
  return 2;
}

}  // namespace

Progress::Progress(bool enabled) : enabled_(enabled && isatty(STDERR_FILENO)) {}
Progress::~Progress() { done(); }

void Progress::update(const std::string& stage, double fraction) {
  if (!enabled_) return;
  int permille = static_cast<int>(fraction * 1000);
  if (permille == last_permille_ && stage == last_stage_) return;
  last_permille_ = permille;
  last_stage_ = stage;
  int filled = static_cast<int>(fraction * 30);
  std::string bar(static_cast<size_t>(std::clamp(filled, 0, 30)), '#');
  bar.resize(30, '.');
  std::fprintf(stderr, "\r[%s] %5.1f%%  %-28.28s", bar.c_str(), fraction * 100, stage.c_str());
  std::fflush(stderr);
}

void Progress::done() {
  if (enabled_ && last_permille_ >= 0) std::fprintf(stderr, "\r%*s\r", 72, "");
  last_permille_ = -1;
}

// Shared by `run` and the default job.
static int run_with(const Args& a, const std::string& default_out) {
  LayerSpec spec;
  if (std::string e = layer_from_args(a, &spec); !e.empty()) return fail(e);
  Inputs in;
  uint64_t seed = 1;
  std::string dist;
  if (std::string e = inputs_from_args(a, spec, &in, &seed, &dist); !e.empty()) return fail(e);

  SessionOptions so;
  so.backward = a.has("--backward");
  if (so.backward) dout_for_backward(spec, seed, &in);
  if (a.has("--impl")) {
    std::stringstream ss(a.get("--impl"));
    std::string name;
    while (std::getline(ss, name, ','))
      if (!name.empty()) so.impls.push_back(name);
  }
  so.what_if = a.has("--what-if");
  so.force_cpu = a.has("--cpu");
  if (a.has("--gpu")) {
    auto g = named_gpu(a.get("--gpu"));
    if (!g) {
      std::string known;
      for (const auto& n : named_gpu_list()) known += (known.empty() ? "" : ", ") + n;
      return fail("--gpu: unknown GPU '" + a.get("--gpu") + "' (" + known + ")");
    }
    so.verdict_device = *g;
    so.verdict_device_named = true;
  }
  if (a.has("--probe")) {
    if (std::string e = parse_probe(a.get("--probe"), &so.probe); !e.empty()) return fail(e);
    if (std::string e = check_probe(so.probe, spec); !e.empty()) return fail(e);
  }
  for (const auto& [flag, field] : {std::pair{"--repeats", &so.repeats}, {"--threads", &so.threads}})
    if (std::string e = a.integer(flag, 1, 100000, field); !e.empty()) return fail(e);
  if (std::string e = a.integer("--warmup", 0, 100000, &so.warmup); !e.empty()) return fail(e);
  for (const auto& item : a.all("--import-run")) {
    auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0) return fail("--import-run: expected NAME=FILE[:tensor], got '" + item + "'");
    so.import_runs.push_back({item.substr(0, eq), item.substr(eq + 1)});
  }
  if (std::string e = layout_from_args(a, &so.import_layout); !e.empty()) return fail(e);
  StoreOptions store;
  int budget = 256;
  if (std::string e = a.integer("--budget", 0, 1 << 20, &budget); !e.empty()) return fail(e);
  store.intermediate_budget = int64_t{budget} << 20;
  store.store_inputs = !a.has("--no-inputs");
  const std::string out = a.get("-o", default_out);

  Progress progress(!a.has("--quiet"));
  so.progress = [&progress](const std::string& stage, double f) { progress.update(stage, f); };
  Capture cap;
  std::string err = run_session(spec, std::move(in), so, &cap);
  progress.done();
  if (!err.empty()) return fail(err);
  cap.env.seed = seed;
  cap.env.distribution = dist;
  std::string cmdline = "attnscope run";
  for (const auto& s : a.positional()) cmdline += " " + s;
  cap.env.command_line = cmdline;
  if (std::string e = save_capture(cap, out, store); !e.empty()) return fail(e);
  if (a.has("--json")) std::fputs((report_json(cap, out) + "\n").c_str(), stdout);
  else if (!a.has("--quiet")) std::fputs(report_text(cap, out).c_str(), stdout);
  std::fflush(stdout);  // the report before the line on stderr, also where both go to one file
  std::fprintf(stderr, "wrote %s\n", out.c_str());
  for (const auto& r : cap.runs)
    if (!r.ran && !r.error.empty() && r.error.rfind("refused", 0) != 0) return 1;  // a run failed
  return 0;
}

static std::set<std::string> run_flags() {
  std::set<std::string> f = kLayerFlags;
  f.insert(kInputFlags.begin(), kInputFlags.end());
  for (const char* x : {"--impl", "--import-run", "--probe", "--gpu", "--repeats", "--warmup", "--threads", "-o",
                        "--budget"})
    f.insert(x);
  return f;
}

int cmd_run(const ArgList& args) {
  for (const auto& s : args)
    if (s == "--help" || s == "-h") {
      std::fputs(kRunHelp, stdout);
      return 0;
    }
  Args a(args, run_flags(), {"--what-if", "--cpu", "--no-inputs", "--quiet", "--json", "--backward"}, {"--import-run"});
  if (!a.error().empty()) return fail("run: " + a.error());
  if (!a.positional().empty()) return fail("run: unexpected argument '" + a.positional()[0] + "'");
  return run_with(a, "capture.h5");
}

int cmd_default_job(const ArgList& args) {
  for (const auto& s : args)
    if (s == "--help" || s == "-h") {
      std::fputs("attnscope with no verb: the GUI where there is a display; otherwise runs the embedded default "
                 "sample (GPT-OSS-20B sliding layer, 512 tokens, all implementations, --what-if) on the GPU when "
                 "present, else the CPU, writes attnscope-default.h5 and prints its report. Accepts run's options.\n",
                 stdout);
      return 0;
    }
  std::vector<std::string> with = args;
  bool has_what_if = false;
  for (const auto& s : args) has_what_if |= s == "--what-if";
  if (!has_what_if) with.push_back("--what-if");
  Args a(with, run_flags(), {"--what-if", "--cpu", "--no-inputs", "--quiet", "--json", "--backward"}, {"--import-run"});
  if (!a.error().empty()) return fail(a.error());
  const GpuBackend& g = GpuBackend::instance();
  std::fprintf(stderr, "attnscope: no display - capturing the default sample on the %s\n",
               g.available() ? g.device().describe().c_str() : ("CPU (" + g.why_not() + ")").c_str());
  return run_with(a, "attnscope-default.h5");
}

}  // namespace attnscope
