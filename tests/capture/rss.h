// Resident memory of a process, from /proc/PID/statm (the load tests' measure of "steady").
#pragma once
#include <sys/types.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <string>

namespace attnscope::test {

inline int64_t rss_bytes(pid_t pid = 0) {
  std::ifstream f(pid ? "/proc/" + std::to_string(pid) + "/statm" : std::string("/proc/self/statm"));
  int64_t pages = 0, resident = 0;
  f >> pages >> resident;
  return resident * static_cast<int64_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace attnscope::test
