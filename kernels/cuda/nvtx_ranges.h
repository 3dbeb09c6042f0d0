// NVTX ranges of the measurement harness in an `attnscope` domain, named by registered strings,
// one NVTX category per level: implementation ("sink") > phase ("upload", "warm-up", "timed
// repeats", "untraced repeats", "download", "probe") > one launch ("warm-up 0", "repeat 3").
// Nsight Systems shows them as they are; inside attnscope they reach the capture through CUPTI's
// NVTX injection (MARKER activity records, decoded in cupti_records.cpp).
#pragma once
#include <string>

namespace attnscope::cuda {

// The domain's name: CUPTI's marker records carry it; everything else in the process is ignored.
inline constexpr const char* kNvtxDomain = "attnscope";

enum class NvtxLevel { Implementation = 1, Phase = 2, Launch = 3 };  // the NVTX category ids

// Once, before the first NVTX call of the plugin: points NVTX_INJECTION64_PATH at the libcupti
// this plugin is linked with unless a tool already set it (Nsight Systems sets its own: then the
// ranges go there and not into the capture), creates the domain (which loads the injection) and
// restores the environment so child processes are not injected. Returns where the ranges go, for
// the environment ("CUPTI (libcupti.so.13) into the capture", "another tool: PATH", ...).
const std::string& nvtx_setup();
// True when the ranges reach CUPTI, so an empty set of marker records is worth a warning.
bool nvtx_to_cupti();

// Pushes a range in the attnscope domain for its lifetime. Strings are registered once each.
class NvtxRange {
 public:
  NvtxRange(NvtxLevel level, const std::string& name);
  ~NvtxRange();
  NvtxRange(const NvtxRange&) = delete;
  NvtxRange& operator=(const NvtxRange&) = delete;
};

}  // namespace attnscope::cuda
