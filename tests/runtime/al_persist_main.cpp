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
#include "persist_session.h"
#include TINYODLC_MODEL_HEADER

#ifdef __arm__
#include "tinyodlc_target.h"
#else
#include <stdio.h>
#endif

namespace m = TINYODLC_MODEL_NS;

namespace {

constexpr uint32_t kErase = 4096, kProgram = 8;
constexpr uint32_t kArea = tinyodlc::storage::area_bytes(m::kLearnedStateBytes, kErase, kProgram);
uint8_t g_flash[kArea];
uint8_t g_scratch[kArea];
alignas(16) uint8_t g_io[64 * 1024];
int32_t g_trace_v[1024];
persist_test::Trace g_trace = {g_trace_v, 1024, 0};
uint8_t g_state_a[m::kLearnedStateBytes];
alignas(16) uint8_t g_dump[2 * m::kLearnedStateBytes + sizeof g_trace_v + 4096];

void trace(int32_t v) { g_trace.add(v); }
int32_t bits(float f) { return persist_test::float_bits(f); }

// Stream sample k: deterministic pseudo-random inputs. A third of the samples are scaled down,
// so that the model's confidence (the scores) varies.
const void* g_inputs[m::kNumInputs];
void make_sample(uint32_t k) {
  persist_test::make_inputs(m::kInputs, m::kNumInputs, 0x2545Fu + k * 0x9E3779B9u, k % 3 == 0 ? 0.05f : 1.0f, g_io,
                            g_inputs);
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

// After the final state in OUT: invoke()'s output 0 on sample 0.
int32_t append_output(uint8_t* dst, uint32_t room) {
  make_sample(0);
  alignas(16) static uint8_t outs_buf[4096];
  void* outs[m::kNumOutputs + 1] = {nullptr};
  uint32_t o = 0;
  for (int i = 0; i < m::kNumOutputs; ++i) {
    outs[i] = outs_buf + o;
    o += static_cast<uint32_t>((m::kOutputs[i].bytes + 15) / 16 * 16);
  }
  if (o > sizeof outs_buf || m::kOutputs[0].bytes > room || m::invoke_generic(g_inputs, outs) != 0) return -1;
  memcpy(dst, outs[0], m::kOutputs[0].bytes);
  return static_cast<int32_t>(m::kOutputs[0].bytes);
}

const persist_test::Session g_session = {g_flash, g_scratch, kArea, kErase, kProgram, m::kLearnedStateBytes,
                                         m::save_state, m::load_state, phase_a, phase_b, append_output, &g_trace,
                                         g_state_a, g_dump, sizeof g_dump};
bool capture(uint8_t* dst) { return persist_test::capture(g_session, dst); }

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

View g_v_old, g_v_new;
bool api_matches(bool new_state) { return same(view(), new_state ? g_v_new : g_v_old); }

int power_cuts() {
  norsim::Nor nor;
  norsim::init(nor, g_flash, kArea, kErase, kProgram);
  const tinyodlc::StoragePort port = norsim::port(nor);
  phase_a();
  if (m::save_state(port) != 0 || !capture(g_old)) return 70;
  g_v_old = view();
  label_pending(1, 5);  // the AL block changes: one more label, more offers (params unchanged)
  offer(30, 4);
  g_v_new = view();
  if (!capture(g_new) || memcmp(g_old, g_new, sizeof(g_old)) == 0) return 71;
  const persist_test::CutRun r = {&nor, g_before, g_after, g_old, g_new, g_got, scramble, api_matches};
  return persist_test::power_cut_loop(g_session, r);
}

int run(const char* mode, const char* image, const char* out) {
  if (strcmp(mode, "cuts") == 0) return power_cuts();
  const int rc = persist_test::run_phases(g_session, mode, image, out);
  return rc < 0 ? 2 : rc;
}

}  // namespace

int main(int argc, char** argv) { return persist_test::main_mode_image_out(argc, argv, run, "al_persist_main"); }
