// Catalogue entries as diagnose reasons, each naming the version range it reproduces.
#include "capture/diagnose/messages.h"

namespace attnscope {

int add_message(Verdict* v, const std::string& code, const std::string& version,
                const std::map<std::string, std::string>& fill) {
  int n = 0;
  for (const LibraryText* m : texts_for(code, version)) {
    std::string src = version_range(*m);
    if (!version.empty()) src += " [installed " + version + "]";
    else if (std::string(m->library) != "attnscope" && (*m->since || *m->until))
      src += " [version unknown: pass --env]";
    src += std::string(" (") + m->where + ")";
    v->add(m->severity, code, fill_text(m->text ? m->text : "", fill), src);
    ++n;
  }
  return n;
}

}  // namespace attnscope
