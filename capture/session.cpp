#include "capture/session.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <ctime>
#include <fstream>

#include "capture/analysis.h"
#include "kernels/acceptance.h"
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

namespace {

// Where one implementation runs and what it is judged by.
struct Target {
  std::string name;
  const Implementation* cpu = nullptr;
  bool on_gpu = false;
  std::vector<std::string> gpu_lacks;  // layer features the GPU kernel would ignore: the CPU version runs
  Verdict verdict;                     // against the device the verdicts are judged for
  Verdict verdict_here;                // against the device the run happens on
  bool runs() const { return verdict.supported && verdict_here.supported; }
};

// run_session's stages over one capture: the reference, the acceptance baselines, each
// implementation (its run or refusal, what-ifs), the outside runs. Progress counts stages.
class SessionRun {
 public:
  SessionRun(const LayerSpec& spec, const SessionOptions& opt, size_t n_impls, Capture* cap)
      : spec_(spec), opt_(opt), cap_(cap), gpu_(GpuBackend::instance()) {
    use_gpu_ = !opt.force_cpu && gpu_.available();
    run_dev_ = use_gpu_ ? gpu_.device() : cpu_device();
    verdict_dev_ = opt.verdict_device_named ? opt.verdict_device : run_dev_;
    stages_ = 2.0 + static_cast<double>(n_impls) * (opt.what_if ? 2 : 1) + 1 +
              (opt.what_if && spec.packed() ? 2 : 0);
  }

  // The capture's header: the layer, this machine, the inputs.
  void start(Inputs inputs) {
    *cap_ = Capture{};
    cap_->spec = spec_;
    cap_->env = current_env();
    cap_->env.backend = use_gpu_ ? "cuda" : "cpu";
    cap_->env.device = run_dev_.describe();
    if (use_gpu_) cap_->env.gpu = gpu_.environment();  // the clocks now, before any run warms the GPU
    cap_->inputs = std::move(inputs);
    t0_ = Clock::now();
  }

  // 1. The fp64 reference.
  std::string reference() {
    const double start = now_us();
    cap_->reference = run_reference(spec_, cap_->inputs, options_for("reference"));
    cap_->reference.label = "reference";
    shift_spans(cap_->reference, start);
    return end_stage(true);
  }

  // 2. The acceptance rule's baselines: eager with an fp32 softmax in the layer's dtype, its output
  // (fp32 layers: the rule is relative Frobenius <= 1e-5, no baseline) and, with the backward, each
  // of its gradients.
  std::string baselines() {
    if (spec_.dtype == DType::F32) cap_->acceptance_baseline = 0;
    if (spec_.dtype == DType::F32 && !opt_.backward) return "";
    LayerSpec base = spec_;
    base.softmax_dtype = DType::F32;
    RunOptions ro = options_for("acceptance baseline");
    ro.keep_intermediates = false;
    const Inputs& in = cap_->inputs;
    const RunResult e = cpu_implementation("eager")->run(base, in, ro);
    if (spec_.dtype != DType::F32) cap_->acceptance_baseline = output_baseline_of(spec_, in, e.out, cap_->reference.out);
    if (opt_.backward)
      for (const auto& g : kGradientTensors) {
        const double b = gradient_baseline(g.name, spec_, in, e, cap_->reference);
        if (b >= 0) cap_->gradient_baseline[g.name] = b;
      }
    return end_stage(false);
  }

  // 3. One implementation, its verdict first: its run, or its refusal and (--what-if) the run of
  // what it would compute with the refused features dropped; packed layers on an implementation
  // without cu_seqlens (--what-if) also run with the boundaries ignored.
  std::string implementation(const std::string& name) {
    const Target t = target(name);
    if (t.runs()) {
      RunResult r = run_one(t, spec_, cap_->inputs, name);
      Verdict merged = t.verdict;  // the verdict first, then what the run itself noted
      for (const auto& why : r.verdict.reasons) merged.reasons.push_back(why);
      r.verdict = merged;
      cap_->runs.push_back(std::move(r));
    } else {
      cap_->runs.push_back(refused(t));
      ++stage_;
      if (opt_.what_if) what_if(t);
    }
    const std::string base_name = name.substr(0, name.find(':'));
    if (opt_.what_if && spec_.packed() && (base_name == "eager" || base_name == "sdpa") && t.runs())
      boundaries_ignored(t);
    return end_stage(true);
  }

