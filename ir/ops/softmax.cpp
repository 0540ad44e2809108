// Softmax and LogSoftmax. Opset >= 13: normalized along one axis (default -1). Opset < 13:
// the input is coerced to 2-D [prod(dims < axis), prod(dims >= axis)] (default axis 1) and
// each row is normalized. Kernel: kernels/tinyodlc/ref/softmax.h.
#include "tinyodlc/ref/softmax.h"

#include "ir/grad.h"
#include "ir/ops/op_utils.h"

namespace tinyodlc::ir::ops {
namespace {

constexpr const char* kHeader = "tinyodlc/ref/softmax.h";

bool legacy(const Node& n) {
  if (n.domain == kTinyodlcDomain) return n.attr_int_or("coerce_2d", 0) != 0;  // SoftmaxGrad
  return n.opset != 0 && n.opset < 13;
}

// [outer, n, inner] view with the normalized extent in the middle.
struct SoftmaxDims {
  int64_t outer = 1, n = 1, inner = 1;
};

SoftmaxDims softmax_dims(const Node& n) {
  const Shape& x = shape_of(n, 0);
  const int64_t rank = static_cast<int64_t>(x.size());
  SoftmaxDims d;
  if (rank == 0) return d;  // a scalar: softmax = 1, log_softmax = 0
  const int64_t axis = norm_axis(n, n.attr_int_or("axis", legacy(n) ? 1 : -1), rank);
  for (int64_t i = 0; i < rank; ++i) {
    const int64_t v = x[static_cast<size_t>(i)];
    if (i < axis) d.outer *= v;
    else if (i == axis || legacy(n)) d.n *= v;
    else d.inner *= v;
  }
  return d;
}

template <bool kLog>
OpDef softmax_op(const char* name) {
  OpDef d;
  d.name = name;
  d.infer = [](Node& n) {
    check_input_count(n, 1, 1);
    check_dtype(n, 0, type_mask(FloatTypes{}));
    softmax_dims(n);
    set_output(n, 0, n.inputs[0]->dtype, shape_of(n, 0));
  };
  d.lower = [](const Node& n) {
    SoftmaxDims s = softmax_dims(n);
    I32s v = to_i32s(n, {s.outer, s.n, s.inner});
    return dispatch(FloatTypes{}, n.inputs[0]->dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      return make_call(kHeader, ref_kernel("softmax", {ctype_of<T>(), kLog ? "true" : "false"}), &ref::softmax<T, kLog>,
                       In{0}, Out{0}, v[0], v[1], v[2]);
    });
  };
  d.macs = [](const Node& n) { return n.inputs[0]->numel(); };
  // dx = tinyodlc::SoftmaxGrad(dy, y) with the forward node's axis semantics.
  d.grad = [](GradContext& c) {
    if (!c.needs(0)) return;
    const Node& n = c.node;
    const int64_t rank = static_cast<int64_t>(n.inputs[0]->shape.size());
    std::map<std::string, Attribute> attrs{{"log", Attribute::Int(kLog)}};
    if (rank > 0) {
      attrs["axis"] = Attribute::Int(norm_axis(n, n.attr_int_or("axis", legacy(n) ? 1 : -1), rank));
      attrs["coerce_2d"] = Attribute::Int(legacy(n));
    }
    c.set_dx(0, c.emit("SoftmaxGrad", {c.dy(0), n.outputs[0]}, attrs, kTinyodlcDomain));
  };
  return d;
}
const OpRegistrar kSoftmax(softmax_op<false>("Softmax"));
const OpRegistrar kLogSoftmax(softmax_op<true>("LogSoftmax"));

// tinyodlc::SoftmaxGrad(dy, y) -> dx {axis (normalized), coerce_2d (opset < 13 semantics), log}
OpDef softmax_grad_op() {
  OpDef d;
  d.domain = kTinyodlcDomain;
  d.name = "SoftmaxGrad";
  d.infer = [](Node& n) {
    check_input_count(n, 2, 2);
    DType t = check_same_dtype(n, {0, 1}, type_mask(FloatTypes{}));
    if (shape_of(n, 0) != shape_of(n, 1))
      fail(n, fmt::format("dy {} and y {} must have the same shape", shape_str(shape_of(n, 0)), shape_str(shape_of(n, 1))));
    softmax_dims(n);
    set_output(n, 0, t, shape_of(n, 0));
  };
  d.lower = [](const Node& n) {
    SoftmaxDims s = softmax_dims(n);
    I32s v = to_i32s(n, {s.outer, s.n, s.inner});
    const bool log = n.attr_int_or("log", 0) != 0;
    return dispatch(FloatTypes{}, n.inputs[0]->dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      auto fn = log ? &ref::softmax_grad<T, true> : &ref::softmax_grad<T, false>;
      return make_call(kHeader, ref_kernel("softmax_grad", {ctype_of<T>(), log ? "true" : "false"}), fn, In{0}, In{1},
                       Out{0}, v[0], v[1], v[2]);
    });
  };
  d.macs = [](const Node& n) { return 2 * n.inputs[0]->numel(); };
  d.inplace_ok = true;
  return d;
}
const OpRegistrar kSoftmaxGrad(softmax_grad_op());

}  // namespace
}  // namespace tinyodlc::ir::ops
