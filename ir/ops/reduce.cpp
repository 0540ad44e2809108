// Reductions: ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd, ReduceL1, ReduceL2,
// ReduceSumSquare, ReduceLogSum, ReduceLogSumExp (data, axes?; keepdims = 1,
// noop_with_empty_axes = 0), and ArgMax/ArgMin (data; axis = 0, keepdims = 1,
// select_last_index = 0). Kernels: kernels/tinyodlc/ref/reduce.h.
// Gradient rules: Sum, Mean, SumSquare, L1, L2, LogSum, LogSumExp, Max, Min (not Prod).
#include <algorithm>
#include <set>

#include "tinyodlc/ref/reduce.h"

#include "ir/grad.h"
#include "ir/ops/op_utils.h"

namespace tinyodlc::ir::ops {
namespace {

constexpr const char* kHeader = "tinyodlc/ref/reduce.h";

// Reduced axes (sorted, normalised); empty = none (noop_with_empty_axes with empty axes).
std::vector<bool> reduced_axes(const Node& n) {
  const Shape& in = shape_of(n, 0);
  const int64_t r = static_cast<int64_t>(in.size());
  std::vector<int64_t> axes;
  if (n.input(1)) {
    const Value* a = n.input(1);
    if (a->dtype != DType::I64) fail(n, fmt::format("axes (input 1, '{}') must be int64, got {}", a->name, dtype_name(a->dtype)));
    if (a->shape.size() != 1) fail(n, fmt::format("axes (input 1, '{}') must be 1-D, got shape {}", a->name, shape_str(a->shape)));
    axes = const_input(n, 1, "axes").to_i64();
  }
  std::vector<bool> red(r, false);
  if (axes.empty()) {
    if (n.attr_int_or("noop_with_empty_axes", 0) == 0) red.assign(r, true);
    return red;
  }
  for (int64_t a : axes) {
    int64_t x = norm_axis(n, a, r);
    if (red[x]) fail(n, fmt::format("axis {} is repeated in axes [{}]", a, fmt::join(axes, ",")));
    red[x] = true;
  }
  return red;
}

Shape reduced_shape(const Shape& in, const std::vector<bool>& red, bool keepdims) {
  Shape out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (!red[i]) out.push_back(in[i]);
    else if (keepdims) out.push_back(1);
  }
  return out;
}

// Marks ReduceLogSumExp, which has its own (two-pass, overflow-safe) kernel.
struct LogSumExp {};

// ---- gradients -----------------------------------------------------------------------------
// Every rule works on dy in the keepdims layout (dy_k, broadcastable against x) and on the
// output y in that layout (y_k): Mul/Div/Sub with x broadcast it back to x's shape; a rule whose
// result does not involve x broadcasts with Expand.
enum class ReduceGrad { None, Sum, Mean, SumSquare, L1, L2, LogSum, LogSumExp, MaxMin };

void reduce_grad(GradContext& c, ReduceGrad kind) {
  if (!c.needs(0)) return;
  const Node& n = c.node;
  Value* x = n.inputs[0];
  const Shape& in = x->shape;
  const std::vector<bool> red = reduced_axes(n);
  const Shape kept = reduced_shape(in, red, true);
  Value* dy = c.reshape(c.dy(0), kept);
  auto y_k = [&]() { return c.reshape(n.outputs[0], kept); };
  auto expand = [&](Value* v) { return v->shape == in ? v : c.emit("Expand", {v, c.const_i64(in)}); };
  int64_t count = 1;
  std::vector<int64_t> axes;
  for (size_t i = 0; i < in.size(); ++i)
    if (red[i]) count *= in[i], axes.push_back(static_cast<int64_t>(i));
  Value* dx = nullptr;
  switch (kind) {
    case ReduceGrad::None:
      return;
    case ReduceGrad::Sum:  // dx = dy
      dx = expand(dy);
      break;
    case ReduceGrad::Mean:  // dx = dy / count
      dx = expand(count == 1 ? dy : c.emit("Mul", {dy, c.scalar_like(dy, 1.0 / static_cast<double>(count))}));
      break;
    case ReduceGrad::SumSquare:  // dx = 2 x dy
      dx = c.emit("Mul", {x, c.emit("Add", {dy, dy})});
      break;
    case ReduceGrad::L1:  // dx = sign(x) dy (0 at x = 0)
      dx = c.emit("UnaryGrad", {expand(dy), x}, {{"op", Attribute::String("Abs")}}, kTinyodlcDomain);
      break;
    case ReduceGrad::L2:  // y = sqrt(sum x^2): dx = x dy / y
      dx = c.emit("Mul", {x, c.emit("Div", {dy, y_k()})});
      break;
    case ReduceGrad::LogSum:  // y = log(sum x): dx = dy / exp(y)
      dx = expand(c.emit("Div", {dy, c.emit("Exp", {y_k()})}));
      break;
    case ReduceGrad::LogSumExp:  // dx = dy exp(x - y)
      dx = c.emit("Mul", {c.emit("Exp", {c.emit("Sub", {x, y_k()})}), dy});
      break;
    case ReduceGrad::MaxMin: {  // dy shared evenly by the elements equal to the extreme value
      Value* mask = c.emit("Cast", {c.emit("Equal", {x, y_k()})}, {{"to", Attribute::Int(dtype_to_onnx(x->dtype))}});
      Value* ties = axes.empty() ? nullptr
                                 : c.emit("ReduceSum", {mask, c.const_i64(axes)}, {{"keepdims", Attribute::Int(1)}});
      dx = c.emit("Mul", {mask, ties ? c.emit("Div", {dy, ties}) : dy});
      break;
    }
  }
  c.set_dx(0, dx);
}

template <typename Op, typename Types>
OpDef reduce_op(const char* name, const char* functor, int axes_input_since, ReduceGrad grad = ReduceGrad::None) {
  OpDef d;
  d.name = name;
  d.canonicalize_import = [axes_input_since](Node& n, Graph& g) {
    if (!before(n, axes_input_since) || !n.has_attr("axes")) return;
    std::vector<int64_t> v = n.attr_ints_or("axes", {});
    auto t = std::make_shared<TensorData>(DType::I64, Shape{static_cast<int64_t>(v.size())});
    std::copy(v.begin(), v.end(), t->data<int64_t>());
    n.inputs.resize(2, nullptr);
    n.inputs[1] = g.add_constant(n.name + "_axes", t);
    n.attrs.erase("axes");
  };
  d.infer = [](Node& n) {
    check_input_count(n, 1, 2);
    check_dtype(n, 0, type_mask(Types{}));
    const Shape& in = shape_of(n, 0);
    if (in.size() > static_cast<size_t>(ref::kMaxRank))
      fail(n, fmt::format("tensors of rank {} are not supported (maximum {})", in.size(), ref::kMaxRank));
    set_output(n, 0, n.inputs[0]->dtype, reduced_shape(in, reduced_axes(n), n.attr_int_or("keepdims", 1) != 0));
  };
  d.lower = [functor](const Node& n) {
    (void)functor;  // unused by the LogSumExp instantiation
    const Shape& in = shape_of(n, 0);
    std::vector<bool> red = reduced_axes(n);
    Shape kept = reduced_shape(in, red, true);
    I32s ks = contiguous_strides(kept), out_strides(in.size());
    int64_t count = 1;
    for (size_t i = 0; i < in.size(); ++i) {
      out_strides[i] = red[i] ? 0 : ks[i];
      if (red[i]) count *= in[i];
    }
    I32s p = to_i32s(n, {num_elements(kept), count});
    return dispatch(Types{}, n.inputs[0]->dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      if constexpr (std::is_same_v<Op, LogSumExp>) {
        KernelCall c = make_call(kHeader, ref_kernel("reduce_log_sum_exp", {ctype_of<T>()}),
                                 &ref::reduce_log_sum_exp<T>, In{0}, Out{0}, Scratch{},
                                 static_cast<int32_t>(in.size()), dims_i32(n, in), out_strides, p[0]);
        c.scratch_bytes = static_cast<size_t>(p[0]) * sizeof(T);
        return c;
      } else {
        return make_call(kHeader, ref_kernel("reduce", {ctype_of<T>(), fmt::format("tinyodlc::ref::{}", functor)}),
                         &ref::reduce<T, Op>, In{0}, Out{0}, static_cast<int32_t>(in.size()), dims_i32(n, in),
                         out_strides, p[0], p[1]);
      }
    });
  };
  d.macs = [](const Node& n) { return n.inputs[0]->numel(); };
  if (grad != ReduceGrad::None) d.grad = [grad](GradContext& c) { reduce_grad(c, grad); };
  return d;
}

