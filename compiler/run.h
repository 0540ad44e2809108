// `tinyodlc run` / `check`: compile a model, build the generated code with a harness, run it
// on the host or on a Cortex-M core in QEMU, and return (and write) its outputs.
#pragma once

#include <string>
#include <vector>

#include "compiler/driver.h"
#include "compiler/run_io.h"

namespace tinyodlc {

struct RunOptions {
  std::string inputs_dir;   // input_K.pb files
  std::string outputs_dir;  // where output_K.pb files are written
  std::string build_dir;    // empty: a temporary folder, removed afterwards
  std::string cxx;          // host compiler; empty: $CXX or c++
  std::vector<std::string> cxxflags;  // extra flags for the host build
  int timeout_seconds = 600;
  bool verbose = false;
  // No progress lines and no summary of a --target run (--quiet).
  bool quiet = false;
  // Training runs (CompileOptions::training enabled): the label (or mse target) file and the
  // number of training steps on the sample. Writes loss.pb, losses.pb, grad_<NAME>.pb and
  // param_<NAME>.pb next to the outputs.
  std::string label_file;
  int train_steps = 1;
  // Target training runs: train on the sets in train_data_dir (each subfolder: input_K.pb +
  // label.pb) for train_steps epochs, and measure the accuracy on eval_data_dir before and after.
  std::string train_data_dir, eval_data_dir;
  // Enrolment runs (CompileOptions::enrol_output set; docs/enrolment.md): every subfolder of
  // enrol_dir (sorted by name) holds the input_K.pb of one enrolment sample of class 0. The run
  // enrols them, then scores the inputs_dir sample against class 0; writes prototype_0.pb
  // (float [1, D]) and score.pb (float [1]) next to the outputs.
  std::string enrol_dir;
  // Active-learning runs (CompileOptions::active_learning): stream order seed (0 = folder order)
  // and samples per round (0 = 4 x the buffer).
  long long al_seed = 0;
  int al_window = 0;
};


// compile + build + run on inputs_dir (host: compiler/host_run.h; a target: compiler/target_run.h).
// The model file is read once. A graph input that must be known at compile time (it determines
// a shape, as in ONNX's Reshape/Slice/... node tests) is specialized to the value in its input
// file, with a note on stderr. Writes output_K.pb files and returns the outputs. Throws
// ir::CompileError (bad model/inputs) or std::runtime_error (build or execution failure) with a
// precise message.
std::vector<NamedTensor> run_model(const CompileOptions& copts, const RunOptions& ropts);

}  // namespace tinyodlc
