// C++ identifiers for generated code: the model's namespace and file stem (--name, or the
// model file's stem) must be an identifier that compiles.
#pragma once

#include <string>
#include <string_view>

namespace tinyodlc {

// True for C++17/20 keywords and alternative tokens (`int`, `class`, `default`, `and`, ...).
bool is_cpp_keyword(std::string_view s);

// Why `s` cannot name the generated namespace, or "" if it can: empty, not [A-Za-z_][A-Za-z0-9_]*,
// a keyword, a reserved name (`_X...`, containing `__`), or a namespace the generated code
// itself uses (`tinyodlc`, `std`).
std::string identifier_problem(std::string_view s);

}  // namespace tinyodlc
