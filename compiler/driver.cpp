#include "compiler/driver.h"

#include <cmath>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>

#include <fmt/format.h>

#include "support/process.h"
#include "compiler/quant_report.h"
#include "compiler/target_run.h"
#include "compiler/targets.h"
#include "frontend/onnx_import.h"
#include "ir/op_registry.h"
#include "ir/printer.h"
#include "backends/kernel_variants.h"
#include "backends/memory_plan.h"
#include "passes/pass_manager.h"

namespace tinyodlc {

namespace fs = std::filesystem;
using ir::CompileError;

std::string default_model_name(const std::string& path) {
  std::string stem = fs::path(path).stem().string();
  return backends::sanitize_identifier(stem);
}

namespace {

void check_supported(const ir::Graph& g) {
  std::vector<std::string> bad = frontend::unsupported_ops(g);
  if (bad.empty()) return;
  if (bad.size() == 1) throw CompileError(bad[0], "unsupported operator");
  throw CompileError("", fmt::format("{} unsupported operators: {}", bad.size(), fmt::join(bad, "; ")));
}

// Runs `pm` on g with the compile options' IR printing (`what` is appended to the banner).
void run_pipeline(passes::PassManager& pm, ir::Graph& g, const CompileOptions& opts, const std::string& what) {
  pm.print_after({opts.print_ir_after.begin(), opts.print_ir_after.end()});
  pm.print_after_all(opts.print_ir_after_all);
  std::ostream& out = opts.ir_out ? *opts.ir_out : std::cerr;
  pm.set_printer([&out, what](const std::string& pass, const ir::Graph& graph) {
    out << "// ----- IR after " << pass << what << " -----\n" << ir::print_graph(graph) << std::flush;
  });
  passes::PassContext ctx;
  ctx.dim_values = opts.dims;
  ctx.training = &opts.training;
  pm.run(g, ctx);
}

bool valid_identifier(const std::string& s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  return true;
}

}  // namespace

backends::PlanOptions plan_options(const Target& t) {
  backends::PlanOptions o;
  o.target = t.name;
  for (const auto& r : t.regions) {
    uint64_t reserved = 0;
    for (const auto& x : r.reserved) reserved += x.bytes;
    o.regions.push_back({r.name, r.kind, r.base, r.size, reserved, r.speed, r.linker_region});
  }
  return o;
}

std::unique_ptr<ir::Graph> import_and_optimize(const CompileOptions& opts) {
  frontend::ImportOptions io;
  io.dims = opts.dims;
  std::unique_ptr<ir::Graph> g = frontend::import_onnx_file(opts.model, io);
  check_supported(*g);
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
  const bool training = opts.training.enabled();
  passes::PassManager pm;
  std::vector<std::string> pipeline = passes::default_pipeline();
  // Trainable parameters are marked first, so that no pass folds them into constants.
  if (training) pipeline.insert(pipeline.begin(), "select-trainable");
  for (const auto& p : pipeline) pm.add(p);
  std::vector<std::string> all = pipeline;
  if (training) all.insert(all.end(), training_pipeline().begin(), training_pipeline().end());
  std::set<std::string> known(all.begin(), all.end());
  for (const auto& p : opts.print_ir_after)
    if (!known.count(p))
      throw CompileError("", fmt::format("--print-ir-after={}: no such pass in the pipeline (passes: {})", p,
                                         fmt::join(all, ", ")));
  run_pipeline(pm, *g, opts, "");
  return g;
}

const std::vector<std::string>& training_pipeline() {
  static const std::vector<std::string> p = {"autodiff", "dce", "shape-inference", "recompute", "dce"};
  return p;
}

namespace {

// Single-arena peak of a graph on the host (lowering gives the kernels' scratch sizes).
size_t host_arena_bytes(const ir::Graph& g) {
  std::vector<size_t> scratch;
  for (const auto& n : g.nodes())
    scratch.push_back(n->def && n->def->lower && !backends::is_elided_view(g, *n) ? n->def->lower(*n).scratch_bytes : 0);
  return backends::plan_memory(g, scratch).arena_bytes;
}

std::unique_ptr<ir::Graph> training_graph_with(const ir::Graph& inference, const CompileOptions& opts, bool recompute) {
  std::unique_ptr<ir::Graph> g = ir::clone_graph(inference);
  passes::PassManager pm;
  for (const auto& p : training_pipeline())
    if (p != "recompute" || recompute) pm.add(p);
  run_pipeline(pm, *g, opts, " (training step)");
  return g;
}

}  // namespace

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


Compilation compile_model(const CompileOptions& opts) {
  Compilation c;
  c.name = opts.name.empty() ? default_model_name(opts.model) : opts.name;
  if (!valid_identifier(c.name))
    throw CompileError("", fmt::format("--name '{}' is not a C++ identifier", c.name));
  Target target = find_target(opts.target);  // throws for unknown targets
  apply_reservations(target, opts.reserve);
  c.graph = import_and_optimize(opts);
  // int8: PTQ (--quantize) or folding of an imported QDQ model; report files (if any).
  std::vector<backends::GeneratedFile> quant_files = apply_quantization(*c.graph, opts);
  if (opts.training.enabled()) c.training_graph = build_training_graph(*c.graph, opts);
  backends::EmitOptions eo;
  eo.name = c.name;
  eo.source = fs::path(opts.model).filename().string();
  eo.memory = plan_options(target);
  eo.isa = target.isa.empty() ? backends::default_isa_of_core(target.core) : target.isa;
  eo.training = c.training_graph.get();
  eo.optimizer = opts.optimizer;
  c.emitted = backends::emit_cpp(*c.graph, eo);
  c.emitted.files.insert(c.emitted.files.end(), quant_files.begin(), quant_files.end());
  return c;
}

void write_output_dir(const std::string& dir, const Compilation& c) {
  for (const auto& f : c.emitted.files) {
    fs::path p = fs::path(dir) / f.path;
    std::error_code ec;
    fs::create_directories(p.parent_path(), ec);
    if (ec) throw std::runtime_error(fmt::format("cannot create folder {}: {}", p.parent_path().string(), ec.message()));
    // Unchanged files are not rewritten, so that firmware builds stay incremental.
    {
      std::ifstream old(p, std::ios::binary);
      if (old) {
        std::string cur((std::istreambuf_iterator<char>(old)), std::istreambuf_iterator<char>());
        if (cur == f.contents) continue;
      }
    }
    std::ofstream out(p, std::ios::binary);
    out << f.contents;
    if (!out) throw std::runtime_error(fmt::format("cannot write {}", p.string()));
  }
}

std::vector<NamedTensor> load_tensor_files(const std::string& dir, const std::string& prefix) {
  std::vector<NamedTensor> r;
  for (int k = 0;; ++k) {
    fs::path p = fs::path(dir) / fmt::format("{}_{}.pb", prefix, k);
    if (!fs::exists(p)) break;
    auto [name, data] = frontend::load_tensor_pb(p.string());
    r.push_back({name, std::move(data)});
  }
  return r;
}

namespace {

struct TempDir {
  std::string path;
  bool keep;
  explicit TempDir(std::string given) : path(std::move(given)), keep(!path.empty()) {
    if (path.empty()) {
      std::string tmpl = (fs::temp_directory_path() / "tinyodlc-run-XXXXXX").string();
      if (!mkdtemp(tmpl.data())) throw std::runtime_error("cannot create a temporary folder");
      path = tmpl;
    } else {
      fs::create_directories(path);
    }
  }
  ~TempDir() {
    if (!keep) {
      std::error_code ec;
      fs::remove_all(path, ec);
    }
  }
};

void write_raw(const std::string& path, const ir::TensorData& t) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(t.bytes.data()), static_cast<std::streamsize>(t.bytes.size()));
  if (!f) throw std::runtime_error("cannot write " + path);
}

