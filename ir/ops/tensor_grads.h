// Gradient rules of elementwise selection ops whose OpDefs live in ir/ops/elementwise.cpp:
// Where and the variadic Sum, Mean, Max, Min. Kept in this header so the rules can be wired
// with one line each where the ops are defined:
//
//   Where: d.grad = grad_where;        Sum: grad_sum;  Mean: grad_mean;
//   Max:   grad_max_min;               Min: grad_max_min;
//
// All results are summed over the axes along which an input was broadcast (numpy rules).
#pragma once

#include <vector>

#include "ir/grad.h"

namespace tinyodlc::ir::ops {

// y = Where(cond, a, b): da = dy where cond, db = dy where !cond (cond gets none).
inline void grad_where(GradContext& c) {
  const Node& n = c.node;
  Value* dy = c.dy(0);
  if (c.needs(1)) c.set_dx(1, c.unbroadcast(c.emit("Where", {n.inputs[0], dy, c.scalar_like(dy, 0.0)}), n.inputs[1]->shape));
  if (c.needs(2)) c.set_dx(2, c.unbroadcast(c.emit("Where", {n.inputs[0], c.scalar_like(dy, 0.0), dy}), n.inputs[2]->shape));
}

// y = Sum(x_0, ..., x_{n-1}): dx_k = dy.
inline void grad_sum(GradContext& c) {
  for (size_t k = 0; k < c.node.inputs.size(); ++k)
    if (c.needs(k)) c.set_dx(k, c.unbroadcast(c.dy(0), c.node.inputs[k]->shape));
}

// y = Mean(x_0, ..., x_{n-1}): dx_k = dy / n.
inline void grad_mean(GradContext& c) {
  const size_t n = c.node.inputs.size();
  Value* g = n == 1 ? c.dy(0) : c.emit("Mul", {c.dy(0), c.scalar_like(c.dy(0), 1.0 / static_cast<double>(n))});
  for (size_t k = 0; k < n; ++k)
    if (c.needs(k)) c.set_dx(k, c.unbroadcast(g, c.node.inputs[k]->shape));
}

// y = Max/Min(x_0, ..., x_{n-1}): dy goes to the inputs equal to y, shared evenly between
// ties (as PyTorch's maximum/minimum do): dx_k = dy [x_k == y] / #{j : x_j == y}.
inline void grad_max_min(GradContext& c) {
  const Node& n = c.node;
  Value* y = n.outputs[0];
  Value* dy = c.dy(0);
  const auto to = Attribute::Int(dtype_to_onnx(y->dtype));
  std::vector<Value*> masks;
  for (size_t k = 0; k < n.inputs.size(); ++k) masks.push_back(c.emit("Cast", {c.emit("Equal", {n.inputs[k], y})}, {{"to", to}}));
  Value* r = dy;
  if (masks.size() > 1) r = c.emit("Div", {dy, c.emit("Sum", masks)});
  for (size_t k = 0; k < n.inputs.size(); ++k)
    if (c.needs(k)) c.set_dx(k, c.unbroadcast(c.emit("Mul", {masks[k], r}), n.inputs[k]->shape));
}

}  // namespace tinyodlc::ir::ops
