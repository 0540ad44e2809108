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
  const int64_t in_plane = static_cast<int64_t>(in_sp[0]) * in_sp[1] * in_sp[2];
  const int64_t k_size = static_cast<int64_t>(k_sp[0]) * k_sp[1] * k_sp[2];
  const int64_t out_plane = static_cast<int64_t>(out_sp[0]) * out_sp[1] * out_sp[2];
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
      // Scatter: each input position's window of kernel taps lands on the output.
      for_each_window(in_sp, k_sp, strides, dilations, pads, out_sp, [&](const Window& win) {
        const T xv = xc[win.pos];
        for (int32_t m = 0; m < mg; ++m) {
          const T* wm = w + (static_cast<int64_t>(ci) * mg + m) * k_size;
          T* yp = y + (static_cast<int64_t>(n) * c_out + static_cast<int64_t>(g) * mg + m) * out_plane;
          for_each_tap(win, k_sp, dilations, out_sp, [&](int64_t k, int64_t at) { yp[at] = mul_add(yp[at], xv, wm[k]); });
        }
      });
    }
  }
}

}  // namespace ref
}  // namespace tinyodlc
