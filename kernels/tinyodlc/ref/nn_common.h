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

// The one sliding-window walk of the reference kernels (Conv, ConvTranspose, pooling, their
// gradients, the integer convs). For every position of a 3-D `grid` (row-major), a window of
// taps[0] x taps[1] x taps[2] taps: tap t of dim i lands on start[i] + t * dilation[i], with
// start[i] = position[i] * stride[i] - pad[i]; the taps [lo[i], hi[i]) land inside [0, bound[i]).
//   Conv / pooling:   grid = output, taps = kernel, bound = input;
//   ConvTranspose:    grid = input,  taps = kernel, bound = output (a scatter);
//   Conv weight grad: grid = kernel, taps = output, stride/dilation exchanged, bound = input.
struct Window {
  int64_t pos;           // flat row-major index of the grid position
  int32_t start[3];      // coordinate of tap 0, per dim (D, H, W)
  int32_t lo[3], hi[3];  // taps inside the bound, per dim
};

template <typename F>
inline void for_each_window(const int32_t* grid, const int32_t* taps, const int32_t* stride, const int32_t* dilation,
                            const int32_t* pad, const int32_t* bound, F&& visit) {
  Window w{};
  for (int32_t d = 0; d < grid[0]; ++d) {
    w.start[0] = d * stride[0] - pad[0];
    window_taps(w.start[0], taps[0], dilation[0], bound[0], &w.lo[0], &w.hi[0]);
    for (int32_t h = 0; h < grid[1]; ++h) {
      w.start[1] = h * stride[1] - pad[1];
      window_taps(w.start[1], taps[1], dilation[1], bound[1], &w.lo[1], &w.hi[1]);
      for (int32_t x = 0; x < grid[2]; ++x) {
        w.start[2] = x * stride[2] - pad[2];
        window_taps(w.start[2], taps[2], dilation[2], bound[2], &w.lo[2], &w.hi[2]);
        visit(static_cast<const Window&>(w));
        ++w.pos;
      }
    }
  }
}

// The taps of a window that land inside the bound, in order (d, h, w): g(tap, at) with `tap`
// the flat index of the tap in the taps[0] x taps[1] x taps[2] kernel and `at` the flat index
// of the coordinate it lands on in the bound grid.
template <typename G>
inline void for_each_tap(const Window& w, const int32_t* taps, const int32_t* dilation, const int32_t* bound, G&& g) {
  for (int32_t kd = w.lo[0]; kd < w.hi[0]; ++kd) {
    const int32_t id = w.start[0] + kd * dilation[0];
    for (int32_t kh = w.lo[1]; kh < w.hi[1]; ++kh) {
      const int32_t ih = w.start[1] + kh * dilation[1];
      // Offsets stay integers: row + kw * dilation >= 0 for every tap in [lo, hi).
      const int64_t row = (static_cast<int64_t>(id) * bound[1] + ih) * bound[2] + w.start[2];
      const int64_t krow = (static_cast<int64_t>(kd) * taps[1] + kh) * taps[2];
      for (int32_t kw = w.lo[2]; kw < w.hi[2]; ++kw) g(krow + kw, row + static_cast<int64_t>(kw) * dilation[2]);
    }
  }
}

// Number of taps of a window inside the bound.
inline int64_t tap_count(const Window& w) {
  return static_cast<int64_t>(w.hi[0] - w.lo[0]) * (w.hi[1] - w.lo[1]) * (w.hi[2] - w.lo[2]);
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
