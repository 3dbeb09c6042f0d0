// Reading the framebuffer back and writing it as PNG (glReadPixels + stb_image_write).
#pragma once
#include <string>
#include <vector>

#include "viewers/model.h"

namespace attnscope {

// Reads the current GL read buffer ([x, y, w, h] in top-left-origin framebuffer pixels; w <= 0
// means the whole `fb_w` x `fb_h` framebuffer) and writes it to `path`. "" or the error.
std::string write_framebuffer_png(const std::string& path, int fb_w, int fb_h, float x = 0, float y = 0,
                                  float w = 0, float h = 0);
// The regions drawn this frame as JSON (shifted by -x0, -y0 when the PNG was cropped), with the
// panel, capture, info line, error count and this process's resident memory (rss_bytes).
std::string regions_json(const Model& m, int width, int height, float x0, float y0);

}  // namespace attnscope
