#include "backends/cpp_emitter.h"

#include <cctype>
#include <set>

#include <fmt/format.h>

#include "backends/kernel_variants.h"
#include "backends/memory_report.h"
#include "support/template_engine.h"
#include "support/embedded.h"
#include "support/json.h"
#include "ir/op_registry.h"
#include "passes/training.h"

namespace tinyodlc::backends {

using namespace ir;
using backends::Storage;

std::string sanitize_identifier(const std::string& s) {
  std::string r;
  for (char c : s) r += (std::isalnum(static_cast<unsigned char>(c)) ? c : '_');
  if (r.empty() || std::isdigit(static_cast<unsigned char>(r[0]))) r = "t_" + r;
  return r;
}

namespace {

// Formats the elements of a constant as C++ initializers, 10 per line.
std::string format_elements(const TensorData& t) {
  std::string out;
  const int64_t n = t.numel();
  out.reserve(static_cast<size_t>(n) * 8);
  for (int64_t i = 0; i < n; ++i) {
    if (i % 10 == 0) out += "\n    ";
    dispatch(AllTypes{}, t.dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T v = t.data<T>()[i];
      if constexpr (std::is_same_v<T, bool>) out += v ? "true" : "false";
      else if constexpr (std::is_floating_point_v<T>) out += cpp_literal(v);
      else if constexpr (std::is_signed_v<T>) out += cpp_literal(static_cast<int64_t>(v));
      else out += cpp_literal(static_cast<uint64_t>(v));
    });
    out += ", ";
  }
  return out;
}

// The code of one entry point (inference: invoke(); training: the training step).
struct Fn {
  const Graph* g = nullptr;
  std::string tag;  // prefix of the names local to this function's parameter arrays
  std::vector<KernelCall> calls;
  backends::MemoryPlan plan;
  std::unordered_map<const Value*, std::string> io_names;
  std::vector<std::string> out_names;
  std::string body;
  int next_tmp = 0;
};

class Emitter {
 public:
  Emitter(const Graph& g, const EmitOptions& o) : opts_(o) { main_.g = &g; }

  EmitResult run() {
    backends::PlanOptions mem = opts_.memory;
    if (opts_.training) {
      train_.g = opts_.training;
      train_.tag = "t";
      layout_state();
      reserve_state(mem);
    }
    lower_and_plan(main_, mem);
    result_.plan = main_.plan;
    if (opts_.training) {
      lower_and_plan(train_, mem);
      result_.training_plan = train_.plan;
    }
    name_values(main_);
    if (opts_.training) name_values(train_);
    std::map<std::string, std::string> vars = common_vars(main_);
    vars["body"] = body(main_);
    vars["training_decls"] = "";
    vars["training_defs"] = "";
    vars["state_decl"] = "";
    if (opts_.training) training_vars(vars);
    vars["constants"] = constants_;
    vars["includes"] = includes();
    vars["params"] = params_;
    vars["input_infos"] = infos(main_.g->inputs, "in");
    vars["output_infos"] = infos(main_.g->outputs, "out");
    vars["io_dims"] = io_dims_;
    vars["generic_args"] = generic_args(main_);
    vars["arena_decl"] = arena_decls();
    vars["weight_bytes"] = std::to_string(result_.weight_bytes);
    vars["arena_bytes"] = std::to_string(arena_total_);
    result_.files.push_back({opts_.name + ".h", render_embedded("templates/model.h.in", vars)});
    result_.files.push_back({opts_.name + ".cpp", render_embedded("templates/model.cpp.in", vars)});
    backends::check_weights_fit(result_.weight_bytes + result_.trainable_count * 4, opts_.memory);
    for (auto& f : memory_report_files(*main_.g, result_.plan, opts_.name, result_.weight_bytes, opts_.memory))
      result_.files.push_back(std::move(f));
    if (opts_.training) result_.files.push_back(training_report());
    for (const auto& f : embedded_files()) {
      const std::string prefix = "kernels/";
      std::string p(f.path);
      if (p.rfind(prefix, 0) == 0) result_.files.push_back({p.substr(prefix.size()), std::string(f.data)});
    }
    return std::move(result_);
  }

