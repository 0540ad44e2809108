// Data-movement operators: Transpose, Concat, Split, Slice, Gather, Pad, with their gradient
// rules and backward ops (domain "tinyodlc"): SliceGrad, SplitGrad, GatherGrad, PadGrad.
// Kernels: kernels/tinyodlc/ref/movement.h.
// Over 500 lines on purpose: one file per op family (docs/design.md), and this family has ten
// OpDefs, each with its shape rule, lowering and gradient rule side by side.
#include <algorithm>
#include <limits>
#include <numeric>
#include <set>

#include "tinyodlc/ref/movement.h"

#include "ir/grad.h"
#include "ir/ops/op_utils.h"

namespace tinyodlc::ir::ops {
namespace {

constexpr const char* kHeader = "tinyodlc/ref/movement.h";

void check_rank(const Node& n, const Shape& s) {
  if (s.size() > static_cast<size_t>(ref::kMaxRank))
    fail(n, fmt::format("tensors of rank {} are not supported (maximum {})", s.size(), ref::kMaxRank));
}

// Index list input k (int32 or int64, 1-D), which must be constant.
std::vector<int64_t> index_list(const Node& n, size_t k, const char* what) {
  const Value* v = req_input(n, k);
  if (v->dtype != DType::I64 && v->dtype != DType::I32)
    fail(n, fmt::format("the {} (input {}) must be int32 or int64, got {}", what, k, dtype_name(v->dtype)));
  if (v->shape.size() != 1) fail(n, fmt::format("the {} (input {}) must be 1-D, got shape {}", what, k, shape_str(v->shape)));
  return const_input(n, k, what).to_i64();
}

int64_t prod(const Shape& s, size_t from, size_t to) {
  int64_t p = 1;
  for (size_t i = from; i < to; ++i) p *= s[i];
  return p;
}

KernelCall strided_copy_call(const Node& n, const I32s& in_strides, int64_t offset) {
  const Shape& y = n.outputs[0]->shape;
  if (offset > std::numeric_limits<int32_t>::max()) fail(n, "tensor too large for 32-bit offsets");
  return dispatch(AllTypes{}, n.inputs[0]->dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    return make_call(kHeader, ref_kernel("strided_copy", {ctype_of<T>()}), &ref::strided_copy<T>, In{0}, Out{0},
                     static_cast<int32_t>(y.size()), dims_i32(n, y), in_strides, static_cast<int32_t>(offset));
  });
}

// ---- Transpose(data; perm = reversed) --------------------------------------------------------
std::vector<int64_t> transpose_perm(const Node& n) {
  const int64_t r = static_cast<int64_t>(shape_of(n, 0).size());
  std::vector<int64_t> def(r);
  for (int64_t i = 0; i < r; ++i) def[i] = r - 1 - i;
  return n.attr_ints_or("perm", def);
}

OpDef transpose_op() {
  OpDef d;
  d.name = "Transpose";
  d.infer = [](Node& n) {
    check_input_count(n, 1, 1);
    check_dtype(n, 0, type_mask(AllTypes{}));
    const Shape& in = shape_of(n, 0);
    check_rank(n, in);
    std::vector<int64_t> perm = transpose_perm(n);
    if (perm.size() != in.size())
      fail(n, fmt::format("perm [{}] has {} entries but the input {} has rank {}", fmt::join(perm, ","), perm.size(),
                          shape_str(in), in.size()));
    std::vector<bool> seen(in.size(), false);
    Shape out;
    for (int64_t p : perm) {
      if (p < 0 || p >= static_cast<int64_t>(in.size()) || seen[p])
        fail(n, fmt::format("perm [{}] is not a permutation of 0..{}", fmt::join(perm, ","), in.size() - 1));
      seen[p] = true;
      out.push_back(in[p]);
    }
    set_output(n, 0, n.inputs[0]->dtype, out);
  };
  d.lower = [](const Node& n) {
    I32s cs = contiguous_strides(shape_of(n, 0)), st;
    for (int64_t p : transpose_perm(n)) st.push_back(cs[p]);
    return strided_copy_call(n, st, 0);
  };
  // y = transpose(x, perm): dx = transpose(dy, perm^-1).
  d.grad = [](GradContext& c) {
    if (!c.needs(0)) return;
    std::vector<int64_t> perm = transpose_perm(c.node), inv(perm.size());
    for (size_t i = 0; i < perm.size(); ++i) inv[perm[i]] = static_cast<int64_t>(i);
    c.set_dx(0, c.transpose(c.dy(0), inv));
  };
  return d;
}
const OpRegistrar kTranspose(transpose_op());

// ---- Concat(inputs...; axis) ---------------------------------------------------------------
OpDef concat_op() {
  OpDef d;
  d.name = "Concat";
  d.canonicalize_import = [](Node& n, Graph&) {
    if (before(n, 4) && !n.has_attr("axis")) n.attrs["axis"] = Attribute::Int(1);  // Concat-1: default 1
  };
  d.infer = [](Node& n) {
    if (n.inputs.empty()) fail(n, "expects at least one input");
    for (size_t k = 0; k < n.inputs.size(); ++k) req_input(n, k);
    DType t = n.inputs[0]->dtype;
    check_dtype(n, 0, type_mask(AllTypes{}));
    const Shape& s0 = shape_of(n, 0);
    const int64_t axis = norm_axis(n, n.attr_int("axis"), static_cast<int64_t>(s0.size()));
    Shape out = s0;
    out[axis] = 0;
    for (size_t k = 0; k < n.inputs.size(); ++k) {
      const Value* v = n.inputs[k];
      if (v->dtype != t)
        fail(n, fmt::format("input {} ('{}') has element type {} but input 0 has {}", k, v->name, dtype_name(v->dtype),
                            dtype_name(t)));
      const Shape& s = shape_of(n, k);
      bool ok = s.size() == s0.size();
      for (size_t i = 0; ok && i < s.size(); ++i) ok = static_cast<int64_t>(i) == axis || s[i] == s0[i];
      if (!ok)
        fail(n, fmt::format("input {} ('{}') has shape {} which does not match input 0 {} outside axis {}", k, v->name,
                            shape_str(s), shape_str(s0), axis));
      out[axis] = add(n, out[axis], s[axis], "concatenated size along the axis");
    }
    set_output(n, 0, t, out);
  };
  d.lower = [](const Node& n) {
    const Shape& y = n.outputs[0]->shape;
    const size_t axis = static_cast<size_t>(norm_axis(n, n.attr_int("axis"), static_cast<int64_t>(y.size())));
    const int64_t inner = prod(y, axis + 1, y.size());
    std::vector<int64_t> chunks;
    Ins ins;
    for (size_t k = 0; k < n.inputs.size(); ++k) {
      chunks.push_back(n.inputs[k]->shape[axis] * inner);
      ins.ks.push_back(static_cast<int>(k));
    }
    const int32_t outer = to_i32s(n, {prod(y, 0, axis)})[0];
    return dispatch(AllTypes{}, n.inputs[0]->dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      return make_call(kHeader, ref_kernel("concat", {ctype_of<T>()}), &ref::concat<T>, ins,
                       static_cast<int32_t>(n.inputs.size()), Out{0}, outer, to_i32s(n, chunks));
    });
  };
  // dx_k = the part of dy along the axis that input k filled: one Split when every input needs
  // its gradient, else one Slice per input that does.
  d.grad = [](GradContext& c) {
    const Node& n = c.node;
    const int64_t axis = norm_axis(n, n.attr_int("axis"), static_cast<int64_t>(n.outputs[0]->shape.size()));
    std::vector<int64_t> sizes;
    bool all = n.inputs.size() > 1;
    for (size_t k = 0; k < n.inputs.size(); ++k) {
      sizes.push_back(n.inputs[k]->shape[axis]);
      all &= c.needs(k);
    }
    if (all) {
      std::vector<Value*> parts = c.emit_n("Split", {c.dy(0), c.const_i64(sizes)}, sizes.size(),
                                           {{"axis", Attribute::Int(axis)}});
      for (size_t k = 0; k < parts.size(); ++k) c.set_dx(k, parts[k]);
      return;
    }
    int64_t at = 0;
    for (size_t k = 0; k < n.inputs.size(); ++k) {
      if (c.needs(k))
        c.set_dx(k, n.inputs.size() == 1 ? c.dy(0)
                                         : c.emit("Slice", {c.dy(0), c.const_i64({at}), c.const_i64({at + sizes[k]}),
                                                            c.const_i64({axis})}));
      at += sizes[k];
    }
  };
  return d;
}
const OpRegistrar kConcat(concat_op());

