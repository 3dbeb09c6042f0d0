// attnscope bench: each implementation (and the fp64 reference) over sequence lengths, with
// TFLOP/s, ratios against eager and error against fp64, on the backend that is here.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include <nlohmann/json.hpp>

#include "app/commands.h"
#include "app/layer_options.h"
#include "capture/analysis.h"
#include "kernels/format.h"
#include "kernels/gpu_backend.h"

namespace attnscope {

namespace {

int fail(const std::string& msg) {
  std::fprintf(stderr, "attnscope: %s\n", msg.c_str());
  return 2;
}

}  // namespace

int cmd_bench(const ArgList& args) {
  for (const auto& s : args)
    if (s == "--help" || s == "-h") {
      std::fputs("attnscope bench [layer flags] --seqs 256,512 [--impl LIST] [--cpu] [--repeats N] [--backward] [--json]\n"
                 "  times the fp64 reference and each implementation at each sequence length (Nq = Nk) on the GPU "
                 "backend when loaded, else the CPU; prints ms, TFLOP/s (4*B*H*visible*D), ratio to eager, and the "
                 "max abs error against fp64\n"
                 "  --backward: a second row per run for its backward pass (dO seeded): ms, TFLOP/s (2.5x the "
                 "forward's FLOPs, FlashAttention's count), peak memory, and the worst gradient's max abs error "
                 "against fp64 with the tensor named\n", stdout);
      return 0;
    }
  std::set<std::string> flags = kLayerFlags;
  for (const char* f : {"--seqs", "--impl", "--repeats", "--threads", "--seed"}) flags.insert(f);
  Args a(args, flags, {"--cpu", "--json", "--backward"});
  if (!a.error().empty()) return fail("bench: " + a.error());
  LayerSpec base;
  if (std::string e = layer_from_args(a, &base); !e.empty()) return fail(e);
  std::vector<int> seqs;
  {
    std::stringstream ss(a.get("--seqs", std::to_string(base.seq_q)));
    std::string x;
    while (std::getline(ss, x, ',')) {
      try {
        int v = std::stoi(x);
        if (v < 1 || v > (1 << 20)) throw std::out_of_range("seq");
        seqs.push_back(v);
      } catch (const std::exception&) {
        return fail("--seqs: '" + x + "' is not a sequence length in [1, 1048576]");
      }
    }
  }
  SessionOptions so;
  if (a.has("--impl")) {
    std::stringstream ss(a.get("--impl"));
    std::string n;
    while (std::getline(ss, n, ','))
      if (!n.empty()) so.impls.push_back(n);
  }
  so.force_cpu = a.has("--cpu");
  so.backward = a.has("--backward");
  if (std::string e = a.integer("--repeats", 1, 100000, &so.repeats); !e.empty()) return fail(e);
  if (std::string e = a.integer("--threads", 1, 4096, &so.threads); !e.empty()) return fail(e);
  int seed = 1;
  if (std::string e = a.integer("--seed", 0, 2147483647, &seed); !e.empty()) return fail(e);

  nlohmann::json out = nlohmann::json::array();
  std::printf("%-8s %-16s %-7s %10s %10s %9s %10s\n", "seq", "run", "backend", "ms", "TFLOP/s", "vs eager",
              "max|d| fp64");
  for (int n : seqs) {
    LayerSpec s = base;
    s.seq_q = s.seq_k = n;
    if (std::string e = s.validate(); !e.empty()) return fail(e);
    Capture cap;
    Inputs in = random_inputs(s, seed, Distribution::Normal);
    if (so.backward) dout_for_backward(s, static_cast<uint64_t>(seed), &in);
    if (std::string e = run_session(s, std::move(in), so, &cap); !e.empty()) return fail(e);
    const double flops = 4.0 * s.heads_q * static_cast<double>(s.visible_pairs()) * s.head_dim;  // QK^T and P·V
    double eager_ms = 0;
    for (const auto& r : cap.runs)
      if (r.label == "eager" && r.ran) eager_ms = r.median_ms;
    auto row = [&](const RunResult& r, double err) {
      double tf = r.median_ms > 0 ? flops / (r.median_ms * 1e-3) / 1e12 : 0;
      std::printf("%-8d %-16s %-7s %10.3f %10.4f %9s %10.3g\n", n, r.label.c_str(), r.backend.c_str(), r.median_ms,
                  tf, eager_ms > 0 ? (std::to_string(r.median_ms / eager_ms).substr(0, 6) + "x").c_str() : "-", err);
      out.push_back({{"seq", n}, {"run", r.label}, {"pass", "forward"}, {"backend", r.backend}, {"ms", r.median_ms}, {"tflops", tf},
                     {"ratio_vs_eager", eager_ms > 0 ? r.median_ms / eager_ms : 0}, {"max_abs_vs_fp64", err},
                     {"device", r.device}, {"spec", s.summary()}});
    };
    double eager_bwd_ms = 0;
    for (const auto& r : cap.runs)
      if (r.label == "eager" && r.grad.ran) eager_bwd_ms = r.grad.median_ms;
    // The backward: FlashAttention counts 2.5x the forward's FLOPs (five GEMMs to the forward's two).
    auto bwd_row = [&](const RunResult& r) {
      const std::string label = r.label + " bwd";
      if (!r.grad.ran) {
        std::printf("%-8d %-16s %-7s %10s  %s\n", n, label.c_str(), r.backend.c_str(), "-",
                    r.grad.error.empty() ? "no backward" : r.grad.error.c_str());
        return;
      }
      const double tf = r.grad.median_ms > 0 ? 2.5 * flops / (r.grad.median_ms * 1e-3) / 1e12 : 0;
      std::string worst_name;
      double worst = 0;
      nlohmann::json errs = nlohmann::json::object();
      if (&r != &cap.reference)
        for (const auto& g : kGradientTensors) {
          Divergence d = compare_gradient(cap, r, cap.reference, g.name);
          if (!d.comparable) continue;
          errs[g.name] = d.max_abs;
          if (worst_name.empty() || d.max_abs > worst) worst = d.max_abs, worst_name = g.name;
        }
      std::printf("%-8d %-16s %-7s %10.3f %10.4f %9s %10.3g %s %s\n", n, label.c_str(), r.backend.c_str(),
                  r.grad.median_ms, tf,
                  eager_bwd_ms > 0 ? (std::to_string(r.grad.median_ms / eager_bwd_ms).substr(0, 6) + "x").c_str() : "-",
                  worst, worst_name.c_str(), format_bytes(r.grad.peak_bytes).c_str());
      out.push_back({{"seq", n}, {"run", r.label}, {"pass", "backward"}, {"backend", r.backend},
                     {"ms", r.grad.median_ms}, {"tflops", tf}, {"peak_bytes", r.grad.peak_bytes},
                     {"model_bytes", r.grad.model_bytes},
                     {"ratio_vs_eager", eager_bwd_ms > 0 ? r.grad.median_ms / eager_bwd_ms : 0},
                     {"max_abs_vs_fp64", errs}, {"device", r.device}, {"spec", s.summary()}});
    };
    row(cap.reference, 0);
    if (so.backward) bwd_row(cap.reference);
    for (const auto& r : cap.runs) {
      if (!r.ran) {
        std::printf("%-8d %-16s %-7s %10s  %s\n", n, r.label.c_str(), r.backend.c_str(), "-", r.error.c_str());
        continue;
      }
      row(r, compare_to_reference(cap, r).max_abs);
      if (so.backward) bwd_row(r);
    }
  }
  if (a.has("--json")) std::printf("%s\n", out.dump(2).c_str());
  return 0;
}

}  // namespace attnscope
