// Helpers shared by the op definitions in ir/ops/: checks with precise errors, axis
// normalisation, broadcasting, strides, kernel naming.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "ir/graph.h"
#include "ir/kernel_call.h"
#include "ir/op_registry.h"
#include "support/checked.h"

namespace tinyodlc::ir::ops {

// Input k, which must be present.
Value* req_input(const Node& n, size_t k);
// Input k must be a constant (e.g. Reshape's shape); returns its data.
const TensorData& const_input(const Node& n, size_t k, const char* what);
// Input k as int64 list if present, else `dflt`; fails if present but not constant.
std::vector<int64_t> const_ints_input_or(const Node& n, size_t k, const char* what, std::vector<int64_t> dflt);
// Input k's shape (must be inferred).
const Shape& shape_of(const Node& n, size_t k);

void check_input_count(const Node& n, size_t min, size_t max);
// All present inputs among `ks` have the same dtype as input 0, and it is in `allowed`.
DType check_same_dtype(const Node& n, std::initializer_list<size_t> ks, uint32_t allowed);
void check_dtype(const Node& n, size_t k, uint32_t allowed);

void set_output(Node& n, size_t k, DType t, Shape s);

// Normalises an axis in [-rank, rank) (or [-rank-1, rank] with `inclusive`) to [0, rank).
int64_t norm_axis(const Node& n, int64_t axis, int64_t rank, bool inclusive = false);

// numpy broadcasting of two or more shapes; fails naming the node if incompatible.
Shape broadcast_shapes(const Node& n, const std::vector<Shape>& shapes);
// numpy matmul of inputs ia and ib (MatMul, MatMulInteger, QLinearMatMul, QMatMul): 1-D
// operands are promoted to matrices and the added dim removed again; batch dims broadcast.
// Fails naming the node on rank 0 or differing inner dimensions.
struct MatMulDims {
  int64_t m = 1, n = 1, k = 1;
  Shape batch;             // broadcast batch dims
  Shape a_batch, b_batch;  // operand batch dims
  Shape out;
};
MatMulDims matmul_dims(const Node& n, size_t ia = 0, size_t ib = 1);
// Strides of `in` (right-aligned into `out`'s rank) with 0 for broadcast dims.
I32s broadcast_strides(const Shape& in, const Shape& out);
I32s contiguous_strides(const Shape& s);
I32s to_i32s(const Node& n, const std::vector<int64_t>& v);
I32s dims_i32(const Node& n, const Shape& s);

// Checked shape arithmetic (support/checked.h) with errors naming the node and `what` (e.g.
// "attribute 'pads'", "window extent"): a * b, a + b, a - b, narrowing to int32.
int64_t mul(const Node& n, int64_t a, int64_t b, std::string_view what);
int64_t add(const Node& n, int64_t a, int64_t b, std::string_view what);
int64_t sub(const Node& n, int64_t a, int64_t b, std::string_view what);
int32_t i32(const Node& n, int64_t v, std::string_view what);
// v's element count as a 32-bit kernel parameter (an error if it does not fit).
int32_t numel_i32(const Node& n, const Value* v);

// The node was imported at an opset older than `v` (node.opset 0 = newest).
inline bool before(const Node& n, int v) { return n.opset != 0 && n.opset < v; }
// canonicalize_import helper: moves the ints attribute `attr` (if present) to a new int64
// constant input at position k (for ops whose later opsets take it as an input).
void attr_to_input(Node& n, Graph& g, const char* attr, size_t k);

// "tinyodlc::ref::name<T1, T2>"
std::string ref_kernel(std::string_view name, std::initializer_list<std::string_view> targs = {});

}  // namespace tinyodlc::ir::ops
