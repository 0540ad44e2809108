// The body of one entry point of the generated code (invoke(), the training step): a pointer
// into the arena per intermediate tensor, one kernel call per node (literal arguments annotated
// with the kernel's parameter names, parameter arrays named after the node), the copies of the
// graph outputs, and the optional per-layer profiling markers; plus the arena declarations.
#include <fmt/format.h>

#include "backends/emitter_state.h"
#include "backends/kernel_variants.h"
#include "backends/memory_report.h"
#include "ir/op_registry.h"

namespace tinyodlc::backends::detail {

using namespace ir;

namespace {

// Pointer expression for a value inside f's function body (declares arena pointers on first use).
std::string value_expr(EmitState& st, Fn& f, const Value* v) {
  auto it = st.expr.find(v);
  if (it != st.expr.end()) return it->second;
  const auto& plan = f.plan;
  Storage s = plan.storage.at(v);
  if (s == Storage::State) {
    const bool grad = v->state == Value::State::Grad;
    auto slot = st.slot_of.find(grad ? v->state_of : v->name);
    if (slot == st.slot_of.end()) fail(*v, "internal error: training state without a slot");
    std::string e = fmt::format("({} + {})", grad ? "g_grads" : "g_params", st.result.trainable[slot->second].offset);
    st.expr[v] = e;
    return e;
  }
  if (s == Storage::Alias) {
    std::string e = value_expr(st, f, plan.alias_root.at(v));
    st.expr[v] = e;
    return e;
  }
  if (s == Storage::Arena) {
    const Buffer& b = plan.buffers[plan.buffer_of.at(v)];
    std::string id = fmt::format("t{}", f.next_tmp++);
    f.body += fmt::format("  {}* const {} = reinterpret_cast<{}*>({} + {});  // '{}' {}\n", dtype_ctype(v->dtype), id,
                          dtype_ctype(v->dtype), arena_symbol(plan, b.region), b.offset, v->name, v->type_str());
    st.expr[v] = id;
    return id;
  }
  fail(*v, "internal error: value has no storage");
}

// A C string literal.
std::string c_string(const std::string& s) {
  std::string r = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') r += '\\';
    if (static_cast<unsigned char>(c) < 0x20) r += fmt::format("\\{:03o}", static_cast<unsigned>(c));
    else r += c;
  }
  return r + "\"";
}

void profile_marker(EmitState& st, Fn& f, int node, const std::string& label) {
  if (!f.profile) return;
  f.body += fmt::format("  TINYODLC_PROFILE_LAYER({}, {});\n", st.result.profiled_nodes.size(), c_string(label));
  st.result.profiled_nodes.push_back(node);
}

// The argument list of the kernel call of node n (step `step` of f).
std::vector<std::string> call_args(EmitState& st, Fn& f, const Node& n, const KernelCall& c, int step) {
  const std::vector<std::string> names = kernel_param_names(c);
  auto pname = [&](size_t i) { return i < names.size() ? names[i] : fmt::format("p{}", i); };
  std::vector<std::string> args;
  for (size_t argi = 0; argi < c.args.size(); ++argi) {
    const KernelArg& a = c.args[argi];
    switch (a.kind) {
      case KernelArg::Kind::Input:
        args.push_back(n.input(a.index) ? value_expr(st, f, n.inputs[a.index]) : "nullptr");
        break;
      case KernelArg::Kind::Output:
        args.push_back(n.output(a.index) ? value_expr(st, f, n.outputs[a.index]) : "nullptr");
        break;
      case KernelArg::Kind::InputArray:
      case KernelArg::Kind::OutputArray: {
        const bool in = a.kind == KernelArg::Kind::InputArray;
        std::vector<std::string> ptrs;
        std::string ctype;
        for (int k : a.indices) {
          const Value* v = in ? n.inputs.at(k) : n.output(k);
          ptrs.push_back(v ? value_expr(st, f, v) : "nullptr");
          if (v) ctype = std::string(dtype_ctype(v->dtype));
        }
        std::string id = fmt::format("s{}_{}", step, argi);
        f.body += fmt::format("  {}{}* const {}[] = {{{}}};\n", in ? "const " : "", ctype, id, fmt::join(ptrs, ", "));
        args.push_back(id);
        break;
      }
      case KernelArg::Kind::Scratch: {
        const Buffer& b = f.plan.buffers[f.plan.scratch_buffer[step]];
        args.push_back(fmt::format("{} + {}", arena_symbol(f.plan, b.region), b.offset));
        break;
      }
      case KernelArg::Kind::Null: args.push_back("nullptr"); break;
      case KernelArg::Kind::Literal: args.push_back(fmt::format("/*{}=*/{}", pname(argi), a.literal)); break;
      case KernelArg::Kind::IntArray:
      case KernelArg::Kind::FloatArray: {
        const bool ints = a.kind == KernelArg::Kind::IntArray;
        std::vector<std::string> vals;
        if (ints)
          for (int32_t x : a.ints) vals.push_back(std::to_string(x));
        else
          for (float x : a.floats) vals.push_back(cpp_literal(x));
        if (vals.empty()) {
          args.push_back("nullptr");
          break;
        }
        args.push_back(param_array(st, ints ? "int32_t" : "float", vals, node_identifier(n.name), pname(argi)));
        break;
      }
    }
  }
  return args;
}

}  // namespace

