// Data-movement operators: Transpose, Concat, Split, Slice, Gather, Pad.
// Kernels: backends/kernels/tinyodlc/ref/movement.h.
#include <algorithm>
#include <limits>
#include <numeric>
#include <set>

#include "tinyodlc/ref/movement.h"

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
      out[axis] += s[axis];
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
      sum += s;
    }
    if (sum != dim)
      fail(n, fmt::format("split [{}] sums to {} but dimension {} of the input {} is {}", fmt::join(sizes, ","), sum,
                          axis, shape_str(in), dim));
  } else if (n.has_attr("num_outputs")) {
    const int64_t k = n.attr_int("num_outputs");
    if (k != n_out) fail(n, fmt::format("num_outputs is {} but the node has {} outputs", k, n_out));
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
  return d;
}
const OpRegistrar kSplit(split_op());

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
      size = e > s ? (e - s + step - 1) / step : 0;
    } else if (dim > 0) {
      s = std::clamp<int64_t>(s, 0, dim - 1);
      e = std::clamp<int64_t>(e, -1, dim - 1);
      size = s > e ? (s - e + (-step) - 1) / (-step) : 0;
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
      st[d] = p.step[d] * cs[d];
      if (!empty) offset += p.start[d] * cs[d];
    }
    return strided_copy_call(n, to_i32s(n, st), offset);
  };
  return d;
}
const OpRegistrar kSlice(slice_op());

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
  return d;
}
const OpRegistrar kGather(gather_op());

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
      out[i] = in[i] + begin[i] + end[i];
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
  return d;
}
const OpRegistrar kPad(pad_op());

}  // namespace
}  // namespace tinyodlc::ir::ops
