// CumSum reference kernel: cumulative sum along one axis, viewed as [outer, len, inner].
#pragma once

#include "tinyodlc/ref/common.h"

namespace tinyodlc {
namespace ref {

template <typename T>
void cumsum(const T* x, T* y, int32_t outer, int32_t len, int32_t inner, bool exclusive, bool reverse) {
  for (int32_t o = 0; o < outer; ++o) {
    for (int32_t i = 0; i < inner; ++i) {
      const int64_t base = static_cast<int64_t>(o) * len * inner + i;
      T acc = 0;
      for (int32_t s = 0; s < len; ++s) {
        const int32_t k = reverse ? len - 1 - s : s;
        const int64_t at = base + static_cast<int64_t>(k) * inner;
        if (exclusive) {
          y[at] = acc;
          acc = wrap_add(acc, x[at]);
        } else {
          acc = wrap_add(acc, x[at]);
          y[at] = acc;
        }
      }
    }
  }
}

}  // namespace ref
}  // namespace tinyodlc
