// Bit-exactness of the optimized int8 kernels (kernels/tinyodlc/armv7em/int8.h, pool.h) against the
// reference kernels (kernels/tinyodlc/ref/int8.h) on randomized shapes, strides, dilations,
// pads, zero points, biases and per-channel / per-tensor multipliers. Any differing byte
// fails. The same file runs on the host (portable fallback of the DSP intrinsics) and on
// Cortex-M4/M7 in QEMU (the real SMLAD/SXTB16/... instructions; tests/kernels/run_target.sh).
// No heap: fixed-size static buffers; output through printf (host) or semihosting (target).
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "tinyodlc/armv7em/int8.h"
#include "tinyodlc/armv7em/pool.h"
#include "tinyodlc/ref/int8.h"
#include "tinyodlc/ref/pool.h"

#ifdef TINYODLC_KTEST_TARGET
#include "tinyodlc_target.h"
static void say(const char* s) { tinyodlc_sh_puts(s); }
#else
static void say(const char* s) { fputs(s, stdout); }
#endif

namespace {

uint32_t g_rng = 0x12345678u;
uint32_t rnd() {
  g_rng ^= g_rng << 13;
  g_rng ^= g_rng >> 17;
  g_rng ^= g_rng << 5;
  return g_rng;
}
int32_t rint_in(int32_t lo, int32_t hi) { return lo + static_cast<int32_t>(rnd() % static_cast<uint32_t>(hi - lo + 1)); }

constexpr int kMaxX = 24 * 1024, kMaxW = 24 * 1024, kMaxY = 24 * 1024, kMaxC = 256, kMaxScratch = 16 * 1024;
int8_t g_x[kMaxX], g_w[kMaxW], g_yr[kMaxY], g_yo[kMaxY];
int32_t g_bias[kMaxC], g_mult[kMaxC], g_shift[kMaxC];
alignas(8) uint8_t g_scratch[kMaxScratch];

int g_fail = 0, g_cases = 0;
char g_line[256];

void fill_i8(int8_t* p, int n, int zp_bias) {
  // Mostly uniform, sometimes saturated values (extremes exercise SMLAD's range).
  for (int i = 0; i < n; ++i) {
    int32_t v = (rnd() % 8 == 0) ? ((rnd() & 1) ? 127 : -128) : rint_in(-128, 127);
    if (zp_bias && rnd() % 4 == 0) v = zp_bias;  // runs of the zero point
    p[i] = static_cast<int8_t>(v);
  }
}

// When g_force_shift_lo <= g_force_shift_hi, every shift is drawn from that range.
int32_t g_force_shift_lo = 1, g_force_shift_hi = 0;

void fill_requant(int n) {
  for (int i = 0; i < n; ++i) {
    g_mult[i] = static_cast<int32_t>((1u << 30) + (rnd() % (1u << 30)));
    const uint32_t r = rnd() % 16;
    g_shift[i] = r == 0 ? rint_in(1, 4) : (r == 1 ? rint_in(-31, -20) : rint_in(-12, 0));
    if (g_force_shift_lo <= g_force_shift_hi) g_shift[i] = rint_in(g_force_shift_lo, g_force_shift_hi);
    if (rnd() % 64 == 0) g_mult[i] = 0;
    if (rnd() % 8 == 0) g_mult[i] = 1 << 30;  // M = 2^(shift-1): many rounding ties
  }
}

void fill_bias(int n) {
  for (int i = 0; i < n; ++i) {
    const uint32_t r = rnd() % 8;
    g_bias[i] = r == 0 ? static_cast<int32_t>(rnd()) : rint_in(-40000, 40000);  // sometimes huge (wrap)
  }
}

int32_t pick_zp() {
  const uint32_t r = rnd() % 6;
  return r == 0 ? 0 : (r == 1 ? -128 : (r == 2 ? 127 : rint_in(-128, 127)));
}

bool compare(const char* what, int n) {
  ++g_cases;
  for (int i = 0; i < n; ++i)
    if (g_yr[i] != g_yo[i]) {
      snprintf(g_line, sizeof g_line, "FAIL %s: byte %d of %d: reference %d, optimized %d\n", what, i, n, g_yr[i],
               g_yo[i]);
      say(g_line);
      ++g_fail;
      return false;
    }
  return true;
}

// One conv case; returns false if the shape does not fit the buffers.
bool conv_case(int32_t batch, int32_t c_in, int32_t c_out, int32_t group, const int32_t in_sp[3], const int32_t k_sp[3],
               const int32_t strides[3], const int32_t dil[3], const int32_t pb[3], const int32_t pe[3], bool bias,
               bool per_channel) {
  int32_t out_sp[3];
  for (int d = 0; d < 3; ++d) {
    const int32_t span = in_sp[d] + pb[d] + pe[d] - dil[d] * (k_sp[d] - 1) - 1;
    if (span < 0) return false;
    out_sp[d] = span / strides[d] + 1;
  }
  const int64_t xn = int64_t(batch) * c_in * in_sp[0] * in_sp[1] * in_sp[2];
  const int64_t wn = int64_t(c_out) * (c_in / group) * k_sp[0] * k_sp[1] * k_sp[2];
  const int64_t yn = int64_t(batch) * c_out * out_sp[0] * out_sp[1] * out_sp[2];
  const int32_t sb = tinyodlc::armv7em::qconv_s8_scratch_bytes(c_in, c_out, group, in_sp, k_sp, out_sp, strides, dil);
  if (xn > kMaxX || wn > kMaxW || yn > kMaxY || c_out > kMaxC || sb > kMaxScratch) return false;
  const int32_t x_zp = pick_zp(), y_zp = pick_zp();
  fill_i8(g_x, static_cast<int>(xn), x_zp);
  fill_i8(g_w, static_cast<int>(wn), 0);
  fill_bias(c_out);
  const int32_t n_mult = per_channel ? c_out : 1;
  fill_requant(n_mult);
  int32_t act_min = -128, act_max = 127;
  if (rnd() % 3 == 0) {
    act_min = rint_in(-128, 0);
    act_max = rint_in(act_min, 127);
  }
  memset(g_yr, 0x55, static_cast<size_t>(yn));
  memset(g_yo, 0x2a, static_cast<size_t>(yn));
  tinyodlc::ref::qconv_s8(g_x, g_w, bias ? g_bias : nullptr, g_yr, batch, c_in, c_out, group, in_sp, k_sp, out_sp,
                          strides, dil, pb, x_zp, y_zp, g_mult, g_shift, n_mult, act_min, act_max);
  tinyodlc::armv7em::qconv_s8(g_x, g_w, bias ? g_bias : nullptr, g_yo, batch, c_in, c_out, group, in_sp, k_sp, out_sp,
                              strides, dil, pb, x_zp, y_zp, g_mult, g_shift, n_mult, act_min, act_max, g_scratch);
  char what[320];
  snprintf(what, sizeof what,
           "qconv n%ld cin%ld cout%ld g%ld in[%ld,%ld,%ld] k[%ld,%ld,%ld] s[%ld,%ld,%ld] d[%ld,%ld,%ld] "
           "pb[%ld,%ld,%ld] xzp%ld",
           long(batch), long(c_in), long(c_out), long(group), long(in_sp[0]), long(in_sp[1]), long(in_sp[2]),
           long(k_sp[0]), long(k_sp[1]), long(k_sp[2]), long(strides[0]), long(strides[1]), long(strides[2]),
           long(dil[0]), long(dil[1]), long(dil[2]), long(pb[0]), long(pb[1]), long(pb[2]), long(x_zp));
  compare(what, static_cast<int>(yn));
  return true;
}

void random_conv(int kind) {
  // kind 0: 1x1 pointwise, 1: dense k x k, 2: depthwise 3x3, 3: anything (grouped, 1-D, 3-D, dilated)
  int32_t in_sp[3] = {1, 1, 1}, k_sp[3] = {1, 1, 1}, st[3] = {1, 1, 1}, dil[3] = {1, 1, 1}, pb[3] = {0, 0, 0},
          pe[3] = {0, 0, 0};
  int32_t batch = rnd() % 5 == 0 ? 2 : 1, c_in, c_out, group = 1;
  if (kind == 0) {
    c_in = rint_in(1, 70);
    c_out = rint_in(1, 40);
    in_sp[1] = rint_in(1, 12);
    in_sp[2] = rint_in(1, 12);
    if (rnd() % 4 == 0) st[1] = st[2] = 2;
  } else if (kind == 1) {
    c_in = rint_in(1, 9);
    c_out = rint_in(1, 20);
    k_sp[1] = rint_in(1, 5);
    k_sp[2] = rint_in(1, 5);
    in_sp[1] = rint_in(k_sp[1], 14);
    in_sp[2] = rint_in(k_sp[2], 14);
    st[1] = rint_in(1, 3);
    st[2] = rint_in(1, 3);
    for (int d = 1; d < 3; ++d) {
      pb[d] = rint_in(0, k_sp[d] - 1);
      pe[d] = rint_in(0, k_sp[d] - 1);
    }
  } else if (kind == 2) {
    c_in = c_out = group = rint_in(1, 24);
    k_sp[1] = k_sp[2] = 3;
    st[1] = st[2] = rint_in(1, 2);
    in_sp[1] = rint_in(1, 20);
    in_sp[2] = rint_in(1, 20);
    for (int d = 1; d < 3; ++d) {
      pb[d] = rint_in(0, 2);
      pe[d] = rint_in(0, 2);
    }
  } else {
    const int32_t gs = rint_in(1, 4);
    group = gs;
    c_in = gs * rint_in(1, 6);
    c_out = gs * rint_in(1, 6);
    const int32_t rank = rint_in(1, 3);
    for (int d = 3 - rank; d < 3; ++d) {
      k_sp[d] = rint_in(1, 4);
      dil[d] = rint_in(1, 2);
      st[d] = rint_in(1, 3);
      in_sp[d] = rint_in(1, rank == 3 ? 6 : 12);
      pb[d] = rint_in(0, 2);
      pe[d] = rint_in(0, 2);
    }
  }
  conv_case(batch, c_in, c_out, group, in_sp, k_sp, st, dil, pb, pe, rnd() % 4 != 0, rnd() % 4 != 0);
}

bool matmul_case(int32_t batch_rank, const int32_t* bdims, const int32_t* as, const int32_t* bs, int32_t M, int32_t N,
                 int32_t K, bool bias, bool per_col, bool b_is_weight) {
  int64_t batches = 1, a_batches = 1, b_batches = 1;
  for (int i = 0; i < batch_rank; ++i) {
    batches *= bdims[i];
    if (as[i]) a_batches *= bdims[i];
    if (bs[i]) b_batches *= bdims[i];
  }
  const int64_t an = a_batches * M * K, bn = b_batches * K * N, yn = batches * M * N;
  if (an > kMaxX || bn > kMaxW || yn > kMaxY || N > kMaxC ||
      tinyodlc::armv7em::qmatmul_s8_scratch_bytes(M, N, K) > kMaxScratch)
    return false;
  const int32_t a_zp = pick_zp(), b_zp = b_is_weight ? 0 : pick_zp(), y_zp = pick_zp();
  fill_i8(g_x, static_cast<int>(an), a_zp);
  fill_i8(g_w, static_cast<int>(bn), b_zp);
  fill_bias(N);
  const int32_t n_mult = per_col ? N : 1;
  fill_requant(n_mult);
  memset(g_yr, 0x55, static_cast<size_t>(yn));
  memset(g_yo, 0x2a, static_cast<size_t>(yn));
  tinyodlc::ref::qmatmul_s8(g_x, g_w, bias ? g_bias : nullptr, g_yr, batch_rank, bdims, as, bs, M, N, K, a_zp, b_zp,
                            y_zp, g_mult, g_shift, n_mult, -128, 127);
  tinyodlc::armv7em::qmatmul_s8(g_x, g_w, bias ? g_bias : nullptr, g_yo, batch_rank, bdims, as, bs, M, N, K, a_zp,
                                b_zp, y_zp, g_mult, g_shift, n_mult, -128, 127, g_scratch);
  char what[160];
  snprintf(what, sizeof what, "qmatmul batch_rank %ld M%ld N%ld K%ld azp%ld bzp%ld", long(batch_rank), long(M),
           long(N), long(K), long(a_zp), long(b_zp));
  compare(what, static_cast<int>(yn));
  return true;
}

void random_matmul() {
  int32_t bdims[2] = {1, 1}, as[2] = {1, 1}, bs[2] = {1, 1};
  const int32_t rank = rint_in(0, 2);
  for (int i = 0; i < rank; ++i) {
    bdims[i] = rint_in(1, 3);
    // strides in matrices: a broadcast dim has stride 0
    as[i] = rnd() % 3 == 0 ? 0 : 1;
    bs[i] = rnd() % 3 == 0 ? 0 : 1;
  }
  // Contiguous batch strides (innermost dim first).
  int32_t sa = 1, sb = 1;
  for (int i = rank - 1; i >= 0; --i) {
    if (as[i]) {
      as[i] = sa;
      sa *= bdims[i];
    }
    if (bs[i]) {
      bs[i] = sb;
      sb *= bdims[i];
    }
  }
  const bool fc = rnd() % 2 == 0;
  matmul_case(rank, bdims, as, bs, fc ? 1 : rint_in(1, 9), rint_in(1, 40), rint_in(1, 130), rnd() % 3 != 0,
              rnd() % 2 == 0, fc);
}

// QMul / QAdd / QSub: random shapes of rank 0..4, each input broadcast along random dims
// (stride 0), zero points, requantization parameters (fill_requant's mix) and activation ranges.
void binary_case(int kind) {
  const int32_t rank = rint_in(0, 4);
  int32_t dims[4], as[4], bs[4];
  for (int i = 0; i < rank; ++i) dims[i] = rint_in(1, i == rank - 1 ? 70 : 5);
  int64_t sa = 1, sb = 1, n = 1;
  const bool a_bc = rnd() % 3 == 0, b_bc = rnd() % 2 == 0;
  for (int i = rank - 1; i >= 0; --i) {
    as[i] = a_bc && rnd() % 2 ? 0 : static_cast<int32_t>(sa);
    bs[i] = b_bc && rnd() % 2 ? 0 : static_cast<int32_t>(sb);
    sa *= as[i] ? dims[i] : 1;
    sb *= bs[i] ? dims[i] : 1;
    n *= dims[i];
  }
  if (n > kMaxY) return;
  const int32_t a_zp = pick_zp(), b_zp = pick_zp(), y_zp = pick_zp();
  fill_i8(g_x, static_cast<int>(sa), a_zp);
  fill_i8(g_w, static_cast<int>(sb), b_zp);
  fill_requant(3);
  const int32_t act_min = rnd() % 3 == 0 ? y_zp : -128, act_max = rnd() % 5 == 0 ? rint_in(act_min, 127) : 127;
  memset(g_yr, 0x55, static_cast<size_t>(n));
  memset(g_yo, 0x2a, static_cast<size_t>(n));
  if (kind == 0) {
    tinyodlc::ref::qmul_s8(g_x, g_w, g_yr, rank, dims, as, bs, a_zp, b_zp, y_zp, g_mult[0], g_shift[0], act_min, act_max);
    tinyodlc::armv7em::qmul_s8(g_x, g_w, g_yo, rank, dims, as, bs, a_zp, b_zp, y_zp, g_mult[0], g_shift[0], act_min,
                               act_max);
  } else {
    // QAdd/QSub's own parameter shape: inputs scaled down (shift <= -1), left shift 20.
    for (int i = 0; i < 2; ++i) g_shift[i] = -rint_in(1, 12);
    auto f = kind == 1 ? tinyodlc::ref::qadd_s8 : tinyodlc::ref::qsub_s8;
    auto o = kind == 1 ? tinyodlc::armv7em::qadd_s8 : tinyodlc::armv7em::qsub_s8;
    f(g_x, g_w, g_yr, rank, dims, as, bs, a_zp, b_zp, y_zp, g_mult[0], g_shift[0], g_mult[1], g_shift[1], g_mult[2],
      g_shift[2], 20, act_min, act_max);
    o(g_x, g_w, g_yo, rank, dims, as, bs, a_zp, b_zp, y_zp, g_mult[0], g_shift[0], g_mult[1], g_shift[1], g_mult[2],
      g_shift[2], 20, act_min, act_max);
  }
  char what[96];
  snprintf(what, sizeof what, "q%s rank %ld n %ld", kind == 0 ? "mul" : (kind == 1 ? "add" : "sub"), long(rank),
           long(n));
  compare(what, static_cast<int>(n));
}

// The requantization alone against ref::q_multiply, on values that hit its corner cases:
// rounding ties of both roundings, saturation of the left shift, extreme accumulators.
void requant_cases() {
  const int32_t mults[] = {0, 1, 1 << 30, (1 << 30) + 1, INT32_MAX, INT32_MIN, 1518500250, -(1 << 30)};
  const int32_t xs[] = {0, 1, -1, 2, -2, 3, -3, 5, -5, 127, -128, 255, -255, 1 << 20, -(1 << 20), INT32_MAX, INT32_MIN,
                        INT32_MAX - 1, INT32_MIN + 1, 1 << 30, -(1 << 30)};
  int bad = 0;
  for (int32_t m : mults)
    for (int32_t sh = -31; sh <= 30; ++sh) {
      const tinyodlc::armv7em::Requant q = tinyodlc::armv7em::requant_of(m, sh);
      for (int i = 0; i < 40; ++i) {
        const int32_t x = i < 21 ? xs[i] : static_cast<int32_t>(rnd()) >> (rnd() % 31);
        const int32_t r = tinyodlc::ref::q_multiply(x, m, sh), o = tinyodlc::armv7em::requant_apply(x, q);
        if (r != o && bad++ < 5) {
          snprintf(g_line, sizeof g_line, "FAIL requant x %ld mult %ld shift %ld: reference %ld, optimized %ld\n",
                   long(x), long(m), long(sh), long(r), long(o));
          say(g_line);
        }
      }
    }
  ++g_cases;
  if (bad) ++g_fail;
}

// int8 MaxPool 2x2 stride 2 (armv7em/pool.h) against ref::max_pool<int8_t>: odd and even
// sizes, channels, and (for the fallback) padding and ceil-mode output sizes.
void maxpool_case(int i) {
  const int32_t nc = rint_in(1, 6), ih = rint_in(2, 17), iw = rint_in(2, 17);
  const int32_t in[3] = {1, ih, iw}, k[3] = {1, 2, 2}, s[3] = {1, 2, 2}, d[3] = {1, 1, 1};
  int32_t pads[6] = {0, 0, 0, 0, 0, 0};
  if (i % 5 == 4) pads[1] = pads[4] = 1;  // padded: the opt fallback
  const bool ceil_mode = i % 7 == 6;
  int32_t out[3] = {1, 0, 0};
  for (int dd = 1; dd < 3; ++dd) {
    const int32_t span = in[dd] + pads[dd] + pads[dd + 3] - 2;
    out[dd] = (ceil_mode ? (span + 1) / 2 : span / 2) + 1;
  }
  const int n_in = nc * ih * iw, n_out = nc * out[1] * out[2];
  fill_i8(g_x, n_in, 0);
  memset(g_yr, 0x55, static_cast<size_t>(n_out));
  memset(g_yo, 0x2a, static_cast<size_t>(n_out));
  tinyodlc::ref::max_pool<int8_t>(g_x, g_yr, nullptr, nc, in, k, out, s, d, pads, 0);
  tinyodlc::armv7em::max_pool_2x2s2_s8(g_x, g_yo, nullptr, nc, in, k, out, s, d, pads, 0);
  char what[96];
  snprintf(what, sizeof what, "max_pool_2x2s2_s8 nc%ld in[%ld,%ld] pad%ld ceil%d", long(nc), long(ih), long(iw),
           long(pads[1]), ceil_mode ? 1 : 0);
  compare(what, n_out);
}

}  // namespace

