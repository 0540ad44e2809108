// The operator registry: one OpDef per operator, defined in ir/ops/<op>.cpp, holding
// everything the compiler knows about the op (import rules, shape rule, kernel, MACs).
#pragma once

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "ir/graph.h"
#include "ir/kernel_call.h"

namespace tinyodlc::ir {

class GradContext;

struct OpDef {
  std::string domain;  // "" for ai.onnx
  std::string name;

  // Optional. Rewrites a node imported at opset `node.opset` into the canonical (newest)
  // form the other hooks expect, e.g. attributes that later opsets moved to inputs become
  // constant inputs. Runs once, in the frontend.
  std::function<void(Node&, Graph&)> canonicalize_import;

  // Required. Sets dtype and shape of every present output; validates inputs and
  // attributes; throws CompileError (via fail(node, ...)) on anything unsupported.
  // May read constant inputs (Reshape's shape) and must then fail if they are not constant.
  std::function<void(Node&)> infer;

  // How the node executes (see kernel_call.h). Empty for ops that never reach the backend
  // (views, or ops the passes must remove).
  std::function<KernelCall(const Node&)> lower;

  // Output 0 is input 0's data reinterpreted with another shape (Reshape, Squeeze, ...):
  // no kernel; the memory planner aliases the buffers.
  bool is_view = false;

  // The kernel computes output element i from input-0 element i only (elementwise), so
  // output 0 may share input 0's buffer when input 0 dies at this node and has the same
  // size: the memory planner then executes the node in place.
  bool inplace_ok = false;

  // The node's outputs depend only on input shapes/types, not on input data (Shape, Size):
  // shape inference folds it to a constant even when its inputs are not constant.
  bool shape_only = false;

  // Never folded into a constant, even when all inputs are constant (DequantizeLinear of
  // int8 weights: the int8 data must stay in flash for the quantization passes).
  bool no_fold = false;

  // Multiply-accumulates per execution (for `inspect` and benchmarks). Empty = 0.
  std::function<int64_t(const Node&)> macs;

  // Gradient rule (ir/grad.h): appends the nodes computing the gradients of the inputs that
  // need one, from the gradients of the outputs. Empty: the op cannot be differentiated (the
  // autodiff pass then names the node in its error).
  std::function<void(GradContext&)> grad;
};

class OpRegistry {
 public:
  static OpRegistry& instance();
  void add(OpDef def);
  const OpDef* find(const std::string& domain, const std::string& name) const;
  std::vector<const OpDef*> all() const;

 private:
  std::map<std::pair<std::string, std::string>, OpDef> ops_;
};

// Static registration: `static const OpRegistrar reg{def};` in an op file.
struct OpRegistrar {
  explicit OpRegistrar(OpDef def) { OpRegistry::instance().add(std::move(def)); }
};

// Runs one node on constant host data through its KernelCall. `inputs[k]` may be null for
// absent optional inputs (and for all inputs of shape_only ops). Output types must have
// been inferred. Returns one TensorData per output (null for absent outputs).
std::vector<std::shared_ptr<TensorData>> evaluate_node(const Node& n,
                                                       const std::vector<const TensorData*>& inputs);

}  // namespace tinyodlc::ir