  // 4. Outside runs (--import-run LABEL=FILE).
  std::string imports() {
    for (const auto& [label, file] : opt_.import_runs) {
      RunResult r;
      if (std::string e = load_outside_run(label, file, opt_.import_layout, spec_, &r); !e.empty())
        return "--import-run " + label + "=" + file + ": " + e;
      if (cap_->find(r.label)) return "--import-run: a run named '" + r.label + "' already exists";
      cap_->runs.push_back(std::move(r));
    }
    if (opt_.progress) opt_.progress("done", 1.0);
    return "";
  }

 private:
  double now_us() const { return std::chrono::duration<double, std::micro>(Clock::now() - t0_).count(); }
  bool cancelled() const { return opt_.cancel && opt_.cancel->load(); }
  // A stage done (options_for counted it): cancellation honoured, the partial capture handed out
  // (when asked).
  std::string end_stage(bool partial) {
    if (cancelled()) return "cancelled";
    if (partial && opt_.partial) opt_.partial(*cap_);
    return "";
  }
  static void shift_spans(RunResult& r, double start) {
    for (auto& s : r.spans) s.start_us += start;
    for (auto& s : r.grad.spans) s.start_us += start;
  }

  RunOptions options_for(const std::string& label) {
    RunOptions ro;
    ro.threads = opt_.threads;
    ro.cancel = opt_.cancel;
    ro.warmup = opt_.warmup >= 0 ? opt_.warmup : (use_gpu_ ? 2 : 0);
    ro.repeats = opt_.repeats > 0 ? opt_.repeats : (use_gpu_ ? 10 : 1);
    ro.backward = opt_.backward;
    if (opt_.progress) {
      const double base = stage_, stages = stages_;
      const SessionOptions& o = opt_;
      ro.progress = [&o, base, stages, label](double f) { o.progress(label, (base + f) / stages); };
    }
    ++stage_;  // the stage this run is
    return ro;
  }

  Target target(const std::string& name) const {
    Target t;
    t.name = name;
    t.cpu = cpu_implementation(name);
    // A GPU kernel that would ignore a feature of the layer never runs it: the CPU version does.
    // (A missing backward is the plugin's to say, in RunResult::grad.error; its forward stands.)
    if (use_gpu_ && gpu_.provides(name) && spec_.packed() && !gpu_.supports(name, "packed"))
      t.gpu_lacks.push_back("packed sequences (cu_seqlens)");
    t.on_gpu = use_gpu_ && gpu_.provides(name) && t.gpu_lacks.empty();
    t.verdict = check(t, spec_, verdict_dev_);
    // When verdicts are judged against a named GPU, the run itself still happens here.
    t.verdict_here = opt_.verdict_device_named ? check(t, spec_, run_dev_) : t.verdict;
    return t;
  }
  Verdict check(const Target& t, const LayerSpec& s, const DeviceInfo& dev) const {
    return t.on_gpu ? gpu_.check(t.name, s, dev) : t.cpu->check(s, dev);
  }

  RunResult run_one(const Target& t, const LayerSpec& s, const Inputs& inp, const std::string& label) {
    RunOptions ro = options_for(label);
    ro.probe = opt_.probe;
    // S and P (eager, math) are held as floats in host memory: keep them up to 1 GiB; the store
    // then keeps what its budget allows.
    const int64_t sp_bytes = int64_t{2} * s.batch * s.heads_q * s.seq_q * s.seq_k * 4;
    ro.keep_intermediates = sp_bytes <= kHostIntermediateLimit;
    const double start = now_us();
    RunResult r;
    if (t.on_gpu) {
      gpu_.run(t.name, s, inp, ro, &r);
      r.backend = "cuda";
      r.device = run_dev_.describe();
      if (ro.backward && r.ran && r.grad.empty() && r.grad.error.empty())
        r.grad.error = "the GPU backend ran no backward for " + t.name;
    } else {
      r = t.cpu->run(s, inp, ro);
    }
    r.impl = t.name;
    r.label = label;
    if (!t.gpu_lacks.empty())
      r.verdict.add(Severity::Note, "gpu.feature_missing",
                    "the GPU backend has no " + join(t.gpu_lacks, " or ") + " for " + t.name +
                        " yet: its CPU version ran instead (same rounding points)",
                    "attnscope");
    if (!ro.keep_intermediates && (t.name == "eager" || r.sdpa_backend == "math"))
      r.verdict.add(Severity::Note, "intermediates.host_limit",
                    "S and P not kept: " + std::to_string(sp_bytes >> 20) + " MiB over the " +
                        std::to_string(kHostIntermediateLimit >> 20) + " MiB host limit",
                    "attnscope");
    shift_spans(r, start);
    return r;
  }

