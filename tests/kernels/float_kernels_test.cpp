// Bit-exactness of the optimized float32 Conv (kernels/tinyodlc/opt/conv_f32.h) against the
// reference kernel tinyodlc::ref::conv<float> on randomized shapes, strides, pads, channel
// counts, groups (dense / depthwise with channel multiplier) and values, including signed
// zeros, subnormals, infinities and NaNs (padding taps must be skipped, not multiplied by 0:
// 0 * inf = NaN). Compared bit for bit; a NaN output must be a NaN output of the reference
// (payloads are not compared, see is_nan). Runs on the host and on
// Cortex-M4/M7 in QEMU (run_kernel_tests.py --test float); both builds use -ffp-contract=off
// like the generated code.
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "tinyodlc/opt/conv_f32.h"
#include "tinyodlc/opt/pool.h"
#include "tinyodlc/opt/quant.h"
#include "tinyodlc/ref/conv.h"
#include "tinyodlc/ref/pool.h"
#include "tinyodlc/ref/quant.h"

#ifdef TINYODLC_KTEST_TARGET
#include "tinyodlc_target.h"
static void say(const char* s) { tinyodlc_sh_puts(s); }
#else
static void say(const char* s) { fputs(s, stdout); }
#endif

namespace {

uint32_t g_rng = 0x9e3779b9u;
uint32_t rnd() {
  g_rng ^= g_rng << 13;
  g_rng ^= g_rng >> 17;
  g_rng ^= g_rng << 5;
  return g_rng;
}
int32_t rint_in(int32_t lo, int32_t hi) { return lo + static_cast<int32_t>(rnd() % static_cast<uint32_t>(hi - lo + 1)); }

constexpr int kMaxX = 12 * 1024, kMaxW = 12 * 1024, kMaxY = 12 * 1024, kMaxC = 256;
float g_x[kMaxX], g_w[kMaxW], g_b[kMaxC], g_yr[kMaxY], g_yo[kMaxY];
int g_fail = 0, g_cases = 0;
char g_line[256];

// NaN outputs only need to be NaN (quiet: computed, not the signalling poison value): which
// operand's payload a+b or a*b propagates is not specified by C++, and compilers commute the
// operands of commutative operations, so the reference's own NaN payloads change with the
// compiler and flags.
bool is_nan(uint32_t u) { return (u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu) != 0; }

float from_bits(uint32_t u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}

// special: 0 = plain values, 1 = with signed zeros / subnormals / huge, 2 = also inf and NaN.
void fill(float* p, int n, int special) {
  for (int i = 0; i < n; ++i) {
    float v = static_cast<float>(rint_in(-100000, 100000)) * (1.0f / 65536.0f);
    if (special) {
      const uint32_t r = rnd() % 32;
      if (r == 0) v = 0.0f;
      if (r == 1) v = -0.0f;
      if (r == 2) v = from_bits(rnd() & 0x807fffffu);            // subnormal
      if (r == 3) v = from_bits((rnd() & 0x80000000u) | 0x7e800000u);  // huge: overflow to inf
      if (special == 2 && r == 4) v = from_bits((rnd() & 0x80000000u) | 0x7f800000u);                 // +-inf
      if (special == 2 && r == 5) v = from_bits(0x7fc00000u | (rnd() & 0x803fffffu) | 1u);             // NaN, payload
    }
    p[i] = v;
  }
}

template <int KH, int KW, int SH, int SW>
void conv_case(int32_t batch, int32_t c_in, int32_t c_out, int32_t group, int32_t ih, int32_t iw, int32_t pt,
               int32_t pl, int32_t pb, int32_t pr, bool bias, int special) {
  const int32_t oh = (ih + pt + pb - KH) / SH + 1, ow = (iw + pl + pr - KW) / SW + 1;
  if (oh < 1 || ow < 1) return;
  const int32_t nx = batch * c_in * ih * iw, nw = c_out * (c_in / group) * KH * KW, ny = batch * c_out * oh * ow;
  if (nx > kMaxX || nw > kMaxW || ny > kMaxY || c_out > kMaxC) return;
  fill(g_x, nx, special);
  fill(g_w, nw, special);
  fill(g_b, c_out, special);
  const int32_t in[3] = {1, ih, iw}, k[3] = {1, KH, KW}, out[3] = {1, oh, ow}, s[3] = {1, SH, SW}, d[3] = {1, 1, 1},
                pads[3] = {0, pt, pl};
  for (int32_t i = 0; i < ny; ++i) g_yo[i] = from_bits(0x7fa5a5a5u);  // every output must be written
  tinyodlc::ref::conv<float>(g_x, g_w, bias ? g_b : nullptr, g_yr, batch, c_in, c_out, group, in, k, out, s, d, pads);
  tinyodlc::opt::conv_f32<KH, KW, SH, SW>(g_x, g_w, bias ? g_b : nullptr, g_yo, batch, c_in, c_out, group, in, k,
                                          out, s, d, pads);
  ++g_cases;
  int32_t i = 0;
  uint32_t a = 0, b = 0;
  for (; i < ny; ++i) {
    memcpy(&a, &g_yr[i], 4);
    memcpy(&b, &g_yo[i], 4);
    if (a != b && !(is_nan(a) && is_nan(b) && (b & 0x00400000u))) break;
  }
  if (i < ny) {
    snprintf(g_line, sizeof g_line,
             "FAIL conv %dx%d s%dx%d batch %d c %d->%d group %d in %dx%d pads %d,%d,%d,%d bias %d special %d: "
             "element %d of %d: reference 0x%08x, optimized 0x%08x\n",
             KH, KW, SH, SW, static_cast<int>(batch), static_cast<int>(c_in), static_cast<int>(c_out),
             static_cast<int>(group), static_cast<int>(ih), static_cast<int>(iw), static_cast<int>(pt),
             static_cast<int>(pl), static_cast<int>(pb), static_cast<int>(pr), bias ? 1 : 0, special,
             static_cast<int>(i), static_cast<int>(ny), static_cast<unsigned>(a), static_cast<unsigned>(b));
    say(g_line);
    ++g_fail;
  }
}

// kind 0: dense, 1: depthwise (multiplier 1 or 2), 2: pointwise without padding.
template <int KH, int KW, int SH, int SW>
void random_case(int kind) {
  const int32_t batch = rnd() % 5 == 0 ? 2 : 1;
  int32_t c_in, c_out, group;
  if (kind == 1) {
    c_in = rint_in(1, 12);
    c_out = c_in * (rnd() % 4 == 0 ? 2 : 1);
    group = c_in;
  } else {
    c_in = rint_in(1, 9);
    c_out = rint_in(1, 11);
    group = 1;
  }
  const int32_t ih = KH == 1 && rnd() % 2 ? 1 : rint_in(KH > 1 ? 1 : 1, 14), iw = rint_in(1, 17);
  int32_t pt = 0, pl = 0, pb = 0, pr = 0;
  if (kind != 2) {
    pt = rint_in(0, KH / 2 + 1);
    pb = rint_in(0, KH / 2 + 1);
    pl = rint_in(0, KW / 2 + 1);
    pr = rint_in(0, KW / 2 + 1);
    if (pt >= KH) pt = KH - 1;
    if (pb >= KH) pb = KH - 1;
    if (pl >= KW) pl = KW - 1;
    if (pr >= KW) pr = KW - 1;
  }
  const int special = rnd() % 3;
  conv_case<KH, KW, SH, SW>(batch, c_in, c_out, group, ih, iw, pt, pl, pb, pr, rnd() % 4 != 0, special);
}

template <int KH, int KW, int SH, int SW>
void random_cases(int n) {
  for (int i = 0; i < n; ++i) random_case<KH, KW, SH, SW>(i % 3);
}

// MaxPool (kernels/tinyodlc/opt/pool.h) vs ref::max_pool<T>: every byte equal (no arithmetic:
// NaN payloads are copied, so they must match too).
int8_t g_qx[kMaxX], g_qyr[kMaxY], g_qyo[kMaxY];
template <typename T, int KH, int KW, int SH, int SW>
void pool_case(const T* x, T* yr, T* yo) {
  const int32_t nc = rint_in(1, 6), ih = rint_in(1, 17), iw = rint_in(1, 17);
  int32_t pt = rint_in(0, KH - 1), pl = rint_in(0, KW - 1), pb = rint_in(0, KH - 1), pr = rint_in(0, KW - 1);
  if (rnd() % 2) pt = pl = pb = pr = 0;
  const int32_t oh = (ih + pt + pb - KH) / SH + 1, ow = (iw + pl + pr - KW) / SW + 1;
  if (oh < 1 || ow < 1 || nc * ih * iw * static_cast<int32_t>(sizeof(T)) > kMaxX * 4 || nc * oh * ow > kMaxY) return;
  const int32_t in[3] = {1, ih, iw}, k[3] = {1, KH, KW}, out[3] = {1, oh, ow}, s[3] = {1, SH, SW}, d[3] = {1, 1, 1},
                pads[3] = {0, pt, pl};
  memset(yo, 0x5a, sizeof(T) * static_cast<size_t>(nc * oh * ow));
  tinyodlc::ref::max_pool<T>(x, yr, nullptr, nc, in, k, out, s, d, pads, 0);
  tinyodlc::opt::max_pool_2d<T, KH, KW, SH, SW>(x, yo, nullptr, nc, in, k, out, s, d, pads, 0);
  ++g_cases;
  if (memcmp(yr, yo, sizeof(T) * static_cast<size_t>(nc * oh * ow)) != 0) {
    snprintf(g_line, sizeof g_line, "FAIL max_pool<%d-byte> %dx%d s%dx%d nc %d in %dx%d pads %d,%d,%d,%d\n",
             static_cast<int>(sizeof(T)), KH, KW, SH, SW, static_cast<int>(nc), static_cast<int>(ih),
             static_cast<int>(iw), static_cast<int>(pt), static_cast<int>(pl), static_cast<int>(pb),
             static_cast<int>(pr));
    say(g_line);
    ++g_fail;
  }
}

template <int KH, int KW, int SH, int SW>
void pool_cases(int n) {
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < kMaxX; ++j) g_qx[j] = static_cast<int8_t>(rnd());
    pool_case<int8_t, KH, KW, SH, SW>(g_qx, g_qyr, g_qyo);
    pool_case<uint8_t, KH, KW, SH, SW>(reinterpret_cast<const uint8_t*>(g_qx), reinterpret_cast<uint8_t*>(g_qyr),
                                       reinterpret_cast<uint8_t*>(g_qyo));
    fill(g_x, kMaxX, rnd() % 3);  // signed zeros, infinities, NaN payloads
    pool_case<float, KH, KW, SH, SW>(g_x, g_yr, g_yo);
  }
}

