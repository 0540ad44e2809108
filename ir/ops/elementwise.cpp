// Elementwise operators: unary maps, numpy-broadcasting binary ops, comparisons, variadic
// Sum/Mean/Min/Max, Clip, Where. Kernels: kernels/tinyodlc/ref/elementwise.h.
// Over 500 lines on purpose: one file per op family (docs/design.md); the family has 47
// registered ops sharing the broadcasting shape rule and the gradient helpers.
#include "tinyodlc/ref/elementwise.h"

#include "ir/grad.h"
#include "ir/ops/op_utils.h"

namespace tinyodlc::ir::ops {
namespace {

constexpr const char* kHeader = "tinyodlc/ref/elementwise.h";

// ---- unary: y = Op(x, p0, p1) ----------------------------------------------------------
using Param = float (*)(const Node&);

template <typename Op, typename Types>
OpDef unary_op(const char* name, const char* functor, Param p0 = nullptr, Param p1 = nullptr) {
  OpDef d;
  d.name = name;
  d.infer = [](Node& n) {
    check_input_count(n, 1, 1);
    check_dtype(n, 0, type_mask(Types{}));
    set_output(n, 0, n.inputs[0]->dtype, shape_of(n, 0));
  };
  d.lower = [functor, p0, p1](const Node& n) {
    const Value* x = n.inputs[0];
    float a = p0 ? p0(n) : 0.0f, b = p1 ? p1(n) : 0.0f;
    return dispatch(Types{}, x->dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      return make_call(kHeader, ref_kernel("unary", {ctype_of<T>(), ctype_of<T>(), fmt::format("tinyodlc::ref::{}", functor)}),
                       &ref::unary<T, T, Op>, In{0}, Out{0}, static_cast<int32_t>(x->numel()), a, b);
    });
  };
  d.macs = [](const Node& n) { return n.inputs[0]->numel(); };
  d.inplace_ok = true;
  return d;
}

float alpha(const Node& n, float dflt) { return n.attr_float_or("alpha", dflt); }

OpDef with_grad(OpDef d, std::function<void(GradContext&)> g) {
  d.grad = std::move(g);
  return d;
}

// ---- gradients of the unary ops ----------------------------------------------------------
// Most use tinyodlc::UnaryGrad(dy, saved) {op = "<forward op>", alpha, beta, approximate}: one
// fused elementwise pass dx = dy * f'(.) (kernel functors <Op>GradOp in ref/elementwise.h)
// reading the saved forward tensor: the output y where f' is a function of it (Relu, Sigmoid,
// Tanh, Sqrt, Reciprocal: the input may then be freed), else the input x. dx may reuse dy's
// buffer. Exp (dy * y), Log (dy / x) and Neg (-dy) use one forward op instead.
enum class Saved { X, Y };
std::function<void(GradContext&)> unary_grad_rule(Saved saved) {
  return [saved](GradContext& c) {
    if (!c.needs(0)) return;
    const Node& n = c.node;
    std::map<std::string, Attribute> attrs{{"op", Attribute::String(n.op)}};
    for (const char* a : {"alpha", "beta", "approximate"})
      if (const Attribute* v = n.attr(a)) attrs[a] = *v;
    Value* s = saved == Saved::Y ? n.outputs[0] : n.inputs[0];
    c.set_dx(0, c.emit("UnaryGrad", {c.dy(0), s}, attrs, kTinyodlcDomain));
  };
}

using F = FloatTypes;
const OpRegistrar kUnary[] = {
    OpRegistrar(with_grad(unary_op<ref::ReluOp, SignedTypes>("Relu", "ReluOp"), unary_grad_rule(Saved::Y))),
    OpRegistrar(with_grad(unary_op<ref::NegOp, SignedTypes>("Neg", "NegOp"),
                          [](GradContext& c) {
                            if (c.needs(0)) c.set_dx(0, c.emit("Neg", {c.dy(0)}));
                          })),
    OpRegistrar(with_grad(unary_op<ref::AbsOp, SignedTypes>("Abs", "AbsOp"), unary_grad_rule(Saved::X))),
    OpRegistrar(with_grad(unary_op<ref::SqrtOp, F>("Sqrt", "SqrtOp"), unary_grad_rule(Saved::Y))),
    OpRegistrar(with_grad(unary_op<ref::ExpOp, F>("Exp", "ExpOp"),
                          [](GradContext& c) {
                            if (c.needs(0)) c.set_dx(0, c.emit("Mul", {c.dy(0), c.node.outputs[0]}));
                          })),
    OpRegistrar(with_grad(unary_op<ref::LogOp, F>("Log", "LogOp"),
                          [](GradContext& c) {
                            if (c.needs(0)) c.set_dx(0, c.emit("Div", {c.dy(0), c.node.inputs[0]}));
                          })),
    OpRegistrar(with_grad(unary_op<ref::ErfOp, F>("Erf", "ErfOp"), unary_grad_rule(Saved::X))),
    OpRegistrar(with_grad(unary_op<ref::TanhOp, F>("Tanh", "TanhOp"), unary_grad_rule(Saved::Y))),
    OpRegistrar(with_grad(unary_op<ref::SigmoidOp, F>("Sigmoid", "SigmoidOp"), unary_grad_rule(Saved::Y))),
    OpRegistrar(with_grad(unary_op<ref::HardSwishOp, F>("HardSwish", "HardSwishOp"), unary_grad_rule(Saved::X))),
    OpRegistrar(unary_op<ref::NotOp, BoolType>("Not", "NotOp")),
    OpRegistrar(with_grad(unary_op<ref::ReciprocalOp, F>("Reciprocal", "ReciprocalOp"), unary_grad_rule(Saved::Y))),
    OpRegistrar(unary_op<ref::CeilOp, F32Type>("Ceil", "CeilOp")),
    OpRegistrar(unary_op<ref::FloorOp, F32Type>("Floor", "FloorOp")),
    OpRegistrar(unary_op<ref::RoundOp, F32Type>("Round", "RoundOp")),
    OpRegistrar(with_grad(unary_op<ref::SoftplusOp, F>("Softplus", "SoftplusOp"), unary_grad_rule(Saved::X))),
    OpRegistrar(with_grad(unary_op<ref::EluOp, F>("Elu", "EluOp", [](const Node& n) { return alpha(n, 1.0f); }),
                          unary_grad_rule(Saved::X))),
    OpRegistrar(with_grad(unary_op<ref::LeakyReluOp, F>("LeakyRelu", "LeakyReluOp",
                                                         [](const Node& n) { return alpha(n, 0.01f); }),
                          unary_grad_rule(Saved::X))),
    OpRegistrar(with_grad(unary_op<ref::HardSigmoidOp, F>(
                              "HardSigmoid", "HardSigmoidOp", [](const Node& n) { return alpha(n, 0.2f); },
                              [](const Node& n) { return n.attr_float_or("beta", 0.5f); }),
                          unary_grad_rule(Saved::X))),
};

// Gelu: approximate = "none" | "tanh" selects the functor.
OpDef gelu_op() {
  OpDef d = unary_op<ref::GeluErfOp, F>("Gelu", "GeluErfOp");
  auto erf_lower = d.lower;
  d.infer = [](Node& n) {
    check_input_count(n, 1, 1);
    check_dtype(n, 0, type_mask(F{}));
    std::string a = n.attr_string_or("approximate", "none");
    if (a != "none" && a != "tanh") fail(n, fmt::format("unsupported approximate='{}'", a));
    set_output(n, 0, n.inputs[0]->dtype, shape_of(n, 0));
  };
  d.lower = [erf_lower](const Node& n) {
    if (n.attr_string_or("approximate", "none") == "tanh")
      return dispatch(F{}, n.inputs[0]->dtype, [&](auto tag) {
        using T = typename decltype(tag)::type;
        return make_call(kHeader, ref_kernel("unary", {ctype_of<T>(), ctype_of<T>(), "tinyodlc::ref::GeluTanhOp"}),
                         &ref::unary<T, T, ref::GeluTanhOp>, In{0}, Out{0},
                         static_cast<int32_t>(n.inputs[0]->numel()), 0.0f, 0.0f);
      });
    return erf_lower(n);
  };
  d.grad = unary_grad_rule(Saved::X);
  return d;
}
const OpRegistrar kGelu(gelu_op());

// tinyodlc::UnaryGrad(dy, saved) -> dx {op, alpha?, beta?, approximate?}: see unary_grad_rule.
template <typename Op>
KernelCall lower_unary_grad(const Node& n, const char* functor, float p0, float p1) {
  return dispatch(F{}, n.inputs[0]->dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    return make_call(kHeader, ref_kernel("unary_grad", {ctype_of<T>(), fmt::format("tinyodlc::ref::{}", functor)}),
                     &ref::unary_grad<T, Op>, In{0}, In{1}, Out{0}, static_cast<int32_t>(n.inputs[0]->numel()), p0,
                     p1);
  });
}

