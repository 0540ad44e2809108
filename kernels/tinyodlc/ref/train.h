// On-device learning kernels: losses (each computes the loss and the gradient of the loss
// w.r.t. its prediction input in one pass), gradient accumulation and optimizer steps over
// the trainable-parameter blob. docs/training.md gives the exact formulas.
#pragma once

#include <math.h>
#include <stdint.h>

#include "tinyodlc/ref/common.h"
#include "tinyodlc/ref/nn_common.h"

namespace tinyodlc {
namespace ref {

// Softmax cross-entropy on logits [rows, classes] with integer labels [rows], mean over rows
// (PyTorch's cross_entropy with reduction='mean'):
//   loss = -1/rows * sum_r log softmax(x_r)[label_r],   dx_r = (softmax(x_r) - onehot(label_r)) / rows.
// A label outside [0, classes) contributes nothing (and gets a zero gradient).
template <typename T>
void softmax_cross_entropy(const T* x, const int64_t* label, T* loss, T* dx, int32_t rows, int32_t classes) {
  T total = 0;
  for (int32_t r = 0; r < rows; ++r) {
    const T* xr = x + static_cast<int64_t>(r) * classes;
    T* dr = dx + static_cast<int64_t>(r) * classes;
    T mx = xr[0];
    for (int32_t k = 1; k < classes; ++k)
      if (xr[k] > mx) mx = xr[k];
    T sum = 0;
    for (int32_t k = 0; k < classes; ++k) {
      dr[k] = m_exp(static_cast<T>(xr[k] - mx));  // expf for float: no double on single-precision FPUs
      sum += dr[k];
    }
    const int64_t y = label[r];
    const bool valid = y >= 0 && y < classes;
    for (int32_t k = 0; k < classes; ++k) {
      const T p = dr[k] / sum;
      dr[k] = valid ? (p - (k == y ? T(1) : T(0))) / static_cast<T>(rows) : T(0);
    }
    if (valid) total += (m_log(sum) + mx - xr[y]);
  }
  loss[0] = total / static_cast<T>(rows);
}

// Mean squared error over n elements: loss = 1/n * sum (y - t)^2, dy = 2 (y - t) / n.
template <typename T>
void mse_loss(const T* y, const T* target, T* loss, T* dy, int32_t n) {
  T total = 0;
  for (int32_t i = 0; i < n; ++i) {
    const T d = y[i] - target[i];
    total += d * d;
    dy[i] = T(2) * d / static_cast<T>(n);
  }
  loss[0] = total / static_cast<T>(n);
}

// acc += g (the gradient accumulator of one trainable parameter).
template <typename T>
void accumulate(const T* g, T* acc, int32_t n) {
  for (int32_t i = 0; i < n; ++i) acc[i] += g[i];
}

// Optimizer steps over the whole trainable blob p[n] with the accumulated gradient sum g[n]
// of `count` samples (the mean gradient is g / count). Weight decay is L2 (added to the
// gradient), as torch.optim.SGD/Adam's weight_decay.
//   SGD:            p -= lr * (g/count + wd * p)
//   SGD + momentum: m = mu * m + (g/count + wd * p);  p -= lr * m   (torch.optim.SGD, dampening 0)
//   Adam:           m = b1 m + (1-b1) d; v = b2 v + (1-b2) d^2; p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
inline void sgd_step(float* p, const float* g, float* m, int32_t n, float lr, float momentum, float weight_decay,
                     int32_t count) {
  const float inv = count > 0 ? 1.0f / static_cast<float>(count) : 0.0f;
  for (int32_t i = 0; i < n; ++i) {
    float d = g[i] * inv + weight_decay * p[i];
    if (m) {
      m[i] = momentum * m[i] + d;
      d = m[i];
    }
    p[i] -= lr * d;
  }
}

inline void adam_step(float* p, const float* g, float* m, float* v, int32_t n, float lr, float beta1, float beta2,
                      float eps, float weight_decay, int32_t count, int32_t t) {
  const float inv = count > 0 ? 1.0f / static_cast<float>(count) : 0.0f;
  const float c1 = 1.0f - powf(beta1, static_cast<float>(t));
  const float c2 = 1.0f - powf(beta2, static_cast<float>(t));
  for (int32_t i = 0; i < n; ++i) {
    const float d = g[i] * inv + weight_decay * p[i];
    m[i] = beta1 * m[i] + (1.0f - beta1) * d;
    v[i] = beta2 * v[i] + (1.0f - beta2) * d * d;
    p[i] -= lr * (m[i] / c1) / (sqrtf(v[i] / c2) + eps);
  }
}

}  // namespace ref
}  // namespace tinyodlc
