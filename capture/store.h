// Capture <-> HDF5 file: the only code that knows the layout (README "Capture file").
//
// format_version: the writer always writes Capture::kFormatVersion; the reader reads every version
// from Capture::kOldestReadable on (what an older file lacks stays empty) and refuses others
// with UnsupportedVersion. Bump kFormatVersion when a file gains something an older reader would
// silently miss or misread, list the addition as "[N]" in store.cpp's layout, and keep reading
// the older versions (tests/fixtures holds captures of each).
#pragma once
#include <string>

#include "capture.h"

namespace attnscope {

struct StoreOptions {
  int64_t intermediate_budget = 256ll << 20;  // bytes of S/P kept whole; beyond it rows + overview
  bool store_inputs = true;
};

// Writes to "<path>.tmp-<pid>-XXXXXX", syncs it and renames it into place: a writer killed at any
// point leaves the previous file at `path` as it was (and a temporary the next save removes).
// Returns "" or the error.
std::string save_capture(const Capture& cap, const std::string& path, const StoreOptions& opt = {});

enum class LoadError { None, NotFound, NotHdf5, UnsupportedVersion, Malformed };
struct LoadStatus {
  LoadError code = LoadError::None;
  std::string message;  // names the file, the object and the problem
  bool ok() const { return code == LoadError::None; }
};
LoadStatus load_capture(const std::string& path, Capture* cap);

// S and P of one run as the file holds them. load_capture fills RunResult::scores/probs only
// when they were stored whole; over the budget the file holds chosen query rows of every head
// plus a max-pooled overview of every head, read here (the GUI shows which it has).
struct StoredIntermediates {
  std::string storage;           // "whole", "rows" or "none"
  Tensor scores, probs;          // whole: [B, Hq, Nq, Nk]; rows: [B, Hq, R, Nk]
  std::vector<int64_t> rows;     // rows: the query rows kept (R of them)
  std::string rows_source;       // rows: "probe" (the probe's rows) or "first"
  Tensor scores_overview, probs_overview;  // rows: fp32 [B, Hq, ceil(Nq/pool_q), ceil(Nk/pool_k)]
  int64_t pool_q = 1, pool_k = 1;          // max-pooling factors of the overview
};
// `label` is a run label, or "reference".
LoadStatus load_intermediates(const std::string& path, const std::string& label, StoredIntermediates* out);

}  // namespace attnscope
