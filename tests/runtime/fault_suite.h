// Power-loss fault-injection suite of the learned-state storage (tinyodlc/runtime/storage.h),
// shared by the host GoogleTest (test_storage.cpp) and the Cortex-M4 build run in QEMU
// (target/m4_fault_main.cpp). No heap, no exceptions, no floating point.
//
// The flash content is checked by an independent reader (its own bitwise CRC-32 and header
// parser, written from docs/persistence.md), not only through storage::load().
#ifndef TINYODLC_TESTS_FAULT_SUITE_H
#define TINYODLC_TESTS_FAULT_SUITE_H

#include <stdint.h>
#include <string.h>

#include "nor_sim.h"
#include "tinyodlc/runtime/storage.h"

namespace faultsuite {

using tinyodlc::LearnedStateBlock;
using tinyodlc::LearnedStateLayout;
using tinyodlc::StoragePort;

struct Log {
  void (*print)(const char*);
  uint32_t failures = 0;
  uint32_t checks = 0;
  uint32_t cuts = 0;  // power cuts simulated
};

inline char* fmt_u(char* p, uint32_t v) {
  char t[12];
  int n = 0;
  do t[n++] = static_cast<char>('0' + v % 10); while ((v /= 10) != 0);
  while (n) *p++ = t[--n];
  *p = 0;
  return p;
}

inline void fail(Log& log, const char* what, uint32_t a, uint32_t b, uint32_t c) {
  ++log.failures;
  if (!log.print || log.failures > 20) return;
  char buf[160];
  char* p = buf;
  for (const char* s = "FAIL "; *s;) *p++ = *s++;
  for (; *what && p < buf + 100;) *p++ = *what++;
  const uint32_t vals[3] = {a, b, c};
  for (uint32_t v : vals) {
    *p++ = ' ';
    p = fmt_u(p, v);
  }
  *p++ = '\n';
  *p = 0;
  log.print(buf);
}

#define FS_CHECK(cond, what, a, b, c) \
  do {                                \
    ++log.checks;                     \
    if (!(cond)) fail(log, what, a, b, c); \
  } while (0)

// ---- the learned state of the test: three blocks, like a training build ------------------
constexpr uint32_t kParams = 300;
struct State {
  uint32_t params[kParams];  // float bit patterns in a real build; compared bit for bit
  int32_t step;
  uint32_t lr;
};
inline State& state() {
  static State s;
  return s;
}
inline const LearnedStateLayout& layout(uint32_t hash = 0x1234ABCDu) {
  static LearnedStateBlock blocks[3];
  static LearnedStateLayout l;
  State& s = state();
  blocks[0] = {"params", s.params, sizeof(s.params)};
  blocks[1] = {"step", &s.step, sizeof(s.step)};
  blocks[2] = {"lr", &s.lr, sizeof(s.lr)};
  l = {blocks, 3, hash, static_cast<uint32_t>(sizeof(s.params) + sizeof(s.step) + sizeof(s.lr))};
  return l;
}
// Version v of the state (v >= 1): every byte depends on v.
inline void fill(State& s, uint32_t v) {
  for (uint32_t i = 0; i < kParams; ++i) s.params[i] = (v * 0x9E3779B1u) ^ (i * 0x85EBCA77u) ^ (v << 24);
  s.step = static_cast<int32_t>(v * 7 + 1);
  s.lr = 0x3C23D70Au + v;
}
inline void poison(State& s) { memset(&s, 0xA5, sizeof(s)); }
// Version of the state in s (0: poison pattern, -1: something else).
inline int32_t version_of(const State& s) {
  State t;
  poison(t);
  if (memcmp(&t, &s, sizeof(s)) == 0) return 0;
  for (uint32_t v = 1; v < 64; ++v) {
    fill(t, v);
    if (memcmp(&t, &s, sizeof(s)) == 0) return static_cast<int32_t>(v);
  }
  return -1;
}

// ---- independent reader of the slot format (docs/persistence.md) -------------------------
inline uint32_t ref_crc(const uint8_t* p, uint32_t n, uint32_t crc = 0xFFFFFFFFu) {
  for (uint32_t i = 0; i < n; ++i) {
    crc ^= p[i];
    for (int b = 0; b < 8; ++b) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return crc;
}
inline uint32_t le32(const uint8_t* p) { return p[0] | p[1] << 8 | p[2] << 16 | static_cast<uint32_t>(p[3]) << 24; }
struct RefSlot {
  bool valid;
  uint32_t seq;
};
inline uint32_t slot_size(const norsim::Nor& n) { return n.size / 2 / n.erase_size * n.erase_size; }
inline uint32_t header_span(const norsim::Nor& n) { return (24 + n.program_size - 1) / n.program_size * n.program_size; }
inline RefSlot ref_slot(const norsim::Nor& n, int i, uint32_t hash, uint32_t len) {
  const uint8_t* h = n.mem + i * slot_size(n);
  RefSlot r{false, le32(h + 12)};
  if (le32(h) != 0x4C444F54u || le32(h + 4) != 1 || le32(h + 8) != hash || le32(h + 16) != len) return r;
  uint32_t c = ref_crc(h, 20);
  c = ref_crc(h + header_span(n), len, c) ^ 0xFFFFFFFFu;
  r.valid = c == le32(h + 20);
  return r;
}
// Writes a valid slot for version v with sequence seq, independently of the engine.
inline void ref_write(norsim::Nor& n, int i, uint32_t hash, uint32_t seq, uint32_t v) {
  State s;
  fill(s, v);
  uint8_t* h = n.mem + i * slot_size(n);
  memset(h, 0xFF, slot_size(n));
  uint8_t* p = h + header_span(n);
  memcpy(p, s.params, sizeof(s.params));
  memcpy(p + sizeof(s.params), &s.step, 4);
  memcpy(p + sizeof(s.params) + 4, &s.lr, 4);
  const uint32_t len = sizeof(s.params) + 8;
  const uint32_t w[5] = {0x4C444F54u, 1, hash, seq, len};
  for (int k = 0; k < 5; ++k)
    for (int b = 0; b < 4; ++b) h[4 * k + b] = static_cast<uint8_t>(w[k] >> (8 * b));
  const uint32_t c = ref_crc(p, len, ref_crc(h, 20)) ^ 0xFFFFFFFFu;
  for (int b = 0; b < 4; ++b) h[20 + b] = static_cast<uint8_t>(c >> (8 * b));
}

// Reboots (RAM state lost: poisoned), loads, returns the version restored (0: rc 1 and the
// state untouched; -1: anything else).
inline int32_t reboot_and_load(norsim::Nor& n, int* rc_out = nullptr) {
  norsim::reboot(n);
  poison(state());
  const StoragePort port = norsim::port(n);
  const int rc = tinyodlc::storage::load(port, layout());
  if (rc_out) *rc_out = rc;
  const int32_t v = version_of(state());
  if (rc == 0) return v > 0 ? v : -1;
  if (rc == 1) return v == 0 ? 0 : -1;
  return -1;
}

inline int save_version(norsim::Nor& n, uint32_t v, uint32_t cut_at) {
  norsim::reboot(n);
  n.cut_at = cut_at;
  fill(state(), v);
  const StoragePort port = norsim::port(n);
  return tinyodlc::storage::save(port, layout());
}

// Number of erase/program calls of a save from the flash content in n (on a scratch copy).
inline uint32_t calls_of_save(norsim::Nor& n, uint8_t* scratch, uint32_t v) {
  memcpy(scratch, n.mem, n.size);
  save_version(n, v, 0);
  const uint32_t calls = n.calls;
  memcpy(n.mem, scratch, n.size);
  norsim::reboot(n);
  return calls;
}

// Index of the newest valid slot by the independent reader (-1: none).
inline int ref_newest(const norsim::Nor& n) {
  const uint32_t len = layout().bytes, hash = layout().layout_hash;
  RefSlot a = ref_slot(n, 0, hash, len), b = ref_slot(n, 1, hash, len);
  if (a.valid && b.valid) return static_cast<int32_t>(b.seq - a.seq) > 0 ? 1 : 0;
  return a.valid ? 0 : (b.valid ? 1 : -1);
}

// The fault-injection scenario on one geometry: before each save, 0..3 successful saves; the
// save is cut at every call k; after the reboot the state is the old or the new one bit for
// bit and the newest valid slot is byte-identical; then the retry (another version) is cut at
// every call k2 with the same checks; then a clean retry must succeed.
// mem and scratch, scratch2: area bytes each.
inline void power_cut_suite(Log& log, uint8_t* mem, uint8_t* scratch, uint8_t* scratch2, uint32_t area,
                            uint32_t erase_size, uint32_t program_size, uint32_t seed) {
  norsim::Nor n;
  norsim::init(n, mem, area, erase_size, program_size);
  const uint32_t slot = slot_size(n);
  for (uint32_t p = 0; p <= 3; ++p) {
    norsim::init(n, mem, area, erase_size, program_size);
    for (uint32_t v = 1; v <= p; ++v) FS_CHECK(save_version(n, v, 0) == 0, "prior save", p, v, 0);
    const uint32_t old_v = p, new_v = p + 1, retry_v = p + 2;
    const uint32_t calls = calls_of_save(n, scratch, new_v);
    FS_CHECK(calls >= 2, "calls per save", calls, p, 0);
    memcpy(scratch, mem, area);  // the flash before the save
    const int kept = ref_newest(n);
    for (uint32_t k = 1; k <= calls; ++k) {
      memcpy(mem, scratch, area);
      n.rng = seed ^ (k * 0x632BE5ABu) ^ (p << 20);
      const int rc = save_version(n, new_v, k);
      ++log.cuts;
      FS_CHECK(rc < 0, "cut save must fail", p, k, 0);
      if (kept >= 0)
        FS_CHECK(memcmp(mem + kept * slot, scratch + kept * slot, slot) == 0, "newest slot touched", p, k, 0);
      const int32_t got = reboot_and_load(n);
      FS_CHECK(got == static_cast<int32_t>(old_v) || got == static_cast<int32_t>(new_v), "after cut", p, k,
               static_cast<uint32_t>(got));
      // The retry (the device learned more meanwhile: another version), cut at every call.
      memcpy(scratch2, mem, area);
      const int kept2 = ref_newest(n);
      const uint32_t calls2 = calls_of_save(n, scratch2, retry_v);  // leaves scratch2 = flash before the retry
      for (uint32_t k2 = 1; k2 <= calls2; ++k2) {
        memcpy(mem, scratch2, area);
        n.rng = seed ^ (k * 0x632BE5ABu) ^ (k2 * 0x2545F491u) ^ (p << 20) ^ 1u;
        FS_CHECK(save_version(n, retry_v, k2) < 0, "cut retry must fail", p, k, k2);
        ++log.cuts;
        if (kept2 >= 0)
          FS_CHECK(memcmp(mem + kept2 * slot, scratch2 + kept2 * slot, slot) == 0, "newest slot touched (retry)", p,
                   k, k2);
        const int32_t got2 = reboot_and_load(n);
        FS_CHECK(got2 == got || got2 == static_cast<int32_t>(retry_v), "after cut retry", p, k * 1000 + k2,
                 static_cast<uint32_t>(got2));
      }
      memcpy(mem, scratch2, area);
      FS_CHECK(save_version(n, retry_v, 0) == 0, "clean retry", p, k, 0);
      FS_CHECK(reboot_and_load(n) == static_cast<int32_t>(retry_v), "after clean retry", p, k, 0);
    }
  }
  FS_CHECK(n.violations == 0, "flash rule violations (misaligned, reprogrammed)", n.violations, 0, 0);
}

// A flipped bit anywhere in a slot's header or payload: that slot is never loaded.
// stride: test every stride-th bit.
inline void bit_flip_suite(Log& log, uint8_t* mem, uint32_t area, uint32_t erase_size, uint32_t program_size,
                           uint32_t stride) {
  norsim::Nor n;
  norsim::init(n, mem, area, erase_size, program_size);
  FS_CHECK(save_version(n, 1, 0) == 0, "save 1", 0, 0, 0);
  FS_CHECK(save_version(n, 2, 0) == 0, "save 2", 0, 0, 0);
  const uint32_t slot = slot_size(n), hs = header_span(n), len = layout().bytes;
  const int newest = ref_newest(n);
  FS_CHECK(newest == 1, "second save in slot 1", static_cast<uint32_t>(newest), 0, 0);
  for (int s = 0; s < 2; ++s) {
    uint8_t* base = mem + s * slot;
    for (uint32_t bit = 0; bit < (hs + len) * 8; bit += stride) {
      const uint32_t byte = bit / 8;
      if (byte >= 24 && byte < hs) continue;  // header padding: not part of the slot's content
      base[byte] ^= static_cast<uint8_t>(1u << (bit % 8));
      const int32_t got = reboot_and_load(n);
      // Corrupting the newest slot falls back to the older one; corrupting the older changes nothing.
      FS_CHECK(got == (s == 1 ? 1 : 2), "bit flip", static_cast<uint32_t>(s), bit, static_cast<uint32_t>(got));
      base[byte] ^= static_cast<uint8_t>(1u << (bit % 8));
    }
  }
  FS_CHECK(reboot_and_load(n) == 2, "after flips", 0, 0, 0);
}

// A different compile's layout (hash or length) is refused; sequence numbers wrap.
inline void layout_and_wrap_suite(Log& log, uint8_t* mem, uint32_t area, uint32_t erase_size, uint32_t program_size) {
  norsim::Nor n;
  norsim::init(n, mem, area, erase_size, program_size);
  const StoragePort port = norsim::port(n);
  FS_CHECK(save_version(n, 3, 0) == 0, "save", 0, 0, 0);
  poison(state());
  LearnedStateLayout other = layout(0x1234ABCDu ^ 0x00010000u);
  FS_CHECK(tinyodlc::storage::load(port, other) == 1, "other layout hash refused", 0, 0, 0);
  FS_CHECK(version_of(state()) == 0, "refused load left the state untouched", 0, 0, 0);
  LearnedStateLayout shorter = layout();
  shorter.count = 2;
  shorter.bytes -= 4;  // same hash, other length
  FS_CHECK(tinyodlc::storage::load(port, shorter) == 1, "other length refused", 0, 0, 0);
  FS_CHECK(version_of(state()) == 0, "refused load left the state untouched", 1, 0, 0);
  FS_CHECK(reboot_and_load(n) == 3, "own layout loads", 0, 0, 0);
  // Wrap: slot 0 holds sequence 0xFFFFFFFE (written by the independent writer).
  norsim::init(n, mem, area, erase_size, program_size);
  ref_write(n, 0, layout().layout_hash, 0xFFFFFFFEu, 4);
  FS_CHECK(reboot_and_load(n) == 4, "independently written slot loads", 0, 0, 0);
  const uint32_t expect_seq[4] = {0xFFFFFFFFu, 0u, 1u, 2u};
  for (uint32_t i = 0; i < 4; ++i) {
    FS_CHECK(save_version(n, 5 + i, 0) == 0, "save across wrap", i, 0, 0);
    FS_CHECK(tinyodlc::storage::newest_sequence(port, layout()) == expect_seq[i], "sequence", i,
             tinyodlc::storage::newest_sequence(port, layout()), 0);
    FS_CHECK(reboot_and_load(n) == static_cast<int32_t>(5 + i), "newest across wrap", i, 0, 0);
    FS_CHECK(ref_newest(n) == static_cast<int>((i + 1) % 2), "alternating slots", i, 0, 0);
  }
  // Geometry errors are reported, not crashes.
  norsim::Nor tiny;
  uint8_t small[64];
  norsim::init(tiny, small, sizeof(small), 16, 8);
  FS_CHECK(tinyodlc::storage::save(norsim::port(tiny), layout()) == tinyodlc::storage::kErrGeometry, "too small", 0, 0,
           0);
  FS_CHECK(tiny.calls == 0, "no write on a geometry error", 0, 0, 0);
}

// A slot that cannot be read (e.g. a flash word left with an ECC error by a power cut, whose
// read faults) counts as invalid: the other slot still loads, and a save goes into the
// unreadable slot, never into the readable newest one.
struct Unreadable {
  norsim::Nor* n;
  int bad;  // slot whose reads fail (-1: none, 2: both)
};
inline int unreadable_read(void* ctx, uint32_t off, void* data, uint32_t len) {
  Unreadable& u = *static_cast<Unreadable*>(ctx);
  const uint32_t slot = slot_size(*u.n);
  for (int i = 0; i < 2; ++i)
    if ((u.bad == i || u.bad == 2) && off < (i + 1) * slot && off + len > i * slot) return -5;
  return norsim::read(u.n, off, data, len);
}
inline int unreadable_erase(void* ctx, uint32_t off, uint32_t len) {
  return norsim::erase(static_cast<Unreadable*>(ctx)->n, off, len);
}
inline int unreadable_program(void* ctx, uint32_t off, const void* d, uint32_t len) {
  return norsim::program(static_cast<Unreadable*>(ctx)->n, off, d, len);
}
inline void unreadable_slot_suite(Log& log, uint8_t* mem, uint8_t* scratch, uint32_t area, uint32_t erase_size,
                                  uint32_t program_size) {
  norsim::Nor n;
  norsim::init(n, mem, area, erase_size, program_size);
  FS_CHECK(save_version(n, 1, 0) == 0 && save_version(n, 2, 0) == 0, "two saves", 0, 0, 0);
  Unreadable u{&n, -1};
  const StoragePort port{&u, area, erase_size, program_size, unreadable_erase, unreadable_program, unreadable_read};
  const int32_t expect[3] = {2, 1, -1};  // slot 0 unreadable -> v2; slot 1 unreadable -> v1; both -> error
  for (int bad = 0; bad < 3; ++bad) {
    u.bad = bad;
    poison(state());
    const int rc = tinyodlc::storage::load(port, layout());
    if (bad < 2)
      FS_CHECK(rc == 0 && version_of(state()) == expect[bad], "load with an unreadable slot", static_cast<uint32_t>(bad),
               static_cast<uint32_t>(rc), static_cast<uint32_t>(version_of(state())));
    else
      FS_CHECK(rc == tinyodlc::storage::kErrPort && version_of(state()) == 0, "both slots unreadable", 0,
               static_cast<uint32_t>(rc), 0);
  }
  // Slot 0 (older, v1) unreadable: a save goes there and slot 1 (newest, v2) is not touched.
  const uint32_t slot = slot_size(n);
  memcpy(scratch, mem + slot, slot);
  u.bad = 0;
  fill(state(), 3);
  FS_CHECK(tinyodlc::storage::save(port, layout()) < 0, "save into an unreadable slot cannot verify", 0, 0, 0);
  FS_CHECK(memcmp(scratch, mem + slot, slot) == 0, "newest slot untouched", 0, 0, 0);
  FS_CHECK(ref_slot(n, 0, layout().layout_hash, layout().bytes).valid, "the save went into slot 0", 0, 0, 0);
  FS_CHECK(n.violations == 0, "flash rule violations", n.violations, 0, 0);
}

inline bool crc_check_value(Log& log) {
  const char* s = "123456789";
  const uint32_t c = tinyodlc::storage::crc32(s, 9);
  FS_CHECK(c == 0xCBF43926u, "CRC-32 check value", c, 0, 0);
  uint8_t buf[300];
  for (uint32_t i = 0; i < sizeof(buf); ++i) buf[i] = static_cast<uint8_t>(i * 131u + 7u);
  for (uint32_t n = 0; n <= sizeof(buf); n += 37) {
    const uint32_t a = tinyodlc::storage::crc32(buf, n), b = ref_crc(buf, n) ^ 0xFFFFFFFFu;
    FS_CHECK(a == b, "CRC-32 vs bitwise", n, a, b);
  }
  return log.failures == 0;
}

#undef FS_CHECK

}  // namespace faultsuite

#endif
