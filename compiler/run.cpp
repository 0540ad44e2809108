#include "compiler/run.h"

#include <cstdlib>
#include <filesystem>
#include <iostream>

#include <fmt/format.h>

#include "compiler/host_run.h"
#include "compiler/target_run.h"
#include "compiler/targets.h"
#include "frontend/tensor_proto.h"

namespace tinyodlc {

namespace fs = std::filesystem;
using ir::CompileError;

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

void write_outputs(const RunOptions& ropts, const std::vector<NamedTensor>& outputs) {
  if (ropts.outputs_dir.empty()) return;
  fs::create_directories(ropts.outputs_dir);
  for (size_t k = 0; k < outputs.size(); ++k)
    frontend::save_tensor_pb((fs::path(ropts.outputs_dir) / fmt::format("output_{}.pb", k)).string(), outputs[k].name,
                             outputs[k].data);
}

// run --stream: input_0.pb is a clip [1, F, ...] with F >= T along the time axis.
std::vector<NamedTensor> run_stream(const Compilation& c, const CompileOptions& copts,
                                    const std::vector<NamedTensor>& inputs, const RunOptions& ropts) {
  const ir::Value* x = c.graph->inputs.at(0);
  if (inputs.size() != 1)
    throw CompileError("", fmt::format("{}: a streaming run reads one clip (input_0.pb), found {} input files",
                                       ropts.inputs_dir, inputs.size()));
  const ir::TensorData& clip = inputs[0].data;
  const size_t a = static_cast<size_t>(c.stream_axis);
  bool ok = clip.dtype == x->dtype && clip.shape.size() == x->shape.size() && clip.shape[a] >= x->shape[a];
  for (size_t i = 0; ok && i < x->shape.size(); ++i) ok = i == a || clip.shape[i] == x->shape[i];
  if (!ok)
    throw CompileError("input_0.pb", fmt::format("holds {}{} but a clip for '{}' {} needs the same type with at least "
                                                 "{} frames along axis {}", ir::dtype_name(clip.dtype),
                                                 ir::shape_str(clip.shape), x->name, x->type_str(), x->shape[a], a));
  if (!find_target(copts.target).is_host())
    throw CompileError("", "--stream runs on the host for now (QEMU streaming runs are not implemented yet)");
  TempDir build(ropts.build_dir);
  std::vector<NamedTensor> outputs = run_stream_on_host(c, clip, ropts, build.path);
  write_outputs(ropts, outputs);
  return outputs;
}

}  // namespace

std::vector<NamedTensor> run_model(const CompileOptions& copts_in, const RunOptions& ropts) {
  // Import first (once), so that an unsupported model is reported as such before its data
  // files (which may hold sequences or optionals) are read.
  const std::unique_ptr<ir::Graph> imported = import_model(copts_in);
  std::vector<NamedTensor> inputs = load_tensor_files(ropts.inputs_dir, "input");
  CompileOptions copts = copts_in;
  Compilation c;
  while (true) {
    try {
      c = compile_graph(*imported, copts);
      break;
    } catch (const ir::ConstantRequired& e) {
      // Specialize the graph input the error names, if it is one and we have its data.
      int k = -1;
      for (size_t i = 0; i < imported->inputs.size(); ++i)
        if (imported->inputs[i]->name == e.value_name()) k = static_cast<int>(i);
      if (k < 0 || k >= static_cast<int>(inputs.size()) || copts.constant_inputs.count(e.value_name())) throw;
      std::cerr << fmt::format("tinyodlc: note: input '{}' determines a shape; compiling with its value from input_{}.pb\n",
                               e.value_name(), k);
      copts.constant_inputs[e.value_name()] = inputs[k].data;
    }
  }
  const ir::Graph& g = *c.graph;

  if (c.frame_graph) return run_stream(c, copts, inputs, ropts);

  // Inputs: one file per graph input, matching dtype and shape.
  if (inputs.size() != g.inputs.size())
    throw CompileError("", fmt::format("{}: found {} input_K.pb files but the model has {} inputs{}", ropts.inputs_dir,
                                       inputs.size(), g.inputs.size(), data_set_hint(ropts.inputs_dir)));
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
  if (c.enrol) {
    if (c.training_graph) throw CompileError("--enrol-output", "an enrolment run cannot be a training run too");
    if (ropts.enrol_dir.empty())
      throw CompileError("--enrol-output", "'run' with --enrol-output needs --enrol DIR (the enrolment samples of class 0)");
    const std::vector<std::vector<ir::TensorData>> enrol = load_enrol_sets(ropts.enrol_dir, g);
    EnrolResult er;
    outputs = target.is_host() ? run_enrol_on_host(c, enrol, inputs, ropts, build.path, er)
                               : run_enrol_on_target(c, target, enrol, inputs, ropts, build.path, er);
    write_outputs(ropts, outputs);
    if (!ropts.outputs_dir.empty()) {
      frontend::save_tensor_pb((fs::path(ropts.outputs_dir) / "prototype_0.pb").string(), "prototype_0", er.prototype);
      frontend::save_tensor_pb((fs::path(ropts.outputs_dir) / "score.pb").string(), "score", er.score);
    }
    return outputs;
  }
  if (c.training_graph && target.is_host()) {
    if (!ropts.train_data_dir.empty())
      throw CompileError("", "--train-data runs on a --target (QEMU); on the host use --label with --inputs");
    outputs = run_training_on_host(c, inputs, ropts, build.path);
  } else if (!target.is_host()) {
    outputs = run_on_target(c, target, inputs, ropts, build.path);
  } else {
    outputs = run_on_host(c, inputs, ropts, build.path);
  }
  write_outputs(ropts, outputs);
  return outputs;
}

}  // namespace tinyodlc
