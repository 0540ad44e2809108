// Generator and conversion reference kernels: ConstantOfShape (fill), Range, Cast/CastLike.
#pragma once

#include <limits>
#include <type_traits>

#include "tinyodlc/ref/common.h"

namespace tinyodlc {
namespace ref {

// ConstantOfShape: y[i] = value.
template <typename T>
void fill(T* y, int32_t n, T value) {
  for (int32_t i = 0; i < n; ++i) y[i] = value;
}

// Range: y[i] = start + i * delta, i < n (n = max(ceil((limit - start) / delta), 0) is known at
// compile time). Every value lies between start and limit, but the product i * delta alone may
// not fit (start = INT64_MIN, delta = 2^45): integers are computed modulo 2^64 (wrap_*), which
// gives the exact value because the result fits in T.
template <typename T>
void range(const T* start, const T* delta, T* y, int32_t n) {
  const T s = *start, d = *delta;
  for (int32_t i = 0; i < n; ++i) {
    if constexpr (std::is_floating_point_v<T>) y[i] = s + static_cast<T>(i) * d;
    else y[i] = static_cast<T>(static_cast<uint64_t>(s) + static_cast<uint64_t>(i) * static_cast<uint64_t>(d));
  }
}

// Element conversion with the semantics of Cast:
//   - to bool: x != 0 (NaN -> true);
//   - floating -> integer: truncation toward zero; NaN -> 0 and out-of-range values saturate
//     (ONNX leaves them undefined; saturating avoids undefined behaviour);
//   - everything else: static_cast (integer narrowing wraps; double -> float rounds).
template <typename D, typename S>
D convert(S x) {
  if constexpr (std::is_same_v<D, bool>) {
    return x != S(0);
  } else if constexpr (std::is_floating_point_v<S> && std::is_integral_v<D>) {
    if (x != x) return D(0);
    constexpr int kDigits = std::numeric_limits<D>::digits;  // 7, 8, 15, 16, 31, 32, 63, 64
    const S hi = static_cast<S>(static_cast<uint64_t>(1) << (kDigits - 1)) * S(2);  // 2^digits, exact
    if (x >= hi) return std::numeric_limits<D>::max();
    if constexpr (std::is_signed_v<D>) {
      if (x <= -hi) return std::numeric_limits<D>::min();
    } else {
      if (x <= S(-1)) return D(0);
    }
    return static_cast<D>(x);
  } else {
    return static_cast<D>(x);
  }
}

// Cast / CastLike: y[i] = convert<D>(x[i]).
template <typename S, typename D>
void cast(const S* x, D* y, int32_t n) {
  for (int32_t i = 0; i < n; ++i) y[i] = convert<D, S>(x[i]);
}

}  // namespace ref
}  // namespace tinyodlc
