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
  const int64_t in_plane = static_cast<int64_t>(in_sp[0]) * in_sp[1] * in_sp[2];
  const int64_t k_size = static_cast<int64_t>(k_sp[0]) * k_sp[1] * k_sp[2];
  const int64_t out_plane = static_cast<int64_t>(out_sp[0]) * out_sp[1] * out_sp[2];
  for (int32_t n = 0; n < batch; ++n) {
    for (int32_t m = 0; m < c_out; ++m) {
      const int32_t g = m / mg;
      const T* xg = x + (static_cast<int64_t>(n) * c_in + static_cast<int64_t>(g) * cg) * in_plane;
      const T* wm = w + static_cast<int64_t>(m) * cg * k_size;
      const T bias = b ? b[m] : T(0);
      T* yp = y + (static_cast<int64_t>(n) * c_out + m) * out_plane;
      for_each_window(out_sp, k_sp, strides, dilations, pads, in_sp, [&](const Window& win) {
        T acc = T(0);
        for (int32_t c = 0; c < cg; ++c) {
          const T* xc = xg + c * in_plane;
          const T* wc = wm + c * k_size;
          for_each_tap(win, k_sp, dilations, in_sp, [&](int64_t k, int64_t at) { acc = mul_add(acc, xc[at], wc[k]); });
        }
        yp[win.pos] = wrap_add(acc, bias);
      });
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
  const int64_t in_plane = static_cast<int64_t>(in_sp[0]) * in_sp[1] * in_sp[2];
  const int64_t k_size = static_cast<int64_t>(k_sp[0]) * k_sp[1] * k_sp[2];
  const int64_t out_plane = static_cast<int64_t>(out_sp[0]) * out_sp[1] * out_sp[2];
  for (int32_t m = 0; m < c_out; ++m) {
    const int32_t g = m / mg;
    for (int32_t c = 0; c < cg; ++c) {
      T* wp = dw + (static_cast<int64_t>(m) * cg + c) * k_size;
      // Walk the kernel taps k; the outputs o with 0 <= o*stride + k*dilation - pad < size form
      // a "window" of out_sp taps at dilation `stride` starting at k*dilation - pad.
      for_each_window(k_sp, out_sp, dilations, strides, pads, in_sp, [&](const Window& win) {
        T acc = T(0);
        for (int32_t n = 0; n < batch; ++n) {
          const T* xc = x + (static_cast<int64_t>(n) * c_in + static_cast<int64_t>(g) * cg + c) * in_plane;
          const T* dym = dy + (static_cast<int64_t>(n) * c_out + m) * out_plane;
          for_each_tap(win, out_sp, strides, in_sp, [&](int64_t o, int64_t at) { acc = mul_add(acc, dym[o], xc[at]); });
        }
        wp[win.pos] = acc;
      });
    }
  }
}

}  // namespace ref
}  // namespace tinyodlc
