// Optimized MaxPool (issue 16, docs/performance.md): same parameters as tinyodlc::ref::max_pool<T>
// and the same result to the last bit, with the window and strides as template parameters.
// Every output scans its window's taps inside the input in the reference's order with the
// reference's comparisons (the first non-NaN tap starts the maximum, later taps replace it only
// if greater: for floats the first of equal values, e.g. +0 before -0, wins), so the result is
// identical for every type. Interior windows are fully unrolled; border windows loop over the
// taps inside the input. Indices output, 3-D or dilation: the reference kernel.
#pragma once

#include "tinyodlc/ref/pool.h"

namespace tinyodlc {
namespace opt {
namespace pool_detail {

// The reference's update rule: `has` = a non-NaN tap was seen.
template <typename T>
inline void take(T v, T& best, bool& has) {
  if (!has) {
    if (v == v) {
      best = v;
      has = true;
    }
  } else if (v > best) {
    best = v;
  }
}

}  // namespace pool_detail

template <typename T, int KH, int KW, int SH, int SW>
void max_pool_2d(const T* x, T* y, int64_t* indices, int32_t nc, const int32_t* in_sp, const int32_t* k_sp,
                 const int32_t* out_sp, const int32_t* strides, const int32_t* dilations, const int32_t* pads,
                 int32_t storage_order) {
  if (indices || in_sp[0] != 1 || out_sp[0] != 1 || k_sp[0] != 1 || k_sp[1] != KH || k_sp[2] != KW ||
      strides[1] != SH || strides[2] != SW || dilations[1] != 1 || dilations[2] != 1 || pads[0] != 0) {
    ref::max_pool<T>(x, y, indices, nc, in_sp, k_sp, out_sp, strides, dilations, pads, storage_order);
    return;
  }
  const int32_t IH = in_sp[1], IW = in_sp[2], OH = out_sp[1], OW = out_sp[2];
  const int32_t ph = pads[1], pw = pads[2];
  const int32_t in_plane = IH * IW;
  // Interior columns [ow_lo, ow_hi): every tap inside the row.
  int32_t ow_lo = 0, ow_hi = 0;
  while (ow_lo < OW && ow_lo * SW - pw < 0) ++ow_lo;
  ow_hi = ow_lo;
  while (ow_hi < OW && ow_hi * SW - pw + KW <= IW) ++ow_hi;
  for (int32_t p = 0; p < nc; ++p, x += in_plane) {
    for (int32_t oh = 0; oh < OH; ++oh) {
      const int32_t ih0 = oh * SH - ph;
      int32_t kh0, kh1;
      ref::window_taps(ih0, KH, 1, IH, &kh0, &kh1);
      const bool full_h = kh0 == 0 && kh1 == KH;
      for (int32_t ow = 0; ow < OW; ++ow, ++y) {
        const int32_t iw0 = ow * SW - pw;
        T best = std::numeric_limits<T>::lowest();
        bool has = false;
        if (full_h && ow >= ow_lo && ow < ow_hi) {
          const T* xr = x + ih0 * IW + iw0;
#pragma GCC unroll 16
          for (int kh = 0; kh < KH; ++kh)
#pragma GCC unroll 16
            for (int kw = 0; kw < KW; ++kw) pool_detail::take(xr[kh * IW + kw], best, has);
        } else {
          int32_t kw0, kw1;
          ref::window_taps(iw0, KW, 1, IW, &kw0, &kw1);
          for (int32_t kh = kh0; kh < kh1; ++kh) {
            const T* xr = x + (ih0 + kh) * IW;
            for (int32_t kw = kw0; kw < kw1; ++kw) pool_detail::take(xr[iw0 + kw], best, has);
          }
        }
        *y = best;
      }
    }
  }
}

}  // namespace opt
}  // namespace tinyodlc
