// Shared pieces of the CPU implementations: the (batch, head) thread pool and spans.
#pragma once
#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "kernels/implementation.h"

namespace attnscope::cpu {

using Clock = std::chrono::steady_clock;

inline double us_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
}

// Runs fn(b, h, worker) for every (batch, query head) on `threads` workers. Returns false when
// cancelled. Progress is reported as the fraction of (b, h) pairs done.
template <class Fn>
bool for_each_head(const LayerSpec& s, const RunOptions& opt, Fn&& fn) {
  const int total = s.batch * s.heads_q;
  int threads = opt.threads > 0 ? opt.threads : static_cast<int>(std::thread::hardware_concurrency());
  threads = std::max(1, std::min(threads, total));
  std::atomic<int> next{0}, done{0};
  std::atomic<bool> stop{false};
  auto work = [&](int worker) {
    for (;;) {
      if (opt.cancel && opt.cancel->load()) {
        stop = true;
        return;
      }
      int idx = next.fetch_add(1);
      if (idx >= total) return;
      fn(idx / s.heads_q, idx % s.heads_q, worker);
      int d = done.fetch_add(1) + 1;
      if (opt.progress && worker == 0) opt.progress(static_cast<double>(d) / total);
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work, t);
  work(0);
  for (auto& t : pool) t.join();
  if (opt.progress) opt.progress(1.0);
  return !stop;
}

// Offsets into [B, H, N, D] tensors.
inline int64_t at4(int64_t b, int64_t h, int64_t n, int64_t d, int64_t H, int64_t N, int64_t D) {
  return ((b * H + h) * N + n) * D + d;
}

// Is key j visible to query i (structure and an explicit boolean mask)?
inline bool key_visible(const LayerSpec& s, const Inputs& in, int b, int h, int64_t i, int64_t j) {
  if (!s.visible(b, i, j)) return false;
  if (s.mask == MaskKind::ExplicitBool) return in.mask_at(b, h, i, j) != 0.0f;
  return true;
}

// The first key of the KV tiling row i walks: FA2's varlen kernel (and a padded batch) tiles each
// packed sequence from its own first key, so tile t of row i covers [first + t·T, first + (t+1)·T).
inline int64_t tile_origin(const LayerSpec& s, int64_t i) {
  int64_t begin, end;
  s.sequence_of(i, &begin, &end);
  return begin;
}

// Kernel-side rows and columns: one RunResult with out/lse allocated and NaN-poisoned.
RunResult start_result(const std::string& impl, const LayerSpec& s);

}  // namespace attnscope::cpu
