// CumSum(x, axis) {exclusive, reverse}: cumulative sum along a constant axis.
// Kernel: kernels/tinyodlc/ref/cumsum.h. Gradient: the cumulative sum of dy in the
// other direction.
#include "tinyodlc/ref/cumsum.h"

#include "ir/grad.h"
#include "ir/ops/op_utils.h"

namespace tinyodlc::ir::ops {
namespace {

using Types = TypeList<float, double, int32_t, int64_t, uint32_t, uint64_t>;

int64_t cumsum_axis(const Node& n) {
  const TensorData& a = const_input(n, 1, "axis");
  if (a.numel() != 1) fail(n, "axis must be a scalar");
  return norm_axis(n, a.get_i64(0), static_cast<int64_t>(shape_of(n, 0).size()));
}

OpDef cumsum_op() {
  OpDef d;
  d.name = "CumSum";
  d.infer = [](Node& n) {
    check_input_count(n, 2, 2);
    check_dtype(n, 0, type_mask(Types{}));
    if (shape_of(n, 0).empty()) fail(n, "input must have rank >= 1");
    cumsum_axis(n);
    set_output(n, 0, n.inputs[0]->dtype, shape_of(n, 0));
  };
  d.lower = [](const Node& n) {
    const Shape& s = shape_of(n, 0);
    const int64_t axis = cumsum_axis(n);
    int64_t outer = 1, inner = 1;
    for (int64_t i = 0; i < axis; ++i) outer *= s[i];
    for (size_t i = static_cast<size_t>(axis) + 1; i < s.size(); ++i) inner *= s[i];
    const bool exclusive = n.attr_int_or("exclusive", 0) != 0, reverse = n.attr_int_or("reverse", 0) != 0;
    return dispatch(Types{}, n.inputs[0]->dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      return make_call("tinyodlc/ref/cumsum.h", ref_kernel("cumsum", {ctype_of<T>()}), &ref::cumsum<T>, In{0}, Out{0},
                       static_cast<int32_t>(outer), static_cast<int32_t>(s[axis]), static_cast<int32_t>(inner),
                       exclusive, reverse);
    });
  };
  d.macs = [](const Node& n) { return n.inputs[0]->numel(); };
  // y_j = sum_{i <= j} x_i (exclusive: i < j) => dx_i = sum_{j >= i} dy_j (exclusive: j > i):
  // the same CumSum with the direction reversed.
  d.grad = [](GradContext& c) {
    if (!c.needs(0)) return;
    const Node& n = c.node;
    c.set_dx(0, c.emit("CumSum", {c.dy(0), n.inputs[1]},
                       {{"exclusive", Attribute::Int(n.attr_int_or("exclusive", 0) != 0)},
                        {"reverse", Attribute::Int(n.attr_int_or("reverse", 0) == 0)}}));
  };
  return d;
}

const OpRegistrar kCumSum(cumsum_op());

}  // namespace
}  // namespace tinyodlc::ir::ops
