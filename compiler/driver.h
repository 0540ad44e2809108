// The compilation driver: ONNX file -> IR -> pass pipeline -> generated C++, and the
// `run` / `check` flows that build and execute the generated code.
#pragma once

#include <iosfwd>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "backends/cpp_emitter.h"
#include "compiler/targets.h"
#include "ir/graph.h"
#include "passes/training.h"

namespace tinyodlc {

struct CompileOptions {
  std::string model;   // path of the .onnx file
  std::string name;    // C++ identifier for namespace and files; default: from the file name
  std::string target = "host";
  std::map<std::string, uint64_t> reserve;   // --reserve REGION=BYTES (kept free for the firmware)
  std::map<std::string, int64_t> dims;       // --dim NAME=VALUE
  std::vector<std::string> print_ir_after;   // pass names
  bool print_ir_after_all = false;
  std::ostream* ir_out = nullptr;            // where printed IR goes (stderr by default)
  // Graph inputs whose value is fixed at compile time (specialization). The input stays in
  // the generated API (so argument order is unchanged) but its data is not read.
  std::map<std::string, ir::TensorData> constant_inputs;
  // int8 quantization (compiler/quant_report.h, docs/quantization.md): "" = float, "int8" = PTQ
  std::string quantize;
  std::string calibration_dir;                 // input sets for PTQ calibration
  std::string calibration_method = "minmax";   // minmax | percentile | mse
  std::string quant_eval_dir;                  // held-out sets for the report (default: calibration sets)
  // On-device learning (docs/training.md): enabled when something is selected to train.
  passes::TrainingOptions training;
  backends::OptimizerOptions optimizer;
};

struct Compilation {
  std::unique_ptr<ir::Graph> graph;
  std::unique_ptr<ir::Graph> training_graph;  // the training step (null without training)
  backends::EmitResult emitted;
  std::string name;
};

// Imports the model and runs the default pass pipeline. Throws ir::CompileError.
std::unique_ptr<ir::Graph> import_and_optimize(const CompileOptions& opts);
Compilation compile_model(const CompileOptions& opts);
// The passes that turn the (inference) graph into the training step, and that step.
const std::vector<std::string>& training_pipeline();
std::unique_ptr<ir::Graph> build_training_graph(const ir::Graph& inference, const CompileOptions& opts);
void write_output_dir(const std::string& dir, const Compilation& c);
// The memory regions of a target, for the memory planner (backends/memory_plan.h).
backends::PlanOptions plan_options(const Target& t);
// The identifier used for a model when --name is not given.
std::string default_model_name(const std::string& path);

struct RunOptions {
  std::string inputs_dir;   // input_K.pb files
  std::string outputs_dir;  // where output_K.pb files are written
  std::string build_dir;    // empty: a temporary folder, removed afterwards
  std::string cxx;          // host compiler; empty: $CXX or c++
  std::vector<std::string> cxxflags;  // extra flags for the host build
  int timeout_seconds = 600;
  bool verbose = false;
  // Training runs (CompileOptions::training enabled): the label (or mse target) file and the
  // number of training steps on the sample. Writes loss.pb, losses.pb, grad_<NAME>.pb and
  // param_<NAME>.pb next to the outputs.
  std::string label_file;
  int train_steps = 1;
  // Target training runs: train on the sets in train_data_dir (each subfolder: input_K.pb +
  // label.pb) for train_steps epochs, and measure the accuracy on eval_data_dir before and after.
  std::string train_data_dir, eval_data_dir;
};

struct NamedTensor {
  std::string name;
  ir::TensorData data;
};

// compile + build with the host compiler + run on inputs_dir. A graph input that must be
// known at compile time (it determines a shape, as in ONNX's Reshape/Slice/... node tests)
// is specialized to the value in its input file, with a note on stderr. writes output_K.pb files and
// returns the outputs. Throws ir::CompileError (bad model/inputs) or std::runtime_error
// (build or execution failure) with a precise message.
std::vector<NamedTensor> run_model(const CompileOptions& copts, const RunOptions& ropts);

// Builds the compiled code with the host C++ compiler in build_dir and runs it on inputs.
std::vector<NamedTensor> run_on_host(const Compilation& c, const std::vector<NamedTensor>& inputs,
                                     const RunOptions& ropts, const std::string& build_dir);

// The training build on the host: invoke() on the inputs, then RunOptions::train_steps
// steps; writes loss.pb, losses.pb, grad_<NAME>.pb, param_<NAME>.pb to outputs_dir.
std::vector<NamedTensor> run_training_on_host(const Compilation& c, const std::vector<NamedTensor>& inputs,
                                              const RunOptions& ropts, const std::string& build_dir);
// Writes loss.pb (first step), losses.pb, grad_<NAME>.pb and param_<NAME>.pb from the raw
// blobs a training harness produced.
void write_training_outputs(const Compilation& c, const std::string& dir, const std::vector<uint8_t>& losses,
                            const std::vector<uint8_t>& grads, const std::vector<uint8_t>& params);
// <NAME> in grad_<NAME>.pb: every character outside [A-Za-z0-9._-] replaced by '_'.
std::string file_safe_name(const std::string& s);

// Reads DIR/input_K.pb (or output_K.pb) for K = 0, 1, ... until a file is missing.
std::vector<NamedTensor> load_tensor_files(const std::string& dir, const std::string& prefix);

struct Comparison {
  bool ok = true;
  std::string report;  // one line per output
};
// ONNX backend-test rule: same count, dtypes and shapes; |a - e| <= atol + rtol * |e|
// elementwise; NaN matches NaN.
Comparison compare_outputs(const std::vector<NamedTensor>& actual, const std::vector<NamedTensor>& expected,
                           double rtol, double atol);

}  // namespace tinyodlc
