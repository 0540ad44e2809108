// save_state()/load_state() of an active-learning build across a "reboot"
// (tests/runtime/test_al_persist.py), on the host and on a Cortex-M4 in QEMU (a reboot there is a
// new QEMU run). The flash is the simulated NOR of nor_sim.h (4 KiB erase units, 8-byte program
// units); its image is kept in a host file between runs.
//
// The session is split in two phases:
//   A: al_set_seed(); offer stream samples 0..9; label the two most informative pending slots.
//   B: label the pending slots while the budget lasts (the budget runs out: -1 is recorded),
//      re-label a labelled slot (free); al_train(2); offer samples 10..15; label one; al_reset()
//      (the saved seed re-seeds the rng); offer 16..21.
// Every API result (slots, score bits, pending lists, label return codes, budget left, held
// count, loss bits) goes into a trace.
//
// Modes (first command-line argument):
//   full    IMAGE OUT  A, B without a reboot; OUT = state after A, trace of B, final state, output
//   first   IMAGE OUT  load_state() on an erased flash must return 1; A; save_state(); write the
//                      flash image; OUT = the state after A (as save_state() writes it)
//   resume  IMAGE OUT  a fresh boot: read the image; load_state() must return 0; B; OUT as full
//                      (the state after A is the loaded one)
//   noload  IMAGE OUT  control: a fresh boot without load_state(); B; must differ from full
//   cuts    IMAGE OUT  power cut at every erase/program call of a save_state() whose state differs
//                      from the saved one in the AL block only (more offers, a label if one is
//                      pending); after
//                      each cut a "reboot" (RAM state reset: reset_trainable, al_reset, al_set_seed)
//                      and load_state() give exactly the old or the new state, and the API reads
//                      back the matching budget, held count and pending list (exit 0 when so)
// "State" = the learned-state payload as save_state() writes it into a fresh area: the trainable
// parameters, optimizer state and the al.buffer block (samples, labels, scores, status, budget,
// reference values, rng, seed).
#include <stdint.h>
#include <string.h>

#include "nor_sim.h"
#include "persist_test_io.h"
#include TINYODLC_MODEL_HEADER

#ifdef __arm__
#include "tinyodlc_target.h"
#else
#include <stdio.h>
#endif

namespace m = TINYODLC_MODEL_NS;