// ---- Split(input, split?; axis = 0, num_outputs) --------------------------------------------------
// Sizes of the outputs along the axis.
std::vector<int64_t> split_sizes(const Node& n) {
  const Shape& in = shape_of(n, 0);
  const int64_t axis = norm_axis(n, n.attr_int_or("axis", 0), static_cast<int64_t>(in.size()));
  const int64_t dim = in[axis];
  const int64_t n_out = static_cast<int64_t>(n.outputs.size());
  if (n_out == 0) fail(n, "has no outputs");
  std::vector<int64_t> sizes;
  if (n.input(1)) {
    if (n.has_attr("num_outputs")) fail(n, "the split input and the num_outputs attribute cannot both be given");
    sizes = index_list(n, 1, "split");
    if (static_cast<int64_t>(sizes.size()) != n_out)
      fail(n, fmt::format("split [{}] has {} entries but the node has {} outputs", fmt::join(sizes, ","), sizes.size(),
                          n_out));
    int64_t sum = 0;
    for (int64_t s : sizes) {
      if (s < 0) fail(n, fmt::format("split [{}] has a negative entry", fmt::join(sizes, ",")));
      sum = add(n, sum, s, "sum of 'split'");
    }
    if (sum != dim)
      fail(n, fmt::format("split [{}] sums to {} but dimension {} of the input {} is {}", fmt::join(sizes, ","), sum,
                          axis, shape_str(in), dim));
  } else if (n.has_attr("num_outputs")) {
    const int64_t k = n.attr_int("num_outputs");
    if (k != n_out) fail(n, fmt::format("num_outputs is {} but the node has {} outputs", k, n_out));
    if (k < 1) fail(n, fmt::format("num_outputs is {}; it must be >= 1", k));
    const int64_t chunk = (dim + k - 1) / k;  // the last chunk is smaller when uneven
    sizes.assign(k, chunk);
    sizes.back() = dim - chunk * (k - 1);
    if (sizes.back() < 0)
      fail(n, fmt::format("cannot split dimension {} of size {} into {} outputs of size {}", axis, dim, k, chunk));
  } else {
    if (dim % n_out != 0)
      fail(n, fmt::format("dimension {} of the input {} cannot be split evenly into {} outputs", axis, shape_str(in),
                          n_out));
    sizes.assign(n_out, dim / n_out);
  }
  return sizes;
}