 private:
  // ---- training state ----------------------------------------------------------------
  // Blob layout: the trainable parameters in their order of first use in the training graph
  // (the inference graph uses a subset: an appended head is training-only... and used by both).
  void layout_state() {
    size_t off = 0;
    for (const Value* p : passes::trainable_params(*train_.g)) {
      if (p->dtype != DType::F32) fail(*p, "trainable parameters must be float32");
      if (!p->init) fail(*p, "trainable parameter without initial value");
      result_.trainable.push_back({p->name, p->shape, off, static_cast<size_t>(p->numel())});
      slot_of_[p->name] = result_.trainable.size() - 1;
      off += static_cast<size_t>(p->numel());
      off = (off + 3) / 4 * 4;  // 16-byte alignment of every parameter
    }
    result_.trainable_count = off;
    const size_t blobs = opts_.optimizer.kind == "adam" ? 4 : (opts_.optimizer.kind == "momentum" ? 3 : 2);
    result_.state_bytes = blobs * off * sizeof(float);
  }

  // The persistent training state takes RAM next to the arenas: it is reserved in the
  // largest RAM region before planning (so a plan that fits leaves room for it).
  void reserve_state(backends::PlanOptions& mem) {
    int best = -1;
    for (size_t i = 0; i < mem.regions.size(); ++i)
      if (mem.regions[i].kind == "ram" &&
          (best < 0 || mem.regions[i].capacity - mem.regions[i].reserved >
                           mem.regions[best].capacity - mem.regions[best].reserved))
        best = static_cast<int>(i);
    if (best < 0) return;  // host: unlimited
    auto& r = mem.regions[best];
    if (r.reserved + result_.state_bytes > r.capacity)
      throw backends::FitError("", fmt::format("the training state ({} bytes: parameters, gradients, optimizer state) does "
                                             "not fit the largest RAM region {} ({} bytes free)",
                                             result_.state_bytes, r.name, r.capacity - r.reserved));
    r.reserved += result_.state_bytes;
    state_region_ = r.name;
  }

  void lower_and_plan(Fn& f, const backends::PlanOptions& mem) {
    std::vector<size_t> scratch;
    for (const auto& n : f.g->nodes()) {
      if (!n->def) fail(*n, "unsupported operator");
      if (!n->def->lower && !(n->def->is_view && backends::is_elided_view(*f.g, *n)))
        fail(*n, "operator has no kernel (it should have been removed by a pass)");
      f.calls.push_back(n->def->lower && !backends::is_elided_view(*f.g, *n) ? n->def->lower(*n) : KernelCall{});
      backends::apply_kernel_variant(f.calls.back(), opts_.isa);
      scratch.push_back(f.calls.back().scratch_bytes);
    }
    f.plan = backends::plan_memory(*f.g, scratch, mem);
  }

  std::map<std::string, std::string> common_vars(const Fn& f) {
    const Graph& g = *f.g;
    std::map<std::string, std::string> v;
    v["version"] = TINYODLC_VERSION;
    v["source"] = opts_.source.empty() ? "(memory)" : opts_.source;
    v["name"] = opts_.name;
    v["num_inputs"] = std::to_string(g.inputs.size());
    v["num_outputs"] = std::to_string(g.outputs.size());
    v["num_inputs_array"] = std::to_string(std::max<size_t>(g.inputs.size(), 1));
    v["num_outputs_array"] = std::to_string(std::max<size_t>(g.outputs.size(), 1));
    std::vector<std::string> params, args_doc;
    std::string doc = "// invoke() parameters, in graph order:\n";
    for (size_t i = 0; i < g.inputs.size(); ++i) {
      const Value* x = g.inputs[i];
      params.push_back(fmt::format("const {}* {}", dtype_ctype(x->dtype), f.io_names.at(x)));
      args_doc.push_back(f.io_names.at(x));
      doc += fmt::format("//   input  {}: {:<24} {} (ONNX tensor '{}')\n", i, f.io_names.at(x), x->type_str(), x->name);
    }
    for (size_t i = 0; i < g.outputs.size(); ++i) {
      const Value* x = g.outputs[i];
      params.push_back(fmt::format("{}* {}", dtype_ctype(x->dtype), f.out_names[i]));
      args_doc.push_back(f.out_names[i]);
      doc += fmt::format("//   output {}: {:<24} {} (ONNX tensor '{}')\n", i, f.out_names[i], x->type_str(), x->name);
    }
    v["invoke_params"] = fmt::format("{}", fmt::join(params, ", "));
    v["invoke_args_doc"] = fmt::format("{}", fmt::join(args_doc, ", "));
    v["io_doc"] = doc;
    return v;
  }

