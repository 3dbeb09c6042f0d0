// The one catalogue of library texts: every message attnscope reproduces from flash-attn, PyTorch,
// transformers, verl, vLLM and the hub kernels, keyed by library version range, with how it shows
// in a log and what causes and fixes it. The verdict rules (kernels/rules.cpp), transformers' rules
// (capture/diagnose/hf_rules.cpp) and the log scanner (capture/diagnose/log_scan.cpp) all read it:
// a library text is written here once and nowhere else.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "kernels/verdict.h"

namespace attnscope {

// How a text is recognised in a training/inference log, and what a finding says about it.
struct LogScan {
  const char* pattern = nullptr;  // case-sensitive substring that identifies the line; nullptr: not
                                  // scanned; kTextItself: the text itself, less a final period
  const char* quote = nullptr;    // how a finding quotes the message when logs show it elided or with a
                                  // prefix ("ImportError: ..."); nullptr: the text itself
  const char* cause = nullptr;    // what makes the library say it
  const char* fix = nullptr;      // what to do about it
  const char* source = nullptr;   // the library (and version) a finding names
};

// LogScan::pattern: the text is its own pattern.
extern const char* const kTextItself;

struct LibraryText {
  const char* code = "";     // stable id ("fa2.arch", "hf.fa2.not_installed"); several entries of one code
                             // cover disjoint version ranges
  const char* library = "";  // "flash-attn", "torch", "transformers", "verl", "vllm", "hub-kernel", "attnscope"
  const char* since = "";    // first version covered (inclusive); "" = any earlier
  const char* until = "";    // first version not covered (exclusive); "" = open ended
  Severity severity = Severity::Note;
  const char* text = "";     // the library's own words; {name} placeholders are filled by the caller
  const char* where = "";    // source file / function / PR the text and the range come from
  LogScan log{};             // how it is recognised in logs (log.pattern nullptr: it is not)
};

// Every entry, in log-scanning order (the first entry whose pattern a line holds explains it).
const std::vector<LibraryText>& library_texts();

// The text of the first entry of `code`, placeholders filled from `fill`. A code that is not in the
// catalogue is a programming error: the returned text then names the missing code.
std::string library_text(const std::string& code, const std::map<std::string, std::string>& fill = {});

// Entries of `code` that apply to `version`; every entry of `code` when the version is unknown ("").
std::vector<const LibraryText*> texts_for(const std::string& code, const std::string& version);

// Numeric comparison of dotted versions ("4.57.1", "2.8.0+cu128", "5.0.0.dev0"): <0, 0, >0.
// Local (+...) and pre-release suffixes are ignored; missing parts count as 0.
int compare_versions(const std::string& a, const std::string& b);
bool version_in(const std::string& v, const char* since, const char* until);
// "transformers >=4.55,<5.0" / "flash-attn (all versions)" style label of an entry's range.
std::string version_range(const LibraryText& t);

// {name} placeholders replaced by fill[name]; placeholders without a value are left as they are.
std::string fill_text(const std::string& text, const std::map<std::string, std::string>& fill);

// The pattern and quote a log finding uses for this entry (kTextItself / nullptr resolved).
std::string log_pattern(const LibraryText& t);
std::string log_quote(const LibraryText& t);

}  // namespace attnscope
