// Divergence between runs and against the fp64 reference, and the contract's acceptance rule.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "capture.h"

namespace attnscope {

struct Location {          // a position in an output [B, H, Nq, Dv]
  bool found = false;
  int b = 0, h = 0;
  int64_t row = 0, col = 0;
  bool nan = false;        // NaN (else Inf) for first_nan
};

struct HeadError {
  int b = 0, h = 0;
  double max_abs = 0, mean_abs = 0, rel_fro = 0;
};

struct RowError {
  int b = 0, h = 0;
  int64_t row = 0;
  double max_abs = 0;
};

struct Divergence {
  std::string a, b;                 // labels; "reference" is the fp64 reference
  bool comparable = false;
  std::string why_not;              // when not comparable (a run without output, shape mismatch)
  double max_abs = 0, mean_abs = 0, rel_fro = 0, cosine = 0;
  Location worst;                   // where max_abs is
  int64_t rows_compared = 0;        // rows with at least one visible key
  int64_t rows_unattended = 0;      // rows with no visible key (excluded; conventions differ)
  // ULP distance in the output dtype: bucket k counts distances in [2^(k-1), 2^k), bucket 0 = 0.
  std::vector<int64_t> ulp_hist;
  double ulp_within_1 = 0, ulp_within_2 = 0;   // fraction of elements
  // |a-b| histogram over log10 bins [-10, 1] step 0.5 plus a zero bin at index 0.
  std::vector<int64_t> abs_hist;
  std::vector<HeadError> per_head;  // B*H entries
  std::vector<float> per_row_max;   // [B, H, Nq]
  std::vector<RowError> worst_rows; // largest 32
  bool lse_compared = false;
  double lse_max_abs = 0, lse_max_rel = 0;
  bool p_compared = false;          // argmax/top-k agreement of P rows (from S/P or LSE)
  double p_argmax_agree = 0, p_top5_agree = 0;
  Location first_nan_a, first_nan_b;
};

struct Acceptance {
  bool applicable = false;          // false for the reference and runs without an output
  bool pass = false;
  double err = 0;                   // max |out - fp64| (fp32: relative Frobenius)
  double baseline = 0;              // eager with fp32 softmax, same dtype, vs fp64
  double bound = 0;                 // 2 * baseline + 1e-5 (fp32: 1e-5)
  std::string rule;                 // the rule in words
  std::string text;                 // "passes: 3.1e-3 <= 2 x 1.9e-3 + 1e-5"
};

Divergence compare(const Capture& cap, const RunResult& a, const RunResult& b);
Divergence compare_to_reference(const Capture& cap, const RunResult& r);
// Baseline for the rule: the error of CPU eager with fp32 softmax on the capture's inputs
// (computed once and cached in the capture's acceptance_baseline field by the session).
Acceptance acceptance(const Capture& cap, const RunResult& r);
// The same from r's divergence against the reference when the caller has it already.
Acceptance acceptance(const Capture& cap, const RunResult& r, const Divergence& vs_reference);

// Gradients (--backward), one tensor at a time: "dq", "dk", "dv", "dsinks" (kGradientTensors).
// dq leaves out the rows with no visible key, as the output does; dk/dv compare every key row
// (their per-row tables are per key); dsinks [Hq] is viewed as [1, Hq, 1, 1], one row per head.
Divergence compare_gradient(const Capture& cap, const RunResult& a, const RunResult& b, const std::string& tensor);
// FA2's rule per gradient tensor (kernels/acceptance.h) against cap.gradient_baseline.
Acceptance gradient_acceptance(const Capture& cap, const RunResult& r, const std::string& tensor,
                               const Divergence& vs_reference);
// The same for the output: eager's max abs error against the reference over the rows that see a key
// (the rows without one follow conventions that differ between libraries).
double output_baseline_of(const LayerSpec& spec, const Inputs& in, const Tensor& eager, const Tensor& reference);


}  // namespace attnscope
