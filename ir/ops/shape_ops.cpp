// Shape operators: Reshape, Flatten, Squeeze, Unsqueeze, Identity (views: the output is the
// input's data with another shape), Shape, Size (shape-only: the result depends on the input's
// shape alone), Expand, Tile (data movement), Dropout (inference: identity). Gradient rules:
// views reshape dy back; Expand and Tile sum dy over the copies; Dropout passes dy.
// Kernels: kernels/tinyodlc/ref/{common,shape_ops,movement}.h.
#include <algorithm>
#include <set>

#include "tinyodlc/ref/movement.h"
#include "tinyodlc/ref/shape_ops.h"

#include "ir/grad.h"
#include "ir/ops/op_utils.h"

namespace tinyodlc::ir::ops {
namespace {

// Views only reinterpret the data with another shape: the gradient is the output gradient
// reinterpreted with the input's shape.
void grad_view(GradContext& c) {
  if (c.needs(0)) c.set_dx(0, c.reshape(c.dy(0), c.node.inputs[0]->shape));
}


constexpr const char* kCommon = "tinyodlc/ref/common.h";
constexpr const char* kShapeOps = "tinyodlc/ref/shape_ops.h";
constexpr const char* kMovement = "tinyodlc/ref/movement.h";

// Lowering of views: a byte copy (used when the planner does not alias the buffers).
KernelCall lower_copy(const Node& n) {
  return make_call(kCommon, "tinyodlc::ref::copy_bytes", &ref::copy_bytes, In{0}, Out{0},
                   static_cast<int32_t>(n.outputs[0]->nbytes()));
}

void check_shape_input(const Node& n, size_t k, const char* what) {
  const Value* v = req_input(n, k);
  if (v->dtype != DType::I64) fail(n, fmt::format("the {} (input {}) must be int64, got {}", what, k, dtype_name(v->dtype)));
  if (v->shape.size() != 1) fail(n, fmt::format("the {} (input {}) must be a 1-D tensor, got shape {}", what, k, shape_str(v->shape)));
}

// ---- Reshape(data, shape) ----------------------------------------------------------------
OpDef reshape_op() {
  OpDef d;
  d.name = "Reshape";
  d.is_view = true;
  d.grad = grad_view;
  d.canonicalize_import = [](Node& n, Graph& g) {
    if (before(n, 5)) attr_to_input(n, g, "shape", 1);  // Reshape-1: shape attribute
  };
  d.infer = [](Node& n) {
    check_input_count(n, 2, 2);
    check_shape_input(n, 1, "shape");
    const Shape& in = shape_of(n, 0);
    std::vector<int64_t> spec = const_input(n, 1, "target shape").to_i64();
    bool allowzero = n.attr_int_or("allowzero", 0) != 0;
    Shape out(spec.size());
    int infer_at = -1;
    int64_t known = 1;
    bool has_zero = false;
    for (size_t i = 0; i < spec.size(); ++i) {
      int64_t s = spec[i];
      if (s == -1) {
        if (infer_at >= 0) fail(n, fmt::format("target shape [{}] has more than one -1", fmt::join(spec, ",")));
        infer_at = static_cast<int>(i);
        continue;
      }
      if (s < -1) fail(n, fmt::format("target shape [{}] has invalid dimension {}", fmt::join(spec, ","), s));
      if (s == 0 && !allowzero) {
        if (i >= in.size())
          fail(n, fmt::format("target shape [{}] copies dimension {} (0) but the input {} has rank {}",
                              fmt::join(spec, ","), i, shape_str(in), in.size()));
        s = in[i];
      } else if (s == 0) {
        has_zero = true;
      }
      out[i] = s;
      known = mul(n, known, s, "element count of the target shape");
    }
    if (allowzero && has_zero && infer_at >= 0)
      fail(n, fmt::format("target shape [{}] has both 0 and -1 with allowzero=1", fmt::join(spec, ",")));
    int64_t total = num_elements(in);
    if (infer_at >= 0) {
      if (known == 0 || total % known != 0)
        fail(n, fmt::format("cannot reshape {} to [{}]: -1 cannot be inferred", shape_str(in), fmt::join(spec, ",")));
      out[infer_at] = total / known;
    }
    if (num_elements(out) != total)
      fail(n, fmt::format("cannot reshape {} ({} elements) to {} ({} elements)", shape_str(in), total,
                          shape_str(out), num_elements(out)));
    set_output(n, 0, n.inputs[0]->dtype, out);
  };
  d.lower = lower_copy;
  return d;
}
const OpRegistrar kReshape(reshape_op());

// ---- Flatten(input; axis=1) ---------------------------------------------------------------
OpDef flatten_op() {
  OpDef d;
  d.name = "Flatten";
  d.is_view = true;
  d.grad = grad_view;
  d.infer = [](Node& n) {
    check_input_count(n, 1, 1);
    const Shape& in = shape_of(n, 0);
    const int64_t r = static_cast<int64_t>(in.size());
    int64_t axis = n.attr_int_or("axis", 1);
    if (axis < -r || axis > r) fail(n, fmt::format("axis {} is out of range [{}, {}] for input {}", axis, -r, r, shape_str(in)));
    if (axis < 0) axis += r;
    int64_t a = 1, b = 1;
    for (int64_t i = 0; i < r; ++i) (i < axis ? a : b) *= in[i];  // <= the input's element count: no overflow
    set_output(n, 0, n.inputs[0]->dtype, {a, b});
  };
  d.lower = lower_copy;
  return d;
}
const OpRegistrar kFlatten(flatten_op());

// ---- Squeeze(data, axes?) -----------------------------------------------------------------
OpDef squeeze_op() {
  OpDef d;
  d.name = "Squeeze";
  d.is_view = true;
  d.grad = grad_view;
  d.canonicalize_import = [](Node& n, Graph& g) {
    if (before(n, 13)) attr_to_input(n, g, "axes", 1);
  };
  d.infer = [](Node& n) {
    check_input_count(n, 1, 2);
    const Shape& in = shape_of(n, 0);
    const int64_t r = static_cast<int64_t>(in.size());
    std::set<int64_t> axes;
    if (n.input(1)) {
      for (int64_t a : const_input(n, 1, "axes").to_i64()) {
        int64_t x = norm_axis(n, a, r);
        if (in[x] != 1) fail(n, fmt::format("cannot squeeze axis {}: dimension {} of {} is not 1", a, in[x], shape_str(in)));
        if (!axes.insert(x).second) fail(n, fmt::format("axis {} is repeated", a));
      }
    } else {
      for (int64_t i = 0; i < r; ++i)
        if (in[i] == 1) axes.insert(i);
    }
    Shape out;
    for (int64_t i = 0; i < r; ++i)
      if (!axes.count(i)) out.push_back(in[i]);
    set_output(n, 0, n.inputs[0]->dtype, out);
  };
  d.lower = lower_copy;
  return d;
}
const OpRegistrar kSqueeze(squeeze_op());

// ---- Unsqueeze(data, axes) ------------------------------------------------------------------
OpDef unsqueeze_op() {
  OpDef d;
  d.name = "Unsqueeze";
  d.is_view = true;
  d.grad = grad_view;
  d.canonicalize_import = [](Node& n, Graph& g) {
    if (before(n, 13)) attr_to_input(n, g, "axes", 1);
  };
  d.infer = [](Node& n) {
    check_input_count(n, 2, 2);
    const Shape& in = shape_of(n, 0);
    std::vector<int64_t> spec = const_input(n, 1, "axes").to_i64();
    const int64_t out_rank = static_cast<int64_t>(in.size() + spec.size());
    std::set<int64_t> axes;
    for (int64_t a : spec) {
      int64_t x = norm_axis(n, a, out_rank);  // relative to the output rank
      if (!axes.insert(x).second) fail(n, fmt::format("axis {} is repeated in axes [{}]", a, fmt::join(spec, ",")));
    }
    Shape out;
    size_t j = 0;
    for (int64_t i = 0; i < out_rank; ++i) out.push_back(axes.count(i) ? 1 : in[j++]);
    set_output(n, 0, n.inputs[0]->dtype, out);
  };
  d.lower = lower_copy;
  return d;
}
const OpRegistrar kUnsqueeze(unsqueeze_op());

// ---- Identity ---------------------------------------------------------------------------------
OpDef identity_op() {
  OpDef d;
  d.name = "Identity";
  d.is_view = true;
  d.grad = grad_view;
  d.infer = [](Node& n) {
    check_input_count(n, 1, 1);
    set_output(n, 0, req_input(n, 0)->dtype, shape_of(n, 0));
  };
  d.lower = lower_copy;
  return d;
}
const OpRegistrar kIdentity(identity_op());

// ---- Shape(data; start, end), Size(data): int64 results from the input's shape alone --------
KernelCall lower_values(const Node& n, const std::vector<int64_t>& values) {
  return make_call(kShapeOps, ref_kernel("write_values", {"int64_t"}), &ref::write_values<int64_t>, Out{0},
                   to_i32s(n, values), static_cast<int32_t>(values.size()));
}

std::vector<int64_t> shape_slice(const Node& n) {
  const Shape& in = shape_of(n, 0);
  const int64_t r = static_cast<int64_t>(in.size());
  auto clamp = [&](int64_t v) {
    if (v < 0) v += r;
    return std::clamp<int64_t>(v, 0, r);
  };
  int64_t start = clamp(n.attr_int_or("start", 0));
  int64_t end = n.has_attr("end") ? clamp(n.attr_int("end")) : r;
  if (end < start) end = start;
  return std::vector<int64_t>(in.begin() + start, in.begin() + end);
}

OpDef shape_op() {
  OpDef d;
  d.name = "Shape";
  d.shape_only = true;
  d.infer = [](Node& n) {
    check_input_count(n, 1, 1);
    set_output(n, 0, DType::I64, {static_cast<int64_t>(shape_slice(n).size())});
  };
  d.lower = [](const Node& n) { return lower_values(n, shape_slice(n)); };
  return d;
}
const OpRegistrar kShape(shape_op());

OpDef size_op() {
  OpDef d;
  d.name = "Size";
  d.shape_only = true;
  d.infer = [](Node& n) {
    check_input_count(n, 1, 1);
    shape_of(n, 0);
    set_output(n, 0, DType::I64, {});
  };
  d.lower = [](const Node& n) { return lower_values(n, {num_elements(shape_of(n, 0))}); };
  return d;
}
const OpRegistrar kSize(size_op());

// ---- Expand(input, shape): bidirectional (numpy) broadcast -----------------------------------
OpDef expand_op() {
  OpDef d;
  d.name = "Expand";
  d.infer = [](Node& n) {
    check_input_count(n, 2, 2);
    check_dtype(n, 0, type_mask(AllTypes{}));
    check_shape_input(n, 1, "shape");
    std::vector<int64_t> spec = const_input(n, 1, "target shape").to_i64();
    for (int64_t s : spec)
      if (s < 0) fail(n, fmt::format("target shape [{}] has a negative dimension", fmt::join(spec, ",")));
    const Shape& in = shape_of(n, 0);
    if (std::max(in.size(), spec.size()) > static_cast<size_t>(ref::kMaxRank))
      fail(n, fmt::format("rank above {} is not supported", ref::kMaxRank));
    set_output(n, 0, n.inputs[0]->dtype, broadcast_shapes(n, {in, Shape(spec.begin(), spec.end())}));
  };
  d.lower = [](const Node& n) {
    const Shape& y = n.outputs[0]->shape;
    return dispatch(AllTypes{}, n.inputs[0]->dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      return make_call(kMovement, ref_kernel("strided_copy", {ctype_of<T>()}), &ref::strided_copy<T>, In{0}, Out{0},
                       static_cast<int32_t>(y.size()), dims_i32(n, y), broadcast_strides(shape_of(n, 0), y), 0);
    });
  };
  // dx = dy summed over the broadcast axes.
  d.grad = [](GradContext& c) {
    if (c.needs(0)) c.set_dx(0, c.unbroadcast(c.dy(0), c.node.inputs[0]->shape));
  };
  return d;
}
const OpRegistrar kExpand(expand_op());

// ---- Tile(input, repeats) ------------------------------------------------------------------------
OpDef tile_op() {
  OpDef d;
  d.name = "Tile";
  d.infer = [](Node& n) {
    check_input_count(n, 2, 2);
    check_dtype(n, 0, type_mask(AllTypes{}));
    check_shape_input(n, 1, "repeats");
    const Shape& in = shape_of(n, 0);
    std::vector<int64_t> rep = const_input(n, 1, "repeats").to_i64();
    if (rep.size() != in.size())
      fail(n, fmt::format("repeats [{}] must have one entry per input dimension (input {})", fmt::join(rep, ","), shape_str(in)));
    if (in.size() > static_cast<size_t>(ref::kMaxRank)) fail(n, fmt::format("rank above {} is not supported", ref::kMaxRank));
    Shape out(in.size());
    for (size_t i = 0; i < in.size(); ++i) {
      if (rep[i] < 0) fail(n, fmt::format("repeats [{}] has a negative entry", fmt::join(rep, ",")));
      out[i] = mul(n, in[i], rep[i], "tiled size (input dimension * repeats)");
    }
    set_output(n, 0, n.inputs[0]->dtype, out);
  };
  d.lower = [](const Node& n) {
    const Shape& x = shape_of(n, 0);
    const Shape& y = n.outputs[0]->shape;
    return dispatch(AllTypes{}, n.inputs[0]->dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      return make_call(kMovement, ref_kernel("tile", {ctype_of<T>()}), &ref::tile<T>, In{0}, Out{0},
                       static_cast<int32_t>(y.size()), dims_i32(n, x), dims_i32(n, y));
    });
  };
  // dx = dy summed over the copies: dy viewed as [r0, d0, r1, d1, ...] (an r_i = 1 axis
  // omitted), ReduceSum over the r axes.
  d.grad = [](GradContext& c) {
    if (!c.needs(0)) return;
    const Node& n = c.node;
    const Shape& x = shape_of(n, 0);
    const std::vector<int64_t> rep = const_input(n, 1, "repeats").to_i64();
    Shape split;
    std::vector<int64_t> axes;
    for (size_t i = 0; i < x.size(); ++i) {
      if (rep[i] != 1) {
        axes.push_back(static_cast<int64_t>(split.size()));
        split.push_back(rep[i]);
      }
      split.push_back(x[i]);
    }
    if (axes.empty()) {
      c.set_dx(0, c.dy(0));
      return;
    }
    if (split.size() > static_cast<size_t>(ref::kMaxRank))
      fail(n, fmt::format("gradient: tiling {} axes of a rank-{} tensor needs rank {} (maximum {})", axes.size(),
                          x.size(), split.size(), ref::kMaxRank));
    Value* s = c.emit("ReduceSum", {c.reshape(c.dy(0), split), c.const_i64(axes)}, {{"keepdims", Attribute::Int(0)}});
    c.set_dx(0, c.reshape(s, x));
  };
  return d;
}
const OpRegistrar kTile(tile_op());

