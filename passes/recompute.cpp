// recompute: trades compute for memory in the training step (docs/training.md).
//
// After autodiff, backward nodes read forward activations (a Conv weight gradient reads the
// conv's input, a ReLU gradient its output, ...), which keeps them alive from the forward pass
// until their backward use: the "saved activations". This pass instead recomputes every saved
// activation larger than TrainingOptions::recompute_min_bytes right before the backward nodes
// that read it, by cloning its forward producers (recursively, down to graph inputs,
// parameters, constants and activations small enough to stay saved). The memory planner then
// sees short live ranges; the price is extra forward computation (at most one more forward
// pass per differentiated layer). The driver compiles the step with and without recomputation
// and keeps recomputation only when it lowers the training arena (--recompute auto).
#include <functional>
#include <map>
#include <unordered_map>

#include <fmt/format.h>

#include "ir/op_registry.h"
#include "passes/pass_manager.h"
#include "passes/training.h"

namespace tinyodlc::passes {
namespace {

using namespace ir;

void run_recompute(Graph& g, PassContext& ctx) {
  const size_t min_bytes = ctx.training ? ctx.training->recompute_min_bytes : 16384;
  // The loss node separates the forward nodes (before) from the backward nodes (after).
  std::unordered_map<const Node*, int> index = g.schedule_index();
  int loss_at = -1;
  for (const auto& n : g.nodes())
    if (n->domain == "tinyodlc" && (n->op == "SoftmaxCrossEntropy" || n->op == "MseLoss")) loss_at = index[n.get()];
  if (loss_at < 0) fail("recompute: no loss node (run autodiff first)");
  auto is_forward = [&](const Value* v) {
    return v && v->producer && index.count(v->producer) && index[v->producer] < loss_at;
  };
  std::vector<Node*> backward;
  for (const auto& n : g.nodes())
    if (index[n.get()] > loss_at) backward.push_back(n.get());

  // Recomputed copies, shared by the backward nodes of one gradient rule (same name prefix).
  std::string group;
  std::map<const Value*, Value*> copies;
  int clones = 0;
  std::function<Value*(Value*, Node*)> remat = [&](Value* v, Node* before) -> Value* {
    if (!is_forward(v) || v->nbytes() < min_bytes) return v;
    auto it = copies.find(v);
    if (it != copies.end()) return it->second;
    const Node* p = v->producer;
    std::vector<Value*> ins;
    for (Value* in : p->inputs) ins.push_back(in ? (in->nbytes() < min_bytes && is_forward(in) ? in : remat(in, before)) : nullptr);
    std::vector<Value*> outs;
    for (Value* o : p->outputs) outs.push_back(o ? g.add_value(o->name + ".recomputed") : nullptr);
    Node* c = g.add_node(p->op, ins, outs, p->attrs, p->name + ".recomputed", before, p->domain);
    c->opset = p->opset;
    c->def->infer(*c);
    ++clones;
    for (size_t k = 0; k < p->outputs.size(); ++k)
      if (p->outputs[k]) copies[p->outputs[k]] = outs[k];
    return copies.at(v);
  };
  for (Node* b : backward) {
    const std::string prefix = b->name.substr(0, b->name.find(".grad/"));
    if (prefix != group) {
      group = prefix;
      copies.clear();
    }
    for (auto& in : b->inputs)
      if (in && is_forward(in) && in->nbytes() >= min_bytes) in = remat(in, b);
  }
  if (ctx.log && clones) *ctx.log << fmt::format("recompute: {} forward nodes recomputed in the backward pass\n", clones);
}

const PassRegistrar kRecompute({"recompute",
                                "recompute large saved activations in the backward pass instead of keeping them",
                                run_recompute});

}  // namespace
}  // namespace tinyodlc::passes
