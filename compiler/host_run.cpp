#include "compiler/host_run.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <fmt/format.h>

#include "compiler/output_dir.h"
#include "frontend/tensor_proto.h"
#include "support/embedded.h"
#include "support/process.h"
#include "support/template_engine.h"

namespace tinyodlc {

namespace fs = std::filesystem;
using ir::CompileError;

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
  // Every generated source (a streaming build has three: the glue, the backbone and the head).
  for (const auto& f : c.emitted.files)
    if (f.path.find('/') == std::string::npos && f.path.size() > 4 && f.path.compare(f.path.size() - 4, 4, ".cpp") == 0)
      cmd.push_back((fs::path(build_dir) / f.path).string());
  cmd.insert(cmd.end(), {harness, "-o", exe, "-lm"});
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

std::vector<NamedTensor> run_enrol_on_host(const Compilation& c, const std::vector<std::vector<ir::TensorData>>& enrol,
                                           const std::vector<NamedTensor>& inputs, const RunOptions& ropts,
                                           const std::string& build_dir, EnrolResult& result) {
  const ir::Graph& g = *c.graph;
  const std::string source = render_embedded("harness/enrol_harness.cpp.in", {{"version", TINYODLC_VERSION}, {"name", c.name}});
  const std::string exe = build_host(c, source, ropts, build_dir);
  std::vector<std::string> run = {exe, std::to_string(enrol.size())};
  auto raw_in = [&](const std::string& stem, const ir::TensorData& t) {
    std::string p = (fs::path(build_dir) / (stem + ".bin")).string();
    write_raw(p, t);
    run.push_back(p);
  };
  for (size_t j = 0; j < enrol.size(); ++j)
    for (size_t k = 0; k < enrol[j].size(); ++k) raw_in(fmt::format("enrol_{}_input_{}", j, k), enrol[j][k]);
  for (size_t k = 0; k < inputs.size(); ++k) raw_in(fmt::format("input_{}", k), inputs[k].data);
  std::vector<std::string> out_raw;
  for (size_t k = 0; k < g.outputs.size(); ++k) {
    out_raw.push_back((fs::path(build_dir) / fmt::format("output_{}.bin", k)).string());
    run.push_back(out_raw.back());
  }
  const std::string proto_raw = (fs::path(build_dir) / "prototype_0.bin").string();
  const std::string score_raw = (fs::path(build_dir) / "score.bin").string();
  run.push_back(proto_raw);
  run.push_back(score_raw);
  run_harness(run, ropts);
  std::vector<NamedTensor> outputs = read_outputs(g, out_raw);
  read_enrol_result(c, proto_raw, score_raw, result);
  return outputs;
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

std::vector<NamedTensor> run_stream_on_host(const Compilation& c, const ir::TensorData& clip, const RunOptions& ropts,
                                            const std::string& build_dir) {
  const ir::Graph& head = *c.head_graph;
  const ir::Value* frame = c.frame_graph->inputs.at(0);
  const std::string source = render_embedded("harness/stream_harness.cpp.in",
                                             {{"version", TINYODLC_VERSION},
                                              {"name", c.name},
                                              {"frame_ctype", std::string(ir::dtype_ctype(frame->dtype))}});
  const std::string exe = build_host(c, source, ropts, build_dir);
  const std::string clip_path = (fs::path(build_dir) / "clip.bin").string();
  write_raw(clip_path, clip);
  std::vector<std::string> run = {exe, clip_path};
  for (size_t k = 0; k < head.outputs.size(); ++k)
    run.push_back((fs::path(build_dir) / fmt::format("output_{}.bin", k)).string());
  run_harness(run, ropts);
  return read_window_outputs(c, clip, std::vector<std::string>(run.begin() + 2, run.end()));
}

}  // namespace tinyodlc

namespace tinyodlc {

void run_al_on_host(const Compilation& c, const RunOptions& ropts, const std::string& build_dir) {
  // The target's active-learning harness over a stdio shim (harness/target/host_shim.cpp).
  const fs::path shim = fs::absolute(fs::path(build_dir) / "tinyodlc_host");
  fs::create_directories(shim);
  for (const char* f : {"tinyodlc_target.h", "harness_io.h", "al_harness.cpp", "host_shim.cpp"}) {
    std::ofstream o(shim / f);
    o << embedded_file(std::string("harness/target/") + f);
  }
  uint64_t io_bytes = 0;
  for (const ir::Value* v : c.graph->inputs) io_bytes += (v->nbytes() + 15) / 16 * 16;
  for (const ir::Value* v : c.graph->outputs) io_bytes += (v->nbytes() + 15) / 16 * 16;
  {
    std::ofstream o(shim / "tinyodlc_target_model.h");
    o << fmt::format("// Generated by tinyodlc: model glue for the harness.\n#pragma once\n#include \"{0}.h\"\n"
                     "namespace tinyodlc_model = {0};\n#define TINYODLC_IO_BYTES {1}u\n",
                     c.name, io_bytes);
  }
  RunOptions ro = ropts;
  ro.cxxflags.insert(ro.cxxflags.begin(), {"-I", shim.string()});
  const std::string source =
      "// Generated by tinyodlc: the active-learning harness on the host.\n"
      "#define main tinyodlc_harness_main\n#include \"al_harness.cpp\"\n#undef main\n#include \"host_shim.cpp\"\n";
  const std::string exe = build_host(c, source, ro, build_dir);
  run_harness({exe, fs::absolute(build_dir).string(), std::to_string(ropts.train_steps), std::to_string(ropts.al_window),
               std::to_string(ropts.al_seed)},
              ropts);
}

}  // namespace tinyodlc
