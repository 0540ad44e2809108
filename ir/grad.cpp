#include "ir/grad.h"

#include <fmt/format.h>

#include "ir/op_registry.h"

namespace tinyodlc::ir {

GradContext::GradContext(Graph& g, const Node& n, std::vector<Value*> dys, std::vector<bool> needs)
    : node(n), graph(g), dys_(std::move(dys)), needs_(std::move(needs)), dxs_(n.inputs.size(), nullptr) {}

void GradContext::set_dx(size_t k, Value* dx) {
  const Value* in = node.input(k);
  if (!in) fail(node, fmt::format("gradient rule: input {} is absent", k));
  if (!dx || dx->dtype != in->dtype || dx->shape != in->shape)
    fail(node, fmt::format("gradient rule: gradient of input {} ('{}' {}) has type {}", k, in->name, in->type_str(),
                           dx ? dx->type_str() : "null"));
  dxs_[k] = dx;
}

std::vector<Value*> emit_inferred(Graph& g, const std::string& op, std::vector<Value*> ins, size_t n_outputs,
                                  const std::string& name, std::map<std::string, Attribute> attrs,
                                  const std::string& domain) {
  std::vector<Value*> outs;
  for (size_t k = 0; k < n_outputs; ++k) outs.push_back(g.add_value(k == 0 ? name : fmt::format("{}.out{}", name, k)));
  Node* n = g.add_node(op, std::move(ins), outs, std::move(attrs), name, nullptr, domain);
  if (!n->def || !n->def->infer)
    fail(*n, fmt::format("operator {}{}{} is not defined", domain, domain.empty() ? "" : "::", op));
  n->def->infer(*n);
  return outs;
}

Value* add_i64_constant(Graph& g, const std::string& name, const std::vector<int64_t>& v) {
  auto t = std::make_shared<TensorData>(DType::I64, Shape{static_cast<int64_t>(v.size())});
  for (size_t i = 0; i < v.size(); ++i) t->data<int64_t>()[i] = v[i];
  return g.add_constant(name, std::move(t));
}

std::vector<Value*> GradContext::emit_n(const std::string& op, std::vector<Value*> ins, size_t n_outputs,
                                        std::map<std::string, Attribute> attrs, const std::string& domain) {
  return emit_inferred(graph, op, std::move(ins), n_outputs, fmt::format("{}.grad/{}", node.name, op), std::move(attrs),
                       domain);
}

Value* GradContext::emit(const std::string& op, std::vector<Value*> ins, std::map<std::string, Attribute> attrs,
                         const std::string& domain) {
  return emit_n(op, std::move(ins), 1, std::move(attrs), domain)[0];
}

Value* GradContext::constant(std::shared_ptr<TensorData> data, const std::string& hint) {
  return graph.add_constant(fmt::format("{}.grad/{}", node.name, hint), std::move(data));
}

Value* GradContext::const_i64(const std::vector<int64_t>& v) {
  return add_i64_constant(graph, fmt::format("{}.grad/ints", node.name), v);
}

Value* GradContext::scalar_like(const Value* like, double v) {
  auto t = std::make_shared<TensorData>(like->dtype, Shape{});
  dispatch(FloatTypes{}, like->dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    t->data<T>()[0] = static_cast<T>(v);
  });
  return constant(std::move(t), "scalar");
}

Value* GradContext::reshape(Value* x, const Shape& shape) {
  if (x->shape == shape) return x;
  return emit("Reshape", {x, const_i64(shape)});
}

Value* GradContext::transpose(Value* x, const std::vector<int64_t>& perm) {
  return emit("Transpose", {x}, {{"perm", Attribute::Ints(perm)}});
}

Value* GradContext::unbroadcast(Value* g, const Shape& target) {
  if (g->shape == target) return g;
  const size_t r = g->shape.size();
  if (target.size() > r) fail(node, "gradient rule: cannot unbroadcast to a higher rank");
  const size_t lead = r - target.size();
  std::vector<int64_t> axes;
  for (size_t i = 0; i < r; ++i)
    if (i < lead || (target[i - lead] == 1 && g->shape[i] != 1)) axes.push_back(static_cast<int64_t>(i));
  Value* s = g;
  if (!axes.empty()) s = emit("ReduceSum", {g, const_i64(axes)}, {{"keepdims", Attribute::Int(1)}});
  return reshape(s, target);
}

}  // namespace tinyodlc::ir