OpDef split_op() {
  OpDef d;
  d.name = "Split";
  d.canonicalize_import = [](Node& n, Graph& g) {
    if (before(n, 13)) attr_to_input(n, g, "split", 1);
  };
  d.infer = [](Node& n) {
    check_input_count(n, 1, 2);
    check_dtype(n, 0, type_mask(AllTypes{}));
    const Shape& in = shape_of(n, 0);
    const int64_t axis = norm_axis(n, n.attr_int_or("axis", 0), static_cast<int64_t>(in.size()));
    std::vector<int64_t> sizes = split_sizes(n);
    for (size_t k = 0; k < n.outputs.size(); ++k) {
      Shape s = in;
      s[axis] = sizes[k];
      set_output(n, k, n.inputs[0]->dtype, s);
    }
  };
  d.lower = [](const Node& n) {
    const Shape& in = shape_of(n, 0);
    const size_t axis = static_cast<size_t>(norm_axis(n, n.attr_int_or("axis", 0), static_cast<int64_t>(in.size())));
    const int64_t inner = prod(in, axis + 1, in.size());
    std::vector<int64_t> chunks;
    for (int64_t s : split_sizes(n)) chunks.push_back(s * inner);
    Outs outs;
    for (size_t k = 0; k < n.outputs.size(); ++k) outs.ks.push_back(static_cast<int>(k));
    const int32_t outer = to_i32s(n, {prod(in, 0, axis)})[0];
    return dispatch(AllTypes{}, n.inputs[0]->dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      return make_call(kHeader, ref_kernel("split", {ctype_of<T>()}), &ref::split<T>, In{0}, outs,
                       static_cast<int32_t>(n.outputs.size()), outer, to_i32s(n, chunks));
    });
  };
  // dx = the output gradients concatenated: Concat when all are present, else
  // tinyodlc::SplitGrad, which fills the parts without a gradient with zeros.
  d.grad = [](GradContext& c) {
    if (!c.needs(0)) return;
    const Node& n = c.node;
    const int64_t axis = norm_axis(n, n.attr_int_or("axis", 0), static_cast<int64_t>(shape_of(n, 0).size()));
    std::vector<Value*> dys;
    bool all = true;
    for (size_t k = 0; k < n.outputs.size(); ++k) {
      dys.push_back(c.dy(k));
      all &= c.dy(k) != nullptr;
    }
    if (all) {
      c.set_dx(0, dys.size() == 1 ? dys[0] : c.emit("Concat", dys, {{"axis", Attribute::Int(axis)}}));
      return;
    }
    c.set_dx(0, c.emit("SplitGrad", dys,
                       {{"axis", Attribute::Int(axis)},
                        {"split", Attribute::Ints(split_sizes(n))},
                        {"shape", Attribute::Ints(shape_of(n, 0))}},
                       kTinyodlcDomain));
  };
  return d;
}
const OpRegistrar kSplit(split_op());

// ---- tinyodlc::SplitGrad(dy_0?, ..., dy_{n-1}?) {axis, split, shape} -> dx ---------------------
// The concatenation along `axis` of the n parts of sizes `split`; an absent input stands for a
// part of zeros (a Split output that does not reach the loss). `shape`: dx's shape.
OpDef split_grad_op() {
  OpDef d;
  d.domain = kTinyodlcDomain;
  d.name = "SplitGrad";
  d.infer = [](Node& n) {
    const std::vector<int64_t> shape = n.attr_ints_or("shape", {});
    const std::vector<int64_t> split = n.attr_ints_or("split", {});
    if (shape.empty()) fail(n, "needs the attribute shape (rank >= 1)");
    const int64_t axis = norm_axis(n, n.attr_int("axis"), static_cast<int64_t>(shape.size()));
    if (split.size() != n.inputs.size())
      fail(n, fmt::format("split [{}] needs one entry per input ({} inputs)", fmt::join(split, ","), n.inputs.size()));
    int64_t sum = 0;
    const Value* first = nullptr;
    for (size_t k = 0; k < n.inputs.size(); ++k) {
      sum += split[k];
      const Value* v = n.input(k);
      if (!v) continue;
      if (!first) first = v;
      if (v->dtype != first->dtype) fail(n, fmt::format("input {} ('{}') has another element type than the others", k, v->name));
      Shape s(shape.begin(), shape.end());
      s[axis] = split[k];
      if (shape_of(n, k) != s)
        fail(n, fmt::format("input {} ('{}') has shape {}, expected {}", k, v->name, shape_str(shape_of(n, k)), shape_str(s)));
    }
    if (!first) fail(n, "needs at least one present input");
    if (sum != shape[axis])
      fail(n, fmt::format("split [{}] sums to {} but dimension {} of shape is {}", fmt::join(split, ","), sum, axis, shape[axis]));
    check_dtype(n, static_cast<size_t>(std::find(n.inputs.begin(), n.inputs.end(), first) - n.inputs.begin()),
                type_mask(FloatTypes{}));
    set_output(n, 0, first->dtype, Shape(shape.begin(), shape.end()));
  };
  d.lower = [](const Node& n) {
    const Shape& y = n.outputs[0]->shape;
    const size_t axis = static_cast<size_t>(norm_axis(n, n.attr_int("axis"), static_cast<int64_t>(y.size())));
    const int64_t inner = prod(y, axis + 1, y.size());
    std::vector<int64_t> chunks, present;
    Ins ins;
    const std::vector<int64_t> split = n.attr_ints_or("split", {});
    for (size_t k = 0; k < n.inputs.size(); ++k) {
      chunks.push_back(split[k] * inner);
      present.push_back(n.input(k) ? static_cast<int64_t>(ins.ks.size()) : -1);
      if (n.input(k)) ins.ks.push_back(static_cast<int>(k));
    }
    const int32_t outer = to_i32s(n, {prod(y, 0, axis)})[0];
    return dispatch(FloatTypes{}, n.outputs[0]->dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      return make_call(kHeader, ref_kernel("split_grad", {ctype_of<T>()}), &ref::split_grad<T>, ins,
                       to_i32s(n, present), static_cast<int32_t>(n.inputs.size()), Out{0}, outer, to_i32s(n, chunks));
    });
  };
  return d;
}
const OpRegistrar kSplitGrad(split_grad_op());