std::vector<uint8_t> read_raw(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot read " + path);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

}  // namespace

std::vector<NamedTensor> run_model(const CompileOptions& copts_in, const RunOptions& ropts) {
  // Import first, so that an unsupported model is reported as such before its data files
  // (which may hold sequences or optionals) are read.
  check_supported(*frontend::import_onnx_file(copts_in.model, frontend::ImportOptions{copts_in.dims}));
  std::vector<NamedTensor> inputs = load_tensor_files(ropts.inputs_dir, "input");
  CompileOptions copts = copts_in;
  Compilation c;
  while (true) {
    try {
      c = compile_model(copts);
      break;
    } catch (const ir::ConstantRequired& e) {
      // Specialize the graph input the error names, if it is one and we have its data.
      auto g0 = frontend::import_onnx_file(copts.model, frontend::ImportOptions{copts.dims});
      int k = -1;
      for (size_t i = 0; i < g0->inputs.size(); ++i)
        if (g0->inputs[i]->name == e.value_name()) k = static_cast<int>(i);
      if (k < 0 || k >= static_cast<int>(inputs.size()) || copts.constant_inputs.count(e.value_name())) throw;
      std::cerr << fmt::format("tinyodlc: note: input '{}' determines a shape; compiling with its value from input_{}.pb\n",
                               e.value_name(), k);
      copts.constant_inputs[e.value_name()] = inputs[k].data;
    }
  }
  const ir::Graph& g = *c.graph;

  // Inputs: one file per graph input, matching dtype and shape.
  if (inputs.size() != g.inputs.size())
    throw CompileError("", fmt::format("{}: found {} input_K.pb files but the model has {} inputs", ropts.inputs_dir,
                                       inputs.size(), g.inputs.size()));
  for (size_t k = 0; k < inputs.size(); ++k) {
    const ir::Value* v = g.inputs[k];
    const ir::TensorData& t = inputs[k].data;
    if (t.dtype != v->dtype || t.shape != v->shape)
      throw CompileError(fmt::format("input_{}.pb", k),
                         fmt::format("holds {}{} but model input {} ('{}') is {}", ir::dtype_name(t.dtype),
                                     ir::shape_str(t.shape), k, v->name, v->type_str()));
  }

  TempDir build(ropts.build_dir);
  const Target& target = find_target(copts.target);
  std::vector<NamedTensor> outputs;
  if (c.training_graph && target.is_host()) {
    if (!ropts.train_data_dir.empty())
      throw CompileError("", "--train-data runs on a --target (QEMU); on the host use --label with --inputs");
    outputs = run_training_on_host(c, inputs, ropts, build.path);
  } else if (!target.is_host()) {
    outputs = run_on_target(c, target, inputs, ropts, build.path);
  } else {
    outputs = run_on_host(c, inputs, ropts, build.path);
  }
  if (!ropts.outputs_dir.empty()) {
    fs::create_directories(ropts.outputs_dir);
    for (size_t k = 0; k < outputs.size(); ++k)
      frontend::save_tensor_pb((fs::path(ropts.outputs_dir) / fmt::format("output_{}.pb", k)).string(),
                               outputs[k].name, outputs[k].data);
  }
  return outputs;
}

