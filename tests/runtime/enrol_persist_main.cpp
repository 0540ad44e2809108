// save_state()/load_state() of an enrolment build (docs/enrolment.md, docs/persistence.md) across
// a "reboot" (tests/runtime/test_enrol_persist.py), on the host and on a Cortex-M4 in QEMU (a
// reboot there is a new QEMU run). The flash is the simulated NOR of nor_sim.h (4 KiB erase
// units, 8-byte program units); its image is kept in a host file between runs.
//
// The session is split in two phases:
//   A: enrol classes 0, 1, 2 from 2, 3 and 1 samples; set_threshold(0.42).
//   B: score a probe against every class, enrol class 3 and one more sample of class 0, forget
//      class 1 and enrol it again from another sample, score the probe again, verify().
// Every API result (enrol counts, score bits, verify, threshold bits, counts, a hash of each
// prototype's bytes) goes into a trace.
//
// Modes (first command-line argument):
//   full    IMAGE OUT  A, B without a reboot; OUT = state after A, trace of B, final state
//   first   IMAGE OUT  load_state() on an erased flash must return 1; A; save_state(); write the
//                      flash image; OUT = the state after A (as save_state() writes it)
//   resume  IMAGE OUT  a fresh boot: read the image; load_state() must return 0; B; OUT as full
//   noload  IMAGE OUT  control: a fresh boot without load_state(); B; must differ from full
//   cuts    IMAGE OUT  power cut at every erase/program call of a save_state() of a new state
//                      (one more enrolment and another threshold); after each cut a reboot
//                      (forget_all(), another threshold) and load_state() give exactly the old
//                      or the new state, and the API reads back its counts, prototypes and
//                      threshold (exit 0 when so)
//   flips   IMAGE OUT  two saves (old, then new in the other slot); every bit of the newest
//                      slot's header and a spread of its payload bits flipped in turn: the
//                      corrupted slot is never loaded (the old state comes back); a flipped bit
//                      in the older slot does not hide the newest; both slots corrupted: 1, and
//                      the RAM state is untouched
#include <stdint.h>
#include <string.h>

#include "nor_sim.h"
#include "persist_session.h"
#include TINYODLC_MODEL_HEADER
#include TINYODLC_ENROL_HEADER

#ifdef __arm__
#include "tinyodlc_target.h"
#endif

namespace m = TINYODLC_MODEL_NS;