struct UnaryGradKind {
  const char* op;
  float alpha, beta;  // attribute defaults of the forward op
  KernelCall (*lower)(const Node&, float, float);
};
#define TINYODLC_UGRAD(OP, FUNCTOR, A, B)                                                                   \
  UnaryGradKind {                                                                                          \
    OP, A, B, [](const Node& n, float p0, float p1) { return lower_unary_grad<ref::FUNCTOR>(n, #FUNCTOR, p0, p1); } \
  }
const UnaryGradKind kUnaryGradKinds[] = {
    TINYODLC_UGRAD("Relu", ReluGradOp, 0, 0),
    TINYODLC_UGRAD("LeakyRelu", LeakyReluGradOp, 0.01f, 0),
    TINYODLC_UGRAD("Abs", AbsGradOp, 0, 0),
    TINYODLC_UGRAD("Sigmoid", SigmoidGradOp, 0, 0),
    TINYODLC_UGRAD("Tanh", TanhGradOp, 0, 0),
    TINYODLC_UGRAD("Sqrt", SqrtGradOp, 0, 0),
    TINYODLC_UGRAD("Reciprocal", ReciprocalGradOp, 0, 0),
    TINYODLC_UGRAD("Erf", ErfGradOp, 0, 0),
    TINYODLC_UGRAD("Gelu", GeluErfGradOp, 0, 0),
    TINYODLC_UGRAD("GeluTanh", GeluTanhGradOp, 0, 0),
    TINYODLC_UGRAD("HardSigmoid", HardSigmoidGradOp, 0.2f, 0.5f),
    TINYODLC_UGRAD("HardSwish", HardSwishGradOp, 0, 0),
    TINYODLC_UGRAD("Softplus", SoftplusGradOp, 0, 0),
    TINYODLC_UGRAD("Elu", EluGradOp, 1.0f, 0),
};
#undef TINYODLC_UGRAD

const UnaryGradKind& unary_grad_kind(const Node& n) {
  std::string op = n.attr_string_or("op", "");
  if (op == "Gelu" && n.attr_string_or("approximate", "none") == "tanh") op = "GeluTanh";
  for (const UnaryGradKind& k : kUnaryGradKinds)
    if (op == k.op) return k;
  fail(n, fmt::format("unknown forward op '{}' (attribute op)", op));
}

OpDef unary_grad_op() {
  OpDef d;
  d.domain = kTinyodlcDomain;
  d.name = "UnaryGrad";
  d.infer = [](Node& n) {
    check_input_count(n, 2, 2);
    DType t = check_same_dtype(n, {0, 1}, type_mask(F{}));
    if (shape_of(n, 0) != shape_of(n, 1))
      fail(n, fmt::format("dy {} and the saved tensor {} must have the same shape", shape_str(shape_of(n, 0)),
                          shape_str(shape_of(n, 1))));
    unary_grad_kind(n);
    set_output(n, 0, t, shape_of(n, 0));
  };
  d.lower = [](const Node& n) {
    const UnaryGradKind& k = unary_grad_kind(n);
    return k.lower(n, n.attr_float_or("alpha", k.alpha), n.attr_float_or("beta", k.beta));
  };
  d.macs = [](const Node& n) { return n.inputs[0]->numel(); };
  d.inplace_ok = true;
  return d;
}
const OpRegistrar kUnaryGrad(unary_grad_op());

// IsNaN / IsInf: float -> bool predicates (PyTorch's nan_to_num exports them).
template <typename Op>
OpDef predicate_op(const char* name, const char* functor, Param p0 = nullptr, Param p1 = nullptr) {
  OpDef d;
  d.name = name;
  d.infer = [](Node& n) {
    check_input_count(n, 1, 1);
    check_dtype(n, 0, type_mask(FloatTypes{}));
    set_output(n, 0, DType::Bool, shape_of(n, 0));
  };
  d.lower = [functor, p0, p1](const Node& n) {
    return dispatch(FloatTypes{}, n.inputs[0]->dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      return make_call(kHeader, ref_kernel("unary", {ctype_of<T>(), "bool", fmt::format("tinyodlc::ref::{}", functor)}),
                       &ref::unary<T, bool, Op>, In{0}, Out{0}, static_cast<int32_t>(n.inputs[0]->numel()),
                       p0 ? p0(n) : 0.0f, p1 ? p1(n) : 0.0f);
    });
  };
  return d;
}
const OpRegistrar kPredicates[] = {
    OpRegistrar(predicate_op<ref::IsNaNOp>("IsNaN", "IsNaNOp")),
    OpRegistrar(predicate_op<ref::IsInfOp>(
        "IsInf", "IsInfOp", [](const Node& n) { return static_cast<float>(n.attr_int_or("detect_negative", 1)); },
        [](const Node& n) { return static_cast<float>(n.attr_int_or("detect_positive", 1)); })),
};

// ---- binary with broadcasting ----------------------------------------------------------
// Picks the flat kernel when no real broadcasting is needed, else the N-d one.
template <typename Op, typename T, typename R>
KernelCall lower_binary(const Node& n, const char* functor, bool bool_out) {
  const Shape& a = shape_of(n, 0);
  const Shape& b = shape_of(n, 1);
  const Shape& y = n.outputs[0]->shape;
  std::string name_flat = ref_kernel("binary_flat", {ctype_of<T>(), ctype_of<R>(), functor});
  int64_t ne = num_elements(y);
  auto step = [&](const Shape& s) -> int { return num_elements(s) == ne && s.size() <= y.size() ? 1 : (num_elements(s) == 1 ? 0 : -1); };
  int sa = step(a), sb = step(b);
  (void)bool_out;
  if (sa >= 0 && sb >= 0)
    return make_call(kHeader, name_flat, &ref::binary_flat<T, R, Op>, In{0}, In{1}, Out{0},
                     static_cast<int32_t>(ne), sa, sb);
  return make_call(kHeader, ref_kernel("binary", {ctype_of<T>(), ctype_of<R>(), functor}), &ref::binary<T, R, Op>,
                   In{0}, In{1}, Out{0}, static_cast<int32_t>(y.size()), dims_i32(n, y), broadcast_strides(a, y),
                   broadcast_strides(b, y));
}

template <typename Op, typename Types, bool kBoolOut = false>
OpDef binary_op(const char* name, const char* functor) {
  OpDef d;
  d.name = name;
  d.infer = [](Node& n) {
    check_input_count(n, 2, 2);
    DType t = check_same_dtype(n, {0, 1}, type_mask(Types{}));
    set_output(n, 0, kBoolOut ? DType::Bool : t, broadcast_shapes(n, {shape_of(n, 0), shape_of(n, 1)}));
  };
  d.lower = [functor](const Node& n) {
    std::string f = fmt::format("tinyodlc::ref::{}", functor);
    return dispatch(Types{}, n.inputs[0]->dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      using R = std::conditional_t<kBoolOut, bool, T>;
      return lower_binary<Op, T, R>(n, f.c_str(), kBoolOut);
    });
  };
  d.macs = [](const Node& n) { return n.outputs[0]->numel(); };
  d.inplace_ok = true;  // the planner checks that input 0 has the output's size
  return d;
}

