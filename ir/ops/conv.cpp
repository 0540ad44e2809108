// Conv: N-d (1-D to 3-D) convolution with groups (incl. depthwise), strides, dilations,
// explicit or automatic pads and an optional bias. Kernel: kernels/tinyodlc/ref/conv.h.
//
// Gradient (on-device learning):
//   dX = ConvTranspose(dY, W) with the forward strides/dilations/group/pads and output_padding
//        = the rows the forward windows never reached (so that dX has X's shape),
//   dW = tinyodlc::ConvGradWeight(X, dY) {kernel_shape, strides, dilations, pads_begin, group},
//   dB = ReduceSum(dY) over batch and spatial dims.
#include "tinyodlc/ref/conv.h"

#include "ir/grad.h"
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
    const int32_t group = i32(n, n.attr_int_or("group", 1), "attribute 'group'");
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
    for (size_t i = 1; i < w.size(); ++i) k *= w[i];  // <= the weight's element count
    return mul(n, n.outputs[0]->numel(), k, "MAC count");
  };
  return d;
}
// Gradient rule of Conv (see the file comment).
void conv_grad(GradContext& c) {
  const Node& n = c.node;
  Value* dy = c.dy(0);
  const Window win = conv_window(n);
  const size_t r = win.in.size();
  const int64_t group = n.attr_int_or("group", 1);
  if (c.needs(0)) {
    std::vector<int64_t> pads = win.pads_begin, opad(r);
    pads.insert(pads.end(), win.pads_end.begin(), win.pads_end.end());
    for (size_t i = 0; i < r; ++i) {
      const int64_t ext = (win.kernel[i] - 1) * win.dilations[i] + 1;
      opad[i] = (win.in[i] + win.pads_begin[i] + win.pads_end[i] - ext) % win.strides[i];
    }
    Value* dx = c.emit("ConvTranspose", {dy, n.inputs[1]},
                       {{"strides", Attribute::Ints(win.strides)},
                        {"dilations", Attribute::Ints(win.dilations)},
                        {"pads", Attribute::Ints(pads)},
                        {"output_padding", Attribute::Ints(opad)},
                        {"group", Attribute::Int(group)}});
    c.set_dx(0, dx);
  }
  if (c.needs(1))
    c.set_dx(1, c.emit("ConvGradWeight", {n.inputs[0], dy},
                       {{"kernel_shape", Attribute::Ints(win.kernel)},
                        {"strides", Attribute::Ints(win.strides)},
                        {"dilations", Attribute::Ints(win.dilations)},
                        {"pads_begin", Attribute::Ints(win.pads_begin)},
                        {"group", Attribute::Int(group)}},
                       kTinyodlcDomain));
  if (c.needs(2)) {
    std::vector<int64_t> axes{0};
    for (size_t i = 0; i < r; ++i) axes.push_back(static_cast<int64_t>(i + 2));
    c.set_dx(2, c.emit("ReduceSum", {dy, c.const_i64(axes)}, {{"keepdims", Attribute::Int(0)}}));
  }
}

const OpRegistrar kConv([] {
  OpDef d = conv_op();
  d.grad = conv_grad;
  return d;
}());

// tinyodlc::ConvGradWeight(X [N, C, in...], dY [N, M, out...]) -> dW [M, C/group, kernel...]
// {kernel_shape, strides, dilations, pads_begin, group}. Also the weight gradient of
// ConvTranspose (ir/ops/conv_transpose.cpp), with X := its dY and dY := its X.
OpDef conv_grad_weight_op() {
  OpDef d;
  d.domain = kTinyodlcDomain;
  d.name = "ConvGradWeight";
  d.infer = [](Node& n) {
    check_input_count(n, 2, 2);
    DType t = check_same_dtype(n, {0, 1}, type_mask(ConvTypes{}));
    const size_t r = spatial_rank(n);
    const Shape& x = shape_of(n, 0);
    const Shape& dy = shape_of(n, 1);
    if (dy.size() != x.size() || dy[0] != x[0])
      fail(n, fmt::format("dY {} must have X's rank and batch ({})", shape_str(dy), shape_str(x)));
    const int64_t group = n.attr_int_or("group", 1);
    if (group < 1 || x[1] % group != 0 || dy[1] % group != 0)
      fail(n, fmt::format("group = {} must divide the channels of X {} and dY {}", group, shape_str(x), shape_str(dy)));
    std::vector<int64_t> k = window_attr(n, "kernel_shape", r, 1, 1);
    window_attr(n, "strides", r, 1, 1);
    window_attr(n, "dilations", r, 1, 1);
    window_attr(n, "pads_begin", r, 0, 0);
    Shape w{dy[1], x[1] / group};
    w.insert(w.end(), k.begin(), k.end());
    set_output(n, 0, t, w);
  };
  d.lower = [](const Node& n) {
    const size_t r = spatial_rank(n);
    const Shape& x = n.inputs[0]->shape;
    const Shape& dy = n.inputs[1]->shape;
    return dispatch(ConvTypes{}, n.inputs[0]->dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      return make_call(kHeader, ref_kernel("conv_grad_weight", {ctype_of<T>()}), &ref::conv_grad_weight<T>, In{0},
                       In{1}, Out{0}, static_cast<int32_t>(x[0]), static_cast<int32_t>(x[1]),
                       static_cast<int32_t>(dy[1]), static_cast<int32_t>(n.attr_int_or("group", 1)),
                       pad3(n, std::vector<int64_t>(x.begin() + 2, x.end()), 1),
                       pad3(n, window_attr(n, "kernel_shape", r, 1, 1), 1),
                       pad3(n, std::vector<int64_t>(dy.begin() + 2, dy.end()), 1),
                       pad3(n, window_attr(n, "strides", r, 1, 1), 1), pad3(n, window_attr(n, "dilations", r, 1, 1), 1),
                       pad3(n, window_attr(n, "pads_begin", r, 0, 0), 0));
    });
  };
  // dY elements x (C/group) x kernel size
  d.macs = [](const Node& n) {
    const Shape& w = n.outputs[0]->shape;
    int64_t k = 1;
    for (size_t i = 1; i < w.size(); ++i) k *= w[i];
    return n.inputs[1]->numel() * k;
  };
  return d;
}
const OpRegistrar kConvGradWeight(conv_grad_weight_op());

}  // namespace
}  // namespace tinyodlc::ir::ops
