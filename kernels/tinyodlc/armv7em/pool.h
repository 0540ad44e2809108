// int8 MaxPool 2x2 stride 2 for ARMv7E-M with the DSP extension (issue 16, docs/performance.md):
// the parameters of tinyodlc::ref::max_pool<int8_t> and the same result. For int8 the maximum
// of a window is the plain maximum of its taps (no NaN, and equal values are identical), so the
// order of the comparisons does not matter. Every window inside the input (no padding, floor
// mode, 2-D, dilation 1, no Indices output): two outputs from one 32-bit load per input row, a
// bytewise maximum of the two rows (SSUB8 + SEL), then of neighbouring bytes. Anything else:
// tinyodlc::opt::max_pool_2d<int8_t, 2, 2, 2, 2>.
#pragma once

#include "tinyodlc/armv7em/acle.h"
#include "tinyodlc/opt/pool.h"

namespace tinyodlc {
namespace armv7em {

inline void max_pool_2x2s2_s8(const int8_t* x, int8_t* y, int64_t* indices, int32_t nc, const int32_t* in_sp,
                              const int32_t* k_sp, const int32_t* out_sp, const int32_t* strides,
                              const int32_t* dilations, const int32_t* pads, int32_t storage_order) {
  const int32_t IH = in_sp[1], IW = in_sp[2], OH = out_sp[1], OW = out_sp[2];
  if (indices || in_sp[0] != 1 || out_sp[0] != 1 || k_sp[0] != 1 || k_sp[1] != 2 || k_sp[2] != 2 ||
      strides[1] != 2 || strides[2] != 2 || dilations[1] != 1 || dilations[2] != 1 || pads[0] != 0 || pads[1] != 0 ||
      pads[2] != 0 || pads[3] != 0 || pads[4] != 0 || pads[5] != 0 || 2 * OH > IH || 2 * OW > IW) {
    opt::max_pool_2d<int8_t, 2, 2, 2, 2>(x, y, indices, nc, in_sp, k_sp, out_sp, strides, dilations, pads,
                                         storage_order);
    return;
  }
  const int32_t in_plane = IH * IW;
  for (int32_t p = 0; p < nc; ++p, x += in_plane) {
    for (int32_t oh = 0; oh < OH; ++oh, y += OW) {
      const int8_t* r0 = x + 2 * oh * IW;
      const int8_t* r1 = r0 + IW;
      int32_t ow = 0;
      for (; ow + 1 < OW; ow += 2) {  // input columns 2 ow .. 2 ow + 3
        const uint32_t m = max_s8x4(ld32(r0 + 2 * ow), ld32(r1 + 2 * ow));
        const uint32_t mm = max_s8x4(m, m >> 8);  // bytes 0 and 2: the two windows
        y[ow] = static_cast<int8_t>(mm);
        y[ow + 1] = static_cast<int8_t>(mm >> 16);
      }
      if (ow < OW) {
        const int8_t* a = r0 + 2 * ow;
        const int8_t* b = r1 + 2 * ow;
        int8_t v = a[0] > a[1] ? a[0] : a[1];
        v = b[0] > v ? b[0] : v;
        v = b[1] > v ? b[1] : v;
        y[ow] = v;
      }
    }
  }
}

}  // namespace armv7em
}  // namespace tinyodlc
