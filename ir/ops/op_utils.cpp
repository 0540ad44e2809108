#include "ir/ops/op_utils.h"

#include <algorithm>
#include <limits>

namespace tinyodlc::ir::ops {

Value* req_input(const Node& n, size_t k) {
  Value* v = n.input(k);
  if (!v) fail(n, fmt::format("required input {} is missing", k));
  return v;
}

const TensorData& const_input(const Node& n, size_t k, const char* what) {
  Value* v = req_input(n, k);
  if (!v->is_constant())
    throw ConstantRequired(n.label(),
                           fmt::format("input {} ('{}', the {}) must be a compile-time constant; tinyodlc supports "
                                       "static shapes only",
                                       k, v->name, what),
                           v->name);
  return *v->constant;
}

std::vector<int64_t> const_ints_input_or(const Node& n, size_t k, const char* what, std::vector<int64_t> dflt) {
  if (!n.input(k)) return dflt;
  return const_input(n, k, what).to_i64();
}

const Shape& shape_of(const Node& n, size_t k) {
  Value* v = req_input(n, k);
  if (!v->has_shape) fail(n, fmt::format("shape of input {} ('{}') is unknown", k, v->name));
  return v->shape;
}

void check_input_count(const Node& n, size_t min, size_t max) {
  size_t present = n.inputs.size();
  while (present > 0 && !n.inputs[present - 1]) --present;
  if (present < min || present > max)
    fail(n, min == max ? fmt::format("expects {} inputs, got {}", min, present)
                       : fmt::format("expects {} to {} inputs, got {}", min, max, present));
}

void check_dtype(const Node& n, size_t k, uint32_t allowed) {
  Value* v = req_input(n, k);
  if (!(allowed & dtype_bit(v->dtype)))
    fail(n, fmt::format("input {} ('{}') has unsupported element type {}", k, v->name, dtype_name(v->dtype)));
}

DType check_same_dtype(const Node& n, std::initializer_list<size_t> ks, uint32_t allowed) {
  DType t = req_input(n, *ks.begin())->dtype;
  for (size_t k : ks) {
    Value* v = n.input(k);
    if (!v) continue;
    if (v->dtype != t)
      fail(n, fmt::format("input {} ('{}') has element type {} but input {} has {}", k, v->name,
                          dtype_name(v->dtype), *ks.begin(), dtype_name(t)));
  }
  check_dtype(n, *ks.begin(), allowed);
  return t;
}

void set_output(Node& n, size_t k, DType t, Shape s) {
  Value* o = n.output(k);
  if (!o) return;
  for (int64_t d : s)
    if (d < 0) fail(n, fmt::format("output '{}' would have a negative dimension {}", o->name, shape_str(s)));
  // Every tensor stays below the documented per-tensor bound (support/checked.h), so element
  // counts, strides and byte sizes derived from it fit the 32-bit kernel parameters.
  if (t != DType::Undefined)
    checked::tensor_bytes(s, dtype_size(t), n.label(), fmt::format("output '{}' of shape", o->name));
  if (o->has_shape && o->dtype != DType::Undefined && o->dtype != t)
    fail(n, fmt::format("output '{}' is declared {} but the operator produces {}", o->name, dtype_name(o->dtype),
                        dtype_name(t)));
  o->dtype = t;
  o->shape = std::move(s);
  o->has_shape = true;
}

int64_t norm_axis(const Node& n, int64_t axis, int64_t rank, bool inclusive) {
  int64_t hi = inclusive ? rank + 1 : rank;
  if (axis < -hi || axis >= hi) fail(n, fmt::format("axis {} is out of range for rank {}", axis, rank));
  return axis < 0 ? axis + hi : axis;
}

Shape broadcast_shapes(const Node& n, const std::vector<Shape>& shapes) {
  size_t rank = 0;
  for (const auto& s : shapes) rank = std::max(rank, s.size());
  Shape out(rank, 1);
  for (const auto& s : shapes) {
    size_t off = rank - s.size();
    for (size_t i = 0; i < s.size(); ++i) {
      int64_t d = s[i], &o = out[off + i];
      if (d == o || d == 1) continue;
      if (o == 1) {
        o = d;
        continue;
      }
      std::vector<std::string> strs;
      for (const auto& x : shapes) strs.push_back(shape_str(x));
      fail(n, fmt::format("shapes {} cannot be broadcast together", fmt::join(strs, " and ")));
    }
  }
  return out;
}

I32s contiguous_strides(const Shape& s) {
  I32s st(s.size());
  int64_t acc = 1;
  for (size_t i = s.size(); i-- > 0;) {
    st[i] = checked::to_i32(acc, "", fmt::format("stride {} of shape {}", i, shape_str(s)));
    acc = checked::mul<int64_t>(acc, s[i], "", fmt::format("element count of shape {}", shape_str(s)));
  }
  return st;
}

I32s broadcast_strides(const Shape& in, const Shape& out) {
  I32s st(out.size(), 0);
  I32s cs = contiguous_strides(in);
  size_t off = out.size() - in.size();
  for (size_t i = 0; i < in.size(); ++i) st[off + i] = in[i] == 1 ? 0 : cs[i];
  return st;
}

I32s to_i32s(const Node& n, const std::vector<int64_t>& v) {
  I32s r;
  r.reserve(v.size());
  for (int64_t x : v) {
    if (x > std::numeric_limits<int32_t>::max() || x < std::numeric_limits<int32_t>::min())
      fail(n, fmt::format("value {} does not fit the 32-bit kernel parameters (docs/robustness.md)", x));
    r.push_back(static_cast<int32_t>(x));
  }
  return r;
}

I32s dims_i32(const Node& n, const Shape& s) { return to_i32s(n, s); }

int64_t mul(const Node& n, int64_t a, int64_t b, std::string_view what) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) checked::mul(a, b, n.label(), what);
  return r;
}
int64_t add(const Node& n, int64_t a, int64_t b, std::string_view what) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) checked::add(a, b, n.label(), what);
  return r;
}
int64_t sub(const Node& n, int64_t a, int64_t b, std::string_view what) {
  int64_t r;
  if (__builtin_sub_overflow(a, b, &r)) checked::sub(a, b, n.label(), what);
  return r;
}
int32_t i32(const Node& n, int64_t v, std::string_view what) {
  if (v < INT32_MIN || v > INT32_MAX) checked::to_i32(v, n.label(), what);
  return static_cast<int32_t>(v);
}
int32_t numel_i32(const Node& n, const Value* v) {
  return i32(n, v->numel(), fmt::format("element count of '{}'", v->name));
}