  RunResult refused(const Target& t) const {
    RunResult r;
    r.impl = r.label = t.name;
    r.backend = t.on_gpu ? "cuda" : "cpu";
    r.device = run_dev_.describe();
    r.verdict = t.verdict;
    if (std::string why = (t.verdict.supported ? t.verdict_here : t.verdict).first_error(); !why.empty())
      r.error = "refused: " + why;
    r.model_bytes = model_bytes(t.name, spec_);
    return r;
  }

  // A what-if run's verdict: the implementation's check of the changed layer, what the run noted,
  // then the note that says what was dropped.
  void judge_what_if(const Target& t, const LayerSpec& ws, const char* code, const std::string& text,
                     RunResult* w) const {
    Verdict wv = check(t, ws, run_dev_);
    for (const auto& why : w->verdict.reasons) wv.reasons.push_back(why);
    w->verdict = wv;
    w->verdict.add(Severity::Note, code, text, "attnscope");
  }

  void what_if(const Target& t) {
    LayerSpec ws;
    std::vector<WhatIfDrop> dropped;
    if (!what_if_spec(t.name, spec_, run_dev_, &ws, &dropped)) return;
    RunResult w = run_one(t, ws, adapt_inputs(cap_->inputs, ws), t.name + " (what-if)");
    w.what_if_dropped = dropped;
    // Dropped sinks are sinks that never learn: the gradient such an implementation gives them is 0
    // (autograd's None), judged like any other against the reference's dsinks.
    if (w.grad.ran && spec_.sinks && !ws.sinks) {
      w.grad.dsinks = Tensor(ws.dtype, {spec_.heads_q}, 0.0f);
      w.verdict.add(Severity::Note, "what_if.dsinks",
                    "dsinks = 0: with the sinks dropped they get no gradient (they would never train)", "attnscope");
    }
    judge_what_if(t, ws, "what_if",
                  "what-if run: " + what_if_drop_names(dropped) + " dropped to show the divergence it causes", &w);
    cap_->runs.push_back(std::move(w));
  }

  // Packed sequences on an implementation without a cu_seqlens input (eager, sdpa): what it computes
  // when the boundaries do not reach it (transformers before its packed-sequence mask, or a 2D
  // attention_mask beside packed position_ids): one causal sequence of every token.
  void boundaries_ignored(const Target& t) {
    const std::vector<WhatIfDrop> dropped = {WhatIfDrop::PackedBoundaries};
    const LayerSpec ws = apply_what_if(spec_, dropped);
    RunResult w = run_one(t, ws, cap_->inputs, t.name + " (boundaries ignored)");
    w.what_if_dropped = dropped;
    judge_what_if(t, ws, "what_if.packed",
                  "what-if run: the " + std::to_string(spec_.packed_count()) + " packed sequences reach " + t.name +
                      " as one causal sequence, so every token attends to the sequences packed before it",
                  &w);
    cap_->runs.push_back(std::move(w));
  }

  const LayerSpec& spec_;
  const SessionOptions& opt_;
  Capture* cap_;
  const GpuBackend& gpu_;
  bool use_gpu_ = false;
  DeviceInfo run_dev_, verdict_dev_;
  Clock::time_point t0_;
  double stage_ = 0, stages_ = 1;
};

}  // namespace

std::string run_session(const LayerSpec& spec, Inputs inputs, const SessionOptions& opt, Capture* cap) {
  if (std::string e = spec.validate(); !e.empty()) return "layer spec: " + e;
  if (std::string e = inputs.check_against(spec); !e.empty()) return "inputs (" + inputs.origin + "): " + e;
  if (opt.backward && inputs.dout.empty())
    return "--backward: no dO (a `do` tensor in the inputs file, or one seeded by the caller)";
  const std::vector<std::string> impls = opt.impls.empty() ? implementation_names() : opt.impls;
  for (const auto& name : impls)
    if (!cpu_implementation(name))
      return "--impl: unknown implementation '" + name + "' (eager, sdpa, sdpa:flash|efficient|math|cudnn, flash2, sink)";
  SessionRun run(spec, opt, impls.size(), cap);
  run.start(std::move(inputs));
  if (std::string e = run.reference(); !e.empty()) return e;
  if (std::string e = run.baselines(); !e.empty()) return e;
  for (const auto& name : impls)
    if (std::string e = run.implementation(name); !e.empty()) return e;
  return run.imports();
}

bool Capture::has_backward() const {
  if (!reference.grad.empty()) return true;
  for (const auto& r : runs)
    if (r.grad.ran || !r.grad.error.empty()) return true;
  return false;
}

const RunResult* Capture::find(const std::string& label) const {
  if (label == "reference") return &reference;
  for (const auto& r : runs)
    if (r.label == label) return &r;
  return nullptr;
}

}  // namespace attnscope
