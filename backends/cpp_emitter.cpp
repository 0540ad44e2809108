#include "backends/cpp_emitter.h"

#include <cctype>
#include <set>

#include <fmt/format.h>

#include "backends/memory_report.h"
#include "backends/template_engine.h"
#include "compiler/embedded.h"
#include "ir/op_registry.h"

namespace tinyodlc::backends {

using namespace ir;
using passes::Storage;

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

class Emitter {
 public:
  Emitter(const Graph& g, const EmitOptions& o) : g_(g), opts_(o) {}

  EmitResult run() {
    // Lower every node once: the KernelCall gives both the code and the scratch size.
    std::vector<size_t> scratch;
    for (const auto& n : g_.nodes()) {
      if (!n->def) fail(*n, "unsupported operator");
      if (!n->def->lower && !(n->def->is_view && passes::is_elided_view(g_, *n)))
        fail(*n, "operator has no kernel (it should have been removed by a pass)");
      calls_.push_back(n->def->lower && !passes::is_elided_view(g_, *n) ? n->def->lower(*n) : KernelCall{});
      scratch.push_back(calls_.back().scratch_bytes);
    }
    result_.plan = passes::plan_memory(g_, scratch, opts_.memory);
    name_values();
    std::map<std::string, std::string> vars = common_vars();
    vars["constants"] = constants_;
    vars["body"] = body();
    vars["includes"] = includes();
    vars["params"] = params_;
    vars["input_infos"] = infos(g_.inputs, "in");
    vars["output_infos"] = infos(g_.outputs, "out");
    vars["io_dims"] = io_dims_;
    vars["generic_args"] = generic_args();
    vars["arena_decl"] = arena_decls();
    vars["weight_bytes"] = std::to_string(result_.weight_bytes);
    result_.files.push_back({opts_.name + ".h", render_embedded("model.h.in", vars)});
    result_.files.push_back({opts_.name + ".cpp", render_embedded("model.cpp.in", vars)});
    passes::check_weights_fit(result_.weight_bytes, opts_.memory);
    for (auto& f : memory_report_files(g_, result_.plan, opts_.name, result_.weight_bytes, opts_.memory))
      result_.files.push_back(std::move(f));
    for (const auto& f : embedded_files()) {
      const std::string prefix = "backends/kernels/";
      std::string p(f.path);
      if (p.rfind(prefix, 0) == 0) result_.files.push_back({p.substr(prefix.size()), std::string(f.data)});
    }
    return std::move(result_);
  }

  std::map<std::string, std::string> common_vars() {
    std::map<std::string, std::string> v;
    v["version"] = TINYODLC_VERSION;
    v["source"] = opts_.source.empty() ? "(memory)" : opts_.source;
    v["name"] = opts_.name;
    v["num_inputs"] = std::to_string(g_.inputs.size());
    v["num_outputs"] = std::to_string(g_.outputs.size());
    v["num_inputs_array"] = std::to_string(std::max<size_t>(g_.inputs.size(), 1));
    v["num_outputs_array"] = std::to_string(std::max<size_t>(g_.outputs.size(), 1));
    v["arena_bytes"] = std::to_string(result_.plan.arena_bytes);
    std::vector<std::string> params, args_doc;
    std::string doc = "// invoke() parameters, in graph order:\n";
    for (size_t i = 0; i < g_.inputs.size(); ++i) {
      const Value* v = g_.inputs[i];
      params.push_back(fmt::format("const {}* {}", dtype_ctype(v->dtype), io_names_.at(v)));
      args_doc.push_back(io_names_.at(v));
      doc += fmt::format("//   input  {}: {:<24} {} (ONNX tensor '{}')\n", i, io_names_.at(v), v->type_str(), v->name);
    }
    for (size_t i = 0; i < g_.outputs.size(); ++i) {
      const Value* v = g_.outputs[i];
      params.push_back(fmt::format("{}* {}", dtype_ctype(v->dtype), out_names_[i]));
      args_doc.push_back(out_names_[i]);
      doc += fmt::format("//   output {}: {:<24} {} (ONNX tensor '{}')\n", i, out_names_[i], v->type_str(), v->name);
    }
    v["invoke_params"] = fmt::format("{}", fmt::join(params, ", "));
    v["invoke_args_doc"] = fmt::format("{}", fmt::join(args_doc, ", "));
    v["io_doc"] = doc;
    return v;
  }

