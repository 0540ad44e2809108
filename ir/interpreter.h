// Reference interpreter: runs a whole graph on host data, node by node in schedule order,
// through each op's kernel (ir::evaluate_node), i.e. with exactly the semantics the
// generated code has. Used by tests (rewrites must not change results), by int8 calibration and
// the quantization report, and for debugging.
#pragma once

#include <memory>
#include <unordered_map>
#include <vector>

#include "ir/graph.h"

namespace tinyodlc::ir {

// `inputs` are the graph inputs in order (dtype and shape must match the declared ones).
// Every node's output types must be known (run shape inference first). View ops (is_view)
// copy their input bytes under the output shape. Returns the graph outputs in order.
// Throws CompileError naming the node or value on anything it cannot run.
std::vector<TensorData> interpret(const Graph& g, const std::vector<TensorData>& inputs);

// The value of every computed value (graph inputs and node outputs) of one run; used by
// calibration and the quantization report, which look at intermediate tensors.
using Environment = std::unordered_map<const Value*, std::shared_ptr<const TensorData>>;
Environment evaluate_all(const Graph& g, const std::vector<TensorData>& inputs);
// A value's data in `env`, or its constant / initial (trainable parameter) data; nullptr if none.
const TensorData* value_of(const Environment& env, const Value* v);

}  // namespace tinyodlc::ir