// ---- Slice(data, starts, ends, axes?, steps?) -------------------------------------------------------
struct SliceParams {
  Shape out;
  std::vector<int64_t> start, step;  // per input dim
};

SliceParams slice_params(const Node& n) {
  const Shape& in = shape_of(n, 0);
  const int64_t r = static_cast<int64_t>(in.size());
  std::vector<int64_t> starts = index_list(n, 1, "starts");
  std::vector<int64_t> ends = index_list(n, 2, "ends");
  if (starts.size() != ends.size())
    fail(n, fmt::format("starts [{}] and ends [{}] differ in length", fmt::join(starts, ","), fmt::join(ends, ",")));
  std::vector<int64_t> axes(starts.size());
  std::iota(axes.begin(), axes.end(), 0);
  if (n.input(3)) axes = index_list(n, 3, "axes");
  std::vector<int64_t> steps(starts.size(), 1);
  if (n.input(4)) steps = index_list(n, 4, "steps");
  if (axes.size() != starts.size() || steps.size() != starts.size())
    fail(n, fmt::format("starts, ends, axes and steps must have the same length ({}, {}, {}, {})", starts.size(),
                        ends.size(), axes.size(), steps.size()));
  SliceParams p;
  p.out = in;
  p.start.assign(r, 0);
  p.step.assign(r, 1);
  std::vector<bool> seen(r, false);
  for (size_t i = 0; i < starts.size(); ++i) {
    const int64_t a = norm_axis(n, axes[i], r);
    if (seen[a]) fail(n, fmt::format("axis {} is repeated in axes [{}]", a, fmt::join(axes, ",")));
    seen[a] = true;
    const int64_t dim = in[a], step = steps[i];
    if (step == 0) fail(n, fmt::format("steps [{}] contains 0", fmt::join(steps, ",")));
    int64_t s = starts[i], e = ends[i];
    if (s < 0) s += dim;  // INT64_MIN + dim does not overflow
    if (e < 0) e += dim;
    int64_t size = 0;
    if (step > 0) {
      s = std::clamp<int64_t>(s, 0, dim);
      e = std::clamp<int64_t>(e, 0, dim);
      size = e > s ? (e - s) / step + ((e - s) % step != 0) : 0;  // ceil, without overflow for huge steps
    } else if (dim > 0) {
      s = std::clamp<int64_t>(s, 0, dim - 1);
      e = std::clamp<int64_t>(e, -1, dim - 1);
      // ceil((s - e) / -step) in unsigned arithmetic: -step overflows for step = INT64_MIN.
      const uint64_t span = static_cast<uint64_t>(s - e), st = uint64_t{0} - static_cast<uint64_t>(step);
      size = s > e ? static_cast<int64_t>(span / st + (span % st != 0)) : 0;
    }
    p.out[a] = size;
    p.start[a] = size > 0 ? s : 0;
    p.step[a] = step;
  }
  return p;
}