namespace {

// Writes the generated code and `harness_source` to build_dir and builds them with the host
// compiler (warnings are errors). Returns the executable.
std::string build_host(const Compilation& c, const std::string& harness_source, const RunOptions& ropts,
                       const std::string& build_dir) {
  write_output_dir(build_dir, c);
  std::string harness = (fs::path(build_dir) / "harness_main.cpp").string();
  {
    std::ofstream h(harness);
    h << harness_source;
  }
  std::string exe = (fs::path(build_dir) / "harness").string();
  std::string cxx = ropts.cxx;
  if (cxx.empty()) cxx = std::getenv("CXX") ? std::getenv("CXX") : "c++";
  // The generated code must be warning-free, so warnings are errors here.
  std::vector<std::string> cmd = {cxx,           "-std=c++17", "-O2",     "-ffp-contract=off", "-fno-exceptions",
                                  "-fno-rtti",   "-Wall",      "-Wextra", "-Werror",           "-I",
                                  build_dir};
  cmd.insert(cmd.end(), ropts.cxxflags.begin(), ropts.cxxflags.end());
  cmd.insert(cmd.end(), {(fs::path(build_dir) / (c.name + ".cpp")).string(), harness, "-o", exe, "-lm"});
  if (ropts.verbose) {
    std::string line;
    for (const auto& a : cmd) line += shell_quote(a) + " ";
    std::cerr << "tinyodlc: " << line << "\n";
  }
  ProcessResult built = run_process(cmd, ropts.timeout_seconds);
  if (built.exit_code != 0)
    throw std::runtime_error(fmt::format("building the generated code failed (exit {}):\n{}", built.exit_code,
                                         built.output));
  return exe;
}

// Runs a harness; throws on a time-out or a non-zero exit.
void run_harness(const std::vector<std::string>& cmd, const RunOptions& ropts) {
  ProcessResult ran = run_process(cmd, ropts.timeout_seconds);
  if (ran.timed_out) throw std::runtime_error(fmt::format("the generated code timed out after {} s", ropts.timeout_seconds));
  if (ran.exit_code != 0)
    throw std::runtime_error(fmt::format("the generated code failed (exit {}):\n{}", ran.exit_code, ran.output));
}

// The raw output files of a harness run as the graph's outputs (sizes checked).
std::vector<NamedTensor> read_outputs(const ir::Graph& g, const std::vector<std::string>& files) {
  std::vector<NamedTensor> outputs;
  for (size_t k = 0; k < g.outputs.size(); ++k) {
    const ir::Value* v = g.outputs[k];
    NamedTensor t{v->name, ir::TensorData(v->dtype, v->shape)};
    t.data.bytes = read_raw(files[k]);
    if (t.data.bytes.size() != v->nbytes())
      throw std::runtime_error(fmt::format("output {} has {} bytes, expected {}", k, t.data.bytes.size(), v->nbytes()));
    outputs.push_back(std::move(t));
  }
  return outputs;
}

}  // namespace

