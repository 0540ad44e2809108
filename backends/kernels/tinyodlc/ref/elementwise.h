// Elementwise reference kernels: unary maps, numpy-broadcasting binary ops, Where, Clip.
// The per-element functions are small functors (AddOp, ReluOp, ...) so that one loop
// serves every op and the compiler names the instantiation in the generated code.
#pragma once

#include <math.h>

#include "tinyodlc/ref/common.h"

namespace tinyodlc {
namespace ref {

// ---- unary: y[i] = Op::apply(x[i], p0, p1) ---------------------------------------------
template <typename T, typename R, typename Op>
void unary(const T* x, R* y, int32_t n, float p0, float p1) {
  for (int32_t i = 0; i < n; ++i) y[i] = Op::apply(x[i], p0, p1);
}

struct ReluOp { template <typename T> static T apply(T x, float, float) { return x > T(0) ? x : T(0); } };
struct NegOp { template <typename T> static T apply(T x, float, float) { return static_cast<T>(-x); } };
struct AbsOp { template <typename T> static T apply(T x, float, float) { return x < T(0) ? static_cast<T>(-x) : x; } };
struct SqrtOp { static float apply(float x, float, float) { return sqrtf(x); } };
struct ExpOp { static float apply(float x, float, float) { return expf(x); } };
struct LogOp { static float apply(float x, float, float) { return logf(x); } };
struct ErfOp { static float apply(float x, float, float) { return erff(x); } };
struct TanhOp { static float apply(float x, float, float) { return tanhf(x); } };
struct SigmoidOp {
  static float apply(float x, float, float) {
    // Evaluated so that neither branch overflows.
    if (x >= 0) return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
  }
};
struct LeakyReluOp { static float apply(float x, float alpha, float) { return x >= 0 ? x : alpha * x; } };
struct HardSigmoidOp {
  static float apply(float x, float alpha, float beta) {
    float v = alpha * x + beta;
    return v < 0 ? 0.0f : (v > 1 ? 1.0f : v);
  }
};
struct HardSwishOp {
  static float apply(float x, float, float) {
    float v = x / 6.0f + 0.5f;
    v = v < 0 ? 0.0f : (v > 1 ? 1.0f : v);
    return x * v;
  }
};
struct GeluErfOp {
  static float apply(float x, float, float) { return 0.5f * x * (1.0f + erff(x * 0.70710678118654752440f)); }
};
struct GeluTanhOp {
  static float apply(float x, float, float) {
    return 0.5f * x * (1.0f + tanhf(0.79788456080286535588f * (x + 0.044715f * x * x * x)));
  }
};
struct ReciprocalOp { static float apply(float x, float, float) { return 1.0f / x; } };
struct CeilOp { static float apply(float x, float, float) { return ceilf(x); } };
struct FloorOp { static float apply(float x, float, float) { return floorf(x); } };
// Round half to even (the default floating-point rounding mode).
struct RoundOp { static float apply(float x, float, float) { return rintf(x); } };
struct SoftplusOp {
  static float apply(float x, float, float) { return x > 0 ? x + log1pf(expf(-x)) : log1pf(expf(x)); }
};
struct EluOp { static float apply(float x, float alpha, float) { return x >= 0 ? x : alpha * (expf(x) - 1.0f); } };
// Predicates with a bool result (used with unary<float, bool, Op>).
struct IsNaNOp { template <typename T> static bool apply(T x, float, float) { return x != x; } };
// p0 != 0: detect -inf; p1 != 0: detect +inf.
struct IsInfOp {
  template <typename T> static bool apply(T x, float neg, float pos) {
    return (x == static_cast<T>(INFINITY) && pos != 0.0f) || (x == -static_cast<T>(INFINITY) && neg != 0.0f);
  }
};
struct NotOp { static bool apply(bool x, float, float) { return !x; } };

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

struct AddOp { template <typename T> static T apply(T a, T b) { return static_cast<T>(a + b); } };
struct SubOp { template <typename T> static T apply(T a, T b) { return static_cast<T>(a - b); } };
struct MulOp { template <typename T> static T apply(T a, T b) { return static_cast<T>(a * b); } };
struct DivOp {
  template <typename T> static T apply(T a, T b) {
    // Integer division by zero is undefined in ONNX; yield 0 instead of trapping.
    if (static_cast<T>(0.5) == 0 && b == 0) return 0;
    return static_cast<T>(a / b);
  }
};
struct PowOp {
  static float apply(float a, float b) { return powf(a, b); }
  static double apply(double a, double b) { return pow(a, b); }
  template <typename T> static T apply(T a, T b) {
    T r = 1;
    for (T i = 0; i < b; ++i) r = static_cast<T>(r * a);
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
