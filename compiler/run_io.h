// Files that runs read and write: input/output tensors (ONNX TensorProto .pb, backend-test
// layout), input sets for calibration, raw harness files, training outputs, and the
// comparison of outputs with reference outputs (`check`).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "compiler/driver.h"
#include "ir/graph.h"

namespace tinyodlc {

struct NamedTensor {
  std::string name;
  ir::TensorData data;
};

// "" or a hint when `dir` holds no tensor files itself but backend-test subfolders do:
// "; its subfolders test_data_set_0, ... hold them: pass one of those".
std::string data_set_hint(const std::string& dir);

// Reads DIR/input_K.pb (or output_K.pb) for K = 0, 1, ... until a file is missing.
std::vector<NamedTensor> load_tensor_files(const std::string& dir, const std::string& prefix);

// One input set per folder: every subfolder of `dir` (sorted by name) that holds
// input_0.pb, or `dir` itself if it holds input_0.pb. Throws CompileError if there is none
// or a set does not match the graph inputs (dtype, shape, count).
std::vector<std::vector<ir::TensorData>> load_input_sets(const std::string& dir, const ir::Graph& g,
                                                         std::vector<std::string>* names = nullptr);

// What an enrolment run returns besides the outputs (docs/enrolment.md).
struct EnrolResult {
  ir::TensorData prototype;  // float [1, D]: prototype(0)
  ir::TensorData score;      // float [1]: score(inputs, 0)
};

// The enrolment samples of `tinyodlc run --enrol DIR` (docs/enrolment.md): one subfolder of
// dir per sample, sorted by name, each holding input_K.pb for every graph input (dtype and
// shape checked). Throws CompileError naming --enrol and the file.
std::vector<std::vector<ir::TensorData>> load_enrol_sets(const std::string& dir, const ir::Graph& g);

// Reads the raw prototype (embedding-size floats) and score (one float) an enrolment harness wrote.
void read_enrol_result(const Compilation& c, const std::string& prototype_raw, const std::string& score_raw,
                       EnrolResult& result);

// Raw bytes of a tensor to/from a file (the harnesses' format). Throw std::runtime_error.
void write_raw(const std::string& path, const ir::TensorData& t);
std::vector<uint8_t> read_raw(const std::string& path);
// A streaming run's outputs (`run --stream`): files[k] holds output k of every window of the clip,
// stacked on a new leading axis (F - T + 1 windows); a size mismatch is an error naming k.
std::vector<NamedTensor> read_window_outputs(const Compilation& c, const ir::TensorData& clip,
                                             const std::vector<std::string>& files);

// Writes loss.pb (first step), losses.pb, grad_<NAME>.pb and param_<NAME>.pb from the raw
// blobs a training harness produced.
void write_training_outputs(const Compilation& c, const std::string& dir, const std::vector<uint8_t>& losses,
                            const std::vector<uint8_t>& grads, const std::vector<uint8_t>& params);
// <NAME> in grad_<NAME>.pb: every character outside [A-Za-z0-9._-] replaced by '_'.
std::string file_safe_name(const std::string& s);

struct Comparison {
  bool ok = true;
  std::string report;  // one line per output
};
// ONNX backend-test rule: same count, dtypes and shapes; |a - e| <= atol + rtol * |e|
// elementwise; NaN matches NaN.
Comparison compare_outputs(const std::vector<NamedTensor>& actual, const std::vector<NamedTensor>& expected,
                           double rtol, double atol);

}  // namespace tinyodlc