int main() {
  requant_cases();
  // Fixed shapes of the zoo models (DS-CNN KWS: stem 10x4 stride 2, depthwise 3x3, 1x1 64->64).
  {
    const int32_t in[3] = {1, 49, 10}, k[3] = {1, 10, 4}, s[3] = {1, 2, 2}, d[3] = {1, 1, 1}, pb[3] = {0, 4, 1},
                  pe[3] = {0, 5, 1};
    conv_case(1, 1, 64, 1, in, k, s, d, pb, pe, true, true);
  }
  {
    const int32_t in[3] = {1, 25, 5}, k[3] = {1, 3, 3}, s[3] = {1, 1, 1}, d[3] = {1, 1, 1}, p[3] = {0, 1, 1};
    conv_case(1, 64, 64, 64, in, k, s, d, p, p, true, true);
    const int32_t k1[3] = {1, 1, 1}, p0[3] = {0, 0, 0};
    conv_case(1, 64, 64, 1, in, k1, s, d, p0, p0, true, true);
  }
  // One input channel, group 1, 3x3 s1/s2 (the depthwise path with every output channel on
  // plane 0; StreamTinyNet's first conv).
  for (int i = 0; i < 24; ++i) {
    const int32_t s1 = 1 + i % 2, h = rint_in(1, 20), w_ = rint_in(1, 20);
    const int32_t in[3] = {1, h, w_}, k[3] = {1, 3, 3}, s[3] = {1, s1, s1}, d[3] = {1, 1, 1};
    const int32_t pb[3] = {0, rint_in(0, 2), rint_in(0, 2)}, pe[3] = {0, rint_in(0, 2), rint_in(0, 2)};
    if (h + pb[1] + pe[1] < 3 || w_ + pb[2] + pe[2] < 3) continue;
    conv_case(1 + i % 3 / 2, 1, rint_in(1, 9), 1, in, k, s, d, pb, pe, i % 4 != 0, i % 2 == 0);
  }
  // Depthwise 3x3 s1 and one input channel with right shifts around the bound of the y_zp fold
  // of the row requantization (fshift = -shift - 1 <= 22), zero points including -128/127.
  g_force_shift_lo = -25;
  g_force_shift_hi = -21;
  for (int i = 0; i < 16; ++i) {
    const int32_t in[3] = {1, rint_in(1, 12), rint_in(1, 12)}, k[3] = {1, 3, 3}, s[3] = {1, 1, 1}, d[3] = {1, 1, 1};
    const int32_t p[3] = {0, 1, 1};
    const int32_t ch = rint_in(1, 8);
    conv_case(1, i % 2 ? 1 : ch, ch, i % 2 ? 1 : ch, in, k, s, d, p, p, true, true);
  }
  g_force_shift_lo = 1;
  g_force_shift_hi = 0;
  // Few input channels, dense k x k at the zoo's sizes (window-interior im2col, 2x2 GEMM):
  // StreamTinyNet 8->16 and d-vector-like 1->8 / 8->16 3x3 pad 1, odd widths and heights.
  for (int i = 0; i < 20; ++i) {
    const int32_t c_in = i % 4 == 0 ? 1 : rint_in(2, 8), c_out = rint_in(1, 16);
    const int32_t kk = i % 5 == 0 ? rint_in(1, 5) : 3;
    const int32_t in[3] = {1, rint_in(kk, 13), rint_in(kk, 13)}, k[3] = {1, kk, kk}, s[3] = {1, 1, 1},
                  d[3] = {1, 1, 1};
    const int32_t pb[3] = {0, rint_in(0, kk - 1), rint_in(0, kk - 1)}, pe[3] = {0, rint_in(0, kk - 1), rint_in(0, kk - 1)};
    conv_case(1, c_in, c_out, 1, in, k, s, d, pb, pe, i % 3 != 0, i % 2 == 0);
  }
  // Depthwise, any kernel (the general depthwise path): EmbBERT-Q's causal conv1d (kernel 8,
  // pads 7/7), then random 1-D and 2-D kernels, strides, dilation along H, pads, batch.
  {
    const int32_t in[3] = {1, 1, 64}, k[3] = {1, 1, 8}, s[3] = {1, 1, 1}, d[3] = {1, 1, 1}, p[3] = {0, 0, 7};
    conv_case(1, 32, 32, 32, in, k, s, d, p, p, true, true);
  }
  for (int i = 0; i < 60; ++i) {
    const bool one_d = i % 3 == 0;
    const int32_t ch = rint_in(1, 12);
    const int32_t k[3] = {1, one_d ? 1 : rint_in(1, 5), rint_in(1, 9)};
    const int32_t s[3] = {1, one_d ? 1 : rint_in(1, 3), rint_in(1, 3)}, d[3] = {1, one_d ? 1 : rint_in(1, 2), 1};
    const int32_t in[3] = {1, one_d ? 1 : rint_in(k[1] * d[1], 12), rint_in(k[2], 40)};
    const int32_t pb[3] = {0, rint_in(0, k[1] - 1), rint_in(0, k[2] - 1)}, pe[3] = {0, rint_in(0, k[1] - 1), rint_in(0, k[2] - 1)};
    conv_case(1 + i % 4 / 3, ch, ch, ch, in, k, s, d, pb, pe, i % 5 != 0, i % 2 == 0);
  }
  for (int i = 0; i < 60; ++i) random_conv(0);
  for (int i = 0; i < 60; ++i) random_conv(1);
  for (int i = 0; i < 80; ++i) random_conv(2);
  for (int i = 0; i < 60; ++i) random_conv(3);
  {
    const int32_t none = 0;
    matmul_case(0, &none, &none, &none, 1, 12, 64, true, true, true);  // DS-CNN KWS classifier
  }
  for (int i = 0; i < 100; ++i) random_matmul();
  // Every path and tail of qmatmul_s8: row path (M < 4) and packed path (M >= 4, odd M),
  // columns N % 4 != 0, taps K % 4 != 0, weights (b_zp 0) and activations (b_zp != 0).
  {
    const int32_t none = 0, Ms[] = {1, 2, 3, 4, 5, 8}, Ns[] = {1, 3, 4, 5, 8, 13}, Ks[] = {1, 2, 3, 4, 5, 7, 8, 33};
    int t = 0;
    for (int32_t M : Ms)
      for (int32_t N : Ns)
        for (int32_t K : Ks) {
          ++t;
          matmul_case(0, &none, &none, &none, M, N, K, t % 3 != 0, t % 2 == 0, t % 5 < 2);
        }
    const int32_t bd[1] = {3}, as1[1] = {1}, bs0[1] = {0};  // b broadcast over a batch of 3
    matmul_case(1, bd, as1, bs0, 6, 7, 9, true, true, true);
    matmul_case(1, bd, bs0, as1, 5, 9, 11, true, false, false);
  }
  for (int i = 0; i < 90; ++i) binary_case(i % 3);
  for (int i = 0; i < 40; ++i) maxpool_case(i);
  snprintf(g_line, sizeof g_line, "%s: %d cases, %d failed (DSP instructions: %s)\n", g_fail ? "FAIL" : "OK", g_cases,
           g_fail, TINYODLC_HAVE_DSP ? "yes" : "portable fallback");
  say(g_line);
  return g_fail ? 1 : 0;
}
