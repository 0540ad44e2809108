// Generators and conversions: ConstantOfShape, Range, Cast, CastLike.
// Kernels: kernels/tinyodlc/ref/generators.h.
#include <cmath>
#include <limits>

#include "tinyodlc/ref/generators.h"

#include "ir/grad.h"
#include "ir/ops/op_utils.h"

namespace tinyodlc::ir::ops {
namespace {

constexpr const char* kHeader = "tinyodlc/ref/generators.h";

// ---- ConstantOfShape(shape; value = float 0) ---------------------------------------------------
// The fill value: the `value` tensor attribute (one element), default float32 0.
TensorData fill_value(const Node& n) {
  const Attribute* a = n.attr("value");
  if (!a) {
    TensorData t(DType::F32, {1});
    return t;
  }
  if (a->kind != Attribute::Kind::Tensor || !a->t) fail(n, "attribute 'value' must be a tensor");
  if (a->t->numel() != 1)
    fail(n, fmt::format("attribute 'value' must hold exactly one element, got shape {}", shape_str(a->t->shape)));
  if (!(type_mask(AllTypes{}) & dtype_bit(a->t->dtype)))
    fail(n, fmt::format("attribute 'value' has unsupported element type {}", dtype_name(a->t->dtype)));
  return *a->t;
}

OpDef constant_of_shape_op() {
  OpDef d;
  d.name = "ConstantOfShape";
  d.infer = [](Node& n) {
    check_input_count(n, 1, 1);
    const Value* s = n.inputs[0];
    if (s->dtype != DType::I64) fail(n, fmt::format("the shape (input 0) must be int64, got {}", dtype_name(s->dtype)));
    if (s->shape.size() != 1) fail(n, fmt::format("the shape (input 0) must be 1-D, got shape {}", shape_str(s->shape)));
    std::vector<int64_t> dims = const_input(n, 0, "output shape").to_i64();
    for (int64_t x : dims)
      if (x < 0) fail(n, fmt::format("output shape [{}] has a negative dimension", fmt::join(dims, ",")));
    set_output(n, 0, fill_value(n).dtype, Shape(dims.begin(), dims.end()));
  };
  d.lower = [](const Node& n) {
    TensorData v = fill_value(n);
    const int32_t count = to_i32s(n, {n.outputs[0]->numel()})[0];
    return dispatch(AllTypes{}, v.dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      return make_call(kHeader, ref_kernel("fill", {ctype_of<T>()}), &ref::fill<T>, Out{0}, count, *v.data<T>());
    });
  };
  return d;
}
const OpRegistrar kConstantOfShape(constant_of_shape_op());

// ---- Range(start, limit, delta) ------------------------------------------------------------------
using RangeTypes = TypeList<float, double, int16_t, int32_t, int64_t>;

// Number of elements: max(ceil((limit - start) / delta), 0); the inputs must be constant.
int64_t range_count(const Node& n) {
  const TensorData& s = const_input(n, 0, "start");
  const TensorData& l = const_input(n, 1, "limit");
  const TensorData& dl = const_input(n, 2, "delta");
  if (dtype_is_float(s.dtype)) {
    double start = s.get_f64(0), limit = l.get_f64(0), delta = dl.get_f64(0);
    if (delta == 0) fail(n, "delta is 0");
    double c = std::ceil((limit - start) / delta);
    if (!(c <= static_cast<double>(std::numeric_limits<int32_t>::max())))
      fail(n, fmt::format("Range({}, {}, {}) has too many elements", start, limit, delta));
    return c > 0 ? static_cast<int64_t>(c) : 0;
  }
  int64_t start = s.get_i64(0), limit = l.get_i64(0), delta = dl.get_i64(0);
  if (delta == 0) fail(n, "delta is 0");
  // Exact ceil((limit - start) / delta) in 128-bit-safe steps (|limit - start| may exceed int64).
  if ((delta > 0 && limit <= start) || (delta < 0 && limit >= start)) return 0;
  const uint64_t span = delta > 0 ? static_cast<uint64_t>(limit) - static_cast<uint64_t>(start)
                                  : static_cast<uint64_t>(start) - static_cast<uint64_t>(limit);
  const uint64_t step = delta > 0 ? static_cast<uint64_t>(delta) : 0 - static_cast<uint64_t>(delta);
  const uint64_t c = span / step + (span % step != 0 ? 1 : 0);
  if (c > static_cast<uint64_t>(std::numeric_limits<int32_t>::max()))
    fail(n, fmt::format("Range({}, {}, {}) has too many elements", start, limit, delta));
  return static_cast<int64_t>(c);
}

OpDef range_op() {
  OpDef d;
  d.name = "Range";
  d.infer = [](Node& n) {
    check_input_count(n, 3, 3);
    check_same_dtype(n, {0, 1, 2}, type_mask(RangeTypes{}));
    for (size_t k = 0; k < 3; ++k)
      if (num_elements(shape_of(n, k)) != 1)
        fail(n, fmt::format("input {} ('{}') must be a scalar, got shape {}", k, n.inputs[k]->name,
                            shape_str(shape_of(n, k))));
    set_output(n, 0, n.inputs[0]->dtype, {range_count(n)});
  };
  d.lower = [](const Node& n) {
    const int32_t count = static_cast<int32_t>(n.outputs[0]->numel());
    return dispatch(RangeTypes{}, n.inputs[0]->dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      return make_call(kHeader, ref_kernel("range", {ctype_of<T>()}), &ref::range<T>, In{0}, In{2}, Out{0}, count);
    });
  };
  return d;
}
const OpRegistrar kRange(range_op());

