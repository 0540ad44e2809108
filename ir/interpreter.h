// Reference interpreter: runs a whole graph on host data, node by node in schedule order,
// through each op's kernel (ir::evaluate_node), i.e. with exactly the semantics the
// generated code has. Used by tests (rewrites must not change results) and for debugging.
#pragma once

#include <vector>

#include "ir/graph.h"

namespace tinyodlc::ir {

// `inputs` are the graph inputs in order (dtype and shape must match the declared ones).
// Every node's output types must be known (run shape inference first). View ops (is_view)
// copy their input bytes under the output shape. Returns the graph outputs in order.
// Throws CompileError naming the node or value on anything it cannot run.
std::vector<TensorData> interpret(const Graph& g, const std::vector<TensorData>& inputs);

}  // namespace tinyodlc::ir
