// Softmax and LogSoftmax along one axis, numerically stable (the maximum is subtracted).
// The compiler views the input as [outer, n, inner] with the reduced axis in the middle
// (opset >= 13: one axis; opset < 13: the input coerced to 2-D at `axis`, i.e. inner = 1).
#pragma once

#include <math.h>

#include "tinyodlc/ref/common.h"

namespace tinyodlc {
namespace ref {

//   softmax:     y = exp(x - max) / sum(exp(x - max))
//   log_softmax: y = (x - max) - log(sum(exp(x - max)))
template <bool kLog>
void softmax(const float* x, float* y, int32_t outer, int32_t n, int32_t inner) {
  for (int32_t o = 0; o < outer; ++o) {
    for (int32_t i = 0; i < inner; ++i) {
      const int64_t base = static_cast<int64_t>(o) * n * inner + i;
      const float* xp = x + base;
      float* yp = y + base;
      float mx = n > 0 ? xp[0] : 0.0f;
      for (int32_t k = 1; k < n; ++k) {
        const float v = xp[static_cast<int64_t>(k) * inner];
        if (v > mx) mx = v;
      }
      float sum = 0.0f;
      for (int32_t k = 0; k < n; ++k) {
        const int64_t idx = static_cast<int64_t>(k) * inner;
        const float e = expf(xp[idx] - mx);
        if (!kLog) yp[idx] = e;
        sum += e;
      }
      if (kLog) {
        const float ls = logf(sum);
        for (int32_t k = 0; k < n; ++k) {
          const int64_t idx = static_cast<int64_t>(k) * inner;
          yp[idx] = (xp[idx] - mx) - ls;
        }
      } else {
        const float inv = 1.0f / sum;
        for (int32_t k = 0; k < n; ++k) yp[static_cast<int64_t>(k) * inner] *= inv;
      }
    }
  }
}

}  // namespace ref
}  // namespace tinyodlc
