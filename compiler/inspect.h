// `tinyodlc inspect`: per-node table of ops, shapes, parameters and MACs.
#pragma once

#include <iosfwd>

#include "compiler/driver.h"

namespace tinyodlc {

// Prints the table for the optimized graph; returns the exit code (1 if unsupported ops).
int inspect_model(const CompileOptions& opts, std::ostream& out);

}  // namespace tinyodlc
