// Calibration for post-training quantization: runs the float graph on calibration inputs
// (through the ops' reference kernels, i.e. with the generated code's semantics) and
// collects the range of every float tensor; chooses clipping ranges by min/max,
// percentile or MSE-optimal clipping.
#pragma once

#include <functional>
#include <iosfwd>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "ir/graph.h"

namespace tinyodlc {

// One input set per folder: every subfolder of `dir` (sorted by name) that holds
// input_0.pb, or `dir` itself if it holds input_0.pb. Throws CompileError if there is none
// or a set does not match the graph inputs (dtype, shape, count).
std::vector<std::vector<ir::TensorData>> load_input_sets(const std::string& dir, const ir::Graph& g,
                                                         std::vector<std::string>* names = nullptr);

// Runs the graph and returns the value of every computed value (inputs, node outputs).
std::unordered_map<const ir::Value*, std::shared_ptr<const ir::TensorData>> evaluate_all(
    const ir::Graph& g, const std::vector<ir::TensorData>& inputs);

enum class ClipMethod { MinMax, Percentile, Mse };
ClipMethod parse_clip_method(const std::string& s);  // "minmax" | "percentile" | "mse"

struct TensorRange {
  double lo = 0, hi = 0;       // chosen clipping range
  double min = 0, max = 0;     // observed
};

// Ranges of all float (f32) non-constant values, by value name. `progress` (may be null)
// receives a line per 10% of the sets on long calibrations.
std::map<std::string, TensorRange> calibrate(const ir::Graph& g, const std::vector<std::vector<ir::TensorData>>& sets,
                                             ClipMethod method, std::ostream* progress);

}  // namespace tinyodlc
