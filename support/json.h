// JSON for tinyodlc: a small reader (RFC 8259 subset sufficient for configuration files:
// objects, arrays, strings with escapes, numbers, true/false/null; used for target descriptions,
// targets/*.json; errors throw ir::CompileError naming the file, line and column) and the one
// writer every report uses (json::Writer below: escaping, commas and indentation done once).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <type_traits>
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

// Writes one JSON document. Containers opened with begin_object()/begin_array() put one member
// per line (indented by 2 per level); with `inline_ = true` they stay on one line
// ({"a": 1, "b": 2} / [1, 2, 3]). Inside an object, name each member with key() (or use the
// field() shorthand); inside an array, just write values. Strings are escaped; non-finite
// doubles are written as null. str() returns the text with a final newline.
//
//   json::Writer w;
//   w.begin_object();
//   w.field("model", name).field("bytes", n);
//   w.key("layers").begin_array();
//   for (...) w.begin_object(true).field("name", l.name).field("insns", l.insns).end_object();
//   w.end_array();
//   w.end_object();
//   write(w.str());
class Writer {
 public:
  Writer& begin_object(bool inline_ = false);
  Writer& end_object();
  Writer& begin_array(bool inline_ = false);
  Writer& end_array();
  Writer& key(const std::string& k);  // the next value's name (objects only)

  Writer& value(const std::string& s);
  Writer& value(const char* s) { return value(std::string(s)); }
  Writer& value(bool b);
  template <typename T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>, int> = 0>
  Writer& value(T v) {
    if constexpr (std::is_signed_v<T>) return integer(static_cast<int64_t>(v));
    else return uinteger(static_cast<uint64_t>(v));
  }
  Writer& value(double v);                 // shortest text that reads back the same double
  Writer& fixed(double v, int decimals);   // e.g. fixed(0.1234, 3) -> 0.123
  Writer& null();
  Writer& raw(const std::string& json);    // an already-rendered JSON value (inserted as is)

  template <typename T> Writer& field(const std::string& k, const T& v) {
    key(k);
    return value(v);
  }

  // The document (all containers must be closed).
  std::string str() const;

 private:
  Writer& integer(int64_t v);
  Writer& uinteger(uint64_t v);
  void before_value();  // comma, newline and indentation as the enclosing container wants
  struct Level {
    bool object, inline_, empty = true;
  };
  void open(char c, bool object, bool inline_);
  void close(char c, bool object);
  std::string out_;
  std::vector<Level> stack_;
  bool have_key_ = false;
};

}  // namespace tinyodlc::json
