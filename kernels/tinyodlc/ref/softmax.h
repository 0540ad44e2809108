// Softmax and LogSoftmax along one axis, numerically stable (the maximum is subtracted).
// The compiler views the input as [outer, n, inner] with the reduced axis in the middle
// (opset >= 13: one axis; opset < 13: the input coerced to 2-D at `axis`, i.e. inner = 1).
#pragma once

#include "tinyodlc/ref/nn_common.h"

namespace tinyodlc {
namespace ref {

//   softmax:     y = exp(x - max) / sum(exp(x - max))
//   log_softmax: y = (x - max) - log(sum(exp(x - max)))
template <typename T, bool kLog>
void softmax(const T* x, T* y, int32_t outer, int32_t n, int32_t inner) {
  for (int32_t o = 0; o < outer; ++o) {
    for (int32_t i = 0; i < inner; ++i) {
      const int64_t base = static_cast<int64_t>(o) * n * inner + i;
      const T* xp = x + base;
      T* yp = y + base;
      T mx = n > 0 ? xp[0] : T(0);
      for (int32_t k = 1; k < n; ++k) {
        const T v = xp[static_cast<int64_t>(k) * inner];
        if (v > mx) mx = v;
      }
      T sum = T(0);
      for (int32_t k = 0; k < n; ++k) {
        const int64_t idx = static_cast<int64_t>(k) * inner;
        const T e = m_exp(xp[idx] - mx);
        if (!kLog) yp[idx] = e;
        sum += e;
      }
      if (kLog) {
        const T ls = m_log(sum);
        for (int32_t k = 0; k < n; ++k) {
          const int64_t idx = static_cast<int64_t>(k) * inner;
          yp[idx] = (xp[idx] - mx) - ls;
        }
      } else {
        const T inv = T(1) / sum;
        for (int32_t k = 0; k < n; ++k) yp[static_cast<int64_t>(k) * inner] *= inv;
      }
    }
  }
}

// Gradients, from the saved output y and dy (same [outer, n, inner] view):
//   softmax:     dx = y * (dy - sum_k dy_k y_k)
//   log_softmax: dx = dy - exp(y) * sum_k dy_k
// dx may alias dy (each line's sum is complete before its elements are written).
template <typename T, bool kLog>
void softmax_grad(const T* dy, const T* y, T* dx, int32_t outer, int32_t n, int32_t inner) {
  for (int32_t o = 0; o < outer; ++o) {
    for (int32_t i = 0; i < inner; ++i) {
      const int64_t base = static_cast<int64_t>(o) * n * inner + i;
      T s = T(0);
      for (int32_t k = 0; k < n; ++k) {
        const int64_t idx = base + static_cast<int64_t>(k) * inner;
        s += kLog ? dy[idx] : dy[idx] * y[idx];
      }
      for (int32_t k = 0; k < n; ++k) {
        const int64_t idx = base + static_cast<int64_t>(k) * inner;
        dx[idx] = kLog ? dy[idx] - m_exp(y[idx]) * s : y[idx] * (dy[idx] - s);
      }
    }
  }
}

}  // namespace ref
}  // namespace tinyodlc
