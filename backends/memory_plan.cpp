// Slightly over 500 lines: the planner's strategies, the local search and the region placement
// operate on one Buffer list and are verified together (tests/memory); kept in one file.
#include "backends/memory_plan.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <iterator>
#include <numeric>

#include <fmt/format.h>

#include "ir/op_registry.h"

namespace tinyodlc::backends {

using namespace ir;

bool is_elided_view(const Graph& g, const Node& n) {
  return n.def && n.def->is_view && n.outputs.size() == 1 && n.outputs[0] && !g.is_graph_output(n.outputs[0]) &&
         n.inputs.size() >= 1 && n.inputs[0] && n.inputs[0]->dtype == n.outputs[0]->dtype;
}

namespace {

size_t align_up(size_t v, size_t a) { return (v + a - 1) / a * a; }

// ---- offset assignment -------------------------------------------------------------------

// Places buffers in `order`; each goes to the lowest (first_fit) or tightest (best fit)
// aligned gap among the already placed buffers whose live ranges intersect it.
struct Placer {
  const std::vector<Interval>& bufs;
  size_t align;
  std::vector<std::vector<int>> conflicts;

  Placer(const std::vector<Interval>& b, size_t a) : bufs(b), align(a), conflicts(b.size()) {
    // Sweep by first step: conflicts are the pairs of intersecting intervals.
    std::vector<int> idx(b.size());
    std::iota(idx.begin(), idx.end(), 0);
    std::sort(idx.begin(), idx.end(), [&](int x, int y) { return b[x].first < b[y].first; });
    for (size_t i = 0; i < idx.size(); ++i)
      for (size_t j = i + 1; j < idx.size() && b[idx[j]].first <= b[idx[i]].last; ++j) {
        conflicts[idx[i]].push_back(idx[j]);
        conflicts[idx[j]].push_back(idx[i]);
      }
  }