void lower_and_plan(Fn& f, const PlanOptions& mem, const std::string& isa) {
  std::vector<size_t> scratch;
  for (const auto& n : f.g->nodes()) {
    if (!n->def) fail(*n, "unsupported operator");
    if (!n->def->lower && !(n->def->is_view && is_elided_view(*f.g, *n)))
      fail(*n, "operator has no kernel (it should have been removed by a pass)");
    f.calls.push_back(n->def->lower && !is_elided_view(*f.g, *n) ? n->def->lower(*n) : KernelCall{});
    apply_kernel_variant(f.calls.back(), isa);  // an optimized kernel for the target's ISA, if any
    scratch.push_back(f.calls.back().scratch_bytes);
  }
  f.plan = plan_memory(*f.g, scratch, mem);
}

std::string function_body(EmitState& st, Fn& f) {
  const Graph& g = *f.g;
  int step = 0;
  for (const auto& n : g.nodes()) {
    if (f.plan.elided[step]) {
      f.body += fmt::format("  // {} ({}): view, no code\n", n->name, n->op);
      ++step;
      continue;
    }
    const KernelCall& c = f.calls[step];
    // Declare the pointers first so that the comment sits right above the call.
    for (const auto& a : c.args) {
      if (a.kind == KernelArg::Kind::Input && n->input(a.index)) value_expr(st, f, n->inputs[a.index]);
      if (a.kind == KernelArg::Kind::InputArray)
        for (int k : a.indices) value_expr(st, f, n->inputs.at(k));
      if (a.kind == KernelArg::Kind::Output && n->output(a.index)) value_expr(st, f, n->outputs[a.index]);
      if (a.kind == KernelArg::Kind::OutputArray)
        for (int k : a.indices)
          if (n->output(k)) value_expr(st, f, n->outputs[k]);
    }
    std::vector<std::string> args = call_args(st, f, *n, c, step);
    profile_marker(st, f, step, n->name);
    f.body += fmt::format("  // {} ({})\n  {}({});\n", n->name, n->op, c.callee, fmt::join(args, ", "));
    ++step;
  }
  // Graph outputs not written in place by a kernel: copy them.
  bool marked = false;
  for (size_t i = 0; i < g.outputs.size(); ++i) {
    const Value* v = g.outputs[i];
    std::string src = value_expr(st, f, v);
    if (src == f.out_names[i] || v->nbytes() == 0) continue;
    if (!marked) profile_marker(st, f, -1, "(output copies)");
    marked = true;
    f.body += fmt::format("  memcpy({}, {}, {});  // output '{}'\n", f.out_names[i], src, v->nbytes(), v->name);
  }
  std::string pre;
  if (st.opts.training) pre += "  ensure_trainable();\n";
  if (&f == &st.train && !st.runtime_prototypes.empty()) pre += "  load_enrolled_prototypes();\n";
  for (const Value* v : g.inputs) pre += fmt::format("  (void){};\n", f.io_names[v]);
  for (const auto& o : f.out_names) pre += fmt::format("  (void){};\n", o);
  return pre + f.body;
}

std::string arena_decls(EmitState& st) {
  std::vector<const MemoryPlan*> plans = {&st.main.plan};
  if (st.opts.training) plans.push_back(&st.train.plan);
  const MemoryPlan& mp = st.main.plan;
  std::string r;
  st.arena_total = 0;
  if (!st.opts.arena_symbol.empty()) {
    std::vector<std::string> used_regions;
    st.arena_externs.clear();
    for (size_t i = 0; i < mp.regions.size(); ++i) {
      size_t used = 0;
      for (const auto* p : plans)
        if (i < p->regions.size()) used = std::max(used, p->regions[i].used);
      if (!used) continue;
      used_regions.push_back(mp.regions[i].name);
      st.arena_total += used;
      const std::string sym = shared_arena_symbol(st.opts.arena_symbol, mp.regions[i].name,
                                                   st.opts.arena_symbol_per_region && mp.regions[i].capacity);
      st.arena_externs.push_back(sym);
      if (!r.empty()) r += "\n";
      r += fmt::format("// The shared arena (--arena-symbol): the firmware defines {0}[>= {1}] (16-byte aligned);\n"
                       "// models sharing it must not run concurrently.\nuint8_t* const {2} = {0};",
                       sym, used, arena_symbol(mp, static_cast<int>(i)));
    }
    if (used_regions.size() > 1 && !st.opts.arena_symbol_per_region)
      throw CompileError("--arena-symbol", fmt::format("a shared arena needs a plan in one RAM region, this plan uses {} "
                                                       "({}); reserve the other regions with --reserve REGION=SIZE",
                                                       used_regions.size(), fmt::join(used_regions, ", ")));
    return r.empty() ? "// (this model needs no arena)" : r;
  }
  for (size_t i = 0; i < mp.regions.size(); ++i) {
    size_t used = 0;
    for (const auto* p : plans)
      if (i < p->regions.size()) used = std::max(used, p->regions[i].used);
    if (!used) continue;
    st.arena_total += used;
    const auto& reg = mp.regions[i];
    const std::string sec = arena_section(st.opts.name, mp, static_cast<int>(i));
    if (!r.empty()) r += "\n";
    if (!sec.empty()) r += fmt::format("// {} bytes in {} (0x{:08x})\n", used, reg.name, reg.base);
    r += fmt::format("alignas(16) uint8_t {}[{}]{};", arena_symbol(mp, static_cast<int>(i)), used,
                     sec.empty() ? "" : fmt::format(" __attribute__((section(\"{}\")))", sec));
  }
  return r.empty() ? "// (this model needs no arena)" : r;
}

}  // namespace tinyodlc::backends::detail
