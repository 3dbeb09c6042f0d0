// --log FILE: recognise the lines of a training/inference log that explain attention failures. The
// messages, their patterns, causes and fixes are the catalogue's (kernels/library_texts.cpp); this
// file only walks the log and adds what depends on the line itself.
#include "capture/diagnose/log_scan.h"

#include <regex>
#include <sstream>

#include "capture/text_file.h"
#include "kernels/library_texts.h"

namespace attnscope {

namespace {

std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t\r\n");
  if (a == std::string::npos) return "";
  size_t b = s.find_last_not_of(" \t\r\n");
  std::string t = s.substr(a, b - a + 1);
  if (t.size() > 400) t = t.substr(0, 397) + "...";
  return t;
}

// The catalogue entries logs are scanned for, with their patterns, in catalogue order.
const std::vector<std::pair<const LibraryText*, std::string>>& scanned() {
  static const std::vector<std::pair<const LibraryText*, std::string>> s = [] {
    std::vector<std::pair<const LibraryText*, std::string>> v;
    for (const LibraryText& t : library_texts())
      if (t.log.pattern) v.emplace_back(&t, log_pattern(t));
    return v;
  }();
  return s;
}

}  // namespace

std::vector<LogFinding> scan_log_text(const std::string& text) {
  std::vector<LogFinding> out;
  std::istringstream in(text);
  std::string line;
  int n = 0;
  static const std::regex attn_re(R"(attn_implementation=\\?\"([^\"\\]*)\\?\")");
  while (std::getline(in, line)) {
    ++n;
    for (const auto& [entry, pattern] : scanned()) {
      if (line.find(pattern) == std::string::npos) continue;
      const LibraryText& t = *entry;
      std::string code = t.code;
      // vLLM backend lines must say which engine; keep only lines that name one.
      if (code == "vllm.backend" && (line.find("Using ") == std::string::npos ||
                                     line.find("Traceback") != std::string::npos))
        continue;
      // "undefined symbol" only matters for attention binaries.
      if (code == "fa.undefined_symbol" && line.find("flash_attn") == std::string::npos &&
          line.find("vllm") == std::string::npos && line.find("_C.") == std::string::npos)
        continue;
      // "Flash Attention 2 is not available." also prefixes the CPU message: keep the more precise one.
      if (code == "hf.fa2.not_available" && line.find("not available on CPU") != std::string::npos) continue;
      LogFinding f;
      f.line = n;
      f.excerpt = trim(line);
      f.code = code;
      f.severity = t.severity;
      f.message = log_quote(t);
      f.cause = t.log.cause;
      f.fix = t.log.fix;
      f.source = t.log.source ? t.log.source : t.where;
      if (code == "hf.attn.not_registered" && line.find("kernels-community/vllm-flash-attn3") != std::string::npos) {
        f.cause = "GPT-OSS: transformers redirected flash_attention_2/3 (or any name containing \"flash\", file paths "
                  "included) to kernels-community/vllm-flash-attn3, and the `kernels` package that loads it is "
                  "missing; the first attempt in the process raised the `kernels` ImportError at load, a retry in "
                  "the same process loads and ends here";
        f.fix = "pip install kernels (the version range the ImportError names) and start a new process, for "
                "inference on Hopper in bf16; otherwise, and for training, attn_implementation=\"eager\"";
      }
      if (code == "hf.attn.unknown") {
        std::smatch m;
        if (std::regex_search(line, m, attn_re)) {
          std::string v = m[1];
          bool path = !v.empty() && (v[0] == '/' || v[0] == '.' || v[0] == '~' ||
                                     (v.size() > 3 && v.compare(v.size() - 3, 3, ".py") == 0));
          if (path)
            f.cause = "attn_implementation was set to a filesystem path (\"" + v +
                      "\"): transformers accepts only registered names and hub kernels org/repo[@rev][:func]";
        }
      }
      out.push_back(std::move(f));
      break;  // one explanation per line
    }
  }
  return out;
}

std::string load_log_file(const std::string& path, std::vector<LogFinding>* out, int* lines_read) {
  std::string text;  // training logs run long: 1 GiB
  if (std::string e = read_text_file(path, "--log", int64_t{1} << 30, &text); !e.empty()) return e;
  size_t probe = std::min<size_t>(text.size(), 4096);
  size_t zeros = 0;
  for (size_t i = 0; i < probe; ++i) zeros += text[i] == '\0';
  if (zeros > 0) return path + ": not a text log (binary data: NUL bytes in the first 4 KiB)";
  *out = scan_log_text(text);
  if (lines_read) {
    int n = 0;
    for (char c : text) n += c == '\n';
    if (!text.empty() && text.back() != '\n') ++n;
    *lines_read = n;
  }
  return "";
}

}  // namespace attnscope
