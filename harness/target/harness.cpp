// tinyodlc target test harness: runs a generated model once under qemu-system-arm.
//
// The semihosting command line (QEMU: -semihosting-config arg=tinyodlc,arg=DIR) names a
// host folder DIR with input_K.bin (raw little-endian tensor data, graph-input order). The
// harness reads them, calls invoke_generic() between the perf markers, writes output_K.bin
// and target_stats.txt (stack use, return code) into DIR, and exits with status 0 on success.
// Exit status: 2 I/O or argument error, 3 invoke() returned non-zero.
//
// The generated tinyodlc_target_model.h includes the model header, aliases its namespace
// as tinyodlc_model and defines TINYODLC_IO_BYTES (inputs + outputs, each 16-byte aligned).
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

int fail(const char* what, const char* detail) { return tinyodlc_harness::fail("tinyodlc harness", what, detail); }

}  // namespace

int main(int, char**) {
  // Command line "tinyodlc DIR": everything after the first space is the folder.
  if (int rc = tinyodlc_harness::read_dir_arg("tinyodlc harness")) return rc;

  const void* inputs[m::kNumInputs + 1] = {nullptr};
  void* outputs[m::kNumOutputs + 1] = {nullptr};
  size_t off = 0;
  for (int i = 0; i < m::kNumInputs; ++i) {
    const m::TensorInfo& info = m::kInputs[i];
    uint8_t* buf = g_io + off;
    off += align16(info.bytes);
    inputs[i] = buf;
    int h = tinyodlc_sh_open(path_of("input_", i), "rb");
    if (h < 0) return fail("cannot open ", g_path);
    long len = tinyodlc_sh_flen(h);
    size_t got = info.bytes ? tinyodlc_sh_read(h, buf, info.bytes) : 0;
    tinyodlc_sh_close(h);
    if (len < 0 || static_cast<size_t>(len) != info.bytes || got != info.bytes)
      return fail("wrong size of input file ", g_path);
  }
  for (int i = 0; i < m::kNumOutputs; ++i) {
    outputs[i] = g_io + off;
    off += align16(m::kOutputs[i].bytes);
  }

#ifdef TINYODLC_HARNESS_TEST_HANG  // for the harness's own tests: a run that never ends
  for (volatile int forever = 1; forever;) {
  }
#endif
#ifdef TINYODLC_HARNESS_TEST_FAULT  // for the harness's own tests: a run that faults
  *reinterpret_cast<volatile uint32_t*>(0xFFFFFFF0u) = 1;
#endif

  // Region 0: marker overhead (empty region). Region 1: the model.
  tinyodlc_perf_begin();
  tinyodlc_perf_end();
  tinyodlc_stack_repaint();
  uintptr_t sp_at_call = tinyodlc_stack_sp();
  tinyodlc_perf_begin();
  int rc = m::invoke_generic(inputs, outputs);
  tinyodlc_perf_end();
  uintptr_t lowest = tinyodlc_stack_lowest();

  for (int i = 0; i < m::kNumOutputs; ++i) {
    int h = tinyodlc_sh_open(path_of("output_", i), "wb");
    if (h < 0) return fail("cannot write ", g_path);
    size_t n = m::kOutputs[i].bytes;
    size_t put = n ? tinyodlc_sh_write(h, outputs[i], n) : 0;
    tinyodlc_sh_close(h);
    if (put != n) return fail("short write to ", g_path);
  }
  size_t n = strlen(g_dir);
  memcpy(g_path, g_dir, n);
  memcpy(g_path + n, "/target_stats.txt", 18);
  int h = tinyodlc_sh_open(g_path, "wb");
  if (h < 0) return fail("cannot write ", g_path);
  put_stat(h, "rc", static_cast<uint64_t>(rc < 0 ? -rc : rc));
  put_stat(h, "stack_peak_bytes", tinyodlc_stack_top() - lowest);
  put_stat(h, "model_stack_bytes", sp_at_call > lowest ? sp_at_call - lowest : 0);
  put_stat(h, "stack_reserved_bytes", tinyodlc_stack_top() - tinyodlc_stack_limit());
  tinyodlc_sh_close(h);
  if (rc != 0) {
    tinyodlc_sh_puts("tinyodlc harness: invoke() returned non-zero\n");
    return 3;
  }
  return 0;
}
