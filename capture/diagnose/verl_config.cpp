// verl trainer configs: YAML (yaml-cpp, private to this file) with Hydra's override grammar applied
// (`key=value`, `+key=value`, `++key=value`, `~key`) and OmegaConf interpolations resolved.
#include "capture/diagnose/verl_config.h"

#include <algorithm>

#include <yaml-cpp/yaml.h>

#include "capture/text_file.h"
#include "capture/diagnose/messages.h"

namespace attnscope {

struct VerlConfig {
  YAML::Node root;
};

namespace {

std::vector<std::string> split_dots(const std::string& s) {
  std::vector<std::string> r;
  std::string cur;
  for (char c : s) {
    if (c == '.') {
      r.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  r.push_back(cur);
  return r;
}

// Const lookup that never inserts (yaml-cpp's operator[] on a non-const node would).
YAML::Node lookup(const YAML::Node& root, const std::vector<std::string>& path) {
  // yaml-cpp's Node::operator= assigns content through the handle; reset() rebinds it.
  YAML::Node cur;
  cur.reset(root);
  for (const auto& k : path) {
    if (!cur || !cur.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
    bool found = false;
    for (auto it = cur.begin(); it != cur.end(); ++it)
      if (it->first.IsScalar() && it->first.as<std::string>() == k) {
        YAML::Node next = it->second;
        cur.reset(next);
        found = true;
        break;
      }
    if (!found) return YAML::Node(YAML::NodeType::Undefined);
  }
  return cur;
}

bool exists(const YAML::Node& root, const std::string& dotted) {
  YAML::Node n = lookup(root, split_dots(dotted));
  return n.IsDefined();
}

void set_path(YAML::Node& root, const std::vector<std::string>& path, const YAML::Node& value) {
  // yaml-cpp nodes are handles: walking with operator[] on non-const nodes creates the maps.
  std::vector<YAML::Node> chain{root};
  for (size_t i = 0; i + 1 < path.size(); ++i) {
    YAML::Node child = chain.back()[path[i]];
    if (!child.IsMap()) child = YAML::Node(YAML::NodeType::Map);
    chain.back()[path[i]] = child;
    chain.push_back(chain.back()[path[i]]);
  }
  chain.back()[path.back()] = value;
}

void remove_path(YAML::Node& root, const std::vector<std::string>& path) {
  YAML::Node cur;
  cur.reset(root);
  for (size_t i = 0; i + 1 < path.size(); ++i) {
    if (!cur.IsMap() || !cur[path[i]]) return;
    YAML::Node next = cur[path[i]];
    cur.reset(next);
  }
  if (cur.IsMap()) cur.remove(path.back());
}

std::string strip_quotes(std::string v) {
  if (v.size() >= 2 && ((v.front() == '\'' && v.back() == '\'') || (v.front() == '"' && v.back() == '"')))
    return v.substr(1, v.size() - 2);
  return v;
}

// Interpolations: ${a.b}, ${oc.select:a.b,default}, ${oc.env:VAR,default}; others are left as-is.
std::string resolve(const YAML::Node& root, const std::string& s, int depth = 0) {
  if (depth > 8) return s;
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    size_t a = s.find("${", i);
    if (a == std::string::npos) {
      out += s.substr(i);
      break;
    }
    size_t b = s.find('}', a);
    if (b == std::string::npos) {
      out += s.substr(i);
      break;
    }
    out += s.substr(i, a - i);
    std::string expr = s.substr(a + 2, b - a - 2);
    std::string key = expr, dflt;
    bool have_default = false, env = false;
    if (expr.rfind("oc.select:", 0) == 0 || expr.rfind("oc.env:", 0) == 0) {
      env = expr.rfind("oc.env:", 0) == 0;
      key = expr.substr(expr.find(':') + 1);
      size_t comma = key.find(',');
      if (comma != std::string::npos) {
        dflt = key.substr(comma + 1);
        key = key.substr(0, comma);
        have_default = true;
      }
    }
    std::string val;
    bool ok = false;
    if (!env) {
      YAML::Node n = lookup(root, split_dots(key));
      if (n.IsDefined() && n.IsScalar()) {
        val = resolve(root, n.as<std::string>(), depth + 1);
        ok = true;
      } else if (n.IsDefined() && n.IsNull()) {
        val = "null";
        ok = true;
      }
    }
    if (!ok && have_default) {
      val = strip_quotes(dflt);
      ok = true;
    }
    out += ok ? val : s.substr(a, b - a + 1);
    i = b + 1;
  }
  return out;
}

}  // namespace

std::string verl_get(const VerlConfig& cfg, const std::string& dotted, bool* found) {
  YAML::Node n = lookup(cfg.root, split_dots(dotted));
  if (found) *found = n.IsDefined() && !n.IsNull();
  if (!n.IsDefined() || n.IsNull()) {
    if (found) *found = false;
    return "";
  }
  if (n.IsScalar()) {
    std::string v = resolve(cfg.root, n.as<std::string>());
    if (v == "null" || v == "~") {
      if (found) *found = false;
      return "";
    }
    return v;
  }
  if (n.IsMap() || n.IsSequence()) {
    YAML::Emitter e;
    e << YAML::Flow << n;
    return e.c_str();
  }
  return "";
}

bool verl_has(const VerlConfig& cfg, const std::string& dotted) { return exists(cfg.root, dotted); }

std::string parse_verl_yaml(const std::string& text, const std::string& origin,
                            const std::vector<std::string>& overrides, VerlConfigPtr* out,
                            std::vector<Reason>* refusals) {
  auto cfg = std::make_shared<VerlConfig>();
  try {
    cfg->root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return origin + ": not valid YAML at line " + std::to_string(e.mark.line + 1) + ", column " +
           std::to_string(e.mark.column + 1) + ": " + e.msg;
  }
  if (cfg->root.IsNull()) cfg->root = YAML::Node(YAML::NodeType::Map);
  if (!cfg->root.IsMap()) return origin + ": expected a YAML mapping at the top level (a verl trainer config)";

  for (const std::string& raw : overrides) {
    std::string o = raw;
    if (o.rfind("--", 0) == 0) return "override '" + raw + "': Hydra overrides are key=value, without dashes";
    int mode = 0;  // 0 set, 1 append (+), 2 force (++), 3 delete (~)
    if (o.rfind("++", 0) == 0) {
      mode = 2;
      o = o.substr(2);
    } else if (o.rfind("+", 0) == 0) {
      mode = 1;
      o = o.substr(1);
    } else if (o.rfind("~", 0) == 0) {
      mode = 3;
      o = o.substr(1);
    }
    size_t eq = o.find('=');
    std::string key = eq == std::string::npos ? o : o.substr(0, eq);
    std::string val = eq == std::string::npos ? "" : o.substr(eq + 1);
    if (key.empty() || (eq == std::string::npos && mode != 3))
      return "override '" + raw + "': expected key=value (or +key=value, ++key=value, ~key)";
    for (const auto& part : split_dots(key))
      if (part.empty()) return "override '" + raw + "': empty key component in '" + key + "'";
    auto path = split_dots(key);
    if (mode == 3) {
      if (!exists(cfg->root, key))
        refusals->push_back({Severity::Error, "verl.hydra_delete_missing",
                             library_text("verl.hydra_delete_missing", {{"key", key}}), "Hydra override parser"});
      remove_path(cfg->root, path);
      continue;
    }
    YAML::Node value;
    try {
      value = YAML::Load(val.empty() ? "''" : val);
    } catch (const YAML::Exception& e) {
      return "override '" + raw + "': value is not valid YAML: " + e.msg;
    }
    if (value.IsScalar()) value = YAML::Node(strip_quotes(value.as<std::string>()));
    bool have = exists(cfg->root, key);
    if (mode == 0 && !have) {
      Verdict tmp;
      add_message(&tmp, "verl.hydra_missing_key", "",
                  {{"key", key}, {"value", val}, {"leaf", path.back()}});
      for (auto& r : tmp.reasons) refusals->push_back(r);
      continue;  // Hydra stops here; the report shows the refusal and what the config says without it
    }
    if (mode == 1 && have) {
      Verdict tmp;
      add_message(&tmp, "verl.hydra_exists", "", {{"key", key}});
      for (auto& r : tmp.reasons) refusals->push_back(r);
      continue;
    }
    set_path(cfg->root, path, value);
  }
  *out = cfg;
  return "";
}

std::string load_verl_config(const std::string& path, const std::vector<std::string>& overrides, VerlConfigPtr* out,
                             std::vector<Reason>* refusals) {
  std::string text;
  if (std::string e = read_text_file(path, "--verl-config", int64_t{64} << 20, &text); !e.empty()) return e;
  return parse_verl_yaml(text, path, overrides, out, refusals);
}

}  // namespace attnscope
