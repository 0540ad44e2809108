// Conv: N-d (1-D to 3-D) convolution with groups (incl. depthwise), strides, dilations,
// explicit or automatic pads and an optional bias. Kernel: backends/kernels/tinyodlc/ref/conv.h.
#include "tinyodlc/ref/conv.h"

#include "ir/ops/nn_utils.h"

namespace tinyodlc::ir::ops {
namespace {

constexpr const char* kHeader = "tinyodlc/ref/conv.h";
using ConvTypes = TypeList<float, double>;

// Validates X [N, C, sp...], W [M, C/group, k...], B [M] and the attributes; returns the
// window geometry.
Window conv_window(const Node& n) {
  spatial_rank(n);
  const Shape& x = shape_of(n, 0);
  const Shape& w = shape_of(n, 1);
  if (w.size() != x.size())
    fail(n, fmt::format("weight '{}' has shape {}, expected rank {} ([M, C/group, kernel...]) to match input {}",
                        n.inputs[1]->name, shape_str(w), x.size(), shape_str(x)));
  int64_t group = n.attr_int_or("group", 1);
  if (group < 1) fail(n, fmt::format("group = {} must be >= 1", group));
  if (x[1] % group != 0) fail(n, fmt::format("input channels {} are not divisible by group = {}", x[1], group));
  if (w[1] * group != x[1])
    fail(n, fmt::format("weight '{}' {} expects {} input channels per group, but input {} has {} channels in {} "
                        "group(s)",
                        n.inputs[1]->name, shape_str(w), w[1], shape_str(x), x[1], group));
  if (w[0] < 1 || w[0] % group != 0)
    fail(n, fmt::format("output channels {} (weight dim 0) must be a positive multiple of group = {}", w[0], group));
  if (Value* b = n.input(2)) {
    const Shape& bs = shape_of(n, 2);
    if (bs != Shape{w[0]}) fail(n, fmt::format("bias '{}' has shape {}, expected [{}]", b->name, shape_str(bs), w[0]));
  }
  std::vector<int64_t> kernel(w.begin() + 2, w.end());
  if (n.has_attr("kernel_shape") && n.attr_ints_or("kernel_shape", {}) != kernel)
    fail(n, fmt::format("kernel_shape [{}] does not match the weight '{}' {}",
                        fmt::join(n.attr_ints_or("kernel_shape", {}), ","), n.inputs[1]->name, shape_str(w)));
  return forward_window(n, Shape(x.begin() + 2, x.end()), kernel, false);
}

OpDef conv_op() {
  OpDef d;
  d.name = "Conv";
  d.infer = [](Node& n) {
    check_input_count(n, 2, 3);
    DType t = check_same_dtype(n, {0, 1, 2}, type_mask(ConvTypes{}));
    Window win = conv_window(n);
    Shape y{shape_of(n, 0)[0], shape_of(n, 1)[0]};
    y.insert(y.end(), win.out.begin(), win.out.end());
    set_output(n, 0, t, y);
  };
  d.lower = [](const Node& n) {
    Window win = conv_window(n);
    const Shape& x = n.inputs[0]->shape;
    const Shape& w = n.inputs[1]->shape;
    const int32_t group = static_cast<int32_t>(n.attr_int_or("group", 1));
    return dispatch(ConvTypes{}, n.inputs[0]->dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      return with_opt_input(n, 2, [&](auto bias) {
        return make_call(kHeader, ref_kernel("conv", {ctype_of<T>()}), &ref::conv<T>, In{0}, In{1}, bias, Out{0},
                       static_cast<int32_t>(x[0]), static_cast<int32_t>(x[1]), static_cast<int32_t>(w[0]), group,
                       pad3(n, win.in, 1), pad3(n, win.kernel, 1), pad3(n, win.out, 1), pad3(n, win.strides, 1),
                       pad3(n, win.dilations, 1), pad3(n, win.pads_begin, 0));
      });
    });
  };
  // out elements x (C/group) x kernel size
  d.macs = [](const Node& n) {
    const Shape& w = n.inputs[1]->shape;
    int64_t k = 1;
    for (size_t i = 1; i < w.size(); ++i) k *= w[i];
    return n.outputs[0]->numel() * k;
  };
  return d;
}
const OpRegistrar kConv(conv_op());

}  // namespace
}  // namespace tinyodlc::ir::ops