 private:
  // Assigns C++ expressions to all values, and emits constants.
  void name_values() {
    std::set<std::string> used;
    auto unique = [&](std::string base) {
      std::string s = base;
      for (int k = 1; used.count(s); ++k) s = fmt::format("{}_{}", base, k);
      used.insert(s);
      return s;
    };
    for (const Value* v : g_.inputs) io_names_[v] = unique("in_" + sanitize_identifier(v->name));
    for (const Value* v : g_.outputs) out_names_.push_back(unique("out_" + sanitize_identifier(v->name)));
    // Each output value written by a node goes to the first graph output slot naming it.
    for (size_t i = 0; i < g_.outputs.size(); ++i)
      if (!expr_.count(g_.outputs[i]) && result_.plan.storage[g_.outputs[i]] == Storage::GraphOutput)
        expr_[g_.outputs[i]] = out_names_[i];
    for (const Value* v : g_.inputs) expr_[v] = io_names_[v];
    // Constants used by nodes or outputs, in a deterministic order (by first use).
    std::vector<const Value*> consts;
    std::set<const Value*> seen;
    auto note = [&](const Value* v) {
      if (v && v->is_constant() && seen.insert(v).second) consts.push_back(v);
    };
    for (const auto& n : g_.nodes())
      for (const Value* in : n->inputs) note(in);
    for (const Value* o : g_.outputs) note(o);
    for (const Value* c : consts) {
      if (c->numel() == 0) {
        expr_[c] = fmt::format("static_cast<const {}*>(nullptr)", dtype_ctype(c->dtype));
        continue;
      }
      std::string id = unique("w_" + sanitize_identifier(c->name));
      const std::string wsec = weights_section(opts_.name, result_.plan);
      // [[maybe_unused]]: a constant input may be folded into kernel parameters (Pad's pads),
      // and clang's -Wunused-const-variable (in -Wall) would reject the array.
      constants_ += fmt::format("// '{}' {}\n[[maybe_unused]] alignas(16) const {} {}[{}]{} = {{{}\n}};\n", c->name,
                                c->type_str(),
                                dtype_ctype(c->dtype), id, c->numel(),
                                wsec.empty() ? "" : fmt::format(" __attribute__((section(\"{}\")))", wsec),
                                format_elements(*c->constant));
      result_.weight_bytes += c->nbytes();
      expr_[c] = id;
    }
  }

  // One static arena per memory region the plan uses (section attributes on targets).
  std::string arena_decls() {
    const auto& plan = result_.plan;
    std::string r;
    for (size_t i = 0; i < plan.regions.size(); ++i) {
      const auto& reg = plan.regions[i];
      if (!reg.used) continue;
      const std::string sec = arena_section(opts_.name, plan, static_cast<int>(i));
      if (!r.empty()) r += "\n";
      if (!sec.empty())
        r += fmt::format("// {} bytes in {} (0x{:08x})\n", reg.used, reg.name, reg.base);
      r += fmt::format("alignas(16) uint8_t {}[{}]{};", arena_symbol(plan, static_cast<int>(i)), reg.used,
                       sec.empty() ? "" : fmt::format(" __attribute__((section(\"{}\")))", sec));
    }
    return r.empty() ? "// (this model needs no arena)" : r;
  }

  std::string includes() {
    std::set<std::string> hs;
    bool limits = false;
    for (const auto& c : calls_) {
      if (!c.header.empty()) hs.insert(c.header);
      for (const auto& a : c.args)
        if (a.literal.find("numeric_limits") != std::string::npos) limits = true;
    }
    if (constants_.find("numeric_limits") != std::string::npos) limits = true;
    std::string r;
    if (limits) r += "#include <limits>\n";
    if (!r.empty() || !hs.empty()) r += "\n";
    for (const auto& h : hs) r += fmt::format("#include \"{}\"\n", h);
    return r;
  }

  // Pointer expression for a value inside invoke().
  std::string value_expr(const Value* v) {
    auto it = expr_.find(v);
    if (it != expr_.end()) return it->second;
    const auto& plan = result_.plan;
    Storage s = plan.storage.at(v);
    if (s == Storage::Alias) {
      const Value* root = plan.alias_root.at(v);
      std::string e = value_expr(root);
      expr_[v] = e;
      return e;
    }
    if (s == Storage::Arena) {
      const passes::Buffer& b = plan.buffers[plan.buffer_of.at(v)];
      std::string id = fmt::format("t{}", next_tmp_++);
      body_ += fmt::format("  {}* const {} = reinterpret_cast<{}*>({} + {});  // '{}' {}\n", dtype_ctype(v->dtype),
                           id, dtype_ctype(v->dtype), arena_symbol(plan, b.region), b.offset, v->name,
                           v->type_str());
      expr_[v] = id;
      return id;
    }
    fail(*v, "internal error: value has no storage");
  }

