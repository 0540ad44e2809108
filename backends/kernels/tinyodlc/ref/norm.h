// Normalization reference kernels: BatchNormalization (inference and training mode),
// InstanceNormalization, LayerNormalization. float only; statistics use two passes
// (mean, then mean of squared deviations: the biased/population variance).
#pragma once

#include <math.h>

#include "tinyodlc/ref/common.h"

namespace tinyodlc {
namespace ref {

// x, y: [n, c, inner]. Inference: y = (x - mean[c]) / sqrt(var[c] + eps) * scale[c] + bias[c].
inline void batch_norm(const float* x, const float* scale, const float* bias, const float* mean, const float* var,
                       float* y, int32_t n, int32_t c, int32_t inner, float epsilon) {
  for (int32_t ch = 0; ch < c; ++ch) {
    const float inv = 1.0f / sqrtf(var[ch] + epsilon);
    const float m = mean[ch], s = scale[ch], b = bias[ch];
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

// x, y: [outer, size]; each row is normalized over its `size` elements:
//   y = (x - mean) * inv_std_dev * scale[j * scale_step] + bias[j * bias_step]   (bias may be null)
// mean_out / inv_std_out ([outer], may be null) receive the row statistics.
inline void layer_norm(const float* x, const float* scale, const float* bias, float* y, float* mean_out,
                       float* inv_std_out, int32_t outer, int32_t size, int32_t scale_step, int32_t bias_step,
                       float epsilon) {
  for (int32_t r = 0; r < outer; ++r) {
    const int64_t off = static_cast<int64_t>(r) * size;
    const float* xp = x + off;
    float sum = 0.0f;
    for (int32_t i = 0; i < size; ++i) sum += xp[i];
    const float m = size > 0 ? sum / static_cast<float>(size) : 0.0f;
    float sq = 0.0f;
    for (int32_t i = 0; i < size; ++i) sq += (xp[i] - m) * (xp[i] - m);
    const float v = size > 0 ? sq / static_cast<float>(size) : 0.0f;
    const float inv = 1.0f / sqrtf(v + epsilon);
    float* yp = y + off;
    if (bias) {
      for (int32_t i = 0; i < size; ++i) yp[i] = (xp[i] - m) * inv * scale[i * scale_step] + bias[i * bias_step];
    } else {
      for (int32_t i = 0; i < size; ++i) yp[i] = (xp[i] - m) * inv * scale[i * scale_step];
    }
    if (mean_out) mean_out[r] = m;
    if (inv_std_out) inv_std_out[r] = inv;
  }
}

}  // namespace ref
}  // namespace tinyodlc
