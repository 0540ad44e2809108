// The int8 quantization report (quantization.md / quantization.json, docs/quantization.md):
// after the PTQ passes (passes/quantize.h) ran, compares the int8 graph with its float
// reference on the evaluation sets: per-output error, cosine, top-1 agreement, per-tensor
// SQNR, what runs in integer and what falls back to float, flash before/after.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "backends/cpp_emitter.h"
#include "compiler/quant_sensitivity.h"
#include "ir/graph.h"
#include "passes/quantize.h"

namespace tinyodlc {

struct CompileOptions;

struct QuantReportInputs {
  std::unique_ptr<ir::Graph> float_graph;               // the optimized float graph before quantization
  std::vector<std::vector<ir::TensorData>> eval_sets;   // held-out sets, or the calibration sets
  std::string eval_dir;                                  // where eval_sets came from
  size_t calibration_sets = 0;                           // how many sets calibrated the ranges
  std::vector<KeptFloat> kept_float;                     // mixed precision (compiler/quant_sensitivity.h)
};

// Returns quantization.md and quantization.json, and prints a one-line summary to stderr.
// Cosine similarity of float outputs f and int8 outputs q (per set, flattened), concatenated over
// the sets; centered: after subtracting the mean float value of each element over the sets (so
// a large constant part cannot hide an error). 1 when both are all zero, NaN when one is or
// there is no set.
double output_cosine(const std::vector<std::vector<double>>& f, const std::vector<std::vector<double>>& q,
                     bool centered);

std::vector<backends::GeneratedFile> quantization_report(const ir::Graph& g, const passes::QuantContext& q,
                                                         const QuantReportInputs& in, const CompileOptions& opts);

}  // namespace tinyodlc
