#include "capture/spec_io.h"

#include <algorithm>
#include <cmath>
#include <set>

#include <nlohmann/json.hpp>

#include "capture/json_fields.h"
#include "capture/text_file.h"

namespace attnscope {

using nlohmann::json;

namespace {

constexpr int64_t kMaxTextBytes = int64_t{64} << 20;  // specs and configs are kilobytes


const std::set<std::string> kSpecKeys = {
    "name", "description", "model", "_comment", "batch", "seq", "seq_q", "seq_k", "heads_q", "heads_kv",
    "head_dim", "head_dim_v", "dtype", "scale", "causal", "causal_align", "sliding_window", "window", "sinks",
    "softcap", "mask", "kv_lengths", "mask_file", "softmax_dtype", "max_context", "source", "cu_seqlens"};

}  // namespace

std::string spec_from_json_text(const std::string& text, const std::string& origin, LayerSpec* out) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {  // parse_error, and out_of_range for a number that overflows
    return origin + ": not valid JSON (" + e.what() + ")";
  }
  if (!j.is_object()) return origin + ": expected a JSON object with the layer's fields";
  if (j.contains("num_attention_heads"))
    return origin + ": this is a HuggingFace config.json; load it with --config";
  for (auto it = j.begin(); it != j.end(); ++it)
    if (!kSpecKeys.count(it.key()))
      return origin + ": field '" + it.key() + "': unknown field (known: batch, seq, seq_q, seq_k, heads_q, heads_kv, "
                                               "head_dim, head_dim_v, dtype, scale, causal, causal_align, "
                                               "sliding_window, window, sinks, softcap, mask, kv_lengths, "
                                               "softmax_dtype, max_context, cu_seqlens, name)";
  LayerSpec s;
  JsonFields f{j, origin, ""};
  s.name = f.string("name", "");
  s.source = f.string("source", origin);
  s.batch = f.integer("batch", 1, 1, 4096);
  int seq = f.integer("seq", 128, 1, 1 << 20);
  s.seq_q = f.integer("seq_q", seq, 1, 1 << 20);
  s.seq_k = f.integer("seq_k", seq, 1, 1 << 20);
  s.heads_q = f.integer("heads_q", 8, 1, 1024);
  s.heads_kv = f.integer("heads_kv", s.heads_q, 1, 1024);
  s.head_dim = f.integer("head_dim", 64, 1, 1024);
  s.head_dim_v = f.integer("head_dim_v", s.head_dim, 1, 1024);
  s.dtype = f.dtype("dtype", DType::BF16);
  s.scale = f.number("scale", 0.0);
  s.causal = f.boolean("causal", false);
  std::string align = f.string("causal_align", "bottom-right");
  if (align == "top-left") s.align = CausalAlign::TopLeft;
  else if (align == "bottom-right") s.align = CausalAlign::BottomRight;
  else f.fail("causal_align", "expected \"top-left\" or \"bottom-right\", got \"" + align + "\"");
  s.sliding_window = f.integer("sliding_window", 0, 0, 1 << 30);
  if (f.has("window")) {
    const json& w = j["window"];
    if (!w.is_array() || w.size() != 2 || !w[0].is_number_integer() || !w[1].is_number_integer() ||
        w[0].get<int64_t>() < -1 || w[1].get<int64_t>() < -1 || w[0].get<int64_t>() > (1 << 30) ||
        w[1].get<int64_t>() > (1 << 30))
      f.fail("window", "expected [left, right] integers >= -1 (FA2's window_size), got " + w.dump());
    else {
      s.window_left = w[0].get<int>();
      s.window_right = w[1].get<int>();
    }
  }
  s.sinks = f.boolean("sinks", false);
  s.softcap = static_cast<float>(f.number("softcap", 0.0, -1e30, 1e30));  // a float: no overflow
  std::string mask = f.string("mask", "none");
  if (mask == "none") s.mask = MaskKind::None;
  else if (mask == "causal") { s.mask = MaskKind::None; s.causal = true; }
  else if (mask == "padding") s.mask = MaskKind::Padding;
  else if (mask == "bool") s.mask = MaskKind::ExplicitBool;
  else if (mask == "additive") s.mask = MaskKind::ExplicitAdditive;
  else f.fail("mask", "expected none, causal, padding, bool or additive, got \"" + mask + "\"");
  if (f.has("kv_lengths")) {
    const json& L = j["kv_lengths"];
    if (!L.is_array()) f.fail("kv_lengths", "expected an array of integers");
    else
      for (const auto& x : L) {
        if (!x.is_number_integer()) {
          f.fail("kv_lengths", "expected integers, got " + x.dump());
          break;
        }
        s.kv_lengths.push_back(static_cast<int>(std::clamp<int64_t>(x.get<int64_t>(), -1, 1 << 30)));
      }
  }
  if (f.has("cu_seqlens")) {
    const json& c = j["cu_seqlens"];
    if (!c.is_array()) f.fail("cu_seqlens", "expected an array of integers [0, end_1, ..., total]");
    else
      for (const auto& x : c) {
        if (!x.is_number_integer() || x.get<int64_t>() < -1 || x.get<int64_t>() > (1 << 30)) {
          f.fail("cu_seqlens", "expected integers [0, end_1, ..., total], got " + x.dump());
          break;
        }
        s.cu_seqlens.push_back(x.get<int>());
      }
    if (f.err.empty() && !s.cu_seqlens.empty() && !f.has("seq") && !f.has("seq_q") && !f.has("seq_k"))
      s.seq_q = s.seq_k = s.cu_seqlens.back();  // the total token count, unless given
  }
  s.mask_file = f.string("mask_file", "");
  std::string sm = f.string("softmax_dtype", "fp32");
  if (sm == "model") s.softmax_dtype = s.dtype;
  else if (auto d = parse_dtype(sm)) s.softmax_dtype = *d;
  else f.fail("softmax_dtype", "expected fp32 or model (or the model's dtype), got \"" + sm + "\"");
  s.max_context = f.integer("max_context", 0, 0, 1 << 30);
  if (!f.err.empty()) return f.err;
  if (std::string e = s.validate(); !e.empty()) return origin + ": field '" + e.substr(0, e.find(':')) + "'" + e.substr(e.find(':'));
  *out = s;
  return "";
}

