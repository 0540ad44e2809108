// qdq-fold: QuantizeLinear/DequantizeLinear patterns -> int8 tinyodlc.Q* ops (see qdq_fold.cpp).
#pragma once

#include "ir/graph.h"

namespace tinyodlc::passes {

struct QdqFoldStats {
  int folded = 0;         // float ops replaced by integer ops
  int dropped_pairs = 0;  // Q -> DQ pairs removed between float ops (drop_pairs)
};

// Folds every matching pattern. drop_pairs (PTQ): also bypass Q -> DQ pairs that no integer
// op reads, so that chains of float fallback ops stay in float.
QdqFoldStats qdq_fold(ir::Graph& g, bool drop_pairs);

}  // namespace tinyodlc::passes