OpDef slice_op() {
  OpDef d;
  d.name = "Slice";
  d.canonicalize_import = [](Node& n, Graph& g) {
    if (!before(n, 10)) return;  // Slice-1: starts, ends, axes attributes
    attr_to_input(n, g, "starts", 1);
    attr_to_input(n, g, "ends", 2);
    attr_to_input(n, g, "axes", 3);
  };
  d.infer = [](Node& n) {
    check_input_count(n, 3, 5);
    check_dtype(n, 0, type_mask(AllTypes{}));
    check_rank(n, shape_of(n, 0));
    set_output(n, 0, n.inputs[0]->dtype, slice_params(n).out);
  };
  d.lower = [](const Node& n) {
    SliceParams p = slice_params(n);
    I32s cs = contiguous_strides(shape_of(n, 0));
    std::vector<int64_t> st(cs.size());
    int64_t offset = 0;
    const bool empty = num_elements(p.out) == 0;
    for (size_t d = 0; d < cs.size(); ++d) {
      st[d] = mul(n, p.step[d], cs[d], "stride (attribute 'steps')");  // found by fuzzing (UBSan)
      if (!empty) offset = add(n, offset, mul(n, p.start[d], cs[d], "start offset"), "start offset");
    }
    return strided_copy_call(n, to_i32s(n, st), offset);
  };
  // dx = dy placed at the sliced positions, zeros elsewhere: Pad with zeros for unit steps,
  // else tinyodlc::SliceGrad (any steps, including negative ones).
  d.grad = [](GradContext& c) {
    if (!c.needs(0)) return;
    const Node& n = c.node;
    const Shape& in = shape_of(n, 0);
    SliceParams p = slice_params(n);
    bool unit = true;
    for (int64_t s : p.step) unit &= s == 1;
    if (unit) {
      std::vector<int64_t> pads(2 * in.size());
      for (size_t d = 0; d < in.size(); ++d) {
        pads[d] = p.start[d];
        pads[d + in.size()] = in[d] - p.start[d] - p.out[d];
      }
      c.set_dx(0, c.emit("Pad", {c.dy(0), c.const_i64(pads)}));
      return;
    }
    c.set_dx(0, c.emit("SliceGrad", {c.dy(0)},
                       {{"shape", Attribute::Ints(in)}, {"starts", Attribute::Ints(p.start)},
                        {"steps", Attribute::Ints(p.step)}},
                       kTinyodlcDomain));
  };
  return d;
}
const OpRegistrar kSlice(slice_op());

// ---- tinyodlc::SliceGrad(dy) {shape, starts, steps} -> dx ----------------------------------------
// dx (`shape`) is zero except at the positions starts[d] + i_d * steps[d] (i over dy's
// dims), which receive dy: the gradient of a Slice (normalized starts and steps per dim).
OpDef slice_grad_op() {
  OpDef d;
  d.domain = kTinyodlcDomain;
  d.name = "SliceGrad";
  d.infer = [](Node& n) {
    check_input_count(n, 1, 1);
    check_dtype(n, 0, type_mask(FloatTypes{}));
    const std::vector<int64_t> shape = n.attr_ints_or("shape", {});
    const std::vector<int64_t> starts = n.attr_ints_or("starts", {});
    const std::vector<int64_t> steps = n.attr_ints_or("steps", {});
    const Shape& dy = shape_of(n, 0);
    check_rank(n, dy);
    if (shape.size() != dy.size() || starts.size() != dy.size() || steps.size() != dy.size())
      fail(n, fmt::format("shape, starts and steps need one entry per dimension of dy {}", shape_str(dy)));
    for (size_t i = 0; i < dy.size(); ++i) {
      if (dy[i] == 0) continue;
      const int64_t last = starts[i] + (dy[i] - 1) * steps[i];
      if (steps[i] == 0 || starts[i] < 0 || starts[i] >= shape[i] || last < 0 || last >= shape[i])
        fail(n, fmt::format("dimension {}: {} positions from {} in steps of {} leave [0, {})", i, dy[i], starts[i],
                            steps[i], shape[i]));
    }
    set_output(n, 0, n.inputs[0]->dtype, Shape(shape.begin(), shape.end()));
  };
  d.lower = [](const Node& n) {
    const Shape& dy = shape_of(n, 0);
    const Shape& x = n.outputs[0]->shape;
    const std::vector<int64_t> starts = n.attr_ints_or("starts", {});
    const std::vector<int64_t> steps = n.attr_ints_or("steps", {});
    I32s cs = contiguous_strides(x);
    std::vector<int64_t> st(cs.size());
    int64_t offset = 0;
    const bool empty = num_elements(dy) == 0;
    for (size_t i = 0; i < cs.size(); ++i) {
      st[i] = mul(n, steps[i], cs[i], "stride (attribute 'steps')");
      if (!empty) offset = add(n, offset, mul(n, starts[i], cs[i], "start offset"), "start offset");
    }
    I32s v = to_i32s(n, {num_elements(x), offset});
    return dispatch(FloatTypes{}, n.inputs[0]->dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      return make_call(kHeader, ref_kernel("slice_grad", {ctype_of<T>()}), &ref::slice_grad<T>, In{0}, Out{0}, v[0],
                       static_cast<int32_t>(dy.size()), dims_i32(n, dy), to_i32s(n, st), v[1]);
    });
  };
  return d;
}
const OpRegistrar kSliceGrad(slice_grad_op());