// QuantizeLinear (kernels/tinyodlc/opt/quant.h) vs ref::quantize_linear<Q>: every output byte
// equal. Values around the rounding ties (k + 0.5) / scale, huge, inf, NaN, subnormal.
template <typename Q>
void quant_cases(int n) {
  static Q yr[kMaxY], yo[kMaxY];
  for (int i = 0; i < n; ++i) {
    const int32_t outer = rint_in(1, 3), A = rint_in(1, 8), inner = rint_in(1, 40);
    const int32_t cnt = outer * A * inner;
    const bool per_axis = rnd() % 2;
    float scale[8];
    Q zp[8];
    for (int a = 0; a < 8; ++a) {
      const uint32_t r = rnd() % 4;
      scale[a] = r == 0 ? 1.0f : (r == 1 ? 0.5f : static_cast<float>(rint_in(1, 100000)) * 1e-6f);
      zp[a] = static_cast<Q>(rnd());
    }
    for (int32_t e = 0; e < cnt; ++e) {
      const uint32_t r = rnd() % 8;
      if (r < 3)  // exact ties and near-ties of x / scale
        g_x[e] = (static_cast<float>(rint_in(-300, 300)) + 0.5f) * scale[per_axis ? (e / inner) % A : 0];
      else if (r < 5)
        g_x[e] = static_cast<float>(rint_in(-300, 300)) * 0.25f;
      else
        fill(&g_x[e], 1, 2);
    }
    const Q* z = rnd() % 4 ? zp : nullptr;
    tinyodlc::ref::quantize_linear<Q>(g_x, scale, z, yr, outer, A, inner, per_axis, 0);
    tinyodlc::opt::quantize_linear<Q>(g_x, scale, z, yo, outer, A, inner, per_axis, 0);
    ++g_cases;
    if (memcmp(yr, yo, sizeof(Q) * static_cast<size_t>(cnt)) != 0) {
      int32_t e = 0;
      while (yr[e] == yo[e]) ++e;
      snprintf(g_line, sizeof g_line, "FAIL quantize_linear<%d-byte> element %d: x %.9g, reference %d, optimized %d\n",
               static_cast<int>(sizeof(Q)), static_cast<int>(e), static_cast<double>(g_x[e]), static_cast<int>(yr[e]),
               static_cast<int>(yo[e]));
      say(g_line);
      ++g_fail;
    }
  }
}

}  // namespace

