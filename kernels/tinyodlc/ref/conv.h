// Conv reference kernel: direct convolution (no im2col) for 1-D, 2-D and 3-D inputs, with
// groups (incl. depthwise), strides, dilations, asymmetric padding and optional bias.
//
//   y[n, m, o] = b[m] + sum_{c < C/group} sum_{k} x[n, g*C/group + c, o*stride - pad + k*dilation] * w[m, c, k]
//   with g = m / (M/group); taps that fall into the padding contribute nothing.
#pragma once

#include "tinyodlc/ref/nn_common.h"

namespace tinyodlc {
namespace ref {

// x: [batch, c_in, in_sp...], w: [c_out, c_in/group, k_sp...], b: [c_out] or null,
// y: [batch, c_out, out_sp...]. in_sp/k_sp/out_sp/strides/dilations/pads (begin pads; the
// end pads are implied by out_sp) hold 3 entries each (D, H, W; see nn_common.h).
template <typename T>
void conv(const T* x, const T* w, const T* b, T* y, int32_t batch, int32_t c_in, int32_t c_out, int32_t group,
          const int32_t* in_sp, const int32_t* k_sp, const int32_t* out_sp, const int32_t* strides,
          const int32_t* dilations, const int32_t* pads) {
  const int32_t cg = c_in / group, mg = c_out / group;
  const int32_t ID = in_sp[0], IH = in_sp[1], IW = in_sp[2];
  const int32_t KD = k_sp[0], KH = k_sp[1], KW = k_sp[2];
  const int32_t OD = out_sp[0], OH = out_sp[1], OW = out_sp[2];
  const int32_t sd = strides[0], sh = strides[1], sw = strides[2];
  const int32_t dd = dilations[0], dh = dilations[1], dw = dilations[2];
  const int64_t in_plane = static_cast<int64_t>(ID) * IH * IW;
  const int64_t k_size = static_cast<int64_t>(KD) * KH * KW;
  const int64_t out_plane = static_cast<int64_t>(OD) * OH * OW;
  for (int32_t n = 0; n < batch; ++n) {
    for (int32_t m = 0; m < c_out; ++m) {
      const int32_t g = m / mg;
      const T* xg = x + (static_cast<int64_t>(n) * c_in + static_cast<int64_t>(g) * cg) * in_plane;
      const T* wm = w + static_cast<int64_t>(m) * cg * k_size;
      const T bias = b ? b[m] : T(0);
      T* yp = y + (static_cast<int64_t>(n) * c_out + m) * out_plane;
      for (int32_t od = 0; od < OD; ++od) {
        const int32_t id0 = od * sd - pads[0];
        int32_t kd0, kd1;
        window_taps(id0, KD, dd, ID, &kd0, &kd1);
        for (int32_t oh = 0; oh < OH; ++oh) {
          const int32_t ih0 = oh * sh - pads[1];
          int32_t kh0, kh1;
          window_taps(ih0, KH, dh, IH, &kh0, &kh1);
          for (int32_t ow = 0; ow < OW; ++ow) {
            const int32_t iw0 = ow * sw - pads[2];
            int32_t kw0, kw1;
            window_taps(iw0, KW, dw, IW, &kw0, &kw1);
            T acc = T(0);
            for (int32_t c = 0; c < cg; ++c) {
              const T* xc = xg + c * in_plane;
              const T* wc = wm + c * k_size;
              for (int32_t kd = kd0; kd < kd1; ++kd) {
                const int32_t id = id0 + kd * dd;
                for (int32_t kh = kh0; kh < kh1; ++kh) {
                  const int32_t ih = ih0 + kh * dh;
                  // Offsets stay integers: row + kw * dw >= 0 for every tap in [kw0, kw1).
                  const int64_t row = (static_cast<int64_t>(id) * IH + ih) * IW + iw0;
                  const T* wr = wc + (static_cast<int64_t>(kd) * KH + kh) * KW;
                  for (int32_t kw = kw0; kw < kw1; ++kw) acc = mul_add(acc, xc[row + kw * dw], wr[kw]);
                }
              }
            }
            yp[(static_cast<int64_t>(od) * OH + oh) * OW + ow] = wrap_add(acc, bias);
          }
        }
      }
    }
  }
}

// Weight gradient of conv (on-device learning), direct loops without scratch:
//   dw[m, c, k] = sum_n sum_o dy[n, m, o] * x[n, g*C/group + c, o*stride - pad + k*dilation],  g = m / (M/group)
// over the outputs o whose tap k lands inside x. Shapes as in conv (dy: [batch, c_out,
// out_sp...], dw: [c_out, c_in/group, k_sp...]). The input gradient of conv is a
// conv_transpose of dy with the same weights (ir/ops/conv.cpp), and the weight gradient of
// conv_transpose is this kernel with the roles of x and dy exchanged.
template <typename T>
void conv_grad_weight(const T* x, const T* dy, T* dw, int32_t batch, int32_t c_in, int32_t c_out, int32_t group,
                      const int32_t* in_sp, const int32_t* k_sp, const int32_t* out_sp, const int32_t* strides,
                      const int32_t* dilations, const int32_t* pads) {
  const int32_t cg = c_in / group, mg = c_out / group;
  const int32_t ID = in_sp[0], IH = in_sp[1], IW = in_sp[2];
  const int32_t KD = k_sp[0], KH = k_sp[1], KW = k_sp[2];
  const int32_t OD = out_sp[0], OH = out_sp[1], OW = out_sp[2];
  const int32_t sd = strides[0], sh = strides[1], sw = strides[2];
  const int64_t in_plane = static_cast<int64_t>(ID) * IH * IW;
  const int64_t k_size = static_cast<int64_t>(KD) * KH * KW;
  const int64_t out_plane = static_cast<int64_t>(OD) * OH * OW;
  for (int32_t m = 0; m < c_out; ++m) {
    const int32_t g = m / mg;
    for (int32_t c = 0; c < cg; ++c) {
      T* wp = dw + (static_cast<int64_t>(m) * cg + c) * k_size;
      for (int32_t kd = 0; kd < KD; ++kd) {
        // Outputs o with 0 <= o*stride + (k*dilation - pad) < size: the taps of a "window" of
        // `out` taps at dilation `stride` starting at k*dilation - pad.
        const int32_t offd = kd * dilations[0] - pads[0];
        int32_t od0, od1;
        window_taps(offd, OD, sd, ID, &od0, &od1);
        for (int32_t kh = 0; kh < KH; ++kh) {
          const int32_t offh = kh * dilations[1] - pads[1];
          int32_t oh0, oh1;
          window_taps(offh, OH, sh, IH, &oh0, &oh1);
          for (int32_t kw = 0; kw < KW; ++kw) {
            const int32_t offw = kw * dilations[2] - pads[2];
            int32_t ow0, ow1;
            window_taps(offw, OW, sw, IW, &ow0, &ow1);
            T acc = T(0);
            for (int32_t n = 0; n < batch; ++n) {
              const T* xc = x + (static_cast<int64_t>(n) * c_in + static_cast<int64_t>(g) * cg + c) * in_plane;
              const T* dym = dy + (static_cast<int64_t>(n) * c_out + m) * out_plane;
              for (int32_t od = od0; od < od1; ++od) {
                const int32_t id = od * sd + offd;
                for (int32_t oh = oh0; oh < oh1; ++oh) {
                  const int32_t ih = oh * sh + offh;
                  const T* dr = dym + (static_cast<int64_t>(od) * OH + oh) * OW;
                  // Offsets stay integers: row + ow * sw >= 0 for every ow in [ow0, ow1).
                  const int64_t row = (static_cast<int64_t>(id) * IH + ih) * IW + offw;
                  for (int32_t ow = ow0; ow < ow1; ++ow) acc = mul_add(acc, dr[ow], xc[row + static_cast<int64_t>(ow) * sw]);
                }
              }
            }
            wp[(static_cast<int64_t>(kd) * KH + kh) * KW + kw] = acc;
          }
        }
      }
    }
  }
}

}  // namespace ref
}  // namespace tinyodlc
