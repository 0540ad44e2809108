#include "support/identifiers.h"

#include <algorithm>
#include <iterator>
#include <cctype>

namespace tinyodlc {

namespace {
// C++20 keywords (a superset of C++17's), the alternative tokens, and three names that are not
// keywords but break the generated code as a namespace name all the same.
constexpr std::string_view kKeywords[] = {
    "alignas", "alignof", "and", "and_eq", "asm", "auto", "bitand", "bitor", "bool", "break", "case", "catch",
    "char", "char16_t", "char32_t", "char8_t", "class", "co_await", "co_return", "co_yield", "compl", "concept",
    "const", "const_cast", "consteval", "constexpr", "constinit", "continue", "decltype", "default", "delete",
    "do", "double", "dynamic_cast", "else", "enum", "explicit", "export", "extern", "false", "float", "for",
    "friend", "goto", "if", "inline", "int", "long", "mutable", "namespace", "new", "noexcept", "not", "not_eq",
    "nullptr", "operator", "or", "or_eq", "private", "protected", "public", "register", "reinterpret_cast",
    "requires", "return", "short", "signed", "sizeof", "static", "static_assert", "static_cast", "struct",
    "switch", "template", "this", "thread_local", "throw", "true", "try", "typedef", "typeid", "typename",
    "union", "unsigned", "using", "virtual", "void", "volatile", "wchar_t", "while", "xor", "xor_eq",
    "main", "NULL", "assert"};
}  // namespace

bool is_cpp_keyword(std::string_view s) {
  return std::find(std::begin(kKeywords), std::end(kKeywords), s) != std::end(kKeywords);
}

std::string identifier_problem(std::string_view s) {
  if (s.empty()) return "it is empty";
  if (std::isdigit(static_cast<unsigned char>(s[0]))) return "it starts with a digit";
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return "it is not a C++ identifier ([A-Za-z_][A-Za-z0-9_]*)";
  if (is_cpp_keyword(s)) return "it is a C++ keyword or a reserved name";
  if (s.find("__") != std::string_view::npos || (s.size() > 1 && s[0] == '_' && std::isupper(static_cast<unsigned char>(s[1]))))
    return "it is reserved to the C++ implementation (contains '__' or starts with '_' and a capital)";
  if (s == "tinyodlc" || s == "std") return "the generated code uses that namespace itself";
  return "";
}

}  // namespace tinyodlc
