// Simulated NOR flash behind a tinyodlc::StoragePort, with power cuts (tests/runtime).
//
// - erase(offset, length): whole, aligned erase units only; sets them to 0xFF.
// - program(offset, data, length): whole, aligned program units only; a unit must be fully
//   erased before it is programmed (as on flash with ECC per word: STM32H7, PSoC 6), and
//   programming only clears bits (mem &= data).
// - Misaligned or out-of-range calls fail (and are counted as violations).
// - Power cut: the cut_at-th erase/program call (1-based, counted over both kinds) stops part
//   way: some units are done, one unit is torn (a prefix of its bytes done, one byte with only
//   some of its bits changed), the rest untouched; that call and every later call fail
//   until reboot(). Which units/bytes/bits is drawn from a deterministic xorshift generator.
// Header-only, no heap: the memory is given by the caller (host tests and the M4 build).
#ifndef TINYODLC_TESTS_NOR_SIM_H
#define TINYODLC_TESTS_NOR_SIM_H

#include <stdint.h>
#include <string.h>

#include "tinyodlc/runtime/storage.h"

namespace norsim {

struct Nor {
  uint8_t* mem;
  uint32_t size, erase_size, program_size;
  uint32_t calls;       // erase + program calls since the last reboot()
  uint32_t cut_at;      // the call that loses power (0: never)
  bool dead;            // power is off
  uint32_t rng;
  uint32_t violations;  // misaligned / out-of-range / program of a non-erased unit
  uint32_t erases, programs;       // successful calls (totals, for wear figures)
  uint32_t erased_bytes, programmed_bytes;
};

inline uint32_t next(Nor& n) {
  uint32_t x = n.rng ? n.rng : 0x9E3779B9u;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  n.rng = x;
  return x;
}

inline void init(Nor& n, uint8_t* mem, uint32_t size, uint32_t erase_size, uint32_t program_size) {
  memset(&n, 0, sizeof(n));
  n.mem = mem;
  n.size = size;
  n.erase_size = erase_size;
  n.program_size = program_size;
  memset(mem, 0xFF, size);
}

inline void reboot(Nor& n) {
  n.dead = false;
  n.calls = 0;
  n.cut_at = 0;
}

inline bool bad_range(Nor& n, uint32_t off, uint32_t len, uint32_t unit) {
  if (len == 0 || off % unit != 0 || len % unit != 0 || off > n.size || len > n.size - off) {
    ++n.violations;
    return true;
  }
  return false;
}

// Applies a torn operation to [off, off + len) whose target content is given by
// target(i) (erase: 0xFF; program: old & data): some units complete, one torn, rest untouched.
template <class Target>
inline void tear(Nor& n, uint32_t off, uint32_t len, uint32_t unit, Target target) {
  const uint32_t units = len / unit;
  const uint32_t done = next(n) % units;  // units fully done before the cut (0..units-1)
  for (uint32_t i = 0; i < done * unit; ++i) n.mem[off + i] = target(off + i);
  const uint32_t t = off + done * unit;
  const uint32_t bytes = next(n) % unit;  // bytes of the torn unit that are done
  for (uint32_t i = 0; i < bytes; ++i) n.mem[t + i] = target(t + i);
  // One byte half-way: each bit either has its old or its new value.
  const uint8_t mask = static_cast<uint8_t>(next(n));
  const uint8_t old = n.mem[t + bytes], nw = target(t + bytes);
  n.mem[t + bytes] = static_cast<uint8_t>((old & ~mask) | (nw & mask));
}

inline int erase(void* ctx, uint32_t off, uint32_t len) {
  Nor& n = *static_cast<Nor*>(ctx);
  if (n.dead) return -1;
  if (bad_range(n, off, len, n.erase_size)) return -2;
  if (++n.calls == n.cut_at) {
    tear(n, off, len, n.erase_size, [](uint32_t) { return static_cast<uint8_t>(0xFF); });
    n.dead = true;
    return -1;
  }
  memset(n.mem + off, 0xFF, len);
  ++n.erases;
  n.erased_bytes += len;
  return 0;
}

inline int program(void* ctx, uint32_t off, const void* data, uint32_t len) {
  Nor& n = *static_cast<Nor*>(ctx);
  if (n.dead) return -1;
  if (bad_range(n, off, len, n.program_size)) return -2;
  for (uint32_t i = 0; i < len; ++i)
    if (n.mem[off + i] != 0xFF) {
      ++n.violations;
      return -3;
    }
  const uint8_t* d = static_cast<const uint8_t*>(data);
  if (++n.calls == n.cut_at) {
    tear(n, off, len, n.program_size,
         [&](uint32_t a) { return static_cast<uint8_t>(n.mem[a] & d[a - off]); });
    n.dead = true;
    return -1;
  }
  for (uint32_t i = 0; i < len; ++i) n.mem[off + i] &= d[i];
  ++n.programs;
  n.programmed_bytes += len;
  return 0;
}

inline int read(void* ctx, uint32_t off, void* data, uint32_t len) {
  Nor& n = *static_cast<Nor*>(ctx);
  if (n.dead) return -1;
  if (off > n.size || len > n.size - off) {
    ++n.violations;
    return -2;
  }
  memcpy(data, n.mem + off, len);
  return 0;
}

inline tinyodlc::StoragePort port(Nor& n) {
  return tinyodlc::StoragePort{&n, n.size, n.erase_size, n.program_size, erase, program, read};
}

}  // namespace norsim

#endif
