// Softmax and LogSoftmax. Opset >= 13: normalized along one axis (default -1). Opset < 13:
// the input is coerced to 2-D [prod(dims < axis), prod(dims >= axis)] (default axis 1) and
// each row is normalized. Kernel: backends/kernels/tinyodlc/ref/softmax.h.
#include "tinyodlc/ref/softmax.h"

#include "ir/ops/op_utils.h"

namespace tinyodlc::ir::ops {
namespace {

constexpr const char* kHeader = "tinyodlc/ref/softmax.h";

bool legacy(const Node& n) { return n.opset != 0 && n.opset < 13; }

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
    check_dtype(n, 0, type_mask(F32Type{}));
    softmax_dims(n);
    set_output(n, 0, DType::F32, shape_of(n, 0));
  };
  d.lower = [](const Node& n) {
    SoftmaxDims s = softmax_dims(n);
    I32s v = to_i32s(n, {s.outer, s.n, s.inner});
    return make_call(kHeader, ref_kernel("softmax", {kLog ? "true" : "false"}), &ref::softmax<kLog>, In{0}, Out{0},
                     v[0], v[1], v[2]);
  };
  d.macs = [](const Node& n) { return n.inputs[0]->numel(); };
  return d;
}
const OpRegistrar kSoftmax(softmax_op<false>("Softmax"));
const OpRegistrar kLogSoftmax(softmax_op<true>("LogSoftmax"));

}  // namespace
}  // namespace tinyodlc::ir::ops