// Gradient rules of the arithmetic binary ops; each input's gradient is summed over the axes
// along which it was broadcast.
void grad_add_sub(GradContext& c, bool sub) {
  Value* dy = c.dy(0);
  if (c.needs(0)) c.set_dx(0, c.unbroadcast(dy, c.node.inputs[0]->shape));
  if (c.needs(1)) c.set_dx(1, c.unbroadcast(sub ? c.emit("Neg", {dy}) : dy, c.node.inputs[1]->shape));
}
void grad_mul(GradContext& c) {  // d(a b) = b da + a db
  Value* dy = c.dy(0);
  const Node& n = c.node;
  if (c.needs(0)) c.set_dx(0, c.unbroadcast(c.emit("Mul", {dy, n.inputs[1]}), n.inputs[0]->shape));
  if (c.needs(1)) c.set_dx(1, c.unbroadcast(c.emit("Mul", {dy, n.inputs[0]}), n.inputs[1]->shape));
}
void grad_div(GradContext& c) {  // y = a / b: da = dy / b, db = -dy y / b
  Value* dy = c.dy(0);
  const Node& n = c.node;
  Value* dyb = c.emit("Div", {dy, n.inputs[1]});
  if (c.needs(0)) c.set_dx(0, c.unbroadcast(dyb, n.inputs[0]->shape));
  if (c.needs(1))
    c.set_dx(1, c.unbroadcast(c.emit("Neg", {c.emit("Mul", {dyb, n.outputs[0]})}), n.inputs[1]->shape));
}

