// tinyodlc harness of an active-learning build (docs/active-learning.md): the same source runs
// on a Cortex-M core under qemu-system-arm (semihosting) and on the host (harness/target/
// host_shim.cpp maps the semihosting calls to stdio), so both select the same samples.
//
// Command line "tinyodlc DIR EPOCHS WINDOW SEED"; DIR holds
//   input_K.bin, label.bin            the stream: S samples of every model input, their labels
//   eval_input_K.bin, eval_label.bin  held-out samples for the accuracy (optional)
// The harness
//   1. writes output_K.bin: invoke() on stream sample 0 (the initial model);
//   2. measures the held-out accuracy of the initial model;
//   3. streams the S samples (SEED 0: in order; else a permutation seeded by SEED, which also
//      seeds the random strategy) through al_offer(); after every WINDOW samples and at the end
//      of the stream (a round) it answers al_pending()'s slots, most informative first, from
//      label.bin while al_budget_left() > 0, runs al_train(EPOCHS) when a slot was labelled
//      and measures the held-out accuracy;
//   4. writes al_log.txt ("round R offered N asked A labels L correct C eval E loss_bits X" per
//      round, round 0 = before; "select R STREAM_INDEX SLOT" per label asked), params.bin and
//      target_stats.txt. The perf markers enclose one al_offer() (stream position WINDOW-1).
// Exit status: 2 I/O or argument error.
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "harness_io.h"
#include "tinyodlc_target.h"
#include "tinyodlc_target_model.h"

namespace {

namespace m = tinyodlc_model;

constexpr long kMaxStream = 8192;
alignas(16) uint8_t g_io[TINYODLC_IO_BYTES > 0 ? TINYODLC_IO_BYTES : 16];
int32_t g_order[kMaxStream];
int32_t g_slot_src[m::kAlBuffer];
using tinyodlc_harness::align16;
using tinyodlc_harness::g_dir;
using tinyodlc_harness::g_path;
using tinyodlc_harness::path_of;
using tinyodlc_harness::put_stat;

int fail(const char* what, const char* detail) { return tinyodlc_harness::fail("tinyodlc al harness", what, detail); }

struct Split {
  int inputs[m::kNumInputs + 1];
  int label = -1;
  long samples = 0;
};

long open_split(Split& sp, const char* prefix) {
  char stem[32];
  strcpy(stem, prefix);
  strcat(stem, "input_");
  long samples = -1;
  for (int i = 0; i < m::kNumInputs; ++i) {
    sp.inputs[i] = tinyodlc_sh_open(path_of(stem, i), "rb");
    if (sp.inputs[i] < 0) return i == 0 && prefix[0] ? 0 : -1;
    long len = tinyodlc_sh_flen(sp.inputs[i]);
    const long bytes = static_cast<long>(m::kInputs[i].bytes);
    if (len <= 0 || bytes == 0 || len % bytes != 0 || (samples >= 0 && len / bytes != samples)) return -1;
    samples = len / bytes;
  }
  strcpy(stem, prefix);
  strcat(stem, "label");
  sp.label = tinyodlc_sh_open(path_of(stem, -1), "rb");
  if (sp.label < 0 || tinyodlc_sh_flen(sp.label) != samples * static_cast<long>(sizeof(int64_t))) return -1;
  sp.samples = samples;
  return samples;
}

bool load_sample(const Split& sp, long s, const void** inputs) {
  size_t off = 0;
  for (int i = 0; i < m::kNumInputs; ++i) {
    const size_t bytes = m::kInputs[i].bytes;
    uint8_t* buf = g_io + off;
    off += align16(bytes);
    inputs[i] = buf;
    if (tinyodlc_sh_seek(sp.inputs[i], s * static_cast<long>(bytes)) != 0) return false;
    if (tinyodlc_sh_read(sp.inputs[i], buf, bytes) != bytes) return false;
  }
  return true;
}

bool load_label(const Split& sp, long s, int64_t& y) {
  if (tinyodlc_sh_seek(sp.label, s * static_cast<long>(sizeof y)) != 0) return false;
  return tinyodlc_sh_read(sp.label, &y, sizeof y) == sizeof y;
}

// Index of the largest element of the scored output (the logits).
long argmax(const void* out, size_t n) {
  const float* p = static_cast<const float*>(out);
  long best = 0;
  for (size_t i = 1; i < n; ++i)
    if (p[i] > p[best]) best = static_cast<long>(i);
  return best;
}

int g_scored = 0;  // output index of the logits (kAlClasses floats)

long correct(const Split& sp, const void** inputs, void* const* outputs, bool& ok) {
  long hits = 0;
  for (long s = 0; s < sp.samples; ++s) {
    int64_t y = 0;
    if (!load_sample(sp, s, inputs) || !load_label(sp, s, y)) {
      ok = false;
      return 0;
    }
    m::invoke_generic(inputs, outputs);
    hits += argmax(outputs[g_scored], static_cast<size_t>(m::kAlClasses)) == y;
  }
  return hits;
}

bool write_file(const char* path, const void* data, size_t n) {
  int h = tinyodlc_sh_open(path, "wb");
  if (h < 0) return false;
  size_t put = n ? tinyodlc_sh_write(h, data, n) : 0;
  tinyodlc_sh_close(h);
  return put == n;
}

void put_words(int h, const char* const* keys, const uint64_t* vals, int n) {
  char num[24];
  for (int i = 0; i < n; ++i) {
    tinyodlc_sh_write(h, keys[i], strlen(keys[i]));
    if (vals) {
      tinyodlc_sh_write(h, " ", 1);
      tinyodlc_fmt_u64(num, vals[i]);
      tinyodlc_sh_write(h, num, strlen(num));
    }
    tinyodlc_sh_write(h, i + 1 < n ? " " : "\n", 1);
  }
}

long parse_long(const char*& c) {
  while (*c == ' ') ++c;
  long v = 0;
  for (; *c >= '0' && *c <= '9'; ++c) v = v * 10 + (*c - '0');
  return v;
}

}  // namespace