std::string load_spec_json(const std::string& path, LayerSpec* spec) {
  std::string text;
  if (std::string e = read_text_file(path, "layer spec", kMaxTextBytes, &text); !e.empty()) return e;
  return spec_from_json_text(text, path, spec);
}

std::string spec_to_json(const LayerSpec& s) {
  json j;
  j["name"] = s.name;
  j["source"] = s.source;
  j["batch"] = s.batch;
  j["seq_q"] = s.seq_q;
  j["seq_k"] = s.seq_k;
  j["heads_q"] = s.heads_q;
  j["heads_kv"] = s.heads_kv;
  j["head_dim"] = s.head_dim;
  j["head_dim_v"] = s.head_dim_v;
  j["dtype"] = dtype_name(s.dtype);
  j["scale"] = s.scale;
  j["causal"] = s.causal;
  j["causal_align"] = causal_align_name(s.align);
  j["sliding_window"] = s.sliding_window;
  j["window"] = {s.window_left, s.window_right};
  j["sinks"] = s.sinks;
  j["softcap"] = s.softcap;
  j["mask"] = mask_kind_name(s.mask);
  if (!s.kv_lengths.empty()) j["kv_lengths"] = s.kv_lengths;
  if (s.packed()) j["cu_seqlens"] = s.cu_seqlens;
  if (!s.mask_file.empty()) j["mask_file"] = s.mask_file;
  j["softmax_dtype"] = dtype_name(s.softmax_dtype);
  if (s.max_context > 0) j["max_context"] = s.max_context;
  return j.dump(2);
}

std::string parse_hf_config_json(const std::string& text, const std::string& origin, json* root, json* text_config) {
  try {
    *root = json::parse(text);
  } catch (const json::exception& e) {  // parse_error, and out_of_range for a number that overflows
    return origin + ": not valid JSON (" + e.what() + ")";
  }
  if (!root->is_object()) return origin + ": expected a JSON object (a HuggingFace config.json)";
  // Multimodal configs nest the language model's config.
  const json& r = *root;
  const bool nested = !r.contains("num_attention_heads") && r.contains("text_config") && r["text_config"].is_object();
  *text_config = nested ? r["text_config"] : r;
  return "";
}