  // Assigns C++ expressions to the interface values of f, and emits the constants it uses
  // (shared between functions: one array per constant data).
  void name_values(Fn& f) {
    const Graph& g = *f.g;
    std::set<std::string> used;
    auto unique = [&](std::string base) {
      std::string s = base;
      for (int k = 1; used.count(s); ++k) s = fmt::format("{}_{}", base, k);
      used.insert(s);
      return s;
    };
    for (const Value* v : g.inputs) f.io_names[v] = unique("in_" + sanitize_identifier(v->name));
    for (const Value* v : g.outputs) f.out_names.push_back(unique("out_" + sanitize_identifier(v->name)));
    for (size_t i = 0; i < g.outputs.size(); ++i)
      if (!expr_.count(g.outputs[i]) && f.plan.storage[g.outputs[i]] == Storage::GraphOutput)
        expr_[g.outputs[i]] = f.out_names[i];
    for (const Value* v : g.inputs) expr_[v] = f.io_names[v];
    std::vector<const Value*> consts;
    std::set<const Value*> seen;
    auto note = [&](const Value* v) {
      if (v && v->is_constant() && seen.insert(v).second) consts.push_back(v);
    };
    for (const auto& n : g.nodes())
      for (const Value* in : n->inputs) note(in);
    for (const Value* o : g.outputs) note(o);
    for (const Value* c : consts) {
      if (c->numel() == 0) {
        expr_[c] = fmt::format("static_cast<const {}*>(nullptr)", dtype_ctype(c->dtype));
        continue;
      }
      auto it = const_ids_.find(c->constant.get());
      if (it != const_ids_.end()) {
        expr_[c] = it->second;
        continue;
      }
      std::string id = unique_global("w_" + sanitize_identifier(c->name));
      const std::string wsec = weights_section(opts_.name, f.plan);
      // [[maybe_unused]]: a constant input may be folded into kernel parameters (Pad's pads),
      // and clang's -Wunused-const-variable (in -Wall) would reject the array.
      constants_ += fmt::format("// '{}' {}\n[[maybe_unused]] alignas(16) const {} {}[{}]{} = {{{}\n}};\n", c->name,
                                c->type_str(), dtype_ctype(c->dtype), id, c->numel(),
                                wsec.empty() ? "" : fmt::format(" __attribute__((section(\"{}\")))", wsec),
                                format_elements(*c->constant));
      result_.weight_bytes += c->nbytes();
      const_ids_[c->constant.get()] = id;
      expr_[c] = id;
    }
  }

  std::string unique_global(const std::string& base) {
    std::string s = base;
    for (int k = 1; globals_.count(s); ++k) s = fmt::format("{}_{}", base, k);
    globals_.insert(s);
    return s;
  }

  // One static arena per memory region, sized for the larger of the functions' plans (they
  // never run at the same time).
  std::string arena_decls() {
    std::vector<const backends::MemoryPlan*> plans = {&main_.plan};
    if (opts_.training) plans.push_back(&train_.plan);
    std::string r;
    arena_total_ = 0;
    for (size_t i = 0; i < main_.plan.regions.size(); ++i) {
      size_t used = 0;
      for (const auto* p : plans)
        if (i < p->regions.size()) used = std::max(used, p->regions[i].used);
      if (!used) continue;
      arena_total_ += used;
      const auto& reg = main_.plan.regions[i];
      const std::string sec = arena_section(opts_.name, main_.plan, static_cast<int>(i));
      if (!r.empty()) r += "\n";
      if (!sec.empty()) r += fmt::format("// {} bytes in {} (0x{:08x})\n", used, reg.name, reg.base);
      r += fmt::format("alignas(16) uint8_t {}[{}]{};", arena_symbol(main_.plan, static_cast<int>(i)), used,
                       sec.empty() ? "" : fmt::format(" __attribute__((section(\"{}\")))", sec));
    }
    return r.empty() ? "// (this model needs no arena)" : r;
  }

