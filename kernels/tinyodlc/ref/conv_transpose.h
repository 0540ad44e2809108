// ConvTranspose reference kernel (1-D, 2-D, 3-D, groups, strides, dilations, pads,
// output_padding/output_shape via the output size): every input element scatters
// x * w into the outputs it reaches.
//
//   y[n, g*M/group + m, i*stride - pad + k*dilation] += x[n, g*C/group + c, i] * w[g*C/group + c, m, k]
//   y starts at b[channel] (or 0); positions outside the output (cropped by pads) are skipped.
#pragma once

#include "tinyodlc/ref/nn_common.h"

namespace tinyodlc {
namespace ref {

// x: [batch, c_in, in_sp...], w: [c_in, c_out/group, k_sp...], b: [c_out] or null,
// y: [batch, c_out, out_sp...]. Geometry arrays hold 3 entries (D, H, W; see nn_common.h);
// pads are the begin pads.
template <typename T>
void conv_transpose(const T* x, const T* w, const T* b, T* y, int32_t batch, int32_t c_in, int32_t c_out,
                    int32_t group, const int32_t* in_sp, const int32_t* k_sp, const int32_t* out_sp,
                    const int32_t* strides, const int32_t* dilations, const int32_t* pads) {
  const int32_t cg = c_in / group, mg = c_out / group;
  const int32_t ID = in_sp[0], IH = in_sp[1], IW = in_sp[2];
  const int32_t KD = k_sp[0], KH = k_sp[1], KW = k_sp[2];
  const int32_t OD = out_sp[0], OH = out_sp[1], OW = out_sp[2];
  const int32_t sd = strides[0], sh = strides[1], sw = strides[2];
  const int32_t dd = dilations[0], dh = dilations[1], dw = dilations[2];
  const int64_t in_plane = static_cast<int64_t>(ID) * IH * IW;
  const int64_t k_size = static_cast<int64_t>(KD) * KH * KW;
  const int64_t out_plane = static_cast<int64_t>(OD) * OH * OW;
  for (int32_t n = 0; n < batch; ++n)
    for (int32_t m = 0; m < c_out; ++m) {
      T* yp = y + (static_cast<int64_t>(n) * c_out + m) * out_plane;
      const T bias = b ? b[m] : T(0);
      for (int64_t i = 0; i < out_plane; ++i) yp[i] = bias;
    }
  for (int32_t n = 0; n < batch; ++n) {
    for (int32_t ci = 0; ci < c_in; ++ci) {
      const int32_t g = ci / cg;
      const T* xc = x + (static_cast<int64_t>(n) * c_in + ci) * in_plane;
      for (int32_t id = 0; id < ID; ++id) {
        const int32_t od0 = id * sd - pads[0];
        int32_t kd0, kd1;
        window_taps(od0, KD, dd, OD, &kd0, &kd1);
        for (int32_t ih = 0; ih < IH; ++ih) {
          const int32_t oh0 = ih * sh - pads[1];
          int32_t kh0, kh1;
          window_taps(oh0, KH, dh, OH, &kh0, &kh1);
          for (int32_t iw = 0; iw < IW; ++iw) {
            const int32_t ow0 = iw * sw - pads[2];
            int32_t kw0, kw1;
            window_taps(ow0, KW, dw, OW, &kw0, &kw1);
            const T xv = xc[(static_cast<int64_t>(id) * IH + ih) * IW + iw];
            for (int32_t m = 0; m < mg; ++m) {
              const T* wm = w + (static_cast<int64_t>(ci) * mg + m) * k_size;
              T* yp = y + (static_cast<int64_t>(n) * c_out + static_cast<int64_t>(g) * mg + m) * out_plane;
              for (int32_t kd = kd0; kd < kd1; ++kd) {
                const int32_t od = od0 + kd * dd;
                for (int32_t kh = kh0; kh < kh1; ++kh) {
                  const int32_t oh = oh0 + kh * dh;
                  // Offsets stay integers: row + kw * dw >= 0 for every tap in [kw0, kw1).
                  const int64_t row = (static_cast<int64_t>(od) * OH + oh) * OW + ow0;
                  const T* wr = wm + (static_cast<int64_t>(kd) * KH + kh) * KW;
                  for (int32_t kw = kw0; kw < kw1; ++kw) {
                    T& out = yp[row + kw * dw];
                    out = mul_add(out, xv, wr[kw]);
                  }
                }
              }
            }
          }
        }
      }
    }
  }
}

}  // namespace ref
}  // namespace tinyodlc