// ---- Cast(input; to), CastLike(input, target_type) -------------------------------------------------
// Gradient: float -> float casts pass dy back, cast to the input's type; casts from or to a
// non-float type carry no gradient (autodiff never asks: such outputs do not depend
// differentiably on a parameter).
void grad_cast(GradContext& c) {
  const Node& n = c.node;
  const Value* x = n.inputs[0];
  if (!c.needs(0) || !c.dy(0) || !dtype_is_float(x->dtype) || !dtype_is_float(n.outputs[0]->dtype)) return;
  Value* dy = c.dy(0);
  c.set_dx(0, dy->dtype == x->dtype ? dy : c.emit("Cast", {dy}, {{"to", Attribute::Int(dtype_to_onnx(x->dtype))}}));
}

// ONNX element type names, for Cast-1's string `to` and for messages.
DType cast_target(const Node& n) {
  const Attribute* a = n.attr("to");
  if (!a) fail(n, "required attribute 'to' is missing");
  int32_t onnx_type = 0;
  if (a->kind == Attribute::Kind::String) {  // Cast-1: type name
    static const std::pair<const char*, int32_t> kNames[] = {
        {"FLOAT", 1},  {"UINT8", 2},  {"INT8", 3},    {"UINT16", 4},  {"INT16", 5},   {"INT32", 6},  {"INT64", 7},
        {"STRING", 8}, {"BOOL", 9},   {"FLOAT16", 10}, {"DOUBLE", 11}, {"UINT32", 12}, {"UINT64", 13}};
    for (const auto& [name, t] : kNames)
      if (a->s == name) onnx_type = t;
    if (onnx_type == 0) fail(n, fmt::format("unsupported target type '{}'", a->s));
  } else {
    onnx_type = static_cast<int32_t>(n.attr_int("to"));
  }
  DType t = dtype_from_onnx(onnx_type);
  if (!(type_mask(AllTypes{}) & dtype_bit(t)))
    fail(n, fmt::format("cast to {} is not supported", onnx_type_name(onnx_type)));
  return t;
}

void check_cast_source(const Node& n) {
  const Value* x = req_input(n, 0);
  if (!(type_mask(AllTypes{}) & dtype_bit(x->dtype)))
    fail(n, fmt::format("cast from {} (input '{}') is not supported", dtype_name(x->dtype), x->name));
}

KernelCall lower_cast(const Node& n) {
  const int32_t count = to_i32s(n, {n.inputs[0]->numel()})[0];
  return dispatch(AllTypes{}, n.inputs[0]->dtype, [&](auto stag) {
    using S = typename decltype(stag)::type;
    return dispatch(AllTypes{}, n.outputs[0]->dtype, [&](auto dtag) {
      using D = typename decltype(dtag)::type;
      return make_call(kHeader, ref_kernel("cast", {ctype_of<S>(), ctype_of<D>()}), &ref::cast<S, D>, In{0}, Out{0},
                       count);
    });
  });
}

OpDef cast_op() {
  OpDef d;
  d.name = "Cast";
  d.infer = [](Node& n) {
    check_input_count(n, 1, 1);
    check_cast_source(n);
    DType t = cast_target(n);
    n.attr_int_or("saturate", 1);  // only affects float8 targets, which are not supported
    set_output(n, 0, t, shape_of(n, 0));
  };
  d.lower = lower_cast;
  d.grad = grad_cast;
  return d;
}
const OpRegistrar kCast(cast_op());

OpDef cast_like_op() {
  OpDef d;
  d.name = "CastLike";
  d.infer = [](Node& n) {
    check_input_count(n, 2, 2);
    check_cast_source(n);
    const Value* like = req_input(n, 1);
    if (!(type_mask(AllTypes{}) & dtype_bit(like->dtype)))
      fail(n, fmt::format("cast to {} (the type of input '{}') is not supported", dtype_name(like->dtype), like->name));
    set_output(n, 0, like->dtype, shape_of(n, 0));
  };
  d.lower = lower_cast;
  d.grad = grad_cast;  // no gradient for target_type (only its type is read)
  return d;
}
const OpRegistrar kCastLike(cast_like_op());

}  // namespace
}  // namespace tinyodlc::ir::ops
