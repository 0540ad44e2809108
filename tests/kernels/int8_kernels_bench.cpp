// Instruction counts of the int8 kernels on fixed layer shapes (docs/performance.md): for each
// shape, region 2i = reference kernel, region 2i+1 = armv7em kernel, between the perf markers
// the QEMU plugin counts (tools/qemu_insn_plugin.c). Built and run by
// tests/kernels/bench_kernels.py; not a test (it only checks that both kernels agree).
#include <stdint.h>
#include <string.h>

#include "tinyodlc/armv7em/int8.h"
#include "tinyodlc/ref/int8.h"
#include "tinyodlc_target.h"

namespace {

int8_t g_x[64 * 1024], g_w[64 * 1024], g_y0[64 * 1024], g_y1[64 * 1024];
int32_t g_bias[256], g_mult[256], g_shift[256];
alignas(8) uint8_t g_scratch[16 * 1024];
uint32_t g_rng = 0x9e3779b9u;
uint32_t rnd() {
  g_rng ^= g_rng << 13;
  g_rng ^= g_rng >> 17;
  g_rng ^= g_rng << 5;
  return g_rng;
}
void fill(int8_t* p, int n) {
  for (int i = 0; i < n; ++i) p[i] = static_cast<int8_t>(rnd());
}
void setup_requant(int n) {
  for (int i = 0; i < n; ++i) {
    g_bias[i] = static_cast<int32_t>(rnd() % 20000) - 10000;
    g_mult[i] = static_cast<int32_t>((1u << 30) + (rnd() % (1u << 30)));
    g_shift[i] = -8 - static_cast<int32_t>(rnd() % 3);
  }
}
int g_bad = 0;

void conv(int32_t c_in, int32_t c_out, int32_t group, int32_t ih, int32_t iw, int32_t kh, int32_t kw, int32_t s,
          int32_t pt, int32_t pl, int32_t pb, int32_t pr) {
  const int32_t in[3] = {1, ih, iw}, k[3] = {1, kh, kw}, st[3] = {1, s, s}, d[3] = {1, 1, 1}, p[3] = {0, pt, pl};
  const int32_t out[3] = {1, (ih + pt + pb - kh) / s + 1, (iw + pl + pr - kw) / s + 1};
  const int32_t xn = c_in * ih * iw, wn = c_out * (c_in / group) * kh * kw, yn = c_out * out[1] * out[2];
  fill(g_x, xn);
  fill(g_w, wn);
  setup_requant(c_out);
  tinyodlc_perf_begin();
  tinyodlc::ref::qconv_s8(g_x, g_w, g_bias, g_y0, 1, c_in, c_out, group, in, k, out, st, d, p, -3, 5, g_mult, g_shift,
                          c_out, -128, 127);
  tinyodlc_perf_end();
  tinyodlc_perf_begin();
  tinyodlc::armv7em::qconv_s8(g_x, g_w, g_bias, g_y1, 1, c_in, c_out, group, in, k, out, st, d, p, -3, 5, g_mult,
                              g_shift, c_out, -128, 127, g_scratch);
  tinyodlc_perf_end();
  if (memcmp(g_y0, g_y1, static_cast<size_t>(yn))) ++g_bad;
}

void fc(int32_t M, int32_t N, int32_t K) {
  const int32_t none = 0;
  fill(g_x, M * K);
  fill(g_w, K * N);
  setup_requant(N);
  tinyodlc_perf_begin();
  tinyodlc::ref::qmatmul_s8(g_x, g_w, g_bias, g_y0, 0, &none, &none, &none, M, N, K, -3, 0, 5, g_mult, g_shift, N,
                            -128, 127);
  tinyodlc_perf_end();
  tinyodlc_perf_begin();
  tinyodlc::armv7em::qmatmul_s8(g_x, g_w, g_bias, g_y1, 0, &none, &none, &none, M, N, K, -3, 0, 5, g_mult, g_shift,
                                N, -128, 127, g_scratch);
  tinyodlc_perf_end();
  if (memcmp(g_y0, g_y1, static_cast<size_t>(M * N))) ++g_bad;
}

}  // namespace

int main() {
  // Keep in sync with SHAPES in bench_kernels.py.
  conv(1, 64, 1, 49, 10, 10, 4, 2, 4, 1, 5, 1);  // 0 DS-CNN KWS stem
  conv(64, 64, 64, 25, 5, 3, 3, 1, 1, 1, 1, 1);  // 1 DS-CNN depthwise 3x3
  conv(64, 64, 1, 25, 5, 1, 1, 1, 0, 0, 0, 0);   // 2 DS-CNN pointwise 1x1
  fc(1, 12, 64);                                 // 3 DS-CNN classifier
  conv(16, 32, 1, 16, 16, 3, 3, 1, 1, 1, 1, 1);  // 4 dense 3x3
  conv(32, 32, 32, 16, 16, 3, 3, 2, 0, 0, 1, 1); // 5 depthwise 3x3 stride 2
  fc(1, 128, 256);                               // 6 larger fully connected
  fc(16, 64, 64);                                // 7 matmul 16 rows (attention-like)
  return g_bad;
}
