// Optimized float32 Conv (issue 16, docs/performance.md): same parameters as
// tinyodlc::ref::conv<float> and the same result to the last bit, with the kernel height/width
// and strides as template parameters (the emitter knows them) so the inner loops have constant
// trip counts and constant offsets.
//
// Bit-exactness: every output is computed with exactly the reference's operations in the
// reference's order: acc = +0.0f, then acc = acc + x * w over the taps that land inside the
// input, channel-major then kh then kw (padding taps are skipped, not multiplied by zero:
// 0 * inf would be NaN), then y = acc + bias (bias = +0.0f without a bias input). Only the
// order in which *different outputs* are computed changes: outputs are computed in register
// blocks (several output channels x several output pixels) that share loads of x and w.
// Portable C++ (no intrinsics): with -ffp-contract=off (the generated code's flags) no
// multiply-add is fused, on the host or on the target.
//
// Paths: pointwise (1x1, stride 1, no padding, group 1) as a GEMM with 4 channels x 4 pixels per
// block; dense (group 1) with 4 channels x 2 pixels per block on window-interior pixels and
// 4 channels x 1 pixel on the border; depthwise (1 input channel per group) with 4 pixels per
// block, the KH*KW weights held in registers. Anything else (other groups, 3-D, dilation): the
// reference kernel (the emitter only selects this kernel for 1-D/2-D, dilation 1, group 1 or
// depthwise, so that fallback is for robustness only).
#pragma once

#include "tinyodlc/ref/conv.h"

