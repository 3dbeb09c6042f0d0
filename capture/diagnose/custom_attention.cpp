#include "capture/diagnose/custom_attention.h"

#include "capture/diagnose/messages.h"

namespace attnscope {

void add_custom_attention_reasons(Verdict* v, const PyAttentionFunction& f, bool training, const PyEnv& env) {
  const std::string tver = env.version("transformers");
  const std::string tchv = env.version("torch");
  const std::map<std::string, std::string> fill = {
      {"name", f.name}, {"module", f.module.empty() ? "an unknown module" : f.module}, {"error", f.backward_error}};
  // Inference-only roles never call backward: the same fact is a note there.
  auto role_severity = [&](size_t from) {
    if (training) return;
    for (size_t i = from; i < v->reasons.size(); ++i)
      if (v->reasons[i].severity == Severity::Error) v->reasons[i].severity = Severity::Note;
    v->supported = true;
    for (const auto& r : v->reasons) v->supported = v->supported && r.severity != Severity::Error;
  };
  if (!f.forward_error.empty()) {
    v->add(Severity::Warning, "hf.custom.probe_forward",
           "the probe's tiny forward through \"" + f.name + "\" raised " + f.forward_error +
               " (GQA 4/2, 16 tokens, head dim 64, attention_mask=None on " + f.device +
               "): its backward was not probed",
           "attnscope-env.py --import");
  } else if (f.backward == "error" || f.backward == "partial") {
    const size_t from = v->reasons.size();
    add_message(v, "hf.custom.no_backward", tver, fill);
    if (f.backward_error.find("You must implement either the backward or vjp method") != std::string::npos)
      add_message(v, "torch.autograd.no_backward", tchv);
    role_severity(from);
  } else if (f.backward == "detached") {
    const size_t from = v->reasons.size();
    add_message(v, "hf.custom.detached", tver, fill);
    role_severity(from);
  }
  if (!f.mask_function) add_message(v, "hf.custom.no_mask", tver, fill);
}

ImplVerdict custom_attention_verdict(const PyAttentionFunction& f, bool training, const PyEnv& env) {
  ImplVerdict iv;
  iv.level = "transformers";
  iv.name = f.name;
  iv.runs_as = "a function registered with AttentionInterface.register" +
               (f.module.empty() ? std::string() : " (" + f.module + ")");
  add_custom_attention_reasons(&iv.verdict, f, training, env);
  const bool trains = f.forward_error.empty() && f.trains();
  iv.outcome = !f.forward_error.empty() ? "the probe's forward failed: " + f.forward_error
               : !trains ? std::string("runs forward; cannot train (") + (f.backward == "detached" ? "detached output" : "no backward") + ")"
                         : "runs forward and backward";
  if (!f.mask_function) iv.outcome += "; receives attention_mask=None (padding dropped)";
  // HfOutcome predicts loading and the first forward (what a fresh process sees): both run; what the
  // backward does is in the verdict.
  iv.predicted.stage = f.forward_error.empty() ? "runs" : "forward";
  iv.predicted.resolved = f.name;
  if (!f.forward_error.empty()) iv.predicted.exception = f.forward_error.substr(0, f.forward_error.find(':'));
  return iv;
}

}  // namespace attnscope
