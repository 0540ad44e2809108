// What the generated-model persistence tests share (persist_main.cpp: training builds,
// al_persist_main.cpp: active learning, enrol_persist_main.cpp: enrolment), on the host and on the
// Cortex-M4 in QEMU; no heap, no floating point:
//   * capture(): the learned state as save_state() writes it (into an erased scratch area);
//   * run_phases(): the reboot scenario "A, save, reboot, load, B == A then B without a reboot"
//     as the modes full / first / resume / noload of a test program;
//   * power_cut_loop(): a save_state() of a "new" state over a flash holding an "old" one cut at
//     its k-th erase/program call, for every k; after each cut the RAM state is lost and
//     load_state() must restore exactly the old or the new state, bit for bit, with the model's
//     API reading back the matching values.
#ifndef TINYODLC_TESTS_PERSIST_SESSION_H
#define TINYODLC_TESTS_PERSIST_SESSION_H

#include <stdint.h>
#include <string.h>

#include "nor_sim.h"
#include "persist_test_io.h"
#include "tinyodlc/runtime/storage.h"

namespace persist_test {

// API results recorded during phase B (bounded; what does not fit is dropped).
struct Trace {
  int32_t* v;
  uint32_t max;
  uint32_t n;
  void add(int32_t x) {
    if (n < max) v[n++] = x;
  }
};

inline int32_t float_bits(float f) {
  int32_t b;
  memcpy(&b, &f, 4);
  return b;
}

// One model build: its flash (a simulated NOR of `area` bytes), its save/load functions and, for
// run_phases(), the two phases of the scenario.
struct Session {
  uint8_t* flash;
  uint8_t* scratch;  // area bytes, for capture()
  uint32_t area, erase_size, program_size;
  uint32_t state_bytes;  // kLearnedStateBytes
  int (*save)(const tinyodlc::StoragePort&);
  int (*load)(const tinyodlc::StoragePort&);
  void (*phase_a)();
  void (*phase_b)();
  // Appends bytes after the final state in OUT (e.g. an invoke() output); returns how many,
  // < 0 on failure. May be nullptr.
  int32_t (*append)(uint8_t* dst, uint32_t room);
  Trace* trace;
  uint8_t* state_a;  // state_bytes
  uint8_t* dump;     // OUT is built here
  uint32_t dump_bytes;
};

inline uint32_t header_span(const Session& s) { return (24 + s.program_size - 1) / s.program_size * s.program_size; }

// The learned state as save_state() writes it into a fresh area (slot 0's payload), into dst.
inline bool capture(const Session& s, uint8_t* dst) {
  norsim::Nor nor;
  norsim::init(nor, s.scratch, s.area, s.erase_size, s.program_size);
  if (s.save(norsim::port(nor)) != 0) return false;
  memcpy(dst, s.scratch + header_span(s), s.state_bytes);
  return true;
}

// OUT: [state after A][trace count][trace][final state][append()'s bytes].
inline int finish(const Session& s, const char* out) {
  uint32_t n = 0;
  const uint32_t tn = s.trace->n;
  if (2 * s.state_bytes + 4 + tn * 4 > s.dump_bytes) return 13;
  memcpy(s.dump, s.state_a, s.state_bytes);
  n += s.state_bytes;
  memcpy(s.dump + n, &tn, 4);
  memcpy(s.dump + n + 4, s.trace->v, tn * 4);
  n += 4 + tn * 4;
  if (!capture(s, s.dump + n)) return 10;
  n += s.state_bytes;
  if (s.append) {
    const int32_t k = s.append(s.dump + n, s.dump_bytes - n);
    if (k < 0) return 11;
    n += static_cast<uint32_t>(k);
  }
  return write_file(out, s.dump, n) ? 0 : 12;
}

// The reboot scenario's modes (IMAGE: the flash image file kept between runs; OUT: see finish()):
//   full    A, B without a reboot
//   first   load_state() on an erased flash must return 1; A; save_state(); write IMAGE;
//           OUT = the state after A (as save_state() writes it)
//   resume  a fresh boot: read IMAGE; load_state() must return 0; B
//   noload  control: a fresh boot without load_state(); B (must differ from full)
// Returns -1 for another mode.
inline int run_phases(const Session& s, const char* mode, const char* image, const char* out) {
  norsim::Nor nor;
  norsim::init(nor, s.flash, s.area, s.erase_size, s.program_size);
  const tinyodlc::StoragePort port = norsim::port(nor);
  if (strcmp(mode, "full") == 0) {
    s.phase_a();
    if (!capture(s, s.state_a)) return 20;
    s.trace->n = 0;
    s.phase_b();
    return finish(s, out);
  }
  if (strcmp(mode, "first") == 0) {
    if (s.load(port) != 1) return 30;  // erased flash: no state
    s.phase_a();
    if (s.save(port) != 0 || nor.violations != 0) return 31;
    if (!capture(s, s.state_a)) return 32;
    if (!write_file(image, s.flash, s.area)) return 33;
    return write_file(out, s.state_a, s.state_bytes) ? 0 : 34;
  }
  if (strcmp(mode, "resume") == 0 || strcmp(mode, "noload") == 0) {
    if (!read_file(image, s.flash, s.area)) return 40;
    if (strcmp(mode, "resume") == 0 && s.load(port) != 0) return 41;
    if (!capture(s, s.state_a)) return 42;
    s.phase_b();
    return finish(s, out);
  }
  return -1;
}

// The power-cut loop. Preconditions: `nor` (over s.flash) holds the image of a clean save of
// old_state; the model's RAM state is new_state.
struct CutRun {
  norsim::Nor* nor;
  uint8_t* before;  // scratch (area bytes each): the old image
  uint8_t* after;   // the image of a clean save of the new state
  const uint8_t* old_state;  // state_bytes each, as capture() writes them
  const uint8_t* new_state;
  uint8_t* got;
  void (*lose_ram)();                   // a reboot: the RAM state differs from both
  bool (*api_matches)(bool new_state);  // the API's view of the loaded state (nullptr: none)
};

// 0 when every cut leaves the old or the new state (and at least one the old: a cut before the
// new header is written must); 72..78 name the step that failed.
inline int power_cut_loop(const Session& s, const CutRun& r) {
  norsim::Nor& nor = *r.nor;
  const tinyodlc::StoragePort port = norsim::port(nor);
  memcpy(r.before, s.flash, s.area);
  norsim::reboot(nor);
  if (s.save(port) != 0) return 72;  // a clean save: its call count, and the "new" image
  const uint32_t calls = nor.calls;
  memcpy(r.after, s.flash, s.area);
  uint32_t olds = 0, news = 0;
  for (uint32_t k = 1; k <= calls; ++k) {
    memcpy(s.flash, r.after, s.area);  // RAM state = new (restored from the clean save's image)
    norsim::reboot(nor);
    r.lose_ram();
    if (s.load(port) != 0) return 73;
    memcpy(s.flash, r.before, s.area);
    norsim::reboot(nor);
    nor.cut_at = k;
    nor.rng = 0x51ED270Bu * k;
    if (s.save(port) >= 0) return 74;  // the cut save fails
    norsim::reboot(nor);
    r.lose_ram();  // reboot: RAM state lost
    if (s.load(port) != 0) return 75;
    if (!capture(s, r.got)) return 76;
    if (memcmp(r.got, r.old_state, s.state_bytes) == 0 && (!r.api_matches || r.api_matches(false))) ++olds;
    else if (memcmp(r.got, r.new_state, s.state_bytes) == 0 && (!r.api_matches || r.api_matches(true))) ++news;
    else return 77;
  }
  char line[96], num[24];
  strcpy(line, "power cuts: ");
  strcat(line, fmt_u(num, calls));
  strcat(line, " (old state ");
  strcat(line, fmt_u(num, olds));
  strcat(line, ", new state ");
  strcat(line, fmt_u(num, news));
  strcat(line, ")\n");
  say(line);
  // A cut during the header's program call may still leave a complete header (the tear model of
  // nor_sim.h), so "new" is possible but not required; every cut must give one of the two.
  return nor.violations == 0 && olds + news == calls && olds > 0 && calls > 10 ? 0 : 78;
}

// Sample k of a test stream: deterministic pseudo-random floats in [-scale, scale) for every
// input (float from integers, no double), each input at a 16-byte aligned offset of io.
template <typename TensorInfoT>
inline void make_inputs(const TensorInfoT* infos, int n, uint32_t seed, float scale, uint8_t* io,
                        const void** inputs) {
  uint32_t off = 0, x = seed;
  for (int i = 0; i < n; ++i) {
    const size_t bytes = infos[i].bytes;
    float* p = reinterpret_cast<float*>(io + off);
    for (size_t j = 0; j < bytes / 4; ++j) {
      x ^= x << 13;
      x ^= x >> 17;
      x ^= x << 5;
      p[j] = scale * static_cast<float>(static_cast<int32_t>(x >> 8) - (1 << 23)) * (1.0f / 8388608.0f);
    }
    inputs[i] = p;
    off += static_cast<uint32_t>((bytes + 15) / 16 * 16);
  }
}

}  // namespace persist_test

#endif  // TINYODLC_TESTS_PERSIST_SESSION_H
