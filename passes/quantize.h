// Post-training quantization as passes (scheme: docs/quantization.md):
//   calibrate   runs the float graph on the calibration sets and records every float
//               activation's range (an analysis: the graph is unchanged);
//   insert-qdq  rewrites the float graph into QDQ form from those ranges;
//   qdq-fold    (qdq_fold.h) turns the QDQ patterns into int8 ops, exactly as for an
//               imported QDQ model.
// The passes share a QuantContext through PassContext::quant. The driver fills it from
// --quantize int8 --calibration DIR; tinyodlc-opt from --calibration DIR, --act-range
// NAME=LO:HI and --qdq-drop-pairs, so each pass can be run and lit-tested alone.
#pragma once

#include <iosfwd>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "passes/qdq_fold.h"

namespace tinyodlc::passes {

// An activation's clipping range (lo, hi) and the observed extremes (min, max).
struct ActRange {
  double lo = 0, hi = 0;
  double min = 0, max = 0;
};

enum class ClipMethod { MinMax, Percentile, Mse };
ClipMethod parse_clip_method(const std::string& s);  // "minmax" | "percentile" | "mse"

// Ranges of all float (f32) non-constant values, by value name, from running g (through the
// reference kernels, i.e. with the generated code's semantics) on each input set. `progress`
// (may be null) receives a line per 10% of the sets on long calibrations.
std::map<std::string, ActRange> calibrate(const ir::Graph& g, const std::vector<std::vector<ir::TensorData>>& sets,
                                          ClipMethod method, std::ostream* progress);

struct InsertQdqStats {
  int activations = 0;  // Q/DQ pairs inserted
  int weights = 0;      // constants quantized to int8
};

// - every f32 activation with a range gets QuantizeLinear(int8, per tensor) -> DequantizeLinear
//   (graph outputs keep their names: they become the DequantizeLinear output);
// - outputs of MaxPool/Reshape/Flatten/Transpose/Squeeze/Unsqueeze/Identity/Slice/Gather/Pad
//   reuse their input's parameters (no requantization);
// - the output of a Conv/Gemm/MatMul/Add/Mul read only by a Relu/Clip is not quantized (the
//   activation is fused);
// - weights of Conv (axis 0), Gemm (transB ? axis 0 : axis 1) and MatMul (last axis) become
//   int8 symmetric per output channel + DequantizeLinear; other float constants read by
//   Add/Mul become int8 per tensor. Biases stay float (qdq_fold quantizes them to int32).
InsertQdqStats insert_qdq(ir::Graph& g, const std::map<std::string, ActRange>& ranges);

// What the quantization passes share within one compilation (PassContext::quant).
struct QuantContext {
  std::vector<std::vector<ir::TensorData>> calibration_sets;  // read by calibrate
  ClipMethod method = ClipMethod::MinMax;
  std::ostream* progress = nullptr;        // calibration progress on long runs (may be null)
  std::map<std::string, ActRange> ranges;  // written by calibrate, read by insert-qdq
  // Set by the user (--quant-range NAME=LO:HI): replaces the calibrated clipping range of NAME
  // (calibrate fails on a name that has no range).
  std::map<std::string, std::pair<double, double>> range_overrides;
  // Activations kept in float (--int8-keep-float, --int8-sensitivity): calibrate drops their
  // ranges, so insert-qdq leaves them float (fails on a name that has no range).
  std::set<std::string> keep_float;
  bool ranges_given = false;  // calibrate keeps `ranges` as they are (re-quantizing with known ranges)
  bool drop_pairs = false;                 // qdq-fold: also remove Q->DQ pairs between float ops (PTQ)
  InsertQdqStats inserted;                 // statistics of the passes, for the report
  QdqFoldStats folded;
};

}  // namespace tinyodlc::passes
