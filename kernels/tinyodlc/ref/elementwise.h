// Elementwise reference kernels: unary maps, numpy-broadcasting binary ops, Where, Clip.
// The per-element functions are small functors (AddOp, ReluOp, ...) so that one loop
// serves every op and the compiler names the instantiation in the generated code.
#pragma once

#include <math.h>

#include "tinyodlc/ref/nn_common.h"

namespace tinyodlc {
namespace ref {

// ---- unary: y[i] = Op::apply(x[i], p0, p1) ---------------------------------------------
template <typename T, typename R, typename Op>
void unary(const T* x, R* y, int32_t n, float p0, float p1) {
  for (int32_t i = 0; i < n; ++i) y[i] = Op::apply(x[i], p0, p1);
}

struct ReluOp { template <typename T> static T apply(T x, float, float) { return x > T(0) ? x : T(0); } };
// Integer Neg/Abs wrap (Neg(INT64_MIN) == INT64_MIN, as numpy): common.h.
struct NegOp { template <typename T> static T apply(T x, float, float) { return wrap_neg(x); } };
struct AbsOp { template <typename T> static T apply(T x, float, float) { return wrap_abs(x); } };
// Float functors are templated on float/double (T(c) of a float literal is that literal, so
// the float instantiations compute exactly what the float-only forms did).
struct SqrtOp { template <typename T> static T apply(T x, float, float) { return m_sqrt(x); } };
struct ExpOp { template <typename T> static T apply(T x, float, float) { return m_exp(x); } };
struct LogOp { template <typename T> static T apply(T x, float, float) { return m_log(x); } };
struct ErfOp { template <typename T> static T apply(T x, float, float) { return m_erf(x); } };
struct TanhOp { template <typename T> static T apply(T x, float, float) { return m_tanh(x); } };
struct SigmoidOp {
  template <typename T> static T apply(T x, float, float) {
    // Evaluated so that neither branch overflows.
    if (x >= 0) return T(1) / (T(1) + m_exp(-x));
    T e = m_exp(x);
    return e / (T(1) + e);
  }
};
struct LeakyReluOp {
  template <typename T> static T apply(T x, float alpha, float) { return x >= 0 ? x : static_cast<T>(alpha) * x; }
};
struct HardSigmoidOp {
  template <typename T> static T apply(T x, float alpha, float beta) {
    T v = static_cast<T>(alpha) * x + static_cast<T>(beta);
    return v < 0 ? T(0) : (v > 1 ? T(1) : v);
  }
};
struct HardSwishOp {
  template <typename T> static T apply(T x, float, float) {
    T v = x / T(6) + T(0.5);
    v = v < 0 ? T(0) : (v > 1 ? T(1) : v);
    return x * v;
  }
};
struct GeluErfOp {
  template <typename T> static T apply(T x, float, float) {
    return T(0.5) * x * (T(1) + m_erf(x * T(0.70710678118654752440)));
  }
};
struct GeluTanhOp {
  template <typename T> static T apply(T x, float, float) {
    return T(0.5) * x * (T(1) + m_tanh(T(0.79788456080286535588) * (x + T(0.044715) * x * x * x)));
  }
};
struct ReciprocalOp { template <typename T> static T apply(T x, float, float) { return T(1) / x; } };
struct CeilOp { static float apply(float x, float, float) { return ceilf(x); } };
struct FloorOp { static float apply(float x, float, float) { return floorf(x); } };
// Round half to even (the default floating-point rounding mode).
struct RoundOp { static float apply(float x, float, float) { return rintf(x); } };
struct SoftplusOp {
  template <typename T> static T apply(T x, float, float) {
    return x > 0 ? x + m_log1p(m_exp(-x)) : m_log1p(m_exp(x));
  }
};
struct EluOp {
  template <typename T> static T apply(T x, float alpha, float) {
    return x >= 0 ? x : static_cast<T>(alpha) * (m_exp(x) - T(1));
  }
};
// Predicates with a bool result (used with unary<float, bool, Op>).
struct IsNaNOp { template <typename T> static bool apply(T x, float, float) { return x != x; } };
// p0 != 0: detect -inf; p1 != 0: detect +inf.
struct IsInfOp {
  template <typename T> static bool apply(T x, float neg, float pos) {
    return (x == static_cast<T>(INFINITY) && pos != 0.0f) || (x == -static_cast<T>(INFINITY) && neg != 0.0f);
  }
};
struct NotOp { static bool apply(bool x, float, float) { return !x; } };

// ---- unary gradients: dx[i] = Op::grad(dy[i], s[i], p0, p1) -----------------------------
// s is the saved forward tensor the derivative needs: the output y for Relu, Sigmoid, Tanh,
// Sqrt, Reciprocal; the input x for the others. Derivatives at kinks follow PyTorch's autograd
// (Relu, LeakyRelu, Abs: 0 / the negative slope at 0; HardSwish: x/3 + 1/2 on [-3, 3]).
// dx may alias dy (element i is read before it is written).
template <typename T, typename Op>
void unary_grad(const T* dy, const T* s, T* dx, int32_t n, float p0, float p1) {
  for (int32_t i = 0; i < n; ++i) dx[i] = Op::grad(dy[i], s[i], p0, p1);
}

struct ReluGradOp { template <typename T> static T grad(T dy, T y, float, float) { return y > T(0) ? dy : T(0); } };
struct LeakyReluGradOp {
  template <typename T> static T grad(T dy, T x, float alpha, float) { return x > T(0) ? dy : static_cast<T>(alpha) * dy; }
};
struct AbsGradOp {
  template <typename T> static T grad(T dy, T x, float, float) { return x > T(0) ? dy : (x < T(0) ? -dy : T(0)); }
};
struct SigmoidGradOp { template <typename T> static T grad(T dy, T y, float, float) { return dy * y * (T(1) - y); } };
struct TanhGradOp { template <typename T> static T grad(T dy, T y, float, float) { return dy * (T(1) - y * y); } };
struct SqrtGradOp { template <typename T> static T grad(T dy, T y, float, float) { return dy / (T(2) * y); } };
struct ReciprocalGradOp { template <typename T> static T grad(T dy, T y, float, float) { return -dy * y * y; } };
// d erf(x) = 2/sqrt(pi) exp(-x^2)
struct ErfGradOp {
  template <typename T> static T grad(T dy, T x, float, float) {
    return dy * T(1.12837916709551257390) * m_exp(-x * x);
  }
};
// d gelu(x) = Phi(x) + x phi(x), Phi(x) = (1 + erf(x / sqrt 2)) / 2, phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
struct GeluErfGradOp {
  template <typename T> static T grad(T dy, T x, float, float) {
    const T cdf = T(0.5) * (T(1) + m_erf(x * T(0.70710678118654752440)));
    const T pdf = T(0.39894228040143267794) * m_exp(T(-0.5) * x * x);
    return dy * (cdf + x * pdf);
  }
};
// tanh form: u = k0 (x + k1 x^3), d = (1 + tanh u) / 2 + x/2 (1 - tanh^2 u) k0 (1 + 3 k1 x^2)
struct GeluTanhGradOp {
  template <typename T> static T grad(T dy, T x, float, float) {
    const T k0 = T(0.79788456080286535588), k1 = T(0.044715);
    const T t = m_tanh(k0 * (x + k1 * x * x * x));
    return dy * (T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * k0 * (T(1) + T(3) * k1 * x * x));
  }
};
struct HardSigmoidGradOp {
  template <typename T> static T grad(T dy, T x, float alpha, float beta) {
    const T v = static_cast<T>(alpha) * x + static_cast<T>(beta);
    return v > T(0) && v < T(1) ? static_cast<T>(alpha) * dy : T(0);
  }
};
struct HardSwishGradOp {
  template <typename T> static T grad(T dy, T x, float, float) {
    return x < T(-3) ? T(0) : (x <= T(3) ? dy * (x / T(3) + T(0.5)) : dy);
  }
};
struct SoftplusGradOp {
  template <typename T> static T grad(T dy, T x, float, float) { return dy * SigmoidOp::apply(x, 0.0f, 0.0f); }
};
struct EluGradOp {
  template <typename T> static T grad(T dy, T x, float alpha, float) {
    return x > T(0) ? dy : dy * static_cast<T>(alpha) * m_exp(x);
  }
};

// Clip: the gradient passes where lo <= x <= hi (bounds may be null = unbounded).
template <typename T>
void clip_grad(const T* dy, const T* x, const T* lo, const T* hi, T* dx, int32_t n) {
  for (int32_t i = 0; i < n; ++i) dx[i] = (lo && x[i] < *lo) || (hi && x[i] > *hi) ? T(0) : dy[i];
}

// ---- binary with numpy broadcasting ---------------------------------------------------
// Same-shape (or scalar-broadcast) fast path: a_step/b_step are 1 or 0.
template <typename T, typename R, typename Op>
void binary_flat(const T* a, const T* b, R* y, int32_t n, int32_t a_step, int32_t b_step) {
  for (int32_t i = 0; i < n; ++i) y[i] = Op::apply(a[i * a_step], b[i * b_step]);
}

// General case: out_dims (rank r), a_strides/b_strides (0 for broadcast dims).
template <typename T, typename R, typename Op>
void binary(const T* a, const T* b, R* y, int32_t rank, const int32_t* out_dims, const int32_t* a_strides,
            const int32_t* b_strides) {
  const int64_t n = product(out_dims, rank);
  NdIter it(rank, out_dims, 2, a_strides, b_strides);
  for (int64_t i = 0; i < n; ++i, it.next()) y[i] = Op::apply(a[it.off[0]], b[it.off[1]]);
}

// Integer Add/Sub/Mul wrap modulo 2^bits and integer Div truncates, with x / 0 == 0 and
// INT_MIN / -1 == INT_MIN instead of a trap (common.h): numpy's results, never UB.
struct AddOp { template <typename T> static T apply(T a, T b) { return wrap_add(a, b); } };
struct SubOp { template <typename T> static T apply(T a, T b) { return wrap_sub(a, b); } };
struct MulOp { template <typename T> static T apply(T a, T b) { return wrap_mul(a, b); } };
struct DivOp { template <typename T> static T apply(T a, T b) { return wrap_div(a, b); } };
struct PowOp {
  static float apply(float a, float b) { return powf(a, b); }
  static double apply(double a, double b) { return pow(a, b); }
  template <typename T> static T apply(T a, T b) {
    T r = 1;
    for (T i = 0; i < b; ++i) r = wrap_mul(r, a);
    return r;
  }
};
struct MinOp {
  template <typename T> static T apply(T a, T b) {
    if (a != a) return a;  // NaN propagates
    return b < a ? b : a;
  }
};
struct MaxOp {
  template <typename T> static T apply(T a, T b) {
    if (a != a) return a;
    return b > a ? b : a;
  }
};
struct EqualOp { template <typename T> static bool apply(T a, T b) { return a == b; } };
struct LessOp { template <typename T> static bool apply(T a, T b) { return a < b; } };
struct LessOrEqualOp { template <typename T> static bool apply(T a, T b) { return a <= b; } };
struct GreaterOp { template <typename T> static bool apply(T a, T b) { return a > b; } };
struct GreaterOrEqualOp { template <typename T> static bool apply(T a, T b) { return a >= b; } };
struct AndOp { static bool apply(bool a, bool b) { return a && b; } };
struct OrOp { static bool apply(bool a, bool b) { return a || b; } };
struct XorOp { static bool apply(bool a, bool b) { return a != b; } };

// Pow with an exponent of another type (ONNX allows e.g. float base, int64 exponent).
template <typename T, typename E>
void pow_mixed(const T* a, const E* b, T* y, int32_t rank, const int32_t* out_dims, const int32_t* a_strides,
               const int32_t* b_strides) {
  const int64_t n = product(out_dims, rank);
  NdIter it(rank, out_dims, 2, a_strides, b_strides);
  for (int64_t i = 0; i < n; ++i, it.next())
    y[i] = static_cast<T>(pow(static_cast<double>(a[it.off[0]]), static_cast<double>(b[it.off[1]])));
}

// ---- Where(cond, x, y) -----------------------------------------------------------------
template <typename T>
void where(const bool* c, const T* x, const T* y, T* out, int32_t rank, const int32_t* out_dims,
           const int32_t* c_strides, const int32_t* x_strides, const int32_t* y_strides) {
  const int64_t n = product(out_dims, rank);
  NdIter it(rank, out_dims, 3, c_strides, x_strides, y_strides);
  for (int64_t i = 0; i < n; ++i, it.next()) out[i] = c[it.off[0]] ? x[it.off[1]] : y[it.off[2]];
}

// ---- Clip(x, min?, max?): bounds are read at run time (null = unbounded) ---------------
template <typename T>
void clip(const T* x, const T* lo, const T* hi, T* y, int32_t n) {
  for (int32_t i = 0; i < n; ++i) {
    T v = x[i];
    if (lo && v < *lo) v = *lo;
    if (hi && v > *hi) v = *hi;
    y[i] = v;
  }
}

}  // namespace ref
}  // namespace tinyodlc

namespace tinyodlc {
namespace ref {

// ---- variadic Sum/Mean/Min/Max with broadcasting ----------------------------------------
// strides: n_in rows of `rank` strides. Mean passes divide=true.
template <typename T, typename Op>
void nary(const T* const* ins, int32_t n_in, T* y, int32_t rank, const int32_t* out_dims, const int32_t* strides,
          bool divide) {
  const int64_t n = product(out_dims, rank);
  for (int32_t k = 0; k < n_in; ++k) {
    NdIter it(rank, out_dims, 1, strides + k * rank);
    const T* x = ins[k];
    for (int64_t i = 0; i < n; ++i, it.next()) y[i] = k == 0 ? x[it.off[0]] : Op::apply(y[i], x[it.off[0]]);
  }
  if (divide)
    for (int64_t i = 0; i < n; ++i) y[i] = static_cast<T>(y[i] / static_cast<T>(n_in));
}

}  // namespace ref
}  // namespace tinyodlc
