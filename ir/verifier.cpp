#include "ir/verifier.h"

#include <set>

#include <fmt/format.h>

namespace tinyodlc::ir {

void verify(const Graph& g) {
  std::set<const Value*> defined(g.inputs.begin(), g.inputs.end());
  for (const auto& v : g.values())
    if (v->is_constant() || v->is_param()) defined.insert(v.get());
  for (const auto& n : g.nodes()) {
    for (size_t k = 0; k < n->inputs.size(); ++k) {
      const Value* in = n->inputs[k];
      if (in && !defined.count(in))
        fail(*n, fmt::format("input {} ('{}') is not defined before this node", k, in->name));
    }
    for (const Value* o : n->outputs) {
      if (!o) continue;
      if (o->producer != n.get()) fail(*n, fmt::format("output '{}' has a different producer", o->name));
      if (defined.count(o)) fail(*n, fmt::format("output '{}' is defined twice", o->name));
      defined.insert(o);
    }
  }
  for (const Value* o : g.outputs)
    if (!defined.count(o)) fail(*o, "graph output is not defined");
}

}  // namespace tinyodlc::ir
