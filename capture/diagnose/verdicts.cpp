// attnscope's four implementations on every layer type of the model, merged into one row each.
#include "capture/diagnose/verdicts.h"

#include "kernels/implementation.h"

namespace attnscope {

Verdict merge_layer_verdicts(const std::vector<Verdict>& per, const std::vector<std::string>& types) {
  Verdict merged;
  for (size_t i = 0; i < per.size(); ++i)
    for (const auto& r : per[i].reasons) {
      bool everywhere = true;
      for (const auto& p : per) everywhere = everywhere && p.has(r.code, r.text);
      std::string text = r.text;
      if (!everywhere && i < types.size() && !types[i].empty()) text += " [" + types[i] + " layers]";
      if (!merged.has(r.code, text)) merged.add(r.severity, r.code, text, r.source);
    }
  return merged;
}

std::vector<ImplVerdict> kernel_verdicts(const LayerSpec& spec, const DeviceInfo& dev, const ModelInfo* model) {
  std::vector<LayerSpec> specs;
  std::vector<std::string> types;
  if (model && model->present && !model->layers.empty()) {
    specs = model->layers;
    types = model->layer_types;
  } else {
    specs = {spec};
    types = {""};
  }
  std::vector<ImplVerdict> out;
  for (const std::string& impl : implementation_names()) {
    ImplVerdict iv;
    iv.name = impl;
    iv.level = "kernel";
    std::vector<Verdict> per;
    std::string backend;
    for (const auto& s : specs) {
      std::string b;
      if (impl == "eager") per.push_back(check_eager(s, dev));
      else if (impl == "sdpa") per.push_back(check_sdpa(s, dev, "", &b));
      else if (impl == "flash2") per.push_back(check_flash2(s, dev));
      else if (impl == "sink") per.push_back(check_sink(s, dev));
      else {
        const Implementation* im = cpu_implementation(impl);
        if (im) per.push_back(im->check(s, dev));
      }
      if (!b.empty() && backend.find(b) == std::string::npos) backend += (backend.empty() ? "" : "/") + b;
    }
    Verdict merged = merge_layer_verdicts(per, types);
    iv.verdict = merged;
    iv.sdpa_backend = backend;
    if (merged.supported) {
      iv.outcome = impl == "sdpa" ? "runs (" + backend + " backend)" : "runs";
      iv.runs_as = impl == "sdpa" ? "sdpa:" + backend : impl;
    } else {
      iv.outcome = "refused: " + merged.first_error();
    }
    out.push_back(std::move(iv));
  }
  return out;
}

}  // namespace attnscope
