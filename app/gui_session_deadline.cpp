#include "app/gui_session_deadline.h"

#include <unistd.h>

#include <cstdio>

namespace attnscope {

SessionDeadline::SessionDeadline(double seconds, double grace_seconds, std::string message, int exit_code)
    : seconds_(seconds),
      end_(std::chrono::steady_clock::now() +
           std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(seconds))) {
  if (!bounded()) return;
  const auto hard_end = end_ + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                   std::chrono::duration<double>(grace_seconds));
  watchdog_ = std::thread([this, hard_end, message = std::move(message), exit_code] {
    std::unique_lock<std::mutex> lock(mu_);
    if (cv_.wait_until(lock, hard_end, [this] { return stop_; })) return;
    std::fprintf(stderr, "%s\n", message.c_str());
    std::fflush(stderr);
    _exit(exit_code);  // the frame loop is stuck: nothing it holds can be cleaned up safely
  });
}

SessionDeadline::~SessionDeadline() {
  if (!watchdog_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  watchdog_.join();
}

}  // namespace attnscope
