// Save/restore of a generated training build across a "reboot" (tests/runtime/test_persist_model.py),
// on the host and on a Cortex-M4 in QEMU (a reboot there is a new QEMU run). The flash is the
// simulated NOR of nor_sim.h (4 KiB erase units, 8-byte program units); its image is kept in a
// host file between runs. Modes (first command-line argument):
//   full5   IMAGE OUT   5 training steps (samples 0..4), then dump
//   first3  IMAGE OUT   load_state() on an erased flash must return 1; 3 steps (samples 0..2);
//                       save_state(); write the flash image
//   resume2 IMAGE OUT   read the flash image; load_state() must return 0; 2 steps (samples 3, 4); dump
//   foreign IMAGE OUT   read a flash image saved by a different compile: load_state() must return 1
//                       and keep the initial state (then dump)
//   cuts    IMAGE OUT   power cut at every erase/program call of a save_state() of the generated
//                       model (3 steps saved, 1 more step being saved); after each cut a
//                       "reboot" (reset_trainable()) and load_state() give exactly the old or the
//                       new learned state (exit status 0 when so for every cut)
//   params2 IMAGE OUT   control: like resume2, but only the parameters survive (reset_trainable(),
//                       then the loaded parameters written back through trainable_data()): the
//                       optimizer state is lost, so the result must differ from full5
// Dump (OUT): the parameter blob, then the learned-state payload (parameters, optimizer moments,
// step, lr, weight decay: as saved by save_state() into a fresh area), then invoke()'s first
// output on sample 0.
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

using persist_test::read_file;
using persist_test::say;
using persist_test::write_file;

constexpr uint32_t kErase = 4096, kProgram = 8;
constexpr uint32_t kArea = tinyodlc::storage::area_bytes(m::kLearnedStateBytes, kErase, kProgram);
uint8_t g_flash[kArea];
uint8_t g_scratch[kArea];
alignas(16) uint8_t g_io[256 * 1024];
alignas(16) uint8_t g_dump[m::kTrainableCount * 4 + m::kLearnedStateBytes + 64 * 1024];

// Sample k: deterministic pseudo-random inputs in [-1, 1), label k % 2.
const void* g_inputs[m::kNumInputs + 1];
int64_t g_label;
void make_sample(uint32_t k) {
  persist_test::make_inputs(m::kInputs, m::kNumInputs, 0x12345u + k * 0x9E3779B9u, 1.0f, g_io, g_inputs);
  g_label = static_cast<int64_t>(k % 2);
  g_inputs[m::kNumInputs] = &g_label;
}

void train(uint32_t first, uint32_t n) {
  for (uint32_t k = first; k < first + n; ++k) {
    make_sample(k);
    m::accumulate_generic(g_inputs);
    m::apply_update();
  }
}

// Only capture() and power_cut_loop() of the session are used (this test has its own modes).
const persist_test::Session g_session = {g_flash, g_scratch, kArea, kErase, kProgram, m::kLearnedStateBytes,
                                         m::save_state, m::load_state, nullptr, nullptr, nullptr, nullptr,
                                         nullptr, nullptr, 0};
bool capture(uint8_t* dst) { return persist_test::capture(g_session, dst); }

int dump(const char* path) {
  uint32_t n = 0;
  memcpy(g_dump, m::trainable_data(), m::kTrainableCount * 4);
  n += m::kTrainableCount * 4;
  if (!capture(g_dump + n)) return 10;  // the learned state as save_state() writes it
  n += m::kLearnedStateBytes;
  make_sample(0);
  void* outs[m::kNumOutputs + 1] = {nullptr};
  uint32_t o = static_cast<uint32_t>((m::kInputs[0].bytes + 15) / 16 * 16) * m::kNumInputs;
  for (int i = 0; i < m::kNumOutputs; ++i) {
    outs[i] = g_io + o;
    o += static_cast<uint32_t>((m::kOutputs[i].bytes + 15) / 16 * 16);
  }
  if (m::invoke_generic(g_inputs, outs) != 0) return 11;
  memcpy(g_dump + n, outs[0], m::kOutputs[0].bytes);
  n += static_cast<uint32_t>(m::kOutputs[0].bytes);
  return write_file(path, g_dump, n) ? 0 : 12;
}

uint8_t g_old[m::kLearnedStateBytes], g_new[m::kLearnedStateBytes], g_got[m::kLearnedStateBytes];
uint8_t g_before[kArea], g_after[kArea];

