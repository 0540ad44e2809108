// The C++ backend's entry points: lowers and plans the inference (and training) graph, then
// assembles <name>.h / <name>.cpp from templates/model.{h,cpp}.in, the memory reports and the
// kernel headers the model uses. The parts live in emit_constants.cpp (weights and kernel
// parameter arrays), emit_function.cpp (function bodies, arenas), emit_training.cpp (training
// step, optimizer, training.json) and kernel_headers.cpp (which headers, kernel parameter names).
#include "backends/cpp_emitter.h"

#include <cctype>
#include <memory>
#include <set>

#include <fmt/format.h>

#include "backends/emitter_state.h"
#include "backends/memory_report.h"
#include "backends/persist_emitter.h"
#include "support/template_engine.h"

namespace tinyodlc::backends {

using namespace ir;
using namespace detail;

std::string sanitize_identifier(const std::string& s) {
  std::string r;
  for (char c : s) r += (std::isalnum(static_cast<unsigned char>(c)) ? c : '_');
  if (r.empty() || std::isdigit(static_cast<unsigned char>(r[0]))) r = "t_" + r;
  return r;
}

namespace {

// Outputs of the inference graph that invoke() shows: all but the hidden features output of an
// active-learning build that stores features (--al-store; written by invoke_with_features()).
size_t public_outputs(const EmitState& st) {
  return st.main.g->outputs.size() - (st.opts.active_learning.feature.empty() ? 0 : 1);
}

std::map<std::string, std::string> interface_vars(const EmitState& st) {
  const Fn& f = st.main;
  const Graph& g = *f.g;
  const size_t nout = public_outputs(st);
  std::map<std::string, std::string> v;
  v["version"] = TINYODLC_VERSION;
  v["source"] = st.opts.source.empty() ? "(memory)" : st.opts.source;
  v["name"] = st.opts.name;
  v["num_inputs"] = std::to_string(g.inputs.size());
  v["num_outputs"] = std::to_string(nout);
  v["num_inputs_array"] = std::to_string(std::max<size_t>(g.inputs.size(), 1));
  v["num_outputs_array"] = std::to_string(std::max<size_t>(nout, 1));
  std::vector<std::string> params, args_doc, generic, all_params, fwd;
  std::string doc = "// invoke() parameters, in graph order:\n";
  for (size_t i = 0; i < g.inputs.size(); ++i) {
    const Value* x = g.inputs[i];
    params.push_back(fmt::format("const {}* {}", dtype_ctype(x->dtype), f.io_names.at(x)));
    all_params.push_back(params.back());
    args_doc.push_back(f.io_names.at(x));
    generic.push_back(fmt::format("static_cast<const {}*>(inputs[{}])", dtype_ctype(x->dtype), i));
    doc += fmt::format("//   input  {}: {:<24} {} (ONNX tensor '{}')\n", i, f.io_names.at(x), x->type_str(), x->name);
  }
  for (size_t i = 0; i < g.outputs.size(); ++i) {
    const Value* x = g.outputs[i];
    const std::string decl = fmt::format("{}* {}", dtype_ctype(x->dtype), f.out_names[i]);
    all_params.push_back(decl);
    if (i >= nout) {
      fwd.push_back("g_al_features");
      continue;
    }
    fwd.push_back(f.out_names[i]);
    params.push_back(decl);
    args_doc.push_back(f.out_names[i]);
    generic.push_back(fmt::format("static_cast<{}*>(outputs[{}])", dtype_ctype(x->dtype), i));
    doc += fmt::format("//   output {}: {:<24} {} (ONNX tensor '{}')\n", i, f.out_names[i], x->type_str(), x->name);
  }
  v["invoke_params"] = fmt::format("{}", fmt::join(params, ", "));
  v["invoke_args_doc"] = fmt::format("{}", fmt::join(args_doc, ", "));
  v["generic_args"] = fmt::format("{}", fmt::join(generic, ", "));
  v["io_doc"] = doc;
  if (nout < g.outputs.size()) {
    std::vector<std::string> ins;
    for (const Value* x : g.inputs) ins.push_back(f.io_names.at(x));
    ins.insert(ins.end(), fwd.begin(), fwd.end());
    v["invoke_features_params"] = fmt::format("{}", fmt::join(all_params, ", "));
    v["invoke_forward"] = fmt::format("  return invoke_with_features({});\n", fmt::join(ins, ", "));
  }
  return v;
}

// TensorInfo initializers of the graph inputs or outputs (their dims arrays go to st.io_dims).
std::string tensor_infos(EmitState& st, const std::vector<Value*>& vs, const char* kind) {
  std::string r;
  for (size_t i = 0; i < vs.size(); ++i) {
    const Value* v = vs[i];
    std::string dims = "nullptr";
    if (!v->shape.empty()) {
      dims = fmt::format("k{}_dims_{}", kind, i);
      st.io_dims += fmt::format("const int32_t {}[] = {{{}}};\n", dims, fmt::join(v->shape, ", "));
    }
    r += fmt::format("    {{\"{}\", {}, {}, {}, {}}},\n", v->name, dtype_to_onnx(v->dtype), v->shape.size(), dims,
                     v->nbytes());
  }
  if (vs.empty()) r = "    {\"\", 0, 0, nullptr, 0},\n";
  return r;
}

std::set<std::string> used_headers(const EmitState& st) {
  std::set<std::string> hs;
  for (const Fn* f : {&st.main, &st.train})
    for (const auto& c : f->calls)
      if (!c.header.empty()) hs.insert(c.header);
  if (st.opts.training) hs.insert("tinyodlc/ref/train.h");
  return hs;
}

std::string includes(const EmitState& st) {
  bool limits = st.constants.find("numeric_limits") != std::string::npos;
  for (const Fn* f : {&st.main, &st.train})
    for (const auto& c : f->calls)
      for (const auto& a : c.args)
        if (a.literal.find("numeric_limits") != std::string::npos) limits = true;
  const std::set<std::string> hs = used_headers(st);
  std::string r;
  if (limits) r += "#include <limits>\n";
  if (!r.empty() || !hs.empty()) r += "\n";
  for (const auto& h : hs) r += fmt::format("#include \"{}\"\n", h);
  return r;
}

constexpr const char* kProfileHook =
    "\n// Per-layer profiling: invoke() calls TINYODLC_PROFILE_LAYER(index, \"node name\") before every\n"
    "// layer. It compiles to nothing unless defined before this point (e.g. with -include).\n"
    "#ifndef TINYODLC_PROFILE_LAYER\n#define TINYODLC_PROFILE_LAYER(index, name) ((void)0)\n#endif\n";

// The enrolment store and the glue's output buffers take RAM next to the arenas: reserved in
// the largest RAM region before planning, as the training state.
void reserve_enrol_store(EmitState& st, PlanOptions& mem) {
  int best = -1;
  for (size_t i = 0; i < mem.regions.size(); ++i)
    if (mem.regions[i].kind == "ram" &&
        (best < 0 || mem.regions[i].capacity - mem.regions[i].reserved >
                         mem.regions[best].capacity - mem.regions[best].reserved))
      best = static_cast<int>(i);
  if (best < 0) return;
  auto& r = mem.regions[best];
  const size_t bytes = st.opts.enrol.ram_bytes;
  if (r.capacity && r.reserved + bytes > r.capacity)
    throw FitError("--classes", fmt::format("the prototype store ({} bytes) does not fit the largest RAM region {} "
                                            "({} bytes free)", bytes, r.name, r.capacity - r.reserved));
  if (r.capacity) r.reserved += bytes;
  st.result.enrol_region = r.name;
}

}  // namespace

EmitResult emit_cpp(const Graph& g, const EmitOptions& opts) {
  EmitState st(opts);
  st.main.g = &g;
  st.main.profile = opts.profile_layers;
  PlanOptions mem = opts.memory;
  if (opts.training) {
    st.train.g = opts.training;
    layout_training_state(st);
    reserve_training_state(st, mem);
  }
  if (opts.enrol.classes > 0) reserve_enrol_store(st, mem);
  if (opts.active_learning.enabled()) reserve_active_learning(st, mem);
  lower_and_plan(st.main, mem, opts.isa);
  st.result.plan = st.main.plan;
  if (opts.training) {
    lower_and_plan(st.train, mem, opts.isa);
    st.result.training_plan = st.train.plan;
  }
  name_values(st, st.main);
  if (opts.training) name_values(st, st.train);
  std::map<std::string, std::string> vars = interface_vars(st);
  vars["body"] = function_body(st, st.main);
  if (vars.count("invoke_forward")) {
    // The body writes every output, the features too: invoke() forwards to it (docs/active-learning.md).
    vars["invoke_defs"] = fmt::format("int invoke_with_features({}) {{\n{}  return 0;\n}}\n\nint invoke({}) {{\n{}}}\n",
                                      vars["invoke_features_params"], vars["body"], vars["invoke_params"],
                                      vars["invoke_forward"]);
  } else {
    vars["invoke_defs"] = fmt::format("int invoke({}) {{\n{}  return 0;\n}}\n", vars["invoke_params"], vars["body"]);
  }
  vars["training_decls"] = "";
  vars["training_defs"] = "";
  vars["state_decl"] = "";
  if (opts.training) training_vars(st, vars);
  std::string enrol_include;
  if (opts.enrol.classes > 0) {
    const int64_t k = opts.enrol.classes, d = opts.enrol.dim;
    st.learned.add({"enrol.prototypes", "&g_enrol_store.state_", static_cast<size_t>(k * d * 4 + k * 4),
                    fmt::format("f32[{0},{1}] sums of the l2-normalised embeddings {2}, u32[{0}] sample counts "
                                "(prototype = l2normalize(sum / count))", k, d, opts.enrol.embedding)});
    // The verification threshold: set_threshold() / calibrate_threshold() results survive a reboot.
    st.learned.add({"enrol.threshold", "&g_enrol_threshold", 4, "f32 verify() threshold (set_threshold())"});
    st.learned.add_after_load("    g_enrol_store.refresh();\n");
    st.learned.add_reset(fmt::format("    g_enrol_store.reset();\n    g_enrol_threshold = {};\n",
                                     ir::cpp_literal(opts.enrol.threshold)));
    enrol_include = fmt::format(
        "#include \"tinyodlc/runtime/prototypes.h\"\n\nnamespace {0} {{\n"
        "// The prototype store and threshold of {0}_enrol.cpp: learned state (docs/enrolment.md).\n"
        "extern tinyodlc::runtime::PrototypeStore<{1}, {2}> g_enrol_store;\nextern float g_enrol_threshold;\n"
        "}}  // namespace {0}\n",
        opts.name, k, d);
    if (!st.runtime_prototypes.empty())
      vars["state_decl"] += fmt::format(
          "\n// cosine-prototype loss: {0} = scale * the enrolled prototypes, as the [{1}, {2}] matrix of the\n"
          "// training graph (a class without a sample gives zero logits).\n"
          "void load_enrolled_prototypes() {{\n"
          "  for (int k = 0; k < {2}; ++k) {{\n"
          "    const float* p = g_enrol_store.prototype(k);\n"
          "    for (int j = 0; j < {1}; ++j) {0}[j * {2} + k] = p ? {3} * p[j] : 0.0f;\n"
          "  }}\n}}\n",
          st.runtime_prototypes, d, k, cpp_literal(opts.enrol.prototype_scale));
  }
  if (opts.active_learning.enabled()) active_learning_vars(st, vars);
  emit_persist(st.learned, opts.name, vars, st.result.files);
  emit_persist_area(st.learned, opts.persist_area, opts.name, vars);
  {
    // Constants the code reads; one folded into kernel parameters (a Reshape's shape, Pad's pads,
    // ...) is not emitted (no dead weights in flash).
    std::vector<const std::string*> code;
    for (const auto& [k, v] : vars) code.push_back(&v);
    finish_constants(st, code);
  }
  vars["constants"] = st.constants;
  vars["includes"] = includes(st) + enrol_include;
  vars["profile_hook"] = opts.profile_layers ? kProfileHook : "";
  finish_param_arrays(st);
  vars["params"] = st.params.empty() ? "// (none)\n" : st.params;
  vars["input_infos"] = tensor_infos(st, g.inputs, "in");
  vars["output_infos"] = tensor_infos(
      st, std::vector<Value*>(g.outputs.begin(), g.outputs.begin() + static_cast<std::ptrdiff_t>(public_outputs(st))), "out");
  vars["io_dims"] = st.io_dims;
  vars["arena_decl"] = arena_decls(st);
  vars["arena_extern"] = "";
  if (!opts.arena_symbol.empty()) {
    vars["arena_extern"] = fmt::format("\n// The shared activation arena{}, defined by the firmware (--arena-symbol): at least "
                                       "kArenaBytes{},\n// 16-byte aligned. Models sharing it must not run concurrently.\n",
                                       st.arena_externs.size() > 1 ? "s (one per RAM region)" : "",
                                       st.arena_externs.size() > 1 ? " together" : "");
    for (const auto& sym : st.arena_externs) vars["arena_extern"] += fmt::format("extern \"C\" uint8_t {}[];\n", sym);
    if (st.arena_externs.empty()) vars["arena_extern"] += fmt::format("extern \"C\" uint8_t {}[];\n", opts.arena_symbol);
  }
  vars["weight_bytes"] = std::to_string(st.result.weight_bytes);
  vars["arena_bytes"] = std::to_string(st.arena_total);
  EmitResult& r = st.result;
  r.files.push_back({opts.name + ".h", render_embedded("templates/model.h.in", vars)});
  r.files.push_back({opts.name + ".cpp", resolve_param_arrays(st, render_embedded("templates/model.cpp.in", vars))});
  check_weights_fit(r.weight_bytes + r.trainable_count * 4, opts.memory);
  ReportExtras extras;
  if (opts.training) {
    extras.training_plan = &r.training_plan;
    const std::string reg = st.state_region.empty() ? r.plan.regions.at(0).name : st.state_region;
    const size_t params = r.trainable_count * sizeof(float);
    extras.persistent = {{"parameters", reg, params}, {"gradients", reg, params}};
    if (r.state_bytes > 2 * params) extras.persistent.push_back({"optimizer state", reg, r.state_bytes - 2 * params});
  }
  if (opts.active_learning.enabled() && !st.state_region.empty())
    extras.persistent.push_back({"al.buffer", st.state_region, r.al_ram_bytes});  // in the arena's section
  if (opts.persist_area.enabled()) {
    extras.persist_area = &opts.persist_area;
    extras.persist_needed = persist_area_needed(st.learned.bytes(), opts.persist_area.erase_size,
                                                opts.persist_area.program_size);
    extras.learned_state_bytes = st.learned.bytes();
  }
  if (opts.active_learning.enabled()) {
    // memory.json: the buffer is static RAM next to the arenas (reserved before planning).
    extras.byte_counts.push_back({"active_learning_bytes", r.al_ram_bytes});
    extras.byte_counts.push_back({"active_learning_buffer_bytes", r.al_state_bytes});
  }
  if (opts.enrol.classes > 0) extras.static_state.push_back({"enrol.prototypes", r.enrol_region, opts.enrol.ram_bytes});
  for (auto& f : memory_report_files(g, r.plan, opts.name, r.weight_bytes, opts.memory, extras))
    r.files.push_back(std::move(f));
  {
    auto tplan = opts.training ? std::make_shared<MemoryPlan>(r.training_plan) : nullptr;
    ReportExtras ex = extras;
    ex.training_plan = nullptr;
    for (const auto& reg : opts.memory.regions)
      if (reg.kind == "flash") ex.flash.push_back(reg);
    r.memory_svg = [plan = r.plan, tplan, ex, name = opts.name, wb = r.weight_bytes](std::optional<uint64_t> code) {
      ReportExtras e = ex;
      e.training_plan = tplan.get();
      e.code_bytes = code;
      return memory_svg(plan, name, wb, e);
    };
  }
  if (opts.training) r.files.push_back(training_report(st));
  if (opts.active_learning.enabled()) {
    r.files.push_back(active_learning_report(st));
  }
  for (auto& f : kernel_headers(used_headers(st))) r.files.push_back(std::move(f));
  return std::move(st.result);
}

std::string emit_host_harness(const EmitOptions& opts) {
  return render_embedded("harness/host_harness.cpp.in", {{"version", TINYODLC_VERSION}, {"name", opts.name}});
}

std::string emit_train_harness(const EmitOptions& opts) {
  return render_embedded("harness/train_harness.cpp.in", {{"version", TINYODLC_VERSION}, {"name", opts.name}});
}

}  // namespace tinyodlc::backends
