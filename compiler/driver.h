// The compile pipeline: ONNX file -> IR (imported once) -> pass pipelines (optimize, int8,
// training step) -> generated C++. Running the generated code is compiler/run.h; writing an
// output folder is compiler/output_dir.h.
#pragma once

#include <iosfwd>
#include <map>
#include <set>
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
  std::string placement = "compact";         // --placement fast|compact (backends::PlanOptions::placement)
  std::map<std::string, int64_t> dims;       // --dim NAME=VALUE
  std::vector<std::string> print_ir_after;   // pass names
  bool print_ir_after_all = false;
  std::ostream* ir_out = nullptr;            // where printed IR goes (stderr by default)
  // Graph inputs whose value is fixed at compile time (specialization). The input stays in
  // the generated API (so argument order is unchanged) but its data is not read.
  std::map<std::string, ir::TensorData> constant_inputs;
  // int8 quantization (passes/quantize.h, docs/quantization.md): "" = float, "int8" = PTQ
  std::string quantize;
  std::string calibration_dir;                 // input sets for PTQ calibration
  std::string calibration_method = "minmax";   // minmax | percentile | mse
  std::string quant_eval_dir;                  // held-out sets for the report (default: calibration sets)
  std::set<std::string> int8_keep_float;       // --int8-keep-float NAMES: activations kept in float
  int int8_sensitivity = 0;                    // --int8-sensitivity N: keep up to N more, chosen by measurement
  bool quant_debug = false;                    // --quant-debug: quant_debug.md/json (per-tensor errors)
  std::map<std::string, std::pair<double, double>> quant_ranges;  // --quant-range NAME=LO:HI (overrides)
  // Streaming (docs/streaming.md): --stream [INPUT[:AXIS]] splits the model into a per-frame
  // backbone and a temporal head on a feature ring.
  struct Stream {
    bool enabled = false;
    std::string input;  // "" = the only rank-5 input
    int axis = 1;
  } stream;
  // --arena-symbol NAME: the arena is the firmware's `extern "C" uint8_t NAME[]` (shared by models).
  std::string arena_symbol;
  // --persist-area REGION:OFFSET:SIZE[:ERASE:PROGRAM] (docs/persistence.md): region, offset,
  // size and (optional) flash units as parsed; compile_graph resolves it against the target.
  backends::PersistArea persist_area;
  // Enrolment (docs/enrolment.md): --enrol-output TENSOR --classes K [--threshold F].
  std::string enrol_output;
  int enrol_classes = 1;
  float enrol_threshold = 0.5f;
  // On-device learning (docs/training.md): enabled when something is selected to train.
  passes::TrainingOptions training;
  backends::OptimizerOptions optimizer;
  // Active learning (docs/active-learning.md): --active-learning S --al-buffer B --al-budget N
  // --al-rv R --al-store S; needs a training build.
  backends::ActiveLearningOptions active_learning;
};

struct Compilation {
  std::unique_ptr<ir::Graph> graph;
  std::unique_ptr<ir::Graph> training_graph;  // the training step (null without training)
  backends::EmitResult emitted;
  std::string name;
  // Streaming builds: the per-frame backbone and the temporal head (graph is the full model).
  std::unique_ptr<ir::Graph> frame_graph, head_graph;
  int stream_frames = 0;
  int stream_axis = 1;
  // Enrolment builds (--enrol-output): <name>_enrol.h/.cpp were emitted for this output.
  bool enrol = false;
  std::string enrol_output;
};

// Reads the ONNX file once; throws CompileError naming every unsupported operator.
std::unique_ptr<ir::Graph> import_model(const CompileOptions& opts);
// Imports the model and runs the default pass pipeline. Throws ir::CompileError.
std::unique_ptr<ir::Graph> import_and_optimize(const CompileOptions& opts);
// The whole compilation on a copy of an imported graph (`imported` is not changed, so a
// caller may compile it again, e.g. with a graph input specialized to a constant).
Compilation compile_graph(const ir::Graph& imported, const CompileOptions& opts);
Compilation compile_model(const CompileOptions& opts);  // import_model + compile_graph
// The passes that turn the (inference) graph into the training step, and that step.
const std::vector<std::string>& training_pipeline();
std::unique_ptr<ir::Graph> build_training_graph(const ir::Graph& inference, const CompileOptions& opts);
// The memory regions of a target, for the memory planner (backends/memory_plan.h).
backends::PlanOptions plan_options(const Target& t);
// The identifier used for a model when --name is not given.
std::string default_model_name(const std::string& path);

}  // namespace tinyodlc
