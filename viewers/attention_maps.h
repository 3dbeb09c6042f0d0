// The attention maps the GUI shows, built on the CPU from a capture (no GL, unit-testable):
// eager's materialised P, fused kernels' P rebuilt from their LSE (capture/scores.h: exp(S - lse)
// with S recomputed from the capture's inputs, "reconstructed"), the fp64 reference's P, and the
// P tiles a probe recorded inside a fused kernel.
#pragma once
#include <string>
#include <vector>

#include "capture/capture.h"

namespace attnscope {

struct AttentionMap {
  std::string label;   // run label
  std::string note;    // "materialised", "reconstructed from LSE", "probe rows 0-63", "fp64 reference"
  bool ok = false;
  std::string why_not; // when !ok: no LSE, no inputs, head out of range ...
  int rows = 0, cols = 0;
  int row_begin = 0;   // first query row of `data` (probe maps cover a row range)
  std::vector<float> data;  // [rows, cols]
};

// Eager's P when materialised (and shaped [B, H, Nq, Nk]), else reconstructed from the run's LSE.
AttentionMap attention_map(const Capture& cap, const RunResult& r, int b, int h);
// The reference's P = exp(S_fp64 - lse_ref).
AttentionMap reference_map(const Capture& cap, int b, int h);
// A probe's P tiles as the kernel used them (unnormalised, exp(s - m_t)) when `normalise` is
// false, else rescaled to probabilities with the final running max and sum:
// p * exp(m_t - m_last) / (l_last + exp(sink - m_last)).
AttentionMap probe_map(const Capture& cap, const RunResult& r, bool normalise);

}  // namespace attnscope
