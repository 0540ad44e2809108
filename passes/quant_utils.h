// Quantization arithmetic shared by the quantization passes, calibration and tests:
// fixed-point multipliers (TFLite's QuantizeMultiplier) and int8 parameter choice.
// See docs/quantization.md for the scheme.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

namespace tinyodlc::passes::quant {

// real ~= mult * 2^(shift - 31), mult in [2^30, 2^31) (or 0 for real == 0 / tiny values).
// Computed in double with round-half-away-from-zero of the mantissa (std::round), as TFLite.
struct Multiplier {
  int32_t mult = 0;
  int32_t shift = 0;
};

inline Multiplier quantize_multiplier(double real) {
  Multiplier m;
  if (!(real > 0.0) || !std::isfinite(real)) return m;
  int exp = 0;
  const double q = std::frexp(real, &exp);  // real = q * 2^exp, q in [0.5, 1)
  int64_t qf = static_cast<int64_t>(std::round(q * static_cast<double>(int64_t(1) << 31)));
  if (qf == (int64_t(1) << 31)) {
    qf /= 2;
    ++exp;
  }
  if (exp < -31) return m;  // too small: the product is 0 for every int32 input
  if (exp > 30) {           // saturate (multipliers this large never occur in practice)
    m.mult = INT32_MAX;
    m.shift = 30;
    return m;
  }
  m.mult = static_cast<int32_t>(qf);
  m.shift = exp;
  return m;
}

// Asymmetric int8 activation parameters for the range [lo, hi] (widened to include 0, as
// TFLite): scale = (hi - lo) / 255, zero_point = round(-128 - lo / scale) clamped to int8.
struct ActParams {
  float scale = 1.0f;
  int32_t zero_point = 0;
};

inline ActParams choose_act_params(double lo, double hi) {
  lo = std::min(lo, 0.0);
  hi = std::max(hi, 0.0);
  ActParams p;
  if (!(hi - lo > 1e-30) || !std::isfinite(hi - lo)) return p;  // constant zero tensor
  p.scale = static_cast<float>((hi - lo) / 255.0);
  const double zp = -128.0 - lo / static_cast<double>(p.scale);
  p.zero_point = static_cast<int32_t>(std::max(-128.0, std::min(127.0, std::round(zp))));
  return p;
}

// Symmetric int8 weight scale for max |w| (127 levels each side); 1.0 for an all-zero channel.
inline float choose_weight_scale(double max_abs) {
  return max_abs > 0 ? static_cast<float>(max_abs / 127.0) : 1.0f;
}

inline int8_t quantize_value(double x, float scale, int32_t zp) {
  double q = std::nearbyint(x / static_cast<double>(scale)) + zp;  // default rounding mode: half to even
  return static_cast<int8_t>(std::max(-128.0, std::min(127.0, q)));
}

}  // namespace tinyodlc::passes::quant
