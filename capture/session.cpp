#include "capture/session.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <ctime>
#include <fstream>

#include "capture/analysis.h"
#include "capture/tensor_io.h"
#include "kernels/gpu_backend.h"

namespace attnscope {

namespace {

using Clock = std::chrono::steady_clock;
constexpr int64_t kHostIntermediateLimit = int64_t{1} << 30;

std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0) {
      auto c = line.find(':');
      return c == std::string::npos ? line : line.substr(c + 2);
    }
  return "unknown CPU";
}

std::string iso_now() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

// Inputs for a what-if spec: the same tensors, rounded to its dtype, without what it dropped.
Inputs adapt_inputs(const Inputs& in, const LayerSpec& to) {
  Inputs r = in;
  for (Tensor* t : {&r.q, &r.k, &r.v, &r.dout})
    if (!t->empty() && t->dtype != to.dtype) {
      t->dtype = to.dtype;
      t->round_in_place();
    }
  if (!to.sinks) r.sinks.clear();
  if (to.mask != MaskKind::ExplicitBool && to.mask != MaskKind::ExplicitAdditive) r.mask = Tensor();
  return r;
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? sep : "") + v[i];
  return s;
}

}  // namespace

EnvInfo current_env() {
  EnvInfo e;
  e.attnscope_version = ATTNSCOPE_VERSION;
  e.created = iso_now();
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  e.host = host;
  struct utsname u;
  if (uname(&u) == 0) e.os = std::string(u.sysname) + " " + u.release + " " + u.machine;
  e.cpu = cpu_model();
  const GpuBackend& g = GpuBackend::instance();
  e.gpu_backend_status = g.available() ? "loaded" : g.why_not();
  return e;
}

