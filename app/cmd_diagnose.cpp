// `attnscope diagnose`: parse the flags, build the DiagnoseReport, render it as text or JSON.
#include "app/cmd_diagnose.h"

#include <cstdio>
#include <fstream>

#include "app/cli_args.h"
#include "capture/diagnose/diagnose.h"
#include "capture/diagnose/render.h"

namespace attnscope {

namespace {

constexpr const char* kUsage = R"(usage: attnscope diagnose [inputs...] [Hydra overrides...]

Why an attention implementation fails (or silently computes something else) on this GPU or a
named one, what HF transformers and verl really do, and the cheapest fix. Any combination of:

  --gpu NAME                judge against a named GPU: T4 V100 A10G L4 A100 RTX3090 RTX4090 H100
                            H200 B200 smXY (default: the local GPU; none is a finding, not an error)
  --env FILE                the user's Python environment, written by scripts/attnscope-env.py
                            (torch/CUDA, transformers, flash_attn version or exact import error,
                            kernels, vllm, GPUs, driver)
  --config FILE [--layer N] HF config.json (every layer type) | --spec FILE (attnscope layer JSON)
  --dtype D --seq N --seq-q N --seq-k N --batch N     layer overrides
  --verl-config YAML        a verl trainer config; trailing key=value / +key=value / ++key=value /
                            ~key arguments are applied to it as Hydra overrides
  --attn-implementation S   check a string the way transformers would (names, hub kernels, paths)
  --log FILE                explain every recognised line of a training/inference log
  --run [--run-seq N]       run the recommended fallback and the fp64 reference on the layer shape
  --json                    JSON instead of text;   -o FILE   write to FILE
  --no-local-gpu            do not probe the local GPU
)";

}  // namespace

int cmd_diagnose(const std::vector<std::string>& args) {
  for (const auto& a : args)
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
  std::vector<std::string> argv;  // "--" separates flags from Hydra overrides; Args would reject it
  for (const auto& x : args)
    if (x != "--") argv.push_back(x);
  Args a(argv,
         {"--gpu", "--env", "--config", "--spec", "--layer", "--dtype", "--seq", "--seq-q", "--seq-k", "--batch",
          "--verl-config", "--attn-implementation", "--log", "--run-seq", "-o"},
         {"--json", "--run", "--no-local-gpu"});
  if (!a.error().empty()) {
    std::fprintf(stderr, "attnscope diagnose: %s\n%s", a.error().c_str(), kUsage);
    return 2;
  }
  DiagnoseOptions opt;
  opt.gpu = a.get("--gpu");
  opt.env_file = a.get("--env");
  opt.config_file = a.get("--config");
  opt.spec_file = a.get("--spec");
  opt.verl_file = a.get("--verl-config");
  opt.attn_implementation = a.get("--attn-implementation");
  opt.log_file = a.get("--log");
  opt.run = a.has("--run");
  opt.local_gpu = !a.has("--no-local-gpu");
  opt.overrides.dtype = a.get("--dtype");
  struct IntFlag {
    const char* flag;
    int* out;
    long long lo, hi;
  };
  const IntFlag ints[] = {{"--layer", &opt.layer, 0, 1 << 20},       {"--seq", &opt.overrides.seq, 1, 1 << 22},
                          {"--seq-q", &opt.overrides.seq_q, 1, 1 << 22}, {"--seq-k", &opt.overrides.seq_k, 1, 1 << 22},
                          {"--batch", &opt.overrides.batch, 1, 1 << 16}, {"--run-seq", &opt.run_seq, 1, 1 << 20}};
  for (const auto& f : ints)
    if (a.has(f.flag))
      if (std::string e = a.integer(f.flag, f.lo, f.hi, f.out); !e.empty()) {
        std::fprintf(stderr, "attnscope diagnose: %s\n", e.c_str());
        return 2;
      }
  for (const auto& p : a.positional()) {
    if (p.find('=') == std::string::npos && p.rfind("~", 0) != 0) {
      std::fprintf(stderr,
                   "attnscope diagnose: unexpected argument '%s' (Hydra overrides are key=value, +key=value, "
                   "++key=value or ~key)\n",
                   p.c_str());
      return 2;
    }
    opt.verl_overrides.push_back(p);
  }

  DiagnoseReport report;
  if (std::string e = build_diagnose_report(opt, &report); !e.empty()) {
    std::fprintf(stderr, "attnscope diagnose: %s\n", e.c_str());
    return 2;
  }
  std::string text = a.has("--json") ? render_diagnose_json(report) + "\n" : render_diagnose_text(report);
  std::string out = a.get("-o");
  if (!out.empty()) {
    std::ofstream f(out, std::ios::binary);
    if (!f || !(f << text)) {
      std::fprintf(stderr, "attnscope diagnose: -o %s: cannot write\n", out.c_str());
      return 2;
    }
    std::fprintf(stderr, "wrote %s\n", out.c_str());
  } else {
    std::fwrite(text.data(), 1, text.size(), stdout);
  }
  return 0;
}

}  // namespace attnscope
