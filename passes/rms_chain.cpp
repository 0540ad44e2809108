#include "passes/rms_chain.h"

#include <algorithm>

namespace tinyodlc::passes {

using namespace ir;

namespace {

std::optional<double> scalar_const(const Value* v) {
  if (!v || !v->is_constant() || v->constant->numel() != 1) return std::nullopt;
  return v->constant->get_f64(0);
}

bool std_op(const Node* n, const char* op) { return n && n->domain.empty() && n->op == op; }

// v feeds only `user` and is not a graph output.
bool only_into(const Graph& g, const Value* v, const Node* user) {
  if (!v || g.is_graph_output(v)) return false;
  auto us = g.users(v);
  return us.size() == 1 && us[0] == user;
}

// The Sqrt feeding a Div(c, .) / Reciprocal (the reciprocal form's terminal), if n is one.
Node* sqrt_under_reciprocal(const Node& n) {
  if (std_op(&n, "Reciprocal") && n.input(0)) return n.inputs[0]->producer;
  if (std_op(&n, "Div") && n.input(1) && scalar_const(n.input(0)) && *scalar_const(n.input(0)) > 0)
    return n.inputs[1]->producer;
  return nullptr;
}

}  // namespace

std::optional<RmsChain> match_rms_chain(const Graph& g, Node& terminal) {
  RmsChain c;
  Node* sq = nullptr;
  if (Node* s = sqrt_under_reciprocal(terminal); std_op(s, "Sqrt")) {
    if (!only_into(g, s->outputs[0], &terminal)) return std::nullopt;
    c.reciprocal = true;
    c.c = terminal.op == "Div" ? *scalar_const(terminal.input(0)) : 1.0;
    sq = s;
  } else if (std_op(&terminal, "Sqrt")) {
    // not the terminal when a reciprocal form continues it
    auto us = g.users(terminal.outputs[0]);
    if (us.size() == 1 && !g.is_graph_output(terminal.outputs[0]) && sqrt_under_reciprocal(*us[0]) == &terminal &&
        match_rms_chain(g, *us[0]))
      return std::nullopt;
    sq = &terminal;
  } else {
    return std::nullopt;
  }
  if (!sq->input(0)) return std::nullopt;
  Node* mean = sq->inputs[0]->producer;
  Node* add = nullptr;
  if (std_op(mean, "Add")) {
    add = mean;
    const int k = scalar_const(add->input(1)) ? 1 : (scalar_const(add->input(0)) ? 0 : -1);
    if (k < 0 || *scalar_const(add->input(k)) < 0 || !add->input(1 - k)) return std::nullopt;
    c.eps = *scalar_const(add->input(k));
    if (!only_into(g, add->outputs[0], sq)) return std::nullopt;
    mean = add->inputs[1 - k]->producer;
  }
  if (!std_op(mean, "ReduceMean") || !mean->input(0) || !only_into(g, mean->outputs[0], add ? add : sq))
    return std::nullopt;
  Node* pw = mean->inputs[0]->producer;
  if (!pw || !pw->domain.empty() || !only_into(g, pw->outputs[0], mean)) return std::nullopt;
  if (pw->op == "Pow") {
    auto e = scalar_const(pw->input(1));
    if (!e || *e != 2.0 || !pw->input(0)) return std::nullopt;
  } else if (pw->op != "Mul" || !pw->input(0) || pw->input(0) != pw->input(1)) {
    return std::nullopt;
  }
  c.x = pw->inputs[0];
  if (!c.x->has_shape || c.x->shape.empty()) return std::nullopt;
  for (int64_t d : c.x->shape)
    if (d < 1) return std::nullopt;
  const int64_t rank = static_cast<int64_t>(c.x->shape.size());
  std::vector<int64_t> axes = mean->attr_ints_or("axes", {});
  if (mean->input(1)) {  // opset 18: axes as an input
    if (!mean->inputs[1]->is_constant()) return std::nullopt;
    for (int64_t i = 0; i < mean->inputs[1]->constant->numel(); ++i)
      axes.push_back(static_cast<int64_t>(mean->inputs[1]->constant->get_f64(i)));
  }
  if (axes.empty()) {
    if (mean->attr_int_or("noop_with_empty_axes", 0)) return std::nullopt;
    for (int64_t a = 0; a < rank; ++a) axes.push_back(a);
  }
  for (int64_t& a : axes) {
    if (a < -rank || a >= rank) return std::nullopt;
    if (a < 0) a += rank;
  }
  std::sort(axes.begin(), axes.end());
  for (size_t i = 1; i < axes.size(); ++i)
    if (axes[i] != axes[i - 1] + 1) return std::nullopt;
  c.axes = axes;
  c.keepdims = mean->attr_int_or("keepdims", 1) != 0;
  c.nodes = {pw, mean};
  if (add) c.nodes.push_back(add);
  c.nodes.push_back(sq);
  if (c.reciprocal) c.nodes.push_back(&terminal);
  for (size_t i = 0; i + 1 < c.nodes.size(); ++i) c.inside.push_back(c.nodes[i]->outputs[0]);
  return c;
}

}  // namespace tinyodlc::passes
