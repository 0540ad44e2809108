// Pooling: MaxPool (optional int64 Indices output, storage_order), AveragePool
// (count_include_pad), both with kernel_shape, strides, dilations, pads, auto_pad and
// ceil_mode; GlobalMaxPool, GlobalAveragePool. Kernels: kernels/tinyodlc/ref/pool.h.
//
// Opset history: the attributes added over time (storage_order and Indices in MaxPool-8,
// ceil_mode in 10, dilations in MaxPool-10 / AveragePool-19, count_include_pad in
// AveragePool-7) all default to the older behaviour, so one definition serves every opset.
//
// Gradients (on-device learning), ops of domain "tinyodlc" with the forward attributes:
//   MaxPoolGrad(dY, X)               dY to each window's first maximum, recomputed from X
//   AveragePoolGrad(dY) {input_shape} dY / count to each window's taps
//   GlobalMaxPoolGrad(dY, X), GlobalAveragePoolGrad(dY) {input_shape}
#include "tinyodlc/ref/pool.h"

#include "ir/grad.h"
#include "ir/ops/nn_utils.h"

namespace tinyodlc::ir::ops {
namespace {

constexpr const char* kHeader = "tinyodlc/ref/pool.h";
using MaxPoolTypes = TypeList<float, double, int8_t, uint8_t, int64_t>;
using AvgPoolTypes = TypeList<float, double>;

// Window of a pooling node whose input has shape x (the forward node's input 0, or the
// input_shape attribute of a gradient node).
Window pool_window(const Node& n, const Shape& x) {
  const size_t r = x.size() - 2;
  if (!n.has_attr("kernel_shape")) fail(n, "attribute 'kernel_shape' is required");
  std::vector<int64_t> kernel = window_attr(n, "kernel_shape", r, 1, 1);
  const int64_t ceil_mode = n.attr_int_or("ceil_mode", 0);
  if (ceil_mode != 0 && ceil_mode != 1) fail(n, fmt::format("ceil_mode = {} must be 0 or 1", ceil_mode));
  Window w = forward_window(n, Shape(x.begin() + 2, x.end()), kernel, ceil_mode != 0);
  for (size_t i = 0; i < r; ++i)
    if (w.pads_begin[i] >= (kernel[i] - 1) * w.dilations[i] + 1 || w.pads_end[i] >= (kernel[i] - 1) * w.dilations[i] + 1)
      fail(n, fmt::format("pads along spatial dim {} ({} and {}) must be smaller than the window extent {}", i,
                          w.pads_begin[i], w.pads_end[i], (kernel[i] - 1) * w.dilations[i] + 1));
  return w;
}

Window pool_window(const Node& n) {
  spatial_rank(n);
  return pool_window(n, shape_of(n, 0));
}

// The input shape of a gradient node: its attribute input_shape ([N, C, spatial...]).
Shape grad_input_shape(const Node& n) {
  Shape x = n.attr_ints_or("input_shape", {});
  if (x.size() < 3 || x.size() > 5)
    fail(n, fmt::format("attribute input_shape [{}] must be [N, C, D1 (, D2 (, D3))]", fmt::join(x, ",")));
  checked::tensor_bytes(x, 8, n.label(), "attribute 'input_shape'");
  return x;
}

Shape pool_out_shape(const Node& n, const Window& w) {
  Shape y{shape_of(n, 0)[0], shape_of(n, 0)[1]};
  y.insert(y.end(), w.out.begin(), w.out.end());
  return y;
}

// N * C: bounded by the element count, which is bounded by kMaxTensorElements (checked).
int32_t planes(const Node& n) { return i32(n, mul(n, n.inputs[0]->shape[0], n.inputs[0]->shape[1], "N * C"), "N * C"); }
int32_t planes(const Shape& x) { return static_cast<int32_t>(x[0] * x[1]); }

// Gradient node `op` (domain tinyodlc) with the forward node's attributes (+ extra).
Value* emit_pool_grad(GradContext& c, const char* op, std::vector<Value*> ins,
                      std::map<std::string, Attribute> extra = {}) {
  std::map<std::string, Attribute> attrs = c.node.attrs;
  for (auto& [k, v] : extra) attrs[k] = v;
  return c.emit(op, std::move(ins), std::move(attrs), kTinyodlcDomain);
}

// dY must have the forward output's shape for the input shape x.
void check_grad_dy(const Node& n, const Shape& y) {
  if (shape_of(n, 0) != y)
    fail(n, fmt::format("dY has shape {}, expected {} (the forward output)", shape_str(shape_of(n, 0)), shape_str(y)));
}

int64_t window_size(const Node& n, const Window& w) {
  int64_t k = 1;
  for (int64_t v : w.kernel) k = mul(n, k, v, "window size (attribute 'kernel_shape')");
  return k;
}

OpDef max_pool_op() {
  OpDef d;
  d.name = "MaxPool";
  d.infer = [](Node& n) {
    check_input_count(n, 1, 1);
    check_dtype(n, 0, type_mask(MaxPoolTypes{}));
    const int64_t so = n.attr_int_or("storage_order", 0);
    if (so != 0 && so != 1) fail(n, fmt::format("storage_order = {} must be 0 (row major) or 1 (column major)", so));
    if (n.outputs.size() > 2) fail(n, fmt::format("expects at most 2 outputs, got {}", n.outputs.size()));
    Shape y = pool_out_shape(n, pool_window(n));
    set_output(n, 0, n.inputs[0]->dtype, y);
    set_output(n, 1, DType::I64, y);
  };
  d.lower = [](const Node& n) {
    Window w = pool_window(n);
    const int32_t so = static_cast<int32_t>(n.attr_int_or("storage_order", 0));
    return dispatch(MaxPoolTypes{}, n.inputs[0]->dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      return with_opt_output(n, 1, [&](auto indices) {
        return make_call(kHeader, ref_kernel("max_pool", {ctype_of<T>()}), &ref::max_pool<T>, In{0}, Out{0}, indices,
                         planes(n), pad3(n, w.in, 1), pad3(n, w.kernel, 1), pad3(n, w.out, 1), pad3(n, w.strides, 1),
                         pad3(n, w.dilations, 1), pad3(n, w.pads_begin, 0), so);
      });
    });
  };
  d.macs = [](const Node& n) { return mul(n, n.outputs[0]->numel(), window_size(n, pool_window(n)), "MAC count"); };
  d.grad = [](GradContext& c) {
    if (c.needs(0) && c.dy(0)) c.set_dx(0, emit_pool_grad(c, "MaxPoolGrad", {c.dy(0), c.node.inputs[0]}));
  };
  return d;
}
const OpRegistrar kMaxPool(max_pool_op());

OpDef max_pool_grad_op() {
  OpDef d;
  d.domain = kTinyodlcDomain;
  d.name = "MaxPoolGrad";
  d.infer = [](Node& n) {
    check_input_count(n, 2, 2);
    DType t = check_same_dtype(n, {0, 1}, type_mask(AvgPoolTypes{}));
    const Shape& x = shape_of(n, 1);
    if (x.size() < 3 || x.size() > 5) fail(n, fmt::format("X {} must be [N, C, D1 (, D2 (, D3))]", shape_str(x)));
    Window w = pool_window(n, x);
    Shape y{x[0], x[1]};
    y.insert(y.end(), w.out.begin(), w.out.end());
    check_grad_dy(n, y);
    set_output(n, 0, t, x);
  };
  d.lower = [](const Node& n) {
    const Shape& x = n.inputs[1]->shape;
    Window w = pool_window(n, x);
    return dispatch(AvgPoolTypes{}, n.inputs[0]->dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      return make_call(kHeader, ref_kernel("max_pool_grad", {ctype_of<T>()}), &ref::max_pool_grad<T>, In{0}, In{1},
                       Out{0}, planes(x), pad3(n, w.in, 1), pad3(n, w.kernel, 1), pad3(n, w.out, 1),
                       pad3(n, w.strides, 1), pad3(n, w.dilations, 1), pad3(n, w.pads_begin, 0));
    });
  };
  d.macs = [](const Node& n) { return mul(n, n.inputs[0]->numel(), window_size(n, pool_window(n, n.inputs[1]->shape)), "MAC count"); };
  return d;
}
const OpRegistrar kMaxPoolGrad(max_pool_grad_op());