int main() {
  // Zoo shapes: DS-CNN stem 10x4 s2 (1->64, 49x10, pads 4/1 begin, 5/1 end), depthwise 3x3 and
  // pointwise 64->64 on 25x5.
  conv_case<10, 4, 2, 2>(1, 1, 64, 1, 49, 10, 4, 1, 5, 1, true, 0);
  conv_case<3, 3, 1, 1>(1, 64, 64, 64, 25, 5, 1, 1, 1, 1, true, 1);
  conv_case<1, 1, 1, 1>(1, 64, 64, 1, 25, 5, 0, 0, 0, 0, true, 2);
  random_cases<1, 1, 1, 1>(60);
  random_cases<1, 1, 2, 2>(30);
  random_cases<3, 3, 1, 1>(60);
  random_cases<3, 3, 2, 2>(60);
  random_cases<10, 4, 2, 2>(30);
  random_cases<5, 5, 1, 1>(30);
  random_cases<2, 2, 2, 2>(30);
  random_cases<1, 3, 1, 1>(30);   // 1-D convs (height 1)
  random_cases<1, 5, 1, 2>(30);
  random_cases<1, 8, 1, 4>(30);
  random_cases<3, 1, 1, 1>(30);
  random_cases<7, 7, 2, 2>(20);  // depthwise with 49 taps: 2-pixel blocks
  quant_cases<int8_t>(40);
  quant_cases<uint8_t>(40);
  quant_cases<int16_t>(20);
  pool_cases<2, 2, 2, 2>(20);
  pool_cases<3, 3, 2, 2>(20);
  pool_cases<3, 3, 1, 1>(10);
  pool_cases<1, 3, 1, 2>(10);
  snprintf(g_line, sizeof g_line, "%s: %d cases, %d failed (float conv, max pool, quantize)\n", g_fail ? "FAIL" : "OK", g_cases, g_fail);
  say(g_line);
  return g_fail ? 1 : 0;
}