// ---- Gather(data, indices; axis = 0) ------------------------------------------------------------
OpDef gather_op() {
  OpDef d;
  d.name = "Gather";
  d.infer = [](Node& n) {
    check_input_count(n, 2, 2);
    check_dtype(n, 0, type_mask(AllTypes{}));
    check_dtype(n, 1, dtype_bit(DType::I32) | dtype_bit(DType::I64));
    const Shape& x = shape_of(n, 0);
    const Shape& ind = shape_of(n, 1);
    if (x.empty()) fail(n, "data (input 0) must have rank >= 1");
    const int64_t axis = norm_axis(n, n.attr_int_or("axis", 0), static_cast<int64_t>(x.size()));
    const Value* iv = n.inputs[1];
    if (iv->is_constant()) {  // out-of-range indices are an error; check them when known
      for (int64_t i = 0; i < iv->numel(); ++i) {
        int64_t q = iv->constant->get_i64(i);
        if (q < -x[axis] || q >= x[axis])
          fail(n, fmt::format("index {} is out of range for axis {} of size {}", q, axis, x[axis]));
      }
    }
    Shape out(x.begin(), x.begin() + axis);
    out.insert(out.end(), ind.begin(), ind.end());
    out.insert(out.end(), x.begin() + axis + 1, x.end());
    set_output(n, 0, n.inputs[0]->dtype, out);
  };
  d.lower = [](const Node& n) {
    const Shape& x = shape_of(n, 0);
    const size_t axis = static_cast<size_t>(norm_axis(n, n.attr_int_or("axis", 0), static_cast<int64_t>(x.size())));
    I32s p = to_i32s(n, {prod(x, 0, axis), x[axis], prod(x, axis + 1, x.size()), n.inputs[1]->numel()});
    return dispatch(AllTypes{}, n.inputs[0]->dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      return dispatch(TypeList<int32_t, int64_t>{}, n.inputs[1]->dtype, [&](auto itag) {
        using I = typename decltype(itag)::type;
        return make_call(kHeader, ref_kernel("gather", {ctype_of<T>(), ctype_of<I>()}), &ref::gather<T, I>, In{0},
                         In{1}, Out{0}, p[0], p[1], p[2], p[3]);
      });
    });
  };
  // Data gradient: the dy rows scatter-added into a zero tensor of the data's shape
  // (tinyodlc::GatherGrad; an embedding table's gradient). Indices get none.
  // Padding row: PyTorch's Embedding(padding_idx = p) keeps row p at zero and never gives it a
  // gradient, but the ONNX export drops padding_idx. A trainable table (gathered along axis 0)
  // whose initial value has exactly one all-zero row among others is taken to be such a table:
  // that row gets no gradient (padded positions then stay neutral, as in PyTorch).
  d.grad = [](GradContext& c) {
    if (!c.needs(0)) return;
    const Node& n = c.node;
    const Value* data = n.inputs[0];
    const Shape& x = shape_of(n, 0);
    const int64_t axis = norm_axis(n, n.attr_int_or("axis", 0), static_cast<int64_t>(x.size()));
    int64_t padding_row = -1;
    if (axis == 0 && data->is_param() && data->init && x[0] > 1) {
      const TensorData& t = *data->init;
      const int64_t row = t.numel() / x[0];
      int64_t zero_rows = 0;
      for (int64_t r = 0; r < x[0] && zero_rows < 2; ++r) {
        bool zero = row > 0;
        for (int64_t j = 0; zero && j < row; ++j) zero = t.get_f64(r * row + j) == 0;
        if (zero) padding_row = r, ++zero_rows;
      }
      if (zero_rows != 1) padding_row = -1;
    }
    c.set_dx(0, c.emit("GatherGrad", {c.dy(0), n.inputs[1]},
                       {{"axis", Attribute::Int(axis)}, {"shape", Attribute::Ints(x)},
                        {"padding_row", Attribute::Int(padding_row)}},
                       kTinyodlcDomain));
  };
  return d;
}
const OpRegistrar kGather(gather_op());

// ---- tinyodlc::GatherGrad(dy, indices) {axis, shape, padding_row = -1} -> dx ----------------------
// dx (`shape`, the Gather's data shape) = 0, then dx[.., indices[j], ..] += dy[.., j, ..] for
// every index but padding_row (>= 0: that slice keeps a zero gradient; see Gather's rule).
OpDef gather_grad_op() {
  OpDef d;
  d.domain = kTinyodlcDomain;
  d.name = "GatherGrad";
  d.infer = [](Node& n) {
    check_input_count(n, 2, 2);
    check_dtype(n, 0, type_mask(FloatTypes{}));
    check_dtype(n, 1, dtype_bit(DType::I32) | dtype_bit(DType::I64));
    const std::vector<int64_t> x = n.attr_ints_or("shape", {});
    if (x.empty()) fail(n, "needs the attribute shape (the data's shape, rank >= 1)");
    const int64_t axis = norm_axis(n, n.attr_int("axis"), static_cast<int64_t>(x.size()));
    const Shape& ind = shape_of(n, 1);
    Shape expect(x.begin(), x.begin() + axis);
    expect.insert(expect.end(), ind.begin(), ind.end());
    expect.insert(expect.end(), x.begin() + axis + 1, x.end());
    if (shape_of(n, 0) != expect)
      fail(n, fmt::format("dy has shape {}, expected {} for data {} and indices {}", shape_str(shape_of(n, 0)),
                          shape_str(expect), shape_str(Shape(x.begin(), x.end())), shape_str(ind)));
    const int64_t pad = n.attr_int_or("padding_row", -1);
    if (pad < -1 || pad >= x[axis]) fail(n, fmt::format("padding_row {} is out of range for axis size {}", pad, x[axis]));
    set_output(n, 0, n.inputs[0]->dtype, Shape(x.begin(), x.end()));
  };
  d.lower = [](const Node& n) {
    const Shape& x = n.outputs[0]->shape;
    const size_t axis = static_cast<size_t>(norm_axis(n, n.attr_int("axis"), static_cast<int64_t>(x.size())));
    I32s p = to_i32s(n, {prod(x, 0, axis), x[axis], prod(x, axis + 1, x.size()), n.inputs[1]->numel(),
                         n.attr_int_or("padding_row", -1)});
    return dispatch(FloatTypes{}, n.inputs[0]->dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      return dispatch(TypeList<int32_t, int64_t>{}, n.inputs[1]->dtype, [&](auto itag) {
        using I = typename decltype(itag)::type;
        return make_call(kHeader, ref_kernel("gather_grad", {ctype_of<T>(), ctype_of<I>()}), &ref::gather_grad<T, I>,
                         In{0}, In{1}, Out{0}, p[0], p[1], p[2], p[3], p[4]);
      });
    });
  };
  d.macs = [](const Node& n) { return n.inputs[0]->numel(); };
  return d;
}
const OpRegistrar kGatherGrad(gather_grad_op());

