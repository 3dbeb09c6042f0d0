#include "viewers/model.h"

#include <algorithm>
#include <filesystem>

#include "viewers/jobs.h"

namespace attnscope {

namespace {
std::string lower_ext(const std::string& path) {
  std::string e = std::filesystem::path(path).extension().string();
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return std::tolower(c); });
  return e;
}
}  // namespace

void Model::add_error(const std::string& e) {
  if (e.empty()) return;
  if (errors.size() >= 8) errors.erase(errors.begin());
  errors.push_back(e);
}

void Model::save_settings_now() {
  if (settings_path.empty()) return;
  add_error(save_settings(settings_path, settings));
}

void Model::show_partial(std::shared_ptr<const Capture> c, bool first) {
  doc.cap = std::move(c);
  doc.cap_path.clear();
  ++doc.cap_version;
  sel.fit(*doc.cap, first);
}

void Model::set_capture(std::shared_ptr<const Capture> c, const std::string& path) {
  show_partial(std::move(c), true);
  doc.cap_path = path;
  doc.spec = doc.cap->spec;
  ++doc.spec_version;
  if (!path.empty()) {
    settings.add_recent(path);
    save_settings_now();
  }
}

std::string Model::open_spec(const std::string& path, int layer) {
  bool hf = false;
  if (std::string e = doc.read_spec(path, layer, &hf); !e.empty()) return e;
  settings.add_recent(path);
  save_settings_now();
  info = "layer from " + path + (hf ? " (layer " + std::to_string(layer) + ")" : "");
  return "";
}

void Model::open_path(const std::string& path) {
  std::string e = lower_ext(path);
  if (e == ".h5" || e == ".hdf5") {
    start_load(*this, path);
  } else if (e == ".json") {
    add_error(open_spec(path, 0));
  } else {
    add_error(path + ": not a capture (.h5) or a layer spec/config (.json)");
  }
}

void Model::focus_row(int b, int h, int64_t row) {
  if (!doc.cap) {
    sel.batch = b;
    sel.head = h;
    return;
  }
  sel.focus_row(b, h, row, doc.cap->spec.seq_q);
}

}  // namespace attnscope