OpDef avg_pool_op() {
  OpDef d;
  d.name = "AveragePool";
  d.infer = [](Node& n) {
    check_input_count(n, 1, 1);
    check_dtype(n, 0, type_mask(AvgPoolTypes{}));
    const int64_t cip = n.attr_int_or("count_include_pad", 0);
    if (cip != 0 && cip != 1) fail(n, fmt::format("count_include_pad = {} must be 0 or 1", cip));
    set_output(n, 0, n.inputs[0]->dtype, pool_out_shape(n, pool_window(n)));
  };
  d.lower = [](const Node& n) {
    Window w = pool_window(n);
    I32s pads = pad3(n, w.pads_begin, 0), pe = pad3(n, w.pads_end, 0);
    pads.insert(pads.end(), pe.begin(), pe.end());
    const bool cip = n.attr_int_or("count_include_pad", 0) != 0;
    return dispatch(AvgPoolTypes{}, n.inputs[0]->dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      return make_call(kHeader, ref_kernel("avg_pool", {ctype_of<T>()}), &ref::avg_pool<T>, In{0}, Out{0}, planes(n),
                       pad3(n, w.in, 1), pad3(n, w.kernel, 1), pad3(n, w.out, 1), pad3(n, w.strides, 1),
                       pad3(n, w.dilations, 1), pads, cip);
    });
  };
  d.macs = [](const Node& n) { return mul(n, n.outputs[0]->numel(), window_size(n, pool_window(n)), "MAC count"); };
  d.grad = [](GradContext& c) {
    if (c.needs(0))
      c.set_dx(0, emit_pool_grad(c, "AveragePoolGrad", {c.dy(0)},
                                 {{"input_shape", Attribute::Ints(c.node.inputs[0]->shape)}}));
  };
  return d;
}
const OpRegistrar kAvgPool(avg_pool_op());

