#include "compiler/driver.h"

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <set>

#include <fmt/format.h>

#include "backends/memory_plan.h"
#include "compiler/quant_debug.h"
#include "compiler/quant_report.h"
#include "compiler/stream_build.h"
#include "compiler/run_io.h"
#include "compiler/targets.h"
#include "frontend/onnx_import.h"
#include "ir/op_registry.h"
#include "ir/printer.h"
#include "backends/kernel_variants.h"
#include "passes/pass_manager.h"
#include "passes/quantize.h"
#include "passes/stream_split.h"
#include "passes/training.h"
#include "backends/enrol_emitter.h"
#include "support/identifiers.h"

namespace tinyodlc {

namespace fs = std::filesystem;
using driver_detail::run_pipeline;
using ir::CompileError;

std::string default_model_name(const std::string& path) {
  std::string name = backends::sanitize_identifier(fs::path(path).stem().string());
  // A stem that is no usable namespace name (default.onnx, int.onnx, my__net.onnx) gets a suffix.
  while (name.find("__") != std::string::npos) name.replace(name.find("__"), 2, "_");
  if (!identifier_problem(name).empty()) name += "_model";
  if (!identifier_problem(name).empty()) name = "model" + name;  // "_X..." (reserved)
  return name;
}

// Runs the named passes on g with the compile options' IR printing (`what` is appended to
// the banner). `quant` is the int8 passes' shared state (may be null).
void driver_detail::run_pipeline(const std::vector<std::string>& names, ir::Graph& g, const CompileOptions& opts,
                  const std::string& what, passes::QuantContext* quant, passes::StreamContext* stream) {
  passes::PassManager pm;
  for (const auto& p : names) pm.add(p);
  pm.print_after({opts.print_ir_after.begin(), opts.print_ir_after.end()});
  pm.print_after_all(opts.print_ir_after_all);
  std::ostream& out = opts.ir_out ? *opts.ir_out : std::cerr;
  pm.set_printer([&out, what](const std::string& pass, const ir::Graph& graph) {
    out << "// ----- IR after " << pass << what << " -----\n" << ir::print_graph(graph) << std::flush;
  });
  passes::PassContext ctx;
  ctx.dim_values = opts.dims;
  ctx.training = &opts.training;
  ctx.quant = quant;
  ctx.stream = stream;
  pm.run(g, ctx);
}

namespace {

// The pipelines after the default one: int8 post-training quantization (--quantize int8),
// folding of an imported QDQ model, and the training step.
const std::vector<std::string> kPtqPipeline = {"calibrate", "insert-qdq", "qdq-fold", "dce", "shape-inference"};
const std::vector<std::string> kQdqPipeline = {"qdq-fold", "dce", "shape-inference"};

void check_supported(const ir::Graph& g) {
  std::vector<std::string> bad = frontend::unsupported_ops(g);
  if (bad.empty()) return;
  if (bad.size() == 1) throw CompileError(bad[0], "unsupported operator");
  throw CompileError("", fmt::format("{} unsupported operators: {}", bad.size(), fmt::join(bad, "; ")));
}

bool has_qdq(const ir::Graph& g) {
  for (const auto& n : g.nodes())
    if (n->domain.empty() && (n->op == "QuantizeLinear" || n->op == "DequantizeLinear")) return true;
  return false;
}


// The default pipeline, with select-trainable first when training (so that no pass folds a
// trainable parameter into a constant).
std::vector<std::string> optimize_pipeline(const CompileOptions& opts) {
  std::vector<std::string> p = passes::default_pipeline();
  if (opts.training.enabled()) p.insert(p.begin(), "select-trainable");
  return p;
}

// --print-ir-after names a pass of this compilation's pipelines.
void check_print_ir_after(const CompileOptions& opts, bool imported_qdq) {
  std::vector<std::string> all = optimize_pipeline(opts);
  if (!opts.quantize.empty()) all.insert(all.end(), kPtqPipeline.begin(), kPtqPipeline.end());
  else if (imported_qdq) all.insert(all.end(), kQdqPipeline.begin(), kQdqPipeline.end());
  if (opts.stream.enabled) all.push_back("stream-split");
  if (opts.training.enabled()) all.insert(all.end(), training_pipeline().begin(), training_pipeline().end());
  std::set<std::string> known(all.begin(), all.end());
  for (const auto& p : opts.print_ir_after)
    if (!known.count(p))
      throw CompileError("", fmt::format("--print-ir-after={}: no such pass in the pipeline (passes: {})", p,
                                         fmt::join(all, ", ")));
}

// A copy of the imported graph with the specialized inputs (CompileOptions::constant_inputs)
// replaced by constants.
std::unique_ptr<ir::Graph> specialized_copy(const ir::Graph& imported, const CompileOptions& opts) {
  std::unique_ptr<ir::Graph> g = ir::clone_graph(imported);
  for (const auto& [name, data] : opts.constant_inputs) {
    ir::Value* in = g->find_value(name);
    if (!in || !g->is_graph_input(in)) throw CompileError("", fmt::format("'{}' is not a graph input", name));
    if (data.dtype != in->dtype || (in->has_shape && data.shape != in->shape))
      throw CompileError(fmt::format("input '{}'", name), "specialized value has another type or shape");
    ir::Value* c = g->add_constant(name + ".specialized", std::make_shared<ir::TensorData>(data));
    for (const auto& n : g->nodes())
      for (auto& x : n->inputs)
        if (x == in) x = c;
  }
  return g;
}

std::unique_ptr<ir::Graph> optimize(const ir::Graph& imported, const CompileOptions& opts) {
  check_print_ir_after(opts, has_qdq(imported));
  std::unique_ptr<ir::Graph> g = specialized_copy(imported, opts);
  run_pipeline(optimize_pipeline(opts), *g, opts, "");
  return g;
}

// int8 on the optimized graph g: post-training quantization (--quantize int8: calibrate,
// insert-qdq, qdq-fold, with the quantization report) or folding of an imported QDQ model.
size_t host_arena_bytes(const ir::Graph& g);

std::vector<backends::GeneratedFile> quantize(ir::Graph& g, const CompileOptions& opts) {
  if (opts.quantize.empty()) {
    if (has_qdq(g)) run_pipeline(kQdqPipeline, g, opts, "");
    return {};
  }
  if (opts.quantize != "int8")
    throw CompileError("", fmt::format("--quantize {}: only int8 is supported", opts.quantize));
  if (opts.calibration_dir.empty()) throw CompileError("", "--quantize int8 needs --calibration DIR");
  passes::QuantContext q;
  q.method = passes::parse_clip_method(opts.calibration_method);
  q.calibration_sets = load_input_sets(opts.calibration_dir, g);
  q.drop_pairs = true;
  q.range_overrides = opts.quant_ranges;
  if (q.calibration_sets.size() >= 20) {
    std::cerr << fmt::format("tinyodlc: calibrating on {} input sets\n", q.calibration_sets.size());
    q.progress = &std::cerr;
  }
  QuantReportInputs report;
  report.float_graph = ir::clone_graph(g);  // the float reference the report compares with
  report.calibration_sets = q.calibration_sets.size();
  q.keep_float = opts.int8_keep_float;
  if (!opts.int8_keep_float.empty() || opts.int8_sensitivity > 0) {
    // Mixed precision: calibrate once, then quantize copies with chosen tensors kept float.
    {
      std::unique_ptr<ir::Graph> c = ir::clone_graph(g);
      passes::QuantContext qc = q;
      qc.keep_float.clear();
      run_pipeline({"calibrate"}, *c, opts, "", &qc);
      q.ranges = qc.ranges;
      q.ranges_given = true;
    }
    for (const auto& name : opts.int8_keep_float)
      if (!q.ranges.count(name))
        throw CompileError(fmt::format("--int8-keep-float {}", name),
                           "no float activation of that name was calibrated (names: quant_debug.md)");
    CompileOptions quiet = opts;
    quiet.print_ir_after.clear();
    quiet.print_ir_after_all = false;
    SensitivityCosts fn;
    fn.quantize = [&](const std::set<std::string>& keep) {
      std::unique_ptr<ir::Graph> c = ir::clone_graph(*report.float_graph);
      passes::QuantContext qc;
      qc.ranges = q.ranges;
      qc.ranges_given = true;
      qc.keep_float = keep;
      qc.drop_pairs = true;
      run_pipeline(kPtqPipeline, *c, quiet, "", &qc);
      return c;
    };
    fn.arena_bytes = [](const ir::Graph& x) { return host_arena_bytes(x); };
    report.kept_float = choose_float_tensors(*report.float_graph, fn, opts.int8_keep_float, q.calibration_sets,
                                             q.ranges, opts.int8_sensitivity);
    for (const KeptFloat& k : report.kept_float) {
      q.keep_float.insert(k.name);
      std::cerr << fmt::format("tinyodlc: note: int8: '{}' ({}) kept in float ({}): output centered cosine on the "
                               "calibration sets {:.4f} -> {:.4f}, RAM {:+d} B, flash {:+d} B\n",
                               k.name, k.op, k.why, k.score_without, k.score_with, k.ram_bytes, k.flash_bytes);
    }
    if (opts.int8_sensitivity > 0 && report.kept_float.size() == opts.int8_keep_float.size())
      std::cerr << "tinyodlc: note: int8-sensitivity: no tensor in float improves the output; all int8\n";
  }
  run_pipeline(kPtqPipeline, g, opts, "", &q);
  report.eval_dir = opts.quant_eval_dir.empty() ? opts.calibration_dir : opts.quant_eval_dir;
  if (!opts.quant_eval_dir.empty()) report.eval_sets = load_input_sets(opts.quant_eval_dir, g);
  else report.eval_sets = std::move(q.calibration_sets);
  std::vector<backends::GeneratedFile> files = quantization_report(g, q, report, opts);
  if (opts.quant_debug) {
    const std::vector<TensorQuantError> t = per_tensor_errors(g, *report.float_graph, report.eval_sets, q.ranges);
    for (auto& f : quant_debug_files(t, opts.model, report.eval_dir, report.eval_sets.size()))
      files.push_back(std::move(f));
    const TensorQuantError* w = nullptr;
    for (const auto& e : t)
      if (!w || e.added > w->added) w = &e;
    if (w)
      std::cerr << fmt::format("tinyodlc: note: quant-debug: {} int8 tensors measured; most error added by '{}' ({}, "
                               "rel err {:.4f}, +{:.4f}, clipped {:.2f}%): quant_debug.md\n",
                               t.size(), w->name, w->op, w->rel_err, w->added, 100 * w->clipped);
  }
  return files;
}

// Single-arena peak of a graph on the host (lowering gives the kernels' scratch sizes).
size_t host_arena_bytes(const ir::Graph& g) {
  std::vector<size_t> scratch;
  for (const auto& n : g.nodes())
    scratch.push_back(n->def && n->def->lower && !backends::is_elided_view(g, *n) ? n->def->lower(*n).scratch_bytes : 0);
  return backends::plan_memory(g, scratch).arena_bytes;
}

std::unique_ptr<ir::Graph> training_graph_with(const ir::Graph& inference, const CompileOptions& opts, bool recompute) {
  std::unique_ptr<ir::Graph> g = ir::clone_graph(inference);
  std::vector<std::string> names;
  for (const auto& p : training_pipeline())
    if (p != "recompute" || recompute) names.push_back(p);
  run_pipeline(names, *g, opts, " (training step)");
  return g;
}

}  // namespace

backends::PlanOptions plan_options(const Target& t) {
  backends::PlanOptions o;
  o.target = t.name;
  for (const auto& r : t.regions) {
    uint64_t reserved = 0;
    std::vector<std::string> what;
    for (const auto& x : r.reserved) {
      reserved += x.bytes;
      what.push_back(fmt::format("{} {} B{}", x.what, x.bytes, x.firmware_default ? " (board default)" : ""));
    }
    o.regions.push_back({r.name, r.kind, r.base, r.size, reserved, r.speed, r.linker_region,
                         fmt::format("{}", fmt::join(what, ", "))});
  }
  return o;
}

std::unique_ptr<ir::Graph> import_model(const CompileOptions& opts) {
  frontend::ImportOptions io;
  io.dims = opts.dims;
  std::unique_ptr<ir::Graph> g = frontend::import_onnx_file(opts.model, io);
  check_supported(*g);
  return g;
}

std::unique_ptr<ir::Graph> import_and_optimize(const CompileOptions& opts) { return optimize(*import_model(opts), opts); }

const std::vector<std::string>& training_pipeline() {
  static const std::vector<std::string> p = {"autodiff", "dce", "shape-inference", "recompute", "dce"};
  return p;
}

std::unique_ptr<ir::Graph> build_training_graph(const ir::Graph& inference, const CompileOptions& opts) {
  const std::string& mode = opts.training.recompute;
  if (mode == "always") return training_graph_with(inference, opts, true);
  if (mode == "never") return training_graph_with(inference, opts, false);
  if (mode != "auto") throw CompileError("", fmt::format("--recompute {}: expected auto, always or never", mode));
  // auto: keep the saved activations unless recomputing them lowers the training arena by at
  // least 10% (recomputation costs extra forward passes).
  CompileOptions quiet = opts;
  quiet.print_ir_after.clear();
  quiet.print_ir_after_all = false;
  std::unique_ptr<ir::Graph> saved = training_graph_with(inference, quiet, false);
  std::unique_ptr<ir::Graph> recomputed = training_graph_with(inference, quiet, true);
  const bool use = host_arena_bytes(*recomputed) < 0.9 * static_cast<double>(host_arena_bytes(*saved));
  if (opts.print_ir_after.empty() && !opts.print_ir_after_all) return use ? std::move(recomputed) : std::move(saved);
  return training_graph_with(inference, opts, use);  // again, printing the IR
}

namespace {

// --al-store (docs/active-learning.md): `features` (and `auto` when only a head trains) stores
// the trainable part's input F instead of the raw inputs. Then the training step starts at F
// (the inference graph cut there, as --train-input does) and F becomes a hidden last output of
// the inference graph (invoke_with_features()). Returns F, or "" for the raw inputs.
std::string active_learning_features(ir::Graph& g, const CompileOptions& opts, std::unique_ptr<ir::Graph>& training) {
  const std::string& store = opts.active_learning.store;
  if (!opts.active_learning.enabled() || !opts.training.enabled() || store == "inputs") return "";
  std::string why;
  std::string f;
  if (opts.training.append_head > 0) why = "--append-head: the trained head is not part of the inference graph";
  else if (!opts.training.train_input.empty()) why = "--train-input: the inputs already are the trainable part's input";
  else f = passes::trainable_part_input(g, &why);
  if (f.empty()) {
    if (store == "features")
      throw CompileError("--al-store", fmt::format("features: {}; use --al-store inputs (or auto)", why));
    return "";
  }
  std::unique_ptr<ir::Graph> cut = ir::clone_graph(g);
  passes::cut_graph_at(*cut, f);
  if (cut->inputs.size() != 1)
    throw CompileError("--al-store", fmt::format("features: the part after '{}' also reads {} model input(s); use "
                                                 "--al-store inputs", f, cut->inputs.size() - 1));
  training = build_training_graph(*cut, opts);
  ir::Value* fv = g.find_value(f);
  if (!g.is_graph_output(fv)) g.outputs.push_back(fv);
  else throw CompileError("--al-store", fmt::format("features: '{}' is already a model output", f));
  return f;
}


}  // namespace

// --persist-area: the region, units, alignment and bounds checked against the target; the area
// is reserved in its region (so the weights' fit check counts it) and resolved to an address.
backends::PersistArea resolve_persist_area(Target& t, const backends::PersistArea& spec) {
  backends::PersistArea a = spec;
  const std::string what = fmt::format("'{}'", spec.spec);
  if (t.regions.empty())
    throw CompileError("--persist-area", fmt::format("{}: target '{}' has no memory map; choose a board target "
                                                     "(tinyodlc targets)", what, t.name));
  auto it = std::find_if(t.regions.begin(), t.regions.end(), [&](const MemoryRegion& r) { return r.name == a.region; });
  if (it == t.regions.end()) {
    std::vector<std::string> names;
    for (const auto& r : t.regions) names.push_back(r.name);
    throw CompileError("--persist-area", fmt::format("{}: target '{}' has no region '{}' (regions: {})", what, t.name,
                                                     a.region, fmt::join(names, ", ")));
  }
  if (it->kind == "code")
    throw CompileError("--persist-area", fmt::format("{}: region '{}' is a code region", what, a.region));
  if (!a.erase_size) a.erase_size = it->erase_size;
  if (!a.program_size) a.program_size = it->program_size;
  if (!a.erase_size || !a.program_size)
    throw CompileError("--persist-area",
                       fmt::format("{}: the target does not state the erase/program units of region '{}': give them "
                                   "as REGION:OFFSET:SIZE:ERASE:PROGRAM, or as \"erase_size\"/\"program_size\" in a "
                                   "--target-file",
                                   what, a.region));
  if (a.program_size > a.erase_size)
    throw CompileError("--persist-area", fmt::format("{}: the program unit ({} bytes) is larger than the erase unit "
                                                     "({} bytes)", what, a.program_size, a.erase_size));
  if (a.offset % a.erase_size || a.size % a.erase_size)
    throw CompileError("--persist-area", fmt::format("{}: offset 0x{:X} and size {} must be multiples of the {}-byte "
                                                     "erase unit of '{}'", what, a.offset, a.size, a.erase_size, a.region));
  if (a.offset > it->total || a.size > it->total - a.offset)
    throw CompileError("--persist-area", fmt::format("{}: offset 0x{:X} + {} bytes runs past the end of region '{}' "
                                                     "({} bytes)", what, a.offset, a.size, a.region, it->total));
  if (a.size > it->size)
    throw backends::FitError("--persist-area", fmt::format("{}: region '{}' has only {} bytes left after its "
                                                           "reservations", what, a.region, it->size));
  it->reserved.push_back({fmt::format("learned-state storage (--persist-area {})", a.spec), a.size});
  it->size -= a.size;
  a.base = it->base + a.offset;
  a.linker_region = it->linker_region.empty() ? it->name : it->linker_region;
  if (a.base > 0xFFFFFFFFu || a.base + a.size > 0x100000000ull)
    throw CompileError("--persist-area", fmt::format("{}: the area does not lie in the 32-bit address space", what));
  return a;
}

Compilation compile_graph(const ir::Graph& imported, const CompileOptions& opts) {
  Compilation c;
  c.name = opts.name.empty() ? default_model_name(opts.model) : opts.name;
  if (std::string why = identifier_problem(c.name); !why.empty())
    throw CompileError("", fmt::format("--name '{}' cannot name the generated namespace: {}", c.name, why));
  Target target = find_target(opts.target);  // throws for unknown targets
  apply_reservations(target, opts.reserve);
  backends::PersistArea persist_area;
  if (opts.persist_area.enabled()) {
    if (opts.stream.enabled) throw CompileError("--persist-area", "cannot be combined with --stream yet");
    persist_area = resolve_persist_area(target, opts.persist_area);
  }
  c.graph = optimize(imported, opts);
  std::vector<backends::GeneratedFile> quant_files = quantize(*c.graph, opts);
  if (opts.active_learning.enabled() && !opts.enrol_output.empty())
    throw CompileError("--active-learning", "cannot be combined with --enrol-output yet");
  if (opts.stream.enabled) {
    if (!opts.arena_symbol.empty()) throw CompileError("--arena-symbol", "cannot be combined with --stream yet");
    if (opts.active_learning.enabled())
      throw CompileError("--active-learning", "cannot be combined with --stream yet");
    if (!opts.enrol_output.empty()) throw CompileError("", "--enrol-output and --stream cannot be combined yet");
    return driver_detail::compile_stream(std::move(c), target, quant_files, opts);
  }
  // Enrolment + cosine-prototype training: the loss reads the enrolled prototypes at run time
  // (docs/enrolment.md); autodiff gets a placeholder [K, D], emitted as a RAM array.
  float runtime_prototype_scale = 0.0f;
  const std::string al_feature = active_learning_features(*c.graph, opts, c.training_graph);
  if (opts.training.enabled() && opts.training.loss == "cosine-prototype" && !opts.enrol_output.empty() &&
      !opts.training.prototypes) {
    const std::string& lo = opts.training.loss_output;
    if (!lo.empty() && lo != opts.enrol_output)
      throw CompileError("--loss-output", fmt::format("'{}': with --enrol-output the cosine-prototype loss is computed on "
                                                      "the embedding '{}'", lo, opts.enrol_output));
    if (opts.training.append_head > 0)
      throw CompileError("--append-head", "cannot be combined with the cosine-prototype loss on enrolled prototypes");
    const ir::Value* emb = c.graph->outputs[backends::embedding_output(*c.graph, opts.enrol_output)];
    const int64_t rows = emb->shape.empty() ? 1 : emb->shape[0];
    auto placeholder = std::make_shared<ir::TensorData>(ir::DType::F32,
                                                        ir::Shape{opts.enrol_classes, emb->numel() / std::max<int64_t>(rows, 1)});
    for (int64_t i = 0; i < placeholder->numel(); ++i) placeholder->data<float>()[i] = 1.0f;
    CompileOptions topts = opts;
    topts.training.prototypes = placeholder;
    topts.training.loss_output = opts.enrol_output;
    c.training_graph = build_training_graph(*c.graph, topts);
    runtime_prototype_scale = opts.training.scale;
  } else if (opts.training.enabled() && al_feature.empty()) {
    c.training_graph = build_training_graph(*c.graph, opts);
  }
  backends::EmitOptions eo;
  eo.name = c.name;
  eo.source = fs::path(opts.model).filename().string();
  eo.memory = plan_options(target);
  eo.memory.placement = opts.placement;
  eo.isa = target.isa.empty() ? backends::default_isa_of_core(target.core) : target.isa;
  eo.training = c.training_graph.get();
  eo.optimizer = opts.optimizer;
  if (!opts.arena_symbol.empty()) {
    if (std::string why = identifier_problem(opts.arena_symbol); !why.empty())
      throw CompileError("--arena-symbol", fmt::format("'{}' cannot name a C symbol: {}", opts.arena_symbol, why));
    eo.arena_symbol = opts.arena_symbol;
  }
  backends::EnrolOptions en;
  eo.persist_area = persist_area;
  eo.active_learning = opts.active_learning;
  eo.active_learning.feature = al_feature;
  eo.active_learning_output = opts.training.loss_output;
  if (!opts.enrol_output.empty()) {
    en.name = c.name;
    en.source = eo.source;
    en.output = opts.enrol_output;
    en.classes = opts.enrol_classes;
    en.threshold = opts.enrol_threshold;
    eo.enrol = backends::enrol_emit_options(*c.graph, en);
    if (runtime_prototype_scale > 0) {
      eo.enrol.prototype_scale = runtime_prototype_scale;
      eo.enrol.ram_bytes += static_cast<size_t>(eo.enrol.classes * eo.enrol.dim) * 4;  // the loss's prototype matrix
    }
  }
  c.emitted = backends::emit_cpp(*c.graph, eo);
  // The features output is internal to the generated code (invoke_with_features()); the run
  // harnesses and reports see invoke()'s outputs.
  if (!al_feature.empty()) c.graph->outputs.pop_back();
  c.emitted.files.insert(c.emitted.files.end(), quant_files.begin(), quant_files.end());
  if (!opts.enrol_output.empty()) {
    for (auto& f : backends::emit_enrol_glue(*c.graph, en)) c.emitted.files.push_back(std::move(f));
    c.enrol = true;
    c.enrol_output = opts.enrol_output;
  }
  return c;
}

Compilation compile_model(const CompileOptions& opts) { return compile_graph(*import_model(opts), opts); }

}  // namespace tinyodlc
