// The fp64 reference's row (one softmax over the visible keys, sinks included), shared by its
// forward, its backward and the finite-difference test of that backward.
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/cpu/cpu_common.h"

namespace attnscope::cpu {

struct ReferenceRow {
  std::vector<uint8_t> vis;     // [Nk] key j visible (masks, windows, an additive -inf)
  std::vector<double> p;        // [Nk] softmax probabilities (0 where not visible)
  std::vector<double> tanh_out; // [Nk] softcap only: tanh(S / c) per visible key
  double p_sink = 0;            // the sink's share of the row (sinks only)
  double lse = 0;               // -inf for a row with neither a visible key nor a sink
  bool any = false;             // at least one visible key
};

void reference_row(const LayerSpec& s, const Inputs& in, int b, int h, int64_t i, ReferenceRow* r);

// The reference output in fp64 [B, Hq, Nq, Dv] (single-threaded; tests and small layers).
std::vector<double> reference_output_f64(const LayerSpec& s, const Inputs& in);

}  // namespace attnscope::cpu
