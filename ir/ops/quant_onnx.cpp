// ONNX quantization operators (QOperator format and QDQ endpoints): QuantizeLinear,
// DequantizeLinear, DynamicQuantizeLinear, ConvInteger, MatMulInteger, QLinearConv,
// QLinearMatMul. Kernels: kernels/tinyodlc/ref/quant.h (ONNX reference semantics,
// bit-exact). The quantization passes (passes/qdq_fold.cpp) turn QDQ patterns with constant
// parameters into the fixed-point tinyodlc.* ops of ir/ops/quant_int.cpp instead.
#include "tinyodlc/ref/quant.h"

#include "ir/ops/nn_utils.h"

namespace tinyodlc::ir::ops {
namespace {

constexpr const char* kHeader = "tinyodlc/ref/quant.h";
using QTypes = TypeList<int8_t, uint8_t, int16_t, uint16_t>;
using DQTypes = TypeList<int8_t, uint8_t, int16_t, uint16_t, int32_t>;
using Q8Types = TypeList<int8_t, uint8_t>;

int32_t i32(const Node& n, int64_t v) {
  if (v < 0 || v > INT32_MAX) fail(n, fmt::format("size {} does not fit the kernels' 32-bit parameters", v));
  return static_cast<int32_t>(v);
}

// Geometry of Quantize/DequantizeLinear: x viewed as [outer, A, inner] around `axis`.
struct QLayout {
  int32_t outer = 1, A = 1, inner = 1, block = 0;
  bool per_axis = false;
};

QLayout q_layout(const Node& n) {
  const Shape& x = shape_of(n, 0);
  const Shape& s = shape_of(n, 1);
  QLayout l;
  const int64_t block = n.attr_int_or("block_size", 0);
  if (block < 0) fail(n, fmt::format("block_size = {} must be >= 0", block));
  if (Value* z = n.input(2))
    if (shape_of(n, 2) != s)
      fail(n, fmt::format("zero point '{}' {} and scale '{}' {} must have the same shape", z->name,
                          shape_str(z->shape), n.inputs[1]->name, shape_str(s)));
  if (block == 0 && num_elements(s) == 1 && s.size() <= 1) {
    l.A = i32(n, num_elements(x));
    return l;
  }
  if (x.empty()) fail(n, fmt::format("scale '{}' {} is not a scalar but the input is a scalar", n.inputs[1]->name, shape_str(s)));
  const int64_t axis = norm_axis(n, n.attr_int_or("axis", 1), static_cast<int64_t>(x.size()));
  l.per_axis = true;
  for (int64_t i = 0; i < axis; ++i) l.outer = i32(n, int64_t(l.outer) * x[i]);
  l.A = i32(n, x[axis]);
  for (size_t i = axis + 1; i < x.size(); ++i) l.inner = i32(n, int64_t(l.inner) * x[i]);
  if (block == 0) {
    if (s != Shape{x[axis]})
      fail(n, fmt::format("per-axis scale '{}' has shape {}, expected [{}] (input {} along axis {})", n.inputs[1]->name,
                          shape_str(s), x[axis], shape_str(x), axis));
  } else {
    Shape want = x;
    want[axis] = (x[axis] + block - 1) / block;
    if (s != want)
      fail(n, fmt::format("blocked scale '{}' has shape {}, expected {} (block_size {} along axis {})",
                          n.inputs[1]->name, shape_str(s), shape_str(want), block, axis));
    l.block = i32(n, block);
  }
  return l;
}

void check_precision_attrs(const Node& n) {
  if (n.has_attr("precision") && n.attr_int_or("precision", 0) != 0 && n.attr_int_or("precision", 0) != 1)
    fail(n, fmt::format("precision = {} is not supported (float32 only)", n.attr_int_or("precision", 0)));
}

OpDef quantize_linear_op() {
  OpDef d;
  d.name = "QuantizeLinear";
  d.infer = [](Node& n) {
    check_input_count(n, 2, 3);
    check_dtype(n, 0, dtype_bit(DType::F32));
    check_dtype(n, 1, dtype_bit(DType::F32));
    check_precision_attrs(n);
    DType t = DType::U8;
    if (n.input(2)) {
      check_dtype(n, 2, type_mask(QTypes{}));
      t = n.inputs[2]->dtype;
    } else if (n.has_attr("output_dtype") && n.attr_int_or("output_dtype", 0) != 0) {
      t = dtype_from_onnx(static_cast<int32_t>(n.attr_int_or("output_dtype", 0)));
      if (!(type_mask(QTypes{}) & dtype_bit(t)))
        fail(n, fmt::format("output_dtype {} is not supported (int8, uint8, int16, uint16)",
                            onnx_type_name(static_cast<int32_t>(n.attr_int_or("output_dtype", 0)))));
    }
    if (n.input(2) && n.has_attr("output_dtype") && n.attr_int_or("output_dtype", 0) != 0 &&
        dtype_from_onnx(static_cast<int32_t>(n.attr_int_or("output_dtype", 0))) != t)
      fail(n, "output_dtype does not match the zero point's element type");
    q_layout(n);
    set_output(n, 0, t, shape_of(n, 0));
  };
  d.lower = [](const Node& n) {
    QLayout l = q_layout(n);
    return dispatch(QTypes{}, n.outputs[0]->dtype, [&](auto tag) {
      using Q = typename decltype(tag)::type;
      return with_opt_input(n, 2, [&](auto zp) {
        return make_call(kHeader, ref_kernel("quantize_linear", {ctype_of<Q>()}), &ref::quantize_linear<Q>, In{0},
                         In{1}, zp, Out{0}, l.outer, l.A, l.inner, l.per_axis, l.block);
      });
    });
  };
  return d;
}
const OpRegistrar kQuantizeLinear(quantize_linear_op());

OpDef dequantize_linear_op() {
  OpDef d;
  d.name = "DequantizeLinear";
  d.no_fold = true;  // int8 weights stay int8 in flash (see passes/qdq_fold.cpp)
  d.infer = [](Node& n) {
    check_input_count(n, 2, 3);
    DType t = check_same_dtype(n, {0, 2}, type_mask(DQTypes{}));
    check_dtype(n, 1, dtype_bit(DType::F32));
    if (n.has_attr("output_dtype") && n.attr_int_or("output_dtype", 0) != 0 &&
        n.attr_int_or("output_dtype", 0) != 1)
      fail(n, fmt::format("output_dtype {} is not supported (float32 only)",
                          onnx_type_name(static_cast<int32_t>(n.attr_int_or("output_dtype", 0)))));
    if (t == DType::I32 && n.input(2)) {
      const Value* z = n.inputs[2];
      if (!z->is_constant() || [&] {
            for (int64_t i = 0; i < z->constant->numel(); ++i)
              if (z->constant->get_i64(i) != 0) return true;
            return false;
          }())
        fail(n, "an int32 input requires zero point 0");
    }
    q_layout(n);
    set_output(n, 0, DType::F32, shape_of(n, 0));
  };
  d.lower = [](const Node& n) {
    QLayout l = q_layout(n);
    return dispatch(DQTypes{}, n.inputs[0]->dtype, [&](auto tag) {
      using Q = typename decltype(tag)::type;
      return with_opt_input(n, 2, [&](auto zp) {
        return make_call(kHeader, ref_kernel("dequantize_linear", {ctype_of<Q>()}), &ref::dequantize_linear<Q>,
                         In{0}, In{1}, zp, Out{0}, l.outer, l.A, l.inner, l.per_axis, l.block);
      });
    });
  };
  return d;
}
const OpRegistrar kDequantizeLinear(dequantize_linear_op());

OpDef dynamic_quantize_linear_op() {
  OpDef d;
  d.name = "DynamicQuantizeLinear";
  d.infer = [](Node& n) {
    check_input_count(n, 1, 1);
    check_dtype(n, 0, dtype_bit(DType::F32));
    set_output(n, 0, DType::U8, shape_of(n, 0));
    set_output(n, 1, DType::F32, {});
    set_output(n, 2, DType::U8, {});
  };
  d.lower = [](const Node& n) {
    return with_opt_output(n, 1, [&](auto s) {
      return with_opt_output(n, 2, [&](auto z) {
        return make_call(kHeader, "tinyodlc::ref::dynamic_quantize_linear", &ref::dynamic_quantize_linear, In{0},
                         Out{0}, s, z, i32(n, n.inputs[0]->numel()));
      });
    });
  };
  return d;
}
const OpRegistrar kDynamicQuantizeLinear(dynamic_quantize_linear_op());

// ---- integer convolution -------------------------------------------------------------------
// Validates x [N, C, sp...] (input ix), w [M, C/group, k...] (input iw); returns the window.
Window qconv_window(const Node& n, size_t ix, size_t iw) {
  const Shape& x = shape_of(n, ix);
  const Shape& w = shape_of(n, iw);
  if (x.size() < 3 || x.size() > 5)
    fail(n, fmt::format("input '{}' has shape {}; expected [N, C, D1 (, D2 (, D3))]", n.inputs[ix]->name, shape_str(x)));
  if (w.size() != x.size())
    fail(n, fmt::format("weight '{}' has shape {}, expected rank {}", n.inputs[iw]->name, shape_str(w), x.size()));
  int64_t group = n.attr_int_or("group", 1);
  if (group < 1 || x[1] % group != 0 || w[1] * group != x[1] || w[0] % group != 0)
    fail(n, fmt::format("weight {} does not match input {} with group = {}", shape_str(w), shape_str(x), group));
  std::vector<int64_t> kernel(w.begin() + 2, w.end());
  if (n.has_attr("kernel_shape") && n.attr_ints_or("kernel_shape", {}) != kernel)
    fail(n, fmt::format("kernel_shape does not match the weight '{}' {}", n.inputs[iw]->name, shape_str(w)));
  // forward_window reads x from input 0 only through `in`.
  return forward_window(n, Shape(x.begin() + 2, x.end()), kernel, false);
}

Shape conv_out_shape(const Node& n, size_t ix, size_t iw, const Window& win) {
  Shape y{shape_of(n, ix)[0], shape_of(n, iw)[0]};
  y.insert(y.end(), win.out.begin(), win.out.end());
  return y;
}

// A zero-point / scale input with one value or one per `count` entries; returns its size.
int32_t per_channel_count(const Node& n, size_t k, int64_t count, const char* what) {
  Value* v = n.input(k);
  if (!v) return 1;
  const int64_t e = num_elements(shape_of(n, k));
  if (shape_of(n, k).size() > 1 || (e != 1 && e != count))
    fail(n, fmt::format("{} '{}' has shape {}; expected a scalar or [{}]", what, v->name, shape_str(v->shape), count));
  return static_cast<int32_t>(e);
}

void check_scalar(const Node& n, size_t k, const char* what) {
  Value* v = n.input(k);
  if (v && num_elements(shape_of(n, k)) != 1)
    fail(n, fmt::format("{} '{}' has shape {}; only per-tensor (one value) is supported", what, v->name,
                        shape_str(v->shape)));
}

OpDef conv_integer_op() {
  OpDef d;
  d.name = "ConvInteger";
  d.infer = [](Node& n) {
    check_input_count(n, 2, 4);
    check_same_dtype(n, {0, 2}, type_mask(Q8Types{}));
    check_same_dtype(n, {1, 3}, type_mask(Q8Types{}));
    Window win = qconv_window(n, 0, 1);
    check_scalar(n, 2, "x_zero_point");
    per_channel_count(n, 3, shape_of(n, 1)[0], "w_zero_point");
    set_output(n, 0, DType::I32, conv_out_shape(n, 0, 1, win));
  };
  d.lower = [](const Node& n) {
    Window win = qconv_window(n, 0, 1);
    const Shape& x = n.inputs[0]->shape;
    const Shape& w = n.inputs[1]->shape;
    const int32_t wzc = per_channel_count(n, 3, w[0], "w_zero_point");
    return dispatch(Q8Types{}, n.inputs[0]->dtype, [&](auto tx) {
      using TX = typename decltype(tx)::type;
      return dispatch(Q8Types{}, n.inputs[1]->dtype, [&](auto tw) {
        using TW = typename decltype(tw)::type;
        return with_opt_input(n, 2, [&](auto xz) {
          return with_opt_input(n, 3, [&](auto wz) {
            return make_call(kHeader, ref_kernel("conv_integer", {ctype_of<TX>(), ctype_of<TW>()}),
                             &ref::conv_integer<TX, TW>, In{0}, In{1}, xz, wz, Out{0}, wzc, i32(n, x[0]),
                             i32(n, x[1]), i32(n, w[0]), static_cast<int32_t>(n.attr_int_or("group", 1)),
                             pad3(n, win.in, 1), pad3(n, win.kernel, 1), pad3(n, win.out, 1), pad3(n, win.strides, 1),
                             pad3(n, win.dilations, 1), pad3(n, win.pads_begin, 0));
          });
        });
      });
    });
  };
  d.macs = [](const Node& n) { return n.outputs[0]->numel() * (n.inputs[1]->numel() / n.inputs[1]->shape[0]); };
  return d;
}
const OpRegistrar kConvInteger(conv_integer_op());

OpDef qlinear_conv_op() {
  OpDef d;
  d.name = "QLinearConv";
  d.infer = [](Node& n) {
    check_input_count(n, 8, 9);
    check_same_dtype(n, {0, 2}, type_mask(Q8Types{}));
    check_same_dtype(n, {3, 5}, type_mask(Q8Types{}));
    check_dtype(n, 7, type_mask(Q8Types{}));
    for (size_t k : {1, 4, 6}) check_dtype(n, k, dtype_bit(DType::F32));
    if (n.input(8)) check_dtype(n, 8, dtype_bit(DType::I32));
    Window win = qconv_window(n, 0, 3);
    const int64_t m = shape_of(n, 3)[0];
    for (auto [k, what] : {std::pair<size_t, const char*>{1, "x_scale"}, {2, "x_zero_point"}, {6, "y_scale"},
                           {7, "y_zero_point"}})
      check_scalar(n, k, what);
    per_channel_count(n, 4, m, "w_scale");
    per_channel_count(n, 5, m, "w_zero_point");
    if (n.input(8) && shape_of(n, 8) != Shape{m})
      fail(n, fmt::format("bias '{}' has shape {}, expected [{}]", n.inputs[8]->name, shape_str(n.inputs[8]->shape), m));
    set_output(n, 0, n.inputs[7]->dtype, conv_out_shape(n, 0, 3, win));
  };
  d.lower = [](const Node& n) {
    Window win = qconv_window(n, 0, 3);
    const Shape& x = n.inputs[0]->shape;
    const Shape& w = n.inputs[3]->shape;
    const int32_t wsc = per_channel_count(n, 4, w[0], "w_scale");
    const int32_t wzc = per_channel_count(n, 5, w[0], "w_zero_point");
    return dispatch(Q8Types{}, n.inputs[0]->dtype, [&](auto tx) {
      using TX = typename decltype(tx)::type;
      return dispatch(Q8Types{}, n.inputs[3]->dtype, [&](auto tw) {
        using TW = typename decltype(tw)::type;
        return dispatch(Q8Types{}, n.inputs[7]->dtype, [&](auto ty) {
          using TY = typename decltype(ty)::type;
          return with_opt_input(n, 8, [&](auto bias) {
            return make_call(kHeader, ref_kernel("qlinear_conv", {ctype_of<TX>(), ctype_of<TW>(), ctype_of<TY>()}),
                             &ref::qlinear_conv<TX, TW, TY>, In{0}, In{1}, In{2}, In{3}, In{4}, In{5}, In{6}, In{7},
                             bias, Out{0}, wsc, wzc, i32(n, x[0]), i32(n, x[1]), i32(n, w[0]),
                             static_cast<int32_t>(n.attr_int_or("group", 1)), pad3(n, win.in, 1),
                             pad3(n, win.kernel, 1), pad3(n, win.out, 1), pad3(n, win.strides, 1),
                             pad3(n, win.dilations, 1), pad3(n, win.pads_begin, 0));
          });
        });
      });
    });
  };
  d.macs = [](const Node& n) { return n.outputs[0]->numel() * (n.inputs[3]->numel() / n.inputs[3]->shape[0]); };
  return d;
}
const OpRegistrar kQLinearConv(qlinear_conv_op());

// ---- integer matmul ------------------------------------------------------------------------
OpDef matmul_integer_op() {
  OpDef d;
  d.name = "MatMulInteger";
  d.infer = [](Node& n) {
    check_input_count(n, 2, 4);
    check_same_dtype(n, {0, 2}, type_mask(Q8Types{}));
    check_same_dtype(n, {1, 3}, type_mask(Q8Types{}));
    MatMulDims m = matmul_dims(n, 0, 1);
    per_channel_count(n, 2, m.m, "a_zero_point");
    per_channel_count(n, 3, m.n, "b_zero_point");
    set_output(n, 0, DType::I32, m.out);
  };
  d.lower = [](const Node& n) {
    MatMulDims m = matmul_dims(n, 0, 1);
    I32s as = broadcast_strides(m.a_batch, m.batch), bs = broadcast_strides(m.b_batch, m.batch);
    const int32_t azc = per_channel_count(n, 2, m.m, "a_zero_point");
    const int32_t bzc = per_channel_count(n, 3, m.n, "b_zero_point");
    return dispatch(Q8Types{}, n.inputs[0]->dtype, [&](auto ta) {
      using TA = typename decltype(ta)::type;
      return dispatch(Q8Types{}, n.inputs[1]->dtype, [&](auto tb) {
        using TB = typename decltype(tb)::type;
        return with_opt_input(n, 2, [&](auto az) {
          return with_opt_input(n, 3, [&](auto bz) {
            return make_call(kHeader, ref_kernel("matmul_integer", {ctype_of<TA>(), ctype_of<TB>()}),
                             &ref::matmul_integer<TA, TB>, In{0}, In{1}, az, bz, Out{0}, azc, bzc,
                             static_cast<int32_t>(m.batch.size()), dims_i32(n, m.batch), as, bs, i32(n, m.m),
                             i32(n, m.n), i32(n, m.k));
          });
        });
      });
    });
  };
  d.macs = [](const Node& n) {
    MatMulDims m = matmul_dims(n, 0, 1);
    return num_elements(m.batch) * m.m * m.n * m.k;
  };
  return d;
}
const OpRegistrar kMatMulInteger(matmul_integer_op());

OpDef qlinear_matmul_op() {
  OpDef d;
  d.name = "QLinearMatMul";
  d.infer = [](Node& n) {
    check_input_count(n, 8, 8);
    check_same_dtype(n, {0, 2}, type_mask(Q8Types{}));
    check_same_dtype(n, {3, 5}, type_mask(Q8Types{}));
    check_dtype(n, 7, type_mask(Q8Types{}));
    for (size_t k : {1, 4, 6}) check_dtype(n, k, dtype_bit(DType::F32));
    MatMulDims m = matmul_dims(n, 0, 3);
    for (auto [k, what] : {std::pair<size_t, const char*>{1, "a_scale"}, {2, "a_zero_point"}, {6, "y_scale"},
                           {7, "y_zero_point"}})
      check_scalar(n, k, what);
    per_channel_count(n, 4, m.n, "b_scale");
    per_channel_count(n, 5, m.n, "b_zero_point");
    set_output(n, 0, n.inputs[7]->dtype, m.out);
  };
  d.lower = [](const Node& n) {
    MatMulDims m = matmul_dims(n, 0, 3);
    I32s as = broadcast_strides(m.a_batch, m.batch), bs = broadcast_strides(m.b_batch, m.batch);
    const int32_t bsc = per_channel_count(n, 4, m.n, "b_scale");
    const int32_t bzc = per_channel_count(n, 5, m.n, "b_zero_point");
    return dispatch(Q8Types{}, n.inputs[0]->dtype, [&](auto ta) {
      using TA = typename decltype(ta)::type;
      return dispatch(Q8Types{}, n.inputs[3]->dtype, [&](auto tb) {
        using TB = typename decltype(tb)::type;
        return dispatch(Q8Types{}, n.inputs[7]->dtype, [&](auto ty) {
          using TY = typename decltype(ty)::type;
          return make_call(kHeader, ref_kernel("qlinear_matmul", {ctype_of<TA>(), ctype_of<TB>(), ctype_of<TY>()}),
                           &ref::qlinear_matmul<TA, TB, TY>, In{0}, In{1}, In{2}, In{3}, In{4}, In{5}, In{6}, In{7},
                           Out{0}, bsc, bzc, static_cast<int32_t>(m.batch.size()), dims_i32(n, m.batch), as, bs,
                           i32(n, m.m), i32(n, m.n), i32(n, m.k));
        });
      });
    });
  };
  d.macs = [](const Node& n) {
    MatMulDims m = matmul_dims(n, 0, 3);
    return num_elements(m.batch) * m.m * m.n * m.k;
  };
  return d;
}
const OpRegistrar kQLinearMatMul(qlinear_matmul_op());

}  // namespace
}  // namespace tinyodlc::ir::ops
