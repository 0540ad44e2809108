// ConvTranspose: N-d (1-D to 3-D) transposed convolution with groups, strides, dilations,
// pads, auto_pad, output_padding and output_shape. Kernel:
// kernels/tinyodlc/ref/conv_transpose.h.
//
// Output size per spatial dim i (ONNX spec):
//   natural[i] = stride[i] * (in[i] - 1) + output_padding[i] + (kernel[i] - 1) * dilation[i] + 1
//   out[i]     = natural[i] - pads_begin[i] - pads_end[i]
// With output_shape (or auto_pad SAME_*, which means output_shape = in * stride), the pads
// are derived from total = natural - out: SAME_UPPER puts total/2 at the begin, otherwise
// total - total/2 is at the begin. A negative total (output larger than natural) pads
// nothing at the begin: the extra outputs at the end only receive the bias.
//
// Gradient (on-device learning): ConvTranspose is the input gradient of a Conv, so
//   dX = Conv(dY, W) with the same strides/dilations/group, begin pads, and end pads such
//        that the output has X's size,
//   dW = tinyodlc::ConvGradWeight(dY, X) (ir/ops/conv.cpp: the Conv weight gradient with the
//        roles of input and output gradient exchanged),
//   dB = ReduceSum(dY) over batch and spatial dims.
#include "tinyodlc/ref/conv_transpose.h"

#include "ir/grad.h"
#include "ir/ops/nn_utils.h"

