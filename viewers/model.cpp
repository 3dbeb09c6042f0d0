#include "viewers/model.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "capture/session.h"
#include "capture/spec_io.h"
#include "capture/store.h"
#include "capture/tensor_io.h"
#include "kernels/gpu_backend.h"

namespace attnscope {

namespace {
const char* const kPanelNames[] = {"maps", "divergence", "probe", "timeline", "memory", "diagnose"};

std::string lower_ext(const std::string& path) {
  std::string e = std::filesystem::path(path).extension().string();
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return std::tolower(c); });
  return e;
}
}  // namespace

const char* panel_name(PanelId p) {
  int i = static_cast<int>(p);
  return i >= 0 && i < static_cast<int>(PanelId::Count) ? kPanelNames[i] : "?";
}

bool parse_panel(const std::string& s, PanelId* out) {
  for (int i = 0; i < static_cast<int>(PanelId::Count); ++i)
    if (s == kPanelNames[i]) {
      *out = static_cast<PanelId>(i);
      return true;
    }
  return false;
}

void Model::add_error(const std::string& e) {
  if (e.empty()) return;
  if (errors.size() >= 8) errors.erase(errors.begin());
  errors.push_back(e);
}

void Model::save_settings_now() {
  if (settings_path.empty()) return;
  add_error(save_settings(settings_path, settings));
}

std::vector<std::string> Model::selected_impls() const {
  static const char* const sdpa_names[] = {"sdpa", "sdpa:flash", "sdpa:efficient", "sdpa:math", "sdpa:cudnn"};
  std::vector<std::string> v;
  const auto& names = implementation_names();
  for (size_t i = 0; i < names.size() && i < 4; ++i) {
    if (!impl_on[i]) continue;
    v.push_back(names[i] == "sdpa" ? sdpa_names[std::clamp(sdpa_backend, 0, 4)] : names[i]);
  }
  return v;
}

DeviceInfo Model::verdict_device(std::string* why) const {
  if (!settings.verdict_gpu.empty()) {
    if (auto d = named_gpu(settings.verdict_gpu)) return *d;
    if (why) *why = "unknown GPU name '" + settings.verdict_gpu + "'";
  }
  GpuBackend& g = GpuBackend::instance();
  if (g.available() && !force_cpu) return g.device();
  return cpu_device();
}

void Model::show_partial(std::shared_ptr<const Capture> c, bool first) {
  cap = std::move(c);
  cap_path.clear();
  ++cap_version;
  batch = std::clamp(batch, 0, std::max(0, cap->spec.batch - 1));
  head = std::clamp(head, 0, std::max(0, cap->spec.heads_q - 1));
  if (first) {
    view = MapViewport{};
    cursor_valid = false;
  }
  auto has = [&](const std::string& l) { return l == "reference" || cap->find(l) != nullptr; };
  if (div_a.empty() || !has(div_a)) div_a = cap->runs.empty() ? "reference" : cap->runs.front().label;
  if (div_b.empty() || !has(div_b)) div_b = "reference";
}

void Model::set_capture(std::shared_ptr<const Capture> c, const std::string& path) {
  show_partial(std::move(c), true);
  cap_path = path;
  spec = cap->spec;
  ++spec_version;
  if (!path.empty()) {
    settings.add_recent(path);
    save_settings_now();
  }
}

bool Model::make_room() {
  if (!busy()) return true;
  if (!job->supersedable) {
    add_error("busy: " + job->what + " is still running");
    return false;
  }
  // The start-up run gives way: the user asked for something else. Cancelling a CPU run stops
  // it within a row; a GPU run's worker is ended.
  cancel_job();
  if (job->thread.joinable()) job->thread.join();
  job.reset();
  info.clear();
  return true;
}

bool Model::start_load(const std::string& path) {
  if (!make_room()) return false;
  job = std::make_unique<Job>();
  job->what = "loading " + path;
  job->stage = "reading";
  Job* j = job.get();
  j->thread = std::thread([j, path] {
    auto c = std::make_shared<Capture>();
    LoadStatus st = load_capture(path, c.get());
    std::lock_guard<std::mutex> lock(j->mu);
    if (!st.ok()) {
      std::string msg = st.message.empty() ? path + ": cannot be loaded" : st.message;
      j->finish = [msg](Model& m) { m.add_error(msg); };
    } else {
      j->finish = [c, path](Model& m) {
        m.set_capture(c, path);
        m.info = "opened " + path;
      };
    }
    j->progress = 1.0;
    j->done = true;
  });
  return true;
}

