// int8 kernels for ARMv7E-M with the DSP extension (Cortex-M4/M7): the same arithmetic as
// tinyodlc/ref/int8.h, bit-exact, with the reference's parameters plus one trailing scratch
// buffer (`scratch`, at least *_scratch_bytes(...) bytes, 4-byte aligned; the compiler's
// memory planner provides it). Layout is the reference's: NCHW activations, weights
// [c_out, c_in/group, k...], matrices row-major. Arithmetic notes (docs/performance.md):
//
//  - int32 accumulation wraps modulo 2^32 in the reference (q_wrap_add), so any summation
//    order gives the same accumulator; SMLAD also wraps. Hence
//    sum (x - x_zp) w = sum x w - x_zp sum w exactly (used by the depthwise kernel).
//  - Requantization: SaturatingRoundingDoublingHighMul(x, m) for m != INT32_MIN equals
//    floor((x m + 2^30) / 2^31) (one SMLAL and a shift; the reference's truncating division
//    of x m + 1 - 2^30 for negative products gives the same value, docs/performance.md), then
//    the reference's RoundingDivideByPOT. Multipliers are checked once per channel.
//
// Kernels:
//  - qconv_s8: depthwise 3x3 (stride 1 or 2, 2-D, any padding; also 3x3 with one input
//    channel): per channel, the padded plane is copied to scratch (padding = x_zp), two outputs
//    per step from one 32-bit load per kernel row (SXTB16 + SMLAD + SMLAxy); stride 1 writes a
//    row of accumulators, then requantizes the row (y_zp folded into the rounding constant).
//    Every other conv (1x1, dense k x k,
//    grouped, 1-D/3-D, dilated): im2col of two output pixels into int16 columns (x - x_zp,
//    padding 0, each group of 4 stored as k0 k2 k1 k3 to match SXTB16 of the weights), then
//    a GEMM block of 2 output channels x 2 pixels: per 4 taps 2 LDRD of the columns, 2 weight
//    loads, 4 SXTB16, 8 SMLAD. Each path is a template on kFull (activation range = all of
//    int8: the clamp is one SSAT).
//  - qmatmul_s8: with >= 4 rows, each block of 4 columns of b is packed once into sign-extended
//    pairs (8 words per 4 taps) with its column sums, and 2 rows x 4 columns are computed per
//    step from a as stored (a_zp enters as -a_zp * sum(b[:, j])): 16 SMLAD per 4 taps. With
//    fewer rows (fully connected), each row goes to scratch as int16 (a - a_zp) pairs and b is
//    streamed as stored, 4 rows of b merged bytewise (PKHBT/PKHTB) before SXTB16: 8 SMLAD per
//    4 taps x 4 columns. b_zp enters as -b_zp * sum(a - a_zp).
// Over 500 lines on purpose: a generated model copies this one header for all its int8 layers
// (conv 1x1 / im2col / depthwise, matmul, elementwise, requantization share the SIMD helpers at
// the top); splitting it per op would make every model include several headers for one helper set.
#pragma once

#include "tinyodlc/armv7em/acle.h"
#include "tinyodlc/ref/int8.h"

