// shape-inference: infers dtype and static shape of every value, in schedule order, and
// folds nodes whose result is known at compile time (all inputs constant, or an op such as
// Shape that depends only on shapes). Folding has to happen during inference, not after:
// PyTorch exports compute Reshape targets and pad amounts with Shape/Gather/Concat/...
// subgraphs, and the consumer's shape is only known once its producer is folded.
//
// fold-constants: the folding half alone, for use after rewrites.
#include <fmt/format.h>

#include "ir/op_registry.h"
#include "passes/pass_manager.h"

namespace tinyodlc::passes {
namespace {

using namespace ir;

// Folding never creates constants larger than this (bytes) unless the inputs were at least
// as large: a folded Expand/Tile of a small constant must not bloat flash.
constexpr size_t kMaxFoldGrowthBytes = 64 * 1024;

bool foldable(const Node& n) {
  if (!n.def || !n.def->lower || n.def->no_fold) return false;
  size_t in_bytes = 0, out_bytes = 0;
  for (const Value* in : n.inputs) {
    if (!in) continue;
    if (!in->is_constant() && !n.def->shape_only) return false;
    if (in->is_constant()) in_bytes += in->nbytes();
  }
  for (const Value* o : n.outputs)
    if (o) out_bytes += o->nbytes();
  return out_bytes <= std::max(in_bytes, kMaxFoldGrowthBytes);
}

// Replaces the node by constants for its outputs; returns true if it was folded.
bool try_fold(Graph& g, Node& n) {
  if (!foldable(n)) return false;
  std::vector<const TensorData*> ins;
  for (const Value* in : n.inputs) ins.push_back(in && in->is_constant() ? in->constant.get() : nullptr);
  auto outs = evaluate_node(n, ins);
  for (size_t k = 0; k < n.outputs.size(); ++k)
    if (n.outputs[k]) n.outputs[k]->constant = outs[k];
  g.remove_node(&n);
  return true;
}

void infer_node(Node& n, const Graph& g) {
  if (!n.def) fail(n, fmt::format("unsupported operator '{}'{}", n.op, n.domain.empty() ? "" : " in domain '" + n.domain + "'"));
  if (!n.def->infer) fail(n, "operator has no shape rule");
  for (size_t k = 0; k < n.inputs.size(); ++k) {
    const Value* in = n.inputs[k];
    if (in && !in->has_shape) fail(n, fmt::format("input {} ('{}') has no known shape", k, in->name));
  }
  // Declared types of graph outputs (from the model file) must agree with inference.
  std::vector<std::pair<Value*, Shape>> declared;
  for (Value* o : n.outputs)
    if (o && o->has_shape && g.is_graph_output(o)) declared.push_back({o, o->shape});
  try {
    n.def->infer(n);
  } catch (const std::invalid_argument& e) {  // from dtype dispatch
    fail(n, e.what());
  }
  for (auto& [o, s] : declared)
    if (o->shape != s)
      fail(n, fmt::format("output '{}' is declared with shape {} but the operator produces {}", o->name,
                          shape_str(s), shape_str(o->shape)));
  for (size_t k = 0; k < n.outputs.size(); ++k)
    if (n.outputs[k] && !n.outputs[k]->has_shape) fail(n, fmt::format("shape rule left output {} unset", k));
}

void run_shape_inference(Graph& g, PassContext&) {
  g.topo_sort();
  std::vector<Node*> order;
  for (const auto& n : g.nodes()) order.push_back(n.get());
  for (Node* n : order) {
    infer_node(*n, g);
    try_fold(g, *n);
  }
  for (Value* o : g.outputs)
    if (!o->has_shape) fail(*o, "graph output has no inferred shape");
}

void run_fold_constants(Graph& g, PassContext&) {
  std::vector<Node*> order;
  for (const auto& n : g.nodes()) order.push_back(n.get());
  for (Node* n : order) try_fold(g, *n);
}

const PassRegistrar kShape({"shape-inference",
                            "infer dtypes and static shapes of all values; fold nodes computable at compile time",
                            run_shape_inference});
const PassRegistrar kFold({"fold-constants", "replace nodes whose inputs are all constants by their result",
                           run_fold_constants});

}  // namespace
}  // namespace tinyodlc::passes