namespace {

using persist_test::fmt_u;
using persist_test::say;

constexpr uint32_t kErase = 4096, kProgram = 8;
constexpr uint32_t kArea = tinyodlc::storage::area_bytes(m::kLearnedStateBytes, kErase, kProgram);
constexpr uint32_t kHeader = 24;                         // header span with 8-byte program units
constexpr uint32_t kSlot = kArea / 2 / kErase * kErase;  // slot 1 starts here
constexpr int K = m::kEnrolClasses;
constexpr int D = m::kEmbeddingSize;
static_assert(K >= 4, "the scenario uses 4 classes");
uint8_t g_flash[kArea];
uint8_t g_scratch[kArea];
alignas(16) uint8_t g_io[64 * 1024];
int32_t g_trace_v[512];
persist_test::Trace g_trace = {g_trace_v, 512, 0};
uint8_t g_state_a[m::kLearnedStateBytes];
alignas(16) uint8_t g_dump[2 * m::kLearnedStateBytes + sizeof g_trace_v + 64];

void trace(int32_t v) { g_trace.add(v); }
int32_t bits(float f) { return persist_test::float_bits(f); }

const void* g_inputs[m::kNumInputs];
void make_sample(uint32_t k) {
  persist_test::make_inputs(m::kInputs, m::kNumInputs, 0x5EED5u + k * 0x9E3779B9u, 1.0f, g_io, g_inputs);
}

void enrol(int cls, uint32_t k) {
  make_sample(k);
  trace(m::enrol_generic(cls, g_inputs));
}

// FNV-1a of a prototype's bytes (0 while the class has no sample).
int32_t proto_hash(int cls) {
  const float* p = m::prototype(cls);
  if (!p) return 0;
  uint32_t h = 2166136261u;
  const uint8_t* b = reinterpret_cast<const uint8_t*>(p);
  for (uint32_t i = 0; i < D * 4u; ++i) h = (h ^ b[i]) * 16777619u;
  return static_cast<int32_t>(h);
}

void probe(uint32_t k) {
  make_sample(k);
  for (int c = 0; c < K; ++c) trace(bits(m::score_generic(g_inputs, c)));
  for (int c = 0; c < K; ++c) {
    trace(m::enrolled_count(c));
    trace(proto_hash(c));
  }
  trace(bits(m::threshold()));
}

void phase_a() {
  enrol(0, 0);
  enrol(0, 1);
  enrol(1, 2);
  enrol(1, 3);
  enrol(1, 4);
  enrol(2, 5);
  m::set_threshold(0.42f);
}

void phase_b() {
  probe(10);
  enrol(3, 6);
  enrol(0, 7);
  m::forget(1);
  trace(m::enrolled_count(1));
  enrol(1, 8);
  probe(10);
  make_sample(11);
  float s = 0.0f;
  trace(m::verify(static_cast<const float*>(g_inputs[0]), 0, &s) ? 1 : 0);
  trace(bits(s));
}

const persist_test::Session g_session = {g_flash, g_scratch, kArea, kErase, kProgram, m::kLearnedStateBytes,
                                         m::save_state, m::load_state, phase_a, phase_b, nullptr, &g_trace,
                                         g_state_a, g_dump, sizeof g_dump};
bool capture(uint8_t* dst) { return persist_test::capture(g_session, dst); }

uint8_t g_old[m::kLearnedStateBytes], g_new[m::kLearnedStateBytes], g_got[m::kLearnedStateBytes];
uint8_t g_before[kArea], g_after[kArea];

// What the API reads back of the enrolment state.
struct View {
  int count[K];
  int32_t proto[K];
  int32_t threshold;
};
View view() {
  View v{};
  for (int c = 0; c < K; ++c) {
    v.count[c] = m::enrolled_count(c);
    v.proto[c] = proto_hash(c);
  }
  v.threshold = bits(m::threshold());
  return v;
}
bool same(const View& a, const View& b) { return memcmp(&a, &b, sizeof a) == 0; }
View g_v_old, g_v_new;
bool api_matches(bool new_state) { return same(view(), new_state ? g_v_new : g_v_old); }

// A reboot of the RAM state: no class enrolled, another threshold.
void lose_ram() {
  m::forget_all();
  m::set_threshold(-0.5f);
}

int power_cuts() {
  norsim::Nor nor;
  norsim::init(nor, g_flash, kArea, kErase, kProgram);
  const tinyodlc::StoragePort port = norsim::port(nor);
  phase_a();
  if (m::save_state(port) != 0 || !capture(g_old)) return 70;
  g_v_old = view();
  enrol(2, 20);
  m::set_threshold(0.61f);
  g_v_new = view();
  if (!capture(g_new) || memcmp(g_old, g_new, sizeof(g_old)) == 0) return 71;
  const persist_test::CutRun r = {&nor, g_before, g_after, g_old, g_new, g_got, lose_ram, api_matches};
  return persist_test::power_cut_loop(g_session, r);
}

// Flips bit `bit` of the slot at `base`, reboots, loads; returns load_state()'s result and
// leaves the flash as it was.
int load_with_flip(norsim::Nor& nor, uint32_t base, uint32_t bit) {
  g_flash[base + bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
  norsim::reboot(nor);
  lose_ram();
  const int rc = m::load_state(norsim::port(nor));
  g_flash[base + bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
  return rc;
}

int flips() {
  norsim::Nor nor;
  norsim::init(nor, g_flash, kArea, kErase, kProgram);
  const tinyodlc::StoragePort port = norsim::port(nor);
  phase_a();
  if (m::save_state(port) != 0 || !capture(g_old)) return 80;  // slot 0, sequence 1
  g_v_old = view();
  enrol(3, 21);
  m::set_threshold(0.7f);
  if (m::save_state(port) != 0 || !capture(g_new)) return 81;  // slot 1, sequence 2: the newest
  g_v_new = view();
  if (memcmp(g_old, g_new, sizeof g_old) == 0) return 82;
  const uint32_t newest = kSlot, older = 0;
  const uint32_t payload_bits = (kHeader + m::kLearnedStateBytes) * 8;
  uint32_t tried = 0;
  // Every header bit (magic, version, layout hash, sequence, length, CRC), then every 7th bit
  // of the payload (a spread over every block; 7 is prime to 8, so every bit position of a byte).
  for (uint32_t bit = 0; bit < payload_bits; bit += bit < 24 * 8 ? 1 : 7) {
    ++tried;
    if (load_with_flip(nor, newest, bit) != 0) return 83;
    if (!capture(g_got) || memcmp(g_got, g_old, sizeof g_got) != 0 || !api_matches(false)) return 84;
  }
  // A flipped bit in the older slot: the newest is still loaded.
  for (uint32_t bit = 0; bit < payload_bits; bit += 977) {
    ++tried;
    if (load_with_flip(nor, older, bit) != 0) return 85;
    if (!capture(g_got) || memcmp(g_got, g_new, sizeof g_got) != 0 || !api_matches(true)) return 86;
  }
  // Both slots corrupted: no valid state (1), the RAM state is kept as it was.
  g_flash[older + kHeader + 5] ^= 0x10;
  g_flash[newest + kHeader + 9] ^= 0x02;
  norsim::reboot(nor);
  lose_ram();
  const View before = view();
  if (m::load_state(port) != 1 || !same(view(), before)) return 87;
  char line[96], num[24];
  strcpy(line, "bit flips: ");
  strcat(line, fmt_u(num, tried));
  strcat(line, " corrupted slots, none loaded\n");
  say(line);
  return nor.violations == 0 ? 0 : 88;
}

int run(const char* mode, const char* image, const char* out) {
  if (strcmp(mode, "cuts") == 0) return power_cuts();
  if (strcmp(mode, "flips") == 0) return flips();
  const int rc = persist_test::run_phases(g_session, mode, image, out);
  return rc < 0 ? 2 : rc;
}

}  // namespace

int main(int argc, char** argv) { return persist_test::main_mode_image_out(argc, argv, run, "enrol_persist_main"); }
