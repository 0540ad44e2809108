// Gemm (Y = alpha * op(A) * op(B) + beta * C, C unidirectionally broadcast to [M, N]) and
// MatMul (numpy matmul: 1-D operands are promoted to matrices and the added dim removed
// again; batch dims broadcast). Kernels: kernels/tinyodlc/ref/gemm.h.
#include "tinyodlc/ref/gemm.h"

#include "ir/grad.h"
#include "ir/ops/nn_utils.h"

namespace tinyodlc::ir::ops {
namespace {

constexpr const char* kHeader = "tinyodlc/ref/gemm.h";
using MatTypes = TypeList<float, double, int32_t, int64_t, uint32_t, uint64_t>;

// ---- Gemm ---------------------------------------------------------------------------------
struct GemmDims {
  int64_t m, n, k;
  int32_t c_stride_m = 0, c_stride_n = 0;
};

GemmDims gemm_dims(const Node& n) {
  const Shape& a = shape_of(n, 0);
  const Shape& b = shape_of(n, 1);
  if (a.size() != 2) fail(n, fmt::format("input A '{}' must be 2-D, got {}", n.inputs[0]->name, shape_str(a)));
  if (b.size() != 2) fail(n, fmt::format("input B '{}' must be 2-D, got {}", n.inputs[1]->name, shape_str(b)));
  const bool ta = n.attr_int_or("transA", 0) != 0, tb = n.attr_int_or("transB", 0) != 0;
  GemmDims d;
  d.m = ta ? a[1] : a[0];
  d.k = ta ? a[0] : a[1];
  d.n = tb ? b[0] : b[1];
  const int64_t kb = tb ? b[1] : b[0];
  if (kb != d.k)
    fail(n, fmt::format("inner dimensions differ: A {}{} gives K = {}, B {}{} gives K = {}", shape_str(a),
                        ta ? " (transposed)" : "", d.k, shape_str(b), tb ? " (transposed)" : "", kb));
  if (Value* c = n.input(2)) {
    const Shape& cs = shape_of(n, 2);
    const Shape mn{d.m, d.n};
    bool ok = cs.size() <= 2;
    for (size_t i = 0; ok && i < cs.size(); ++i) ok = cs[i] == 1 || cs[i] == mn[2 - cs.size() + i];
    if (!ok)
      fail(n, fmt::format("input C '{}' {} cannot be broadcast to the output shape {}", c->name, shape_str(cs),
                          shape_str(mn)));
    I32s st = broadcast_strides(cs, mn);
    d.c_stride_m = st[0];
    d.c_stride_n = st[1];
  }
  return d;
}

OpDef gemm_op() {
  OpDef d;
  d.name = "Gemm";
  d.infer = [](Node& n) {
    check_input_count(n, 2, 3);
    DType t = check_same_dtype(n, {0, 1, 2}, type_mask(MatTypes{}));
    if (!dtype_is_float(t) && (n.attr_float_or("alpha", 1.0f) != 1.0f || n.attr_float_or("beta", 1.0f) != 1.0f))
      fail(n, fmt::format("alpha/beta other than 1.0 are not supported for integer ({}) Gemm", dtype_name(t)));
    GemmDims g = gemm_dims(n);
    set_output(n, 0, t, {g.m, g.n});
  };
  d.lower = [](const Node& n) {
    GemmDims g = gemm_dims(n);
    return dispatch(MatTypes{}, n.inputs[0]->dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      return with_opt_input(n, 2, [&](auto c) {
        return make_call(kHeader, ref_kernel("gemm", {ctype_of<T>()}), &ref::gemm<T>, In{0}, In{1}, c, Out{0},
                         static_cast<int32_t>(g.m), static_cast<int32_t>(g.n), static_cast<int32_t>(g.k),
                         n.attr_int_or("transA", 0) != 0, n.attr_int_or("transB", 0) != 0,
                         n.attr_float_or("alpha", 1.0f), n.attr_float_or("beta", 1.0f), g.c_stride_m, g.c_stride_n);
      });
    });
  };
  d.macs = [](const Node& n) {
    GemmDims g = gemm_dims(n);
    return mul(n, mul(n, g.m, g.n, "MAC count"), g.k, "MAC count");
  };
  // Y = alpha op(A) op(B) + beta C:  d op(A) = alpha dY op(B)^T,  d op(B) = alpha op(A)^T dY,
  // dC = beta * dY summed over C's broadcast axes. Each product is one Gemm with transposes
  // chosen so that no operand is transposed in memory.
  d.grad = [](GradContext& c) {
    const Node& n = c.node;
    Value* dy = c.dy(0);
    const bool ta = n.attr_int_or("transA", 0) != 0, tb = n.attr_int_or("transB", 0) != 0;
    const float alpha = n.attr_float_or("alpha", 1.0f), beta = n.attr_float_or("beta", 1.0f);
    auto gemm = [&](Value* a, Value* b, bool t_a, bool t_b) {
      return c.emit("Gemm", {a, b},
                    {{"alpha", Attribute::Float(alpha)}, {"transA", Attribute::Int(t_a)}, {"transB", Attribute::Int(t_b)}});
    };
    Value* a = n.inputs[0];
    Value* b = n.inputs[1];
    if (c.needs(0)) c.set_dx(0, ta ? gemm(b, dy, tb, true) : gemm(dy, b, false, !tb));
    if (c.needs(1)) c.set_dx(1, tb ? gemm(dy, a, true, ta) : gemm(a, dy, !ta, false));
    if (c.needs(2)) {
      Value* g = c.unbroadcast(dy, n.inputs[2]->shape);
      if (beta != 1.0f) g = c.emit("Mul", {g, c.scalar_like(g, beta)});
      c.set_dx(2, g);
    }
  };
  return d;
}
const OpRegistrar kGemm(gemm_op());

// ---- MatMul -------------------------------------------------------------------------------
OpDef matmul_op() {
  OpDef d;
  d.name = "MatMul";
  d.infer = [](Node& n) {
    check_input_count(n, 2, 2);
    DType t = check_same_dtype(n, {0, 1}, type_mask(MatTypes{}));
    set_output(n, 0, t, matmul_dims(n).out);
  };
  d.lower = [](const Node& n) {
    MatMulDims m = matmul_dims(n);
    I32s as = broadcast_strides(m.a_batch, m.batch), bs = broadcast_strides(m.b_batch, m.batch);
    return dispatch(MatTypes{}, n.inputs[0]->dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      return make_call(kHeader, ref_kernel("matmul", {ctype_of<T>()}), &ref::matmul<T>, In{0}, In{1}, Out{0},
                       static_cast<int32_t>(m.batch.size()), dims_i32(n, m.batch), as, bs,
                       static_cast<int32_t>(m.m), static_cast<int32_t>(m.n), static_cast<int32_t>(m.k));
    });
  };
  d.macs = [](const Node& n) {
    MatMulDims m = matmul_dims(n);
    return mul(n, mul(n, mul(n, num_elements(m.batch), m.m, "MAC count"), m.n, "MAC count"), m.k, "MAC count");
  };
  // Y = A B (numpy matmul): dA = dY B^T, dB = A^T dY, summed over broadcast batch dims.
  // A 2-D B (a Linear layer applied to [..., K] activations) uses Gemm on the flattened rows
  // (no transposed copies); batched products (attention) use MatMul with Transpose.
  d.grad = [](GradContext& c) {
    const Node& n = c.node;
    Value* a = n.inputs[0];
    Value* b = n.inputs[1];
    // Promote 1-D operands to matrices, as the forward op does.
    Shape ap = a->shape, bp = b->shape;
    if (ap.size() == 1) ap.insert(ap.begin(), 1);
    if (bp.size() == 1) bp.push_back(1);
    MatMulDims m = matmul_dims(n);
    Shape yp = m.batch;
    yp.push_back(m.m);
    yp.push_back(m.n);
    Value* dy = c.reshape(c.dy(0), yp);
    if (bp.size() == 2) {
      const int64_t rows = num_elements(ap) / m.k;
      Value* dy2 = c.reshape(dy, {rows, m.n});
      if (c.needs(0)) {
        Value* g = c.emit("Gemm", {dy2, c.reshape(b, bp)}, {{"transB", Attribute::Int(1)}});
        c.set_dx(0, c.reshape(g, a->shape));
      }
      if (c.needs(1)) {
        Value* g = c.emit("Gemm", {c.reshape(a, {rows, m.k}), dy2}, {{"transA", Attribute::Int(1)}});
        c.set_dx(1, c.reshape(g, b->shape));
      }
      return;
    }
    auto swap_last = [&](Value* x) {
      std::vector<int64_t> perm;
      for (size_t i = 0; i < x->shape.size(); ++i) perm.push_back(static_cast<int64_t>(i));
      std::swap(perm[perm.size() - 1], perm[perm.size() - 2]);
      return c.transpose(x, perm);
    };
    if (c.needs(0)) {
      Value* g = c.emit("MatMul", {dy, swap_last(c.reshape(b, bp))});
      c.set_dx(0, c.reshape(c.unbroadcast(g, ap), a->shape));
    }
    if (c.needs(1)) {
      Value* g = c.emit("MatMul", {swap_last(c.reshape(a, ap)), dy});
      c.set_dx(1, c.reshape(c.unbroadcast(g, bp), b->shape));
    }
  };
  return d;
}
const OpRegistrar kMatMul(matmul_op());

}  // namespace
}  // namespace tinyodlc::ir::ops
