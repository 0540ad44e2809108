#include "ir/interpreter.h"

#include <unordered_map>

#include <fmt/format.h>

#include "ir/op_registry.h"

namespace tinyodlc::ir {

namespace {
std::string type_of(const TensorData& t) { return fmt::format("{}{}", dtype_name(t.dtype), shape_str(t.shape)); }
}  // namespace

Environment evaluate_all(const Graph& g, const std::vector<TensorData>& inputs) {
  if (inputs.size() != g.inputs.size())
    fail(fmt::format("interpret: the graph has {} inputs, got {} tensors", g.inputs.size(), inputs.size()));
  Environment env;
  for (size_t k = 0; k < inputs.size(); ++k) {
    const Value* v = g.inputs[k];
    const TensorData& t = inputs[k];
    if (t.dtype != v->dtype || (v->has_shape && t.shape != v->shape))
      fail(*v, fmt::format("input data has type {} but the graph input is {}", type_of(t), v->type_str()));
    if (t.bytes.size() != static_cast<size_t>(t.numel()) * dtype_size(t.dtype))
      fail(*v, fmt::format("input data has {} bytes, expected {}", t.bytes.size(), t.numel() * dtype_size(t.dtype)));
    env[v] = std::make_shared<TensorData>(t);
  }
  for (const auto& np : g.nodes()) {
    const Node& n = *np;
    if (!n.def) fail(n, "unsupported operator (no definition); cannot interpret");
    std::vector<const TensorData*> ins(n.inputs.size(), nullptr);
    for (size_t k = 0; k < n.inputs.size(); ++k) {
      const Value* v = n.inputs[k];
      if (!v) continue;
      ins[k] = value_of(env, v);
      if (!ins[k]) fail(n, fmt::format("input {} ('{}') has no value: it is not computed before this node", k, v->name));
    }
    if (n.def->is_view) {
      const Value* o = n.output(0);
      if (!o || !ins.size() || !ins[0]) fail(n, "view without input or output");
      if (!o->has_shape) fail(n, fmt::format("output '{}' has no inferred shape", o->name));
      auto t = std::make_shared<TensorData>(o->dtype, o->shape);
      if (t->bytes.size() != ins[0]->bytes.size())
        fail(n, fmt::format("view changes the size: {} -> {}", type_of(*ins[0]), o->type_str()));
      t->bytes = ins[0]->bytes;
      env[o] = std::move(t);
      continue;
    }
    auto outs = evaluate_node(n, ins);
    for (size_t k = 0; k < n.outputs.size(); ++k)
      if (n.outputs[k]) env[n.outputs[k]] = std::move(outs[k]);
  }
  return env;
}

const TensorData* value_of(const Environment& env, const Value* v) {
  auto it = env.find(v);
  if (it != env.end()) return it->second.get();
  if (v->is_param()) return v->init.get();  // trainable parameters: their initial value
  return v->is_constant() ? v->constant.get() : nullptr;
}

std::vector<TensorData> interpret(const Graph& g, const std::vector<TensorData>& inputs) {
  const Environment env = evaluate_all(g, inputs);
  std::vector<TensorData> result;
  for (const Value* o : g.outputs) {
    const TensorData* t = value_of(env, o);
    if (!t) fail(*o, "graph output was not computed");
    result.push_back(*t);
  }
  return result;
}

}  // namespace tinyodlc::ir
