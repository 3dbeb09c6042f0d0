// Builds the DiagnoseReport: device, environment, model, verdicts, verl roles, log, fixes, memory,
// and (--run) the recommended fallback measured against the fp64 reference.
#include "capture/diagnose/diagnose.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "capture/analysis.h"
#include "capture/diagnose/custom_attention.h"
#include "capture/session.h"
#include "kernels/format.h"
#include "kernels/gpu_backend.h"
#include "kernels/implementation.h"
#include "kernels/inputs.h"

namespace attnscope {

namespace {

std::string errors_joined(const Verdict& v, size_t max = 3) {
  std::string s;
  size_t n = 0;
  for (const auto& r : v.reasons)
    if (r.severity == Severity::Error && n < max) {
      bool dup = s.find(r.text) != std::string::npos;
      if (dup) continue;
      s += (n ? "; " : "") + r.text;
      ++n;
    }
  return s;
}

DeviceInfo device_from_env_gpu(const PyGpu& g) {
  DeviceInfo d;
  d.kind = DeviceInfo::Kind::Cuda;
  d.name = g.name.empty() ? "GPU " + std::to_string(g.index) : g.name;
  d.cc_major = g.cc_major;
  d.cc_minor = g.cc_minor;
  d.mem_total = g.mem_total;
  d.mem_free = g.mem_total;
  d.bf16 = g.cc_major >= 8;
  d.named = true;  // verdicts only: nothing runs on the user's GPU from here
  return d;
}

// Per-layer-type merge of HF verdicts (a reason every type shares is said once).
ImplVerdict hf_merged(const std::string& name, const ModelInfo& model, const LayerSpec& primary,
                      const DeviceInfo& dev, const PyEnv& env, bool training) {
  if (!model.present || model.layers.size() <= 1) return hf_verdict(name, model, primary, dev, env, training);
  std::vector<ImplVerdict> per;
  for (const auto& s : model.layers) per.push_back(hf_verdict(name, model, s, dev, env, training));
  ImplVerdict out = per[0];
  std::vector<Verdict> verdicts;
  for (const auto& p : per) verdicts.push_back(p.verdict);
  Verdict merged = merge_layer_verdicts(verdicts, model.layer_types);
  out.verdict = merged;
  for (const auto& p : per)
    if (!p.verdict.supported) {
      out.outcome = p.outcome;
      break;
    }
  return out;
}

void add_memory(DiagnoseReport& r) {
  int full = r.model.max_positions > 0 ? r.model.max_positions : r.spec.seq_k;
  int batch = r.spec.batch;
  std::vector<std::pair<LayerSpec, int>> layers;  // spec at full context, layer count
  if (r.model.present && !r.model.layers.empty()) {
    for (size_t i = 0; i < r.model.layers.size(); ++i) {
      LayerSpec s = r.model.layers[i];
      s.seq_q = s.seq_k = full;
      s.batch = batch;
      s.dtype = r.spec.dtype;
      layers.push_back({s, r.model.layer_counts.size() > i ? r.model.layer_counts[i] : 1});
    }
  } else {
    LayerSpec s = r.spec;
    s.seq_q = s.seq_k = full;
    layers.push_back({s, 1});
  }
  std::vector<std::string> impls = {"eager", "sdpa", "flash2"};
  if (r.model.sinks || r.spec.sinks) impls.push_back("sink");
  for (const std::string& impl : impls) {
    MemoryNeed m;
    m.impl = impl;
    m.seq = full;
    m.batch = batch;
    std::string backends;
    int64_t fwd = 0, bwd = 0, total = 0;
    int nl = 0;
    for (const auto& [s, count] : layers) {
      std::string key = impl;
      if (impl == "sdpa") {
        // The backend SDPA would pick for this layer type at full context.
        // As transformers calls it (repeat_kv under a mask); kernel rules for models without SDPA.
        std::string be = hf_verdict("sdpa", r.model, s, r.device, r.env, false).sdpa_backend;
        if (be.empty()) check_sdpa(s, r.device, "", &be);
        if (backends.find(be) == std::string::npos) backends += (backends.empty() ? "" : "/") + be;
        key = be == "math" ? "sdpa:math" : "sdpa";
      }
      int64_t f = model_bytes(key, s);
      int64_t e = s.dtype == DType::F32 ? 4 : 2;
      int64_t rows = int64_t{s.batch} * s.heads_q * s.seq_q;
      int64_t cols = s.seq_k + (s.sinks ? 1 : 0);
      int64_t out = rows * s.head_dim_v * e;
      // Kept for backward: eager/math keep P (the fp32 softmax output and its cast) for the
      // softmax's and the two matmuls' gradients; fused kernels keep only out and the LSE.
      int64_t b = (key == "eager" || key == "sdpa:math")
                      ? rows * cols * ((s.softmax_dtype == DType::F32 ? 4 : 0) + e) + out
                      : out + rows * 4;
      fwd = std::max(fwd, f);
      bwd = std::max(bwd, b);
      total += b * count;
      nl += count;
    }
    if (impl == "sdpa") m.impl = "sdpa (" + backends + ")";
    int64_t mask_bytes = 0;  // transformers' boolean mask for SDPA (one per forward, shared by the layers)
    if (impl == "sdpa")
      for (const auto& [s, count] : layers)
        if (s.mask != MaskKind::None || (s.sliding_window > 0 && s.seq_k > s.sliding_window))
          mask_bytes = std::max(mask_bytes, int64_t{s.batch} * s.seq_q * s.seq_k);
    m.forward_bytes = fwd;
    m.backward_bytes = bwd;
    m.model_total_bytes = total;
    m.layers = nl;
    m.note = "beyond q/k/v, per layer at " + std::to_string(full) + " tokens x batch " + std::to_string(batch) +
             "; the total keeps every layer's attention activations for backward (gradient checkpointing keeps one "
             "layer's at a time)";
    if (mask_bytes > 0)
      m.note = "plus transformers' boolean attention mask for SDPA: " + format_bytes(mask_bytes) +
               " per forward (B x Nq x Nk, shared by the layers)";
    r.memory.push_back(m);
  }
}

void add_runs(DiagnoseReport& r, const DiagnoseOptions& opt) {
  std::string fb = fallback_name(r.model, r.spec);
  std::vector<std::string> impls = {fb, "eager"};
  if (fb == "eager") impls = {"eager"};
  LayerSpec s = r.spec;
  const GpuBackend& gpu = GpuBackend::instance();
  bool on_gpu = gpu.available();
  // Pick a length whose eager scores fit a budget: 256 MiB on the CPU, 4 GiB on a GPU.
  int64_t budget = on_gpu ? (int64_t{4} << 30) : (int64_t{256} << 20);
  int seq = opt.run_seq > 0 ? opt.run_seq : std::min(s.seq_k, r.model.max_positions > 0 ? r.model.max_positions : s.seq_k);
  if (opt.run_seq <= 0) {
    LayerSpec t = s;
    while (seq > 64) {
      t.seq_q = t.seq_k = seq;
      if (model_bytes("eager", t) <= budget) break;
      seq /= 2;
    }
  }
  s.seq_q = s.seq_k = seq;
  if (s.sliding_window > 0 && s.sliding_window >= seq) s.sliding_window = 0;
  r.run_note = "ran " + impls[0] + (impls.size() > 1 ? " and eager" : "") + " and the fp64 reference on " +
               s.summary() + " (" + (on_gpu ? "GPU" : "CPU") + ", seeded normal inputs)";
  Inputs in = random_inputs(s, 1, Distribution::Normal);
  SessionOptions so;
  so.impls = impls;
  Capture cap;
  if (std::string e = run_session(s, std::move(in), so, &cap); !e.empty()) {
    r.run_note = "--run failed: " + e;
    return;
  }
  for (const auto& run : cap.runs) {
    DiagnoseRun d;
    d.impl = run.impl;
    d.label = run.label + (run.sdpa_backend.empty() ? "" : " (" + run.sdpa_backend + ")");
    d.ran = run.ran;
    d.error = run.error;
    d.device = run.device.empty() ? cap.env.device : run.device;
    d.seq = seq;
    d.batch = s.batch;
    d.dtype = dtype_name(s.dtype);
    d.median_ms = run.median_ms;
    d.peak_bytes = run.peak_bytes;
    if (run.ran) {
      Divergence dv = compare_to_reference(cap, run);
      if (dv.comparable) {
        d.max_abs_vs_fp64 = dv.max_abs;
        d.rel_fro_vs_fp64 = dv.rel_fro;
      }
      Acceptance a = acceptance(cap, run, dv);
      d.acceptance_applicable = a.applicable;
      d.acceptance_pass = a.pass;
      d.acceptance = a.text;
    }
    r.runs.push_back(d);
  }
}

void add_summary(DiagnoseReport& r) {
  auto& S = r.summary;
  // The transformers release first: outside what attnscope models, or too old for the model, nothing else
  // about the HF names holds.
  const std::string tver = r.env.version("transformers");
  bool release_blocks = false;
  for (const auto& h : r.hf) {
    if (!h.known) {
      S.push_back("transformers " + tver + " is outside the releases attnscope has rules for (" + hf_known_range() +
                  "): what it does with each attn_implementation is not known; the kernel verdicts still hold");
      release_blocks = true;
    } else if (h.predicted.code == "hf.model.unknown_type") {
      S.push_back("transformers " + tver + " does not know the model type " + r.model.model_type + " (first in " +
                  hf_model_flags(r.model.model_type).since +
                  "): from_pretrained fails while reading the config, whatever attn_implementation says");
      release_blocks = true;
    }
    if (release_blocks) break;
  }
  for (const auto& h : r.hf) {
    if (h.name != "flash_attention_2" || release_blocks) continue;
    if (h.outcome.rfind("depends", 0) == 0)
      S.push_back("flash_attention_2 on " + r.device.describe() + ": " + h.outcome +
                  " (pass --env to pin the version)");
    else if (!h.verdict.supported)
      S.push_back("flash_attention_2 fails on " + r.device.describe() + ": " + errors_joined(h.verdict));
    else
      for (const auto& x : h.verdict.reasons)
        if (x.severity == Severity::Silent) {
          S.push_back("flash_attention_2 runs but silently changes the result: " + x.text.substr(0, 160));
          break;
        }
  }
  for (const auto& h : r.hf) {
    if (h.name == "flash_attention_2" || h.name.find('/') != std::string::npos || h.name.rfind("seed", 0) == 0)
      continue;
    if (r.model.sinks) break;  // the sinks line below covers every name
    for (const auto& x : h.verdict.reasons)
      if (x.severity == Severity::Silent && x.code != "hf.sdpa.default_falls_back") {
        S.push_back(h.name + " runs but silently changes the result: " + x.text.substr(0, 200));
        break;
      }
  }
  if (r.model.sinks) {
    std::string line = "sinks (" + r.model.model_type + "):";
    for (const auto& h : r.hf) {
      if (h.name.find('/') != std::string::npos && h.name != "kernels-community/vllm-flash-attn3") continue;
      line += " " + h.name + " -> " + h.outcome + ";";
    }
    S.push_back(line);
  }
  for (const auto& ro : r.verl.roles) {
    if (!ro.enabled) continue;
    if (ro.role == "critic" && ro.verdict.has("verl.critic_no_inherit"))
      S.push_back("verl: the critic still asks for flash_attention_2 (" + ro.attn_source +
                  "): the actor's override does not reach it");
    else if (!ro.verdict.supported && !ro.attn_implementation.empty())
      S.push_back("verl " + ro.role + ": " + ro.attn_implementation + " (" + ro.attn_source + ") fails: " +
                  ro.verdict.first_error());
    else if (!ro.verdict.supported)
      S.push_back("verl " + ro.role + " (" + ro.engine + "): " + ro.verdict.first_error());
  }
  if (r.requested && !r.requested->verdict.supported)
    S.push_back("attn_implementation=\"" + r.requested->requested + "\" (" + r.requested->kind +
                ") is refused: " + r.requested->verdict.first_error());
  int errors = 0;
  for (const auto& f : r.log) errors += f.severity == Severity::Error;
  if (!r.log.empty())
    S.push_back("log: " + std::to_string(r.log.size()) + " recognised line(s), " + std::to_string(errors) +
                " error(s)");
  if (!r.fixes.empty()) S.push_back("cheapest fix: " + r.fixes[0].line);
}

}  // namespace

std::string build_diagnose_report(const DiagnoseOptions& opt, DiagnoseReport* out) {
  DiagnoseReport r;
  r.attnscope_version = ATTNSCOPE_VERSION;

  // Environment first: it may name the user's GPU.
  if (!opt.env_file.empty())
    if (std::string e = load_env_file(opt.env_file, &r.env); !e.empty()) return e;

  // Device.
  if (!opt.gpu.empty()) {
    auto d = named_gpu(opt.gpu);
    if (!d) {
      std::string names;
      for (const auto& n : named_gpu_list()) names += (names.empty() ? "" : ", ") + n;
      return "--gpu " + opt.gpu + ": unknown GPU (known: " + names + ")";
    }
    r.device = *d;
    r.device_origin = "--gpu " + opt.gpu;
    if (r.env.present && !r.env.gpus.empty() &&
        (r.env.gpus[0].cc_major != r.device.cc_major || r.env.gpus[0].cc_minor != r.device.cc_minor))
      r.device_notes.push_back({Severity::Warning, "device.env_differs",
                                "--env records " + r.env.gpus[0].name + " (sm" + std::to_string(r.env.gpus[0].cc_major) +
                                    std::to_string(r.env.gpus[0].cc_minor) + ") but verdicts use --gpu " + opt.gpu,
                                "attnscope"});
  } else if (r.env.present && !r.env.gpus.empty()) {
    r.device = device_from_env_gpu(r.env.gpus[0]);
    r.device_origin = "--env (GPU 0 of the user's machine)";
  } else if (opt.local_gpu) {
    const GpuBackend& g = GpuBackend::instance();
    if (g.available()) {
      r.device = g.device();
      r.device_origin = "local GPU";
    } else {
      r.device = cpu_device();
      r.device_origin = "none (CPU)";
      r.device_notes.push_back({Severity::Note, "device.no_gpu",
                                "no local GPU backend: " + g.why_not() +
                                    ". Verdicts are for the CPU; name the GPU in question with --gpu (T4, A100, H100, "
                                    "smXY, ...)",
                                "attnscope"});
    }
  } else {
    r.device = cpu_device();
    r.device_origin = "none (CPU)";
  }
  if (r.env.present && !r.env.driver.empty()) r.device.driver = r.env.driver;

  // Model / layer.
  if (!opt.config_file.empty() && !opt.spec_file.empty()) return "--config and --spec: give one of them";
  if (!opt.config_file.empty()) {
    if (std::string e = load_model_info(opt.config_file, opt.overrides, opt.layer, &r.model); !e.empty()) return e;
    r.spec = r.model.layers.front();
    r.spec_source = "--config " + opt.config_file;
  } else if (!opt.spec_file.empty()) {
    if (std::string e = load_spec_json(opt.spec_file, &r.spec); !e.empty()) return e;
    if (std::string e = apply_overrides(opt.overrides, &r.spec); !e.empty()) return opt.spec_file + ": " + e;
    r.spec_source = "--spec " + opt.spec_file;
    r.model.source = opt.spec_file;
    r.model.sinks = r.spec.sinks;
    if (r.spec.sinks) {  // the only sink model transformers has
      r.model.model_type = "gpt_oss";
      r.model.hf_class = "GptOssForCausalLM";
    }
    r.model.softcap = r.spec.softcap;
  } else {
    r.spec = LayerSpec{};
    r.spec.causal = true;
    r.spec.name = "generic causal layer";
    if (std::string e = apply_overrides(opt.overrides, &r.spec); !e.empty()) return e;
    r.spec_source = "none given: a generic causal layer (8 heads x 64, " + std::string(dtype_name(r.spec.dtype)) +
                    "); pass --config config.json for the model's own shape";
  }

  r.implementations = kernel_verdicts(r.spec, r.device, &r.model);
  std::vector<std::string> names = {"eager", "sdpa", "flash_attention_2", "flash_attention_3"};
  if (r.model.sinks) names.push_back("kernels-community/vllm-flash-attn3");
  names.push_back("kernels-community/flash-attn2");
  for (const auto& n : names) r.hf.push_back(hf_merged(n, r.model, r.spec, r.device, r.env, false));
  // The functions the user's modules registered (attnscope-env.py --import probed them).
  for (const auto& f : r.env.attention_functions) r.hf.push_back(custom_attention_verdict(f, false, r.env));
  if (r.model.sinks) {
    ImplVerdict seed;
    seed.name = "seed triton sink wrapper";
    seed.level = "transformers";
    seed.runs_as = "gpt-oss Triton kernel through the seed's HF wrapper (registered under a custom name)";
    add_seed_sink_quirks(seed.verdict);
    seed.outcome = "wrong results or an unpacking error: sinks dropped, mask ignored, layout swapped";
    r.hf.push_back(seed);
  }

  if (!opt.attn_implementation.empty())
    r.requested = check_attn_implementation(opt.attn_implementation, r.model, r.spec, r.device, r.env);

  if (!opt.verl_file.empty()) {
    VerlConfigPtr cfg;
    std::vector<Reason> refusals;
    if (std::string e = load_verl_config(opt.verl_file, opt.verl_overrides, &cfg, &refusals); !e.empty()) return e;
    r.verl = analyse_verl(*cfg, opt.verl_file, opt.verl_overrides, r.model, r.spec, r.device, r.env);
    r.verl.notes.insert(r.verl.notes.begin(), refusals.begin(), refusals.end());
  } else if (!opt.verl_overrides.empty()) {
    return "Hydra overrides (" + opt.verl_overrides.front() + " ...) need --verl-config FILE";
  }

  if (!opt.log_file.empty()) {
    r.log_file = opt.log_file;
    if (std::string e = load_log_file(opt.log_file, &r.log, &r.log_lines); !e.empty()) return e;
  }

  r.fixes = rank_fixes(r);
  if (r.verl.present) {
    // The whole recipe in one place: each HF role reads its own key, none inherits another's.
    bool any_bad = false;
    for (const auto& ro : r.verl.roles)
      any_bad = any_bad || (ro.enabled && !ro.attn_implementation.empty() && !ro.verdict.supported);
    if (any_bad) {
      std::string fb = fallback_name(r.model, r.spec);
      r.verl.notes.push_back(
          {Severity::Note, "verl.recipe",
           "verl reads one key per model: +actor_rollout_ref.model.override_config.attn_implementation=" + fb +
               " (actor, ref, HF rollout) and +critic.model.override_config.attn_implementation=" + fb +
               " (critic); write key=value without the '+' for a key the YAML already has, or Hydra refuses it",
           "verl/workers/fsdp_workers.py; Hydra override grammar"});
    }
  }
  add_memory(r);
  if (opt.run) add_runs(r, opt);
  add_summary(r);
  *out = std::move(r);
  return "";
}

}  // namespace attnscope