using SumTypes = TypeList<float, double, int8_t, uint8_t, int16_t, uint16_t, int32_t, uint32_t, int64_t, uint64_t>;
using MeanTypes = TypeList<float, double, int32_t, uint32_t, int64_t, uint64_t>;
using MinMaxTypes = TypeList<float, double, int8_t, uint8_t, int16_t, uint16_t, int32_t, uint32_t, int64_t, uint64_t, bool>;

const OpRegistrar kReduce[] = {
    OpRegistrar(reduce_op<ref::ReduceSumOp, SumTypes>("ReduceSum", "ReduceSumOp", 13, ReduceGrad::Sum)),
    OpRegistrar(reduce_op<ref::ReduceMeanOp, MeanTypes>("ReduceMean", "ReduceMeanOp", 18, ReduceGrad::Mean)),
    OpRegistrar(reduce_op<ref::ReduceMaxOp, MinMaxTypes>("ReduceMax", "ReduceMaxOp", 18, ReduceGrad::MaxMin)),
    OpRegistrar(reduce_op<ref::ReduceMinOp, MinMaxTypes>("ReduceMin", "ReduceMinOp", 18, ReduceGrad::MaxMin)),
    OpRegistrar(reduce_op<ref::ReduceProdOp, SumTypes>("ReduceProd", "ReduceProdOp", 18)),
    OpRegistrar(reduce_op<ref::ReduceL1Op, SumTypes>("ReduceL1", "ReduceL1Op", 18, ReduceGrad::L1)),
    OpRegistrar(reduce_op<ref::ReduceL2Op, FloatTypes>("ReduceL2", "ReduceL2Op", 18, ReduceGrad::L2)),
    OpRegistrar(reduce_op<ref::ReduceSumSquareOp, SumTypes>("ReduceSumSquare", "ReduceSumSquareOp", 18,
                                                            ReduceGrad::SumSquare)),
    OpRegistrar(reduce_op<ref::ReduceLogSumOp, FloatTypes>("ReduceLogSum", "ReduceLogSumOp", 18, ReduceGrad::LogSum)),
    OpRegistrar(reduce_op<LogSumExp, FloatTypes>("ReduceLogSumExp", "", 18, ReduceGrad::LogSumExp)),
};