std::string spec_from_hf_config_text(const std::string& text, const std::string& origin, int layer, LayerSpec* out,
                                     std::vector<std::string>* layer_types) {
  json root, j;
  if (std::string e = parse_hf_config_json(text, origin, &root, &j); !e.empty()) return e;
  JsonFields f{j, origin, ""};
  if (!f.has("num_attention_heads")) return origin + ": field 'num_attention_heads': missing (not a decoder config?)";
  LayerSpec s;
  std::string model_type = f.string("model_type", "");
  s.heads_q = f.integer("num_attention_heads", 0, 1, 1024);
  s.heads_kv = f.integer("num_key_value_heads", s.heads_q, 1, 1024);
  int hidden = f.integer("hidden_size", 0, 0, 1 << 20);
  if (f.has("head_dim")) s.head_dim = f.integer("head_dim", 0, 1, 1024);
  else if (hidden > 0 && s.heads_q > 0) {
    if (hidden % s.heads_q != 0)
      return origin + ": field 'hidden_size': " + std::to_string(hidden) + " is not a multiple of num_attention_heads";
    s.head_dim = hidden / s.heads_q;
  } else
    return origin + ": field 'head_dim': missing, and no hidden_size to derive it from";
  s.head_dim_v = s.head_dim;
  std::string dt = f.has("torch_dtype") ? f.string("torch_dtype", "bfloat16") : f.string("dtype", "bfloat16");
  auto d = parse_dtype(dt);
  if (!d) return origin + ": field 'torch_dtype': unknown dtype '" + dt + "'";
  s.dtype = *d;
  int max_pos = f.integer("max_position_embeddings", 4096, 1, 1 << 30);
  s.seq_q = s.seq_k = std::min(max_pos, 1024);
  s.max_context = f.has("max_position_embeddings") ? max_pos : 0;
  s.causal = true;
  s.align = CausalAlign::BottomRight;
  if (f.has("attn_logit_softcapping")) s.softcap = static_cast<float>(f.number("attn_logit_softcapping", 0, -1e30, 1e30));
  if (f.has("query_pre_attn_scalar")) {
    double qs = f.number("query_pre_attn_scalar", 0);
    if (qs > 0) s.scale = 1.0 / std::sqrt(qs);
  }
  int window = 0;
  if (f.has("sliding_window")) window = f.integer("sliding_window", 0, 0, 1 << 30);
  bool use_sw = f.boolean("use_sliding_window", true);
  std::string type;
  if (f.has("layer_types")) {
    const json& lt = j["layer_types"];
    if (!lt.is_array() || lt.empty()) return origin + ": field 'layer_types': expected a non-empty array of strings";
    std::vector<std::string> types;
    for (const auto& x : lt) {
      if (!x.is_string()) return origin + ": field 'layer_types': expected strings, got " + x.dump();
      types.push_back(x.get<std::string>());
    }
    if (layer_types) {
      layer_types->clear();
      for (const auto& t : types)
        if (std::find(layer_types->begin(), layer_types->end(), t) == layer_types->end()) layer_types->push_back(t);
    }
    if (layer < 0 || layer >= static_cast<int>(types.size()))
      return origin + ": --layer " + std::to_string(layer) + ": the model has " + std::to_string(types.size()) +
             " layers (layer_types)";
    type = types[layer];
  } else {
    if (layer_types) *layer_types = {window > 0 && use_sw ? "sliding_attention" : "full_attention"};
    int n = f.integer("num_hidden_layers", 1 << 20, 1, 1 << 20);
    if (layer < 0 || layer >= n)
      return origin + ": --layer " + std::to_string(layer) + ": the model has " + std::to_string(n) + " layers";
    type = (window > 0 && use_sw) ? "sliding_attention" : "full_attention";
    if (model_type == "gemma2" && window > 0)  // Gemma 2 alternates: even layers slide
      type = layer % 2 == 0 ? "sliding_attention" : "full_attention";
  }
  if (type == "sliding_attention") {
    if (window <= 0) return origin + ": field 'sliding_window': layer " + std::to_string(layer) + " slides but no window is set";
    s.sliding_window = window;
  } else if (type != "full_attention") {
    return origin + ": field 'layer_types': layer " + std::to_string(layer) + " has type '" + type +
           "' (attnscope knows full_attention and sliding_attention)";
  }
  if (model_type == "gpt_oss") {
    s.sinks = true;
    s.softmax_dtype = s.dtype;  // GPT-OSS's eager: softmax in the model dtype
  }
  if (!f.err.empty()) return f.err;
  std::string base = origin.substr(origin.rfind('/') == std::string::npos ? 0 : origin.rfind('/') + 1);
  s.name = (model_type.empty() ? base : model_type) + " layer " + std::to_string(layer) + " (" + type + ")";
  s.source = origin + " --layer " + std::to_string(layer);
  if (std::string e = s.validate(); !e.empty()) return origin + ": " + e;
  *out = s;
  return "";
}