  Assignment place(const std::vector<int>& order, bool best_fit) const {
    Assignment r;
    r.offsets.assign(bufs.size(), 0);
    std::vector<char> placed(bufs.size(), 0);
    std::vector<std::pair<size_t, size_t>> busy;
    for (int i : order) {
      const size_t size = bufs[i].size;
      busy.clear();
      for (int j : conflicts[i])
        if (placed[j] && bufs[j].size) busy.push_back({r.offsets[j], r.offsets[j] + bufs[j].size});
      std::sort(busy.begin(), busy.end());
      size_t off = 0, best = std::numeric_limits<size_t>::max(), best_gap = best;
      for (auto [s, e] : busy) {
        if (off + size <= s) {
          if (!best_fit) break;
          if (s - off < best_gap) best_gap = s - off, best = off;
        }
        off = std::max(off, align_up(e, align));
      }
      if (best_fit && best != std::numeric_limits<size_t>::max()) off = best;
      r.offsets[i] = off;
      placed[i] = 1;
      if (size) r.peak = std::max(r.peak, align_up(off + size, align));
    }
    return r;
  }
};

// Deterministic PRNG (splitmix64), so that plans are reproducible.
struct Rng {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  size_t below(size_t n) { return static_cast<size_t>(next() % n); }
};

std::vector<int> order_by_size(const std::vector<Interval>& b) {
  std::vector<int> o(b.size());
  std::iota(o.begin(), o.end(), 0);
  std::stable_sort(o.begin(), o.end(), [&](int x, int y) {
    if (b[x].size != b[y].size) return b[x].size > b[y].size;
    return b[x].first < b[y].first;
  });
  return o;
}

}  // namespace

size_t liveness_lower_bound(const std::vector<Interval>& bufs, size_t alignment) {
  int steps = 0;
  for (const auto& b : bufs) steps = std::max(steps, b.last + 1);
  std::vector<size_t> live(static_cast<size_t>(steps) + 1, 0);
  for (const auto& b : bufs) {
    if (!b.size) continue;
    for (int t = b.first; t <= b.last; ++t) live[t] += align_up(b.size, alignment);
  }
  return live.empty() ? 0 : *std::max_element(live.begin(), live.end());
}

Assignment assign_greedy_by_size(const std::vector<Interval>& bufs, size_t alignment) {
  Assignment a = Placer(bufs, alignment).place(order_by_size(bufs), false);
  a.strategy = "greedy-by-size";
  return a;
}

Assignment assign_offsets(const std::vector<Interval>& bufs, size_t alignment, int effort) {
  const Placer placer(bufs, alignment);
  const size_t lb = liveness_lower_bound(bufs, alignment);
  Assignment best = placer.place(order_by_size(bufs), false);
  best.strategy = "greedy-by-size";
  std::vector<int> best_order = order_by_size(bufs);
  auto consider = [&](const std::vector<int>& order, bool best_fit, const char* name) {
    Assignment a = placer.place(order, best_fit);
    if (a.peak < best.peak) {
      best = std::move(a);
      best.strategy = name;
      best_order = order;
    }
  };
  consider(order_by_size(bufs), true, "best-fit-by-size");

  // Greedy by breadth: buffers in the largest live sets first (the sets that set the peak).
  {
    int steps = 0;
    for (const auto& b : bufs) steps = std::max(steps, b.last + 1);
    std::vector<size_t> live(static_cast<size_t>(steps) + 1, 0);
    for (const auto& b : bufs)
      for (int t = b.first; t <= b.last; ++t) live[t] += align_up(b.size, alignment);
    std::vector<size_t> breadth(bufs.size(), 0);
    for (size_t i = 0; i < bufs.size(); ++i)
      for (int t = bufs[i].first; t <= bufs[i].last; ++t) breadth[i] = std::max(breadth[i], live[t]);
    std::vector<int> o(bufs.size());
    std::iota(o.begin(), o.end(), 0);
    std::stable_sort(o.begin(), o.end(), [&](int x, int y) {
      if (breadth[x] != breadth[y]) return breadth[x] > breadth[y];
      if (bufs[x].size != bufs[y].size) return bufs[x].size > bufs[y].size;
      return bufs[x].first < bufs[y].first;
    });
    consider(o, false, "greedy-by-breadth");
    consider(o, true, "best-fit-by-breadth");
    // Longest-lived first (size x duration): long-lived buffers at the bottom.
    std::stable_sort(o.begin(), o.end(), [&](int x, int y) {
      auto area = [&](int k) { return static_cast<double>(bufs[k].size) * (bufs[k].last - bufs[k].first + 1); };
      return area(x) > area(y);
    });
    consider(o, false, "greedy-by-area");
  }
  if (effort <= 0 || best.peak <= lb || bufs.size() < 3) return best;

  // Local search over placement orders: move one buffer earlier in the order (or swap two),
  // keep the change when the peak does not grow. Bounded work for large graphs.
  const size_t n = bufs.size();
  size_t work = 0;
  for (const auto& c : placer.conflicts) work += c.size() + 1;
  const size_t iters = std::min<size_t>(3000, std::max<size_t>(50, 40'000'000 / std::max<size_t>(work * 8, 1)));
  Rng rng{0x746f646c63ULL + n};
  std::vector<int> cur = best_order;
  Assignment cur_a = best;
  for (size_t it = 0; it < iters && best.peak > lb; ++it) {
    std::vector<int> cand = cur;
    size_t i = rng.below(n), j = rng.below(n);
    if (i == j) continue;
    if (rng.below(2)) {
      std::swap(cand[i], cand[j]);
    } else {
      if (i < j) std::swap(i, j);
      int v = cand[i];
      cand.erase(cand.begin() + static_cast<std::ptrdiff_t>(i));
      cand.insert(cand.begin() + static_cast<std::ptrdiff_t>(j), v);
    }
    Assignment a = placer.place(cand, false);
    if (a.peak <= cur_a.peak) {
      cur = std::move(cand);
      cur_a = std::move(a);
      if (cur_a.peak < best.peak) {
        best = cur_a;
        best.strategy = "local-search";
      }
    }
  }
  return best;
}

// ---- buffers and live ranges ---------------------------------------------------------------

namespace {

struct Builder {
  const Graph& g;
  MemoryPlan& plan;
  int n_steps = 0;
  std::unordered_map<const Value*, int> last_use;  // per root value

  const Value* root_of(const Value* v) const {
    auto it = plan.alias_root.find(v);
    return it == plan.alias_root.end() ? v : it->second;
  }

