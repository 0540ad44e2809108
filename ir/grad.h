// Reverse-mode differentiation on the IR: the interface between the autodiff pass
// (passes/autodiff.cpp) and the per-op gradient rules (OpDef::grad, next to each op in
// ir/ops/<family>.cpp).
//
// A gradient rule sees one forward node, the gradients flowing into its outputs, and which
// inputs need a gradient. It appends IR nodes that compute those input gradients (forward ops
// such as MatMul/Mul/ReduceSum, or backward ops of domain "tinyodlc" with their own reference
// kernels, e.g. tinyodlc::ConvGradWeight) and records them with set_dx. The backward graph is
// thus ordinary IR: shape-inferred, memory-planned and emitted like the forward graph.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace tinyodlc::ir {

inline constexpr const char* kTinyodlcDomain = "tinyodlc";

// Appends node `op` named `name` with n_outputs new values (named `name`, `name.out1`, ...),
// runs its shape rule and returns the outputs. Used by the gradient rules (GradContext) and by
// the autodiff pass for the loss.
std::vector<Value*> emit_inferred(Graph& g, const std::string& op, std::vector<Value*> ins, size_t n_outputs,
                                  const std::string& name, std::map<std::string, Attribute> attrs = {},
                                  const std::string& domain = "");
// An int64 1-D constant (shapes, axes).
Value* add_i64_constant(Graph& g, const std::string& name, const std::vector<int64_t>& v);

class GradContext {
 public:
  GradContext(Graph& g, const Node& n, std::vector<Value*> dys, std::vector<bool> needs);

  const Node& node;  // the forward node
  Graph& graph;

  // Gradient of the loss w.r.t. output k, or nullptr when output k does not reach the loss.
  Value* dy(size_t k) const { return k < dys_.size() ? dys_[k] : nullptr; }
  // Whether input k needs a gradient (it depends on a trainable parameter). Rules compute
  // only what is needed: no weight gradient for a frozen weight, no input gradient below the
  // earliest trainable layer.
  bool needs(size_t k) const { return k < needs_.size() && needs_[k]; }
  // Records the gradient of input k (its dtype and shape must be those of the input).
  void set_dx(size_t k, Value* dx);
  const std::vector<Value*>& dxs() const { return dxs_; }

  // Builders. Each appends a node (named after the forward node), runs its shape rule and
  // returns its output(s). `domain` is "" (ai.onnx) or kTinyodlcDomain.
  Value* emit(const std::string& op, std::vector<Value*> ins, std::map<std::string, Attribute> attrs = {},
              const std::string& domain = "");
  std::vector<Value*> emit_n(const std::string& op, std::vector<Value*> ins, size_t n_outputs,
                             std::map<std::string, Attribute> attrs = {}, const std::string& domain = "");
  Value* constant(std::shared_ptr<TensorData> data, const std::string& hint = "c");
  Value* const_i64(const std::vector<int64_t>& v);
  Value* scalar_like(const Value* like, double v);  // rank-0 constant of like's dtype
  Value* reshape(Value* x, const Shape& shape);
  // Sums g (of a broadcast result) back to `target` (numpy broadcasting rules): ReduceSum over
  // the broadcast axes, then Reshape. Returns g itself when the shapes are equal.
  Value* unbroadcast(Value* g, const Shape& target);
  // Transpose with perm.
  Value* transpose(Value* x, const std::vector<int64_t>& perm);

 private:
  std::vector<Value*> dys_;
  std::vector<bool> needs_;
  std::vector<Value*> dxs_;
};

}  // namespace tinyodlc::ir
