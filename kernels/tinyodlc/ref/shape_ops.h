// Shape-op reference kernels: Shape/Size (values known at compile time), Dropout (inference).
// Reshape, Flatten, Squeeze, Unsqueeze and Identity are views; their copy kernel is
// copy_bytes (common.h).
#pragma once

#include "tinyodlc/ref/common.h"

namespace tinyodlc {
namespace ref {

// Shape / Size: y[i] = values[i]. The values (dims) are compile-time constants; the input's
// data is never read.
template <typename T>
void write_values(T* y, const int32_t* values, int32_t n) {
  for (int32_t i = 0; i < n; ++i) y[i] = static_cast<T>(values[i]);
}

// Dropout in inference mode (or training with ratio 0): y = x, mask (if present) all true.
template <typename T, typename M>
void dropout(const T* x, T* y, M* mask, int32_t n) {
  if (x != y)
    for (int32_t i = 0; i < n; ++i) y[i] = x[i];
  if (mask)
    for (int32_t i = 0; i < n; ++i) mask[i] = M(1);
}

}  // namespace ref
}  // namespace tinyodlc