std::vector<NamedTensor> run_on_host(const Compilation& c, const std::vector<NamedTensor>& inputs,
                                     const RunOptions& ropts, const std::string& build_dir) {
  const ir::Graph& g = *c.graph;
  backends::EmitOptions eo;
  eo.name = c.name;
  const std::string exe = build_host(c, backends::emit_host_harness(eo), ropts, build_dir);
  std::vector<std::string> run = {exe};
  for (size_t k = 0; k < inputs.size(); ++k) {
    std::string p = (fs::path(build_dir) / fmt::format("input_{}.bin", k)).string();
    write_raw(p, inputs[k].data);
    run.push_back(p);
  }
  std::vector<std::string> out_raw;
  for (size_t k = 0; k < g.outputs.size(); ++k) {
    out_raw.push_back((fs::path(build_dir) / fmt::format("output_{}.bin", k)).string());
    run.push_back(out_raw.back());
  }
  run_harness(run, ropts);

  return read_outputs(g, out_raw);
}

std::string file_safe_name(const std::string& s) {
  std::string r;
  for (char ch : s)
    r += (std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '_' || ch == '-') ? ch : '_';
  return r;
}

std::vector<NamedTensor> run_training_on_host(const Compilation& c, const std::vector<NamedTensor>& inputs,
                                              const RunOptions& ropts, const std::string& build_dir) {
  const ir::Graph& g = *c.graph;
  const ir::Graph& tg = *c.training_graph;
  if (ropts.label_file.empty())
    throw CompileError("", fmt::format("a training run needs --label FILE.pb (the '{}' input of the training step: {})",
                                       tg.inputs.back()->name, tg.inputs.back()->type_str()));
  if (ropts.train_steps < 1) throw CompileError("", "--train-steps must be at least 1");
  auto [lname, label] = frontend::load_tensor_pb(ropts.label_file);
  const ir::Value* lv = tg.inputs.back();
  if (label.dtype != lv->dtype || label.numel() != lv->numel())
    throw CompileError(ropts.label_file, fmt::format("holds {}{} but the training step's '{}' input is {}",
                                                     ir::dtype_name(label.dtype), ir::shape_str(label.shape), lv->name,
                                                     lv->type_str()));
  backends::EmitOptions eo;
  eo.name = c.name;
  const std::string exe = build_host(c, backends::emit_train_harness(eo), ropts, build_dir);
  std::vector<std::string> run = {exe, std::to_string(ropts.train_steps)};
  auto raw_in = [&](const std::string& stem, const ir::TensorData& t) {
    std::string p = (fs::path(build_dir) / (stem + ".bin")).string();
    write_raw(p, t);
    run.push_back(p);
  };
  for (size_t k = 0; k < inputs.size(); ++k) raw_in(fmt::format("input_{}", k), inputs[k].data);
  raw_in("label", label);
  std::vector<std::string> out_raw;
  for (size_t k = 0; k < g.outputs.size(); ++k) {
    out_raw.push_back((fs::path(build_dir) / fmt::format("output_{}.bin", k)).string());
    run.push_back(out_raw.back());
  }
  for (const char* f : {"losses.bin", "grads.bin", "params.bin"}) run.push_back((fs::path(build_dir) / f).string());
  run_harness(run, ropts);
  std::vector<NamedTensor> outputs = read_outputs(g, out_raw);
  if (!ropts.outputs_dir.empty())
    write_training_outputs(c, ropts.outputs_dir, read_raw((fs::path(build_dir) / "losses.bin").string()),
                           read_raw((fs::path(build_dir) / "grads.bin").string()),
                           read_raw((fs::path(build_dir) / "params.bin").string()));
  return outputs;
}

