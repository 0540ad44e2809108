// The kernel headers (kernels/tinyodlc/..., embedded in the compiler) a generated model needs:
// the ones its calls name and everything they include, nothing else. Also reads a kernel's
// parameter names from its header, so that literal arguments and parameter arrays in the
// generated code can be named after what they mean (`/*stride_h=*/2`, `conv1_pads`).
#include <cctype>
#include <map>

#include "backends/emitter_state.h"
#include "support/embedded.h"

namespace tinyodlc::backends::detail {

namespace {

constexpr std::string_view kKernelRoot = "kernels/";

std::string_view header_text(const std::string& include) {
  std::string path = std::string(kKernelRoot) + include;
  for (const auto& f : embedded_files())
    if (f.path == path) return f.data;
  return {};
}

// The "tinyodlc/..." headers `text` includes.
std::vector<std::string> includes_of(std::string_view text) {
  std::vector<std::string> r;
  size_t pos = 0;
  while ((pos = text.find("#include \"tinyodlc/", pos)) != std::string_view::npos) {
    const size_t open = pos + 9, close = text.find('"', open + 1);
    if (close == std::string_view::npos) break;
    r.emplace_back(text.substr(open + 1, close - open - 1));
    pos = close;
  }
  return r;
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

// The identifier a parameter declaration ends with ("const int32_t* pads" -> "pads").
std::string declared_name(std::string decl) {
  const size_t eq = decl.find('=');
  if (eq != std::string::npos) decl = decl.substr(0, eq);
  decl = trim(decl);
  size_t i = decl.size();
  while (i > 0 && (std::isalnum(static_cast<unsigned char>(decl[i - 1])) || decl[i - 1] == '_')) --i;
  std::string name = decl.substr(i);
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0])) || i == 0) return "";
  return name;
}

// The parameter names of the definition of `fn` in `text` with `arity` parameters.
std::vector<std::string> find_params(std::string_view text, const std::string& fn, size_t arity) {
  const std::string needle = " " + fn + "(";
  for (size_t pos = text.find(needle); pos != std::string_view::npos; pos = text.find(needle, pos + 1)) {
    size_t i = pos + needle.size();
    int depth = 1;
    std::vector<std::string> decls(1);
    for (; i < text.size() && depth > 0; ++i) {
      const char c = text[i];
      if (c == '(' || c == '<' || c == '[') ++depth;
      if (c == ')' || c == '>' || c == ']') --depth;
      if (depth == 0) break;
      if (c == ',' && depth == 1) decls.emplace_back();
      else decls.back() += c;
    }
    if (depth != 0 || decls.size() != arity) continue;
    // A definition or declaration: the next non-space character is '{' or ';'.
    size_t j = i + 1;
    while (j < text.size() && std::isspace(static_cast<unsigned char>(text[j]))) ++j;
    if (j >= text.size() || (text[j] != '{' && text[j] != ';')) continue;
    std::vector<std::string> names;
    for (const auto& d : decls) names.push_back(declared_name(d));
    bool ok = true;
    for (const auto& n : names) ok = ok && !n.empty();
    if (ok) return names;
  }
  return {};
}

}  // namespace

std::vector<GeneratedFile> kernel_headers(const std::set<std::string>& used) {
  std::set<std::string> all;
  std::vector<std::string> todo(used.begin(), used.end());
  while (!todo.empty()) {
    std::string h = todo.back();
    todo.pop_back();
    if (!all.insert(h).second) continue;
    std::string_view text = header_text(h);
    if (text.data() == nullptr) throw std::logic_error("no embedded kernel header " + h);
    for (auto& inc : includes_of(text)) todo.push_back(inc);
  }
  std::vector<GeneratedFile> r;
  for (const auto& h : all) r.push_back({h, std::string(header_text(h))});
  return r;
}

std::vector<std::string> kernel_param_names(const ir::KernelCall& c) {
  static std::map<std::pair<std::string, size_t>, std::vector<std::string>> cache;
  std::string fn = c.callee.substr(0, c.callee.find('<'));
  if (fn.rfind("::") != std::string::npos) fn = fn.substr(fn.rfind("::") + 2);
  auto key = std::make_pair(c.header + ":" + fn, c.args.size());
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  std::vector<std::string> names;
  if (!c.header.empty() && !fn.empty()) names = find_params(header_text(c.header), fn, c.args.size());
  cache[key] = names;
  return names;
}

}  // namespace tinyodlc::backends::detail
