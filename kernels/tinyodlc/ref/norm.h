// Normalization reference kernels: BatchNormalization (inference and training mode),
// InstanceNormalization, LayerNormalization, and the gradients of inference-mode
// BatchNormalization and LayerNormalization (on-device learning). batch_norm, layer_norm and
// the gradients are templated on float/double, the others float only; statistics use two
// passes (mean, then mean of squared deviations: the biased/population variance).
#pragma once

#include "tinyodlc/ref/nn_common.h"

namespace tinyodlc {
namespace ref {

// x, y: [n, c, inner]. Inference: y = (x - mean[c]) / sqrt(var[c] + eps) * scale[c] + bias[c].
template <typename T>
void batch_norm(const T* x, const T* scale, const T* bias, const T* mean, const T* var, T* y, int32_t n, int32_t c,
                int32_t inner, float epsilon) {
  for (int32_t ch = 0; ch < c; ++ch) {
    const T inv = T(1) / m_sqrt(var[ch] + static_cast<T>(epsilon));
    const T m = mean[ch], s = scale[ch], b = bias[ch];
    for (int32_t b0 = 0; b0 < n; ++b0) {
      const int64_t off = (static_cast<int64_t>(b0) * c + ch) * inner;
      for (int32_t i = 0; i < inner; ++i) y[off + i] = (x[off + i] - m) * inv * s + b;
    }
  }
}

// Training mode (opset >= 14): normalizes with the batch statistics of each channel and
// writes running_mean = mean * momentum + batch_mean * (1 - momentum) (same for the
// variance) to out_mean / out_var when they are not null.
inline void batch_norm_training(const float* x, const float* scale, const float* bias, const float* mean,
                                const float* var, float* y, float* out_mean, float* out_var, int32_t n, int32_t c,
                                int32_t inner, float epsilon, float momentum) {
  const int64_t count = static_cast<int64_t>(n) * inner;
  for (int32_t ch = 0; ch < c; ++ch) {
    float sum = 0.0f;
    for (int32_t b0 = 0; b0 < n; ++b0) {
      const float* xp = x + (static_cast<int64_t>(b0) * c + ch) * inner;
      for (int32_t i = 0; i < inner; ++i) sum += xp[i];
    }
    const float bm = count > 0 ? sum / static_cast<float>(count) : 0.0f;
    float sq = 0.0f;
    for (int32_t b0 = 0; b0 < n; ++b0) {
      const float* xp = x + (static_cast<int64_t>(b0) * c + ch) * inner;
      for (int32_t i = 0; i < inner; ++i) sq += (xp[i] - bm) * (xp[i] - bm);
    }
    const float bv = count > 0 ? sq / static_cast<float>(count) : 0.0f;
    const float inv = 1.0f / sqrtf(bv + epsilon);
    const float s = scale[ch], b = bias[ch];
    for (int32_t b0 = 0; b0 < n; ++b0) {
      const int64_t off = (static_cast<int64_t>(b0) * c + ch) * inner;
      for (int32_t i = 0; i < inner; ++i) y[off + i] = (x[off + i] - bm) * inv * s + b;
    }
    if (out_mean) out_mean[ch] = mean[ch] * momentum + bm * (1.0f - momentum);
    if (out_var) out_var[ch] = var[ch] * momentum + bv * (1.0f - momentum);
  }
}

// x, y: [n, c, inner]; each (n, c) plane is normalized over its `inner` elements.
inline void instance_norm(const float* x, const float* scale, const float* bias, float* y, int32_t n, int32_t c,
                          int32_t inner, float epsilon) {
  for (int32_t b0 = 0; b0 < n; ++b0)
    for (int32_t ch = 0; ch < c; ++ch) {
      const int64_t off = (static_cast<int64_t>(b0) * c + ch) * inner;
      const float* xp = x + off;
      float sum = 0.0f;
      for (int32_t i = 0; i < inner; ++i) sum += xp[i];
      const float m = inner > 0 ? sum / static_cast<float>(inner) : 0.0f;
      float sq = 0.0f;
      for (int32_t i = 0; i < inner; ++i) sq += (xp[i] - m) * (xp[i] - m);
      const float v = inner > 0 ? sq / static_cast<float>(inner) : 0.0f;
      const float inv = 1.0f / sqrtf(v + epsilon);
      const float s = scale[ch], b = bias[ch];
      for (int32_t i = 0; i < inner; ++i) y[off + i] = (xp[i] - m) * inv * s + b;
    }
}

// Mean and 1 / sqrt(variance + epsilon) of x[0..size) (two passes).
template <typename T>
void row_stats(const T* xp, int32_t size, float epsilon, T* mean, T* inv_std) {
  T sum = T(0);
  for (int32_t i = 0; i < size; ++i) sum += xp[i];
  const T m = size > 0 ? sum / static_cast<T>(size) : T(0);
  T sq = T(0);
  for (int32_t i = 0; i < size; ++i) sq += (xp[i] - m) * (xp[i] - m);
  const T v = size > 0 ? sq / static_cast<T>(size) : T(0);
  *mean = m;
  *inv_std = T(1) / m_sqrt(v + static_cast<T>(epsilon));
}

// x, y: [outer, size]; each row is normalized over its `size` elements:
//   y = (x - mean) * inv_std_dev * scale[j * scale_step] + bias[j * bias_step]   (bias may be null)
// mean_out / inv_std_out ([outer], may be null) receive the row statistics.
template <typename T>
void layer_norm(const T* x, const T* scale, const T* bias, T* y, T* mean_out, T* inv_std_out, int32_t outer,
                int32_t size, int32_t scale_step, int32_t bias_step, float epsilon) {
  for (int32_t r = 0; r < outer; ++r) {
    const int64_t off = static_cast<int64_t>(r) * size;
    const T* xp = x + off;
    T m, inv;
    row_stats(xp, size, epsilon, &m, &inv);
    T* yp = y + off;
    if (bias) {
      for (int32_t i = 0; i < size; ++i) yp[i] = (xp[i] - m) * inv * scale[i * scale_step] + bias[i * bias_step];
    } else {
      for (int32_t i = 0; i < size; ++i) yp[i] = (xp[i] - m) * inv * scale[i * scale_step];
    }
    if (mean_out) mean_out[r] = m;
    if (inv_std_out) inv_std_out[r] = inv;
  }
}

// ---- gradients ------------------------------------------------------------------------------
// Inference-mode BatchNormalization, y = (x - mean) * inv * scale + bias with
// inv = 1 / sqrt(var + eps) per channel c (running statistics, not batch statistics):
//   dx = dy * scale * inv
//   dscale = sum dy * (x - mean) * inv            dbias = sum dy
//   dmean = -sum dy * scale * inv                 dvar = -1/2 * scale * inv^3 * sum dy * (x - mean)
// sums over batch and inner positions. Every output may be null (not needed); x may be null
// when neither dscale nor dvar is needed. dx may alias dy.
template <typename T>
void batch_norm_grad(const T* dy, const T* x, const T* scale, const T* mean, const T* var, T* dx, T* dscale,
                     T* dbias, T* dmean, T* dvar, int32_t n, int32_t c, int32_t inner, float epsilon) {
  for (int32_t ch = 0; ch < c; ++ch) {
    const T inv = T(1) / m_sqrt(var[ch] + static_cast<T>(epsilon));
    const T m = mean[ch], s = scale[ch];
    T sdy = T(0), sdyx = T(0);
    for (int32_t b0 = 0; b0 < n; ++b0) {
      const int64_t off = (static_cast<int64_t>(b0) * c + ch) * inner;
      for (int32_t i = 0; i < inner; ++i) {
        sdy += dy[off + i];
        if (x) sdyx += dy[off + i] * (x[off + i] - m);
      }
    }
    if (dx) {
      const T k = s * inv;
      for (int32_t b0 = 0; b0 < n; ++b0) {
        const int64_t off = (static_cast<int64_t>(b0) * c + ch) * inner;
        for (int32_t i = 0; i < inner; ++i) dx[off + i] = dy[off + i] * k;
      }
    }
    if (dscale) dscale[ch] = sdyx * inv;
    if (dbias) dbias[ch] = sdy;
    if (dmean) dmean[ch] = -sdy * s * inv;
    if (dvar) dvar[ch] = T(-0.5) * s * inv * inv * inv * sdyx;
  }
}

// LayerNormalization over rows of `size` (see layer_norm), xhat = (x - mean) * inv, g = dy * scale:
//   dx = inv * (g - mean(g) - xhat * mean(g * xhat))
//   dscale[j * scale_step] += dy * xhat over all rows (dscale has 1 or `size` elements)
// The row statistics are recomputed from x. dx or dscale may be null; dx may alias dy.
template <typename T>
void layer_norm_grad(const T* dy, const T* x, const T* scale, T* dx, T* dscale, int32_t outer, int32_t size,
                     int32_t scale_step, float epsilon) {
  if (dscale)
    for (int32_t i = 0; i < (scale_step ? size : 1); ++i) dscale[i] = T(0);
  for (int32_t r = 0; r < outer; ++r) {
    const int64_t off = static_cast<int64_t>(r) * size;
    const T* xp = x + off;
    const T* dyp = dy + off;
    T m, inv;
    row_stats(xp, size, epsilon, &m, &inv);
    T sg = T(0), sgx = T(0);
    for (int32_t i = 0; i < size; ++i) {
      const T xh = (xp[i] - m) * inv;
      const T g = dyp[i] * scale[i * scale_step];
      sg += g;
      sgx += g * xh;
      if (dscale) dscale[i * scale_step] += dyp[i] * xh;
    }
    if (dx) {
      const T a = size > 0 ? sg / static_cast<T>(size) : T(0), b = size > 0 ? sgx / static_cast<T>(size) : T(0);
      T* dxp = dx + off;
      for (int32_t i = 0; i < size; ++i) {
        const T xh = (xp[i] - m) * inv;
        dxp[i] = inv * (dyp[i] * scale[i * scale_step] - a - xh * b);
      }
    }
  }
}

}  // namespace ref
}  // namespace tinyodlc
