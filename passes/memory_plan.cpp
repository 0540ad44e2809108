#include "passes/memory_plan.h"

#include <algorithm>

#include <fmt/format.h>

#include "ir/op_registry.h"

namespace tinyodlc::passes {

using namespace ir;

bool is_elided_view(const Graph& g, const Node& n) {
  return n.def && n.def->is_view && n.outputs.size() == 1 && n.outputs[0] && !g.is_graph_output(n.outputs[0]) &&
         n.inputs.size() >= 1 && n.inputs[0] && n.inputs[0]->dtype == n.outputs[0]->dtype;
}

namespace {
size_t align_up(size_t v, size_t a) { return (v + a - 1) / a * a; }
}  // namespace

MemoryPlan plan_memory(const Graph& g, const std::vector<size_t>& scratch_bytes) {
  MemoryPlan plan;
  const int n_steps = static_cast<int>(g.nodes().size());
  plan.scratch_buffer.assign(n_steps, -1);
  plan.elided.assign(n_steps, false);

  for (const Value* v : g.inputs) plan.storage[v] = Storage::GraphInput;
  for (const auto& v : g.values())
    if (v->is_constant()) plan.storage[v.get()] = Storage::Constant;

  // Storage class of each node output, in schedule order.
  int step = 0;
  std::unordered_map<const Value*, int> buf_index;
  auto root_of = [&](const Value* v) {
    auto it = plan.alias_root.find(v);
    return it == plan.alias_root.end() ? v : it->second;
  };
  for (const auto& np : g.nodes()) {
    const Node& n = *np;
    if (is_elided_view(g, n)) {
      plan.elided[step] = true;
      const Value* root = root_of(n.inputs[0]);
      plan.storage[n.outputs[0]] = Storage::Alias;
      plan.alias_root[n.outputs[0]] = root;
      auto it = buf_index.find(root);
      if (it != buf_index.end()) {
        plan.buffers[it->second].tensors.push_back(n.outputs[0]);
        plan.buffer_of[n.outputs[0]] = it->second;
      }
    } else {
      for (const Value* o : n.outputs) {
        if (!o) continue;
        if (g.is_graph_output(o)) {
          plan.storage[o] = Storage::GraphOutput;
          continue;
        }
        plan.storage[o] = Storage::Arena;
        Buffer b;
        b.name = o->name;
        b.size = o->nbytes();
        b.first = b.last = step;
        b.tensors.push_back(o);
        buf_index[o] = static_cast<int>(plan.buffers.size());
        plan.buffer_of[o] = static_cast<int>(plan.buffers.size());
        plan.buffers.push_back(b);
      }
      if (step < static_cast<int>(scratch_bytes.size()) && scratch_bytes[step] > 0) {
        Buffer b;
        b.name = fmt::format("{}.scratch", n.name);
        b.size = scratch_bytes[step];
        b.first = b.last = step;
        b.scratch_of = step;
        plan.scratch_buffer[step] = static_cast<int>(plan.buffers.size());
        plan.buffers.push_back(b);
      }
    }
    ++step;
  }
  // Live ranges: extend each buffer to the last node that reads it (or an alias of it).
  step = 0;
  for (const auto& np : g.nodes()) {
    for (const Value* in : np->inputs) {
      if (!in) continue;
      auto it = buf_index.find(root_of(in));
      if (it != buf_index.end()) plan.buffers[it->second].last = std::max(plan.buffers[it->second].last, step);
    }
    ++step;
  }
  // Values copied into graph outputs at the end stay live until then.
  for (const Value* o : g.outputs) {
    auto it = buf_index.find(root_of(o));
    if (it != buf_index.end()) plan.buffers[it->second].last = n_steps;
  }

  // Greedy by size: place the largest buffers first, each at the lowest offset that does not
  // overlap an already placed buffer with an intersecting live range.
  std::vector<int> order(plan.buffers.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return plan.buffers[a].size > plan.buffers[b].size; });
  std::vector<int> placed;
  for (int i : order) {
    Buffer& b = plan.buffers[i];
    std::vector<std::pair<size_t, size_t>> busy;
    for (int j : placed) {
      const Buffer& o = plan.buffers[j];
      if (o.first <= b.last && b.first <= o.last) busy.push_back({o.offset, o.offset + o.size});
    }
    std::sort(busy.begin(), busy.end());
    size_t off = 0;
    for (auto [s, e] : busy) {
      if (off + b.size <= s) break;
      off = std::max(off, align_up(e, plan.alignment));
    }
    b.offset = off;
    plan.arena_bytes = std::max(plan.arena_bytes, align_up(off + b.size, plan.alignment));
    placed.push_back(i);
  }
  return plan;
}

}  // namespace tinyodlc::passes