// ---- Dropout(data, ratio?, training_mode?) -> (output, mask?) -------------------------------------
// Inference only: output = data, mask = all true. Training mode is accepted only when it is a
// constant false, or when the ratio is a constant 0 (dropping nothing).
OpDef dropout_op() {
  OpDef d;
  d.name = "Dropout";
  d.canonicalize_import = [](Node& n, Graph& g) {
    if (!before(n, 12)) return;
    // Dropout-1..10: ratio attribute (default 0.5), is_test (<= 6) ignored: inference semantics.
    float ratio = n.attr_float_or("ratio", 0.5f);
    auto t = std::make_shared<TensorData>(DType::F32, Shape{});
    *t->data<float>() = ratio;
    n.inputs.resize(2, nullptr);
    n.inputs[1] = g.add_constant(n.name + "_ratio", t);
    n.attrs.erase("ratio");
    n.attrs.erase("is_test");
  };
  d.infer = [](Node& n) {
    check_input_count(n, 1, 3);
    check_dtype(n, 0, type_mask(FloatTypes{}));
    if (n.input(1)) {
      // Any floating-point type (float16 too: the ratio only matters in training mode).
      check_dtype(n, 1, type_mask(FloatTypes{}) | dtype_bit(DType::F16));
      if (n.input(1)->numel() != 1) fail(n, "the ratio (input 1) must be a scalar");
    }
    if (n.input(2)) {
      check_dtype(n, 2, type_mask(BoolType{}));
      const Value* t = n.input(2);
      if (t->numel() != 1) fail(n, "training_mode (input 2) must be a scalar");
      // ConstantRequired lets drivers that know the value (run/check) specialize the input.
      if (!t->is_constant())
        throw ConstantRequired(n.label(),
                               fmt::format("training_mode (input 2, '{}') must be a compile-time constant: "
                                           "training-mode Dropout is not supported",
                                           t->name),
                               t->name);
      if (t->constant->get_i64(0) != 0) {
        const Value* r = n.input(1);
        if (!r) fail(n, "training-mode Dropout is not supported (ratio defaults to 0.5)");
        if (!r->is_constant())
          throw ConstantRequired(n.label(),
                                 fmt::format("training-mode Dropout is not supported (ratio '{}' is not a constant)",
                                             r->name),
                                 r->name);
        const TensorData& rt = *r->constant;
        const bool zero = rt.dtype == DType::F16 ? (rt.data<uint16_t>()[0] & 0x7FFFu) == 0 : rt.get_f64(0) == 0;
        if (!zero) fail(n, fmt::format("training-mode Dropout is not supported (ratio '{}' is not 0)", r->name));
      }
    }
    if (n.has_attr("seed")) n.attr_int("seed");  // ignored; type-checked
    const Shape& s = shape_of(n, 0);
    set_output(n, 0, n.inputs[0]->dtype, s);
    // Dropout-1..9 had a mask of the input type; from opset 10 on it is bool.
    set_output(n, 1, before(n, 10) ? n.inputs[0]->dtype : DType::Bool, s);
  };
  d.inplace_ok = true;  // y[i] = x[i]; the kernel skips the copy when y == x
  d.grad = [](GradContext& c) {  // inference semantics: the identity (the mask has no gradient)
    if (c.needs(0) && c.dy(0)) c.set_dx(0, c.dy(0));
  };
  d.lower = [](const Node& n) {
    const int32_t count = static_cast<int32_t>(n.inputs[0]->numel());
    return dispatch(FloatTypes{}, n.inputs[0]->dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      if (!n.output(1))
        return make_call(kShapeOps, ref_kernel("dropout", {ctype_of<T>(), "bool"}), &ref::dropout<T, bool>, In{0},
                         Out{0}, Null{}, count);
      return dispatch(TypeList<T, bool>{}, n.outputs[1]->dtype, [&](auto mtag) {
        using M = typename decltype(mtag)::type;
        return make_call(kShapeOps, ref_kernel("dropout", {ctype_of<T>(), ctype_of<M>()}), &ref::dropout<T, M>,
                         In{0}, Out{0}, Out{1}, count);
      });
    });
  };
  return d;
}
const OpRegistrar kDropout(dropout_op());

}  // namespace
}  // namespace tinyodlc::ir::ops
