// tinyodlc target harness of an enrolment build (--enrol-output): enrols samples in class 0 and
// scores a test sample under qemu-system-arm (docs/enrolment.md).
//
// Command line (QEMU: -semihosting-config arg=tinyodlc,arg=DIR): DIR holds
//   enrol_input_K.bin  N enrolment samples of model input K, concatenated (raw little-endian)
//   input_K.bin        the test sample
// The harness enrols the N samples with enrol() (class 0, in file order), runs invoke() on the
// test sample between the perf markers (output_K.bin), scores it against class 0 and writes
// prototype_0.bin (kEmbeddingSize floats), score.bin (one float) and target_stats.txt.
// Exit status: 2 I/O or argument error, 3 the model or the enrolment failed.
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "harness_io.h"
#include "tinyodlc_target.h"
#include "tinyodlc_target_model.h"

namespace {

namespace m = tinyodlc_model;

alignas(16) uint8_t g_io[TINYODLC_IO_BYTES > 0 ? TINYODLC_IO_BYTES : 16];
using tinyodlc_harness::align16;
using tinyodlc_harness::g_dir;
using tinyodlc_harness::g_path;
using tinyodlc_harness::path_of;
using tinyodlc_harness::put_stat;

int fail(const char* what, const char* detail) { return tinyodlc_harness::fail("tinyodlc enrol harness", what, detail); }

bool write_all(const char* path, const void* buf, size_t n) {
  int h = tinyodlc_sh_open(path, "wb");
  if (h < 0) return false;
  size_t put = n ? tinyodlc_sh_write(h, buf, n) : 0;
  tinyodlc_sh_close(h);
  return put == n;
}

}  // namespace

int main(int, char**) {
  if (int rc = tinyodlc_harness::read_dir_arg("tinyodlc enrol harness")) return rc;

  const void* inputs[m::kNumInputs + 1] = {nullptr};
  void* outputs[m::kNumOutputs + 1] = {nullptr};
  size_t off = 0;
  for (int i = 0; i < m::kNumInputs; ++i) {
    inputs[i] = g_io + off;
    off += align16(m::kInputs[i].bytes);
  }
  for (int i = 0; i < m::kNumOutputs; ++i) {
    outputs[i] = g_io + off;
    off += align16(m::kOutputs[i].bytes);
  }
  // Enrolment: N samples per input file, read one sample at a time.
  int files[m::kNumInputs + 1];
  long samples = -1;
  for (int i = 0; i < m::kNumInputs; ++i) {
    files[i] = tinyodlc_sh_open(path_of("enrol_input_", i), "rb");
    if (files[i] < 0) return fail("cannot open ", g_path);
    const long len = tinyodlc_sh_flen(files[i]);
    const long bytes = static_cast<long>(m::kInputs[i].bytes);
    if (len <= 0 || bytes == 0 || len % bytes != 0 || (samples >= 0 && len / bytes != samples))
      return fail("wrong size of enrolment file ", g_path);
    samples = len / bytes;
  }
  for (long s = 0; s < samples; ++s) {
    for (int i = 0; i < m::kNumInputs; ++i) {
      const size_t bytes = m::kInputs[i].bytes;
      if (tinyodlc_sh_seek(files[i], s * static_cast<long>(bytes)) != 0 ||
          tinyodlc_sh_read(files[i], const_cast<void*>(inputs[i]), bytes) != bytes)
        return fail("cannot read an enrolment sample", "");
    }
    if (m::enrol_generic(0, inputs) != static_cast<int>(s + 1)) {
      tinyodlc_sh_puts("tinyodlc enrol harness: enrol() failed\n");
      return 3;
    }
  }
  for (int i = 0; i < m::kNumInputs; ++i) tinyodlc_sh_close(files[i]);

  // The test sample.
  for (int i = 0; i < m::kNumInputs; ++i) {
    const size_t bytes = m::kInputs[i].bytes;
    int h = tinyodlc_sh_open(path_of("input_", i), "rb");
    if (h < 0) return fail("cannot open ", g_path);
    const long len = tinyodlc_sh_flen(h);
    const size_t got = bytes ? tinyodlc_sh_read(h, const_cast<void*>(inputs[i]), bytes) : 0;
    tinyodlc_sh_close(h);
    if (len < 0 || static_cast<size_t>(len) != bytes || got != bytes) return fail("wrong size of input file ", g_path);
  }
  tinyodlc_perf_begin();
  tinyodlc_perf_end();
  tinyodlc_stack_repaint();
  const uintptr_t sp_at_call = tinyodlc_stack_sp();
  tinyodlc_perf_begin();
  const int rc = m::invoke_generic(inputs, outputs);
  tinyodlc_perf_end();
  const float score = m::score_generic(inputs, 0);
  const uintptr_t lowest = tinyodlc_stack_lowest();
  const float* proto = m::prototype(0);
  if (rc != 0 || !proto) {
    tinyodlc_sh_puts("tinyodlc enrol harness: invoke() failed or class 0 has no prototype\n");
    return 3;
  }

  for (int i = 0; i < m::kNumOutputs; ++i)
    if (!write_all(path_of("output_", i), outputs[i], m::kOutputs[i].bytes)) return fail("cannot write ", g_path);
  if (!write_all(path_of("prototype_", 0), proto, sizeof(float) * m::kEmbeddingSize))
    return fail("cannot write ", g_path);
  if (!write_all(path_of("score", -1), &score, sizeof score)) return fail("cannot write ", g_path);
  int h = tinyodlc_sh_open(path_of("target_stats", -1, ".txt"), "wb");
  if (h < 0) return fail("cannot write ", g_path);
  put_stat(h, "rc", 0);
  put_stat(h, "enrolled", static_cast<uint64_t>(samples));
  put_stat(h, "stack_peak_bytes", tinyodlc_stack_top() - lowest);
  put_stat(h, "model_stack_bytes", sp_at_call > lowest ? sp_at_call - lowest : 0);
  put_stat(h, "stack_reserved_bytes", tinyodlc_stack_top() - tinyodlc_stack_limit());
  tinyodlc_sh_close(h);
  return 0;
}
