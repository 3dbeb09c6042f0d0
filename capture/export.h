// Export of captures: Chrome trace event JSON (Perfetto UI, chrome://tracing) and a per-run
// summary as JSON or CSV.
#pragma once
#include <string>
#include <vector>

#include "capture.h"

namespace attnscope {

// Chrome trace: {"traceEvents": [...], "displayTimeUnit": "ms"}. One process per capture (pid 1,
// 2, ...), one thread (track) per run holding its GPU kernels ("X", args named as PyTorch's
// profiler names them: grid, block, registers per thread, shared memory, stream, correlation);
// a run's host spans share its track when it has no kernels, else sit on a second track
// "<label> (host)"; allocations are "C" counter events "<label> memory" (bytes in use);
// "M" events name processes and threads; a run's NVTX ranges (or an outside run's profiler
// annotations) are "X" events with cat "nvtx" on a track "<label> NVTX" above its kernels.
// ts/dur in microseconds on the runs' own axes, the capture shifted so that nothing is negative.
// A run's backward pass (--backward) shares its tracks: its kernels and spans carry args.pass =
// "backward" and cat "kernel,backward" / "host,backward"; its allocations are the counter
// "<label> backward memory".
struct TraceOptions {
  bool spans = true;      // host-timed phases
  bool kernels = true;    // CUPTI kernel records
  bool memory = true;     // counter events from the allocation timeline
  bool warmup = false;    // include kernels of warm-up repeats (repeat -1)
  bool ranges = true;     // NVTX ranges / profiler annotations (implementation, phase, launch)
  bool reference = true;  // a track for the fp64 reference when it has spans
};
std::string trace_json(const std::vector<const Capture*>& caps, const TraceOptions& opt = {});
std::string trace_json(const Capture& cap, const TraceOptions& opt = {});

// Per run: label, impl, backend, device, ran, error, verdict (supported + reasons), median_ms,
// times, peak_bytes, model_bytes, max abs / relative Frobenius error vs the fp64 reference
// (compare_to_reference), the acceptance rule's verdict, what-if drops, sdpa backend.
std::string summary_json(const Capture& cap);
// One header line, then one line per run (RFC 4180 quoting):
// label,impl,backend,ran,supported,verdict,median_ms,peak_bytes,model_bytes,max_abs_err,rel_fro_err,acceptance,error
std::string summary_csv(const Capture& cap);

// Writes `text` to `path` through a temporary file renamed into place. "" or "PATH: problem".
std::string write_text_file(const std::string& path, const std::string& text);

}  // namespace attnscope