const OpRegistrar kBinary[] = {
    OpRegistrar(with_grad(binary_op<ref::AddOp, NumericTypes>("Add", "AddOp"), [](GradContext& c) { grad_add_sub(c, false); })),
    OpRegistrar(with_grad(binary_op<ref::SubOp, NumericTypes>("Sub", "SubOp"), [](GradContext& c) { grad_add_sub(c, true); })),
    OpRegistrar(with_grad(binary_op<ref::MulOp, NumericTypes>("Mul", "MulOp"), grad_mul)),
    OpRegistrar(with_grad(binary_op<ref::DivOp, NumericTypes>("Div", "DivOp"), grad_div)),
    OpRegistrar(binary_op<ref::EqualOp, AllTypes, true>("Equal", "EqualOp")),
    OpRegistrar(binary_op<ref::LessOp, NumericTypes, true>("Less", "LessOp")),
    OpRegistrar(binary_op<ref::LessOrEqualOp, NumericTypes, true>("LessOrEqual", "LessOrEqualOp")),
    OpRegistrar(binary_op<ref::GreaterOp, NumericTypes, true>("Greater", "GreaterOp")),
    OpRegistrar(binary_op<ref::GreaterOrEqualOp, NumericTypes, true>("GreaterOrEqual", "GreaterOrEqualOp")),
    OpRegistrar(binary_op<ref::AndOp, BoolType, true>("And", "AndOp")),
    OpRegistrar(binary_op<ref::OrOp, BoolType, true>("Or", "OrOp")),
    OpRegistrar(binary_op<ref::XorOp, BoolType, true>("Xor", "XorOp")),
};

