// The cost of an outside run: scripts/attnscope_dump.py --time runs the recorded attention function
// again on the recorded inputs and writes what it measured into the tensor file's safetensors
// metadata under "attnscope_timing" (JSON), beside the tensors it belongs to:
//
//   {"format": "attnscope-outside-timing", "version": 1,
//    "producer": "attnscope_dump.py", "function": "<attn_implementation>", "device": "NVIDIA H200",
//    "environment": {"torch": "2.11.0", "cuda": "13.0", "triton": "3.6.0", ...},   (strings)
//    "warmup": 2, "repeats": 10, "l2_flush_bytes": 100663296,
//    "times_ms": [...]            CUDA events around each repeat, no profiler      -> times_untraced_ms
//    "profiled_times_ms": [...]   the same under torch.profiler (CUPTI)             -> times_ms
//    "peak_bytes": 123,           max_memory_allocated over one call, beyond what was allocated before
//    "kernels": [{"name", "start_us", "dur_us", "grid": [x, y, z], "block": [x, y, z],
//                 "registers", "shared_memory" (static + dynamic, as torch.profiler reports it) or
//                 "shared_static" + "shared_dynamic", "stream", "correlation", "repeat"}],
//    "ranges": [{"name", "start_us", "dur_us", "depth"}]}    profiler annotations (phase, repeat)
//
// Kernel and range times are microseconds on one axis whose zero is the first profiled warm-up
// call, as attnscope's own GPU runs; repeat -1 is a warm-up call.
#pragma once
#include <string>

#include "kernels/result.h"

namespace attnscope {

// The metadata key of the record in the dump's .safetensors file.
inline constexpr const char* kOutsideTimingKey = "attnscope_timing";

// Parses `json_text` (the metadata value read from `file`) into r's times, untraced times,
// kernels, ranges and peak, with a note naming how it was measured. "" or one line naming the
// file, the field ("attnscope_timing.kernels[3].grid") and the problem.
std::string apply_outside_timing(const std::string& file, const std::string& json_text, RunResult* r);

}  // namespace attnscope