  std::string includes() {
    std::set<std::string> hs;
    bool limits = false;
    for (const Fn* f : {&main_, &train_})
      for (const auto& c : f->calls) {
        if (!c.header.empty()) hs.insert(c.header);
        for (const auto& a : c.args)
          if (a.literal.find("numeric_limits") != std::string::npos) limits = true;
      }
    if (opts_.training) hs.insert("tinyodlc/ref/train.h");
    if (constants_.find("numeric_limits") != std::string::npos) limits = true;
    std::string r;
    if (limits) r += "#include <limits>\n";
    if (!r.empty() || !hs.empty()) r += "\n";
    for (const auto& h : hs) r += fmt::format("#include \"{}\"\n", h);
    return r;
  }

  // Pointer expression for a value inside f's function body.
  std::string value_expr(Fn& f, const Value* v) {
    auto it = expr_.find(v);
    if (it != expr_.end()) return it->second;
    const auto& plan = f.plan;
    Storage s = plan.storage.at(v);
    if (s == Storage::State) {
      const bool grad = v->state == Value::State::Grad;
      auto st = slot_of_.find(grad ? v->state_of : v->name);
      if (st == slot_of_.end()) fail(*v, "internal error: training state without a slot");
      std::string e = fmt::format("({} + {})", grad ? "g_grads" : "g_params", result_.trainable[st->second].offset);
      expr_[v] = e;
      return e;
    }
    if (s == Storage::Alias) {
      const Value* root = plan.alias_root.at(v);
      std::string e = value_expr(f, root);
      expr_[v] = e;
      return e;
    }
    if (s == Storage::Arena) {
      const backends::Buffer& b = plan.buffers[plan.buffer_of.at(v)];
      std::string id = fmt::format("t{}", f.next_tmp++);
      f.body += fmt::format("  {}* const {} = reinterpret_cast<{}*>({} + {});  // '{}' {}\n", dtype_ctype(v->dtype), id,
                            dtype_ctype(v->dtype), arena_symbol(plan, b.region), b.offset, v->name, v->type_str());
      expr_[v] = id;
      return id;
    }
    fail(*v, "internal error: value has no storage");
  }