int main(int, char**) {
  char cmd[sizeof g_dir + 64];
  if (tinyodlc_sh_cmdline(cmd, sizeof cmd) != 0) return fail("cannot read the semihosting command line", "");
  // "tinyodlc DIR EPOCHS WINDOW SEED": DIR may hold spaces, the three numbers are the last words.
  char* words[3];
  char* end = cmd + strlen(cmd);
  for (int k = 2; k >= 0; --k) {
    char* sp = end;
    while (sp > cmd && *sp != ' ') --sp;
    if (sp == cmd) return fail("expected the command line 'tinyodlc DIR EPOCHS WINDOW SEED', got: ", cmd);
    *sp = 0;
    words[k] = sp + 1;
    end = sp;
  }
  char* sp1 = strchr(cmd, ' ');
  if (!sp1 || strlen(sp1 + 1) >= sizeof g_dir) return fail("bad run folder in: ", cmd);
  strcpy(g_dir, sp1 + 1);
  const char* c0 = words[0];
  const char* c1 = words[1];
  const char* c2 = words[2];
  const long epochs = parse_long(c0);
  const long window = parse_long(c1);
  const uint32_t seed = static_cast<uint32_t>(parse_long(c2));
  if (window < 1) return fail("WINDOW must be at least 1", "");

  Split train, held;
  if (open_split(train, "") <= 0) return fail("cannot read the stream (input_K.bin, label.bin) in ", g_dir);
  if (open_split(held, "eval_") < 0) return fail("bad held-out samples (eval_input_K.bin, eval_label.bin) in ", g_dir);
  if (train.samples > kMaxStream) return fail("the stream is longer than the harness's 8192 samples", "");
  for (int i = 0; i < m::kNumOutputs; ++i)
    if (m::kOutputs[i].bytes == sizeof(float) * static_cast<size_t>(m::kAlClasses)) {
      g_scored = i;
      break;
    }

  const void* inputs[m::kNumInputs + 1] = {nullptr};
  void* outputs[m::kNumOutputs + 1] = {nullptr};
  size_t off = 0;
  for (int i = 0; i < m::kNumInputs; ++i) off += align16(m::kInputs[i].bytes);
  for (int i = 0; i < m::kNumOutputs; ++i) {
    outputs[i] = g_io + off;
    off += align16(m::kOutputs[i].bytes);
  }
  // 1. forward pass of the initial model on sample 0
  if (!load_sample(train, 0, inputs)) return fail("cannot read sample 0", "");
  if (m::invoke_generic(inputs, outputs) != 0) return fail("invoke() failed", "");
  for (int i = 0; i < m::kNumOutputs; ++i)
    if (!write_file(path_of("output_", i), outputs[i], m::kOutputs[i].bytes)) return fail("cannot write ", g_path);
  // the stream order: identity, or Fisher-Yates with xorshift32(seed)
  const long S = train.samples;
  for (long i = 0; i < S; ++i) g_order[i] = static_cast<int32_t>(i);
  if (seed) {
    uint32_t r = seed;
    for (long i = S - 1; i > 0; --i) {
      r ^= r << 13;
      r ^= r >> 17;
      r ^= r << 5;
      const long j = static_cast<long>(r % static_cast<uint32_t>(i + 1));
      const int32_t t = g_order[i];
      g_order[i] = g_order[j];
      g_order[j] = t;
    }
  }
  m::al_set_seed(seed ? seed : 1u);
  m::al_reset();
  for (int j = 0; j < m::kAlBuffer; ++j) g_slot_src[j] = -1;

  int log = tinyodlc_sh_open(path_of("al_log", -1, ".txt"), "wb");
  if (log < 0) return fail("cannot write ", g_path);
  // 2. accuracy before
  bool ok = true;
  const long before = held.samples ? correct(held, inputs, outputs, ok) : 0;
  if (!ok) return fail("cannot read the held-out samples", "");
  {
    const char* k[] = {"round", "offered", "asked", "labels", "correct", "eval", "loss_bits"};
    const uint64_t v[] = {0, 0, 0, 0, static_cast<uint64_t>(before), static_cast<uint64_t>(held.samples), 0};
    put_words(log, k, v, 7);
  }
  // 3. the stream
  tinyodlc_perf_begin();
  tinyodlc_perf_end();
  tinyodlc_stack_repaint();
  uintptr_t sp_at_call = tinyodlc_stack_sp();
  const long measured = (window < S ? window : S) - 1;
  long round = 0, labels = 0, last = before, kept = 0;
  for (long i = 0; i < S; ++i) {
    const long src = g_order[i];
    if (!load_sample(train, src, inputs)) return fail("cannot read a stream sample", "");
    float score = 0.0f;
    if (i == measured) tinyodlc_perf_begin();
    const int slot = m::al_offer_generic(inputs, &score);
    if (i == measured) tinyodlc_perf_end();
    if (slot >= 0) {
      g_slot_src[slot] = static_cast<int32_t>(src);
      ++kept;
    }
    if ((i + 1) % window != 0 && i + 1 != S) continue;
    // a round: ask for labels, most informative first, within the budget
    ++round;
    int slots[m::kAlBuffer];
    const int n = m::al_pending(slots, m::kAlBuffer);
    long asked = 0;
    for (int k = 0; k < n && m::al_budget_left() > 0; ++k) {
      int64_t y = 0;
      if (!load_label(train, g_slot_src[slots[k]], y)) return fail("cannot read a label", "");
      if (m::al_label(slots[k], y) != 0) return fail("al_label() refused a pending slot within the budget", "");
      ++asked;
      const uint64_t v[] = {static_cast<uint64_t>(round), static_cast<uint64_t>(g_slot_src[slots[k]]),
                            static_cast<uint64_t>(slots[k])};
      const char* kk[] = {"select", "stream", "slot"};
      put_words(log, kk, v, 3);
    }
    labels += asked;
    float loss = 0.0f;
    if (asked > 0) {
      loss = m::al_train(static_cast<int>(epochs));
      last = held.samples ? correct(held, inputs, outputs, ok) : 0;
      if (!ok) return fail("cannot read the held-out samples", "");
    }
    uint32_t bits;
    memcpy(&bits, &loss, sizeof bits);
    const char* k[] = {"round", "offered", "asked", "labels", "correct", "eval", "loss_bits"};
    const uint64_t v[] = {static_cast<uint64_t>(round), static_cast<uint64_t>(i + 1), static_cast<uint64_t>(asked),
                          static_cast<uint64_t>(labels), static_cast<uint64_t>(last),
                          static_cast<uint64_t>(held.samples), bits};
    put_words(log, k, v, 7);
  }
  tinyodlc_sh_close(log);
  uintptr_t lowest = tinyodlc_stack_lowest();
  if (!write_file(path_of("params", -1), m::trainable_data(), sizeof(float) * m::kTrainableCount))
    return fail("cannot write ", g_path);
  int h = tinyodlc_sh_open(path_of("target_stats", -1, ".txt"), "wb");
  if (h < 0) return fail("cannot write ", g_path);
  put_stat(h, "rc", 0);
  put_stat(h, "stack_peak_bytes", tinyodlc_stack_top() - lowest);
  put_stat(h, "model_stack_bytes", sp_at_call > lowest ? sp_at_call - lowest : 0);
  put_stat(h, "stack_reserved_bytes", tinyodlc_stack_top() - tinyodlc_stack_limit());
  put_stat(h, "eval_samples", static_cast<uint64_t>(held.samples));
  put_stat(h, "correct_before", static_cast<uint64_t>(before));
  put_stat(h, "correct_after", static_cast<uint64_t>(last));
  put_stat(h, "train_samples", static_cast<uint64_t>(S));
  put_stat(h, "al_labels_asked", static_cast<uint64_t>(labels));
  put_stat(h, "al_rounds", static_cast<uint64_t>(round));
  put_stat(h, "al_kept", static_cast<uint64_t>(kept));
  put_stat(h, "al_budget_left", static_cast<uint64_t>(m::al_budget_left()));
  tinyodlc_sh_close(h);
  return 0;
}
