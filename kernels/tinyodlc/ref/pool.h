// Pooling reference kernels: MaxPool (optional argmax Indices), AveragePool,
// GlobalMaxPool, GlobalAveragePool. 1-D/2-D/3-D via the 3-D geometry of nn_common.h.
//
// A window of output o covers input coordinates o*stride - pad_begin + k*dilation,
// k < kernel. MaxPool ignores taps outside the input; AveragePool divides by the number of
// taps inside the input (count_include_pad = 0) or inside the padded input
// [-pad_begin, size + pad_end) (count_include_pad = 1).
#pragma once

#include <limits>

#include "tinyodlc/ref/nn_common.h"

namespace tinyodlc {
namespace ref {

// x: [nc planes of in_sp], y and indices (may be null): [nc planes of out_sp].
// indices are flat positions in x (incl. the plane offset); storage_order = 1 numbers the
// spatial position column-major (first spatial dim fastest) instead of row-major.
template <typename T>
void max_pool(const T* x, T* y, int64_t* indices, int32_t nc, const int32_t* in_sp, const int32_t* k_sp,
              const int32_t* out_sp, const int32_t* strides, const int32_t* dilations, const int32_t* pads,
              int32_t storage_order) {
  const int64_t in_plane = static_cast<int64_t>(in_sp[0]) * in_sp[1] * in_sp[2];
  const int64_t out_plane = static_cast<int64_t>(out_sp[0]) * out_sp[1] * out_sp[2];
  for (int32_t p = 0; p < nc; ++p) {
    const T* xp = x + p * in_plane;
    T* yp = y + p * out_plane;
    int64_t* ip = indices ? indices + p * out_plane : nullptr;
    for_each_window(out_sp, k_sp, strides, dilations, pads, in_sp, [&](const Window& win) {
      T best = std::numeric_limits<T>::lowest();
      int64_t at = -1;
      for_each_tap(win, k_sp, dilations, in_sp, [&](int64_t, int64_t i) {
        const T v = xp[i];
        if ((at < 0 || v > best) && (at >= 0 || v == v)) {  // first maximum wins; NaN never replaces a number
          best = v;
          at = i;
        }
      });
      yp[win.pos] = best;
      if (ip) {
        if (at < 0) at = 0;
        int64_t pos = at;
        if (storage_order) {  // column-major numbering of (d, h, w)
          const int64_t iw = at % in_sp[2], ih = (at / in_sp[2]) % in_sp[1], id = at / (static_cast<int64_t>(in_sp[2]) * in_sp[1]);
          pos = id + (ih + iw * in_sp[1]) * in_sp[0];
        }
        ip[win.pos] = p * in_plane + pos;
      }
    });
  }
}

// The windows of an average pool, shared by avg_pool and avg_pool_grad: for every plane p and
// output position o (flat within the plane), visit(p, o, count, taps) where count is the divisor
// (window taps inside the input, or inside input + pads with count_include_pad) and taps(g)
// calls g(i) for the flat in-plane index i of every window tap inside the input, in order
// (kd, kh, kw). pads: 6 entries (begin D, H, W, end D, H, W).
template <typename F>
void avg_pool_windows(int32_t nc, const int32_t* in_sp, const int32_t* k_sp, const int32_t* out_sp,
                      const int32_t* strides, const int32_t* dilations, const int32_t* pads, bool count_include_pad,
                      F visit) {
  for (int32_t p = 0; p < nc; ++p) {
    for_each_window(out_sp, k_sp, strides, dilations, pads, in_sp, [&](const Window& win) {
      int64_t count = tap_count(win);
      if (count_include_pad) {  // taps inside [-pad_begin, size + pad_end)
        count = 1;
        for (int i = 0; i < 3; ++i) {
          int32_t lo, hi;
          window_taps(win.start[i] + pads[i], k_sp[i], dilations[i], in_sp[i] + pads[i] + pads[i + 3], &lo, &hi);
          count *= hi - lo;
        }
      }
      auto taps = [&](auto g) { for_each_tap(win, k_sp, dilations, in_sp, [&](int64_t, int64_t i) { g(i); }); };
      visit(p, win.pos, count, taps);
    });
  }
}

// pads: 6 entries (begin D, H, W, end D, H, W).
template <typename T>
void avg_pool(const T* x, T* y, int32_t nc, const int32_t* in_sp, const int32_t* k_sp, const int32_t* out_sp,
              const int32_t* strides, const int32_t* dilations, const int32_t* pads, bool count_include_pad) {
  const int64_t in_plane = static_cast<int64_t>(in_sp[0]) * in_sp[1] * in_sp[2];
  const int64_t out_plane = static_cast<int64_t>(out_sp[0]) * out_sp[1] * out_sp[2];
  avg_pool_windows(nc, in_sp, k_sp, out_sp, strides, dilations, pads, count_include_pad,
                   [&](int32_t p, int64_t o, int64_t count, auto taps) {
                     const T* xp = x + p * in_plane;
                     T sum = T(0);
                     taps([&](int64_t i) { sum += xp[i]; });
                     y[p * out_plane + o] = count > 0 ? sum / static_cast<T>(count) : std::numeric_limits<T>::quiet_NaN();
                   });
}

// x: [nc planes of `size` elements], y: [nc].
template <typename T>
void global_max_pool(const T* x, T* y, int32_t nc, int32_t size) {
  for (int32_t p = 0; p < nc; ++p) {
    const T* xp = x + static_cast<int64_t>(p) * size;
    T best = size > 0 ? xp[0] : std::numeric_limits<T>::lowest();
    for (int32_t i = 1; i < size; ++i)
      if (xp[i] > best || best != best) best = xp[i];
    y[p] = best;
  }
}

template <typename T>
void global_avg_pool(const T* x, T* y, int32_t nc, int32_t size) {
  for (int32_t p = 0; p < nc; ++p) {
    const T* xp = x + static_cast<int64_t>(p) * size;
    T sum = T(0);
    for (int32_t i = 0; i < size; ++i) sum += xp[i];
    y[p] = size > 0 ? sum / static_cast<T>(size) : std::numeric_limits<T>::quiet_NaN();
  }
}

// ---- gradients (on-device learning) -------------------------------------------------------
// max_pool_grad: dx = 0, then each output's dy goes to its window's maximum, recomputed from
// the saved input with the forward scan order and comparison (the first maximum wins on
// ties, as PyTorch). Windows without a tap inside the input contribute nothing.
template <typename T>
void max_pool_grad(const T* dy, const T* x, T* dx, int32_t nc, const int32_t* in_sp, const int32_t* k_sp,
                   const int32_t* out_sp, const int32_t* strides, const int32_t* dilations, const int32_t* pads) {
  const int64_t in_plane = static_cast<int64_t>(in_sp[0]) * in_sp[1] * in_sp[2];
  const int64_t out_plane = static_cast<int64_t>(out_sp[0]) * out_sp[1] * out_sp[2];
  for (int64_t i = 0; i < static_cast<int64_t>(nc) * in_plane; ++i) dx[i] = T(0);
  for (int32_t p = 0; p < nc; ++p) {
    const T* xp = x + p * in_plane;
    T* dxp = dx + p * in_plane;
    const T* dyp = dy + p * out_plane;
    for_each_window(out_sp, k_sp, strides, dilations, pads, in_sp, [&](const Window& win) {
      T best = std::numeric_limits<T>::lowest();
      int64_t at = -1;
      for_each_tap(win, k_sp, dilations, in_sp, [&](int64_t, int64_t i) {
        const T v = xp[i];
        if ((at < 0 || v > best) && (at >= 0 || v == v)) {  // as max_pool
          best = v;
          at = i;
        }
      });
      if (at >= 0) dxp[at] += dyp[win.pos];
    });
  }
}

// avg_pool_grad: dx = 0, then each output's dy / count is added to the taps of its window
// inside the input (the windows and counts of avg_pool).
template <typename T>
void avg_pool_grad(const T* dy, T* dx, int32_t nc, const int32_t* in_sp, const int32_t* k_sp, const int32_t* out_sp,
                   const int32_t* strides, const int32_t* dilations, const int32_t* pads, bool count_include_pad) {
  const int64_t in_plane = static_cast<int64_t>(in_sp[0]) * in_sp[1] * in_sp[2];
  const int64_t out_plane = static_cast<int64_t>(out_sp[0]) * out_sp[1] * out_sp[2];
  for (int64_t i = 0; i < static_cast<int64_t>(nc) * in_plane; ++i) dx[i] = T(0);
  avg_pool_windows(nc, in_sp, k_sp, out_sp, strides, dilations, pads, count_include_pad,
                   [&](int32_t p, int64_t o, int64_t count, auto taps) {
                     if (count <= 0) return;
                     T* dxp = dx + p * in_plane;
                     const T g = dy[p * out_plane + o] / static_cast<T>(count);
                     taps([&](int64_t i) { dxp[i] += g; });
                   });
}

// dy: [nc], dx: [nc planes of `size`]; the gradient goes to the first maximum (as
// global_max_pool).
template <typename T>
void global_max_pool_grad(const T* dy, const T* x, T* dx, int32_t nc, int32_t size) {
  for (int32_t p = 0; p < nc; ++p) {
    const T* xp = x + static_cast<int64_t>(p) * size;
    T* dxp = dx + static_cast<int64_t>(p) * size;
    int32_t at = 0;
    for (int32_t i = 0; i < size; ++i) {
      dxp[i] = T(0);
      if (i > 0 && (xp[i] > xp[at] || xp[at] != xp[at])) at = i;
    }
    if (size > 0) dxp[at] = dy[p];
  }
}

template <typename T>
void global_avg_pool_grad(const T* dy, T* dx, int32_t nc, int32_t size) {
  for (int32_t p = 0; p < nc; ++p) {
    const T g = size > 0 ? dy[p] / static_cast<T>(size) : T(0);
    T* dxp = dx + static_cast<int64_t>(p) * size;
    for (int32_t i = 0; i < size; ++i) dxp[i] = g;
  }
}

}  // namespace ref
}  // namespace tinyodlc
