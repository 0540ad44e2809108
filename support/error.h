// The compiler's error type, shared by every layer (support/ is the bottom layer, so the JSON
// reader and the other utilities can throw it too).
#pragma once

#include <stdexcept>
#include <string>

namespace tinyodlc {

// All compiler errors. `where` names the offending node or tensor, for messages of the form
// "node 'conv1' (Conv): <what>".
class CompileError : public std::runtime_error {
 public:
  CompileError(std::string where, const std::string& what)
      : std::runtime_error(where.empty() ? what : where + ": " + what), where_(std::move(where)), what_(what) {}
  const std::string& where() const { return where_; }
  const std::string& message() const { return what_; }

 private:
  std::string where_;
  std::string what_;
};

namespace ir {
using tinyodlc::CompileError;  // historical spelling, used throughout ir/, passes/ and backends/
}

}  // namespace tinyodlc
