// Quantization reference kernels with ONNX semantics: QuantizeLinear, DequantizeLinear,
// DynamicQuantizeLinear, ConvInteger, MatMulInteger, QLinearConv, QLinearMatMul.
//
// These kernels reproduce the ONNX reference implementation bit-exactly, including its use
// of floating point for the output requantization of QLinearConv/QLinearMatMul (the scales
// may be runtime tensors there). The integer inner loops (multiply-accumulate) are pure
// integer arithmetic; the float work happens once per output element (no double anywhere). The
// compiler-internal int8 kernels with fixed-point requantization (TFLite/CMSIS-NN
// arithmetic, no float at all) are in int8.h.
//
// Rounding: round half to even (as numpy.rint / ONNX). Saturation: to the output type's range.
#pragma once

#include <math.h>

#include "tinyodlc/ref/nn_common.h"

namespace tinyodlc {
namespace ref {

template <typename Q> struct QRange;
template <> struct QRange<int8_t> { static constexpr int32_t lo = -128, hi = 127; };
template <> struct QRange<uint8_t> { static constexpr int32_t lo = 0, hi = 255; };
template <> struct QRange<int16_t> { static constexpr int32_t lo = -32768, hi = 32767; };
template <> struct QRange<uint16_t> { static constexpr int32_t lo = 0, hi = 65535; };

// Round half to even, independent of the floating-point environment.
template <typename F>
inline F round_half_even(F v) {
  const F f = floor(v);
  const F d = v - f;  // exact
  if (d > F(0.5)) return f + F(1);
  if (d < F(0.5)) return f;
  return fmod(f, F(2)) == F(0) ? f : f + F(1);
}

// Rounds (half to even) and saturates to Q's range; NaN gives 0.
template <typename Q, typename F>
inline Q saturate_round(F v) {
  if (v != v) return Q(0);
  if (v <= F(QRange<Q>::lo)) return static_cast<Q>(QRange<Q>::lo);
  if (v >= F(QRange<Q>::hi)) return static_cast<Q>(QRange<Q>::hi);
  return static_cast<Q>(static_cast<int32_t>(round_half_even(v)));
}

// Index of the scale/zero-point of element (o, a, i) of a tensor viewed as [outer, A, inner].
// per_axis false: one scale; block 0: per-axis scale[a]; block > 0: blocked scales of shape
// [outer, ceil(A / block), inner].
inline int64_t qparam_index(bool per_axis, int32_t block, int32_t o, int32_t a, int32_t i, int32_t A, int32_t inner) {
  if (!per_axis) return 0;
  if (block <= 0) return a;
  const int32_t nb = (A + block - 1) / block;
  return (static_cast<int64_t>(o) * nb + a / block) * inner + i;
}

// y = saturate(round(x / scale) + zero_point). zp may be null (zero).
template <typename Q>
void quantize_linear(const float* x, const float* scale, const Q* zp, Q* y, int32_t outer, int32_t A, int32_t inner,
                     bool per_axis, int32_t block) {
  int64_t e = 0;
  for (int32_t o = 0; o < outer; ++o)
    for (int32_t a = 0; a < A; ++a)
      for (int32_t i = 0; i < inner; ++i, ++e) {
        const int64_t q = qparam_index(per_axis, block, o, a, i, A, inner);
        const float r = round_half_even(x[e] / scale[q]);
        const float z = zp ? static_cast<float>(zp[q]) : 0.0f;
        y[e] = saturate_round<Q>(r + z);
      }
}

// y = (x - zero_point) * scale, in float. zp may be null (zero).
template <typename Q>
void dequantize_linear(const Q* x, const float* scale, const Q* zp, float* y, int32_t outer, int32_t A, int32_t inner,
                       bool per_axis, int32_t block) {
  int64_t e = 0;
  for (int32_t o = 0; o < outer; ++o)
    for (int32_t a = 0; a < A; ++a)
      for (int32_t i = 0; i < inner; ++i, ++e) {
        const int64_t q = qparam_index(per_axis, block, o, a, i, A, inner);
        const float z = zp ? static_cast<float>(zp[q]) : 0.0f;
        y[e] = (static_cast<float>(x[e]) - z) * scale[q];
      }
}

// DynamicQuantizeLinear (uint8; y_scale / y_zp may be null): range [min(0, min x), max(0, max x)] mapped to [0, 255].
inline void dynamic_quantize_linear(const float* x, uint8_t* y, float* y_scale, uint8_t* y_zp, int32_t n) {
  float lo = 0.0f, hi = 0.0f;
  for (int32_t i = 0; i < n; ++i) {
    if (x[i] < lo) lo = x[i];
    if (x[i] > hi) hi = x[i];
  }
  const float scale = (hi - lo) / 255.0f;
  if (y_scale) *y_scale = scale;
  if (!(scale > 0.0f)) {  // all zeros: every value quantizes to zero point 0
    if (y_zp) *y_zp = 0;
    for (int32_t i = 0; i < n; ++i) y[i] = 0;
    return;
  }
  const uint8_t zp = saturate_round<uint8_t>(0.0f - lo / scale);
  if (y_zp) *y_zp = zp;
  for (int32_t i = 0; i < n; ++i) y[i] = saturate_round<uint8_t>(round_half_even(x[i] / scale) + static_cast<float>(zp));
}

// 32-bit accumulation that wraps instead of overflowing (no undefined behaviour).
inline int32_t acc_add(int32_t acc, int32_t v) {
  return static_cast<int32_t>(static_cast<uint32_t>(acc) + static_cast<uint32_t>(v));
}

// Integer convolution core: for every output element calls
// emit(n, m, out_offset_in_plane, acc) with acc = sum (x - x_zp) * (w - w_zp[m]);
// taps in the padding contribute nothing (padding holds the zero point). Geometry as conv.h.
template <typename TX, typename TW, typename Emit>
void conv_integer_core(const TX* x, int32_t x_zp, const TW* w, const TW* w_zp, int32_t w_zp_count, int32_t batch,
                       int32_t c_in, int32_t c_out, int32_t group, const int32_t* in_sp, const int32_t* k_sp,
                       const int32_t* out_sp, const int32_t* strides, const int32_t* dilations, const int32_t* pads,
                       Emit&& emit) {
  const int32_t cg = c_in / group, mg = c_out / group;
  const int64_t in_plane = static_cast<int64_t>(in_sp[0]) * in_sp[1] * in_sp[2];
  const int64_t k_size = static_cast<int64_t>(k_sp[0]) * k_sp[1] * k_sp[2];
  for (int32_t n = 0; n < batch; ++n) {
    for (int32_t m = 0; m < c_out; ++m) {
      const int32_t g = m / mg;
      const TX* xg = x + (static_cast<int64_t>(n) * c_in + static_cast<int64_t>(g) * cg) * in_plane;
      const TW* wm = w + static_cast<int64_t>(m) * cg * k_size;
      const int32_t wz = w_zp ? static_cast<int32_t>(w_zp[w_zp_count == 1 ? 0 : m]) : 0;
      for_each_window(out_sp, k_sp, strides, dilations, pads, in_sp, [&](const Window& win) {
        int32_t acc = 0;
        for (int32_t c = 0; c < cg; ++c) {
          const TX* xc = xg + c * in_plane;
          const TW* wc = wm + c * k_size;
          for_each_tap(win, k_sp, dilations, in_sp, [&](int64_t k, int64_t at) {
            acc = acc_add(acc, (static_cast<int32_t>(xc[at]) - x_zp) * (static_cast<int32_t>(wc[k]) - wz));
          });
        }
        emit(n, m, win.pos, acc);
      });
    }
  }
}

// round_half_even(acc * ratio + zp), saturated to Q's range, computed exactly with integers
// (no double: the Cortex-M4's FPU is single precision). ratio = m * 2^-s with m its 24-bit
// significand, so acc * ratio = (acc * m) / 2^s with |acc * m| < 2^55. This is the exact value
// of the ONNX reference's double expression whenever that one is exact (|acc| < 2^29).
template <typename Q>
inline Q requantize_exact(int32_t acc, float ratio, int32_t zp) {
  const int64_t lo = QRange<Q>::lo, hi = QRange<Q>::hi;
  const auto clamp = [&](int64_t v) { return static_cast<Q>(v < lo ? lo : v > hi ? hi : v); };
  if (ratio != ratio) return Q(0);
  if (acc == 0 || ratio == 0.0f) return clamp(zp);
  if (ratio > 3.0e38f || ratio < -3.0e38f) return clamp((acc > 0) == (ratio > 0) ? hi : lo);
  int e = 0;
  const float f = frexpf(ratio, &e);                                       // ratio = f * 2^e, 0.5 <= |f| < 1
  const int64_t p = static_cast<int64_t>(acc) * static_cast<int64_t>(f * 16777216.0f);  // exact
  const int32_t s = 24 - e;                                                 // value = p / 2^s + zp
  if (s <= 0) return clamp(p > 0 ? hi : lo);                                // |p / 2^s| >= 2^23: saturates
  if (s >= 62) return clamp(zp);                                            // |p / 2^s| < 2^-7
  const int64_t one = int64_t(1) << s, half = one >> 1;
  const int64_t q = p >= 0 ? p / one : -((-p + one - 1) / one);            // floor(p / 2^s)
  const int64_t r = p - q * one;                                            // in [0, 2^s)
  int64_t n = q + zp;
  if (r > half || (r == half && (n & 1) != 0)) ++n;
  return clamp(n);
}

// ConvInteger: y (int32) = conv(x - x_zp, w - w_zp). x_zp: null or one value; w_zp: null,
// one value or one per output channel (w_zp_count).
template <typename TX, typename TW>
void conv_integer(const TX* x, const TW* w, const TX* x_zp, const TW* w_zp, int32_t* y, int32_t w_zp_count,
                  int32_t batch, int32_t c_in, int32_t c_out, int32_t group, const int32_t* in_sp,
                  const int32_t* k_sp, const int32_t* out_sp, const int32_t* strides, const int32_t* dilations,
                  const int32_t* pads) {
  const int64_t out_plane = static_cast<int64_t>(out_sp[0]) * out_sp[1] * out_sp[2];
  conv_integer_core(x, x_zp ? static_cast<int32_t>(*x_zp) : 0, w, w_zp, w_zp_count, batch, c_in, c_out, group, in_sp,
                    k_sp, out_sp, strides, dilations, pads, [&](int32_t n, int32_t m, int64_t o, int32_t acc) {
                      y[(static_cast<int64_t>(n) * c_out + m) * out_plane + o] = acc;
                    });
}

// QLinearConv: y = saturate(round((acc + bias[m]) * (x_scale * w_scale[m] / y_scale)) + y_zp)
// with the scale ratio computed in float (as ONNX's reference) and the product exactly in
// integers (requantize_exact).
template <typename TX, typename TW, typename TY>
void qlinear_conv(const TX* x, const float* x_scale, const TX* x_zp, const TW* w, const float* w_scale,
                  const TW* w_zp, const float* y_scale, const TY* y_zp, const int32_t* bias, TY* y,
                  int32_t w_scale_count, int32_t w_zp_count, int32_t batch, int32_t c_in, int32_t c_out,
                  int32_t group, const int32_t* in_sp, const int32_t* k_sp, const int32_t* out_sp,
                  const int32_t* strides, const int32_t* dilations, const int32_t* pads) {
  const int64_t out_plane = static_cast<int64_t>(out_sp[0]) * out_sp[1] * out_sp[2];
  const int32_t yz = y_zp ? static_cast<int32_t>(*y_zp) : 0;
  conv_integer_core(x, x_zp ? static_cast<int32_t>(*x_zp) : 0, w, w_zp, w_zp_count, batch, c_in, c_out, group, in_sp,
                    k_sp, out_sp, strides, dilations, pads, [&](int32_t n, int32_t m, int64_t o, int32_t acc) {
                      const float ratio = x_scale[0] * w_scale[w_scale_count == 1 ? 0 : m] / y_scale[0];
                      const int32_t a = bias ? acc_add(acc, bias[m]) : acc;
                      y[(static_cast<int64_t>(n) * c_out + m) * out_plane + o] =
                          requantize_exact<TY>(a, ratio, yz);
                    });
}

// Integer matmul core with broadcast batch dims (as matmul in gemm.h): for every output
// element emit(y_index, i, j, acc) with acc = sum_k (a[i,k] - a_zp[i]) * (b[k,j] - b_zp[j]).
// a_zp / b_zp: null, one value, or per row of A (a_zp_count == M) / per column of B.
template <typename TA, typename TB, typename Emit>
void matmul_integer_core(const TA* a, const TB* b, const TA* a_zp, int32_t a_zp_count, const TB* b_zp,
                         int32_t b_zp_count, int32_t batch_rank, const int32_t* batch_dims, const int32_t* a_strides,
                         const int32_t* b_strides, int32_t M, int32_t N, int32_t K, Emit&& emit) {
  const int64_t batches = product(batch_dims, batch_rank);
  const int64_t a_mat = static_cast<int64_t>(M) * K, b_mat = static_cast<int64_t>(K) * N,
                y_mat = static_cast<int64_t>(M) * N;
  NdIter it(batch_rank, batch_dims, 2, a_strides, b_strides);
  for (int64_t bi = 0; bi < batches; ++bi, it.next()) {
    const TA* ab = a + it.off[0] * a_mat;
    const TB* bb = b + it.off[1] * b_mat;
    for (int32_t i = 0; i < M; ++i) {
      const TA* ar = ab + static_cast<int64_t>(i) * K;
      const int32_t az = a_zp ? static_cast<int32_t>(a_zp[a_zp_count == 1 ? 0 : i]) : 0;
      for (int32_t j = 0; j < N; ++j) {
        const int32_t bz = b_zp ? static_cast<int32_t>(b_zp[b_zp_count == 1 ? 0 : j]) : 0;
        int32_t acc = 0;
        for (int32_t k = 0; k < K; ++k)
          acc = acc_add(acc, (static_cast<int32_t>(ar[k]) - az) *
                                 (static_cast<int32_t>(bb[static_cast<int64_t>(k) * N + j]) - bz));
        emit(bi * y_mat + static_cast<int64_t>(i) * N + j, i, j, acc);
      }
    }
  }
}

template <typename TA, typename TB>
void matmul_integer(const TA* a, const TB* b, const TA* a_zp, const TB* b_zp, int32_t* y, int32_t a_zp_count,
                    int32_t b_zp_count, int32_t batch_rank, const int32_t* batch_dims, const int32_t* a_strides,
                    const int32_t* b_strides, int32_t M, int32_t N, int32_t K) {
  matmul_integer_core(a, b, a_zp, a_zp_count, b_zp, b_zp_count, batch_rank, batch_dims, a_strides, b_strides, M, N, K,
                      [&](int64_t e, int32_t, int32_t, int32_t acc) { y[e] = acc; });
}

// QLinearMatMul: y = saturate(round(acc * (a_scale * b_scale[j] / y_scale)) + y_zp), ratio in
// float (as ONNX's reference), product exact (requantize_exact). b_scale per tensor or per column.
template <typename TA, typename TB, typename TY>
void qlinear_matmul(const TA* a, const float* a_scale, const TA* a_zp, const TB* b, const float* b_scale,
                    const TB* b_zp, const float* y_scale, const TY* y_zp, TY* y, int32_t b_scale_count,
                    int32_t b_zp_count, int32_t batch_rank, const int32_t* batch_dims, const int32_t* a_strides,
                    const int32_t* b_strides, int32_t M, int32_t N, int32_t K) {
  const int32_t yz = y_zp ? static_cast<int32_t>(*y_zp) : 0;
  matmul_integer_core(a, b, a_zp, 1, b_zp, b_zp_count, batch_rank, batch_dims, a_strides, b_strides, M, N, K,
                      [&](int64_t e, int32_t, int32_t j, int32_t acc) {
                        const float ratio = a_scale[0] * b_scale[b_scale_count == 1 ? 0 : j] / y_scale[0];
                        y[e] = requantize_exact<TY>(acc, ratio, yz);
                      });
}

}  // namespace ref
}  // namespace tinyodlc