namespace tinyodlc::ir::ops {
namespace {

constexpr const char* kHeader = "tinyodlc/ref/conv_transpose.h";
using ConvTypes = TypeList<float, double>;

Window conv_transpose_window(const Node& n) {
  const size_t r = spatial_rank(n);
  const Shape& x = shape_of(n, 0);
  const Shape& w = shape_of(n, 1);
  if (w.size() != x.size())
    fail(n, fmt::format("weight '{}' has shape {}, expected rank {} ([C, M/group, kernel...]) to match input {}",
                        n.inputs[1]->name, shape_str(w), x.size(), shape_str(x)));
  int64_t group = n.attr_int_or("group", 1);
  if (group < 1) fail(n, fmt::format("group = {} must be >= 1", group));
  if (w[0] != x[1])
    fail(n, fmt::format("weight '{}' {} has {} input channels (dim 0) but input {} has {}", n.inputs[1]->name,
                        shape_str(w), w[0], shape_str(x), x[1]));
  if (x[1] % group != 0) fail(n, fmt::format("input channels {} are not divisible by group = {}", x[1], group));
  if (w[1] < 1) fail(n, fmt::format("weight '{}' {} has no output channels", n.inputs[1]->name, shape_str(w)));
  const int64_t m = mul(n, w[1], group, "output channels (weight dim 1 * attribute 'group')");
  if (Value* b = n.input(2)) {
    const Shape& bs = shape_of(n, 2);
    if (bs != Shape{m}) fail(n, fmt::format("bias '{}' has shape {}, expected [{}]", b->name, shape_str(bs), m));
  }
  Window win;
  win.in.assign(x.begin() + 2, x.end());
  win.kernel.assign(w.begin() + 2, w.end());
  if (n.has_attr("kernel_shape") && n.attr_ints_or("kernel_shape", {}) != win.kernel)
    fail(n, fmt::format("kernel_shape [{}] does not match the weight '{}' {}",
                        fmt::join(n.attr_ints_or("kernel_shape", {}), ","), n.inputs[1]->name, shape_str(w)));
  win.strides = window_attr(n, "strides", r, 1, 1);
  win.dilations = window_attr(n, "dilations", r, 1, 1);
  std::vector<int64_t> opad = window_attr(n, "output_padding", r, 0, 0);
  for (size_t i = 0; i < r; ++i)
    if (opad[i] >= std::max(win.strides[i], win.dilations[i]))
      fail(n, fmt::format("output_padding [{}] must be smaller than the stride or the dilation of each dim",
                          fmt::join(opad, ",")));
  const std::string ap = auto_pad_attr(n);
  std::vector<int64_t> natural(r);
  for (size_t i = 0; i < r; ++i)
    natural[i] = add(n,
                     add(n, mul(n, win.strides[i], win.in[i] - 1, "output size (attribute 'strides')"), opad[i],
                         "output size"),
                     add(n, mul(n, win.kernel[i] - 1, win.dilations[i], "window extent (attribute 'dilations')"), 1,
                         "window extent"),
                     "output size");

  std::vector<int64_t> out_shape = n.attr_ints_or("output_shape", {});
  if (!out_shape.empty()) {
    if (out_shape.size() == r + 2) out_shape.erase(out_shape.begin(), out_shape.begin() + 2);  // [N, C, sp...]
    if (out_shape.size() != r)
      fail(n, fmt::format("output_shape [{}] must have {} values (one per spatial dim)",
                          fmt::join(n.attr_ints_or("output_shape", {}), ","), r));
    for (int64_t v : out_shape)
      if (v < 1) fail(n, fmt::format("output_shape [{}] must be positive", fmt::join(out_shape, ",")));
  } else if (ap == "SAME_UPPER" || ap == "SAME_LOWER") {
    for (size_t i = 0; i < r; ++i) out_shape.push_back(mul(n, win.in[i], win.strides[i], "output size (attribute 'strides')"));
  }
  win.pads_begin.assign(r, 0);
  win.pads_end.assign(r, 0);
  win.out.resize(r);
  if (!out_shape.empty()) {
    for (size_t i = 0; i < r; ++i) {
      const int64_t total = natural[i] - out_shape[i];  // both >= 0: no overflow
      if (total > 0) {
        win.pads_begin[i] = ap == "SAME_UPPER" ? total / 2 : total - total / 2;
        win.pads_end[i] = total - win.pads_begin[i];
      }
      win.out[i] = out_shape[i];
    }
  } else {
    if (ap == "NOTSET") {
      std::vector<int64_t> pads = window_attr(n, "pads", 2 * r, 0, 0);
      for (size_t i = 0; i < r; ++i) {
        win.pads_begin[i] = pads[i];
        win.pads_end[i] = pads[r + i];
      }
    }
    for (size_t i = 0; i < r; ++i) {
      win.out[i] = sub(n, sub(n, natural[i], win.pads_begin[i], "attribute 'pads'"), win.pads_end[i], "attribute 'pads'");
      if (win.out[i] < 1)
        fail(n, fmt::format("pads remove the whole output along spatial dim {} (size {} before padding)", i,
                            natural[i]));
    }
  }
  return win;
}

OpDef conv_transpose_op() {
  OpDef d;
  d.name = "ConvTranspose";
  d.infer = [](Node& n) {
    check_input_count(n, 2, 3);
    DType t = check_same_dtype(n, {0, 1, 2}, type_mask(ConvTypes{}));
    Window win = conv_transpose_window(n);
    Shape y{shape_of(n, 0)[0], mul(n, shape_of(n, 1)[1], n.attr_int_or("group", 1), "output channels")};
    y.insert(y.end(), win.out.begin(), win.out.end());
    set_output(n, 0, t, y);
  };
  d.lower = [](const Node& n) {
    Window win = conv_transpose_window(n);
    const Shape& x = n.inputs[0]->shape;
    const int32_t group = i32(n, n.attr_int_or("group", 1), "attribute 'group'");
    const int32_t m = i32(n, mul(n, n.inputs[1]->shape[1], group, "output channels"), "output channels");
    return dispatch(ConvTypes{}, n.inputs[0]->dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      return with_opt_input(n, 2, [&](auto bias) {
        return make_call(kHeader, ref_kernel("conv_transpose", {ctype_of<T>()}), &ref::conv_transpose<T>, In{0}, In{1},
                       bias, Out{0}, static_cast<int32_t>(x[0]), static_cast<int32_t>(x[1]), m, group,
                       pad3(n, win.in, 1), pad3(n, win.kernel, 1), pad3(n, win.out, 1), pad3(n, win.strides, 1),
                       pad3(n, win.dilations, 1), pad3(n, win.pads_begin, 0));
      });
    });
  };
  // input elements x (M/group) x kernel size
  d.macs = [](const Node& n) {
    const Shape& w = n.inputs[1]->shape;
    int64_t k = 1;
    for (size_t i = 1; i < w.size(); ++i) k *= w[i];  // <= the weight's element count
    return mul(n, n.inputs[0]->numel(), k, "MAC count");
  };
  return d;
}
void conv_transpose_grad(GradContext& c) {
  const Node& n = c.node;
  Value* dy = c.dy(0);
  const Window win = conv_transpose_window(n);
  const size_t r = win.in.size();
  const int64_t group = n.attr_int_or("group", 1);
  if (c.needs(0)) {
    std::vector<int64_t> pads = win.pads_begin;
    for (size_t i = 0; i < r; ++i) {
      // The Conv output size (out + pb + pe - ext) / stride + 1 must be `in`: the smallest
      // pe >= 0 with (in - 1) * stride + ext - pb - out <= pe. Trailing outputs no input
      // reaches (output_padding) are then not read.
      const int64_t ext = (win.kernel[i] - 1) * win.dilations[i] + 1;
      const int64_t pe = std::max<int64_t>(0, (win.in[i] - 1) * win.strides[i] + ext - win.pads_begin[i] - win.out[i]);
      if ((win.out[i] + win.pads_begin[i] + pe - ext) / win.strides[i] + 1 != win.in[i])
        fail(n, fmt::format("gradient of the input: the output size {} along spatial dim {} extends beyond what the "
                            "input reaches by a stride or more; not supported",
                            win.out[i], i));
      pads.push_back(pe);
    }
    c.set_dx(0, c.emit("Conv", {dy, n.inputs[1]},
                       {{"strides", Attribute::Ints(win.strides)},
                        {"dilations", Attribute::Ints(win.dilations)},
                        {"pads", Attribute::Ints(pads)},
                        {"group", Attribute::Int(group)}}));
  }
  if (c.needs(1))
    c.set_dx(1, c.emit("ConvGradWeight", {dy, n.inputs[0]},
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

const OpRegistrar kConvTranspose([] {
  OpDef d = conv_transpose_op();
  d.grad = conv_transpose_grad;
  return d;
}());

}  // namespace
}  // namespace tinyodlc::ir::ops