bool Model::start_run(bool at_start) {
  if (!make_room()) return false;
  if (std::string e = spec.validate(); !e.empty()) {
    add_error("layer: " + e);
    return false;
  }
  job = std::make_unique<Job>();
  job->supersedable = at_start;
  job->what = "running " + spec.summary();
  job->stage = "preparing inputs";
  Job* j = job.get();
  SessionOptions opt;
  opt.impls = selected_impls();
  opt.what_if = what_if;
  opt.force_cpu = force_cpu;
  if (!settings.verdict_gpu.empty()) {
    if (auto d = named_gpu(settings.verdict_gpu)) {
      opt.verdict_device = *d;
      opt.verdict_device_named = true;
    }
  }
  if (probe) {
    opt.probe = probe_spec;
    opt.probe.enabled = true;
  }
  opt.cancel = &j->cancel;
  opt.progress = [j](const std::string& stage, double f) {
    j->progress = std::clamp(f, 0.0, 1.0);
    std::lock_guard<std::mutex> lock(j->mu);
    j->stage = stage;
  };
  opt.partial = [j](const Capture& so_far) {
    // A copy for the panels; eager's S and P stay with the run until it ends (up to 2 GiB: the
    // maps rebuild P from the LSE meanwhile, as for the fused kernels).
    auto snap = std::make_shared<Capture>(so_far);
    for (RunResult* r : {&snap->reference}) r->scores = r->probs = Tensor();
    for (RunResult& r : snap->runs) r.scores = r.probs = Tensor();
    std::lock_guard<std::mutex> lock(j->mu);
    j->partial = std::move(snap);
  };
  LayerSpec s = spec;
  uint64_t sd = seed;
  Distribution di = dist;
  std::string inputs = inputs_path;
  j->thread = std::thread([j, s, sd, di, inputs, opt] {
    auto c = std::make_shared<Capture>();
    std::string err;
    Inputs in;
    if (!inputs.empty())
      err = load_inputs(inputs, Layout::BHND, s, &in);
    else
      in = random_inputs(s, sd, di);
    if (err.empty()) err = run_session(s, std::move(in), opt, c.get());
    bool cancelled = j->cancel.load();
    std::lock_guard<std::mutex> lock(j->mu);
    if (!err.empty() || cancelled) {
      std::string msg = cancelled ? std::string("run cancelled") : "run: " + err;
      j->finish = [msg, cancelled](Model& m) {
        if (cancelled)
          m.info = msg;
        else
          m.add_error(msg);
      };
    } else {
      j->finish = [c](Model& m) {
        m.set_capture(c, "");
        m.info = "run finished: " + std::to_string(c->runs.size()) + " runs";
      };
    }
    j->progress = 1.0;
    j->done = true;
  });
  return true;
}

bool Model::start_save(const std::string& path) {
  if (!cap) {
    add_error("save: no capture is open");
    return false;
  }
  if (busy()) {
    add_error("busy: " + job->what + " is still running");
    return false;
  }
  job = std::make_unique<Job>();
  job->what = "saving " + path;
  job->stage = "writing";
  Job* j = job.get();
  std::shared_ptr<const Capture> c = cap;
  j->thread = std::thread([j, c, path] {
    std::string err = save_capture(*c, path);
    std::lock_guard<std::mutex> lock(j->mu);
    j->finish = [err, path](Model& m) {
      if (!err.empty()) {
        m.add_error(err);
        return;
      }
      m.cap_path = path;
      m.settings.add_recent(path);
      m.save_settings_now();
      m.info = "saved " + path;
    };
    j->progress = 1.0;
    j->done = true;
  });
  return true;
}

void Model::cancel_job() {
  if (job) job->cancel = true;
}

void Model::poll() {
  if (!job) return;
  std::shared_ptr<const Capture> partial;
  {
    std::lock_guard<std::mutex> lock(job->mu);
    partial = std::move(job->partial);
  }
  if (partial && !job->done) {
    show_partial(std::move(partial), !job->partial_shown);
    job->partial_shown = true;
  }
  if (!job->done) return;
  if (job->thread.joinable()) job->thread.join();
  std::function<void(Model&)> f;
  {
    std::lock_guard<std::mutex> lock(job->mu);
    f = std::move(job->finish);
  }
  job.reset();
  if (f) f(*this);
}

std::string Model::open_spec(const std::string& path, int layer) {
  std::ifstream in(path);
  if (!in) return path + ": cannot be opened";
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  LayerSpec s;
  std::string err;
  std::vector<std::string> types;
  // A HuggingFace config names its heads; attnscope's own spec format does not use that key.
  bool hf = text.find("\"num_attention_heads\"") != std::string::npos;
  if (hf)
    err = spec_from_hf_config_text(text, path, layer, &s, &types);
  else
    err = spec_from_json_text(text, path, &s);
  if (!err.empty()) return err;
  spec = s;
  ++spec_version;
  if (hf) {
    config_path = path;
    config_layer = layer;
    config_spec_version = spec_version;
    layer_types = types;
  } else {
    config_path.clear();
    layer_types.clear();
  }
  settings.add_recent(path);
  save_settings_now();
  info = "layer from " + path + (hf ? " (layer " + std::to_string(layer) + ")" : "");
  return "";
}

void Model::open_path(const std::string& path) {
  std::string e = lower_ext(path);
  if (e == ".h5" || e == ".hdf5") {
    start_load(path);
  } else if (e == ".json") {
    add_error(open_spec(path, 0));
  } else {
    add_error(path + ": not a capture (.h5) or a layer spec/config (.json)");
  }
}

void Model::focus_row(int b, int h, int64_t row) {
  batch = b;
  head = h;
  if (!cap) return;
  double rows = std::max(1, cap->spec.seq_q);
  // Show about 64 rows around the chosen one, all columns.
  double span = std::min(1.0, 64.0 / rows);
  double c = (static_cast<double>(row) + 0.5) / rows;
  double y0 = std::clamp(c - span / 2, 0.0, 1.0 - span);
  view = MapViewport{0.0, 1.0, y0, y0 + span};
  cursor_valid = true;
  cursor_row = static_cast<int>(row);
  cursor_col = 0;
  panel = PanelId::Maps;
  panel_requested = true;
}

}  // namespace attnscope