OpDef avg_pool_grad_op() {
  OpDef d;
  d.domain = kTinyodlcDomain;
  d.name = "AveragePoolGrad";
  d.infer = [](Node& n) {
    check_input_count(n, 1, 1);
    DType t = check_same_dtype(n, {0}, type_mask(AvgPoolTypes{}));
    const Shape x = grad_input_shape(n);
    Window w = pool_window(n, x);
    Shape y{x[0], x[1]};
    y.insert(y.end(), w.out.begin(), w.out.end());
    check_grad_dy(n, y);
    set_output(n, 0, t, x);
  };
  d.lower = [](const Node& n) {
    const Shape x = grad_input_shape(n);
    Window w = pool_window(n, x);
    I32s pads = pad3(n, w.pads_begin, 0), pe = pad3(n, w.pads_end, 0);
    pads.insert(pads.end(), pe.begin(), pe.end());
    const bool cip = n.attr_int_or("count_include_pad", 0) != 0;
    return dispatch(AvgPoolTypes{}, n.inputs[0]->dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      return make_call(kHeader, ref_kernel("avg_pool_grad", {ctype_of<T>()}), &ref::avg_pool_grad<T>, In{0}, Out{0},
                       planes(x), pad3(n, w.in, 1), pad3(n, w.kernel, 1), pad3(n, w.out, 1), pad3(n, w.strides, 1),
                       pad3(n, w.dilations, 1), pads, cip);
    });
  };
  d.macs = [](const Node& n) { return mul(n, n.inputs[0]->numel(), window_size(n, pool_window(n, grad_input_shape(n))), "MAC count"); };
  return d;
}
const OpRegistrar kAvgPoolGrad(avg_pool_grad_op());

