// --log FILE: the lines of a training/inference log that explain attention failures, each with the
// library message it matched, its cause and its fix.
#pragma once
#include <string>
#include <vector>

#include "kernels/verdict.h"

namespace attnscope {

struct LogFinding {
  int line = 0;             // 1-based line in the log
  std::string excerpt;      // the log line (trimmed, at most 400 chars)
  std::string code;         // stable id of the recognised message
  Severity severity = Severity::Note;
  std::string message;      // the known library message it matched
  std::string cause;
  std::string fix;
  std::string source;       // library and version the message comes from
};

std::vector<LogFinding> scan_log_text(const std::string& text);
std::string load_log_file(const std::string& path, std::vector<LogFinding>* out, int* lines_read);

}  // namespace attnscope
