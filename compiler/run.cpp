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

}  // namespace tinyodlc
