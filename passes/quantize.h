// Post-training quantization, step 1: rewrites a float graph into QDQ form from calibrated
// activation ranges (scheme: docs/quantization.md). qdq_fold then turns the QDQ patterns
// into int8 ops, exactly as for an imported QDQ model.
#pragma once

#include <map>
#include <string>

#include "ir/graph.h"

namespace tinyodlc::passes {

struct ActRange {
  double lo = 0, hi = 0;
};

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

}  // namespace tinyodlc::passes