// The conv paths stay functions of their own: inlined into a caller with several conv calls,
// GCC's register allocation of the inner loops changed with the caller (measured).
#define TINYODLC_KERNEL_NOINLINE __attribute__((noinline)) inline
namespace tinyodlc {
namespace armv7em {

// ---- requantization ------------------------------------------------------------------------
struct Requant {
  int32_t mult, shift;
  int32_t left;       // max(shift, 0)
  int32_t right;      // max(-shift, 0)
  int32_t mask, thr;  // RoundingDivideByPOT: 2^right - 1 and its half
  bool exact;         // false: mult == INT32_MIN, use the reference's q_multiply
  bool fast;          // 2^30 < mult, right >= 1, no left shift: the one-product form below
  int32_t fshift;     // fast: right - 1
  uint32_t rlo, rhi;  // fast: 2^30 + 2^(30 + right) as a 64-bit pair
};

inline Requant requant_of(int32_t mult, int32_t shift) {
  Requant r;
  r.mult = mult;
  r.shift = shift;
  r.left = shift > 0 ? shift : 0;
  r.right = shift > 0 ? 0 : -shift;
  if (r.right > 31) r.right = 31;  // the reference's mask for exponent 31 (and beyond: same result)
  r.mask = static_cast<int32_t>((int64_t(1) << r.right) - 1);
  r.thr = r.mask >> 1;
  r.exact = mult != INT32_MIN && shift >= -31 && shift <= 31;
  r.fast = r.exact && mult > (int32_t(1) << 30) && r.left == 0 && r.right >= 1;
  r.fshift = r.right - 1;
  const uint64_t R = (uint64_t(1) << 30) + (uint64_t(1) << (30 + r.right));
  r.rlo = static_cast<uint32_t>(R);
  r.rhi = static_cast<uint32_t>(R >> 32);
  return r;
}

// The fast form (2^30 < mult < 2^31, right = e >= 1, no left shift): with n = 1 if x < 0
// (then and only then x * mult + 2^30 < 0, i.e. the high product h below is negative), the
// reference's two roundings, h = floor((x m + 2^30) / 2^31) and then RoundingDivideByPOT(h, e)
// = floor((h + 2^(e-1) - n) / 2^e), are together floor((x m + 2^30 + 2^(30+e) - n 2^31) / 2^(31+e))
// (floor((floor(a / b) + c) / d) = floor((a + c b) / (b d)) for integers). That is two SMLAL
// onto a 64-bit constant and one arithmetic shift of the high word by e - 1.
inline int32_t requant_fast(int32_t x, const Requant& q) {
#if TINYODLC_HAVE_DSP
  uint32_t lo = q.rlo, hi = q.rhi;
  __asm__("smlal %0, %1, %2, %3" : "+r"(lo), "+r"(hi) : "r"(x), "r"(q.mult));
  __asm__("smlal %0, %1, %2, %3" : "+r"(lo), "+r"(hi) : "r"(static_cast<uint32_t>(x) >> 31), "r"(0x80000000u));
  return static_cast<int32_t>(hi) >> q.fshift;
#else
  const int64_t p = static_cast<int64_t>(x) * q.mult + static_cast<int64_t>((uint64_t(q.rhi) << 32) | q.rlo) -
                    (x < 0 ? (int64_t(1) << 31) : 0);
  return static_cast<int32_t>(p >> (q.fshift + 32));
#endif
}

inline int32_t requant_apply(int32_t acc, const Requant& q) {
  if (__builtin_expect(q.fast, 1)) return requant_fast(acc, q);
  if (__builtin_expect(!q.exact, 0)) return ref::q_multiply(acc, q.mult, q.shift);
  int32_t x = acc;
  if (__builtin_expect(q.left > 0, 0)) {  // saturating x * 2^left
    const int32_t lim = INT32_MAX >> q.left;
    x = x > lim ? INT32_MAX : (x < -lim - 1 ? INT32_MIN : static_cast<int32_t>(static_cast<uint32_t>(x) << q.left));
  }
  // floor((x * mult + 2^30) / 2^31): one SMLAL onto 2^30, then bits 31..62.
#if TINYODLC_HAVE_DSP
  uint32_t lo = 1u << 30, hi = 0;
  __asm__("smlal %0, %1, %2, %3" : "+r"(lo), "+r"(hi) : "r"(x), "r"(q.mult));
  const int32_t h = static_cast<int32_t>((hi << 1) | (lo >> 31));
#else
  const int64_t ab = static_cast<int64_t>(x) * static_cast<int64_t>(q.mult) + (int64_t(1) << 30);
  const int32_t h = static_cast<int32_t>(ab >> 31);
#endif
  // RoundingDivideByPOT(h, right): ties away from zero.
  const int32_t rem = h & q.mask;
  const int32_t thr = q.thr + static_cast<int32_t>(static_cast<uint32_t>(h) >> 31);
  return (h >> q.right) + (rem > thr ? 1 : 0);
}

inline int8_t requant_out(int32_t acc, const Requant& q, int32_t y_zp, int32_t act_min, int32_t act_max) {
  int32_t v = requant_apply(acc, q) + y_zp;
  v = v < act_min ? act_min : v;
  v = v > act_max ? act_max : v;
  return static_cast<int8_t>(v);
}

// kFull: the activation range is all of int8 ([-128, 127]), so the clamp is one SSAT.
// v (requantized, plus y_zp) clamped to [act_min, act_max].
template <bool kFull>
inline int8_t clamp_out(int32_t v, int32_t act_min, int32_t act_max) {
  if (kFull) return static_cast<int8_t>(ssat8(v));
  v = v < act_min ? act_min : v;
  v = v > act_max ? act_max : v;
  return static_cast<int8_t>(v);
}

template <bool kFull>
inline int8_t requant_out_t(int32_t acc, const Requant& q, int32_t y_zp, int32_t act_min, int32_t act_max) {
  if (kFull) return static_cast<int8_t>(ssat8(requant_apply(acc, q) + y_zp));
  return requant_out(acc, q, y_zp, act_min, act_max);
}

inline int32_t wadd(int32_t a, int32_t b) { return ref::q_wrap_add(a, b); }
inline int32_t wmul(int32_t a, int32_t b) {
  return static_cast<int32_t>(static_cast<uint32_t>(a) * static_cast<uint32_t>(b));
}

// ---- convolution ---------------------------------------------------------------------------
inline bool qconv_is_dw3x3(int32_t c_in, int32_t c_out, int32_t group, const int32_t* in_sp, const int32_t* k_sp,
                           const int32_t* out_sp, const int32_t* strides, const int32_t* dilations) {
  // Depthwise, or one input channel (group 1): every output channel filters the same plane.
  return ((group == c_in && group == c_out) || (c_in == 1 && group == 1)) && in_sp[0] == 1 && out_sp[0] == 1 && k_sp[0] == 1 && k_sp[1] == 3 &&
         k_sp[2] == 3 && dilations[0] == 1 && dilations[1] == 1 && dilations[2] == 1 && strides[0] == 1 &&
         strides[1] == strides[2] && (strides[1] == 1 || strides[1] == 2) && out_sp[1] > 0 && out_sp[2] > 0;
}

// Depthwise (one input channel per group, multiplier 1), 1-D or 2-D, dilation 1 along the
// width, any kernel, stride and padding, other than the 3x3 case above.
inline bool qconv_is_dw_general(int32_t c_in, int32_t c_out, int32_t group, const int32_t* in_sp, const int32_t* k_sp,
                                const int32_t* out_sp, const int32_t* dilations) {
  return group == c_in && group == c_out && in_sp[0] == 1 && out_sp[0] == 1 && k_sp[0] == 1 && dilations[0] == 1 &&
         dilations[2] == 1 && k_sp[1] >= 1 && k_sp[2] >= 1 && out_sp[1] > 0 && out_sp[2] > 0;
}

// The padded plane of qconv_dw_general: rows and columns of every window, plus one column.
inline void qconv_dw_general_plane(const int32_t* k_sp, const int32_t* out_sp, const int32_t* strides,
                                   const int32_t* dilations, int32_t* ph, int32_t* pw) {
  *ph = (out_sp[1] - 1) * strides[1] + (k_sp[1] - 1) * dilations[1] + 1;
  *pw = (out_sp[2] - 1) * strides[2] + k_sp[2] + 1;
}

// Bytes of scratch qconv_s8 needs (0 if none).
inline int32_t qconv_s8_scratch_bytes(int32_t c_in, int32_t c_out, int32_t group, const int32_t* in_sp,
                                      const int32_t* k_sp, const int32_t* out_sp, const int32_t* strides,
                                      const int32_t* dilations) {
  if (qconv_is_dw3x3(c_in, c_out, group, in_sp, k_sp, out_sp, strides, dilations)) {
    const int32_t s = strides[1];
    const int32_t ph = (out_sp[1] - 1) * s + 3, pw = (out_sp[2] - 1) * s + 5;
    return (ph * pw + 3) / 4 * 4 + 4 + (out_sp[2] + 2) * 4;  // plane, one row of int32 accumulators
  }
  if (qconv_is_dw_general(c_in, c_out, group, in_sp, k_sp, out_sp, dilations)) {
    int32_t ph, pw;
    qconv_dw_general_plane(k_sp, out_sp, strides, dilations, &ph, &pw);
    return ph * pw * 2 + k_sp[1] * ((k_sp[2] + 1) / 2) * 4 + 8;
  }
  const int32_t k = (c_in / group) * k_sp[0] * k_sp[1] * k_sp[2];
  // The per-channel requantization table, two interleaved int16 columns of k taps
  // (detail::col_pos), then one column of k taps in natural order (detail::im2col).
  return c_out * static_cast<int32_t>(sizeof(Requant)) + (2 * (k & ~3) + 8) * 2 + (k + 3) / 4 * 8 + 8;
}

namespace detail {

// Two im2col columns (output pixels q = 0, 1) share one int16 buffer, interleaved per group
// of 4 taps: [q0: k0 k2 k1 k3][q1: k0 k2 k1 k3] (the order of SXTB16's even/odd halves of a
// weight word), then the K % 4 tail taps: [q0: t0 t1 t2 .][q1: t0 t1 t2 .].
inline int32_t col_pos(int32_t k, int32_t K4, int32_t q) {
  return k < K4 ? ((k & ~3) << 1) + q * 4 + ((k ^ (((k ^ (k >> 1)) & 1) * 3)) & 3) : 2 * K4 + q * 4 + (k - K4);
}

// Column q for output pixel (od, oh, ow) of group g: x - x_zp per tap, 0 for padding taps.
inline void im2col(const int8_t* xg, int16_t* col, int32_t q, int32_t cg, const int32_t* in_sp, const int32_t* k_sp,
                   const int32_t* strides, const int32_t* dilations, const int32_t* pads, int32_t x_zp, int32_t od,
                   int32_t oh, int32_t ow) {
  const int32_t ID = in_sp[0], IH = in_sp[1], IW = in_sp[2];
  const int32_t KD = k_sp[0], KH = k_sp[1], KW = k_sp[2];
  const int32_t K = cg * KD * KH * KW, K4 = K & ~3;
  const int64_t in_plane = static_cast<int64_t>(ID) * IH * IW;
  const int32_t id0 = od * strides[0] - pads[0], ih0 = oh * strides[1] - pads[1], iw0 = ow * strides[2] - pads[2];
  if (KD * KH * KW == 1 && id0 >= 0 && id0 < ID && ih0 >= 0 && ih0 < IH && iw0 >= 0 && iw0 < IW) {
    // 1x1: one tap per channel.
    const int8_t* xp = xg + (static_cast<int64_t>(id0) * IH + ih0) * IW + iw0;
    int16_t* cp = col + q * 4;
    int32_t c = 0;
    for (; c < K4; c += 4, cp += 8) {
      cp[0] = static_cast<int16_t>(xp[0] - x_zp);
      cp[2] = static_cast<int16_t>(xp[in_plane] - x_zp);
      cp[1] = static_cast<int16_t>(xp[2 * in_plane] - x_zp);
      cp[3] = static_cast<int16_t>(xp[3 * in_plane] - x_zp);
      xp += 4 * in_plane;
    }
    for (; c < K; ++c, xp += in_plane) col[col_pos(c, K4, q)] = static_cast<int16_t>(xp[0] - x_zp);
    return;
  }
  // General case: the taps in their natural order k = 0..K-1 into `nat` (scratch after the
  // two columns; tight loops, no bounds checks on rows inside the input), then one pass that
  // reorders each group of 4 to k0 k2 k1 k3 with PKHBT/PKHTB; the K % 4 tail stays in order.
  int16_t* nat = col + 2 * K4 + 8;
  int16_t* np = nat;
  const int32_t dw = dilations[2];
  const bool row_inside = iw0 >= 0 && iw0 + (KW - 1) * dw < IW;
  if (KD == 1 && dilations[1] == 1 && dw == 1 && row_inside && ih0 >= 0 && ih0 + KH <= IH && id0 == 0) {
    // 2-D window entirely inside the input: KH rows of KW contiguous taps per channel.
    const int8_t* xc = xg + static_cast<int64_t>(ih0) * IW + iw0;
    for (int32_t c = 0; c < cg; ++c, xc += in_plane) {
      const int8_t* xr = xc;
      if (KW == 3) {
        for (int32_t kh = 0; kh < KH; ++kh, xr += IW, np += 3) {
          np[0] = static_cast<int16_t>(xr[0] - x_zp);
          np[1] = static_cast<int16_t>(xr[1] - x_zp);
          np[2] = static_cast<int16_t>(xr[2] - x_zp);
        }
      } else {
        for (int32_t kh = 0; kh < KH; ++kh, xr += IW)
          for (int32_t kw = 0; kw < KW; ++kw) *np++ = static_cast<int16_t>(xr[kw] - x_zp);
      }
    }
  } else {
    for (int32_t c = 0; c < cg; ++c) {
      const int8_t* xc = xg + c * in_plane;
      for (int32_t kd = 0; kd < KD; ++kd) {
        const int32_t id = id0 + kd * dilations[0];
        const bool din = id >= 0 && id < ID;
        for (int32_t kh = 0; kh < KH; ++kh) {
          const int32_t ih = ih0 + kh * dilations[1];
          if (!(din && ih >= 0 && ih < IH)) {
            for (int32_t kw = 0; kw < KW; ++kw) *np++ = 0;
            continue;
          }
          const int8_t* xr = xc + (static_cast<int64_t>(id) * IH + ih) * IW;
          if (row_inside) {
            const int8_t* xp = xr + iw0;
            for (int32_t kw = 0; kw < KW; ++kw, xp += dw) *np++ = static_cast<int16_t>(xp[0] - x_zp);
          } else {
            for (int32_t kw = 0; kw < KW; ++kw) {
              const int32_t iw = iw0 + kw * dw;
              *np++ = static_cast<int16_t>(iw >= 0 && iw < IW ? xr[iw] - x_zp : 0);
            }
          }
        }
      }
    }
  }
  int16_t* cp = col + q * 4;
  int32_t k = 0;
  for (; k < K4; k += 4, cp += 8) {
    const uint32_t lo = ld32(nat + k), hi = ld32(nat + k + 2);  // (k0, k1), (k2, k3)
    st32(cp, pack_lo_lo(lo, hi));                                // (k0, k2)
    st32(cp + 2, pack_hi_hi(lo, hi));                            // (k1, k3)
  }
  for (; k < K; ++k) col[2 * K4 + q * 4 + (k - K4)] = nat[k];
}

// Both columns of a 1x1 conv (stride 1, no padding) for the neighbouring pixels xp[0], xp[1]:
// per 4 channels, one halfword load each gives both pixels' bytes; channels 0 and 2 (1 and 3)
// merged into one word, SXTB16 gives the pairs (k0, k2) of pixel 0, SXTB16 ROR 8 those of
// pixel 1, then SSUB16 subtracts x_zp. Same layout and values as two im2col calls.
inline void im2col_1x1_pair(const int8_t* xp, int16_t* col, int32_t K, int64_t in_plane, int32_t x_zp) {
  const int32_t K4 = K & ~3;
  const uint32_t zp2 = pack16(x_zp, x_zp);
  int16_t* cp = col;
  int32_t k = 0;
  for (; k < K4; k += 4, xp += 4 * in_plane, cp += 8) {
    uint16_t h0, h1, h2, h3;
    memcpy(&h0, xp, 2);
    memcpy(&h1, xp + in_plane, 2);
    memcpy(&h2, xp + 2 * in_plane, 2);
    memcpy(&h3, xp + 3 * in_plane, 2);
    const uint32_t w02 = h0 | (static_cast<uint32_t>(h2) << 16), w13 = h1 | (static_cast<uint32_t>(h3) << 16);
    st32(cp, ssub16(sxtb16(w02), zp2));           // pixel 0: (k0, k2)
    st32(cp + 2, ssub16(sxtb16(w13), zp2));       // pixel 0: (k1, k3)
    st32(cp + 4, ssub16(sxtb16_ror8(w02), zp2));  // pixel 1: (k0, k2)
    st32(cp + 6, ssub16(sxtb16_ror8(w13), zp2));  // pixel 1: (k1, k3)
  }
  for (int32_t t = 0; k < K; ++k, ++t, xp += in_plane) {
    col[2 * K4 + t] = static_cast<int16_t>(xp[0] - x_zp);
    col[2 * K4 + 4 + t] = static_cast<int16_t>(xp[1] - x_zp);
  }
}

// dot(weight rows w0 and w0 + K, columns 0 and 1) accumulated onto acc {w0.c0, w0.c1, w1.c0, w1.c1}.
inline void dot_2x2(const int8_t* w0, const int16_t* col, int32_t K, int32_t acc[4]) {
  int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
  const int32_t K4 = K & ~3;
  const int8_t* w1 = w0 + K;
  const int8_t* wend = w0 + K4;
  const int16_t* cp = col;
  while (w0 != wend) {
    uint32_t x0a, x0b, x1a, x1b;
    ld2x32_inc(cp, x0a, x0b);
    ld2x32_inc(cp, x1a, x1b);
    const uint32_t wa = ld32(w0);
    w0 += 4;
    const uint32_t we = sxtb16(wa), wo = sxtb16_ror8(wa);
    a00 = smlad(we, x0a, a00);
    a01 = smlad(we, x1a, a01);
    a00 = smlad(wo, x0b, a00);
    a01 = smlad(wo, x1b, a01);
    const uint32_t wb = ld32(w1);
    w1 += 4;
    const uint32_t ve = sxtb16(wb), vo = sxtb16_ror8(wb);
    a10 = smlad(ve, x0a, a10);
    a11 = smlad(ve, x1a, a11);
    a10 = smlad(vo, x0b, a10);
    a11 = smlad(vo, x1b, a11);
  }
  for (int32_t t = 0; t < K - K4; ++t) {
    a00 = wadd(a00, wmul(w0[t], cp[t]));
    a01 = wadd(a01, wmul(w0[t], cp[4 + t]));
    a10 = wadd(a10, wmul(w1[t], cp[t]));
    a11 = wadd(a11, wmul(w1[t], cp[4 + t]));
  }
  acc[0] = a00;
  acc[1] = a01;
  acc[2] = a10;
  acc[3] = a11;
}

// dot(weight row w0, column q).
inline int32_t dot_1x1(const int8_t* w0, const int16_t* col, int32_t q, int32_t K, int32_t a) {
  const int32_t K4 = K & ~3;
  const int16_t* cp = col + q * 4;
  int32_t k = 0;
  for (; k < K4; k += 4, cp += 8) {
    const uint32_t wa = ld32(w0 + k);
    a = smlad(sxtb16(wa), ld32(cp), a);
    a = smlad(sxtb16_ror8(wa), ld32(cp + 2), a);
  }
  for (int32_t t = 0; k < K; ++k, ++t) a = wadd(a, wmul(w0[k], cp[t]));
  return a;
}

template <bool kFull>
TINYODLC_KERNEL_NOINLINE void qconv_gemm(const int8_t* x, const int8_t* w, const int32_t* bias, int8_t* y,
                                         int32_t batch, int32_t c_in,
                       int32_t c_out, int32_t group, const int32_t* in_sp, const int32_t* k_sp, const int32_t* out_sp,
                       const int32_t* strides, const int32_t* dilations, const int32_t* pads, int32_t x_zp,
                       int32_t y_zp, const int32_t* mult, const int32_t* shift, int32_t n_mult, int32_t act_min,
                       int32_t act_max, void* scratch) {
  const int32_t cg = c_in / group, mg = c_out / group;
  const int32_t K = cg * k_sp[0] * k_sp[1] * k_sp[2];
  const int32_t OH = out_sp[1], OW = out_sp[2];
  const int64_t in_plane = static_cast<int64_t>(in_sp[0]) * in_sp[1] * in_sp[2];
  const int32_t P = out_sp[0] * OH * OW;
  // 1x1, stride 1, no padding, output = input size: output pixel p reads input pixel p.
  const bool identity_1x1 = k_sp[0] * k_sp[1] * k_sp[2] == 1 && strides[0] == 1 && strides[1] == 1 &&
                            strides[2] == 1 && pads[0] == 0 && pads[1] == 0 && pads[2] == 0 &&
                            in_sp[0] == out_sp[0] && in_sp[1] == out_sp[1] && in_sp[2] == out_sp[2];
  Requant* rq = static_cast<Requant*>(scratch);
  for (int32_t m = 0; m < c_out; ++m) rq[m] = requant_of(mult[n_mult == 1 ? 0 : m], shift[n_mult == 1 ? 0 : m]);
  int16_t* col = reinterpret_cast<int16_t*>(rq + c_out);
  for (int32_t n = 0; n < batch; ++n) {
    for (int32_t g = 0; g < group; ++g) {
      const int8_t* xg = x + (static_cast<int64_t>(n) * c_in + static_cast<int64_t>(g) * cg) * in_plane;
      int8_t* yg = y + (static_cast<int64_t>(n) * c_out + static_cast<int64_t>(g) * mg) * P;
      const int8_t* wg = w + static_cast<int64_t>(g) * mg * K;
      for (int32_t p = 0; p < P; p += 2) {
        const bool two = p + 1 < P;
        if (two && identity_1x1) {
          im2col_1x1_pair(xg + p, col, K, in_plane, x_zp);
        } else {
          const int32_t ow = p % OW, r = p / OW;
          im2col(xg, col, 0, cg, in_sp, k_sp, strides, dilations, pads, x_zp, r / OH, r % OH, ow);
        }
        if (two && !identity_1x1) {
          const int32_t ow = (p + 1) % OW, r = (p + 1) / OW;
          im2col(xg, col, 1, cg, in_sp, k_sp, strides, dilations, pads, x_zp, r / OH, r % OH, ow);
        }
        int32_t j = 0;
        for (; j + 1 < mg; j += 2) {
          const int32_t m = g * mg + j;
          const int32_t b0 = bias ? bias[m] : 0, b1 = bias ? bias[m + 1] : 0;
          const int8_t* w0 = wg + static_cast<int64_t>(j) * K;
          int8_t* y0 = yg + static_cast<int64_t>(j) * P + p;
          const Requant& qa = rq[m];
          const Requant& qb = rq[m + 1];
          if (two) {
            int32_t acc[4] = {b0, b0, b1, b1};
            dot_2x2(w0, col, K, acc);
            if (qa.fast && qb.fast) {  // one test for the 4 outputs
              y0[0] = clamp_out<kFull>(requant_fast(acc[0], qa) + y_zp, act_min, act_max);
              y0[1] = clamp_out<kFull>(requant_fast(acc[1], qa) + y_zp, act_min, act_max);
              y0[P] = clamp_out<kFull>(requant_fast(acc[2], qb) + y_zp, act_min, act_max);
              y0[P + 1] = clamp_out<kFull>(requant_fast(acc[3], qb) + y_zp, act_min, act_max);
            } else {
              y0[0] = requant_out_t<kFull>(acc[0], qa, y_zp, act_min, act_max);
              y0[1] = requant_out_t<kFull>(acc[1], qa, y_zp, act_min, act_max);
              y0[P] = requant_out_t<kFull>(acc[2], qb, y_zp, act_min, act_max);
              y0[P + 1] = requant_out_t<kFull>(acc[3], qb, y_zp, act_min, act_max);
            }
          } else {
            y0[0] = requant_out_t<kFull>(dot_1x1(w0, col, 0, K, b0), qa, y_zp, act_min, act_max);
            y0[P] = requant_out_t<kFull>(dot_1x1(w0 + K, col, 0, K, b1), qb, y_zp, act_min, act_max);
          }
        }
        if (j < mg) {
          const int32_t m = g * mg + j;
          const int32_t b0 = bias ? bias[m] : 0;
          const int8_t* w0 = wg + static_cast<int64_t>(j) * K;
          int8_t* y0 = yg + static_cast<int64_t>(j) * P + p;
          const Requant& qa = rq[m];
          y0[0] = requant_out_t<kFull>(dot_1x1(w0, col, 0, K, b0), qa, y_zp, act_min, act_max);
          if (two) y0[1] = requant_out_t<kFull>(dot_1x1(w0, col, 1, K, b0), qa, y_zp, act_min, act_max);
        }
      }
    }
  }
}

// Depthwise 3x3, 2-D, stride 1 or 2 (qconv_is_dw3x3).
// channels = c_out; in_channels = c_out (depthwise) or 1 (every output channel filters plane 0).
template <bool kFull>
TINYODLC_KERNEL_NOINLINE void qconv_dw3x3(const int8_t* x, const int8_t* w, const int32_t* bias, int8_t* y,
                                          int32_t batch,
                        int32_t channels, int32_t in_channels, const int32_t* in_sp, const int32_t* out_sp, int32_t s, const int32_t* pads,
                        int32_t x_zp, int32_t y_zp, const int32_t* mult, const int32_t* shift, int32_t n_mult,
                        int32_t act_min, int32_t act_max, void* scratch) {
  const int32_t IH = in_sp[1], IW = in_sp[2], OH = out_sp[1], OW = out_sp[2];
  // Padded plane: rows/columns of every window, 2 slack columns (the last pair of a row with
  // an odd OW reads past the window; its second output is not stored). Padding and slack
  // hold x_zp, written once; each channel then copies only the input part.
  const int32_t PH = (OH - 1) * s + 3, PW = (OW - 1) * s + 5;
  const int32_t pt = pads[1], pl = pads[2];
  int8_t* plane = static_cast<int8_t*>(scratch);
  int32_t* accrow = reinterpret_cast<int32_t*>(plane + (PH * PW + 3) / 4 * 4 + 4);  // OW + 1 accumulators
  const int32_t r0_in = pt, r1_in = IH + pt < PH ? IH + pt : PH;  // rows [r0_in, r1_in) hold input
  const int32_t c0_in = pl, c1_in = IW + pl < PW - 2 ? IW + pl : PW - 2;
  memset(plane, static_cast<int8_t>(x_zp), static_cast<size_t>(PH * PW));
  const Requant q0 = requant_of(mult[0], shift[0]);
  for (int32_t n = 0; n < batch; ++n) {
    for (int32_t m = 0; m < channels; ++m) {
      const int8_t* xc = x + (static_cast<int64_t>(n) * in_channels + (in_channels == 1 ? 0 : m)) * IH * IW;
      int8_t* yc = y + (static_cast<int64_t>(n) * channels + m) * OH * OW;
      for (int32_t r = r0_in; r < r1_in && (in_channels != 1 || m == 0); ++r) {  // one input plane: copied once
        const int8_t* src = xc + static_cast<int64_t>(r - pt) * IW + (c0_in - pl);
        int8_t* dst = plane + r * PW + c0_in;
        int32_t c = 0;
        for (; c + 4 <= c1_in - c0_in; c += 4) st32(dst + c, ld32(src + c));
        for (; c < c1_in - c0_in; ++c) dst[c] = src[c];
      }
      const int8_t* wm = w + m * 9;
      int32_t sumw = 0;
      for (int32_t t = 0; t < 9; ++t) sumw += wm[t];
      const int32_t corr = wadd(bias ? bias[m] : 0, wmul(-x_zp, sumw));
      const Requant q = n_mult == 1 ? q0 : requant_of(mult[m], shift[m]);
      // Per kernel row r: (w0, w2) and (w0, w1) packed, w1 and w2 alone.
      const uint32_t A02 = pack16(wm[0], wm[2]), A1 = pack16(wm[1], 0);
      const uint32_t B02 = pack16(wm[3], wm[5]), B1 = pack16(wm[4], 0);
      const uint32_t C02 = pack16(wm[6], wm[8]), C1 = pack16(wm[7], 0);
      const uint32_t AB1 = pack16(wm[1], wm[4]);  // w1 of rows 0 and 1 (SMLAxB / SMLAxT)
      for (int32_t oh = 0; oh < OH; ++oh) {
        const int8_t* r0 = plane + oh * s * PW;
        const int8_t* r1 = r0 + PW;
        const int8_t* r2 = r1 + PW;
        int8_t* yr = yc + oh * OW;
        int32_t ow = 0;
        if (s == 1) {
          // out(ow) = w0 x0 + w1 x1 + w2 x2, out(ow + 1) = w0 x1 + w1 x2 + w2 x3 per row. The
          // accumulators of the row go to `accrow` (no requantization constants live in this
          // loop, so nothing spills), then one pass requantizes the row.
          int32_t* ap = accrow;
          int32_t* const aend = accrow + ((OW + 1) & ~1);
          const int8_t* p0 = r0;
          const int8_t* p1 = r1;
          const int8_t* p2 = r2;
          while (ap != aend) {
            uint32_t X = ld32(p0), e = sxtb16(X), o = sxtb16_ror8(X);  // (x0, x2), (x1, x3)
            int32_t a0 = smuad(e, A02), a1 = smuad(o, A02);
            a0 = smlabb(o, AB1, a0);
            a1 = smlatb(e, AB1, a1);
            X = ld32(p1), e = sxtb16(X), o = sxtb16_ror8(X);
            a0 = smlad(e, B02, a0);
            a1 = smlad(o, B02, a1);
            a0 = smlabt(o, AB1, a0);
            a1 = smlatt(e, AB1, a1);
            X = ld32(p2), e = sxtb16(X), o = sxtb16_ror8(X);
            a0 = smlad(e, C02, a0);
            a1 = smlad(o, C02, a1);
            a0 = smlabb(o, C1, a0);
            a1 = smlatb(e, C1, a1);
            ap[0] = a0;
            ap[1] = a1;
            ap += 2;
            p0 += 2;
            p1 += 2;
            p2 += 2;
          }
          if (q.fast && q.fshift <= 22) {
            // y_zp folded into the high word of the rounding constant: |hi| < 2^30 + 2^29 + 2 and
            // |y_zp| 2^fshift <= 2^29, so hi + y_zp 2^fshift does not wrap, and shifting it right by
            // fshift gives (hi >> fshift) + y_zp exactly.
            Requant qz = q;
            qz.rhi = q.rhi + (static_cast<uint32_t>(y_zp) << q.fshift);
            for (; ow + 1 < OW; ow += 2) {
              yr[ow] = clamp_out<kFull>(requant_fast(wadd(accrow[ow], corr), qz), act_min, act_max);
              yr[ow + 1] = clamp_out<kFull>(requant_fast(wadd(accrow[ow + 1], corr), qz), act_min, act_max);
            }
            if (ow < OW) yr[ow] = clamp_out<kFull>(requant_fast(wadd(accrow[ow], corr), qz), act_min, act_max);
          } else if (q.fast)
            for (; ow < OW; ++ow)
              yr[ow] = clamp_out<kFull>(requant_fast(wadd(accrow[ow], corr), q) + y_zp, act_min, act_max);
          else
            for (; ow < OW; ++ow) yr[ow] = requant_out_t<kFull>(wadd(accrow[ow], corr), q, y_zp, act_min, act_max);
        } else if (false) {
          for (; ow < OW; ow += 2) {
            int32_t a0 = corr, a1 = corr;
            uint32_t X = ld32(r0 + ow), e = sxtb16(X), o = sxtb16_ror8(X);  // (x0, x2), (x1, x3)
            a0 = smlad(e, A02, a0);
            a0 = smlabb(o, A1, a0);
            a1 = smlad(o, A02, a1);
            a1 = smlatb(e, A1, a1);
            X = ld32(r1 + ow), e = sxtb16(X), o = sxtb16_ror8(X);
            a0 = smlad(e, B02, a0);
            a0 = smlabb(o, B1, a0);
            a1 = smlad(o, B02, a1);
            a1 = smlatb(e, B1, a1);
            X = ld32(r2 + ow), e = sxtb16(X), o = sxtb16_ror8(X);
            a0 = smlad(e, C02, a0);
            a0 = smlabb(o, C1, a0);
            a1 = smlad(o, C02, a1);
            a1 = smlatb(e, C1, a1);
            yr[ow] = requant_out_t<kFull>(a0, q, y_zp, act_min, act_max);
            if (ow + 1 < OW) yr[ow + 1] = requant_out_t<kFull>(a1, q, y_zp, act_min, act_max);
          }
        } else {
          // out(ow) = w0 x0 + w1 x1 + w2 x2, out(ow + 1) = w0 x2 + w1 x3 + w2 x4 per row.
          const uint32_t A01 = pack16(wm[0], wm[1]), B01 = pack16(wm[3], wm[4]), C01 = pack16(wm[6], wm[7]);
          const int32_t A2 = wm[2], B2 = wm[5], C2 = wm[8];
          for (; ow < OW; ow += 2) {
            int32_t a0 = corr, a1 = corr;
            const int32_t c = 2 * ow;
            uint32_t X = ld32(r0 + c), e = sxtb16(X), o = sxtb16_ror8(X);  // (x0, x2), (x1, x3)
            a0 = smlad(e, A02, a0);
            a0 = smlabb(o, A1, a0);
            a1 = smlad(pack_hi_hi(e, o), A01, a1);
            a1 = wadd(a1, wmul(r0[c + 4], A2));
            X = ld32(r1 + c), e = sxtb16(X), o = sxtb16_ror8(X);
            a0 = smlad(e, B02, a0);
            a0 = smlabb(o, B1, a0);
            a1 = smlad(pack_hi_hi(e, o), B01, a1);
            a1 = wadd(a1, wmul(r1[c + 4], B2));
            X = ld32(r2 + c), e = sxtb16(X), o = sxtb16_ror8(X);
            a0 = smlad(e, C02, a0);
            a0 = smlabb(o, C1, a0);
            a1 = smlad(pack_hi_hi(e, o), C01, a1);
            a1 = wadd(a1, wmul(r2[c + 4], C2));
            yr[ow] = requant_out_t<kFull>(a0, q, y_zp, act_min, act_max);
            if (ow + 1 < OW) yr[ow + 1] = requant_out_t<kFull>(a1, q, y_zp, act_min, act_max);
          }
        }
      }
    }
  }
}

// Depthwise, any kernel (qconv_is_dw_general): per channel, the padded plane as int16 x - x_zp
// (padding 0) and the weights as int16 pairs along the width (an odd width gets a 0 partner);
// per output and kernel row, one 32-bit load of two neighbouring taps and one SMLAD per pair.
template <bool kFull>
TINYODLC_KERNEL_NOINLINE void qconv_dw_general(const int8_t* x, const int8_t* w, const int32_t* bias, int8_t* y,
                                               int32_t batch,
                             int32_t channels, const int32_t* in_sp, const int32_t* k_sp, const int32_t* out_sp,
                             const int32_t* strides, const int32_t* dilations, const int32_t* pads, int32_t x_zp,
                             int32_t y_zp, const int32_t* mult, const int32_t* shift, int32_t n_mult,
                             int32_t act_min, int32_t act_max, void* scratch) {
  const int32_t IH = in_sp[1], IW = in_sp[2], OH = out_sp[1], OW = out_sp[2];
  const int32_t KH = k_sp[1], KW = k_sp[2], KP = (KW + 1) / 2;
  const int32_t sh = strides[1], sw = strides[2], dh = dilations[1];
  int32_t PH, PW;
  qconv_dw_general_plane(k_sp, out_sp, strides, dilations, &PH, &PW);
  const int32_t pt = pads[1], pl = pads[2];
  int16_t* plane = static_cast<int16_t*>(scratch);
  uint32_t* wp = reinterpret_cast<uint32_t*>(static_cast<uint8_t*>(scratch) + (PH * PW * 2 + 3) / 4 * 4);
  const int32_t r0_in = pt, r1_in = IH + pt < PH ? IH + pt : PH;  // plane rows holding input
  const int32_t c0_in = pl, c1_in = IW + pl < PW ? IW + pl : PW;
  for (int32_t i = 0; i < PH * PW; ++i) plane[i] = 0;
  const Requant q0 = requant_of(mult[0], shift[0]);
  for (int32_t n = 0; n < batch; ++n) {
    for (int32_t m = 0; m < channels; ++m) {
      const int8_t* xc = x + (static_cast<int64_t>(n) * channels + m) * IH * IW;
      int8_t* yc = y + (static_cast<int64_t>(n) * channels + m) * OH * OW;
      for (int32_t r = r0_in; r < r1_in; ++r) {
        const int8_t* src = xc + static_cast<int64_t>(r - pt) * IW;
        int16_t* dst = plane + r * PW;
        for (int32_t c = c0_in; c < c1_in; ++c) dst[c] = static_cast<int16_t>(src[c - pl] - x_zp);
      }
      const int8_t* wm = w + static_cast<int64_t>(m) * KH * KW;
      for (int32_t kh = 0; kh < KH; ++kh)
        for (int32_t p = 0; p < KP; ++p)
          wp[kh * KP + p] = pack16(wm[kh * KW + 2 * p], 2 * p + 1 < KW ? wm[kh * KW + 2 * p + 1] : 0);
      const int32_t b = bias ? bias[m] : 0;
      const Requant qm = n_mult == 1 ? q0 : requant_of(mult[m], shift[m]);
      for (int32_t oh = 0; oh < OH; ++oh) {
        const int16_t* row0 = plane + oh * sh * PW;
        int8_t* yr = yc + oh * OW;
        for (int32_t ow = 0; ow < OW; ++ow) {
          int32_t acc = b;
          const int16_t* xr = row0 + ow * sw;
          const uint32_t* wk = wp;
          for (int32_t kh = 0; kh < KH; ++kh, xr += dh * PW, wk += KP)
            for (int32_t p = 0; p < KP; ++p) acc = smlad(wk[p], ld32(xr + 2 * p), acc);
          yr[ow] = requant_out_t<kFull>(acc, qm, y_zp, act_min, act_max);
        }
      }
    }
  }
}

}  // namespace detail

namespace detail {
// kFull: act_min = -128 and act_max = 127 (the requantization's clamp is one SSAT).
template <bool kFull>
inline void qconv_dispatch(const int8_t* x, const int8_t* w, const int32_t* bias, int8_t* y, int32_t batch,
                           int32_t c_in, int32_t c_out, int32_t group, const int32_t* in_sp, const int32_t* k_sp,
                           const int32_t* out_sp, const int32_t* strides, const int32_t* dilations,
                           const int32_t* pads, int32_t x_zp, int32_t y_zp, const int32_t* mult,
                           const int32_t* shift, int32_t n_mult, int32_t act_min, int32_t act_max, void* scratch) {
  if (qconv_is_dw3x3(c_in, c_out, group, in_sp, k_sp, out_sp, strides, dilations))
    qconv_dw3x3<kFull>(x, w, bias, y, batch, c_out, c_in, in_sp, out_sp, strides[1], pads, x_zp, y_zp, mult, shift,
                       n_mult,
                        act_min, act_max, scratch);
  else if (qconv_is_dw_general(c_in, c_out, group, in_sp, k_sp, out_sp, dilations))
    qconv_dw_general<kFull>(x, w, bias, y, batch, c_out, in_sp, k_sp, out_sp, strides, dilations, pads, x_zp, y_zp,
                             mult, shift, n_mult, act_min, act_max, scratch);
  else
    qconv_gemm<kFull>(x, w, bias, y, batch, c_in, c_out, group, in_sp, k_sp, out_sp, strides, dilations, pads, x_zp,
                       y_zp, mult, shift, n_mult, act_min, act_max, scratch);
}
}  // namespace detail

inline void qconv_s8(const int8_t* x, const int8_t* w, const int32_t* bias, int8_t* y, int32_t batch, int32_t c_in,
                     int32_t c_out, int32_t group, const int32_t* in_sp, const int32_t* k_sp, const int32_t* out_sp,
                     const int32_t* strides, const int32_t* dilations, const int32_t* pads, int32_t x_zp,
                     int32_t y_zp, const int32_t* mult, const int32_t* shift, int32_t n_mult, int32_t act_min,
                     int32_t act_max, void* scratch) {
  if (x_zp < -128 || x_zp > 127) {  // outside int8 (never produced by the quantizer): reference
    ref::qconv_s8(x, w, bias, y, batch, c_in, c_out, group, in_sp, k_sp, out_sp, strides, dilations, pads, x_zp, y_zp,
                  mult, shift, n_mult, act_min, act_max);
    return;
  }
  if (act_min == -128 && act_max == 127)
    detail::qconv_dispatch<true>(x, w, bias, y, batch, c_in, c_out, group, in_sp, k_sp, out_sp, strides, dilations,
                                 pads, x_zp, y_zp, mult, shift, n_mult, act_min, act_max, scratch);
  else
    detail::qconv_dispatch<false>(x, w, bias, y, batch, c_in, c_out, group, in_sp, k_sp, out_sp, strides, dilations,
                                  pads, x_zp, y_zp, mult, shift, n_mult, act_min, act_max, scratch);
}

// ---- matrix product --------------------------------------------------------------------------
// Rows of a from which b's column blocks are packed once and shared by all rows (below: each
// row streams b as stored).
constexpr int32_t kQMatMulPackRows = 4;

// Bytes of scratch qmatmul_s8 needs: the packed column block of b (8 bytes per k) and the row
// sums of a (packed path), or one row of a as int16 (row path).
inline int32_t qmatmul_s8_scratch_bytes(int32_t M, int32_t N, int32_t K) {
  (void)N;
  const int32_t K4 = K & ~3;
  if (M >= kQMatMulPackRows) return 8 * K4 + 4 * M + 8;
  return 2 * K4 + 8;
}

namespace detail {

// Accumulators, column bias terms and requantization of one 4-column block: y[i][j + c] for
// c < nc from acc + colterm[c] - b_zp * (sum of a row minus a_zp).
// q[c * qs]: qs = 0 for one multiplier, 1 per column.
inline void qmm_store(int8_t* yr, const int32_t* acc, const int32_t* colterm, int32_t rowterm, int32_t nc,
                      const Requant* q, int32_t qs, int32_t y_zp, int32_t act_min, int32_t act_max) {
  for (int32_t c = 0; c < nc; ++c)
    yr[c] = requant_out(wadd(wadd(acc[c], colterm[c]), rowterm), q[c * qs], y_zp, act_min, act_max);
}

// The requantization of columns j .. j + nc - 1: q0 for one multiplier, else tabulated in qb.
inline const Requant* qmm_requant(const Requant& q0, Requant* qb, int32_t* qs, const int32_t* mult,
                                  const int32_t* shift, int32_t n_mult, int32_t j, int32_t nc) {
  if (n_mult == 1) {
    *qs = 0;
    return &q0;
  }
  for (int32_t c = 0; c < nc; ++c) qb[c] = requant_of(mult[j + c], shift[j + c]);
  *qs = 1;
  return qb;
}

// Row path (M < kQMatMulPackRows): a row as int16 words, per group of 4 taps (a0 - zp, a2 - zp),
// (a1 - zp, a3 - zp); b streamed as stored ([K, N], 4 columns per step). Rows k and k + 2 of b
// are merged bytewise (PKHBT/PKHTB) so that SXTB16 gives (b[k][j], b[k + 2][j]) pairs that
// line up with the a word: per 4 taps x 4 columns 4 loads of b, 4 PKH, 8 SXTB16, 8 SMLAD.
inline void qmm_rows(const int8_t* ab, const int8_t* bb, const int32_t* bias, int8_t* yb, int32_t M, int32_t N,
                     int32_t K, int32_t a_zp, int32_t b_zp, int32_t y_zp, const int32_t* mult, const int32_t* shift,
                     int32_t n_mult, int32_t act_min, int32_t act_max, void* scratch) {
  const int32_t K4 = K & ~3;
  const Requant q0 = requant_of(mult[0], shift[0]);
  uint32_t* ae = static_cast<uint32_t*>(scratch);
  const uint32_t zp2 = pack16(a_zp, a_zp);
  const int64_t N4 = 4 * static_cast<int64_t>(N);
  for (int32_t i = 0; i < M; ++i) {
    const int8_t* arow = ab + static_cast<int64_t>(i) * K;
    for (int32_t k = 0; k < K4; k += 4) {
      const uint32_t w = ld32(arow + k);
      ae[k / 2] = ssub16(sxtb16(w), zp2);
      ae[k / 2 + 1] = ssub16(sxtb16_ror8(w), zp2);
    }
    int32_t rowterm = 0;
    if (b_zp != 0) {
      int32_t sa = 0;
      for (int32_t k = 0; k < K; ++k) sa = wadd(sa, static_cast<int32_t>(arow[k]) - a_zp);
      rowterm = wmul(-b_zp, sa);
    }
    int8_t* yr = yb + static_cast<int64_t>(i) * N;
    int32_t j = 0;
    for (; j + 3 < N; j += 4) {
      int32_t c0 = 0, c1 = 0, c2 = 0, c3 = 0;
      const int8_t* p0 = bb + j;
      const int8_t* p2 = p0 + 2 * static_cast<int64_t>(N);
      const uint32_t* ap = ae;
      const uint32_t* aend = ae + K4 / 2;
      while (ap != aend) {
        const uint32_t B0 = ld32(p0), B2 = ld32(p2);
        const uint32_t E = ap[0];
        uint32_t lo = pack_lo_lo(B0, B2), hi = pack_hi_hi(B0, B2);  // (b0 j, b0 j+1, b2 j, b2 j+1), (.. j+2, j+3)
        c0 = smlad(sxtb16(lo), E, c0);
        c1 = smlad(sxtb16_ror8(lo), E, c1);
        c2 = smlad(sxtb16(hi), E, c2);
        c3 = smlad(sxtb16_ror8(hi), E, c3);
        const uint32_t B1 = ld32(p0 + N), B3 = ld32(p2 + N);
        const uint32_t O = ap[1];
        lo = pack_lo_lo(B1, B3), hi = pack_hi_hi(B1, B3);
        c0 = smlad(sxtb16(lo), O, c0);
        c1 = smlad(sxtb16_ror8(lo), O, c1);
        c2 = smlad(sxtb16(hi), O, c2);
        c3 = smlad(sxtb16_ror8(hi), O, c3);
        p0 += N4;
        p2 += N4;
        ap += 2;
      }
      for (int32_t k = K4; k < K; ++k) {
        const int32_t av = static_cast<int32_t>(arow[k]) - a_zp;
        const int8_t* bk = bb + static_cast<int64_t>(k) * N + j;
        c0 = wadd(c0, wmul(av, bk[0]));
        c1 = wadd(c1, wmul(av, bk[1]));
        c2 = wadd(c2, wmul(av, bk[2]));
        c3 = wadd(c3, wmul(av, bk[3]));
      }
      const int32_t acc[4] = {c0, c1, c2, c3};
      const int32_t colterm[4] = {bias ? bias[j] : 0, bias ? bias[j + 1] : 0, bias ? bias[j + 2] : 0,
                                  bias ? bias[j + 3] : 0};
      int32_t qs;
      Requant qb[4];
      const Requant* q = qmm_requant(q0, qb, &qs, mult, shift, n_mult, j, 4);
      qmm_store(yr + j, acc, colterm, rowterm, 4, q, qs, y_zp, act_min, act_max);
    }
    for (; j < N; ++j) {
      int32_t acc = 0;
      for (int32_t k = 0; k < K; ++k)
        acc = wadd(acc, wmul(static_cast<int32_t>(arow[k]) - a_zp, bb[static_cast<int64_t>(k) * N + j]));
      const int32_t colterm = bias ? bias[j] : 0;
      int32_t qs;
      Requant qb[1];
      const Requant* q = qmm_requant(q0, qb, &qs, mult, shift, n_mult, j, 1);
      qmm_store(yr + j, &acc, &colterm, rowterm, 1, q, qs, y_zp, act_min, act_max);
    }
  }
}

// Packed path (M >= kQMatMulPackRows): per block of 4 columns of b, each group of 4 taps is
// packed once into 8 words, (b[k][c], b[k + 2][c]) for c = 0..3, then (b[k + 1][c], b[k + 3][c])
// (columns past N are 0), with the column sums. a is read as stored: SXTB16 of one word of a
// row gives (a0, a2) and (a1, a3), so a_zp is not subtracted per tap but as -a_zp * sum(b[:, c])
// (exact: the accumulation wraps modulo 2^32 in the reference too). Two rows x 4 columns per
// step: per 4 taps 2 loads of a, 4 SXTB16, 8 loads of packed b, 16 SMLAD.
inline void qmm_packed(const int8_t* ab, const int8_t* bb, const int32_t* bias, int8_t* yb, int32_t M, int32_t N,
                       int32_t K, int32_t a_zp, int32_t b_zp, int32_t y_zp, const int32_t* mult, const int32_t* shift,
                       int32_t n_mult, int32_t act_min, int32_t act_max, void* scratch) {
  const int32_t K4 = K & ~3;
  const Requant q0 = requant_of(mult[0], shift[0]);
  uint32_t* pk = static_cast<uint32_t*>(scratch);
  int32_t* rowterm = reinterpret_cast<int32_t*>(pk + 2 * K4);
  for (int32_t i = 0; i < M; ++i) {
    int32_t sa = 0;
    if (b_zp != 0) {
      const int8_t* arow = ab + static_cast<int64_t>(i) * K;
      for (int32_t k = 0; k < K; ++k) sa = wadd(sa, static_cast<int32_t>(arow[k]) - a_zp);
    }
    rowterm[i] = wmul(-b_zp, sa);
  }
  const uint32_t ones = 0x00010001u;
  const uint32_t* pend = pk + 2 * K4;
  for (int32_t j = 0; j < N; j += 4) {
    const int32_t nc = N - j < 4 ? N - j : 4;
    int32_t cs[4] = {0, 0, 0, 0};
    if (nc == 4) {
      const int8_t* p0 = bb + j;
      uint32_t* d = pk;
      for (int32_t k = 0; k < K4; k += 4, p0 += 4 * static_cast<int64_t>(N), d += 8) {
        const uint32_t B0 = ld32(p0), B1 = ld32(p0 + N), B2 = ld32(p0 + 2 * N), B3 = ld32(p0 + 3 * N);
        uint32_t lo = pack_lo_lo(B0, B2), hi = pack_hi_hi(B0, B2);
        d[0] = sxtb16(lo), d[1] = sxtb16_ror8(lo), d[2] = sxtb16(hi), d[3] = sxtb16_ror8(hi);
        lo = pack_lo_lo(B1, B3), hi = pack_hi_hi(B1, B3);
        d[4] = sxtb16(lo), d[5] = sxtb16_ror8(lo), d[6] = sxtb16(hi), d[7] = sxtb16_ror8(hi);
        for (int32_t c = 0; c < 4; ++c) cs[c] = smlad(d[c + 4], ones, smlad(d[c], ones, cs[c]));
      }
    } else {
      for (int32_t k = 0; k < K4; k += 4) {
        uint32_t* d = pk + 2 * k;
        for (int32_t c = 0; c < 4; ++c) {
          int32_t v[4] = {0, 0, 0, 0};
          for (int32_t t = 0; t < 4 && c < nc; ++t) v[t] = bb[static_cast<int64_t>(k + t) * N + j + c];
          d[c] = pack16(v[0], v[2]);
          d[c + 4] = pack16(v[1], v[3]);
          cs[c] = wadd(cs[c], v[0] + v[1] + v[2] + v[3]);
        }
      }
    }
    for (int32_t k = K4; k < K; ++k)
      for (int32_t c = 0; c < nc; ++c) cs[c] = wadd(cs[c], bb[static_cast<int64_t>(k) * N + j + c]);
    int32_t colterm[4];
    for (int32_t c = 0; c < 4; ++c) colterm[c] = c < nc ? wadd(bias ? bias[j + c] : 0, wmul(-a_zp, cs[c])) : 0;
    int32_t qs;
    Requant qb[4];
    const Requant* q = qmm_requant(q0, qb, &qs, mult, shift, n_mult, j, nc);
    int32_t i = 0;
    for (; i + 1 < M; i += 2) {
      const int8_t* a0 = ab + static_cast<int64_t>(i) * K;
      const int8_t* a1 = a0 + K;
      int32_t c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
      const uint32_t* bp = pk;
      const int8_t* x0 = a0;
      const int8_t* x1 = a1;
      while (bp != pend) {
        const uint32_t w0 = ld32(x0), w1 = ld32(x1);
        x0 += 4;
        x1 += 4;
        uint32_t e0 = sxtb16(w0), e1 = sxtb16(w1);
        uint32_t b = bp[0];
        c00 = smlad(b, e0, c00);
        c10 = smlad(b, e1, c10);
        b = bp[1];
        c01 = smlad(b, e0, c01);
        c11 = smlad(b, e1, c11);
        b = bp[2];
        c02 = smlad(b, e0, c02);
        c12 = smlad(b, e1, c12);
        b = bp[3];
        c03 = smlad(b, e0, c03);
        c13 = smlad(b, e1, c13);
        e0 = sxtb16_ror8(w0), e1 = sxtb16_ror8(w1);
        b = bp[4];
        c00 = smlad(b, e0, c00);
        c10 = smlad(b, e1, c10);
        b = bp[5];
        c01 = smlad(b, e0, c01);
        c11 = smlad(b, e1, c11);
        b = bp[6];
        c02 = smlad(b, e0, c02);
        c12 = smlad(b, e1, c12);
        b = bp[7];
        c03 = smlad(b, e0, c03);
        c13 = smlad(b, e1, c13);
        bp += 8;
      }
      int32_t r0[4] = {c00, c01, c02, c03}, r1[4] = {c10, c11, c12, c13};
      for (int32_t k = K4; k < K; ++k) {
        const int8_t* bk = bb + static_cast<int64_t>(k) * N + j;
        for (int32_t c = 0; c < nc; ++c) {
          r0[c] = wadd(r0[c], wmul(a0[k], bk[c]));
          r1[c] = wadd(r1[c], wmul(a1[k], bk[c]));
        }
      }
      qmm_store(yb + static_cast<int64_t>(i) * N + j, r0, colterm, rowterm[i], nc, q, qs, y_zp, act_min, act_max);
      qmm_store(yb + static_cast<int64_t>(i + 1) * N + j, r1, colterm, rowterm[i + 1], nc, q, qs, y_zp, act_min, act_max);
    }
    if (i < M) {
      const int8_t* a0 = ab + static_cast<int64_t>(i) * K;
      int32_t c0 = 0, c1 = 0, c2 = 0, c3 = 0;
      const uint32_t* bp = pk;
      const int8_t* x0 = a0;
      while (bp != pend) {
        const uint32_t w0 = ld32(x0);
        x0 += 4;
        uint32_t e0 = sxtb16(w0);
        c0 = smlad(bp[0], e0, c0);
        c1 = smlad(bp[1], e0, c1);
        c2 = smlad(bp[2], e0, c2);
        c3 = smlad(bp[3], e0, c3);
        e0 = sxtb16_ror8(w0);
        c0 = smlad(bp[4], e0, c0);
        c1 = smlad(bp[5], e0, c1);
        c2 = smlad(bp[6], e0, c2);
        c3 = smlad(bp[7], e0, c3);
        bp += 8;
      }
      int32_t r0[4] = {c0, c1, c2, c3};
      for (int32_t k = K4; k < K; ++k) {
        const int8_t* bk = bb + static_cast<int64_t>(k) * N + j;
        for (int32_t c = 0; c < nc; ++c) r0[c] = wadd(r0[c], wmul(a0[k], bk[c]));
      }
      qmm_store(yb + static_cast<int64_t>(i) * N + j, r0, colterm, rowterm[i], nc, q, qs, y_zp, act_min, act_max);
    }
  }
}

}  // namespace detail

inline void qmatmul_s8(const int8_t* a, const int8_t* b, const int32_t* bias, int8_t* y, int32_t batch_rank,
                       const int32_t* batch_dims, const int32_t* a_strides, const int32_t* b_strides, int32_t M,
                       int32_t N, int32_t K, int32_t a_zp, int32_t b_zp, int32_t y_zp, const int32_t* mult,
                       const int32_t* shift, int32_t n_mult, int32_t act_min, int32_t act_max, void* scratch) {
  const int64_t batches = ref::product(batch_dims, batch_rank);
  const int64_t a_mat = static_cast<int64_t>(M) * K, b_mat = static_cast<int64_t>(K) * N,
                y_mat = static_cast<int64_t>(M) * N;
  if (a_zp < -128 || a_zp > 127) {  // a - a_zp would not fit int16: reference
    ref::qmatmul_s8(a, b, bias, y, batch_rank, batch_dims, a_strides, b_strides, M, N, K, a_zp, b_zp, y_zp, mult,
                    shift, n_mult, act_min, act_max);
    return;
  }
  ref::NdIter it(batch_rank, batch_dims, 2, a_strides, b_strides);
  for (int64_t bi = 0; bi < batches; ++bi, it.next()) {
    const int8_t* ab = a + it.off[0] * a_mat;
    const int8_t* bb = b + it.off[1] * b_mat;
    int8_t* yb = y + bi * y_mat;
    if (M >= kQMatMulPackRows)
      detail::qmm_packed(ab, bb, bias, yb, M, N, K, a_zp, b_zp, y_zp, mult, shift, n_mult, act_min, act_max, scratch);
    else
      detail::qmm_rows(ab, bb, bias, yb, M, N, K, a_zp, b_zp, y_zp, mult, shift, n_mult, act_min, act_max, scratch);
  }
}

// ---- elementwise ------------------------------------------------------------------------------
// QMul / QAdd / QSub with the reference's parameters (no scratch): the broadcast walk of the
// reference over all dimensions but the innermost, a strided inner loop, and the requantization
// above (its fast form where it applies) instead of the reference's general q_multiply.
namespace detail {
template <typename F>
inline void qbinary_walk(const int8_t* a, const int8_t* b, int8_t* y, int32_t rank, const int32_t* dims,
                         const int32_t* a_strides, const int32_t* b_strides, F f) {
  if (rank == 0) {
    y[0] = f(a[0], b[0]);
    return;
  }
  const int32_t inner = dims[rank - 1], sa = a_strides[rank - 1], sb = b_strides[rank - 1];
  const int64_t outer = ref::product(dims, rank - 1);
  ref::NdIter it(rank - 1, dims, 2, a_strides, b_strides);
  for (int64_t o = 0; o < outer; ++o, it.next()) {
    const int8_t* pa = a + it.off[0];
    const int8_t* pb = b + it.off[1];
    for (int32_t j = 0; j < inner; ++j, pa += sa, pb += sb) *y++ = f(*pa, *pb);
  }
}
}  // namespace detail

inline void qmul_s8(const int8_t* a, const int8_t* b, int8_t* y, int32_t rank, const int32_t* dims,
                    const int32_t* a_strides, const int32_t* b_strides, int32_t a_zp, int32_t b_zp, int32_t y_zp,
                    int32_t mult, int32_t shift, int32_t act_min, int32_t act_max) {
  const Requant q = requant_of(mult, shift);
  detail::qbinary_walk(a, b, y, rank, dims, a_strides, b_strides, [&](int8_t av, int8_t bv) {
    return requant_out(wmul(static_cast<int32_t>(av) - a_zp, static_cast<int32_t>(bv) - b_zp), q, y_zp, act_min,
                       act_max);
  });
}

template <bool kSub>
inline void qaddsub_s8(const int8_t* a, const int8_t* b, int8_t* y, int32_t rank, const int32_t* dims,
                       const int32_t* a_strides, const int32_t* b_strides, int32_t a_zp, int32_t b_zp, int32_t y_zp,
                       int32_t a_mult, int32_t a_shift, int32_t b_mult, int32_t b_shift, int32_t y_mult,
                       int32_t y_shift, int32_t left_shift, int32_t act_min, int32_t act_max) {
  const Requant qa = requant_of(a_mult, a_shift), qb = requant_of(b_mult, b_shift), qy = requant_of(y_mult, y_shift);
  const int32_t scale = static_cast<int32_t>(uint32_t(1) << left_shift);
  detail::qbinary_walk(a, b, y, rank, dims, a_strides, b_strides, [&](int8_t av, int8_t bv) {
    const int32_t ra = requant_apply(wmul(static_cast<int32_t>(av) - a_zp, scale), qa);
    const int32_t rb = requant_apply(wmul(static_cast<int32_t>(bv) - b_zp, scale), qb);
    return requant_out(kSub ? wadd(ra, wmul(rb, -1)) : wadd(ra, rb), qy, y_zp, act_min, act_max);
  });
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

}  // namespace armv7em
}  // namespace tinyodlc