// Global pools: any rank >= 2 ([N, C, spatial...]); the output keeps the rank with size-1
// spatial dims.
template <bool kMax>
OpDef global_pool_op(const char* name) {
  using Types = std::conditional_t<kMax, MaxPoolTypes, AvgPoolTypes>;
  OpDef d;
  d.name = name;
  d.infer = [](Node& n) {
    check_input_count(n, 1, 1);
    check_dtype(n, 0, type_mask(Types{}));
    const Shape& x = shape_of(n, 0);
    if (x.size() < 3)
      fail(n, fmt::format("input '{}' has shape {}; expected [N, C, spatial...] with at least one spatial dim",
                          n.inputs[0]->name, shape_str(x)));
    Shape y(x.size(), 1);
    y[0] = x[0];
    y[1] = x[1];
    set_output(n, 0, n.inputs[0]->dtype, y);
  };
  d.lower = [](const Node& n) {
    const Shape& x = n.inputs[0]->shape;
    const int64_t size = num_elements(Shape(x.begin() + 2, x.end()));
    return dispatch(Types{}, n.inputs[0]->dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      if constexpr (kMax)
        return make_call(kHeader, ref_kernel("global_max_pool", {ctype_of<T>()}), &ref::global_max_pool<T>, In{0},
                         Out{0}, planes(n), static_cast<int32_t>(size));
      else
        return make_call(kHeader, ref_kernel("global_avg_pool", {ctype_of<T>()}), &ref::global_avg_pool<T>, In{0},
                         Out{0}, planes(n), static_cast<int32_t>(size));
    });
  };
  d.macs = [](const Node& n) { return n.inputs[0]->numel(); };
  d.grad = [](GradContext& c) {
    if (!c.needs(0)) return;
    Value* x = c.node.inputs[0];
    if constexpr (kMax)
      c.set_dx(0, c.emit("GlobalMaxPoolGrad", {c.dy(0), x}, {}, kTinyodlcDomain));
    else
      c.set_dx(0, c.emit("GlobalAveragePoolGrad", {c.dy(0)}, {{"input_shape", Attribute::Ints(x->shape)}},
                         kTinyodlcDomain));
  };
  return d;
}
const OpRegistrar kGlobalMaxPool(global_pool_op<true>("GlobalMaxPool"));
const OpRegistrar kGlobalAvgPool(global_pool_op<false>("GlobalAveragePool"));

// tinyodlc::GlobalMaxPoolGrad(dY, X), tinyodlc::GlobalAveragePoolGrad(dY) {input_shape}.
template <bool kMax>
OpDef global_pool_grad_op(const char* name) {
  OpDef d;
  d.domain = kTinyodlcDomain;
  d.name = name;
  d.infer = [](Node& n) {
    check_input_count(n, kMax ? 2 : 1, kMax ? 2 : 1);
    DType t = check_same_dtype(n, {0, 1}, type_mask(AvgPoolTypes{}));
    const Shape x = kMax ? shape_of(n, 1) : grad_input_shape(n);
    if (x.size() < 3) fail(n, fmt::format("X {} must be [N, C, spatial...]", shape_str(x)));
    Shape y(x.size(), 1);
    y[0] = x[0];
    y[1] = x[1];
    check_grad_dy(n, y);
    set_output(n, 0, t, x);
  };
  d.lower = [](const Node& n) {
    const Shape& x = n.outputs[0]->shape;
    const int32_t size = to_i32s(n, {num_elements(Shape(x.begin() + 2, x.end()))})[0];
    return dispatch(AvgPoolTypes{}, n.inputs[0]->dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      if constexpr (kMax)
        return make_call(kHeader, ref_kernel("global_max_pool_grad", {ctype_of<T>()}), &ref::global_max_pool_grad<T>,
                         In{0}, In{1}, Out{0}, planes(x), size);
      else
        return make_call(kHeader, ref_kernel("global_avg_pool_grad", {ctype_of<T>()}), &ref::global_avg_pool_grad<T>,
                         In{0}, Out{0}, planes(x), size);
    });
  };
  d.macs = [](const Node& n) { return n.outputs[0]->numel(); };
  return d;
}
const OpRegistrar kGlobalMaxPoolGrad(global_pool_grad_op<true>("GlobalMaxPoolGrad"));
const OpRegistrar kGlobalAvgPoolGrad(global_pool_grad_op<false>("GlobalAveragePoolGrad"));

}  // namespace
}  // namespace tinyodlc::ir::ops