std::string run_session(const LayerSpec& spec, Inputs inputs, const SessionOptions& opt, Capture* cap) {
  if (std::string e = spec.validate(); !e.empty()) return "layer spec: " + e;
  if (std::string e = inputs.check_against(spec); !e.empty()) return "inputs (" + inputs.origin + "): " + e;
  if (opt.backward && inputs.dout.empty())
    return "--backward: no dO (a `do` tensor in the inputs file, or one seeded by the caller)";
  std::vector<std::string> impls = opt.impls.empty() ? implementation_names() : opt.impls;
  for (const auto& name : impls)
    if (!cpu_implementation(name))
      return "--impl: unknown implementation '" + name + "' (eager, sdpa, sdpa:flash|efficient|math|cudnn, flash2, sink)";

  const GpuBackend& gpu = GpuBackend::instance();
  const bool use_gpu = !opt.force_cpu && gpu.available();
  const DeviceInfo run_dev = use_gpu ? gpu.device() : cpu_device();
  const DeviceInfo verdict_dev = opt.verdict_device_named ? opt.verdict_device : run_dev;

  *cap = Capture{};
  cap->spec = spec;
  cap->env = current_env();
  cap->env.backend = use_gpu ? "cuda" : "cpu";
  cap->env.device = run_dev.describe();
  cap->inputs = std::move(inputs);
  const Inputs& in = cap->inputs;

  const auto t0 = Clock::now();
  auto now_us = [&] { return std::chrono::duration<double, std::micro>(Clock::now() - t0).count(); };
  // Stages: reference, baseline, each implementation (and its what-if), imports.
  const double stages = 2.0 + static_cast<double>(impls.size()) * (opt.what_if ? 2 : 1) + 1 +
                        (opt.what_if && spec.packed() ? 2 : 0);
  double stage = 0;
  auto options_for = [&](const std::string& label) {
    RunOptions ro;
    ro.threads = opt.threads;
    ro.cancel = opt.cancel;
    ro.warmup = opt.warmup >= 0 ? opt.warmup : (use_gpu ? 2 : 0);
    ro.repeats = opt.repeats > 0 ? opt.repeats : (use_gpu ? 10 : 1);
    ro.backward = opt.backward;
    if (opt.progress) {
      double base = stage;
      ro.progress = [&opt, base, stages, label](double f) { opt.progress(label, (base + f) / stages); };
    }
    return ro;
  };
  auto cancelled = [&] { return opt.cancel && opt.cancel->load(); };
  auto shift_spans = [](RunResult& r, double start) {
    for (auto& s : r.spans) s.start_us += start;
    for (auto& s : r.grad.spans) s.start_us += start;
  };

  // 1. The fp64 reference.
  {
    double start = now_us();
    cap->reference = run_reference(spec, in, options_for("reference"));
    cap->reference.label = "reference";
    shift_spans(cap->reference, start);
    ++stage;
    if (cancelled()) return "cancelled";
    if (opt.partial) opt.partial(*cap);
  }
  // 2. The acceptance rule's baselines: eager with an fp32 softmax in the layer's dtype, its
  // output (fp32 layers: the rule is relative Frobenius <= 1e-5, no baseline) and, with the
  // backward, each of its gradients.
  if (spec.dtype == DType::F32) cap->acceptance_baseline = 0;
  if (spec.dtype != DType::F32 || opt.backward) {
    LayerSpec base = spec;
    base.softmax_dtype = DType::F32;
    RunOptions ro = options_for("acceptance baseline");
    ro.keep_intermediates = false;
    RunResult e = cpu_implementation("eager")->run(base, in, ro);
    if (spec.dtype != DType::F32) {
      std::vector<uint8_t> rows = attended_rows(spec, in);
      double worst = 0;
      const int64_t Dv = spec.head_dim_v;
      for (size_t r = 0; r < rows.size(); ++r) {
        if (!rows[r]) continue;
        for (int64_t d = 0; d < Dv; ++d) {
          size_t idx = r * Dv + d;
          worst = std::max(worst, std::abs(static_cast<double>(e.out.data[idx]) - cap->reference.out.data[idx]));
        }
      }
      cap->acceptance_baseline = worst;
    }
    if (opt.backward)
      for (const auto& g : kGradientTensors) {
        const double b = gradient_baseline_of(spec, e.grad.*g.member, cap->reference.grad.*g.member);
        if (b >= 0) cap->gradient_baseline[g.name] = b;
      }
    ++stage;
    if (cancelled()) return "cancelled";
  }

  // 3. Each implementation, with its verdict first.
  for (const auto& name : impls) {
    const Implementation* cpu_impl = cpu_implementation(name);
    // A GPU kernel that would ignore a feature of the layer never runs it: the CPU version does.
    // (A missing backward is the plugin's to say, in RunResult::grad.error; its forward stands.)
    std::vector<std::string> gpu_lacks;
    if (use_gpu && gpu.provides(name) && spec.packed() && !gpu.supports(name, "packed"))
      gpu_lacks.push_back("packed sequences (cu_seqlens)");
    const bool on_gpu = use_gpu && gpu.provides(name) && gpu_lacks.empty();
    Verdict v = on_gpu ? gpu.check(name, spec, verdict_dev) : cpu_impl->check(spec, verdict_dev);
    // When verdicts are judged against a named GPU, the run itself still happens here.
    Verdict v_here = opt.verdict_device_named ? (on_gpu ? gpu.check(name, spec, run_dev)
                                                        : cpu_impl->check(spec, run_dev))
                                              : v;
    auto run_one = [&](const LayerSpec& s, const Inputs& inp, const std::string& label) {
      RunOptions ro = options_for(label);
      ro.probe = opt.probe;
      // S and P (eager, math) are held as floats in host memory: keep them up to 1 GiB; the
      // store then keeps what its budget allows.
      const int64_t sp_bytes = int64_t{2} * s.batch * s.heads_q * s.seq_q * s.seq_k * 4;
      ro.keep_intermediates = sp_bytes <= kHostIntermediateLimit;
      double start = now_us();
      RunResult r;
      if (on_gpu) {
        gpu.run(name, s, inp, ro, &r);
        r.backend = "cuda";
        r.device = run_dev.describe();
        if (ro.backward && r.ran && r.grad.empty() && r.grad.error.empty())
          r.grad.error = "the GPU backend ran no backward for " + name;
      } else {
        r = cpu_impl->run(s, inp, ro);
      }
      r.impl = name;
      r.label = label;
      if (!gpu_lacks.empty())
        r.verdict.add(Severity::Note, "gpu.feature_missing",
                      "the GPU backend has no " + join(gpu_lacks, " or ") + " for " + name +
                          " yet: its CPU version ran instead (same rounding points)",
                      "attnscope");
      if (!ro.keep_intermediates && (name == "eager" || r.sdpa_backend == "math"))
        r.verdict.add(Severity::Note, "intermediates.host_limit",
                      "S and P not kept: " + std::to_string(sp_bytes >> 20) + " MiB over the " +
                          std::to_string(kHostIntermediateLimit >> 20) + " MiB host limit",
                      "attnscope");
      shift_spans(r, start);
      ++stage;
      return r;
    };
    if (v.supported && v_here.supported) {
      RunResult r = run_one(spec, in, name);
      Verdict merged = v;  // the verdict first, then what the run itself noted
      for (const auto& why : r.verdict.reasons) merged.reasons.push_back(why);
      r.verdict = merged;
      cap->runs.push_back(std::move(r));
    } else {
      RunResult r;
      r.impl = r.label = name;
      r.backend = on_gpu ? "cuda" : "cpu";
      r.device = run_dev.describe();
      r.verdict = v;
      if (std::string why = (v.supported ? v_here : v).first_error(); !why.empty()) r.error = "refused: " + why;
      r.model_bytes = model_bytes(name, spec);
      cap->runs.push_back(std::move(r));
      ++stage;
      if (opt.what_if) {
        LayerSpec ws;
        std::vector<WhatIfDrop> dropped;
        if (what_if_spec(name, spec, run_dev, &ws, &dropped)) {
          RunResult w = run_one(ws, adapt_inputs(in, ws), name + " (what-if)");
          w.what_if_dropped = dropped;
          // Dropped sinks are sinks that never learn: the gradient such an implementation gives
          // them is 0 (autograd's None), judged like any other against the reference's dsinks.
          if (w.grad.ran && spec.sinks && !ws.sinks) {
            w.grad.dsinks = Tensor(ws.dtype, {spec.heads_q}, 0.0f);
            w.verdict.add(Severity::Note, "what_if.dsinks",
                          "dsinks = 0: with the sinks dropped they get no gradient (they would never train)",
                          "attnscope");
          }
          Verdict wv = on_gpu ? gpu.check(name, ws, run_dev) : cpu_impl->check(ws, run_dev);
          for (const auto& why : w.verdict.reasons) wv.reasons.push_back(why);
          w.verdict = wv;
          w.verdict.add(Severity::Note, "what_if",
                        "what-if run: " + what_if_drop_names(dropped) + " dropped to show the divergence it causes",
                        "attnscope");
          cap->runs.push_back(std::move(w));
        }
      }
    }
    // Packed sequences on an implementation without a cu_seqlens input (eager, sdpa): what it
    // computes when the boundaries do not reach it (transformers before its packed-sequence mask,
    // or a 2D attention_mask beside packed position_ids): one causal sequence of every token.
    const std::string base_name = name.substr(0, name.find(':'));
    if (opt.what_if && spec.packed() && (base_name == "eager" || base_name == "sdpa") && v.supported &&
        v_here.supported) {
      const std::vector<WhatIfDrop> dropped = {WhatIfDrop::PackedBoundaries};
      const LayerSpec ws = apply_what_if(spec, dropped);
      RunResult w = run_one(ws, in, name + " (boundaries ignored)");
      w.what_if_dropped = dropped;
      Verdict wv = on_gpu ? gpu.check(name, ws, run_dev) : cpu_impl->check(ws, run_dev);
      for (const auto& why : w.verdict.reasons) wv.reasons.push_back(why);
      w.verdict = wv;
      w.verdict.add(Severity::Note, "what_if.packed",
                    "what-if run: the " + std::to_string(spec.packed_count()) +
                        " packed sequences reach " + name +
                        " as one causal sequence, so every token attends to the sequences packed before it",
                    "attnscope");
      cap->runs.push_back(std::move(w));
    }
    if (cancelled()) return "cancelled";
    if (opt.partial) opt.partial(*cap);
  }

  // 4. Outside runs.
  for (const auto& [label, file] : opt.import_runs) {
    RunResult r;
    if (std::string e = load_outside_run(label, file, opt.import_layout, spec, &r); !e.empty())
      return "--import-run " + label + "=" + file + ": " + e;
    if (cap->find(r.label)) return "--import-run: a run named '" + r.label + "' already exists";
    cap->runs.push_back(std::move(r));
  }
  if (opt.progress) opt.progress("done", 1.0);
  return "";
}

const RunResult* Capture::find(const std::string& label) const {
  if (label == "reference") return &reference;
  for (const auto& r : runs)
    if (r.label == label) return &r;
  return nullptr;
}

}  // namespace attnscope