void write_training_outputs(const Compilation& c, const std::string& dir_name, const std::vector<uint8_t>& losses_raw,
                            const std::vector<uint8_t>& grads, const std::vector<uint8_t>& params) {
  const fs::path dir(dir_name);
  fs::create_directories(dir);
  const size_t blob = c.emitted.trainable_count * sizeof(float);
  if (losses_raw.empty() || losses_raw.size() % 4 || grads.size() != blob || params.size() != blob)
    throw std::runtime_error(fmt::format("the training harness wrote {} loss bytes, {} gradient and {} parameter bytes "
                                         "(expected {} each)", losses_raw.size(), grads.size(), params.size(), blob));
  ir::TensorData losses(ir::DType::F32, {static_cast<int64_t>(losses_raw.size() / 4)});
  losses.bytes = losses_raw;
  ir::TensorData loss(ir::DType::F32, {});
  std::memcpy(loss.bytes.data(), losses.bytes.data(), 4);
  frontend::save_tensor_pb((dir / "loss.pb").string(), "loss", loss);
  frontend::save_tensor_pb((dir / "losses.pb").string(), "losses", losses);
  for (const auto& s : c.emitted.trainable) {
    ir::TensorData t(ir::DType::F32, s.shape);
    std::memcpy(t.bytes.data(), grads.data() + s.offset * 4, s.count * 4);
    frontend::save_tensor_pb((dir / ("grad_" + file_safe_name(s.name) + ".pb")).string(), s.name, t);
    std::memcpy(t.bytes.data(), params.data() + s.offset * 4, s.count * 4);
    frontend::save_tensor_pb((dir / ("param_" + file_safe_name(s.name) + ".pb")).string(), s.name, t);
  }
}

Comparison compare_outputs(const std::vector<NamedTensor>& actual, const std::vector<NamedTensor>& expected,
                           double rtol, double atol) {
  Comparison c;
  if (actual.size() != expected.size()) {
    c.ok = false;
    c.report = fmt::format("the model has {} outputs but {} reference outputs were given\n", actual.size(),
                           expected.size());
    return c;
  }
  for (size_t k = 0; k < actual.size(); ++k) {
    const ir::TensorData& a = actual[k].data;
    const ir::TensorData& e = expected[k].data;
    std::string head = fmt::format("output {} '{}'", k, actual[k].name);
    if (a.dtype != e.dtype || a.shape != e.shape) {
      c.ok = false;
      c.report += fmt::format("{}: got {}{}, expected {}{}: MISMATCH\n", head, ir::dtype_name(a.dtype),
                              ir::shape_str(a.shape), ir::dtype_name(e.dtype), ir::shape_str(e.shape));
      continue;
    }
    double max_abs = 0, max_rel = 0;
    int64_t bad = 0, first_bad = -1;
    for (int64_t i = 0; i < a.numel(); ++i) {
      double x = a.get_f64(i), y = e.get_f64(i);
      if (std::isnan(x) || std::isnan(y)) {
        if (std::isnan(x) != std::isnan(y)) {
          if (first_bad < 0) first_bad = i;
          ++bad;
        }
        continue;
      }
      if (x == y) continue;  // also equal infinities
      double d = std::fabs(x - y);
      max_abs = std::max(max_abs, d);
      if (y != 0) max_rel = std::max(max_rel, d / std::fabs(y));
      if (!(d <= atol + rtol * std::fabs(y))) {
        if (first_bad < 0) first_bad = i;
        ++bad;
      }
    }
    std::string verdict = bad ? fmt::format("MISMATCH ({} of {} elements; first at {}: got {}, expected {})", bad,
                                            a.numel(), first_bad, a.get_f64(first_bad), e.get_f64(first_bad))
                              : "ok";
    if (bad) c.ok = false;
    c.report += fmt::format("{}: {}{} max abs err {:.3g}, max rel err {:.3g}: {}\n", head, ir::dtype_name(a.dtype),
                            ir::shape_str(a.shape), max_abs, max_rel, verdict);
  }
  return c;
}

}  // namespace tinyodlc