  std::string body() {
    int step = 0;
    for (const auto& n : g_.nodes()) {
      if (result_.plan.elided[step]) {
        body_ += fmt::format("  // {} ({}): view, no code\n", n->name, n->op);
        ++step;
        continue;
      }
      const KernelCall& c = calls_[step];
      std::vector<std::string> args;
      // Declare pointers first so the comment sits right above the call.
      for (const auto& a : c.args) {
        if (a.kind == KernelArg::Kind::Input && n->input(a.index)) value_expr(n->inputs[a.index]);
        if (a.kind == KernelArg::Kind::InputArray)
          for (int k : a.indices) value_expr(n->inputs.at(k));
        if (a.kind == KernelArg::Kind::Output && n->output(a.index)) value_expr(n->outputs[a.index]);
        if (a.kind == KernelArg::Kind::OutputArray)
          for (int k : a.indices)
            if (n->output(k)) value_expr(n->outputs[k]);
      }
      int argi = 0;
      for (const auto& a : c.args) {
        switch (a.kind) {
          case KernelArg::Kind::Input:
            args.push_back(n->input(a.index) ? value_expr(n->inputs[a.index]) : "nullptr");
            break;
          case KernelArg::Kind::Output:
            args.push_back(n->output(a.index) ? value_expr(n->outputs[a.index]) : "nullptr");
            break;
          case KernelArg::Kind::InputArray: {
            std::vector<std::string> ptrs;
            std::string ctype;
            for (int k : a.indices) {
              ptrs.push_back(value_expr(n->inputs.at(k)));
              ctype = std::string(dtype_ctype(n->inputs.at(k)->dtype));
            }
            std::string id = fmt::format("s{}_{}", step, argi);
            body_ += fmt::format("  const {}* const {}[] = {{{}}};\n", ctype, id, fmt::join(ptrs, ", "));
            args.push_back(id);
            break;
          }
          case KernelArg::Kind::OutputArray: {
            std::vector<std::string> ptrs;
            std::string ctype;
            for (int k : a.indices) {
              const Value* o = n->output(k);
              ptrs.push_back(o ? value_expr(o) : "nullptr");
              if (o) ctype = std::string(dtype_ctype(o->dtype));
            }
            std::string id = fmt::format("s{}_{}", step, argi);
            body_ += fmt::format("  {}* const {}[] = {{{}}};\n", ctype, id, fmt::join(ptrs, ", "));
            args.push_back(id);
            break;
          }
          case KernelArg::Kind::Scratch: {
            const passes::Buffer& b = result_.plan.buffers[result_.plan.scratch_buffer[step]];
            args.push_back(fmt::format("{} + {}", arena_symbol(result_.plan, b.region), b.offset));
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
            std::string id = fmt::format("p{}_{}", step, argi);
            params_ += fmt::format("const {} {}[] = {{{}}};\n", ints ? "int32_t" : "float", id, fmt::join(vals, ", "));
            args.push_back(id);
            break;
          }
        }
        ++argi;
      }
      body_ += fmt::format("  // {} ({})\n  {}({});\n", n->name, n->op, c.callee, fmt::join(args, ", "));
      ++step;
    }
    // Graph outputs not written in place by a kernel: copy them.
    for (size_t i = 0; i < g_.outputs.size(); ++i) {
      const Value* v = g_.outputs[i];
      std::string src = value_expr(v);
      if (src == out_names_[i] || v->nbytes() == 0) continue;
      body_ += fmt::format("  memcpy({}, {}, {});  // output '{}'\n", out_names_[i], src, v->nbytes(), v->name);
    }
    std::string pre;
    for (const Value* v : g_.inputs) pre += fmt::format("  (void){};\n", io_names_[v]);
    for (const auto& o : out_names_) pre += fmt::format("  (void){};\n", o);
    return pre + body_;
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

  std::string generic_args() {
    std::vector<std::string> a;
    for (size_t i = 0; i < g_.inputs.size(); ++i)
      a.push_back(fmt::format("static_cast<const {}*>(inputs[{}])", dtype_ctype(g_.inputs[i]->dtype), i));
    for (size_t i = 0; i < g_.outputs.size(); ++i)
      a.push_back(fmt::format("static_cast<{}*>(outputs[{}])", dtype_ctype(g_.outputs[i]->dtype), i));
    return fmt::format("{}", fmt::join(a, ", "));
  }

  const Graph& g_;
  const EmitOptions& opts_;
  EmitResult result_;
  std::vector<KernelCall> calls_;
  std::unordered_map<const Value*, std::string> expr_;
  std::unordered_map<const Value*, std::string> io_names_;
  std::vector<std::string> out_names_;
  std::string constants_, params_, body_, io_dims_;
  int next_tmp_ = 0;
};

}  // namespace

EmitResult emit_cpp(const Graph& g, const EmitOptions& opts) { return Emitter(g, opts).run(); }

std::string emit_host_harness(const EmitOptions& opts) {
  return render_embedded("host_harness.cpp.in", {{"version", TINYODLC_VERSION}, {"name", opts.name}});
}

}  // namespace tinyodlc::backends
