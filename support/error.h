// The compiler's error type, shared by every layer (support/ is the bottom layer, so the JSON
// reader and the other utilities can throw it too).
#pragma once

#include <cstdio>
#include <stdexcept>
#include <string>

namespace tinyodlc {

// All compiler errors. `where` names the offending node or tensor, for messages of the form
// "node 'conv1' (Conv): <what>".
// Names in messages come from the model file: control characters and NUL bytes in them are
// shown escaped (\xNN), so a message is never cut short or able to move the terminal cursor.
inline std::string printable(const std::string& s);

class CompileError : public std::runtime_error {
 public:
  CompileError(const std::string& where, const std::string& what)
      : std::runtime_error(printable(where.empty() ? what : where + ": " + what)),
        where_(printable(where)),
        what_(printable(what)) {}
  const std::string& where() const { return where_; }
  const std::string& message() const { return what_; }

 private:
  std::string where_;
  std::string what_;
};

inline std::string printable(const std::string& s) {
  std::string r;
  r.reserve(s.size());
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      r += buf;
    } else {
      r += ch;
    }
  }
  return r;
}

namespace ir {
using tinyodlc::CompileError;  // historical spelling, used throughout ir/, passes/ and backends/
}

}  // namespace tinyodlc