  std::string body(Fn& f) {
    const Graph& g = *f.g;
    int step = 0;
    for (const auto& n : g.nodes()) {
      if (f.plan.elided[step]) {
        f.body += fmt::format("  // {} ({}): view, no code\n", n->name, n->op);
        ++step;
        continue;
      }
      const KernelCall& c = f.calls[step];
      std::vector<std::string> args;
      // Declare pointers first so the comment sits right above the call.
      for (const auto& a : c.args) {
        if (a.kind == KernelArg::Kind::Input && n->input(a.index)) value_expr(f, n->inputs[a.index]);
        if (a.kind == KernelArg::Kind::InputArray)
          for (int k : a.indices) value_expr(f, n->inputs.at(k));
        if (a.kind == KernelArg::Kind::Output && n->output(a.index)) value_expr(f, n->outputs[a.index]);
        if (a.kind == KernelArg::Kind::OutputArray)
          for (int k : a.indices)
            if (n->output(k)) value_expr(f, n->outputs[k]);
      }
      int argi = 0;
      for (const auto& a : c.args) {
        switch (a.kind) {
          case KernelArg::Kind::Input:
            args.push_back(n->input(a.index) ? value_expr(f, n->inputs[a.index]) : "nullptr");
            break;
          case KernelArg::Kind::Output:
            args.push_back(n->output(a.index) ? value_expr(f, n->outputs[a.index]) : "nullptr");
            break;
          case KernelArg::Kind::InputArray: {
            std::vector<std::string> ptrs;
            std::string ctype;
            for (int k : a.indices) {
              ptrs.push_back(value_expr(f, n->inputs.at(k)));
              ctype = std::string(dtype_ctype(n->inputs.at(k)->dtype));
            }
            std::string id = fmt::format("s{}_{}", step, argi);
            f.body += fmt::format("  const {}* const {}[] = {{{}}};\n", ctype, id, fmt::join(ptrs, ", "));
            args.push_back(id);
            break;
          }
          case KernelArg::Kind::OutputArray: {
            std::vector<std::string> ptrs;
            std::string ctype;
            for (int k : a.indices) {
              const Value* o = n->output(k);
              ptrs.push_back(o ? value_expr(f, o) : "nullptr");
              if (o) ctype = std::string(dtype_ctype(o->dtype));
            }
            std::string id = fmt::format("s{}_{}", step, argi);
            f.body += fmt::format("  {}* const {}[] = {{{}}};\n", ctype, id, fmt::join(ptrs, ", "));
            args.push_back(id);
            break;
          }
          case KernelArg::Kind::Scratch: {
            const backends::Buffer& b = f.plan.buffers[f.plan.scratch_buffer[step]];
            args.push_back(fmt::format("{} + {}", arena_symbol(f.plan, b.region), b.offset));
            break;
          }
          case KernelArg::Kind::Null: args.push_back("nullptr"); break;
          case KernelArg::Kind::Literal: args.push_back(a.literal); break;
          case KernelArg::Kind::IntArray:
          case KernelArg::Kind::FloatArray: {
            bool ints = a.kind == KernelArg::Kind::IntArray;
            size_t size = ints ? a.ints.size() : a.floats.size();
            if (size == 0) {
              args.push_back("nullptr");
              break;
            }
            std::vector<std::string> vals;
            if (ints)
              for (int32_t x : a.ints) vals.push_back(std::to_string(x));
            else
              for (float x : a.floats) vals.push_back(cpp_literal(x));
            std::string id = fmt::format("{}p{}_{}", f.tag, step, argi);
            params_ += fmt::format("const {} {}[] = {{{}}};\n", ints ? "int32_t" : "float", id, fmt::join(vals, ", "));
            args.push_back(id);
            break;
          }
        }
        ++argi;
      }
      f.body += fmt::format("  // {} ({})\n  {}({});\n", n->name, n->op, c.callee, fmt::join(args, ", "));
      ++step;
    }
    // Graph outputs not written in place by a kernel: copy them.
    for (size_t i = 0; i < g.outputs.size(); ++i) {
      const Value* v = g.outputs[i];
      std::string src = value_expr(f, v);
      if (src == f.out_names[i] || v->nbytes() == 0) continue;
      f.body += fmt::format("  memcpy({}, {}, {});  // output '{}'\n", f.out_names[i], src, v->nbytes(), v->name);
    }
    std::string pre;
    if (opts_.training) pre += "  ensure_trainable();\n";
    for (const Value* v : g.inputs) pre += fmt::format("  (void){};\n", f.io_names[v]);
    for (const auto& o : f.out_names) pre += fmt::format("  (void){};\n", o);
    return pre + f.body;
  }

  std::string infos(const std::vector<Value*>& vs, const char* kind) {
    std::string r;
    for (size_t i = 0; i < vs.size(); ++i) {
      const Value* v = vs[i];
      std::string dims = "nullptr";
      if (!v->shape.empty()) {
        dims = fmt::format("k{}_dims_{}", kind, i);
        io_dims_ += fmt::format("const int32_t {}[] = {{{}}};\n", dims, fmt::join(v->shape, ", "));
      }
      r += fmt::format("    {{\"{}\", {}, {}, {}, {}}},\n", v->name, dtype_to_onnx(v->dtype), v->shape.size(), dims,
                       v->nbytes());
    }
    if (vs.empty()) r = "    {\"\", 0, 0, nullptr, 0},\n";
    return r;
  }

  std::string generic_args(const Fn& f) {
    const Graph& g = *f.g;
    std::vector<std::string> a;
    for (size_t i = 0; i < g.inputs.size(); ++i)
      a.push_back(fmt::format("static_cast<const {}*>(inputs[{}])", dtype_ctype(g.inputs[i]->dtype), i));
    for (size_t i = 0; i < g.outputs.size(); ++i)
      a.push_back(fmt::format("static_cast<{}*>(outputs[{}])", dtype_ctype(g.outputs[i]->dtype), i));
    return fmt::format("{}", fmt::join(a, ", "));
  }