// Pow: the exponent may have another type than the base.
OpDef pow_op() {
  using Types = TypeList<float, double, int32_t, int64_t>;
  OpDef d;
  d.name = "Pow";
  d.infer = [](Node& n) {
    check_input_count(n, 2, 2);
    check_dtype(n, 0, type_mask(Types{}));
    check_dtype(n, 1, type_mask(Types{}));
    set_output(n, 0, n.inputs[0]->dtype, broadcast_shapes(n, {shape_of(n, 0), shape_of(n, 1)}));
  };
  d.lower = [](const Node& n) {
    return dispatch(Types{}, n.inputs[0]->dtype, [&](auto tb) {
      using T = typename decltype(tb)::type;
      if (n.inputs[1]->dtype == n.inputs[0]->dtype && std::is_floating_point_v<T>)
        return lower_binary<ref::PowOp, T, T>(n, "tinyodlc::ref::PowOp", false);
      return dispatch(Types{}, n.inputs[1]->dtype, [&](auto te) {
        using E = typename decltype(te)::type;
        const Shape& y = n.outputs[0]->shape;
        return make_call(kHeader, ref_kernel("pow_mixed", {ctype_of<T>(), ctype_of<E>()}), &ref::pow_mixed<T, E>,
                         In{0}, In{1}, Out{0}, static_cast<int32_t>(y.size()), dims_i32(n, y),
                         broadcast_strides(shape_of(n, 0), y), broadcast_strides(shape_of(n, 1), y));
      });
    });
  };
  d.macs = [](const Node& n) { return n.outputs[0]->numel(); };
  // y = a^b: da = dy b a^(b-1), db = dy y log(a). A constant exponent (x^2 of the RMSNorm
  // exports) is folded: b = 1: da = dy; b = 2: da = dy (2a); b = 0: 0; else dy (b a^(b-1))
  // with b and b-1 as constants. Zeros as PyTorch's pow_backward where a formula gives 0 * inf.
  d.grad = [](GradContext& c) {
    const Node& n = c.node;
    Value* a = n.inputs[0];
    Value* b = n.inputs[1];
    Value* dy = c.dy(0);
    if (c.needs(0)) {
      Value* g = nullptr;
      if (b->is_constant() && b->dtype != DType::Bool) {
        const TensorData& bd = *b->constant;
        bool uniform = true;
        for (int64_t i = 1; i < bd.numel(); ++i) uniform &= bd.get_f64(i) == bd.get_f64(0);
        auto like_a = [&](double off) {  // b + off as a's dtype; 0 where b = 0 (then b a^(b-1) = 0 even at a = 0)
          auto t = std::make_shared<TensorData>(a->dtype, bd.shape);
          dispatch(FloatTypes{}, a->dtype, [&](auto tag) {
            using T = typename decltype(tag)::type;
            for (int64_t i = 0; i < bd.numel(); ++i)
              t->data<T>()[i] = bd.get_f64(i) == 0 ? T(0) : static_cast<T>(bd.get_f64(i) + off);
          });
          return c.constant(t, "exponent");
        };
        const double e = bd.numel() > 0 ? bd.get_f64(0) : 1.0;
        if (uniform && e == 1.0) g = dy;
        else if (uniform && e == 2.0) g = c.emit("Mul", {dy, c.emit("Add", {a, a})});
        else if (uniform && e == 0.0) g = c.emit("Mul", {dy, c.scalar_like(a, 0.0)});  // also at a = 0
        else g = c.emit("Mul", {dy, c.emit("Mul", {c.emit("Pow", {a, like_a(-1.0)}), like_a(0.0)})});
      } else {
        if (b->dtype != a->dtype)
          fail(n, fmt::format("gradient of the base: the exponent '{}' ({}) must be constant or of the base's type {}",
                              b->name, dtype_name(b->dtype), dtype_name(a->dtype)));
        // As PyTorch: 0 where the exponent is 0 (b a^(b-1) would be 0 * inf at a = 0).
        Value* bm1 = c.emit("Sub", {b, c.scalar_like(a, 1.0)});
        Value* d = c.emit("Mul", {c.emit("Pow", {a, bm1}), b});
        Value* zero = c.scalar_like(a, 0.0);
        d = c.emit("Where", {c.emit("Equal", {b, zero}), zero, d});
        g = c.emit("Mul", {dy, d});
      }
      c.set_dx(0, c.unbroadcast(g, a->shape));
    }
    if (c.needs(1)) {
      if (b->dtype != a->dtype)
        fail(n, fmt::format("gradient of the exponent '{}': it must have the base's type {}, got {}", b->name,
                            dtype_name(a->dtype), dtype_name(b->dtype)));
      // As PyTorch: 0 where a = 0 and b >= 0 (y log a would be 0 * -inf); NaN for a < 0.
      Value* zero = c.scalar_like(a, 0.0);
      Value* t = c.emit("Mul", {c.emit("Mul", {dy, n.outputs[0]}), c.emit("Log", {a})});
      Value* at_zero = c.emit("And", {c.emit("Equal", {a, zero}), c.emit("GreaterOrEqual", {b, zero})});
      c.set_dx(1, c.unbroadcast(c.emit("Where", {at_zero, zero, t}), b->shape));
    }
  };
  return d;
}
const OpRegistrar kPow(pow_op());

