// The root-mean-square chains that fold into one integer op (tinyodlc.QRms, issue 18):
//   Pow(x, 2) | Mul(x, x) -> ReduceMean(axes) [-> Add(eps)] -> Sqrt [-> Div(c, .) | Reciprocal]
// (RMSNorm's 1 / sqrt(mean(x^2) + eps), EmbBERT-Q's sqrt(mean(x^2)) head). Quantizing each
// step on its own loses the small squares (a square below half a step of the x^2 tensor becomes
// 0) and puts a square root with infinite slope at 0 on a linear int8 grid; the fused op sums
// (x - x_zp)^2 of the int8 x exactly and rounds once. insert_qdq leaves the values inside a
// chain float (no Q/DQ), qdq_fold replaces the chain by QRms; one matcher serves both.
#pragma once

#include <optional>
#include <vector>

#include "ir/graph.h"

namespace tinyodlc::passes {

struct RmsChain {
  ir::Value* x = nullptr;          // the squared value
  std::vector<int64_t> axes;       // reduced axes (non-negative, sorted, contiguous)
  bool keepdims = true;
  double eps = 0;                  // added to the mean
  bool reciprocal = false;         // y = c / sqrt(...) (else y = sqrt(...))
  double c = 1;
  std::vector<ir::Node*> nodes;    // the chain in order, the terminal node last
  std::vector<ir::Value*> inside;  // outputs of every node but the terminal
};

// `terminal` is the chain's last node: a Sqrt not followed by a matching Div/Reciprocal, or the
// Div(c, sqrt) / Reciprocal(sqrt). Values inside must have one user and not be graph outputs;
// x must have a known static shape.
std::optional<RmsChain> match_rms_chain(const ir::Graph& g, ir::Node& terminal);

}  // namespace tinyodlc::passes
