// A small JSON reader (RFC 8259 subset sufficient for configuration files: objects, arrays,
// strings with escapes, numbers, true/false/null). Used for target descriptions
// (targets/*.json). Errors throw ir::CompileError naming the file, line and column.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace tinyodlc::json {

struct Value {
  enum class Kind { Null, Bool, Number, String, Array, Object };
  Kind kind = Kind::Null;
  bool b = false;
  double num = 0;
  std::string str;                                      // String; also the number's source text
  std::vector<Value> arr;                               // Array
  std::vector<std::pair<std::string, Value>> obj;       // Object, in file order
  int line = 0, col = 0;                                // where the value starts

  bool is_object() const { return kind == Kind::Object; }
  const Value* find(const std::string& key) const;  // nullptr if absent (objects only)
};

// Parses `text`; `source` names it in error messages ("targets/foo.json").
Value parse(const std::string& text, const std::string& source);

// JSON string literal for `s` (with quotes and escapes).
std::string quote(const std::string& s);

}  // namespace tinyodlc::json