namespace {

using persist_test::fmt_u;
using persist_test::read_file;
using persist_test::say;
using persist_test::write_file;

constexpr uint32_t kErase = 4096, kProgram = 8;
constexpr uint32_t kArea = tinyodlc::storage::area_bytes(m::kLearnedStateBytes, kErase, kProgram);
constexpr uint32_t kHeader = 24;  // header span with 8-byte program units
uint8_t g_flash[kArea];
uint8_t g_scratch[kArea];
alignas(16) uint8_t g_io[64 * 1024];
constexpr uint32_t kTraceMax = 1024;
int32_t g_trace[kTraceMax];
uint32_t g_nt = 0;
alignas(16) uint8_t g_dump[2 * m::kLearnedStateBytes + kTraceMax * 4 + 4096];

void trace(int32_t v) {
  if (g_nt < kTraceMax) g_trace[g_nt++] = v;
}
int32_t bits(float f) {
  int32_t b;
  memcpy(&b, &f, 4);
  return b;
}

// Stream sample k: deterministic pseudo-random inputs (float from integers, no double). A third
// of the samples are scaled down, so that the model's confidence (the scores) varies.
const void* g_inputs[m::kNumInputs];
void make_sample(uint32_t k) {
  uint32_t off = 0, x = 0x2545Fu + k * 0x9E3779B9u;
  const float scale = k % 3 == 0 ? 0.05f : 1.0f;
  for (int i = 0; i < m::kNumInputs; ++i) {
    const size_t bytes = m::kInputs[i].bytes;
    float* p = reinterpret_cast<float*>(g_io + off);
    for (size_t j = 0; j < bytes / 4; ++j) {
      x ^= x << 13;
      x ^= x >> 17;
      x ^= x << 5;
      p[j] = scale * static_cast<float>(static_cast<int32_t>(x >> 8) - (1 << 23)) * (1.0f / 8388608.0f);
    }
    g_inputs[i] = p;
    off += static_cast<uint32_t>((bytes + 15) / 16 * 16);
  }
}

void offer(uint32_t first, uint32_t n) {
  for (uint32_t k = first; k < first + n; ++k) {
    make_sample(k);
    float s = -1.0f;
    trace(m::al_offer_generic(g_inputs, &s));
    trace(bits(s));
  }
}

// The label the "user" gives a slot: a function of the slot and of a round number.
int64_t label_for(int slot, int round) { return static_cast<int64_t>((slot * 7 + round) % m::kAlClasses); }

// Records the pending list, then labels up to n of them (most informative first).
void label_pending(int n, int round) {
  int slots[m::kAlBuffer];
  const int np = m::al_pending(slots, m::kAlBuffer);
  trace(np);
  for (int i = 0; i < np; ++i) trace(slots[i]);
  for (int i = 0; i < np && i < n; ++i) trace(m::al_label(slots[i], label_for(slots[i], round)));
  trace(m::al_budget_left());
  trace(m::al_held());
}

void phase_a() {
  m::al_set_seed(0xC0FFEEu);
  offer(0, 10);
  label_pending(2, 0);
}

void phase_b() {
  label_pending(m::kAlBuffer, 1);  // spends the rest of the budget; -1 once it is spent
  int slots[m::kAlBuffer];
  int lab = -1;
  for (int j = 0; j < m::kAlBuffer && lab < 0; ++j) {
    const int np = m::al_pending(slots, m::kAlBuffer);
    bool pending = false;
    for (int i = 0; i < np; ++i) pending |= slots[i] == j;
    if (!pending && m::al_label(j, 2) == 0) lab = j;  // re-labelling a labelled slot: free
  }
  trace(lab);
  trace(m::al_budget_left());
  trace(bits(m::al_train(2)));
  trace(m::al_held());
  offer(10, 6);
  label_pending(1, 2);  // the budget is spent: -1
  m::al_reset();
  trace(m::al_budget_left());
  offer(16, 6);
  label_pending(1, 3);
}

// The learned state as save_state() writes it, into dst (kLearnedStateBytes).
bool capture(uint8_t* dst) {
  norsim::Nor nor;
  norsim::init(nor, g_scratch, kArea, kErase, kProgram);
  if (m::save_state(norsim::port(nor)) != 0) return false;
  memcpy(dst, g_scratch + kHeader, m::kLearnedStateBytes);
  return true;
}

// OUT: [state after A][trace count][trace][final state][invoke() output 0 on sample 0].
int finish(const char* out, const uint8_t* state_a) {
  uint32_t n = 0;
  memcpy(g_dump, state_a, m::kLearnedStateBytes);
  n += m::kLearnedStateBytes;
  memcpy(g_dump + n, &g_nt, 4);
  memcpy(g_dump + n + 4, g_trace, g_nt * 4);
  n += 4 + g_nt * 4;
  if (!capture(g_dump + n)) return 10;
  n += m::kLearnedStateBytes;
  make_sample(0);
  alignas(16) static uint8_t outs_buf[4096];
  void* outs[m::kNumOutputs + 1] = {nullptr};
  uint32_t o = 0;
  for (int i = 0; i < m::kNumOutputs; ++i) {
    outs[i] = outs_buf + o;
    o += static_cast<uint32_t>((m::kOutputs[i].bytes + 15) / 16 * 16);
  }
  if (o > sizeof outs_buf || m::invoke_generic(g_inputs, outs) != 0) return 11;
  memcpy(g_dump + n, outs[0], m::kOutputs[0].bytes);
  n += static_cast<uint32_t>(m::kOutputs[0].bytes);
  return write_file(out, g_dump, n) ? 0 : 12;
}

uint8_t g_old[m::kLearnedStateBytes], g_new[m::kLearnedStateBytes], g_got[m::kLearnedStateBytes];
uint8_t g_before[kArea], g_after[kArea];

// What the API reads back of the AL state: budget, held count, pending list.
struct View {
  int budget, held, np;
  int slots[m::kAlBuffer];
};
View view() {
  View v{};
  v.budget = m::al_budget_left();
  v.held = m::al_held();
  v.np = m::al_pending(v.slots, m::kAlBuffer);
  return v;
}
bool same(const View& a, const View& b) {
  if (a.budget != b.budget || a.held != b.held || a.np != b.np) return false;
  for (int i = 0; i < a.np; ++i)
    if (a.slots[i] != b.slots[i]) return false;
  return true;
}

// A "reboot" of the RAM state: the model's and the buffer's state differ from anything saved
// (initial parameters and optimizer state, an empty buffer with the full budget, another seed).
// No offers here: a forward pass per cut would dominate the QEMU run time.
void scramble() {
  m::reset_trainable();
  m::al_reset();
  m::al_set_seed(12345u);
}

int power_cuts() {
  norsim::Nor nor;
  norsim::init(nor, g_flash, kArea, kErase, kProgram);
  const tinyodlc::StoragePort port = norsim::port(nor);
  phase_a();
  if (m::save_state(port) != 0 || !capture(g_old)) return 70;
  const View v_old = view();
  memcpy(g_before, g_flash, kArea);
  label_pending(1, 5);  // the AL block changes: one more label, more offers (params unchanged)
  offer(30, 4);
  const View v_new = view();
  if (!capture(g_new) || memcmp(g_old, g_new, sizeof(g_old)) == 0) return 71;
  norsim::reboot(nor);
  if (m::save_state(port) != 0) return 72;  // a clean save: its call count, and the "new" image
  const uint32_t calls = nor.calls;
  memcpy(g_after, g_flash, kArea);
  uint32_t olds = 0, news = 0;
  for (uint32_t k = 1; k <= calls; ++k) {
    memcpy(g_flash, g_after, kArea);  // RAM state = new (restored from the clean save's image)
    norsim::reboot(nor);
    scramble();
    if (m::load_state(port) != 0) return 73;
    memcpy(g_flash, g_before, kArea);
    norsim::reboot(nor);
    nor.cut_at = k;
    nor.rng = 0x51ED270Bu * k;
    if (m::save_state(port) >= 0) return 74;  // the cut save fails
    norsim::reboot(nor);
    scramble();  // reboot: RAM state lost
    if (m::load_state(port) != 0) return 75;
    if (!capture(g_got)) return 76;
    const View v = view();
    if (memcmp(g_got, g_old, sizeof(g_got)) == 0 && same(v, v_old)) ++olds;
    else if (memcmp(g_got, g_new, sizeof(g_got)) == 0 && same(v, v_new)) ++news;
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
  // A cut during the header's program call may still leave a complete header (the tear model
  // of nor_sim.h), so "new" is possible but not required; every cut must give one of the two.
  return nor.violations == 0 && olds + news == calls && olds > 0 && calls > 10 ? 0 : 78;
}

uint8_t g_state_a[m::kLearnedStateBytes];

int run(const char* mode, const char* image, const char* out) {
  norsim::Nor nor;
  norsim::init(nor, g_flash, kArea, kErase, kProgram);
  const tinyodlc::StoragePort port = norsim::port(nor);
  if (strcmp(mode, "cuts") == 0) return power_cuts();
  if (strcmp(mode, "full") == 0) {
    phase_a();
    if (!capture(g_state_a)) return 20;
    g_nt = 0;
    phase_b();
    return finish(out, g_state_a);
  }
  if (strcmp(mode, "first") == 0) {
    if (m::load_state(port) != 1) return 30;  // erased flash: no state
    phase_a();
    if (m::save_state(port) != 0 || nor.violations != 0) return 31;
    if (!capture(g_state_a)) return 32;
    if (!write_file(image, g_flash, kArea)) return 33;
    return write_file(out, g_state_a, m::kLearnedStateBytes) ? 0 : 34;
  }
  if (strcmp(mode, "resume") == 0 || strcmp(mode, "noload") == 0) {
    if (!read_file(image, g_flash, kArea)) return 40;
    if (strcmp(mode, "resume") == 0 && m::load_state(port) != 0) return 41;
    if (!capture(g_state_a)) return 42;
    phase_b();
    return finish(out, g_state_a);
  }
  return 2;
}

}  // namespace

int main(int argc, char** argv) { return persist_test::main_mode_image_out(argc, argv, run, "al_persist_main"); }
