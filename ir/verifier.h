// Structural verification of a graph (run after every pass).
#pragma once

#include "ir/graph.h"

namespace tinyodlc::ir {

// Checks: every node input is a graph input, a constant, or produced by an earlier node in
// the schedule; each value has at most one producer and `producer` pointers agree; graph
// outputs are defined; names are unique. Throws CompileError naming the offending node or
// tensor.
void verify(const Graph& g);

}  // namespace tinyodlc::ir