// ---- variadic: Sum, Mean, Min, Max -----------------------------------------------------
template <typename Op, typename Types>
OpDef nary_op(const char* name, const char* functor, bool mean) {
  OpDef d;
  d.name = name;
  d.infer = [](Node& n) {
    if (n.inputs.empty()) fail(n, "expects at least one input");
    std::vector<Shape> shapes;
    std::vector<size_t> ks;
    for (size_t k = 0; k < n.inputs.size(); ++k) {
      shapes.push_back(shape_of(n, k));
      if (n.inputs[k]->dtype != n.inputs[0]->dtype) fail(n, "all inputs must have the same element type");
    }
    check_dtype(n, 0, type_mask(Types{}));
    set_output(n, 0, n.inputs[0]->dtype, broadcast_shapes(n, shapes));
  };
  d.lower = [functor, mean](const Node& n) {
    const Shape& y = n.outputs[0]->shape;
    I32s strides;
    Ins ins;
    for (size_t k = 0; k < n.inputs.size(); ++k) {
      I32s s = broadcast_strides(n.inputs[k]->shape, y);
      strides.insert(strides.end(), s.begin(), s.end());
      ins.ks.push_back(static_cast<int>(k));
    }
    if (y.empty()) strides.push_back(0);  // keep the array non-empty
    return dispatch(Types{}, n.inputs[0]->dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      return make_call(kHeader, ref_kernel("nary", {ctype_of<T>(), fmt::format("tinyodlc::ref::{}", functor)}),
                       &ref::nary<T, Op>, ins, static_cast<int32_t>(n.inputs.size()), Out{0},
                       static_cast<int32_t>(y.size()), y.empty() ? I32s{1} : dims_i32(n, y), strides, mean);
    });
  };
  return d;
}

