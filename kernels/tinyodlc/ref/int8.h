// int8 reference kernels with TFLite / CMSIS-NN arithmetic (the "tinyodlc" domain ops the
// quantization passes produce: tinyodlc.QConv, QMatMul, QAdd, QMul, QGlobalAvgPool,
// QRequantize, QSoftmax, QLookup, QSub, QAvgPool, QRms). No floating point anywhere in this file.
//
// Scheme: real = scale * (q - zero_point); activations int8 per tensor (asymmetric),
// weights int8 per output channel (symmetric, zero point 0), bias int32 with scale
// s_in * s_w[m] and zero point 0. A real multiplier M = s_in * s_w / s_out is represented
// by (mult, shift) with M = mult * 2^(shift - 31), mult in [2^30, 2^31).
//
// Requantization (TFLite's MultiplyByQuantizedMultiplier, "double rounding"):
//   x' = x * 2^max(shift, 0)                    (saturated to int32)
//   h  = SaturatingRoundingDoublingHighMul(x', mult)
//        = floor(x' * mult / 2^31 + 1/2)  (nearest, ties toward +infinity);
//          INT32_MIN * INT32_MIN saturates to INT32_MAX
//   r  = RoundingDivideByPOT(h, max(-shift, 0))
//        = h / 2^e rounded to nearest, ties away from zero
// (two roundings: r may differ by 1 from single rounding of x * M, exactly as TFLite)
// then y = clamp(r + y_zp, act_min, act_max). See docs/quantization.md.
#pragma once

#include "tinyodlc/ref/nn_common.h"

