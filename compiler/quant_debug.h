// The per-tensor int8 report (--quant-debug, docs/quantization.md "Per-tensor report"): every
// quantized activation of the int8 graph compared with the same tensor of the float graph on
// the evaluation sets (centered cosine, relative error, share of clipped values, the error of
// the tensor's own int8 grid, and the error it adds to its inputs'), in graph order and worst
// first. Written as quant_debug.md / quant_debug.json next to quantization.md.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "backends/cpp_emitter.h"
#include "ir/graph.h"
#include "passes/quantize.h"

namespace tinyodlc {

struct TensorQuantError {
  std::string name;       // float tensor name (the int8 one is name + ".q")
  std::string op;         // producer op in the float graph
  double scale = 0;
  int32_t zero_point = 0;
  double lo = 0, hi = 0;  // clipping range used (passes::ActRange)
  double centered_cosine = 1;  // int8 vs float, after subtracting the mean float value per element
  double rel_err = 0;          // ||q - f|| / ||f||
  double clipped = 0;          // share of float values outside the int8 range (saturated)
  double grid_rel_err = 0;     // ||Q(f) - f|| / ||f||: the float value on this tensor's int8 grid
  double added = 0;            // rel_err - max rel_err of the nearest quantized inputs
  int64_t elements = 0;        // per input set
};

// Measures every int8 activation `X.q` of g against `X` of the float graph on `sets`, in the
// float graph's node order.
std::vector<TensorQuantError> per_tensor_errors(const ir::Graph& g, const ir::Graph& float_graph,
                                                const std::vector<std::vector<ir::TensorData>>& sets,
                                                const std::map<std::string, passes::ActRange>& ranges);

// Bytes of the graph's constants (each counted once).
size_t constant_bytes(const ir::Graph& g);

// quant_debug.md and quant_debug.json.
std::vector<backends::GeneratedFile> quant_debug_files(const std::vector<TensorQuantError>& t,
                                                       const std::string& model, const std::string& eval_dir,
                                                       size_t eval_sets);

}  // namespace tinyodlc
