// The capture reader (report, diff, export-trace, the GUI): a damaged, truncated or foreign file
// is refused with the file named; a capture it accepts is safe for everything downstream (the
// report, divergence against the reference, exports) and for the stored intermediates; no HDF5
// object is left open either way. A file that crashes or hangs libhdf5 itself is refused by the
// HDF5 check (capture/hdf5_guard.h), whose own walk must never fail.
#include "capture/analysis.h"
#include "capture/export.h"
#include "capture/hdf5_guard.h"
#include "capture/report.h"
#include "capture/store.h"
#include "tests/fuzz/fuzz_input.h"

using namespace attnscope;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::init_hdf5_check();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::MemFile in(data, size);
  const Hdf5Check check = fuzz::require_hdf5_check(in.path());
  Capture cap;
  LoadStatus st = load_capture(in.path(), &cap);
  fuzz::require(check.ok() || st.message == check.message, "the check refused the file (" + check.message +
                                                                "), load_capture said: " + st.message);
  fuzz::require(st.ok() == st.message.empty(), "a load status with ok=" + std::to_string(st.ok()) +
                                                   " and message '" + st.message + "'");
  fuzz::require_names(st.message, in.path());
  fuzz::require_h5_closed();
  if (!st.ok()) return 0;
  report_text(cap, in.path());
  summary_csv(cap);
  trace_json(cap);
  for (const RunResult& r : cap.runs) {
    compare_to_reference(cap, r);
    StoredIntermediates si;
    fuzz::require_names(load_intermediates(in.path(), r.label, &si).message, in.path());
  }
  fuzz::require_h5_closed();
  return 0;
}