// ---- ArgMax / ArgMin --------------------------------------------------------------------------
template <bool kMax>
OpDef arg_op(const char* name) {
  using Types = TypeList<float, double, int8_t, uint8_t, int16_t, uint16_t, int32_t, uint32_t, int64_t, uint64_t>;
  OpDef d;
  d.name = name;
  d.infer = [](Node& n) {
    check_input_count(n, 1, 1);
    check_dtype(n, 0, type_mask(Types{}));
    const Shape& in = shape_of(n, 0);
    if (in.empty()) fail(n, "data (input 0) must have rank >= 1");
    const int64_t axis = norm_axis(n, n.attr_int_or("axis", 0), static_cast<int64_t>(in.size()));
    if (in[axis] == 0) fail(n, fmt::format("cannot take the {} over axis {} of size 0", n.op, axis));
    Shape out;
    for (int64_t i = 0; i < static_cast<int64_t>(in.size()); ++i) {
      if (i != axis) out.push_back(in[i]);
      else if (n.attr_int_or("keepdims", 1) != 0) out.push_back(1);
    }
    set_output(n, 0, DType::I64, out);
  };
  d.lower = [](const Node& n) {
    const Shape& in = shape_of(n, 0);
    const int64_t axis = norm_axis(n, n.attr_int_or("axis", 0), static_cast<int64_t>(in.size()));
    int64_t outer = 1, inner = 1;
    for (int64_t i = 0; i < static_cast<int64_t>(in.size()); ++i) {
      if (i < axis) outer *= in[i];
      if (i > axis) inner *= in[i];
    }
    I32s p = to_i32s(n, {outer, in[axis], inner});
    const bool last = n.attr_int_or("select_last_index", 0) != 0;
    return dispatch(Types{}, n.inputs[0]->dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      return make_call(kHeader, ref_kernel(kMax ? "arg_max" : "arg_min", {ctype_of<T>()}),
                       kMax ? &ref::arg_max<T> : &ref::arg_min<T>, In{0}, Out{0}, p[0], p[1], p[2], last);
    });
  };
  return d;
}

const OpRegistrar kArgMax(arg_op<true>("ArgMax"));
const OpRegistrar kArgMin(arg_op<false>("ArgMin"));

}  // namespace
}  // namespace tinyodlc::ir::ops
