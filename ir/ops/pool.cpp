// Pooling: MaxPool (optional int64 Indices output, storage_order), AveragePool
// (count_include_pad), both with kernel_shape, strides, dilations, pads, auto_pad and
// ceil_mode; GlobalMaxPool, GlobalAveragePool. Kernels: backends/kernels/tinyodlc/ref/pool.h.
//
// Opset history: the attributes added over time (storage_order and Indices in MaxPool-8,
// ceil_mode in 10, dilations in MaxPool-10 / AveragePool-19, count_include_pad in
// AveragePool-7) all default to the older behaviour, so one definition serves every opset.
#include "tinyodlc/ref/pool.h"

#include "ir/ops/nn_utils.h"

namespace tinyodlc::ir::ops {
namespace {

constexpr const char* kHeader = "tinyodlc/ref/pool.h";
using MaxPoolTypes = TypeList<float, double, int8_t, uint8_t, int64_t>;
using AvgPoolTypes = TypeList<float, double>;

Window pool_window(const Node& n) {
  const size_t r = spatial_rank(n);
  if (!n.has_attr("kernel_shape")) fail(n, "attribute 'kernel_shape' is required");
  std::vector<int64_t> kernel = window_attr(n, "kernel_shape", r, 1, 1);
  const int64_t ceil_mode = n.attr_int_or("ceil_mode", 0);
  if (ceil_mode != 0 && ceil_mode != 1) fail(n, fmt::format("ceil_mode = {} must be 0 or 1", ceil_mode));
  const Shape& x = shape_of(n, 0);
  Window w = forward_window(n, Shape(x.begin() + 2, x.end()), kernel, ceil_mode != 0);
  for (size_t i = 0; i < r; ++i)
    if (w.pads_begin[i] >= (kernel[i] - 1) * w.dilations[i] + 1 || w.pads_end[i] >= (kernel[i] - 1) * w.dilations[i] + 1)
      fail(n, fmt::format("pads along spatial dim {} ({} and {}) must be smaller than the window extent {}", i,
                          w.pads_begin[i], w.pads_end[i], (kernel[i] - 1) * w.dilations[i] + 1));
  return w;
}

Shape pool_out_shape(const Node& n, const Window& w) {
  Shape y{shape_of(n, 0)[0], shape_of(n, 0)[1]};
  y.insert(y.end(), w.out.begin(), w.out.end());
  return y;
}

int32_t planes(const Node& n) { return static_cast<int32_t>(n.inputs[0]->shape[0] * n.inputs[0]->shape[1]); }

int64_t window_size(const Window& w) {
  int64_t k = 1;
  for (int64_t v : w.kernel) k *= v;
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
  d.macs = [](const Node& n) { return n.outputs[0]->numel() * window_size(pool_window(n)); };
  return d;
}
const OpRegistrar kMaxPool(max_pool_op());

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
  d.macs = [](const Node& n) { return n.outputs[0]->numel() * window_size(pool_window(n)); };
  return d;
}
const OpRegistrar kAvgPool(avg_pool_op());

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
  return d;
}
const OpRegistrar kGlobalMaxPool(global_pool_op<true>("GlobalMaxPool"));
const OpRegistrar kGlobalAvgPool(global_pool_op<false>("GlobalAveragePool"));

}  // namespace
}  // namespace tinyodlc::ir::ops