// ---- Pad(data, pads, constant_value?, axes?; mode) -----------------------------------------------
int32_t pad_mode(const Node& n) {
  std::string m = n.attr_string_or("mode", "constant");
  if (m == "constant") return ref::kPadConstant;
  if (m == "reflect") return ref::kPadReflect;
  if (m == "edge") return ref::kPadEdge;
  if (m == "wrap") return ref::kPadWrap;
  fail(n, fmt::format("unsupported mode '{}' (expected constant, reflect, edge or wrap)", m));
}

// Begin and end pads per input dim.
std::pair<std::vector<int64_t>, std::vector<int64_t>> pad_amounts(const Node& n) {
  const Shape& in = shape_of(n, 0);
  const int64_t r = static_cast<int64_t>(in.size());
  std::vector<int64_t> pads = index_list(n, 1, "pads");
  std::vector<int64_t> axes(r);
  std::iota(axes.begin(), axes.end(), 0);
  if (n.input(3)) axes = index_list(n, 3, "axes");
  if (pads.size() != 2 * axes.size())
    fail(n, fmt::format("pads [{}] must have 2 * {} entries", fmt::join(pads, ","), axes.size()));
  std::vector<int64_t> begin(r, 0), end(r, 0);
  std::vector<bool> seen(r, false);
  for (size_t i = 0; i < axes.size(); ++i) {
    const int64_t a = norm_axis(n, axes[i], r);
    if (seen[a]) fail(n, fmt::format("axis {} is repeated in axes [{}]", a, fmt::join(axes, ",")));
    seen[a] = true;
    begin[a] = pads[i];
    end[a] = pads[i + axes.size()];
  }
  return {begin, end};
}

