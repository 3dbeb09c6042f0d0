// The time bound of a scripted GUI session (`--frames`, `--screenshot`): such a session must end
// by itself. The frame loop asks expired() once a frame and leaves with a message naming what it
// still waited for; a watchdog thread ends the process `grace` seconds later should the loop
// itself be stuck (a frame that never returns, a worker that does not join at exit).
#pragma once
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

namespace attnscope {

class SessionDeadline {
 public:
  // seconds <= 0: unbounded (an interactive session). On the watchdog's expiry `message` goes to
  // stderr and the process exits with `exit_code` (no destructors run: the loop is stuck).
  SessionDeadline(double seconds, double grace_seconds, std::string message, int exit_code);
  ~SessionDeadline();
  SessionDeadline(const SessionDeadline&) = delete;
  SessionDeadline& operator=(const SessionDeadline&) = delete;

  bool bounded() const { return seconds_ > 0; }
  bool expired() const { return bounded() && std::chrono::steady_clock::now() >= end_; }
  double seconds() const { return seconds_; }

 private:
  double seconds_;
  std::chrono::steady_clock::time_point end_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread watchdog_;
};

}  // namespace attnscope