// Gradient rules of the variadic ops (summed over each input's broadcast axes).
// y = Sum(x_0, ..., x_{n-1}): dx_k = dy.
void grad_sum(GradContext& c) {
  for (size_t k = 0; k < c.node.inputs.size(); ++k)
    if (c.needs(k)) c.set_dx(k, c.unbroadcast(c.dy(0), c.node.inputs[k]->shape));
}

// y = Mean(x_0, ..., x_{n-1}): dx_k = dy / n.
void grad_mean(GradContext& c) {
  const size_t n = c.node.inputs.size();
  Value* g = n == 1 ? c.dy(0) : c.emit("Mul", {c.dy(0), c.scalar_like(c.dy(0), 1.0 / static_cast<double>(n))});
  for (size_t k = 0; k < n; ++k)
    if (c.needs(k)) c.set_dx(k, c.unbroadcast(g, c.node.inputs[k]->shape));
}

// y = Max/Min(x_0, ..., x_{n-1}): dy goes to the inputs equal to y, shared evenly between
// ties (as PyTorch's maximum/minimum do): dx_k = dy [x_k == y] / #{j : x_j == y}.
void grad_max_min(GradContext& c) {
  const Node& n = c.node;
  Value* y = n.outputs[0];
  Value* dy = c.dy(0);
  const auto to = Attribute::Int(dtype_to_onnx(y->dtype));
  std::vector<Value*> masks;
  for (size_t k = 0; k < n.inputs.size(); ++k) masks.push_back(c.emit("Cast", {c.emit("Equal", {n.inputs[k], y})}, {{"to", to}}));
  Value* r = dy;
  if (masks.size() > 1) r = c.emit("Div", {dy, c.emit("Sum", masks)});
  for (size_t k = 0; k < n.inputs.size(); ++k)
    if (c.needs(k)) c.set_dx(k, c.unbroadcast(c.emit("Mul", {masks[k], r}), n.inputs[k]->shape));
}

const OpRegistrar kNary[] = {
    OpRegistrar(with_grad(nary_op<ref::AddOp, NumericTypes>("Sum", "AddOp", false), grad_sum)),
    OpRegistrar(with_grad(nary_op<ref::AddOp, FloatTypes>("Mean", "AddOp", true), grad_mean)),
    OpRegistrar(with_grad(nary_op<ref::MinOp, NumericTypes>("Min", "MinOp", false), grad_max_min)),
    OpRegistrar(with_grad(nary_op<ref::MaxOp, NumericTypes>("Max", "MaxOp", false), grad_max_min)),
};

// ---- Clip(x, min?, max?) ----------------------------------------------------------------
OpDef clip_op() {
  OpDef d;
  d.name = "Clip";
  d.canonicalize_import = [](Node& n, Graph& g) {
    if (n.opset >= 11 || n.opset == 0) return;  // opset 6: min/max attributes
    n.inputs.resize(3, nullptr);
    auto scalar = [&](const char* a, float dflt) {
      auto t = std::make_shared<TensorData>(DType::F32, Shape{});
      *t->data<float>() = n.attr_float_or(a, dflt);
      return g.add_constant(n.name + "_" + a, t);
    };
    n.inputs[1] = scalar("min", -3.402823466e+38f);
    n.inputs[2] = scalar("max", 3.402823466e+38f);
    n.attrs.erase("min");
    n.attrs.erase("max");
  };
  d.infer = [](Node& n) {
    check_input_count(n, 1, 3);
    check_same_dtype(n, {0, 1, 2}, type_mask(NumericTypes{}));
    for (size_t k = 1; k < 3; ++k)
      if (n.input(k) && n.input(k)->numel() != 1) fail(n, fmt::format("input {} must be a scalar", k));
    set_output(n, 0, n.inputs[0]->dtype, shape_of(n, 0));
  };
  d.lower = [](const Node& n) {
    return dispatch(NumericTypes{}, n.inputs[0]->dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      return make_call(kHeader, ref_kernel("clip", {ctype_of<T>()}), &ref::clip<T>, In{0}, In{1}, In{2}, Out{0},
                       static_cast<int32_t>(n.inputs[0]->numel()));
    });
  };
  // dx = dy where min <= x <= max (PyTorch's clamp: the bounds themselves pass the
  // gradient); a trainable bound gets the sum of dy where x is beyond it.
  d.grad = [](GradContext& c) {
    const Node& n = c.node;
    Value* x = n.inputs[0];
    if (c.needs(0)) {
      std::vector<Value*> ins{c.dy(0), x, n.input(1), n.input(2)};
      c.set_dx(0, c.emit("ClipGrad", ins, {}, kTinyodlcDomain));
    }
    for (size_t k = 1; k <= 2; ++k) {
      if (!c.needs(k)) continue;
      Value* beyond = c.emit(k == 1 ? "Less" : "Greater", {x, n.inputs[k]});
      Value* g = c.emit("Where", {beyond, c.dy(0), c.scalar_like(x, 0.0)});
      g = c.emit("ReduceSum", {g}, {{"keepdims", Attribute::Int(0)}});
      c.set_dx(k, c.reshape(g, n.inputs[k]->shape));
    }
  };
  return d;
}
const OpRegistrar kClip(clip_op());

