// One row of the diagnose report: what an implementation (attnscope's kernels, or a transformers
// attn_implementation name) does with the model's layers, and the kernel rows themselves.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "capture/diagnose/model_info.h"
#include "kernels/device.h"
#include "kernels/layer_spec.h"
#include "kernels/verdict.h"

namespace attnscope {

// What from_pretrained and the first forward do with one attn_implementation, as a test can check
// it against a recorded run (tests/capture/diagnose/ground_truth_test.cpp). Set for every name when --env gives
// transformers 4.36-4.53 (read in 4.51.3's source) or >= 5.3 (the era boundary is approximate; verified on
// 5.17.0), for a model type the release does not know, and for eager/sdpa with any known version; stage ""
// otherwise (4.54-5.2's load/forward split is not modelled name by name, and a release outside 4.36-5.x is
// not known at all).
struct HfOutcome {
  std::string stage;         // "runs" | "load" (from_pretrained raises) | "forward" (the first forward raises) | ""
  std::string exception;     // Python exception type ("ImportError", "ValueError", "KeyError", ...); "" if unknown
  std::string code;          // code of the reason whose text is the exception's message
  bool prefix_only = false;  // that text is the message's stable prefix (the rest embeds shapes, paths, versions)
  std::string resolved;      // config._attn_implementation after a load that succeeds
  std::string lazy_kernel;   // name transformers' lazy_import_flash_attention caches process-wide ("" = none)
};

struct ImplVerdict {
  std::string name;         // "flash2", "flash_attention_2", "kernels-community/vllm-flash-attn3", ...
  std::string level;        // "kernel" (attnscope's implementations) or "transformers" (HF names)
  std::string outcome;      // one line: what happens ("refused", "runs; sinks silently dropped", ...)
  std::string runs_as;      // the kernel that really runs ("flash_attn 2 varlen", "sdpa:efficient", ...)
  std::string sdpa_backend; // sdpa: backend the dispatcher would pick
  Verdict verdict;
  bool known = true;        // false: attnscope has no rules for the installed release ("not known for ...")
  HfOutcome predicted;      // transformers names: load / first forward, as a fresh Python process sees it
  // The same from_pretrained again in a process that already tried it (a notebook cell re-run, a test
  // loop): transformers caches the kernel name before importing it, so a second try can differ.
  std::optional<HfOutcome> retried;
};


// attnscope's four implementations on every layer type of `model` (or `spec` alone).
std::vector<ImplVerdict> kernel_verdicts(const LayerSpec& spec, const DeviceInfo& dev,
                                         const ModelInfo* model);

// One verdict for several layer types: a reason every type shares is said once, the others
// name their layer type ("... [sliding_attention layers]").
Verdict merge_layer_verdicts(const std::vector<Verdict>& per_type, const std::vector<std::string>& types);

}  // namespace attnscope
