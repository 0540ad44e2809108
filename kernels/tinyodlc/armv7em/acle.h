// The ARMv7E-M DSP intrinsics the optimized kernels use (ACLE, <arm_acle.h>), with a portable
// fallback: on a core with the DSP extension (__ARM_FEATURE_DSP: Cortex-M4/M7) they are the
// single instructions SMLAD, SXTB16, PKHBT/PKHTB, SSUB16; elsewhere (the host, for the
// bit-exactness tests) plain C++ with the same results, including the wrap-around of
// SMLAD's accumulate (the Q flag is not modelled: no kernel reads it).
#pragma once

#include <stdint.h>
#include <string.h>

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#include <arm_acle.h>
#define TINYODLC_HAVE_DSP 1
#else
#define TINYODLC_HAVE_DSP 0
#endif

namespace tinyodlc {
namespace armv7em {

// Unaligned 32-bit store (one STR on ARMv7-M).
inline void st32(void* p, uint32_t v) { memcpy(p, &v, 4); }

// Unaligned 32-bit load (one LDR on ARMv7-M, which allows unaligned word loads).
inline uint32_t ld32(const void* p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}

#if TINYODLC_HAVE_DSP
inline uint32_t sxtb16(uint32_t x) { return __sxtb16(x); }
inline int32_t smlad(uint32_t a, uint32_t b, int32_t acc) { return __smlad(a, b, acc); }
// SXTB16 of x rotated right by 8 (the odd bytes), PKHBT and PKHTB: GCC 12's <arm_acle.h>
// has no __ror/__pkhbt/__pkhtb and does not fold a rotation into SXTB16 (measured: one extra
// instruction each), so these three are one-instruction inline asm.
inline uint32_t sxtb16_ror8(uint32_t x) {
  uint32_t r;
  __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
  return r;
}
// (low half of lo, low half of hi) and (high half of lo, high half of hi).
inline uint32_t pack_lo_lo(uint32_t lo, uint32_t hi) {
  uint32_t r;
  __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(lo), "r"(hi));
  return r;
}
inline uint32_t pack_hi_hi(uint32_t lo, uint32_t hi) {
  uint32_t r;
  __asm__("pkhtb %0, %1, %2, asr #16" : "=r"(r) : "r"(hi), "r"(lo));
  return r;
}
inline uint32_t ssub16(uint32_t a, uint32_t b) { return __ssub16(a, b); }
// SMLABB / SMLATB: acc + (bottom | top half of a) * (bottom half of b), wrapping.
inline int32_t smlabb(uint32_t a, uint32_t b, int32_t acc) {
  return __smlabb(static_cast<int32_t>(a), static_cast<int32_t>(b), acc);
}
inline int32_t smlatb(uint32_t a, uint32_t b, int32_t acc) {
  return __smlatb(static_cast<int32_t>(a), static_cast<int32_t>(b), acc);
}
inline int32_t smlabt(uint32_t a, uint32_t b, int32_t acc) {
  return __smlabt(static_cast<int32_t>(a), static_cast<int32_t>(b), acc);
}
inline int32_t smlatt(uint32_t a, uint32_t b, int32_t acc) {
  return __smlatt(static_cast<int32_t>(a), static_cast<int32_t>(b), acc);
}
inline int32_t smuad(uint32_t a, uint32_t b) { return __smuad(a, b); }
// Bytewise signed maximum of two words of 4 int8: SSUB8 sets GE[i] = (a_i >= b_i), SEL picks
// a_i where GE[i] is set. One asm block, so nothing can clobber the GE flags in between.
inline uint32_t max_s8x4(uint32_t a, uint32_t b) {
  uint32_t r;
  __asm__("ssub8 %0, %1, %2\n\tsel %0, %1, %2" : "=&r"(r) : "r"(a), "r"(b) : "cc");
  return r;
}
// Saturate to int8 (one SSAT).
inline int32_t ssat8(int32_t v) { return __ssat(v, 8); }
// Two consecutive words (4 int16) from a 4-byte aligned p, then p += 4: one LDRD with
// post-increment (GCC does not merge two ld32: they are unaligned-safe accesses).
typedef uint32_t __attribute__((may_alias)) u32_alias;
inline void ld2x32_inc(const int16_t*& p, uint32_t& a, uint32_t& b) {
  __asm__("ldrd %0, %1, [%2], #8"
          : "=&r"(a), "=&r"(b), "+r"(p)
          : "m"(*reinterpret_cast<const u32_alias(*)[2]>(p)));
}
#else
inline int32_t ssat8(int32_t v) { return v < -128 ? -128 : (v > 127 ? 127 : v); }
inline uint32_t max_s8x4(uint32_t a, uint32_t b) {
  uint32_t r = 0;
  for (int i = 0; i < 32; i += 8) {
    const int8_t x = static_cast<int8_t>(static_cast<uint8_t>(a >> i));
    const int8_t y = static_cast<int8_t>(static_cast<uint8_t>(b >> i));
    r |= static_cast<uint32_t>(static_cast<uint8_t>(x >= y ? x : y)) << i;
  }
  return r;
}
inline void ld2x32_inc(const int16_t*& p, uint32_t& a, uint32_t& b) {
  a = ld32(p);
  b = ld32(p + 2);
  p += 4;
}
inline uint32_t half(int32_t v) { return static_cast<uint32_t>(v) & 0xFFFFu; }
inline int32_t lo16(uint32_t x) { return static_cast<int16_t>(static_cast<uint16_t>(x & 0xFFFFu)); }
inline int32_t hi16(uint32_t x) { return static_cast<int16_t>(static_cast<uint16_t>(x >> 16)); }
inline uint32_t sxtb16(uint32_t x) {
  const int32_t b0 = static_cast<int8_t>(static_cast<uint8_t>(x & 0xFFu));
  const int32_t b2 = static_cast<int8_t>(static_cast<uint8_t>((x >> 16) & 0xFFu));
  return half(b0) | (half(b2) << 16);
}
inline uint32_t sxtb16_ror8(uint32_t x) { return sxtb16((x >> 8) | (x << 24)); }
inline int32_t smlad(uint32_t a, uint32_t b, int32_t acc) {
  const int64_t p = static_cast<int64_t>(lo16(a)) * lo16(b) + static_cast<int64_t>(hi16(a)) * hi16(b);
  return static_cast<int32_t>(static_cast<uint32_t>(acc) + static_cast<uint32_t>(p));
}
inline uint32_t pack_lo_lo(uint32_t lo, uint32_t hi) { return (lo & 0xFFFFu) | (hi << 16); }
inline uint32_t pack_hi_hi(uint32_t lo, uint32_t hi) { return (hi & 0xFFFF0000u) | (lo >> 16); }
inline uint32_t ssub16(uint32_t a, uint32_t b) {
  return half(lo16(a) - lo16(b)) | (half(hi16(a) - hi16(b)) << 16);
}
inline int32_t smlabb(uint32_t a, uint32_t b, int32_t acc) {
  return static_cast<int32_t>(static_cast<uint32_t>(acc) + static_cast<uint32_t>(lo16(a) * lo16(b)));
}
inline int32_t smlatb(uint32_t a, uint32_t b, int32_t acc) {
  return static_cast<int32_t>(static_cast<uint32_t>(acc) + static_cast<uint32_t>(hi16(a) * lo16(b)));
}
inline int32_t smlabt(uint32_t a, uint32_t b, int32_t acc) {
  return static_cast<int32_t>(static_cast<uint32_t>(acc) + static_cast<uint32_t>(lo16(a) * hi16(b)));
}
inline int32_t smlatt(uint32_t a, uint32_t b, int32_t acc) {
  return static_cast<int32_t>(static_cast<uint32_t>(acc) + static_cast<uint32_t>(hi16(a) * hi16(b)));
}
inline int32_t smuad(uint32_t a, uint32_t b) { return smlad(a, b, 0); }
#endif

// Two int16 values packed as one word (lo in bits 0..15).
inline uint32_t pack16(int32_t lo, int32_t hi) {
  return (static_cast<uint32_t>(lo) & 0xFFFFu) | (static_cast<uint32_t>(hi) << 16);
}

}  // namespace armv7em
}  // namespace tinyodlc