// tinyodlc::ClipGrad(dy, x, min?, max?) -> dx
OpDef clip_grad_op() {
  OpDef d;
  d.domain = kTinyodlcDomain;
  d.name = "ClipGrad";
  d.infer = [](Node& n) {
    check_input_count(n, 2, 4);
    DType t = check_same_dtype(n, {0, 1, 2, 3}, type_mask(FloatTypes{}));
    if (shape_of(n, 0) != shape_of(n, 1))
      fail(n, fmt::format("dy {} and x {} must have the same shape", shape_str(shape_of(n, 0)), shape_str(shape_of(n, 1))));
    for (size_t k = 2; k < 4; ++k)
      if (n.input(k) && n.input(k)->numel() != 1) fail(n, fmt::format("input {} must be a scalar", k));
    set_output(n, 0, t, shape_of(n, 0));
  };
  d.lower = [](const Node& n) {
    return dispatch(FloatTypes{}, n.inputs[0]->dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      auto call = [&](auto lo, auto hi) {
        return make_call(kHeader, ref_kernel("clip_grad", {ctype_of<T>()}), &ref::clip_grad<T>, In{0}, In{1}, lo, hi,
                         Out{0}, static_cast<int32_t>(n.inputs[0]->numel()));
      };
      return n.input(2) ? (n.input(3) ? call(In{2}, In{3}) : call(In{2}, Null{}))
                        : (n.input(3) ? call(Null{}, In{3}) : call(Null{}, Null{}));
    });
  };
  d.inplace_ok = true;
  return d;
}
const OpRegistrar kClipGrad(clip_grad_op());

// ---- Where(cond, x, y) -------------------------------------------------------------------
// y = Where(cond, a, b): da = dy where cond, db = dy where !cond (cond gets none).
void grad_where(GradContext& c) {
  const Node& n = c.node;
  Value* dy = c.dy(0);
  if (c.needs(1)) c.set_dx(1, c.unbroadcast(c.emit("Where", {n.inputs[0], dy, c.scalar_like(dy, 0.0)}), n.inputs[1]->shape));
  if (c.needs(2)) c.set_dx(2, c.unbroadcast(c.emit("Where", {n.inputs[0], c.scalar_like(dy, 0.0), dy}), n.inputs[2]->shape));
}

OpDef where_op() {
  OpDef d;
  d.name = "Where";
  d.infer = [](Node& n) {
    check_input_count(n, 3, 3);
    check_dtype(n, 0, type_mask(BoolType{}));
    DType t = check_same_dtype(n, {1, 2}, type_mask(AllTypes{}));
    set_output(n, 0, t, broadcast_shapes(n, {shape_of(n, 0), shape_of(n, 1), shape_of(n, 2)}));
  };
  d.lower = [](const Node& n) {
    const Shape& y = n.outputs[0]->shape;
    return dispatch(AllTypes{}, n.inputs[1]->dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      return make_call(kHeader, ref_kernel("where", {ctype_of<T>()}), &ref::where<T>, In{0}, In{1}, In{2}, Out{0},
                       static_cast<int32_t>(y.size()), y.empty() ? I32s{1} : dims_i32(n, y),
                       y.empty() ? I32s{0} : broadcast_strides(shape_of(n, 0), y),
                       y.empty() ? I32s{0} : broadcast_strides(shape_of(n, 1), y),
                       y.empty() ? I32s{0} : broadcast_strides(shape_of(n, 2), y));
    });
  };
  return d;
}
const OpRegistrar kWhere(with_grad(where_op(), grad_where));

}  // namespace
}  // namespace tinyodlc::ir::ops
