// Textual IR parser (the inverse of ir/printer.h; grammar in docs/ir.md).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "ir/graph.h"

namespace tinyodlc::ir {

// A syntax or semantic error in textual IR. where() is "file:line:column"; line() and
// column() are 1-based; source_line() is the text of the offending line (for a caret display).
class ParseError : public CompileError {
 public:
  ParseError(const std::string& file, int line, int column, const std::string& what, std::string source_line);
  int line() const { return line_; }
  int column() const { return column_; }
  const std::string& source_line() const { return source_line_; }

 private:
  int line_;
  int column_;
  std::string source_line_;
};

// Parses one graph. Nodes are created through Graph::add_node (so OpDefs are resolved), and
// value types are set as written (has_shape = true when a shape is given). Nodes without a
// name(...) clause get a unique name derived from the op. Values may be used before they are
// defined (the parser does not check the schedule; ir::verify does). Throws ParseError.
std::unique_ptr<Graph> parse_graph(std::string_view text, const std::string& filename);

// Reads and parses a file ("-" = stdin). Throws CompileError if it cannot be read.
std::unique_ptr<Graph> parse_graph_file(const std::string& path);

}  // namespace tinyodlc::ir
