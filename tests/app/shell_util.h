// Running the attnscope binary from a test: the shell command's exit code and output.
#pragma once
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

namespace attnscope::app_test {

struct Shell {
  int code;
  std::string out;  // stdout and stderr
};

// stdout and stderr together, or stdout alone (for JSON) with merge = false.
inline Shell sh(const std::string& cmd, bool merge = true) {
  std::string full = cmd + (merge ? " 2>&1" : " 2>/dev/null");
  FILE* p = popen(full.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  int st = pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

}  // namespace attnscope::app_test
