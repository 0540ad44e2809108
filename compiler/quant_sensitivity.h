// Mixed precision as an escape hatch (--int8-sensitivity N, --int8-keep-float NAMES; issue 18,
// docs/quantization.md): which int8 activations hurt the output most, measured by quantizing the
// model again with one candidate kept in float and comparing the outputs with the float model on
// the calibration sets; the N best (that do help) stay float. Every kept tensor is reported with
// its RAM and flash cost (quantization.md/json and stderr), never silently.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "passes/quantize.h"

namespace tinyodlc {

struct KeptFloat {
  std::string name, op;
  std::string why;             // "--int8-keep-float" or "--int8-sensitivity"
  double score_without = 0;    // output centered cosine (calibration sets) with the tensor in int8
  double score_with = 0;       // ... with it kept in float (alone)
  long long ram_bytes = 0;     // host arena growth (single arena) when kept alone
  long long flash_bytes = 0;   // constant bytes growth when kept alone
};

struct SensitivityCosts {
  // Quantizes the float model with `keep` in float (calibrated ranges fixed).
  std::function<std::unique_ptr<ir::Graph>(const std::set<std::string>& keep)> quantize;
  std::function<size_t(const ir::Graph&)> arena_bytes;
};

// Mean over the outputs of the centered cosine of gq's outputs vs the float outputs (per set).
double output_score(const ir::Graph& gq, const std::vector<std::vector<const ir::TensorData*>>& float_outputs,
                    const std::vector<std::vector<ir::TensorData>>& sets);

// The tensors to keep in float: the user's (`keep`, costs measured) and, when count > 0, up to
// `count` more chosen among the 3 * count (at least 8) tensors that add the most error
// (per-tensor report), each tried alone; only those that raise the output score are kept.
std::vector<KeptFloat> choose_float_tensors(const ir::Graph& float_graph, const SensitivityCosts& fn,
                                            const std::set<std::string>& keep,
                                            const std::vector<std::vector<ir::TensorData>>& sets,
                                            const std::map<std::string, passes::ActRange>& ranges, int count);

}  // namespace tinyodlc