  // ---- training API ----------------------------------------------------------------------
  void training_vars(std::map<std::string, std::string>& vars) {
    const Graph& tg = *train_.g;
    std::map<std::string, std::string> t = vars;
    t["train_body"] = body(train_);
    std::vector<std::string> params, args, gen;
    std::string doc;
    for (size_t i = 0; i < tg.inputs.size(); ++i) {
      const Value* x = tg.inputs[i];
      params.push_back(fmt::format("const {}* {}", dtype_ctype(x->dtype), train_.io_names.at(x)));
      args.push_back(train_.io_names.at(x));
      gen.push_back(fmt::format("static_cast<const {}*>(inputs[{}])", dtype_ctype(x->dtype), i));
      doc += fmt::format("//   {:<24} {} (ONNX tensor '{}')\n", train_.io_names.at(x), x->type_str(), x->name);
    }
    t["train_params"] = fmt::format("{}", fmt::join(params, ", "));
    t["train_args"] = fmt::format("{}", fmt::join(args, ", "));
    t["train_generic_args"] = fmt::format("{}", fmt::join(gen, ", "));
    t["train_doc"] = doc;
    t["train_num_inputs"] = std::to_string(tg.inputs.size());
    t["label_bytes"] = std::to_string(tg.inputs.back()->nbytes());
    t["loss_out"] = train_.out_names.at(0);
    const auto& o = opts_.optimizer;
    t["optimizer"] = o.kind;
    t["opt_kind"] = o.kind == "adam" ? "2" : (o.kind == "momentum" ? "1" : "0");
    t["lr"] = cpp_literal(o.lr);
    t["momentum"] = cpp_literal(o.momentum);
    t["weight_decay"] = cpp_literal(o.weight_decay);
    t["beta1"] = cpp_literal(o.beta1);
    t["beta2"] = cpp_literal(o.beta2);
    t["eps"] = cpp_literal(o.eps);
    t["batch"] = std::to_string(o.batch);
    t["num_trainable"] = std::to_string(result_.trainable.size());
    t["trainable_count"] = std::to_string(std::max<size_t>(result_.trainable_count, 1));
    t["state_bytes"] = std::to_string(result_.state_bytes);
    t["training_arena_bytes"] = std::to_string(train_.plan.arena_bytes);
    std::string infos, init;
    for (const auto& s : result_.trainable) {
      infos += fmt::format("    {{\"{}\", {}, {}}},\n", s.name, s.offset, s.count);
    }
    // Initial values (flash), in blob order with the alignment padding.
    std::vector<float> blob(result_.trainable_count, 0.0f);
    for (const auto& v : train_.g->values())
      if (v->is_param()) {
        auto it = slot_of_.find(v->name);
        if (it == slot_of_.end()) continue;
        const auto& s = result_.trainable[it->second];
        for (size_t i = 0; i < s.count; ++i) blob[s.offset + i] = v->init->data<float>()[i];
      }
    TensorData bt(DType::F32, {static_cast<int64_t>(blob.size())});
    for (size_t i = 0; i < blob.size(); ++i) bt.data<float>()[i] = blob[i];
    const std::string wsec = weights_section(opts_.name, main_.plan);
    t["trainable_infos"] = infos;
    t["trainable_init"] = fmt::format("alignas(16) const float kTrainableInit[{}]{} = {{{}\n}};", blob.size() ? blob.size() : 1,
                                      wsec.empty() ? "" : fmt::format(" __attribute__((section(\"{}\")))", wsec),
                                      blob.empty() ? "0" : format_elements(bt));
    result_.weight_bytes += blob.size() * sizeof(float);
    std::string sec;
    if (!state_region_.empty())
      for (size_t i = 0; i < main_.plan.regions.size(); ++i)
        if (main_.plan.regions[i].name == state_region_) sec = arena_section(opts_.name, main_.plan, static_cast<int>(i));
    t["state_section"] = sec.empty() ? "" : fmt::format(" __attribute__((section(\"{}\")))", sec);
    t["adam_decl"] = o.kind == "adam" ? fmt::format("alignas(16) float g_adam_v[{}]{};", t["trainable_count"], t["state_section"])
                                      : "";
    t["moment_decl"] = o.kind != "sgd" ? fmt::format("alignas(16) float g_moment[{}]{};", t["trainable_count"], t["state_section"])
                                       : "";
    const std::string n = t["trainable_count"];
    if (o.kind == "adam") {
      t["opt_reset"] = "  memset(g_moment, 0, sizeof(g_moment));\n  memset(g_adam_v, 0, sizeof(g_adam_v));\n";
      t["opt_step"] = fmt::format("  tinyodlc::ref::adam_step(g_params, g_grads, g_moment, g_adam_v, {}, g_train.lr, {}, {}, {}, "
                                  "g_train.weight_decay, count, g_train.step);", n, t["beta1"], t["beta2"], t["eps"]);
    } else if (o.kind == "momentum") {
      t["opt_reset"] = "  memset(g_moment, 0, sizeof(g_moment));\n";
      t["opt_step"] = fmt::format("  tinyodlc::ref::sgd_step(g_params, g_grads, g_moment, {}, g_train.lr, {}, "
                                  "g_train.weight_decay, count);", n, t["momentum"]);
    } else {
      t["opt_reset"] = "";
      t["opt_step"] = fmt::format("  tinyodlc::ref::sgd_step(g_params, g_grads, nullptr, {}, g_train.lr, 0.0f, "
                                  "g_train.weight_decay, count);", n);
    }
    vars["training_decls"] = render_embedded("templates/training.h.in", t);
    vars["training_defs"] = render_embedded("templates/training.cpp.in", t);
    vars["state_decl"] = render_embedded("templates/training_state.cpp.in", t);
  }

