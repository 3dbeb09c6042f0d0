// The one table of library messages diagnose reproduces, keyed by library version ranges.
// Texts are the libraries' own wording where they have one (verified against their sources; the
// `where` field says where), so a user can grep their log for them.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "kernels/verdict.h"

namespace attnscope {

struct Message {
  const char* code;      // stable id ("hf.fa2.not_installed")
  const char* library;   // "transformers", "flash-attn", "torch", "verl", "vllm", "hub-kernel", "attnscope"
  const char* since;     // first version covered (inclusive); "" = any earlier
  const char* until;     // first version not covered (exclusive); "" = open ended
  Severity severity;
  const char* text;      // the library's text; {name} placeholders filled by add_message
  const char* where;     // source file / function / PR the text and the range come from
};

const std::vector<Message>& message_table();

// Numeric comparison of dotted versions ("4.57.1", "2.8.0+cu128", "5.0.0.dev0"): <0, 0, >0.
// Local (+...) and pre-release suffixes are ignored; missing parts count as 0.
int compare_versions(const std::string& a, const std::string& b);
bool version_in(const std::string& v, const char* since, const char* until);
// "transformers >=4.55,<5.0" / "flash-attn 2.x" style label of an entry's range.
std::string version_range(const Message& m);

// Entries of `code` that apply to `version`; every entry of `code` when the version is unknown ("").
std::vector<const Message*> messages_for(const std::string& code, const std::string& version);
const Message* message_by_code(const std::string& code);  // first entry, nullptr if none

// Adds one Reason per applicable entry, placeholders filled from `fill`. The reason's source reads
// "transformers >=4.55,<5.0 [installed 4.57.1] (modeling_utils.py ...)" or, with the version unknown,
// "transformers >=5.3 [version unknown: pass --env] (...)". Returns how many were added.
int add_message(Verdict* v, const std::string& code, const std::string& version,
                const std::map<std::string, std::string>& fill = {});
std::string fill_text(const std::string& text, const std::map<std::string, std::string>& fill);

}  // namespace attnscope