namespace tinyodlc {
namespace opt {
namespace conv_f32_detail {

// Pointwise GEMM block: MB output channels x PB consecutive pixels, y = W[m,:] . X[:, p] + b.
template <int MB, int PB>
inline void pw_block(const float* x, const float* w, const float* b, float* y, int32_t cg, int32_t plane) {
  float acc[MB][PB];
#pragma GCC unroll 4
  for (int m = 0; m < MB; ++m)
#pragma GCC unroll 4
    for (int p = 0; p < PB; ++p) acc[m][p] = 0.0f;
  const float* wm[MB];
#pragma GCC unroll 4
  for (int m = 0; m < MB; ++m) wm[m] = w + m * cg;
  for (int32_t c = 0; c < cg; ++c) {
    const float* xc = x + c * plane;
    float xv[PB], wv[MB];
#pragma GCC unroll 4
    for (int p = 0; p < PB; ++p) xv[p] = xc[p];
#pragma GCC unroll 4
    for (int m = 0; m < MB; ++m) wv[m] = wm[m][c];
#pragma GCC unroll 4
    for (int m = 0; m < MB; ++m)
#pragma GCC unroll 4
      for (int p = 0; p < PB; ++p) acc[m][p] = acc[m][p] + xv[p] * wv[m];
  }
#pragma GCC unroll 4
  for (int m = 0; m < MB; ++m) {
    const float bias = b ? b[m] : 0.0f;
#pragma GCC unroll 4
    for (int p = 0; p < PB; ++p) y[m * plane + p] = acc[m][p] + bias;
  }
}

template <int MB>
inline void pw_channels(const float* x, const float* w, const float* b, float* y, int32_t cg, int32_t plane) {
  int32_t p = 0;
  for (; p + 4 <= plane; p += 4) pw_block<MB, 4>(x + p, w, b, y + p, cg, plane);
  for (; p < plane; ++p) pw_block<MB, 1>(x + p, w, b, y + p, cg, plane);
}

// Dense block: MB output channels x PB output pixels of one row (stride SW apart), all with the
// taps [kh0, kh1) x [kw0, kw1). `xoff` is the index (in a channel plane) of the block's first
// pixel's tap (kh0, kw0); w points at output channel m0, channel 0, tap (kh0, kw0).
// kFullW: kw0 = 0 and kw1 = KW (constant trip count, unrolled).
template <int MB, int PB, int KH, int KW, int SW, bool kFullW>
inline void dense_block(const float* xg, const float* w, const float* b, float* y, int32_t cg, int32_t in_plane,
                        int32_t IW, int32_t out_plane, int32_t xoff, int32_t nh, int32_t nw) {
  constexpr int32_t kSize = KH * KW;
  const int32_t w_m = cg * kSize;
  float acc[MB][PB];
#pragma GCC unroll 4
  for (int m = 0; m < MB; ++m)
#pragma GCC unroll 4
    for (int p = 0; p < PB; ++p) acc[m][p] = 0.0f;
  for (int32_t c = 0; c < cg; ++c) {
    const float* xr = xg + c * in_plane + xoff;
    const float* wr = w + c * kSize;
    for (int32_t kh = 0; kh < nh; ++kh, xr += IW, wr += KW) {
      if constexpr (kFullW) {
#pragma GCC unroll 16
        for (int kw = 0; kw < KW; ++kw) {
          float xv[PB], wv[MB];
#pragma GCC unroll 4
          for (int p = 0; p < PB; ++p) xv[p] = xr[kw + p * SW];
#pragma GCC unroll 4
          for (int m = 0; m < MB; ++m) wv[m] = wr[m * w_m + kw];
#pragma GCC unroll 4
          for (int m = 0; m < MB; ++m)
#pragma GCC unroll 4
            for (int p = 0; p < PB; ++p) acc[m][p] = acc[m][p] + xv[p] * wv[m];
        }
      } else {
        for (int32_t kw = 0; kw < nw; ++kw) {
          float xv[PB], wv[MB];
#pragma GCC unroll 4
          for (int p = 0; p < PB; ++p) xv[p] = xr[kw + p * SW];
#pragma GCC unroll 4
          for (int m = 0; m < MB; ++m) wv[m] = wr[m * w_m + kw];
#pragma GCC unroll 4
          for (int m = 0; m < MB; ++m)
#pragma GCC unroll 4
            for (int p = 0; p < PB; ++p) acc[m][p] = acc[m][p] + xv[p] * wv[m];
        }
      }
    }
  }
#pragma GCC unroll 4
  for (int m = 0; m < MB; ++m) {
    const float bias = b ? b[m] : 0.0f;
#pragma GCC unroll 4
    for (int p = 0; p < PB; ++p) y[m * out_plane + p] = acc[m][p] + bias;
  }
}

// MB output channels (m0.., all in group 0 since group = 1) over the whole output plane.
template <int MB, int KH, int KW, int SH, int SW>
inline void dense_channels(const float* xg, const float* w, const float* b, float* y, int32_t cg, int32_t IH,
                           int32_t IW, int32_t OH, int32_t OW, int32_t ph, int32_t pw) {
  const int32_t in_plane = IH * IW, out_plane = OH * OW;
  for (int32_t oh = 0; oh < OH; ++oh) {
    const int32_t ih0 = oh * SH - ph;
    int32_t kh0, kh1;
    ref::window_taps(ih0, KH, 1, IH, &kh0, &kh1);
    float* yr = y + oh * OW;
    int32_t ow = 0;
    while (ow < OW) {
      const int32_t iw0 = ow * SW - pw;
      int32_t kw0, kw1;
      ref::window_taps(iw0, KW, 1, IW, &kw0, &kw1);
      const int32_t xoff = (ih0 + kh0) * IW + iw0 + kw0;
      const float* wt = w + kh0 * KW + kw0;
      if (kw0 == 0 && kw1 == KW && ow + 1 < OW && iw0 + SW + KW <= IW) {  // two interior pixels
        dense_block<MB, 2, KH, KW, SW, true>(xg, wt, b, yr + ow, cg, in_plane, IW, out_plane, xoff, kh1 - kh0, KW);
        ow += 2;
      } else {
        if (kw0 == 0 && kw1 == KW)
          dense_block<MB, 1, KH, KW, SW, true>(xg, wt, b, yr + ow, cg, in_plane, IW, out_plane, xoff, kh1 - kh0, KW);
        else
          dense_block<MB, 1, KH, KW, SW, false>(xg, wt, b, yr + ow, cg, in_plane, IW, out_plane, xoff, kh1 - kh0,
                                                kw1 - kw0);
        ++ow;
      }
    }
  }
}

// Depthwise: PB pixels of one row, every tap inside the input. x points at tap (0, 0) of the
// first pixel; wk holds the KH*KW weights.
template <int PB, int KH, int KW, int SW>
inline void dw_block(const float* x, const float* wk, float bias, float* y, int32_t IW) {
  constexpr int kSpan = (PB - 1) * SW + KW;
  float acc[PB];
#pragma GCC unroll 4
  for (int p = 0; p < PB; ++p) acc[p] = 0.0f;
#pragma GCC unroll 16
  for (int kh = 0; kh < KH; ++kh) {
    const float* xr = x + kh * IW;
    float xv[kSpan];
#pragma GCC unroll 32
    for (int i = 0; i < kSpan; ++i) xv[i] = xr[i];
#pragma GCC unroll 16
    for (int kw = 0; kw < KW; ++kw)
#pragma GCC unroll 4
      for (int p = 0; p < PB; ++p) acc[p] = acc[p] + xv[p * SW + kw] * wk[kh * KW + kw];
  }
#pragma GCC unroll 4
  for (int p = 0; p < PB; ++p) y[p] = acc[p] + bias;
}

// Depthwise border pixel: taps [kh0, kh1) x [kw0, kw1) only, in the reference's order.
template <int KW>
inline float dw_pixel(const float* xc, const float* wk, float bias, int32_t IW, int32_t ih0, int32_t iw0,
                      int32_t kh0, int32_t kh1, int32_t kw0, int32_t kw1) {
  float acc = 0.0f;
  for (int32_t kh = kh0; kh < kh1; ++kh) {
    const float* xr = xc + (ih0 + kh) * IW + iw0;  // iw0 + kw >= 0 for kw >= kw0
    for (int32_t kw = kw0; kw < kw1; ++kw) acc = acc + xr[kw] * wk[kh * KW + kw];
  }
  return acc + bias;
}

template <int KH, int KW, int SH, int SW>
inline void depthwise_channel(const float* xc, const float* w, float bias, float* y, int32_t IH, int32_t IW,
                              int32_t OH, int32_t OW, int32_t ph, int32_t pw) {
  constexpr int kPB = KH * KW <= 16 ? 4 : 2;  // registers: KH*KW weights + kPB accumulators + a row of x
  float wk[KH * KW];
#pragma GCC unroll 32
  for (int i = 0; i < KH * KW; ++i) wk[i] = w[i];
  for (int32_t oh = 0; oh < OH; ++oh) {
    const int32_t ih0 = oh * SH - ph;
    int32_t kh0, kh1;
    ref::window_taps(ih0, KH, 1, IH, &kh0, &kh1);
    float* yr = y + oh * OW;
    const bool full_h = kh0 == 0 && kh1 == KH;
    int32_t ow = 0;
    while (ow < OW) {
      const int32_t iw0 = ow * SW - pw;
      if (full_h && iw0 >= 0 && ow + kPB <= OW && iw0 + (kPB - 1) * SW + KW <= IW) {
        dw_block<kPB, KH, KW, SW>(xc + ih0 * IW + iw0, wk, bias, yr + ow, IW);
        ow += kPB;
      } else if (kPB > 2 && full_h && iw0 >= 0 && ow + 2 <= OW && iw0 + SW + KW <= IW) {
        dw_block<2, KH, KW, SW>(xc + ih0 * IW + iw0, wk, bias, yr + ow, IW);
        ow += 2;
      } else if (full_h && iw0 >= 0 && iw0 + KW <= IW) {
        dw_block<1, KH, KW, SW>(xc + ih0 * IW + iw0, wk, bias, yr + ow, IW);
        ++ow;
      } else {
        int32_t kw0, kw1;
        ref::window_taps(iw0, KW, 1, IW, &kw0, &kw1);
        yr[ow] = dw_pixel<KW>(xc, wk, bias, IW, ih0, iw0, kh0, kh1, kw0, kw1);
        ++ow;
      }
    }
  }
}

}  // namespace conv_f32_detail

// Same parameters as ref::conv<float> (tinyodlc/ref/conv.h); k_sp = {1, KH, KW} and
// strides = {1, SH, SW} must match the template parameters.
template <int KH, int KW, int SH, int SW>
void conv_f32(const float* x, const float* w, const float* b, float* y, int32_t batch, int32_t c_in, int32_t c_out,
              int32_t group, const int32_t* in_sp, const int32_t* k_sp, const int32_t* out_sp, const int32_t* strides,
              const int32_t* dilations, const int32_t* pads) {
  namespace d = conv_f32_detail;
  const int32_t cg = c_in / group, mg = c_out / group;
  const bool shape_ok = in_sp[0] == 1 && out_sp[0] == 1 && k_sp[0] == 1 && k_sp[1] == KH && k_sp[2] == KW &&
                        strides[1] == SH && strides[2] == SW && dilations[1] == 1 && dilations[2] == 1 && pads[0] == 0;
  if (!shape_ok || (group != 1 && cg != 1)) {
    ref::conv<float>(x, w, b, y, batch, c_in, c_out, group, in_sp, k_sp, out_sp, strides, dilations, pads);
    return;
  }
  const int32_t IH = in_sp[1], IW = in_sp[2], OH = out_sp[1], OW = out_sp[2];
  const int32_t in_plane = IH * IW, out_plane = OH * OW;
  const int32_t w_m = cg * KH * KW;  // weights per output channel
  for (int32_t n = 0; n < batch; ++n) {
    const float* xn = x + static_cast<int64_t>(n) * c_in * in_plane;
    float* yn = y + static_cast<int64_t>(n) * c_out * out_plane;
    // Output channels in blocks of 4, then one by one; pointers advance per channel (no
    // products of the channel index: GCC's loop analysis warns about their overflow).
    const float* wm = w;
    const float* bm = b;
    float* ym = yn;
    if (cg == 1 && group != 1) {  // depthwise (channel multiplier mg)
      for (int32_t m = 0; m < c_out; ++m, wm += w_m, ym += out_plane)
        d::depthwise_channel<KH, KW, SH, SW>(xn + static_cast<int64_t>(m / mg) * in_plane, wm, b ? b[m] : 0.0f, ym,
                                             IH, IW, OH, OW, pads[1], pads[2]);
      continue;
    }
    const bool pointwise = KH == 1 && KW == 1 && SH == 1 && SW == 1 && pads[1] == 0 && pads[2] == 0;
    int32_t left = c_out;
    for (; left >= 4; left -= 4, wm += 4 * w_m, ym += 4 * out_plane, bm = bm ? bm + 4 : nullptr) {
      if (pointwise)
        d::pw_channels<4>(xn, wm, bm, ym, cg, out_plane);
      else
        d::dense_channels<4, KH, KW, SH, SW>(xn, wm, bm, ym, cg, IH, IW, OH, OW, pads[1], pads[2]);
    }
    for (; left > 0; --left, wm += w_m, ym += out_plane, bm = bm ? bm + 1 : nullptr) {
      if (pointwise)
        d::pw_channels<1>(xn, wm, bm, ym, cg, out_plane);
      else
        d::dense_channels<1, KH, KW, SH, SW>(xn, wm, bm, ym, cg, IH, IW, OH, OW, pads[1], pads[2]);
    }
  }
}

}  // namespace opt
}  // namespace tinyodlc