int power_cuts() {
  norsim::Nor nor;
  norsim::init(nor, g_flash, kArea, kErase, kProgram);
  const tinyodlc::StoragePort port = norsim::port(nor);
  // reset_trainable() brings back the compiled initial state, optimizer state included.
  if (!capture(g_old)) return 69;
  m::set_learning_rate(0.25f);
  train(0, 2);
  m::reset_trainable();
  if (!capture(g_got) || memcmp(g_old, g_got, sizeof(g_old)) != 0) return 68;
  train(0, 3);
  if (m::save_state(port) != 0 || !capture(g_old)) return 70;
  train(3, 1);
  if (!capture(g_new) || memcmp(g_old, g_new, sizeof(g_old)) == 0) return 71;
  const persist_test::CutRun r = {&nor, g_before, g_after, g_old, g_new, g_got, m::reset_trainable, nullptr};
  return persist_test::power_cut_loop(g_session, r);
}

int run(const char* mode, const char* image, const char* out) {
  norsim::Nor nor;
  norsim::init(nor, g_flash, kArea, kErase, kProgram);
  const tinyodlc::StoragePort port = norsim::port(nor);
  if (strcmp(mode, "cuts") == 0) return power_cuts();
  // full5 and first3 change the learning rate and weight decay at run time; resume2 does not:
  // they must come back from the saved state.
  if (strcmp(mode, "full5") == 0) {
    m::set_learning_rate(0.004f);
    m::set_weight_decay(0.0001f);
    train(0, 5);
    return dump(out);
  }
  if (strcmp(mode, "first3") == 0) {
    if (m::load_state(port) != 1) return 20;  // erased flash: no state, initial values kept
    m::set_learning_rate(0.004f);
    m::set_weight_decay(0.0001f);
    train(0, 3);
    if (m::save_state(port) != 0) return 21;
    if (nor.violations != 0) return 22;
    return write_file(image, g_flash, kArea) ? 0 : 23;
  }
  if (strcmp(mode, "resume2") == 0) {
    if (!read_file(image, g_flash, kArea)) return 30;
    const int rc = m::load_state(port);
    if (rc != 0) return 31;
    train(3, 2);
    return dump(out);
  }
  if (strcmp(mode, "foreign") == 0) {
    if (!read_file(image, g_flash, kArea, false)) return 50;
    memcpy(g_scratch, m::trainable_data(), m::kTrainableCount * 4);
    if (m::load_state(port) != 1) return 51;
    if (memcmp(g_scratch, m::trainable_data(), m::kTrainableCount * 4) != 0) return 52;
    return dump(out);
  }
#ifdef __arm__
  if (strcmp(mode, "measure") == 0) {  // instruction counts (QEMU plugin regions) and stack bytes
    train(0, 1);
    char line[96], num[24];
    const uintptr_t top = tinyodlc_stack_sp();
    auto report = [&](const char* what) {
      const uintptr_t used = top - tinyodlc_stack_lowest();
      strcpy(line, what);
      strcat(line, " stack bytes ");
      strcat(line, tinyodlc_fmt_u64(num, used));
      strcat(line, "\n");
      say(line);
    };
    tinyodlc_stack_repaint();
    tinyodlc_perf_begin();
    const int rs = m::save_state(port);  // region 0: save into an erased area
    tinyodlc_perf_end();
    report("save_state");
    tinyodlc_stack_repaint();
    tinyodlc_perf_begin();
    const int rs2 = m::save_state(port);  // region 1: save with one valid slot
    tinyodlc_perf_end();
    report("save_state (2nd)");
    tinyodlc_stack_repaint();
    tinyodlc_perf_begin();
    const int rl = m::load_state(port);  // region 2: load with two valid slots
    tinyodlc_perf_end();
    report("load_state");
    tinyodlc_perf_begin();
    volatile uint32_t c = tinyodlc::storage::crc32(g_flash, m::kLearnedStateBytes);  // region 3: CRC-32 alone
    tinyodlc_perf_end();
    tinyodlc_perf_begin();
    norsim::program(&nor, 0, g_flash, 0);  // region 4: (fails at once: zero length) -- marker overhead
    tinyodlc_perf_end();
    (void)c;
    return rs == 0 && rs2 == 0 && rl == 0 ? 0 : 60;
  }
#endif
  if (strcmp(mode, "params2") == 0) {
    if (!read_file(image, g_flash, kArea)) return 40;
    if (m::load_state(port) != 0) return 41;
    memcpy(g_scratch, m::trainable_data(), m::kTrainableCount * 4);
    m::reset_trainable();
    memcpy(m::trainable_data(), g_scratch, m::kTrainableCount * 4);
    train(3, 2);
    return dump(out);
  }
  return 2;
}

}  // namespace

int main(int argc, char** argv) { return persist_test::main_mode_image_out(argc, argv, run, "persist_main"); }
