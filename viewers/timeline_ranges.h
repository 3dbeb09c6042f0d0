// The Timeline's phase rows: a run's NVTX ranges (GPU runs) or profiler annotations (outside runs)
// drawn above its kernels, one row per nesting depth (implementation, phase, launch), on the
// kernels' time axis (a bar is at least one pixel wide, like the kernels').
#pragma once
#include <functional>
#include <string>

#include "kernels/result.h"
#include "viewers/widgets.h"

namespace attnscope {

struct RangeRows {
  int rows = 0;          // rows drawn (0: the run has no ranges)
  float row_h = 14;      // pixels per row
  float height() const { return rows * row_h; }
};
// How many rows r's ranges take: depths 0..2, at most three rows.
RangeRows range_rows(const RunResult& r);

// Draws the rows at `y` between x0 and x1 (tx maps microseconds to x) and returns the sidecar JSON
// body "\"rows\":R,\"row_h\":H,\"bars\":[[x0,x1,yc,dur,color,depth],...]" (framebuffer scale fs).
// *hovered is set to the range under the mouse, if any.
std::string draw_range_rows(ImDrawList* dl, const RunResult& r, const RangeRows& rows, float y, float x0, float x1,
                            const std::function<float(double)>& tx, float fs, const RangeRecord** hovered);

// One bar of a track's sidecar JSON, as the kernel lanes and the phase rows write it:
// ",[x0,x1,yc,dur_us,color,k(,flag)]" in framebuffer pixels (k: lane or depth; flag, where >= 0:
// 1 for the backward pass's kernel bars; no comma for the first).
std::string bar_json(bool first, float x0, float x1, float yc, double dur_us, ImU32 color, int k, float fs,
                     int flag = -1);

// The range's colour: one per phase name, launches ("repeat 3", "warm-up 0") by their kind.
ImU32 range_color(const RangeRecord& g);

}  // namespace attnscope
