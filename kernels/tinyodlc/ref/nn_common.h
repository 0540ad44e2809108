// Helpers shared by the sliding-window reference kernels (Conv, ConvTranspose, pooling).
//
// Geometry convention: these kernels always see three spatial dims (D, H, W). The compiler
// passes 1-D and 2-D ops with leading size-1 dims (input 1, kernel 1, stride 1,
// dilation 1, pad 0), so one loop nest serves every spatial rank; the extra loops run once.
#pragma once

#include <math.h>

#include "tinyodlc/ref/common.h"

namespace tinyodlc {
namespace ref {

// Taps [*lo, *hi) of a kernel with `k` taps at dilation `d`, whose first tap sits at
// coordinate `start`, that land inside [0, size). Empty (lo == hi) if none does.
inline void window_taps(int32_t start, int32_t k, int32_t d, int32_t size, int32_t* lo, int32_t* hi) {
  int32_t a, b;
  if (d == 1) {  // common case, without divisions
    a = start < 0 ? -start : 0;
    b = start >= size ? 0 : size - start;
  } else {
    a = start < 0 ? (-start + d - 1) / d : 0;
    b = start >= size ? 0 : (size - start + d - 1) / d;
  }
  if (b > k) b = k;
  if (a > b) a = b;
  *lo = a;
  *hi = b;
}

// Math functions overloaded on float (the f-suffixed libm functions, so float kernels stay
// bit-identical to their float-only forms) and double (used by the double-precision
// gradient checks on the host).
inline float m_exp(float x) { return expf(x); }
inline double m_exp(double x) { return exp(x); }
inline float m_log(float x) { return logf(x); }
inline double m_log(double x) { return log(x); }
inline float m_sqrt(float x) { return sqrtf(x); }
inline double m_sqrt(double x) { return sqrt(x); }
inline float m_erf(float x) { return erff(x); }
inline double m_erf(double x) { return erf(x); }
inline float m_tanh(float x) { return tanhf(x); }
inline double m_tanh(double x) { return tanh(x); }
inline float m_log1p(float x) { return log1pf(x); }
inline double m_log1p(double x) { return log1p(x); }

// Multiply-accumulate acc + a * b. Floating types use plain arithmetic; integer types wrap
// modulo 2^bits (computed in uint64_t) so that overflow is never undefined behaviour.
template <typename T>
inline T mul_add(T acc, T a, T b) {
  if constexpr (static_cast<T>(0.5) != 0) {
    return acc + a * b;
  } else {
    return static_cast<T>(static_cast<uint64_t>(acc) + static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
  }
}


}  // namespace ref
}  // namespace tinyodlc
