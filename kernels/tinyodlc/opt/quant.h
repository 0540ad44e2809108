// Optimized QuantizeLinear (issue 16, docs/performance.md): same parameters and the same output
// integers as tinyodlc::ref::quantize_linear<Q>, without the reference's floor/fmod calls
// (library calls on an FPU without VRINT, e.g. the Cortex-M4's FPv4).
//
// Exactness: v = x / scale is the same division as the reference's. Round half to even of v
// for |v| < 2^23 is (v + 1.5 * 2^23) - 1.5 * 2^23 in round-to-nearest-even (the default mode the
// generated code runs in; no -ffast-math): the sum's ulp is 1, so its rounding is exactly RNE
// of v, and the subtraction is exact. For |v| >= 2^23 (and +-inf) v is already an integer; NaN
// stays NaN. The result can differ from the reference's only in the sign of a zero, which the
// conversion to an integer removes. r + z is then an integer-valued float: exact below 2^24,
// and anything beyond the output range is clamped, as in saturate_round.
#pragma once

#include "tinyodlc/ref/quant.h"

namespace tinyodlc {
namespace opt {
namespace quant_detail {

inline float rne(float v) {
  const float kMagic = 12582912.0f;  // 1.5 * 2^23
  if (!(v < 8388608.0f && v > -8388608.0f)) return v;  // |v| >= 2^23, inf, NaN
  return (v + kMagic) - kMagic;
}

template <typename Q>
inline Q saturate_int(float v) {  // v integer-valued or NaN / out of range
  if (v != v) return Q(0);
  if (v <= static_cast<float>(ref::QRange<Q>::lo)) return static_cast<Q>(ref::QRange<Q>::lo);
  if (v >= static_cast<float>(ref::QRange<Q>::hi)) return static_cast<Q>(ref::QRange<Q>::hi);
  return static_cast<Q>(static_cast<int32_t>(v));
}

}  // namespace quant_detail

template <typename Q>
void quantize_linear(const float* x, const float* scale, const Q* zp, Q* y, int32_t outer, int32_t A, int32_t inner,
                     bool per_axis, int32_t block) {
  namespace d = quant_detail;
  if (!per_axis) {
    const float s = scale[0], z = zp ? static_cast<float>(zp[0]) : 0.0f;
    const int64_t n = static_cast<int64_t>(outer) * A * inner;
    for (int64_t e = 0; e < n; ++e) y[e] = d::saturate_int<Q>(d::rne(x[e] / s) + z);
    return;
  }
  int64_t e = 0;
  for (int32_t o = 0; o < outer; ++o)
    for (int32_t a = 0; a < A; ++a)
      for (int32_t i = 0; i < inner; ++i, ++e) {
        const int64_t q = ref::qparam_index(per_axis, block, o, a, i, A, inner);
        const float z = zp ? static_cast<float>(zp[q]) : 0.0f;
        y[e] = d::saturate_int<Q>(d::rne(x[e] / scale[q]) + z);
      }
}

}  // namespace opt
}  // namespace tinyodlc