  // training.json: forward-only and training-step memory, separately (docs/training.md).
  GeneratedFile training_report() {
    const auto& tp = train_.plan;
    const auto& ip = main_.plan;
    const size_t params = result_.trainable_count * sizeof(float);
    const size_t arena = std::max(ip.arena_bytes, tp.arena_bytes);
    std::vector<std::string> list;
    for (const auto& s : result_.trainable)
      list.push_back(fmt::format("    {{\"name\": {}, \"shape\": \"{}\", \"offset\": {}, \"count\": {}}}",
                                 json::quote(s.name), shape_str(s.shape), s.offset, s.count));
    std::string o = "{\n";
    o += fmt::format("  \"model\": {},\n  \"optimizer\": {},\n  \"batch\": {},\n", json::quote(opts_.name),
                     json::quote(opts_.optimizer.kind), opts_.optimizer.batch);
    size_t real = 0;
    for (const auto& s : result_.trainable) real += s.count;
    o += fmt::format("  \"trainable_parameters\": {},\n  \"blob_floats\": {},\n  \"trainable\": [\n{}\n  ],\n", real,
                     result_.trainable_count, fmt::join(list, ",\n"));
    o += fmt::format("  \"inference_arena_bytes\": {},\n  \"inference_lower_bound_bytes\": {},\n", ip.arena_bytes,
                     ip.lower_bound);
    o += fmt::format("  \"training_arena_bytes\": {},\n  \"training_lower_bound_bytes\": {},\n", tp.arena_bytes,
                     tp.lower_bound);
    o += fmt::format("  \"parameter_bytes\": {},\n  \"gradient_bytes\": {},\n  \"optimizer_state_bytes\": {},\n", params,
                     params, result_.state_bytes - 2 * params);
    o += fmt::format("  \"state_bytes\": {},\n", result_.state_bytes);
    o += fmt::format("  \"forward_ram_bytes\": {},\n", ip.arena_bytes + params);
    o += fmt::format("  \"training_ram_bytes\": {},\n", arena + result_.state_bytes);
    o += fmt::format("  \"training_extra_ram_bytes\": {},\n", arena + result_.state_bytes - ip.arena_bytes);
    o += fmt::format("  \"training_nodes\": {},\n  \"inference_nodes\": {}\n}}\n", train_.g->nodes().size(),
                     main_.g->nodes().size());
    return {"training.json", o};
  }

  const EmitOptions& opts_;
  Fn main_, train_;
  EmitResult result_;
  std::unordered_map<const Value*, std::string> expr_;
  std::unordered_map<const TensorData*, std::string> const_ids_;
  std::map<std::string, size_t> slot_of_;
  std::set<std::string> globals_;
  std::string constants_, params_, io_dims_, state_region_;
  size_t arena_total_ = 0;
};

}  // namespace

EmitResult emit_cpp(const Graph& g, const EmitOptions& opts) { return Emitter(g, opts).run(); }

std::string emit_host_harness(const EmitOptions& opts) {
  return render_embedded("harness/host_harness.cpp.in", {{"version", TINYODLC_VERSION}, {"name", opts.name}});
}

std::string emit_train_harness(const EmitOptions& opts) {
  return render_embedded("harness/train_harness.cpp.in", {{"version", TINYODLC_VERSION}, {"name", opts.name}});
}

}  // namespace tinyodlc::backends
