// Compiler-internal int8 operators (domain "tinyodlc"), produced by the quantization passes
// (passes/qdq_fold.cpp) from QDQ patterns: fixed-point requantization, no float at run time.
// Kernels: kernels/tinyodlc/ref/int8.h. Arithmetic: docs/quantization.md.
//
//   tinyodlc.QConv(x, w, [bias])  Conv attributes + x_zp, y_zp, mult[], shift[], act_min, act_max
//   tinyodlc.QMatMul(a, b, [bias]) a_zp, b_zp, y_zp, mult[], shift[], act_min, act_max
//                                  (b is [.., K, N]; mult/shift per column of b or one)
//   tinyodlc.QMatMulDq(a, b, [bias]) a_zp, scale[] (1 or per column): f32 output = float(int32
//                                 accumulator) * scale (a graph output; b constant [K, N])
//   tinyodlc.QAdd(a, b)           a_zp, b_zp, y_zp, a_mult, a_shift, b_mult, b_shift, y_mult,
//                                 y_shift, left_shift, act_min, act_max
//   tinyodlc.QSub(a, b)           as QAdd, a - b
//   tinyodlc.QMul(a, b)           a_zp, b_zp, y_zp, mult, shift, act_min, act_max
//   tinyodlc.QGlobalAvgPool(x)    x_zp, y_zp, mult, shift, act_min, act_max
//   tinyodlc.QRequantize(x)       x_zp, y_zp, mult, shift, act_min, act_max
//   tinyodlc.QAvgPool(x)          kernel_shape, strides (no padding), x_zp, y_zp, mult, shift, act_min, act_max
//   tinyodlc.QLookup(x, table)    y = table[x + 128] (int8 table of an elementwise function)
//   tinyodlc.QRms(x)              axes (contiguous), keepdims, x_zp, frac_bits, eps_q, mode
//                                 (0 sqrt, 1 c / sqrt), recip_k, y_zp, mult, shift, act_min,
//                                 act_max: root mean square from the int8 x (RMSNorm, EmbBERT-Q head)
//   tinyodlc.QSoftmax(x, lut, [mask]) y_zp, mult, shift, act_min, act_max (last axis; lut[d] =
//                                 round(2^20 exp(-d s_x)); mask true = excluded)
#include <algorithm>

#include "tinyodlc/ref/int8.h"
#include "tinyodlc/ref/int8_out.h"

#include "ir/ops/nn_utils.h"

