// Text and JSON renderings of a DiagnoseReport (the GUI draws the struct itself).
#pragma once
#include <string>

#include "capture/diagnose/diagnose.h"

namespace attnscope {

// Human-readable report: summary, device, verdict tables with every reason tagged
// [error|warning|silent|note] and its library version, verl roles, log findings, fixes, memory, runs.
std::string render_diagnose_text(const DiagnoseReport& r);
// The same content as JSON (stable keys; "format": "attnscope-diagnose", "version": 1).
std::string render_diagnose_json(const DiagnoseReport& r);

}  // namespace attnscope
