// dce: dead code elimination. Removes every node none of whose outputs is (transitively)
// needed for a graph output or a gradient accumulator (training state), then every value that is no longer referenced (unused
// constants included). Graph inputs are kept even when unused: they are the model's interface.
#include <unordered_set>

#include "passes/pass_manager.h"

namespace tinyodlc::passes {
namespace {

using namespace ir;

void run_dce(Graph& g, PassContext&) {
  std::unordered_set<const Value*> live(g.outputs.begin(), g.outputs.end());
  // Gradient accumulators (training state written by their producer) are results too.
  for (const auto& v : g.values())
    if (v->state == Value::State::Grad && v->producer) live.insert(v.get());
  std::vector<Node*> dead;
  // Reverse schedule order: all users of a value come after its producer. Nodes out of
  // order (not yet topologically sorted) are handled by iterating to a fixed point.
  for (bool changed = true; changed;) {
    changed = false;
    dead.clear();
    const auto& nodes = g.nodes();
    for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) {
      Node* n = it->get();
      bool needed = false;
      for (const Value* o : n->outputs)
        if (o && live.count(o)) needed = true;
      if (!needed) {
        dead.push_back(n);
        continue;
      }
      for (const Value* in : n->inputs)
        if (in && live.insert(in).second && in->producer && in->producer != n) {
          // A producer already visited (scheduled after its user) must be revisited.
          for (Node* d : dead)
            if (d == in->producer) changed = true;
        }
    }
  }
  for (Node* n : dead) g.remove_node(n);
  g.remove_dead_values();
}

const PassRegistrar kDce({"dce", "remove nodes whose results are not needed for any graph output, and unused values",
                          run_dce});

}  // namespace
}  // namespace tinyodlc::passes
