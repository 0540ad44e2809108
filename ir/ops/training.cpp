// Compiler-internal operators of on-device learning (domain "tinyodlc"), appended by the
// autodiff pass (passes/autodiff.cpp); kernels: kernels/tinyodlc/ref/train.h.
//
//   (loss, dlogits) = tinyodlc::SoftmaxCrossEntropy(logits [R,K], label i64[R])
//   (loss, dy)      = tinyodlc::MseLoss(y, target)          (target: y's shape)
//   acc             = tinyodlc::AccumulateGrad(g) {param = "fc.weight"}
//
// A loss op computes the (mean) loss, a rank-0 tensor, and the gradient of the loss w.r.t. its
// prediction input: the seed of the backward pass. AccumulateGrad adds a parameter's
// gradient to the parameter's persistent accumulator (its output, a Value with
// state Grad: training state, not arena memory).
#include "tinyodlc/ref/train.h"

#include "ir/ops/op_utils.h"

namespace tinyodlc::ir::ops {
namespace {

constexpr const char* kHeader = "tinyodlc/ref/train.h";
constexpr const char* kDomain = "tinyodlc";

OpDef softmax_cross_entropy_op() {
  OpDef d;
  d.domain = kDomain;
  d.name = "SoftmaxCrossEntropy";
  d.infer = [](Node& n) {
    check_input_count(n, 2, 2);
    DType t = check_same_dtype(n, {0}, type_mask(FloatTypes{}));
    check_dtype(n, 1, dtype_bit(DType::I64));
    const Shape& x = shape_of(n, 0);
    if (x.size() != 2) fail(n, fmt::format("logits must be 2-D [rows, classes], got {}", shape_str(x)));
    if (shape_of(n, 1) != Shape{x[0]})
      fail(n, fmt::format("label must be int64 [{}] (one class index per row), got {}", x[0], shape_str(shape_of(n, 1))));
    set_output(n, 0, t, {});
    set_output(n, 1, t, x);
  };
  d.lower = [](const Node& n) {
    const Shape& x = n.inputs[0]->shape;
    I32s v = to_i32s(n, {x[0], x[1]});
    return dispatch(FloatTypes{}, n.inputs[0]->dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      return make_call(kHeader, ref_kernel("softmax_cross_entropy", {ctype_of<T>()}), &ref::softmax_cross_entropy<T>,
                       In{0}, In{1}, Out{0}, Out{1}, v[0], v[1]);
    });
  };
  return d;
}
const OpRegistrar kSoftmaxCrossEntropy(softmax_cross_entropy_op());

OpDef mse_loss_op() {
  OpDef d;
  d.domain = kDomain;
  d.name = "MseLoss";
  d.infer = [](Node& n) {
    check_input_count(n, 2, 2);
    DType t = check_same_dtype(n, {0, 1}, type_mask(FloatTypes{}));
    if (shape_of(n, 0) != shape_of(n, 1))
      fail(n, fmt::format("target {} must have the prediction's shape {}", shape_str(shape_of(n, 1)),
                          shape_str(shape_of(n, 0))));
    set_output(n, 0, t, {});
    set_output(n, 1, t, shape_of(n, 0));
  };
  d.lower = [](const Node& n) {
    const int32_t count = to_i32s(n, {n.inputs[0]->numel()})[0];
    return dispatch(FloatTypes{}, n.inputs[0]->dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      return make_call(kHeader, ref_kernel("mse_loss", {ctype_of<T>()}), &ref::mse_loss<T>, In{0}, In{1}, Out{0},
                       Out{1}, count);
    });
  };
  return d;
}
const OpRegistrar kMseLoss(mse_loss_op());

OpDef accumulate_grad_op() {
  OpDef d;
  d.domain = kDomain;
  d.name = "AccumulateGrad";
  d.infer = [](Node& n) {
    check_input_count(n, 1, 1);
    DType t = check_same_dtype(n, {0}, type_mask(FloatTypes{}));
    const std::string param = n.attr_string_or("param", "");
    if (param.empty()) fail(n, "needs the attribute param (the name of the trainable parameter)");
    set_output(n, 0, t, shape_of(n, 0));
    n.outputs[0]->state = Value::State::Grad;
    n.outputs[0]->state_of = param;
  };
  d.lower = [](const Node& n) {
    const int32_t count = to_i32s(n, {n.inputs[0]->numel()})[0];
    return dispatch(FloatTypes{}, n.inputs[0]->dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      return make_call(kHeader, ref_kernel("accumulate", {ctype_of<T>()}), &ref::accumulate<T>, In{0}, Out{0},
                       count);
    });
  };
  return d;
}
const OpRegistrar kAccumulateGrad(accumulate_grad_op());

}  // namespace
}  // namespace tinyodlc::ir::ops
