// autodiff: appends the loss and the backward pass of on-device learning to the graph
// (docs/training.md). Input: a graph whose trainable parameters are marked (select-trainable)
// and shape-inferred. Output: the training step as one graph:
//
//   inputs:  the model inputs, then `label` (int64 [rows]) or `target` (mse)
//   outputs: `loss` (rank-0 float)
//   effects: tinyodlc::AccumulateGrad nodes add each parameter's gradient to its accumulator
//
// Only what the loss needs is built: gradients flow backward from the loss through nodes that
// depend on a trainable parameter (no weight gradients for frozen weights, no input
// gradients below the earliest trainable layer); dce afterwards removes the forward nodes the
// loss does not need. The forward activations the gradient rules read stay alive until their
// last backward use, so the memory planner plans saved activations like any other buffer.
#include <algorithm>
#include <cmath>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "ir/grad.h"
#include "ir/op_registry.h"
#include "passes/pass_manager.h"
#include "passes/training.h"

namespace tinyodlc::passes {
namespace {

using namespace ir;

Value* emit(Graph& g, const std::string& op, std::vector<Value*> ins, const std::string& name,
            std::map<std::string, Attribute> attrs = {}) {
  return emit_inferred(g, op, std::move(ins), 1, name, std::move(attrs))[0];
}

Value* param(Graph& g, const std::string& name, Shape shape) {
  Value* v = g.add_value(name, DType::F32, shape);
  v->has_shape = true;
  v->state = Value::State::Param;
  v->init = std::make_shared<TensorData>(DType::F32, shape);  // zeros
  return v;
}

// The prediction as a matrix [rows, features]: rows = dim 0 for rank >= 2, else 1.
Value* as_rows(Graph& g, Value* y, const std::string& name) {
  if (y->shape.size() == 2) return y;
  const int64_t rows = y->shape.size() >= 2 ? y->shape[0] : 1;
  return emit(g, "Reshape", {y, add_i64_constant(g, name + ".shape", {rows, y->numel() / std::max<int64_t>(rows, 1)})}, name);
}

Value* add_label(Graph& g, int64_t rows) {
  if (g.find_value(kLabelInput)) fail(fmt::format("the model already has a tensor named '{}'", kLabelInput));
  Value* l = g.add_value(kLabelInput, DType::I64, {rows});
  l->has_shape = true;
  g.inputs.push_back(l);
  return l;
}

// Appends the loss; returns (loss, gradient of the loss w.r.t. `pred`).
std::pair<Value*, Value*> append_loss(Graph& g, const TrainingOptions& o, Value*& pred) {
  if (o.append_head > 0) {
    Value* x = as_rows(g, pred, "head.flatten");
    const int64_t d = x->shape[1];
    Value* w = param(g, "head.weight", {o.append_head, d});
    Value* b = param(g, "head.bias", {o.append_head});
    pred = emit(g, "Gemm", {x, w, b}, "head", {{"transB", Attribute::Int(1)}});
  }
  if (o.loss == "mse") {
    if (g.find_value(kTargetInput)) fail(fmt::format("the model already has a tensor named '{}'", kTargetInput));
    Value* t = g.add_value(kTargetInput, pred->dtype, pred->shape);
    t->has_shape = true;
    g.inputs.push_back(t);
    auto outs = emit_inferred(g, "MseLoss", {pred, t}, 2, kLossOutput, {}, kTinyodlcDomain);
    return {outs[0], outs[1]};
  }
  Value* logits = as_rows(g, pred, "loss.logits");
  if (o.loss == "cosine-prototype") {
    if (!o.prototypes) fail("--loss cosine-prototype needs --prototypes FILE.pb ([classes, dim] float)");
    const TensorData& p = *o.prototypes;
    const int64_t dim = logits->shape[1];
    if (p.dtype != DType::F32 || p.shape.size() != 2 || p.shape[1] != dim)
      fail(fmt::format("--prototypes must be float [classes, {}] (the embedding '{}' has {} features), got {} {}", dim,
                       pred->name, dim, dtype_name(p.dtype), shape_str(p.shape)));
    // logits = scale * (e / |e|) . (P_k / |P_k|)^T; the prototypes are normalized (and scaled)
    // at compile time, the embedding's normalization is part of the differentiated graph.
    const int64_t k = p.shape[0];
    auto pt = std::make_shared<TensorData>(DType::F32, Shape{dim, k});
    for (int64_t c = 0; c < k; ++c) {
      double norm = 0;
      for (int64_t j = 0; j < dim; ++j) norm += p.get_f64(c * dim + j) * p.get_f64(c * dim + j);
      norm = std::sqrt(norm);
      if (norm == 0) fail(fmt::format("--prototypes: prototype {} is all zeros", c));
      for (int64_t j = 0; j < dim; ++j)
        pt->data<float>()[j * k + c] = static_cast<float>(o.scale * p.get_f64(c * dim + j) / norm);
    }
    Value* n = emit(g, "ReduceL2", {logits, add_i64_constant(g, "loss.axes", {1})}, "loss.norm",
                    {{"keepdims", Attribute::Int(1)}});
    Value* e = emit(g, "Div", {logits, n}, "loss.normalized");
    logits = emit(g, "MatMul", {e, g.add_constant("loss.prototypes", pt)}, "loss.cosine");
  } else if (o.loss != "cross-entropy") {
    fail(fmt::format("unknown loss '{}' (cross-entropy, mse, cosine-prototype)", o.loss));
  }
  Value* label = add_label(g, logits->shape[0]);
  auto outs = emit_inferred(g, "SoftmaxCrossEntropy", {logits, label}, 2, kLossOutput, {}, kTinyodlcDomain);
  // The gradient seed is w.r.t. the logits; the nodes between the prediction and the logits
  // (reshape, cosine) are differentiated like the model.
  pred = logits;
  return {outs[0], outs[1]};
}

void run_autodiff(Graph& g, PassContext& ctx) {
  if (!ctx.training || !ctx.training->enabled()) fail("autodiff: no training options (nothing is trainable)");
  const TrainingOptions& o = *ctx.training;

  Value* pred = nullptr;
  if (o.loss_output.empty()) {
    if (g.outputs.size() != 1)
      fail(fmt::format("the model has {} outputs: name the one the loss is computed on with --loss-output",
                       g.outputs.size()));
    pred = g.outputs[0];
  } else {
    for (Value* v : g.outputs)
      if (v->name == o.loss_output) pred = v;
    if (!pred) pred = g.find_value(o.loss_output);
    if (!pred) fail(fmt::format("--loss-output '{}': no such tensor", o.loss_output));
  }
  if (!dtype_is_float(pred->dtype)) fail(*pred, "the loss needs a float prediction");

  // Nodes of the model (before the loss is appended), in schedule order.
  std::vector<Node*> forward;
  for (const auto& n : g.nodes()) forward.push_back(n.get());
  auto [loss, seed] = append_loss(g, o, pred);
  // Nodes appended for the loss (head, cosine logits) are differentiated as well.
  std::vector<Node*> loss_side;
  for (const auto& n : g.nodes())
    if (std::find(forward.begin(), forward.end(), n.get()) == forward.end() && n->outputs[0] != loss)
      loss_side.push_back(n.get());
  forward.insert(forward.end(), loss_side.begin(), loss_side.end());

  // Values that depend on a trainable parameter.
  std::unordered_set<const Value*> needs_grad;
  for (const auto& v : g.values())
    if (v->is_param()) needs_grad.insert(v.get());
  for (Node* n : forward) {
    bool any = false;
    for (const Value* in : n->inputs) any |= in && needs_grad.count(in);
    if (any)
      for (const Value* out : n->outputs)
        if (out && dtype_is_float(out->dtype)) needs_grad.insert(out);
  }
  if (!needs_grad.count(pred))
    fail(*pred, "the prediction does not depend on any trainable parameter");

  std::unordered_map<const Value*, Value*> grads;
  auto add_grad = [&](const Value* v, Value* gv) {
    auto it = grads.find(v);
    if (it == grads.end()) {
      grads[v] = gv;
      return;
    }
    it->second = emit(g, "Add", {it->second, gv}, v->name + ".grad_sum");
  };
  add_grad(pred, seed);

  for (auto it = forward.rbegin(); it != forward.rend(); ++it) {
    Node* n = *it;
    std::vector<Value*> dys;
    bool any_dy = false;
    for (const Value* out : n->outputs) {
      auto git = out ? grads.find(out) : grads.end();
      dys.push_back(git == grads.end() ? nullptr : git->second);
      any_dy |= git != grads.end();
    }
    std::vector<bool> needs;
    bool any_need = false;
    for (const Value* in : n->inputs) {
      needs.push_back(in && needs_grad.count(in));
      any_need |= needs.back();
    }
    if (!any_dy || !any_need) continue;
    if (!n->def || !n->def->grad) {
      std::vector<std::string> ps;
      for (const auto& v : g.values())
        if (v->is_param() && ps.size() < 4) ps.push_back(v->name);
      fail(*n, fmt::format("cannot backpropagate through {}: the op has no gradient rule, and it lies between the loss "
                           "and trainable parameters ({}{}); train only layers after it",
                           n->op, fmt::join(ps, ", "), ps.size() == 4 ? ", ..." : ""));
    }
    GradContext c(g, *n, dys, needs);
    n->def->grad(c);
    for (size_t k = 0; k < n->inputs.size(); ++k)
      if (c.dxs()[k]) add_grad(n->inputs[k], c.dxs()[k]);
  }

  for (Value* p : trainable_params(g)) {
    auto it = grads.find(p);
    if (it == grads.end()) fail(*p, fmt::format("the trainable parameter does not influence the loss on '{}'", pred->name));
    Value* acc = g.add_value("grad." + p->name);
    Node* a = g.add_node("AccumulateGrad", {it->second}, {acc}, {{"param", Attribute::String(p->name)}},
                         "accumulate." + p->name, nullptr, kTinyodlcDomain);
    a->def->infer(*a);
  }
  g.outputs = {loss};
}

const PassRegistrar kAutodiff({"autodiff",
                               "append the loss and the backward pass of the trainable parameters (training step)",
                               run_autodiff});

}  // namespace
}  // namespace tinyodlc::passes
