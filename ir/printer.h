// Textual IR printer. The format (MLIR-like, grammar in docs/ir.md) round-trips exactly
// through ir/parser.h: print_graph(*parse_graph(print_graph(g))) == print_graph(g).
//
//   graph @model opset(13) (%x: f32[1,3,8,8]) -> (%y) {
//     %w = constant f32[8,3,3,3] dense<[0.5, -1.0, ...]>
//     %y = Conv(%x, %w, _) {kernel_shape = [3, 3], pads = [1, 1, 1, 1]} name("conv1") : f32[1,8,8,8]
//   }
#pragma once

#include <cstdint>
#include <string>

#include "ir/graph.h"

namespace tinyodlc::ir {

struct PrintOptions {
  // Constants and tensor attributes with more than this many elements are printed as
  // `dense<...>` (display only: the parser rejects it). Negative = print all data.
  int64_t elide_constants_above = -1;
};

std::string print_graph(const Graph& g, const PrintOptions& opts = {});

// One node statement, without indentation or newline:
// `%y = Relu(%x) name("relu1") : f32[4]`.
std::string print_node(const Node& n, const PrintOptions& opts = {});

// A value's type as printed: "f32[1,3]", "f32[?]" (shape unknown), "?" (nothing known),
// with a `quant<...>` suffix when the value has quantization parameters.
std::string print_type(const Value& v);

// Value reference as printed: %x, or %"onnx::MatMul_12" when the name is not identifier-like.
std::string print_value_ref(const std::string& name);

// Scalars in the IR's literal syntax (shortest round-trip form; inf, -inf, nan, -nan,
// nan(0x7FC00001) for NaNs with a payload). Floats always contain '.', 'e', or are inf/nan.
std::string format_f32(float v);
std::string format_f64(double v);
// Double-quoted string with C-like escapes (\" \\ \n \t \r \xHH).
std::string quote_string(const std::string& s);

// IEEE binary16 <-> binary32 (round to nearest even), for f16 tensors stored as raw bits.
float half_to_float(uint16_t h);
uint16_t float_to_half(float f);

}  // namespace tinyodlc::ir
