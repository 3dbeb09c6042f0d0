#include "app/layer_options.h"

#include "capture/analysis.h"
#include "capture/spec_io.h"
#include "capture/tensor_io.h"

namespace attnscope {

const std::set<std::string> kLayerFlags = {"--spec", "--config", "--layer", "--seq", "--seq-q",
                                           "--seq-k", "--batch", "--dtype", "--cu-seqlens"};
const std::set<std::string> kInputFlags = {"--inputs", "--layout", "--seed", "--dist"};

std::string layer_from_args(const Args& a, LayerSpec* spec) {
  if (a.has("--spec") && a.has("--config")) return "--spec and --config: give one layer source, not both";
  int layer = 0;
  if (std::string e = a.integer("--layer", 0, 1 << 20, &layer); !e.empty()) return e;
  if (a.has("--layer") && !a.has("--config")) return "--layer: only with --config (an HF config.json)";
  if (a.has("--spec")) {
    if (std::string e = load_spec_json(a.get("--spec"), spec); !e.empty()) return e;
  } else if (a.has("--config")) {
    if (std::string e = load_hf_config(a.get("--config"), layer, spec); !e.empty()) return e;
  } else {
    *spec = default_spec();
  }
  SpecOverrides o;
  for (auto [flag, field] : {std::pair{"--seq", &o.seq}, {"--seq-q", &o.seq_q}, {"--seq-k", &o.seq_k},
                             {"--batch", &o.batch}})
    if (std::string e = a.integer(flag, 1, 1 << 20, field); !e.empty()) return e;
  o.dtype = a.get("--dtype");
  o.cu_seqlens = a.get("--cu-seqlens");
  return apply_overrides(o, spec);
}

std::string layout_from_args(const Args& a, Layout* layout) {
  std::string l = a.get("--layout", "bhnd");
  if (l == "bhnd") *layout = Layout::BHND;
  else if (l == "bnhd") *layout = Layout::BNHD;
  else return "--layout: expected bhnd or bnhd, got '" + l + "'";
  return "";
}

std::string inputs_from_args(const Args& a, const LayerSpec& spec, Inputs* in, uint64_t* seed, std::string* dist) {
  int s = 1;
  if (std::string e = a.integer("--seed", 0, 2147483647, &s); !e.empty()) return e;
  *seed = static_cast<uint64_t>(s);
  *dist = a.get("--dist", "normal");
  Distribution d;
  if (*dist == "normal") d = Distribution::Normal;
  else if (*dist == "outliers") d = Distribution::Outliers;
  else return "--dist: expected normal or outliers, got '" + *dist + "'";
  if (a.has("--inputs")) {
    Layout layout;
    if (std::string e = layout_from_args(a, &layout); !e.empty()) return e;
    if (std::string e = load_inputs(a.get("--inputs"), layout, spec, in); !e.empty()) return e;
    *dist = "file";
    return "";
  }
  *in = random_inputs(spec, *seed, d);
  if (spec.mask == MaskKind::ExplicitBool || spec.mask == MaskKind::ExplicitAdditive) {
    if (spec.mask_file.empty())
      return "the layer has an explicit mask: give it with --inputs (q, k, v and mask) or the spec's mask_file";
    NamedTensors nt;
    if (std::string e = read_tensor_file(spec.mask_file, &nt); !e.empty()) return e;
    auto it = nt.tensors.find("mask");
    if (it == nt.tensors.end() && nt.tensors.size() == 1) it = nt.tensors.begin();
    if (it == nt.tensors.end()) return spec.mask_file + ": no tensor named 'mask'";
    in->mask = it->second;
    in->mask.dtype = DType::F32;
    if (spec.mask == MaskKind::ExplicitBool)
      for (float& x : in->mask.data) x = x != 0.0f ? 1.0f : 0.0f;
    if (std::string e = in->check_against(spec); !e.empty()) return spec.mask_file + ": " + e;
    in->origin += ", mask from " + spec.mask_file;
  }
  return "";
}

void dout_for_backward(const LayerSpec& spec, uint64_t seed, Inputs* in) {
  if (!in->dout.empty()) {
    in->origin += ", dO from the file";
    return;
  }
  in->dout = random_dout(spec, seed, attended_rows(spec, *in));
  in->origin += ", dO seeded (seed=" + std::to_string(seed) + ")";
}

}  // namespace attnscope