  void build(const std::vector<size_t>& scratch_bytes) {
    n_steps = static_cast<int>(g.nodes().size());
    plan.scratch_buffer.assign(n_steps, -1);
    plan.elided.assign(n_steps, false);
    plan.inplace.assign(n_steps, false);
    for (const Value* v : g.inputs) plan.storage[v] = Storage::GraphInput;
    for (const auto& v : g.values()) {
      if (v->is_constant()) plan.storage[v.get()] = Storage::Constant;
      if (v->state != Value::State::None) plan.storage[v.get()] = Storage::State;
    }

    // Pass 1: views and the last use of every root value.
    int step = 0;
    for (const auto& np : g.nodes()) {
      const Node& n = *np;
      plan.schedule.push_back(n.name);
      if (is_elided_view(g, n)) {
        plan.elided[step] = true;
        plan.storage[n.outputs[0]] = Storage::Alias;
        plan.alias_root[n.outputs[0]] = root_of(n.inputs[0]);
      }
      for (const Value* in : n.inputs)
        if (in) last_use[root_of(in)] = std::max(last_use[root_of(in)], step);
      ++step;
    }
    // Values copied into graph outputs after the last node stay live until the end.
    for (const Value* o : g.outputs) last_use[root_of(o)] = std::max(last_use[root_of(o)], n_steps - 1);

    // Pass 2: buffers, in schedule order.
    step = 0;
    for (const auto& np : g.nodes()) {
      const Node& n = *np;
      if (plan.elided[step]) {
        auto it = plan.buffer_of.find(root_of(n.inputs[0]));
        if (it != plan.buffer_of.end()) {
          plan.buffers[it->second].tensors.push_back(n.outputs[0]);
          plan.buffer_of[n.outputs[0]] = it->second;
        }
        ++step;
        continue;
      }
      for (size_t k = 0; k < n.outputs.size(); ++k) {
        const Value* o = n.outputs[k];
        if (!o || o->state != Value::State::None) continue;
        if (g.is_graph_output(o)) {
          plan.storage[o] = Storage::GraphOutput;
          continue;
        }
        plan.storage[o] = Storage::Arena;
        const int reuse = k == 0 ? inplace_buffer(n, step) : -1;
        if (reuse >= 0) {
          Buffer& b = plan.buffers[reuse];
          b.tensors.push_back(o);
          b.last = std::max(b.last, std::max(step, last_use.count(o) ? last_use[o] : step));
          plan.buffer_of[o] = reuse;
          plan.inplace[step] = true;
          continue;
        }
        Buffer b;
        b.name = o->name;
        b.size = o->nbytes();
        b.first = step;
        b.last = std::max(step, last_use.count(o) ? last_use[o] : step);
        b.tensors.push_back(o);
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
      ++step;
    }
    // Aliases extend their root's buffer (last_use is per root, so already included).
  }

  // The buffer output 0 of `n` may share (in-place execution), or -1.
  int inplace_buffer(const Node& n, int step) {
    if (!n.def || !n.def->inplace_ok || n.inputs.empty() || !n.inputs[0] || !n.outputs[0]) return -1;
    const Value* in0 = n.inputs[0];
    const Value* r0 = root_of(in0);
    auto it = plan.buffer_of.find(r0);
    if (it == plan.buffer_of.end()) return -1;  // graph input or constant
    const int bi = it->second;
    const Buffer& b = plan.buffers[bi];
    if (b.scratch_of >= 0 || b.size != n.outputs[0]->nbytes() || in0->nbytes() != b.size) return -1;
    if (b.last != step) return -1;  // some value in the buffer is read later
    for (size_t k = 1; k < n.inputs.size(); ++k) {
      const Value* x = n.inputs[k];
      if (!x || x == in0) continue;
      auto jt = plan.buffer_of.find(root_of(x));
      if (jt != plan.buffer_of.end() && jt->second == bi) return -1;  // another view of the same data
    }
    return bi;
  }
};

std::vector<Interval> intervals_of(const MemoryPlan& plan, const std::vector<int>& which) {
  std::vector<Interval> r;
  for (int i : which) r.push_back({plan.buffers[i].size, plan.buffers[i].first, plan.buffers[i].last});
  return r;
}

// Peak step of a set of buffers (by live bytes) and a description of what is live there.
std::string peak_description(const Graph& g, const MemoryPlan& plan, const std::vector<int>& which, size_t align) {
  if (which.empty() || plan.schedule.empty()) return "";
  std::vector<size_t> live(plan.schedule.size(), 0);
  for (int i : which)
    for (int t = plan.buffers[i].first; t <= plan.buffers[i].last && t < static_cast<int>(live.size()); ++t)
      live[t] += align_up(plan.buffers[i].size, align);
  int peak = static_cast<int>(std::max_element(live.begin(), live.end()) - live.begin());
  std::vector<int> at;
  for (int i : which)
    if (plan.buffers[i].first <= peak && peak <= plan.buffers[i].last) at.push_back(i);
  std::sort(at.begin(), at.end(), [&](int a, int b) { return plan.buffers[a].size > plan.buffers[b].size; });
  std::vector<std::string> names;
  for (size_t k = 0; k < at.size() && k < 4; ++k)
    names.push_back(fmt::format("'{}' {} B", plan.buffers[at[k]].name, plan.buffers[at[k]].size));
  if (at.size() > 4) names.push_back(fmt::format("{} more", at.size() - 4));
  const Node& n = **std::next(g.nodes().begin(), peak);
  return fmt::format("the peak ({} bytes live) is at step {}, {}: {}", live[peak], peak, n.label(),
                     fmt::join(names, ", "));
}

}  // namespace

MemoryPlan plan_memory(const Graph& g, const std::vector<size_t>& scratch_bytes) {
  return plan_memory(g, scratch_bytes, PlanOptions{});
}

MemoryPlan plan_memory(const Graph& g, const std::vector<size_t>& scratch_bytes, const PlanOptions& opts) {
  MemoryPlan plan;
  plan.target = opts.target;
  Builder{g, plan, 0, {}}.build(scratch_bytes);
  const size_t A = plan.alignment;

  std::vector<int> all(plan.buffers.size());
  std::iota(all.begin(), all.end(), 0);
  const std::vector<Interval> iv = intervals_of(plan, all);
  plan.lower_bound = liveness_lower_bound(iv, A);
  plan.greedy_bytes = assign_greedy_by_size(iv, A).peak;
  Assignment single = assign_offsets(iv, A, opts.search_effort);
  plan.single_arena_bytes = single.peak;
  plan.placement = opts.placement;
  plan.strategy = single.strategy;
  plan.live_bytes.assign(plan.schedule.size(), 0);
  for (const auto& b : plan.buffers)
    for (int t = b.first; t <= b.last && t < static_cast<int>(plan.live_bytes.size()); ++t)
      plan.live_bytes[t] += align_up(b.size, A);

  // Host: one unlimited arena.
  std::vector<const RegionSpec*> ram;
  for (const auto& r : opts.regions)
    if (r.kind == "ram") ram.push_back(&r);
  if (opts.regions.empty()) {
    plan.regions.push_back({"arena", 0, 0, 0, single.peak, 0, "", ""});
    for (size_t i = 0; i < plan.buffers.size(); ++i) plan.buffers[i].offset = single.offsets[i];
    plan.arena_bytes = single.peak;
    return plan;
  }
  if (ram.empty()) throw FitError("", fmt::format("target '{}' has no RAM region (kind \"ram\") for tensors", opts.target));
  // Preference: fastest first, then largest.
  std::stable_sort(ram.begin(), ram.end(), [](const RegionSpec* a, const RegionSpec* b) {
    return a->speed != b->speed ? a->speed > b->speed : a->capacity > b->capacity;
  });
  for (const RegionSpec* r : ram)
    plan.regions.push_back({r->name, r->base, r->capacity, r->reserved, 0, r->speed, r->linker_region, r->reserved_what});
  const int R = static_cast<int>(ram.size());
  std::vector<std::vector<int>> members(R);

  auto finish = [&]() {
    plan.arena_bytes = 0;
    for (int r = 0; r < R; ++r) {
      const std::vector<Interval> sub = intervals_of(plan, members[r]);
      Assignment a = assign_offsets(sub, A, opts.search_effort);
      for (size_t k = 0; k < members[r].size(); ++k) {
        plan.buffers[members[r][k]].offset = a.offsets[k];
        plan.buffers[members[r][k]].region = r;
      }
      plan.regions[r].used = a.peak;
      plan.arena_bytes += a.peak;
    }
  };

  // 1. The fastest region that holds the whole single-arena plan.
  int main_r = -1;
  for (int r = 0; r < R; ++r)
    if (single.peak <= ram[r]->capacity) {
      main_r = r;
      break;
    }
  if (main_r >= 0) {
    members[main_r] = all;
    // 2. Small buffers to faster regions (zero-wait-state TCM), while they fit there.
    if (opts.hot_to_fastest && main_r > 0) {
      std::vector<int> by_size = all;
      std::stable_sort(by_size.begin(), by_size.end(),
                       [&](int a, int b) { return plan.buffers[a].size < plan.buffers[b].size; });
      for (int r = 0; r < main_r; ++r) {
        if (ram[r]->speed <= ram[main_r]->speed) break;
        std::vector<int> in_r;
        for (int i : by_size) {
          if (!plan.buffers[i].size) continue;
          if (std::find(members[main_r].begin(), members[main_r].end(), i) == members[main_r].end()) continue;
          in_r.push_back(i);
          if (assign_offsets(intervals_of(plan, in_r), A, 0).peak > ram[r]->capacity) {
            in_r.pop_back();
            break;
          }
        }
        for (int i : in_r) members[main_r].erase(std::find(members[main_r].begin(), members[main_r].end(), i));
        members[r] = in_r;
      }
    }
    finish();
    bool split = false;
    for (int r = 0; r < R; ++r) split = split || (r != main_r && plan.regions[r].used > 0);
    if (split) {
      plan.split_bytes = plan.arena_bytes;
      // compact: the split must not cost more RAM than one arena in the main region.
      if (opts.placement == "compact" && plan.arena_bytes > single.peak) {
        for (int r = 0; r < R; ++r) members[r].clear();
        members[main_r] = all;
        finish();
      }
    }
    return plan;
  }

  // 3. No single region holds the arena: split the buffers, largest first, each into the
  // region (largest first) where it fits next to the buffers already there.
  std::vector<int> regions_by_cap(R);
  std::iota(regions_by_cap.begin(), regions_by_cap.end(), 0);
  std::stable_sort(regions_by_cap.begin(), regions_by_cap.end(),
                   [&](int a, int b) { return ram[a]->capacity > ram[b]->capacity; });
  uint64_t total_cap = 0;
  for (const RegionSpec* r : ram) total_cap += r->capacity;
  std::vector<std::vector<std::pair<size_t, size_t>>> placed_at(R);  // unused helper
  (void)placed_at;
  for (int i : order_by_size(iv)) {
    bool ok = false;
    for (int r : regions_by_cap) {
      members[r].push_back(i);
      if (assign_greedy_by_size(intervals_of(plan, members[r]), A).peak <= ram[r]->capacity) {
        ok = true;
        break;
      }
      members[r].pop_back();
    }
    if (!ok) {
      const RegionSpec& big = *ram[regions_by_cap[0]];
      bool has_float = false;
      for (const auto& bb : plan.buffers)
        for (const Value* v : bb.tensors) has_float = has_float || v->dtype == DType::F32;
      const std::string fix = fmt::format(
          "what would help: {}reserve less memory (--reserve), a smaller input or batch (--dim), or a target "
          "with more RAM",
          has_float ? "quantize the model to int8 (4x smaller activations), " : "");
      if (R == 1)
        throw FitError("", fmt::format("target '{}': the activation arena needs {} bytes but region '{}' has {} bytes "
                                       "({} bytes over budget{}); {}; {}",
                                       opts.target, single.peak, big.name, big.capacity, single.peak - big.capacity,
                                       big.reserved ? fmt::format(", {} bytes reserved", big.reserved) : "",
                                       peak_description(g, plan, all, A), fix));
      throw FitError("", fmt::format("target '{}': the activation arena needs {} bytes; no RAM region holds it (the "
                                     "largest, '{}', has {} bytes: {} bytes over budget) and split over all {} RAM "
                                     "regions ({} bytes) tensor '{}' ({} bytes) finds no room; {}; {}",
                                     opts.target, single.peak, big.name, big.capacity, single.peak - big.capacity, R,
                                     total_cap, plan.buffers[i].name, plan.buffers[i].size,
                                     peak_description(g, plan, all, A), fix));
    }
  }
  finish();
  // The final per-region plans are at most the greedy ones checked above.
  for (int r = 0; r < R; ++r)
    if (plan.regions[r].used > ram[r]->capacity)
      throw FitError("", fmt::format("internal error: region '{}' overfull", ram[r]->name));
  return plan;
}

std::string reserve_in_largest_ram(PlanOptions& mem, uint64_t bytes, const std::string& where,
                                   const std::string& what) {
  RegionSpec* best = nullptr;
  for (auto& r : mem.regions)
    if (r.kind == "ram" && (!best || r.capacity > best->capacity)) best = &r;
  if (!best) return "";
  if (bytes > best->capacity)
    throw FitError(where, fmt::format("{} does not fit the largest RAM region {} ({} bytes free)", what, best->name,
                                      best->capacity));
  best->capacity -= bytes;
  best->reserved += bytes;
  return best->name;
}

void check_weights_fit(size_t weight_bytes, const PlanOptions& opts) {
  if (opts.regions.empty()) return;
  const RegionSpec* flash = nullptr;
  for (const auto& r : opts.regions)
    if (r.kind == "flash" && (!flash || r.capacity > flash->capacity)) flash = &r;
  if (!flash) return;
  if (weight_bytes > flash->capacity)
    throw FitError("", fmt::format("target '{}': the weights need {} bytes but region '{}' has {} bytes ({} bytes "
                                   "over budget{}), before any code; what would help: quantize the weights to int8 "
                                   "(4x smaller), reserve less flash, or a target with more flash",
                                   opts.target, weight_bytes, flash->name, flash->capacity,
                                   weight_bytes - flash->capacity,
                                   flash->reserved ? fmt::format(", {} bytes reserved", flash->reserved) : ""));
}

}  // namespace tinyodlc::backends
