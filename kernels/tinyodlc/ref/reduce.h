// Reduction reference kernels: Reduce{Sum,Mean,Max,Min,Prod,L1,L2,SumSquare,LogSum,LogSumExp},
// ArgMax, ArgMin.
//
// A reduction is described by the input dims and, for each input dim, the stride of the
// output (keepdims layout) along it, 0 for reduced dims: input element i accumulates into
// y[sum_d i_d * out_strides[d]]. Reducing over no axis (noop_with_empty_axes) is the same
// loop with every stride non-zero: each element is its own reduction set.
// Integer arithmetic wraps (computed in unsigned types) instead of overflowing.
#pragma once

#include <math.h>

#include <limits>
#include <type_traits>

#include "tinyodlc/ref/common.h"

namespace tinyodlc {
namespace ref {

namespace detail {
template <typename T> struct WrapType { using type = T; };
template <> struct WrapType<int8_t> { using type = uint32_t; };
template <> struct WrapType<uint8_t> { using type = uint32_t; };
template <> struct WrapType<int16_t> { using type = uint32_t; };
template <> struct WrapType<uint16_t> { using type = uint32_t; };
template <> struct WrapType<int32_t> { using type = uint32_t; };
template <> struct WrapType<uint32_t> { using type = uint32_t; };
template <> struct WrapType<int64_t> { using type = uint64_t; };
template <> struct WrapType<uint64_t> { using type = uint64_t; };

template <typename T> T add(T a, T b) {
  using U = typename WrapType<T>::type;
  return static_cast<T>(static_cast<U>(static_cast<U>(a) + static_cast<U>(b)));
}
template <typename T> T mul(T a, T b) {
  using U = typename WrapType<T>::type;
  return static_cast<T>(static_cast<U>(static_cast<U>(a) * static_cast<U>(b)));
}
template <typename T> bool is_nan(T x) {
  if constexpr (std::is_floating_point_v<T>) return x != x;
  else return false;
}
template <typename T> T abs_of(T x) {
  if constexpr (std::is_signed_v<T>) return wrap_abs(x);  // |INT_MIN| wraps to INT_MIN, as numpy
  else return x;
}
inline float sqrt_of(float x) { return sqrtf(x); }
inline double sqrt_of(double x) { return sqrt(x); }
inline float log_of(float x) { return logf(x); }
inline double log_of(double x) { return log(x); }
inline float exp_of(float x) { return expf(x); }
inline double exp_of(double x) { return exp(x); }
}  // namespace detail

// Reduction functors: init() is the value of the empty reduction, step() accumulates one
// element, finish() maps the accumulator of `count` elements to the result.
struct ReduceSumOp {
  template <typename T> static T init() { return T(0); }
  template <typename T> static T step(T acc, T x) { return detail::add(acc, x); }
  template <typename T> static T finish(T acc, int32_t) { return acc; }
};
struct ReduceMeanOp {
  template <typename T> static T init() { return T(0); }
  template <typename T> static T step(T acc, T x) { return detail::add(acc, x); }
  template <typename T> static T finish(T acc, int32_t count) {
    if constexpr (std::is_floating_point_v<T>) return acc / static_cast<T>(count);  // 0/0 = NaN for empty sets
    else if constexpr (std::is_signed_v<T>) return count > 0 ? static_cast<T>(static_cast<int64_t>(acc) / count) : acc;
    else return count > 0 ? static_cast<T>(static_cast<uint64_t>(acc) / static_cast<uint64_t>(count)) : acc;
  }
};
struct ReduceProdOp {
  template <typename T> static T init() { return T(1); }
  template <typename T> static T step(T acc, T x) { return detail::mul(acc, x); }
  template <typename T> static T finish(T acc, int32_t) { return acc; }
};
struct ReduceMaxOp {  // -inf (lowest value) for empty sets; NaN propagates; bool: any
  template <typename T> static T init() {
    if constexpr (std::is_same_v<T, bool>) return false;
    else if constexpr (std::numeric_limits<T>::has_infinity) return -std::numeric_limits<T>::infinity();
    else return std::numeric_limits<T>::lowest();
  }
  template <typename T> static T step(T acc, T x) { return (x > acc || detail::is_nan(x)) ? x : acc; }
  template <typename T> static T finish(T acc, int32_t) { return acc; }
};
struct ReduceMinOp {  // +inf (max value) for empty sets; NaN propagates; bool: all
  template <typename T> static T init() {
    if constexpr (std::is_same_v<T, bool>) return true;
    else if constexpr (std::numeric_limits<T>::has_infinity) return std::numeric_limits<T>::infinity();
    else return std::numeric_limits<T>::max();
  }
  template <typename T> static T step(T acc, T x) { return (x < acc || detail::is_nan(x)) ? x : acc; }
  template <typename T> static T finish(T acc, int32_t) { return acc; }
};
struct ReduceL1Op {
  template <typename T> static T init() { return T(0); }
  template <typename T> static T step(T acc, T x) { return detail::add(acc, detail::abs_of(x)); }
  template <typename T> static T finish(T acc, int32_t) { return acc; }
};
struct ReduceSumSquareOp {
  template <typename T> static T init() { return T(0); }
  template <typename T> static T step(T acc, T x) { return detail::add(acc, detail::mul(x, x)); }
  template <typename T> static T finish(T acc, int32_t) { return acc; }
};
struct ReduceL2Op {  // floating-point types only
  template <typename T> static T init() { return T(0); }
  template <typename T> static T step(T acc, T x) { return acc + x * x; }
  template <typename T> static T finish(T acc, int32_t) { return detail::sqrt_of(acc); }
};
struct ReduceLogSumOp {  // floating-point types only; log(0) = -inf for empty sets
  template <typename T> static T init() { return T(0); }
  template <typename T> static T step(T acc, T x) { return acc + x; }
  template <typename T> static T finish(T acc, int32_t) { return detail::log_of(acc); }
};

// x: in_dims[rank]; y: out_n elements; out_strides[d]: stride of y along input dim d (0 =
// reduced); count: number of elements per reduction set.
template <typename T, typename Op>
void reduce(const T* x, T* y, int32_t rank, const int32_t* in_dims, const int32_t* out_strides, int32_t out_n,
            int32_t count) {
  for (int32_t i = 0; i < out_n; ++i) y[i] = Op::template init<T>();
  if (rank == 0) {
    y[0] = Op::step(y[0], x[0]);
  } else {
    const int64_t n = product(in_dims, rank);
    const int32_t inner = in_dims[rank - 1];
    if (n > 0) {
      const int64_t s = out_strides[rank - 1];
      const int64_t rows = n / inner;
      NdIter it(rank - 1, in_dims, 1, out_strides);
      int64_t k = 0;
      for (int64_t r = 0; r < rows; ++r, it.next()) {
        T* dst = y + it.off[0];
        if (s == 0) {
          T acc = *dst;
          for (int32_t j = 0; j < inner; ++j) acc = Op::step(acc, x[k++]);
          *dst = acc;
        } else {
          for (int32_t j = 0; j < inner; ++j) dst[j * s] = Op::step(dst[j * s], x[k++]);
        }
      }
    }
  }
  for (int32_t i = 0; i < out_n; ++i) y[i] = Op::finish(y[i], count);
}

// log(sum(exp(x))), computed as m + log(sum(exp(x - m))) with m the maximum, so that large
// inputs do not overflow. `scratch` holds out_n partial sums. Floating-point types only.
template <typename T>
void reduce_log_sum_exp(const T* x, T* y, T* scratch, int32_t rank, const int32_t* in_dims,
                        const int32_t* out_strides, int32_t out_n) {
  reduce<T, ReduceMaxOp>(x, y, rank, in_dims, out_strides, out_n, 0);
  for (int32_t i = 0; i < out_n; ++i) scratch[i] = T(0);
  const int64_t n = product(in_dims, rank);
  NdIter it(rank, in_dims, 1, out_strides);
  for (int64_t i = 0; i < n; ++i, it.next()) {
    const T m = y[it.off[0]];
    if (m - m == T(0)) scratch[it.off[0]] += detail::exp_of(x[i] - m);  // m finite
  }
  for (int32_t i = 0; i < out_n; ++i) {
    const T m = y[i];
    if (m - m == T(0)) y[i] = m + detail::log_of(scratch[i]);  // else: +-inf or NaN stays
  }
}

// ---- ArgMax / ArgMin -----------------------------------------------------------------------
// x viewed as [outer, axis_dim, inner] (axis_dim >= 1); y = [outer, inner] indices along the
// middle axis of the first (or, with select_last, the last) extreme value.
template <typename T, bool kMax>
void arg_extreme(const T* x, int64_t* y, int32_t outer, int32_t axis_dim, int32_t inner, bool select_last) {
  for (int32_t o = 0; o < outer; ++o) {
    const T* base = x + static_cast<int64_t>(o) * axis_dim * inner;
    for (int32_t i = 0; i < inner; ++i) {
      T best = base[i];
      int32_t bi = 0;
      for (int32_t a = 1; a < axis_dim; ++a) {
        const T v = base[static_cast<int64_t>(a) * inner + i];
        const bool better = kMax ? (v > best) : (v < best);
        if (better || (select_last && v == best)) {
          best = v;
          bi = a;
        }
      }
      y[static_cast<int64_t>(o) * inner + i] = bi;
    }
  }
}

template <typename T>
void arg_max(const T* x, int64_t* y, int32_t outer, int32_t axis_dim, int32_t inner, bool select_last) {
  arg_extreme<T, true>(x, y, outer, axis_dim, inner, select_last);
}
template <typename T>
void arg_min(const T* x, int64_t* y, int32_t outer, int32_t axis_dim, int32_t inner, bool select_last) {
  arg_extreme<T, false>(x, y, outer, axis_dim, inner, select_last);
}

}  // namespace ref
}  // namespace tinyodlc