std::string load_hf_config(const std::string& path, int layer, LayerSpec* spec, std::vector<std::string>* types) {
  std::string text;
  if (std::string e = read_text_file(path, "config.json", kMaxTextBytes, &text); !e.empty()) return e;
  return spec_from_hf_config_text(text, path, layer, spec, types);
}

std::string parse_cu_seqlens(const std::string& text, std::vector<int>* out) {
  out->clear();
  size_t a = 0;
  while (a <= text.size()) {
    size_t b = text.find(',', a);
    if (b == std::string::npos) b = text.size();
    const std::string item = text.substr(a, b - a);
    try {
      size_t used = 0;
      long long v = std::stoll(item, &used);
      if (used != item.size() || v < 0 || v > (1 << 30)) throw std::invalid_argument(item);
      out->push_back(static_cast<int>(v));
    } catch (const std::exception&) {
      return "--cu-seqlens: entry " + std::to_string(out->size()) + " ('" + item +
             "') is not a token offset (expected 0,end_1,...,total)";
    }
    a = b + 1;
  }
  return "";
}

std::string apply_overrides(const SpecOverrides& o, LayerSpec* s) {
  if (o.batch > 0) {
    s->batch = o.batch;
    if (s->mask == MaskKind::Padding && static_cast<int>(s->kv_lengths.size()) != o.batch)
      return "--batch: the spec's padding mask has " + std::to_string(s->kv_lengths.size()) + " lengths";
  }
  if (!o.cu_seqlens.empty()) {
    if (o.batch > 0 || o.seq > 0 || o.seq_q > 0 || o.seq_k > 0)
      return "--cu-seqlens: it sets batch 1 and the token count itself; drop --batch/--seq";
    if (std::string e = parse_cu_seqlens(o.cu_seqlens, &s->cu_seqlens); !e.empty()) return e;
    if (s->mask == MaskKind::Padding) {
      s->mask = MaskKind::None;  // the packed sequences replace the padding
      s->kv_lengths.clear();
    }
    s->batch = 1;
    s->seq_q = s->seq_k = s->cu_seqlens.back();
  }
  if (o.seq > 0) s->seq_q = s->seq_k = o.seq;
  if (o.seq_q > 0) s->seq_q = o.seq_q;
  if (o.seq_k > 0) s->seq_k = o.seq_k;
  if (!o.dtype.empty()) {
    auto d = parse_dtype(o.dtype);
    if (!d) return "--dtype: unknown dtype '" + o.dtype + "' (fp32, fp16, bf16, float32, float16, bfloat16)";
    // A model-dtype softmax (GPT-OSS) follows the new dtype; an fp32 softmax stays fp32.
    bool model_softmax = s->softmax_dtype != DType::F32;
    s->dtype = *d;
    s->softmax_dtype = model_softmax ? *d : DType::F32;
  }
  if (std::string e = s->validate(); !e.empty()) return "after overrides: " + e;
  return "";
}

LayerSpec default_spec() {
  LayerSpec s;
  s.name = "gpt-oss-20b layer 0 (sliding_attention)";
  s.source = "embedded default (samples/gpt-oss-20b.json at 512 tokens)";
  s.batch = 1;
  s.seq_q = s.seq_k = 512;
  s.heads_q = 64;
  s.heads_kv = 8;
  s.head_dim = s.head_dim_v = 64;
  s.dtype = DType::BF16;
  s.causal = true;
  s.sliding_window = 128;
  s.sinks = true;
  s.softmax_dtype = DType::BF16;
  return s;
}

}  // namespace attnscope