namespace tinyodlc::ir::ops {
namespace {

constexpr const char* kHeader = "tinyodlc/ref/int8.h";
constexpr const char* kDomain = "tinyodlc";

int32_t attr_i32(const Node& n, const char* name, int64_t dflt) {
  const int64_t v = n.attr_int_or(name, dflt);
  if (v < INT32_MIN || v > INT32_MAX) fail(n, fmt::format("attribute '{}' = {} does not fit int32", name, v));
  return static_cast<int32_t>(v);
}

int32_t req_i32(const Node& n, const char* name) {
  if (!n.has_attr(name)) fail(n, fmt::format("missing attribute '{}'", name));
  return attr_i32(n, name, 0);
}

struct Requant {
  I32s mult, shift;
  int32_t y_zp = 0, act_min = -128, act_max = 127;
};

// mult/shift lists of 1 or `count` entries; zero points and the activation range in int8.
Requant requant_attrs(const Node& n, int64_t count) {
  Requant r;
  for (const char* a : {"mult", "shift"})
    if (!n.has_attr(a)) fail(n, fmt::format("missing attribute '{}'", a));
  r.mult = to_i32s(n, n.attr_ints_or("mult", {}));
  r.shift = to_i32s(n, n.attr_ints_or("shift", {}));
  if (r.mult.size() != r.shift.size() || (r.mult.size() != 1 && static_cast<int64_t>(r.mult.size()) != count))
    fail(n, fmt::format("mult/shift have {}/{} entries, expected 1 or {}", r.mult.size(), r.shift.size(), count));
  for (size_t i = 0; i < r.mult.size(); ++i)
    if (r.mult[i] < 0 || r.shift[i] < -31 || r.shift[i] > 30)
      fail(n, fmt::format("multiplier {} (mult {}, shift {}) is out of range", i, r.mult[i], r.shift[i]));
  r.y_zp = req_i32(n, "y_zp");
  r.act_min = attr_i32(n, "act_min", -128);
  r.act_max = attr_i32(n, "act_max", 127);
  if (r.y_zp < -128 || r.y_zp > 127 || r.act_min < -128 || r.act_max > 127 || r.act_min > r.act_max)
    fail(n, fmt::format("y_zp {} / act range [{}, {}] are not valid int8", r.y_zp, r.act_min, r.act_max));
  return r;
}

void check_i8(const Node& n, size_t k) { check_dtype(n, k, dtype_bit(DType::I8)); }

// ---- QConv ----------------------------------------------------------------------------------
Window qconv_window(const Node& n) {
  spatial_rank(n);
  const Shape& x = shape_of(n, 0);
  const Shape& w = shape_of(n, 1);
  int64_t group = n.attr_int_or("group", 1);
  if (w.size() != x.size() || group < 1 || x[1] % group != 0 || w[1] * group != x[1] || w[0] % group != 0)
    fail(n, fmt::format("weight {} does not match input {} with group = {}", shape_str(w), shape_str(x), group));
  if (n.input(2) && shape_of(n, 2) != Shape{w[0]})
    fail(n, fmt::format("bias has shape {}, expected [{}]", shape_str(n.inputs[2]->shape), w[0]));
  return forward_window(n, Shape(x.begin() + 2, x.end()), std::vector<int64_t>(w.begin() + 2, w.end()), false);
}

// (x or a: int8, w or b: int8, [bias: int32]) of QConv, QMatMul, QMatMulDq.
void check_layer_inputs(const Node& n) {
  check_input_count(n, 2, 3);
  check_i8(n, 0);
  check_i8(n, 1);
  if (n.input(2)) check_dtype(n, 2, dtype_bit(DType::I32));
}

OpDef qconv_op() {
  OpDef d;
  d.domain = kDomain;
  d.name = "QConv";
  d.infer = [](Node& n) {
    check_layer_inputs(n);
    Window win = qconv_window(n);
    requant_attrs(n, shape_of(n, 1)[0]);
    req_i32(n, "x_zp");
    Shape y{shape_of(n, 0)[0], shape_of(n, 1)[0]};
    y.insert(y.end(), win.out.begin(), win.out.end());
    set_output(n, 0, DType::I8, y);
  };
  d.lower = [](const Node& n) {
    Window win = qconv_window(n);
    const Shape& x = n.inputs[0]->shape;
    const Shape& w = n.inputs[1]->shape;
    Requant r = requant_attrs(n, w[0]);
    return with_opt_input(n, 2, [&](auto bias) {
      return make_call(kHeader, "tinyodlc::ref::qconv_s8", &ref::qconv_s8, In{0}, In{1}, bias, Out{0},
                       static_cast<int32_t>(x[0]), static_cast<int32_t>(x[1]), static_cast<int32_t>(w[0]),
                       static_cast<int32_t>(n.attr_int_or("group", 1)), pad3(n, win.in, 1), pad3(n, win.kernel, 1),
                       pad3(n, win.out, 1), pad3(n, win.strides, 1), pad3(n, win.dilations, 1),
                       pad3(n, win.pads_begin, 0), req_i32(n, "x_zp"), r.y_zp, r.mult, r.shift,
                       static_cast<int32_t>(r.mult.size()), r.act_min, r.act_max);
    });
  };
  d.macs = [](const Node& n) { return n.outputs[0]->numel() * (n.inputs[1]->numel() / n.inputs[1]->shape[0]); };
  return d;
}
const OpRegistrar kQConv(qconv_op());

// ---- QMatMul --------------------------------------------------------------------------------
// The numpy matmul rule (op_utils.h), restricted to operands of rank >= 2, plus the bias.
MatMulDims qmatmul_dims(const Node& n) {
  if (shape_of(n, 0).size() < 2 || shape_of(n, 1).size() < 2)
    fail(n, fmt::format("operands must have rank >= 2, got {} and {}", shape_str(shape_of(n, 0)),
                        shape_str(shape_of(n, 1))));
  MatMulDims d = matmul_dims(n, 0, 1);
  if (n.input(2) && shape_of(n, 2) != Shape{d.n})
    fail(n, fmt::format("bias has shape {}, expected [{}]", shape_str(n.inputs[2]->shape), d.n));
  return d;
}

OpDef qmatmul_op() {
  OpDef d;
  d.domain = kDomain;
  d.name = "QMatMul";
  d.infer = [](Node& n) {
    check_layer_inputs(n);
    MatMulDims m = qmatmul_dims(n);
    requant_attrs(n, m.n);
    req_i32(n, "a_zp");
    req_i32(n, "b_zp");
    set_output(n, 0, DType::I8, m.out);
  };
  d.lower = [](const Node& n) {
    MatMulDims m = qmatmul_dims(n);
    Requant r = requant_attrs(n, m.n);
    I32s as = broadcast_strides(m.a_batch, m.batch), bs = broadcast_strides(m.b_batch, m.batch);
    return with_opt_input(n, 2, [&](auto bias) {
      return make_call(kHeader, "tinyodlc::ref::qmatmul_s8", &ref::qmatmul_s8, In{0}, In{1}, bias, Out{0},
                       static_cast<int32_t>(m.batch.size()), dims_i32(n, m.batch), as, bs,
                       static_cast<int32_t>(m.m), static_cast<int32_t>(m.n), static_cast<int32_t>(m.k),
                       req_i32(n, "a_zp"), req_i32(n, "b_zp"), r.y_zp, r.mult, r.shift,
                       static_cast<int32_t>(r.mult.size()), r.act_min, r.act_max);
    });
  };
  d.macs = [](const Node& n) {
    MatMulDims m = qmatmul_dims(n);
    return num_elements(m.batch) * m.m * m.n * m.k;
  };
  return d;
}
const OpRegistrar kQMatMul(qmatmul_op());

OpDef qmatmul_dq_op() {
  OpDef d;
  d.domain = kDomain;
  d.name = "QMatMulDq";
  d.infer = [](Node& n) {
    check_layer_inputs(n);
    if (shape_of(n, 1).size() != 2) fail(n, "b must be 2-D [K, N]");
    MatMulDims m = qmatmul_dims(n);
    const auto sc = n.attr_floats_or("scale", {});
    if (sc.size() != 1 && static_cast<int64_t>(sc.size()) != m.n)
      fail(n, fmt::format("attribute 'scale' has {} entries, expected 1 or {}", sc.size(), m.n));
    req_i32(n, "a_zp");
    set_output(n, 0, DType::F32, m.out);
  };
  d.lower = [](const Node& n) {
    MatMulDims m = qmatmul_dims(n);
    const std::vector<float> sc = n.attr_floats_or("scale", {});
    const int64_t rows = n.inputs[0]->numel() / m.k;
    return with_opt_input(n, 2, [&](auto bias) {
      return make_call("tinyodlc/ref/int8_out.h", "tinyodlc::ref::qmatmul_dq_s8", &ref::qmatmul_dq_s8, In{0}, In{1},
                       bias, Out{0}, static_cast<int32_t>(rows), static_cast<int32_t>(m.n), static_cast<int32_t>(m.k),
                       req_i32(n, "a_zp"), F32s(sc), static_cast<int32_t>(sc.size()));
    });
  };
  d.macs = [](const Node& n) {
    MatMulDims m = qmatmul_dims(n);
    return num_elements(m.batch) * m.m * m.n * m.k;
  };
  return d;
}
const OpRegistrar kQMatMulDq(qmatmul_dq_op());

// ---- QAdd / QMul ----------------------------------------------------------------------------
enum class QBin { Add, Sub, Mul };

template <QBin kOp>
OpDef qbinary_op() {
  constexpr bool kAdd = kOp != QBin::Mul;  // Add and Sub share attributes and arithmetic
  OpDef d;
  d.domain = kDomain;
  d.name = kOp == QBin::Add ? "QAdd" : (kOp == QBin::Sub ? "QSub" : "QMul");
  d.infer = [](Node& n) {
    check_input_count(n, 2, 2);
    check_i8(n, 0);
    check_i8(n, 1);
    requant_attrs(n, 1);
    req_i32(n, "a_zp");
    req_i32(n, "b_zp");
    if (kAdd)
      for (const char* a : {"a_mult", "a_shift", "b_mult", "b_shift", "left_shift"}) req_i32(n, a);
    set_output(n, 0, DType::I8, broadcast_shapes(n, {shape_of(n, 0), shape_of(n, 1)}));
  };
  d.lower = [](const Node& n) {
    const Shape& out = n.outputs[0]->shape;
    Requant r = requant_attrs(n, 1);
    I32s as = broadcast_strides(n.inputs[0]->shape, out), bs = broadcast_strides(n.inputs[1]->shape, out);
    const int32_t rank = static_cast<int32_t>(out.size());
    if constexpr (kAdd) {
      const bool sub = kOp == QBin::Sub;
      return make_call(kHeader, sub ? "tinyodlc::ref::qsub_s8" : "tinyodlc::ref::qadd_s8",
                       sub ? &ref::qsub_s8 : &ref::qadd_s8, In{0}, In{1}, Out{0}, rank, dims_i32(n, out),
                       as, bs, req_i32(n, "a_zp"), req_i32(n, "b_zp"), r.y_zp, req_i32(n, "a_mult"),
                       req_i32(n, "a_shift"), req_i32(n, "b_mult"), req_i32(n, "b_shift"), r.mult[0], r.shift[0],
                       req_i32(n, "left_shift"), r.act_min, r.act_max);
    } else {
      return make_call(kHeader, "tinyodlc::ref::qmul_s8", &ref::qmul_s8, In{0}, In{1}, Out{0}, rank, dims_i32(n, out),
                       as, bs, req_i32(n, "a_zp"), req_i32(n, "b_zp"), r.y_zp, r.mult[0], r.shift[0], r.act_min,
                       r.act_max);
    }
  };
  return d;
}
const OpRegistrar kQAdd(qbinary_op<QBin::Add>());
const OpRegistrar kQSub(qbinary_op<QBin::Sub>());
const OpRegistrar kQMul(qbinary_op<QBin::Mul>());

// ---- QGlobalAvgPool / QRequantize -----------------------------------------------------------
OpDef qglobal_avg_pool_op() {
  OpDef d;
  d.domain = kDomain;
  d.name = "QGlobalAvgPool";
  d.infer = [](Node& n) {
    check_input_count(n, 1, 1);
    check_i8(n, 0);
    spatial_rank(n);
    requant_attrs(n, 1);
    req_i32(n, "x_zp");
    Shape y = shape_of(n, 0);
    for (size_t i = 2; i < y.size(); ++i) y[i] = 1;
    set_output(n, 0, DType::I8, y);
  };
  d.lower = [](const Node& n) {
    const Shape& x = n.inputs[0]->shape;
    Requant r = requant_attrs(n, 1);
    int64_t size = 1;
    for (size_t i = 2; i < x.size(); ++i) size *= x[i];
    return make_call(kHeader, "tinyodlc::ref::qglobal_avg_pool_s8", &ref::qglobal_avg_pool_s8, In{0}, Out{0},
                     static_cast<int32_t>(x[0] * x[1]), static_cast<int32_t>(size), req_i32(n, "x_zp"), r.y_zp,
                     r.mult[0], r.shift[0], r.act_min, r.act_max);
  };
  return d;
}
const OpRegistrar kQGlobalAvgPool(qglobal_avg_pool_op());

OpDef qrequantize_op() {
  OpDef d;
  d.domain = kDomain;
  d.name = "QRequantize";
  d.infer = [](Node& n) {
    check_input_count(n, 1, 1);
    check_i8(n, 0);
    requant_attrs(n, 1);
    req_i32(n, "x_zp");
    set_output(n, 0, DType::I8, shape_of(n, 0));
  };
  d.lower = [](const Node& n) {
    Requant r = requant_attrs(n, 1);
    return make_call(kHeader, "tinyodlc::ref::qrequantize_s8", &ref::qrequantize_s8, In{0}, Out{0},
                     static_cast<int32_t>(n.inputs[0]->numel()), req_i32(n, "x_zp"), r.y_zp, r.mult[0], r.shift[0],
                     r.act_min, r.act_max);
  };
  return d;
}
const OpRegistrar kQRequantize(qrequantize_op());

// ---- QSoftmax --------------------------------------------------------------------------------
// QSoftmax(x, lut, [mask]): softmax over the last axis; lut int32[256]; mask bool, same shape as x.
OpDef qsoftmax_op() {
  OpDef d;
  d.domain = kDomain;
  d.name = "QSoftmax";
  d.infer = [](Node& n) {
    check_input_count(n, 2, 3);
    check_i8(n, 0);
    check_dtype(n, 1, dtype_bit(DType::I32));
    if (shape_of(n, 1) != Shape{256}) fail(n, fmt::format("lut has shape {}, expected [256]", shape_str(shape_of(n, 1))));
    if (n.input(2)) {
      check_dtype(n, 2, dtype_bit(DType::Bool));
      if (shape_of(n, 2) != shape_of(n, 0))
        fail(n, fmt::format("mask has shape {}, expected the input's {}", shape_str(shape_of(n, 2)),
                            shape_str(shape_of(n, 0))));
    }
    if (shape_of(n, 0).empty()) fail(n, "input must have rank >= 1");
    requant_attrs(n, 1);
    set_output(n, 0, DType::I8, shape_of(n, 0));
  };
  d.lower = [](const Node& n) {
    const Shape& x = n.inputs[0]->shape;
    Requant r = requant_attrs(n, 1);
    const int64_t len = x.back();
    return with_opt_input(n, 2, [&](auto mask) {
      return make_call(kHeader, "tinyodlc::ref::qsoftmax_s8", &ref::qsoftmax_s8, In{0}, mask, In{1}, Out{0},
                       static_cast<int32_t>(len ? n.inputs[0]->numel() / len : 0), static_cast<int32_t>(len), r.y_zp,
                       r.mult[0], r.shift[0], r.act_min, r.act_max);
    });
  };
  return d;
}
const OpRegistrar kQSoftmax(qsoftmax_op());

// ---- QAvgPool ---------------------------------------------------------------------------------
// QAvgPool(x): kernel_shape, strides (no padding, no dilation, floor mode), x_zp, y_zp, mult,
// shift, act_min, act_max.
Window qavg_window(const Node& n) {
  const size_t r = spatial_rank(n);
  std::vector<int64_t> k = n.attr_ints_or("kernel_shape", {});
  if (k.size() != r) fail(n, fmt::format("kernel_shape has {} entries, expected {}", k.size(), r));
  const Shape& x = shape_of(n, 0);
  Window w = forward_window(n, Shape(x.begin() + 2, x.end()), k, false);
  for (size_t i = 0; i < r; ++i)
    if (w.pads_begin[i] != 0 || w.pads_end[i] != 0 || w.dilations[i] != 1)
      fail(n, "QAvgPool supports neither padding nor dilation");
  return w;
}

OpDef qavg_pool_op() {
  OpDef d;
  d.domain = kDomain;
  d.name = "QAvgPool";
  d.infer = [](Node& n) {
    check_input_count(n, 1, 1);
    check_i8(n, 0);
    Window w = qavg_window(n);
    requant_attrs(n, 1);
    req_i32(n, "x_zp");
    Shape y{shape_of(n, 0)[0], shape_of(n, 0)[1]};
    y.insert(y.end(), w.out.begin(), w.out.end());
    set_output(n, 0, DType::I8, y);
  };
  d.lower = [](const Node& n) {
    Window w = qavg_window(n);
    Requant r = requant_attrs(n, 1);
    const Shape& x = n.inputs[0]->shape;
    return make_call(kHeader, "tinyodlc::ref::qavg_pool_s8", &ref::qavg_pool_s8, In{0}, Out{0},
                     static_cast<int32_t>(x[0] * x[1]), pad3(n, w.in, 1), pad3(n, w.kernel, 1), pad3(n, w.out, 1),
                     pad3(n, w.strides, 1), req_i32(n, "x_zp"), r.y_zp, r.mult[0], r.shift[0], r.act_min, r.act_max);
  };
  return d;
}
const OpRegistrar kQAvgPool(qavg_pool_op());

// ---- QLookup ----------------------------------------------------------------------------------
// QLookup(x, table): y = table[x + 128]; table int8[256] (an elementwise function, tabulated).
OpDef qlookup_op() {
  OpDef d;
  d.domain = kDomain;
  d.name = "QLookup";
  d.infer = [](Node& n) {
    check_input_count(n, 2, 2);
    check_i8(n, 0);
    check_i8(n, 1);
    if (shape_of(n, 1) != Shape{256})
      fail(n, fmt::format("table has shape {}, expected [256]", shape_str(shape_of(n, 1))));
    set_output(n, 0, DType::I8, shape_of(n, 0));
  };
  d.lower = [](const Node& n) {
    return make_call(kHeader, "tinyodlc::ref::qlookup_s8", &ref::qlookup_s8, In{0}, In{1}, Out{0},
                     static_cast<int32_t>(n.inputs[0]->numel()));
  };
  return d;
}
const OpRegistrar kQLookup(qlookup_op());

// ---- QRms --------------------------------------------------------------------------------------
struct RmsGeometry {
  int32_t outer = 1, n = 1, inner = 1;
  Shape y;
};

RmsGeometry rms_geometry(const Node& n) {
  const Shape& x = shape_of(n, 0);
  std::vector<int64_t> axes = n.attr_ints_or("axes", {});
  if (axes.empty()) fail(n, "attribute 'axes' is empty");
  for (int64_t& a : axes) {
    if (a < -static_cast<int64_t>(x.size()) || a >= static_cast<int64_t>(x.size()))
      fail(n, fmt::format("axis {} is out of range for rank {}", a, x.size()));
    if (a < 0) a += static_cast<int64_t>(x.size());
  }
  std::sort(axes.begin(), axes.end());
  for (size_t i = 1; i < axes.size(); ++i)
    if (axes[i] != axes[i - 1] + 1) fail(n, "attribute 'axes' must be a contiguous range of axes");
  const bool keep = n.attr_int_or("keepdims", 1) != 0;
  RmsGeometry r;
  int64_t outer = 1, cnt = 1, inner = 1;
  for (size_t i = 0; i < x.size(); ++i) {
    const int64_t a = static_cast<int64_t>(i);
    if (a < axes.front()) outer *= x[i];
    else if (a > axes.back()) inner *= x[i];
    else cnt *= x[i];
    if (a < axes.front() || a > axes.back()) r.y.push_back(x[i]);
    else if (keep) r.y.push_back(1);
  }
  if (outer > INT32_MAX || cnt > (1 << 24) || cnt < 1 || inner > INT32_MAX)
    fail(n, fmt::format("reduced size {} (outer {}, inner {}) is out of range", cnt, outer, inner));
  r.outer = static_cast<int32_t>(outer);
  r.n = static_cast<int32_t>(cnt);
  r.inner = static_cast<int32_t>(inner);
  return r;
}

OpDef qrms_op() {
  OpDef d;
  d.domain = kDomain;
  d.name = "QRms";
  d.infer = [](Node& n) {
    check_input_count(n, 1, 1);
    check_i8(n, 0);
    requant_attrs(n, 1);
    req_i32(n, "x_zp");
    const int32_t f = req_i32(n, "frac_bits"), mode = attr_i32(n, "mode", 0);
    const RmsGeometry r = rms_geometry(n);
    // 2^(2f) * 65025 * n < 2^62, so t < 2^63 and r = sqrt(t) < 2^31.5 fits after the check below
    if (f < 0 || f > ref::qrms_frac_bits_limit(r.n))
      fail(n, fmt::format("frac_bits {} is out of range for a mean over {} values", f, r.n));
    if (mode != 0 && mode != 1) fail(n, fmt::format("mode {} is not 0 (sqrt) or 1 (c / sqrt)", mode));
    const int64_t eps = n.attr_int_or("eps_q", 0), k = n.attr_int_or("recip_k", 0);
    if (eps < 0 || eps > (int64_t{1} << 61) || k < 0 || k > (int64_t{1} << 62))
      fail(n, fmt::format("eps_q {} / recip_k {} out of range", eps, k));
    set_output(n, 0, DType::I8, r.y);
  };
  d.lower = [](const Node& n) {
    const RmsGeometry g = rms_geometry(n);
    const Requant r = requant_attrs(n, 1);
    return make_call(kHeader, "tinyodlc::ref::qrms_s8", &ref::qrms_s8, In{0}, Out{0}, g.outer, g.n, g.inner,
                     req_i32(n, "x_zp"), req_i32(n, "frac_bits"), static_cast<int64_t>(n.attr_int_or("eps_q", 0)),
                     attr_i32(n, "mode", 0), static_cast<int64_t>(n.attr_int_or("recip_k", 0)), r.y_zp, r.mult[0],
                     r.shift[0], r.act_min, r.act_max);
  };
  return d;
}
const OpRegistrar kQRms(qrms_op());

}  // namespace
}  // namespace tinyodlc::ir::ops