void attr_to_input(Node& n, Graph& g, const char* attr, size_t k) {
  if (!n.attr(attr)) return;
  std::vector<int64_t> v = n.attr_ints_or(attr, {});
  auto t = std::make_shared<TensorData>(DType::I64, Shape{static_cast<int64_t>(v.size())});
  std::copy(v.begin(), v.end(), t->data<int64_t>());
  if (n.inputs.size() <= k) n.inputs.resize(k + 1, nullptr);
  n.inputs[k] = g.add_constant(n.name + "_" + attr, t);
  n.attrs.erase(attr);
}

std::string ref_kernel(std::string_view name, std::initializer_list<std::string_view> targs) {
  if (targs.size() == 0) return fmt::format("tinyodlc::ref::{}", name);
  return fmt::format("tinyodlc::ref::{}<{}>", name, fmt::join(targs, ", "));
}

MatMulDims matmul_dims(const Node& n, size_t ia, size_t ib) {
  const Shape& a = shape_of(n, ia);
  const Shape& b = shape_of(n, ib);
  if (a.empty() || b.empty())
    fail(n, fmt::format("operands must have rank >= 1, got {} and {}", shape_str(a), shape_str(b)));
  MatMulDims d;
  d.m = a.size() == 1 ? 1 : a[a.size() - 2];
  d.k = a.back();
  const int64_t kb = b.size() == 1 ? b[0] : b[b.size() - 2];
  d.n = b.size() == 1 ? 1 : b.back();
  if (kb != d.k)
    fail(n, fmt::format("inner dimensions differ: A {} has K = {}, B {} has K = {}", shape_str(a), d.k, shape_str(b),
                        kb));
  if (a.size() > 2) d.a_batch.assign(a.begin(), a.end() - 2);
  if (b.size() > 2) d.b_batch.assign(b.begin(), b.end() - 2);
  d.batch = broadcast_shapes(n, {d.a_batch, d.b_batch});
  d.out = d.batch;
  if (a.size() > 1) d.out.push_back(d.m);
  if (b.size() > 1) d.out.push_back(d.n);
  return d;
}

}  // namespace tinyodlc::ir::ops
