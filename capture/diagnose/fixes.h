// The fixes diagnose proposes, cheapest first: config lines for transformers, verl and pip.
#pragma once
#include <string>
#include <vector>

#include "capture/diagnose/model_info.h"
#include "kernels/layer_spec.h"

namespace attnscope {

struct DiagnoseReport;

struct Fix {
  int rank = 0;             // 1 = cheapest
  std::string where;        // "verl", "transformers", "pip", "config"
  std::string line;         // exactly what to type / add
  std::string why;
  std::string cost;         // what it costs (speed, memory, accuracy)
};

// Ranks the fixes for everything the report found (its verdicts, verl roles and device).
std::vector<Fix> rank_fixes(const DiagnoseReport& r);

// The fallback transformers name for this model: sdpa where the class supports it, else eager.
// Softcapping models (Gemma 2) lose the cap silently in SDPA: eager there too.
std::string fallback_name(const ModelInfo& m, const LayerSpec& s);

}  // namespace attnscope
