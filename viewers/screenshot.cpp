#include "viewers/screenshot.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>

#define GL_GLEXT_PROTOTYPES 1
#include <GL/gl.h>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#include <stb_image_write.h>

namespace attnscope {
namespace {

std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    o += c;
  }
  return o;
}

}  // namespace

std::string write_framebuffer_png(const std::string& path, int fb_w, int fb_h, float x, float y, float w, float h) {
  int x0 = 0, y0 = 0, ww = fb_w, hh = fb_h;
  if (w > 0 && h > 0) {
    x0 = std::clamp(static_cast<int>(std::floor(x)), 0, fb_w - 1);
    y0 = std::clamp(static_cast<int>(std::floor(y)), 0, fb_h - 1);
    ww = std::clamp(static_cast<int>(std::ceil(w)), 1, fb_w - x0);
    hh = std::clamp(static_cast<int>(std::ceil(h)), 1, fb_h - y0);
  }
  if (ww <= 0 || hh <= 0) return path + ": empty framebuffer";
  std::vector<unsigned char> px(static_cast<size_t>(ww) * hh * 4);
  glPixelStorei(GL_PACK_ALIGNMENT, 1);
  glPixelStorei(GL_PACK_ROW_LENGTH, 0);
  // GL's origin is bottom-left.
  glReadPixels(x0, fb_h - y0 - hh, ww, hh, GL_RGBA, GL_UNSIGNED_BYTE, px.data());
  if (GLenum e = glGetError(); e != GL_NO_ERROR) return path + ": glReadPixels failed (GL error " + std::to_string(e) + ")";
  // Flip rows and force opaque alpha (the framebuffer's alpha is whatever ImGui blended).
  std::vector<unsigned char> out(px.size());
  const size_t row = static_cast<size_t>(ww) * 4;
  for (int r = 0; r < hh; ++r) {
    std::copy_n(px.data() + static_cast<size_t>(hh - 1 - r) * row, row, out.data() + static_cast<size_t>(r) * row);
    for (int c = 0; c < ww; ++c) out[static_cast<size_t>(r) * row + static_cast<size_t>(c) * 4 + 3] = 255;
  }
  if (!stbi_write_png(path.c_str(), ww, hh, 4, out.data(), static_cast<int>(row)))
    return path + ": cannot write PNG";
  return "";
}

namespace {
// This process's resident memory (the load tests compare sessions by it).
int64_t resident_bytes() {
  std::ifstream f("/proc/self/statm");
  int64_t pages = 0, resident = 0;
  f >> pages >> resident;
  return resident * static_cast<int64_t>(sysconf(_SC_PAGESIZE));
}
}  // namespace

std::string regions_json(const Model& m, int width, int height, float x0, float y0) {
  std::string s = "{\n  \"width\": " + std::to_string(width) + ",\n  \"height\": " + std::to_string(height) +
                  ",\n  \"panel\": \"" + panel_name(m.sel.panel) + "\",\n  \"capture\": \"" + esc(m.doc.cap_path) +
                  "\",\n  \"info\": \"" + esc(m.info) + "\",\n  \"errors\": " + std::to_string(m.errors.size()) +
                  ",\n  \"rss_bytes\": " + std::to_string(resident_bytes()) + ",\n  \"regions\": [";
  char buf[160];
  for (size_t i = 0; i < m.regions.size(); ++i) {
    const Region& r = m.regions[i];
    std::snprintf(buf, sizeof buf, "\"x\": %.3f, \"y\": %.3f, \"w\": %.3f, \"h\": %.3f", r.x - x0, r.y - y0, r.w, r.h);
    s += std::string(i ? "," : "") + "\n    {\"name\": \"" + esc(r.name) + "\", " + buf;
    if (!r.json.empty()) s += ", " + r.json;
    s += "}";
  }
  s += "\n  ]\n}\n";
  return s;
}

}  // namespace attnscope
