#include "support/template_engine.h"

#include <stdexcept>

#include "support/embedded.h"

namespace tinyodlc {

std::string render_template(std::string_view name, std::string_view text,
                            const std::map<std::string, std::string>& vars) {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (true) {
    size_t open = text.find("{{", pos);
    if (open == std::string_view::npos) {
      out.append(text.substr(pos));
      break;
    }
    size_t close = text.find("}}", open + 2);
    if (close == std::string_view::npos)
      throw std::logic_error("template " + std::string(name) + ": unterminated {{");
    out.append(text.substr(pos, open - pos));
    std::string key(text.substr(open + 2, close - open - 2));
    auto it = vars.find(key);
    if (it == vars.end()) throw std::logic_error("template " + std::string(name) + ": no value for {{" + key + "}}");
    out += it->second;
    pos = close + 2;
  }
  return out;
}

std::string render_embedded(const std::string& name, const std::map<std::string, std::string>& vars) {
  return render_template(name, embedded_file(name), vars);
}

}  // namespace tinyodlc
