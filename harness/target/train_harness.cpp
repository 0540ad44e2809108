// tinyodlc target harness of a training build: on-device learning under qemu-system-arm.
//
// Command line (QEMU: -semihosting-config arg=tinyodlc,arg=DIR,arg=EPOCHS): DIR holds
//   input_K.bin     S samples of model input K, concatenated (raw little-endian data)
//   label.bin       S labels (or mse targets), concatenated
//   eval_input_K.bin, eval_label.bin   (optional) held-out samples for the accuracy
// The harness
//   1. runs invoke() on sample 0 and writes output_K.bin (the forward pass of the initial model);
//   2. if there are held-out samples: accuracy of the initial model (argmax of output 0);
//   3. trains EPOCHS passes over the S samples with train_step() (updates every kBatch samples);
//      the first accumulate() + apply_update() is the measured region (perf markers);
//   4. after every round (epoch): accuracy on the held-out samples (round_correct.bin, one
//      int32 per round; the last is the accuracy after training); every round's steps are a
//      perf region too (instructions per round: round 0 = the first step + the region after it);
//   5. writes losses.bin (one float per step), grads.bin (gradient blob of the first step),
//      params.bin (parameters at the end) and target_stats.txt.
// Exit status: 2 I/O or argument error.
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "harness_io.h"
#include "tinyodlc_target.h"
#include "tinyodlc_target_model.h"

namespace {

namespace m = tinyodlc_model;

alignas(16) uint8_t g_io[TINYODLC_IO_BYTES > 0 ? TINYODLC_IO_BYTES : 16];
alignas(16) uint8_t g_label[m::kLabelBytes];
using tinyodlc_harness::align16;
using tinyodlc_harness::g_dir;
using tinyodlc_harness::g_path;
using tinyodlc_harness::path_of;
using tinyodlc_harness::put_stat;

int fail(const char* what, const char* detail) { return tinyodlc_harness::fail("tinyodlc train harness", what, detail); }

// Open data files of one split ("" = training, "eval_" = held-out).
struct Split {
  int inputs[m::kNumInputs + 1];
  int label = -1;
  long samples = 0;
};

// Opens the files of a split; returns the number of samples (0: the split is absent), -1 on error.
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
  if (sp.label < 0 || tinyodlc_sh_flen(sp.label) != samples * static_cast<long>(m::kLabelBytes)) return -1;
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
  inputs[m::kNumInputs] = g_label;
  if (tinyodlc_sh_seek(sp.label, s * static_cast<long>(m::kLabelBytes)) != 0) return false;
  return tinyodlc_sh_read(sp.label, g_label, m::kLabelBytes) == m::kLabelBytes;
}

// Index of the largest element of output 0 (float).
long argmax(const void* out) {
  const float* p = static_cast<const float*>(out);
  const size_t n = m::kOutputs[0].bytes / sizeof(float);
  long best = 0;
  for (size_t i = 1; i < n; ++i)
    if (p[i] > p[best]) best = static_cast<long>(i);
  return best;
}

// Correct predictions (argmax of output 0 == int64 label) over a split.
long correct(const Split& sp, const void** inputs, void* const* outputs, bool& ok) {
  long hits = 0;
  for (long s = 0; s < sp.samples; ++s) {
    if (!load_sample(sp, s, inputs)) {
      ok = false;
      return 0;
    }
    m::invoke_generic(inputs, outputs);
    int64_t label;
    memcpy(&label, g_label, sizeof label);
    hits += argmax(outputs[0]) == label;
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

}  // namespace

int main(int, char**) {
  // Command line "tinyodlc DIR EPOCHS".
  char cmd[sizeof g_dir + 32];
  if (tinyodlc_sh_cmdline(cmd, sizeof cmd) != 0) return fail("cannot read the semihosting command line", "");
  char* sp1 = strchr(cmd, ' ');
  char* sp2 = sp1 ? strrchr(sp1 + 1, ' ') : nullptr;
  if (!sp1 || !sp2 || static_cast<size_t>(sp2 - sp1 - 1) >= sizeof g_dir)
    return fail("expected the command line 'tinyodlc DIR EPOCHS', got: ", cmd);
  *sp2 = 0;
  strcpy(g_dir, sp1 + 1);
  long epochs = 0;
  for (const char* c = sp2 + 1; *c >= '0' && *c <= '9'; ++c) epochs = epochs * 10 + (*c - '0');

  Split train, held;
  if (open_split(train, "") <= 0) return fail("cannot read the training samples (input_K.bin, label.bin) in ", g_dir);
  if (open_split(held, "eval_") < 0) return fail("bad held-out samples (eval_input_K.bin, eval_label.bin) in ", g_dir);

  const void* inputs[m::kNumInputs + 2] = {nullptr};
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
  // 2. accuracy before
  bool ok = true;
  const long before = held.samples ? correct(held, inputs, outputs, ok) : 0;
  if (!ok) return fail("cannot read the held-out samples", "");
  // 3. training
  int losses = tinyodlc_sh_open(path_of("losses", -1), "wb");
  if (losses < 0) return fail("cannot write ", g_path);
  tinyodlc_perf_begin();
  tinyodlc_perf_end();
  tinyodlc_stack_repaint();
  uintptr_t sp_at_call = tinyodlc_stack_sp();
  // Per round (epoch): one perf region over its steps (round 0: the steps after the measured
  // first one), then the held-out accuracy, one int32 in round_correct.bin. The last partial
  // batch is applied at the end of the last round, so its accuracy is the final one.
  int rounds = held.samples ? tinyodlc_sh_open(path_of("round_correct", -1), "wb") : -1;
  if (held.samples && rounds < 0) return fail("cannot write ", g_path);
  long after = 0;
  for (long e = 0; e < epochs; ++e) {
    if (e > 0) tinyodlc_perf_begin();
    for (long s = 0; s < train.samples; ++s) {
      if (!load_sample(train, s, inputs)) return fail("cannot read a training sample", "");
      const bool first = e == 0 && s == 0;
      if (first) tinyodlc_perf_begin();
      const float loss = m::accumulate_generic(inputs);
      if (first && !write_file(path_of("grads", -1), m::gradient_data(), sizeof(float) * m::kTrainableCount))
        return fail("cannot write ", g_path);
      if (m::accumulated_samples() >= m::kBatch) m::apply_update();
      if (first) {
        tinyodlc_perf_end();
        tinyodlc_perf_begin();  // the rest of round 0
      }
      tinyodlc_sh_write(losses, &loss, sizeof loss);
    }
    if (e + 1 == epochs) m::apply_update();  // a last partial batch
    tinyodlc_perf_end();
    if (held.samples) {
      after = correct(held, inputs, outputs, ok);
      if (!ok) return fail("cannot read the held-out samples", "");
      const int32_t hits = static_cast<int32_t>(after);
      tinyodlc_sh_write(rounds, &hits, sizeof hits);
    }
  }
  if (rounds >= 0) tinyodlc_sh_close(rounds);
  tinyodlc_sh_close(losses);
  uintptr_t lowest = tinyodlc_stack_lowest();
  // 4. parameters, statistics
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
  put_stat(h, "correct_after", static_cast<uint64_t>(after));
  put_stat(h, "train_samples", static_cast<uint64_t>(train.samples));
  put_stat(h, "rounds", static_cast<uint64_t>(epochs));
  tinyodlc_sh_close(h);
  return 0;
}
