// Diagnose's layer over the catalogue of library texts (kernels/library_texts.h): a catalogue entry
// becomes a Reason whose source names the library's version range and the version installed.
#pragma once
#include <map>
#include <string>

#include "kernels/library_texts.h"
#include "kernels/verdict.h"

namespace attnscope {

// Adds one Reason per catalogue entry of `code` that applies to `version` (every entry when the
// version is unknown), placeholders filled from `fill`. The reason's source reads
// "transformers >=4.55,<5.0 [installed 4.57.1] (modeling_utils.py ...)" or, with the version unknown,
// "transformers >=5.3 [version unknown: pass --env] (...)". Returns how many were added.
int add_message(Verdict* v, const std::string& code, const std::string& version,
                const std::map<std::string, std::string>& fill = {});

}  // namespace attnscope