namespace tinyodlc {
namespace ref {

inline int32_t q_sat_rounding_doubling_high_mul(int32_t a, int32_t b) {
  if (a == b && a == INT32_MIN) return INT32_MAX;
  const int64_t ab = static_cast<int64_t>(a) * static_cast<int64_t>(b);
  const int64_t nudge = ab >= 0 ? (int64_t(1) << 30) : (1 - (int64_t(1) << 30));
  return static_cast<int32_t>((ab + nudge) / (int64_t(1) << 31));
}

inline int32_t q_rounding_divide_by_pot(int32_t x, int32_t exponent) {
  if (exponent <= 0) return x;
  const int32_t mask = static_cast<int32_t>((int64_t(1) << exponent) - 1);
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

inline int32_t q_multiply(int32_t x, int32_t mult, int32_t shift) {
  int32_t xs = x;
  if (shift > 0) {
    int64_t v = static_cast<int64_t>(x) * (int64_t(1) << shift);
    if (v > INT32_MAX) v = INT32_MAX;
    if (v < INT32_MIN) v = INT32_MIN;
    xs = static_cast<int32_t>(v);
  }
  return q_rounding_divide_by_pot(q_sat_rounding_doubling_high_mul(xs, mult), shift > 0 ? 0 : -shift);
}

inline int8_t q_clamp(int32_t v, int32_t lo, int32_t hi) {
  return static_cast<int8_t>(v < lo ? lo : (v > hi ? hi : v));
}

inline int32_t q_wrap_add(int32_t a, int32_t b) {
  return static_cast<int32_t>(static_cast<uint32_t>(a) + static_cast<uint32_t>(b));
}

// The int8 matmul accumulation: acc + sum_k (a[k] - a_zp) * (b[k * b_stride] - b_zp), int32
// wrapping (qmatmul_s8, and the fused output stage qmatmul_dq_s8 of int8_out.h).
inline int32_t q_dot_s8(const int8_t* a, const int8_t* b, int64_t b_stride, int32_t k, int32_t a_zp, int32_t b_zp,
                        int32_t acc) {
  for (int32_t i = 0; i < k; ++i)
    acc = q_wrap_add(acc, (static_cast<int32_t>(a[i]) - a_zp) * (static_cast<int32_t>(b[i * b_stride]) - b_zp));
  return acc;
}

// Convolution (geometry as conv.h). x int8 (zero point x_zp), w int8 [c_out, c_in/group,
// k...] symmetric, bias int32 or null, mult/shift per output channel (n_mult == c_out) or
// one (n_mult == 1). Padding taps hold the zero point, i.e. contribute nothing.
inline void qconv_s8(const int8_t* x, const int8_t* w, const int32_t* bias, int8_t* y, int32_t batch, int32_t c_in,
                     int32_t c_out, int32_t group, const int32_t* in_sp, const int32_t* k_sp, const int32_t* out_sp,
                     const int32_t* strides, const int32_t* dilations, const int32_t* pads, int32_t x_zp,
                     int32_t y_zp, const int32_t* mult, const int32_t* shift, int32_t n_mult, int32_t act_min,
                     int32_t act_max) {
  const int32_t cg = c_in / group, mg = c_out / group;
  const int64_t in_plane = static_cast<int64_t>(in_sp[0]) * in_sp[1] * in_sp[2];
  const int64_t k_size = static_cast<int64_t>(k_sp[0]) * k_sp[1] * k_sp[2];
  const int64_t out_plane = static_cast<int64_t>(out_sp[0]) * out_sp[1] * out_sp[2];
  for (int32_t n = 0; n < batch; ++n) {
    for (int32_t m = 0; m < c_out; ++m) {
      const int32_t g = m / mg;
      const int8_t* xg = x + (static_cast<int64_t>(n) * c_in + static_cast<int64_t>(g) * cg) * in_plane;
      const int8_t* wm = w + static_cast<int64_t>(m) * cg * k_size;
      const int32_t mm = mult[n_mult == 1 ? 0 : m], sm = shift[n_mult == 1 ? 0 : m];
      const int32_t b = bias ? bias[m] : 0;
      int8_t* yp = y + (static_cast<int64_t>(n) * c_out + m) * out_plane;
      for_each_window(out_sp, k_sp, strides, dilations, pads, in_sp, [&](const Window& win) {
        int32_t acc = b;
        for (int32_t c = 0; c < cg; ++c) {
          const int8_t* xc = xg + c * in_plane;
          const int8_t* wc = wm + c * k_size;
          for_each_tap(win, k_sp, dilations, in_sp, [&](int64_t k, int64_t at) {
            acc = q_wrap_add(acc, (static_cast<int32_t>(xc[at]) - x_zp) * static_cast<int32_t>(wc[k]));
          });
        }
        yp[win.pos] = q_clamp(q_multiply(acc, mm, sm) + y_zp, act_min, act_max);
      });
    }
  }
}

// Matrix product with broadcast batch dims (as matmul in gemm.h): a [.., M, K] (zero point
// a_zp), b [.., K, N] (zero point b_zp; 0 for weights), bias [N] int32 or null, mult/shift
// per column (n_mult == N) or one. Serves Gemm/MatMul with constant weights and
// activation x activation products (attention).
inline void qmatmul_s8(const int8_t* a, const int8_t* b, const int32_t* bias, int8_t* y, int32_t batch_rank,
                       const int32_t* batch_dims, const int32_t* a_strides, const int32_t* b_strides, int32_t M,
                       int32_t N, int32_t K, int32_t a_zp, int32_t b_zp, int32_t y_zp, const int32_t* mult,
                       const int32_t* shift, int32_t n_mult, int32_t act_min, int32_t act_max) {
  const int64_t batches = product(batch_dims, batch_rank);
  const int64_t a_mat = static_cast<int64_t>(M) * K, b_mat = static_cast<int64_t>(K) * N,
                y_mat = static_cast<int64_t>(M) * N;
  NdIter it(batch_rank, batch_dims, 2, a_strides, b_strides);
  for (int64_t bi = 0; bi < batches; ++bi, it.next()) {
    const int8_t* ab = a + it.off[0] * a_mat;
    const int8_t* bb = b + it.off[1] * b_mat;
    int8_t* yb = y + bi * y_mat;
    for (int32_t i = 0; i < M; ++i) {
      const int8_t* ar = ab + static_cast<int64_t>(i) * K;
      for (int32_t j = 0; j < N; ++j) {
        const int32_t acc = q_dot_s8(ar, bb + j, N, K, a_zp, b_zp, bias ? bias[j] : 0);
        const int32_t c = n_mult == 1 ? 0 : j;
        yb[static_cast<int64_t>(i) * N + j] = q_clamp(q_multiply(acc, mult[c], shift[c]) + y_zp, act_min, act_max);
      }
    }
  }
}

// Broadcast elementwise add / subtract (TFLite's quantized Add and Sub): both inputs are
// shifted left by `left_shift` (20) and rescaled to a common scale 2 * max(s_a, s_b), added
// (subtracted), and rescaled to the output: y = clamp(q_multiply(qa +- qb, y_mult, y_shift) + y_zp).
template <bool kSub>
inline void qaddsub_s8(const int8_t* a, const int8_t* b, int8_t* y, int32_t rank, const int32_t* dims,
                       const int32_t* a_strides, const int32_t* b_strides, int32_t a_zp, int32_t b_zp, int32_t y_zp,
                       int32_t a_mult, int32_t a_shift, int32_t b_mult, int32_t b_shift, int32_t y_mult,
                       int32_t y_shift, int32_t left_shift, int32_t act_min, int32_t act_max) {
  const int64_t n = product(dims, rank);
  NdIter it(rank, dims, 2, a_strides, b_strides);
  for (int64_t i = 0; i < n; ++i, it.next()) {
    const int32_t sa = (static_cast<int32_t>(a[it.off[0]]) - a_zp) * (int32_t(1) << left_shift);
    const int32_t sb = (static_cast<int32_t>(b[it.off[1]]) - b_zp) * (int32_t(1) << left_shift);
    const int32_t ra = q_multiply(sa, a_mult, a_shift), rb = q_multiply(sb, b_mult, b_shift);
    y[i] = q_clamp(q_multiply(kSub ? ra - rb : ra + rb, y_mult, y_shift) + y_zp, act_min, act_max);
  }
}

inline void qadd_s8(const int8_t* a, const int8_t* b, int8_t* y, int32_t rank, const int32_t* dims,
                    const int32_t* a_strides, const int32_t* b_strides, int32_t a_zp, int32_t b_zp, int32_t y_zp,
                    int32_t a_mult, int32_t a_shift, int32_t b_mult, int32_t b_shift, int32_t y_mult, int32_t y_shift,
                    int32_t left_shift, int32_t act_min, int32_t act_max) {
  qaddsub_s8<false>(a, b, y, rank, dims, a_strides, b_strides, a_zp, b_zp, y_zp, a_mult, a_shift, b_mult, b_shift,
                    y_mult, y_shift, left_shift, act_min, act_max);
}

inline void qsub_s8(const int8_t* a, const int8_t* b, int8_t* y, int32_t rank, const int32_t* dims,
                    const int32_t* a_strides, const int32_t* b_strides, int32_t a_zp, int32_t b_zp, int32_t y_zp,
                    int32_t a_mult, int32_t a_shift, int32_t b_mult, int32_t b_shift, int32_t y_mult, int32_t y_shift,
                    int32_t left_shift, int32_t act_min, int32_t act_max) {
  qaddsub_s8<true>(a, b, y, rank, dims, a_strides, b_strides, a_zp, b_zp, y_zp, a_mult, a_shift, b_mult, b_shift,
                   y_mult, y_shift, left_shift, act_min, act_max);
}

// Broadcast elementwise multiply: y = clamp(q_multiply((a - a_zp) * (b - b_zp), mult, shift) + y_zp).
inline void qmul_s8(const int8_t* a, const int8_t* b, int8_t* y, int32_t rank, const int32_t* dims,
                    const int32_t* a_strides, const int32_t* b_strides, int32_t a_zp, int32_t b_zp, int32_t y_zp,
                    int32_t mult, int32_t shift, int32_t act_min, int32_t act_max) {
  const int64_t n = product(dims, rank);
  NdIter it(rank, dims, 2, a_strides, b_strides);
  for (int64_t i = 0; i < n; ++i, it.next()) {
    const int32_t p = (static_cast<int32_t>(a[it.off[0]]) - a_zp) * (static_cast<int32_t>(b[it.off[1]]) - b_zp);
    y[i] = q_clamp(q_multiply(p, mult, shift) + y_zp, act_min, act_max);
  }
}

// Global average pool: y[p] = clamp(q_multiply(sum_i (x - x_zp), mult, shift) + y_zp), where
// (mult, shift) encodes s_x / (s_y * size).
inline void qglobal_avg_pool_s8(const int8_t* x, int8_t* y, int32_t nc, int32_t size, int32_t x_zp, int32_t y_zp,
                                int32_t mult, int32_t shift, int32_t act_min, int32_t act_max) {
  for (int32_t p = 0; p < nc; ++p) {
    const int8_t* xp = x + static_cast<int64_t>(p) * size;
    int32_t acc = 0;
    for (int32_t i = 0; i < size; ++i) acc = q_wrap_add(acc, static_cast<int32_t>(xp[i]) - x_zp);
    y[p] = q_clamp(q_multiply(acc, mult, shift) + y_zp, act_min, act_max);
  }
}

// Average pool without padding (every window lies inside the input, ceil_mode 0): geometry as
// qconv_s8 (3 spatial dims, unused ones 1); y = clamp(q_multiply(sum (x - x_zp), mult, shift) +
// y_zp), where (mult, shift) encodes s_x / (s_y * kernel size).
inline void qavg_pool_s8(const int8_t* x, int8_t* y, int32_t nc, const int32_t* in_sp, const int32_t* k_sp,
                         const int32_t* out_sp, const int32_t* strides, int32_t x_zp, int32_t y_zp, int32_t mult,
                         int32_t shift, int32_t act_min, int32_t act_max) {
  const int32_t IH = in_sp[1], IW = in_sp[2];
  const int64_t in_plane = static_cast<int64_t>(in_sp[0]) * IH * IW;
  const int64_t out_plane = static_cast<int64_t>(out_sp[0]) * out_sp[1] * out_sp[2];
  for (int32_t p = 0; p < nc; ++p) {
    const int8_t* xp = x + static_cast<int64_t>(p) * in_plane;
    int8_t* yp = y + static_cast<int64_t>(p) * out_plane;
    for (int32_t od = 0; od < out_sp[0]; ++od)
      for (int32_t oh = 0; oh < out_sp[1]; ++oh)
        for (int32_t ow = 0; ow < out_sp[2]; ++ow) {
          int32_t acc = 0;
          for (int32_t kd = 0; kd < k_sp[0]; ++kd)
            for (int32_t kh = 0; kh < k_sp[1]; ++kh) {
              const int64_t row = (static_cast<int64_t>(od * strides[0] + kd) * IH + oh * strides[1] + kh) * IW +
                                  static_cast<int64_t>(ow) * strides[2];
              for (int32_t kw = 0; kw < k_sp[2]; ++kw) acc = q_wrap_add(acc, static_cast<int32_t>(xp[row + kw]) - x_zp);
            }
          yp[(static_cast<int64_t>(od) * out_sp[1] + oh) * out_sp[2] + ow] =
              q_clamp(q_multiply(acc, mult, shift) + y_zp, act_min, act_max);
        }
  }
}

// Requantize to another scale/zero point (and clamp: folded Relu/Clip):
// y = clamp(q_multiply(x - x_zp, mult, shift) + y_zp).
inline void qrequantize_s8(const int8_t* x, int8_t* y, int32_t n, int32_t x_zp, int32_t y_zp, int32_t mult,
                           int32_t shift, int32_t act_min, int32_t act_max) {
  for (int32_t i = 0; i < n; ++i)
    y[i] = q_clamp(q_multiply(static_cast<int32_t>(x[i]) - x_zp, mult, shift) + y_zp, act_min, act_max);
}

// Softmax over the last axis (rows of n elements), int8 in and out, with an optional mask
// (true = excluded, as Where(mask, -inf, x) before a float Softmax). lut[d] =
// round(2^20 * exp(-d * s_x)) for d = 0..255 is computed by the compiler, so the kernel is
// integer-only:
//   mx = max of the row's included x;  e_i = lut[mx - x_i] (0 if excluded);  sum = sum e_i (int64)
//   r_i = (e_i * 2^30 + sum / 2) / sum          (p_i in Q30, rounded half up)
//   y_i = clamp(q_multiply(r_i, mult, shift) + y_zp)   with (mult, shift) ~ 1 / (s_y * 2^30)
// A row with every element excluded gives y = clamp(y_zp), i.e. 0: the value nan_to_num gives
// for the float Softmax of a fully masked row.
inline void qsoftmax_s8(const int8_t* x, const bool* mask, const int32_t* lut, int8_t* y, int32_t rows, int32_t n,
                        int32_t y_zp, int32_t mult, int32_t shift, int32_t act_min, int32_t act_max) {
  for (int32_t r = 0; r < rows; ++r) {
    const int8_t* xr = x + static_cast<int64_t>(r) * n;
    const bool* mr = mask ? mask + static_cast<int64_t>(r) * n : nullptr;
    int8_t* yr = y + static_cast<int64_t>(r) * n;
    int32_t mx = -129;
    for (int32_t i = 0; i < n; ++i)
      if (!(mr && mr[i]) && xr[i] > mx) mx = xr[i];
    if (mx == -129) {
      for (int32_t i = 0; i < n; ++i) yr[i] = q_clamp(y_zp, act_min, act_max);
      continue;
    }
    int64_t sum = 0;
    for (int32_t i = 0; i < n; ++i)
      if (!(mr && mr[i])) sum += lut[mx - xr[i]];
    for (int32_t i = 0; i < n; ++i) {
      const int64_t e = (mr && mr[i]) ? 0 : lut[mx - xr[i]];
      const int32_t p = static_cast<int32_t>((e * (int64_t(1) << 30) + sum / 2) / sum);
      yr[i] = q_clamp(q_multiply(p, mult, shift) + y_zp, act_min, act_max);
    }
  }
}

// Elementwise function by table lookup (Sigmoid, Tanh, Exp, Sqrt, Pow by a constant, ...):
// y = table[x + 128]; the compiler fills the table with
// clamp(round_half_even(f(s_x (q - x_zp)) / s_y) + y_zp, act_min, act_max) for q = -128..127.
inline void qlookup_s8(const int8_t* x, const int8_t* table, int8_t* y, int32_t n) {
  for (int32_t i = 0; i < n; ++i) y[i] = table[static_cast<int32_t>(x[i]) + 128];
}

// floor(sqrt(v)) of a 64-bit value, digit by digit (two bits per step, no float).
inline uint32_t q_isqrt64(uint64_t v) {
  uint64_t r = 0, bit = uint64_t{1} << 62;
  while (bit > v) bit >>= 2;
  while (bit != 0) {
    if (v >= r + bit) {
      v -= r + bit;
      r = (r >> 1) + bit;
    } else {
      r >>= 1;
    }
    bit >>= 2;
  }
  return static_cast<uint32_t>(r);
}

// Root mean square over the middle axis of x viewed as [outer, n, inner] (RMSNorm's
// sqrt(mean(x^2) + eps) and 1 / that, EmbBERT-Q's sqrt(mean(x^2)) head), from the int8 x:
//   t = (2^(2f) sum_i (x_i - x_zp)^2 + n / 2) / n + eps_q      (uint64, f = frac_bits)
//   r = floor(sqrt(t))  ~  2^f sqrt(mean((x - x_zp)^2) + eps / s_x^2)
//   mode 0 (sqrt):     y = clamp(q_multiply(r, mult, shift) + y_zp), (mult, shift) ~ s_x / (s_y 2^f)
//   mode 1 (c / sqrt): y = clamp((recip_k + r / 2) / r + y_zp), recip_k ~ c 2^f / (s_x s_y); r = 0 gives act_max
// f must be at most qrms_frac_bits_limit(n) (below): then 2^(2f) * 65025 * n and t fit in 63
// bits and r in 32. The compiler takes min(15, that limit), so that r < 2^24 (for eps_q = 0).
inline int32_t qrms_frac_bits_limit(int64_t n) {
  int32_t bits = 0;  // bits of n
  while ((int64_t{1} << bits) <= n) ++bits;
  return (60 - 16 - bits) / 2;
}

inline void qrms_s8(const int8_t* x, int8_t* y, int32_t outer, int32_t n, int32_t inner, int32_t x_zp,
                    int32_t frac_bits, int64_t eps_q, int32_t mode, int64_t recip_k, int32_t y_zp, int32_t mult,
                    int32_t shift, int32_t act_min, int32_t act_max) {
  const uint64_t un = static_cast<uint64_t>(n);
  for (int32_t o = 0; o < outer; ++o)
    for (int32_t j = 0; j < inner; ++j) {
      const int8_t* xp = x + static_cast<int64_t>(o) * n * inner + j;
      uint64_t ss = 0;
      for (int32_t i = 0; i < n; ++i) {
        const int32_t d = static_cast<int32_t>(xp[static_cast<int64_t>(i) * inner]) - x_zp;
        ss += static_cast<uint32_t>(d * d);
      }
      const uint64_t t = ((ss << (2 * frac_bits)) + un / 2) / un + static_cast<uint64_t>(eps_q);
      const uint32_t r = q_isqrt64(t);
      int32_t q;
      if (mode == 0) {
        q = q_multiply(static_cast<int32_t>(r), mult, shift);
      } else if (r == 0) {
        q = act_max - y_zp;
      } else {
        const uint64_t v = (static_cast<uint64_t>(recip_k) + r / 2) / r;
        q = v > (1u << 20) ? (1 << 20) : static_cast<int32_t>(v);
      }
      y[static_cast<int64_t>(o) * inner + j] = q_clamp(q + y_zp, act_min, act_max);
    }
}

}  // namespace ref
}  // namespace tinyodlc