OpDef pad_op() {
  OpDef d;
  d.name = "Pad";
  d.canonicalize_import = [](Node& n, Graph& g) {
    if (!before(n, 11)) return;
    // Pad-1: paddings, Pad-2: pads attribute; value attribute (float, default 0).
    if (n.has_attr("paddings") && !n.has_attr("pads")) {
      n.attrs["pads"] = *n.attr("paddings");
      n.attrs.erase("paddings");
    }
    attr_to_input(n, g, "pads", 1);
    const Value* x = n.input(0);
    DType t = x && x->dtype == DType::F64 ? DType::F64 : DType::F32;
    auto c = std::make_shared<TensorData>(t, Shape{});
    float v = n.attr_float_or("value", 0.0f);
    if (t == DType::F64) *c->data<double>() = v;
    else *c->data<float>() = v;
    n.inputs.resize(3, nullptr);
    n.inputs[2] = g.add_constant(n.name + "_value", c);
    n.attrs.erase("value");
  };
  d.infer = [](Node& n) {
    check_input_count(n, 2, 4);
    check_dtype(n, 0, type_mask(AllTypes{}));
    const Shape& in = shape_of(n, 0);
    check_rank(n, in);
    const int32_t mode = pad_mode(n);
    if (const Value* c = n.input(2)) {
      if (c->dtype != n.inputs[0]->dtype)
        fail(n, fmt::format("constant_value '{}' has element type {} but data has {}", c->name, dtype_name(c->dtype),
                            dtype_name(n.inputs[0]->dtype)));
      if (c->numel() != 1) fail(n, fmt::format("constant_value '{}' must hold one value", c->name));
    }
    auto [begin, end] = pad_amounts(n);
    Shape out(in.size());
    for (size_t i = 0; i < in.size(); ++i) {
      out[i] = add(n, add(n, in[i], begin[i], "padded size (pads)"), end[i], "padded size (pads)");
      if (out[i] < 0)
        fail(n, fmt::format("pads crop dimension {} of the input {} below zero", i, shape_str(in)));
      if (mode != ref::kPadConstant && in[i] == 0 && out[i] > 0)
        fail(n, fmt::format("mode '{}' cannot pad dimension {} of size 0", n.attr_string_or("mode", ""), i));
    }
    set_output(n, 0, n.inputs[0]->dtype, out);
  };
  d.lower = [](const Node& n) {
    const Shape& x = shape_of(n, 0);
    const Shape& y = n.outputs[0]->shape;
    const I32s begin = to_i32s(n, pad_amounts(n).first);
    const int32_t mode = pad_mode(n);
    return dispatch(AllTypes{}, n.inputs[0]->dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      auto call = [&](auto value) {
        return make_call(kHeader, ref_kernel("pad", {ctype_of<T>()}), &ref::pad<T>, In{0}, value, Out{0},
                         static_cast<int32_t>(x.size()), dims_i32(n, x), dims_i32(n, y), begin, mode);
      };
      return n.input(2) ? call(In{2}) : call(Null{});
    });
  };
  // Constant mode: dx = Pad(dy, -pads) (crops the padding; zero-fills what the forward
  // cropped), and the constant value, if it needs a gradient, gets the sum of dy over the
  // padded positions: sum(dy) - sum(dx). Other modes: tinyodlc::PadGrad adds each dy element to
  // the data element it was read from.
  d.grad = [](GradContext& c) {
    const Node& n = c.node;
    // Named locals, not a structured binding: C++17 lambdas cannot capture those (clang).
    const auto amounts = pad_amounts(n);
    const std::vector<int64_t>& begin = amounts.first;
    const std::vector<int64_t>& end = amounts.second;
    Value* dx = nullptr;
    if (pad_mode(n) == ref::kPadConstant) {
      if (c.needs(0) || c.needs(2)) {
        std::vector<int64_t> pads;
        for (int64_t b : begin) pads.push_back(-b);
        for (int64_t e : end) pads.push_back(-e);
        dx = c.emit("Pad", {c.dy(0), c.const_i64(pads)});
      }
    } else if (c.needs(0)) {
      dx = c.emit("PadGrad", {c.dy(0)},
                  {{"mode", Attribute::String(n.attr_string_or("mode", "constant"))},
                   {"pads", Attribute::Ints([&] {
                      std::vector<int64_t> p = begin;
                      p.insert(p.end(), end.begin(), end.end());
                      return p;
                    }())}},
                  kTinyodlcDomain);
    }
    if (c.needs(0)) c.set_dx(0, dx);
    if (c.needs(2)) {
      const Value* v = n.inputs[2];
      auto total = [&](Value* t) {
        return c.emit("ReduceSum", {c.reshape(t, {t->numel()})}, {{"keepdims", Attribute::Int(0)}});
      };
      if (pad_mode(n) != ref::kPadConstant) {  // the value is not read: zero gradient
        c.set_dx(2, c.constant(std::make_shared<TensorData>(v->dtype, v->shape), "zeros"));
      } else {
        c.set_dx(2, c.reshape(c.emit("Sub", {total(c.dy(0)), total(dx)}), v->shape));
      }
    }
  };
  return d;
}
const OpRegistrar kPad(pad_op());

// ---- tinyodlc::PadGrad(dy) {mode, pads} -> dx ------------------------------------------------------
// Gradient of Pad(x, pads) {mode} w.r.t. x, for every mode (the compiler uses it for reflect,
// edge and wrap): dx (x's shape, dy's minus the pads) accumulates each dy element at the x
// element it was read from.
OpDef pad_grad_op() {
  OpDef d;
  d.domain = kTinyodlcDomain;
  d.name = "PadGrad";
  d.infer = [](Node& n) {
    check_input_count(n, 1, 1);
    check_dtype(n, 0, type_mask(FloatTypes{}));
    const Shape& y = shape_of(n, 0);
    check_rank(n, y);
    pad_mode(n);
    const std::vector<int64_t> pads = n.attr_ints_or("pads", {});
    if (pads.size() != 2 * y.size())
      fail(n, fmt::format("pads [{}] must have 2 * {} entries", fmt::join(pads, ","), y.size()));
    Shape x(y.size());
    for (size_t i = 0; i < y.size(); ++i) {
      x[i] = sub(n, sub(n, y[i], pads[i], "attribute 'pads'"), pads[i + y.size()], "attribute 'pads'");
      if (x[i] < 0) fail(n, fmt::format("pads [{}] exceed dy {}", fmt::join(pads, ","), shape_str(y)));
    }
    set_output(n, 0, n.inputs[0]->dtype, x);
  };
  d.lower = [](const Node& n) {
    const Shape& y = shape_of(n, 0);
    const Shape& x = n.outputs[0]->shape;
    const std::vector<int64_t> pads = n.attr_ints_or("pads", {});
    const I32s begin = to_i32s(n, std::vector<int64_t>(pads.begin(), pads.begin() + static_cast<int64_t>(y.size())));
    const int32_t mode = pad_mode(n);
    return dispatch(FloatTypes{}, n.inputs[0]->dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      return make_call(kHeader, ref_kernel("pad_grad", {ctype_of<T>()}), &ref::pad_grad<T>, In{0}, Out{0},
                       static_cast<int32_t>(x.size()), dims_i32(n, x), dims_i32(n, y), begin, mode);
    });
  };
  d.macs = [](const Node& n) { return n.inputs[0]->numel(); };
  return d;
}
const OpRegistrar kPadGrad(pad_grad_op());

}  // namespace
}  // namespace tinyodlc::ir::ops
