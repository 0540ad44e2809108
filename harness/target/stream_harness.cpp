// tinyodlc target harness of a streaming build (--stream, docs/streaming.md) under
// qemu-system-arm.
//
// Command line (QEMU: -semihosting-config arg=tinyodlc,arg=DIR): DIR holds clip.bin, F frames
// of the streamed input (raw little-endian data, frame after frame). The harness pushes the
// frames one by one with push_frame() and, from the kStreamFrames-th on, calls infer() after
// each; output_K.bin gets output K of every window, one after the other. Every push_frame() and
// every infer() is a perf region of its own (region 0: the markers alone; then, in call order,
// the F pushes and the F - T + 1 inferences). target_stats.txt: rc, stream_frames,
// stream_windows and the stack use of the deepest call.
// Exit status: 2 I/O or argument error, 3 push_frame()/infer()/ready() misbehaved.
//
// The generated tinyodlc_target_model.h includes the streaming header, aliases its namespace
// as tinyodlc_model and the head's as tinyodlc_head, names the frame's element type
// tinyodlc_frame_t and defines TINYODLC_IO_BYTES (one frame + the outputs, 16-byte aligned).
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "harness_io.h"
#include "tinyodlc_target.h"
#include "tinyodlc_target_model.h"

namespace {

namespace m = tinyodlc_model;
namespace h = tinyodlc_head;

alignas(16) uint8_t g_io[TINYODLC_IO_BYTES > 0 ? TINYODLC_IO_BYTES : 16];
using tinyodlc_harness::align16;
using tinyodlc_harness::g_path;
using tinyodlc_harness::path_of;
using tinyodlc_harness::put_stat;

int fail(const char* what, const char* detail) { return tinyodlc_harness::fail("tinyodlc stream harness", what, detail); }
int misbehaved(const char* what) {
  tinyodlc_sh_puts("tinyodlc stream harness: ");
  tinyodlc_sh_puts(what);
  tinyodlc_sh_puts("\n");
  return 3;
}

}  // namespace

int main(int, char**) {
  if (int rc = tinyodlc_harness::read_dir_arg("tinyodlc stream harness")) return rc;
  uint8_t* frame = g_io;
  void* outputs[m::kNumOutputs + 1] = {nullptr};
  size_t off = align16(m::kFrameBytes);
  for (int i = 0; i < m::kNumOutputs; ++i) {
    outputs[i] = g_io + off;
    off += align16(h::kOutputs[i].bytes);
  }
  const int clip = tinyodlc_sh_open(path_of("clip", -1), "rb");
  if (clip < 0) return fail("cannot open ", g_path);
  const long len = tinyodlc_sh_flen(clip);
  if (len <= 0 || static_cast<size_t>(len) % m::kFrameBytes != 0)
    return fail("clip.bin is not a whole number of frames: ", g_path);
  const long frames = len / static_cast<long>(m::kFrameBytes);
  int outs[m::kNumOutputs + 1];
  for (int i = 0; i < m::kNumOutputs; ++i) {
    outs[i] = tinyodlc_sh_open(path_of("output_", i), "wb");
    if (outs[i] < 0) return fail("cannot write ", g_path);
  }

  // Region 0: marker overhead.
  tinyodlc_perf_begin();
  tinyodlc_perf_end();
  uintptr_t lowest = tinyodlc_stack_top(), deepest_call = 0;
  // The deepest stack of one call: repainted before each (outside the perf regions).
  auto measured = [&](auto&& call) {
    tinyodlc_stack_repaint();
    const uintptr_t sp = tinyodlc_stack_sp();
    tinyodlc_perf_begin();
    const int rc = call();
    tinyodlc_perf_end();
    const uintptr_t low = tinyodlc_stack_lowest();
    if (low < lowest) lowest = low;
    if (sp > low && sp - low > deepest_call) deepest_call = sp - low;
    return rc;
  };
  m::reset_stream();
  long windows = 0;
  for (long t = 0; t < frames; ++t) {
    if (tinyodlc_sh_read(clip, frame, m::kFrameBytes) != m::kFrameBytes) return fail("cannot read a frame of ", "clip.bin");
    const int held = measured([&] { return m::push_frame(reinterpret_cast<const tinyodlc_frame_t*>(frame)); });
    const bool expect_ready = t + 1 >= m::kStreamFrames;
    if (held != (expect_ready ? m::kStreamFrames : static_cast<int>(t + 1))) return misbehaved("push_frame() failed");
    if (m::ready() != expect_ready) return misbehaved("ready() is wrong");
    if (!expect_ready) continue;
    if (measured([&] { return m::infer_generic(outputs); }) != 0) return misbehaved("infer() failed");
    ++windows;
    for (int i = 0; i < m::kNumOutputs; ++i)
      if (tinyodlc_sh_write(outs[i], outputs[i], h::kOutputs[i].bytes) != h::kOutputs[i].bytes)
        return fail("short write to an output file", "");
  }
  tinyodlc_sh_close(clip);
  for (int i = 0; i < m::kNumOutputs; ++i) tinyodlc_sh_close(outs[i]);

  const int st = tinyodlc_sh_open(path_of("target_stats", -1, ".txt"), "wb");
  if (st < 0) return fail("cannot write ", g_path);
  put_stat(st, "rc", 0);
  put_stat(st, "stream_frames", static_cast<uint64_t>(frames));
  put_stat(st, "stream_windows", static_cast<uint64_t>(windows));
  put_stat(st, "stack_peak_bytes", tinyodlc_stack_top() - lowest);
  put_stat(st, "model_stack_bytes", deepest_call);
  put_stat(st, "stack_reserved_bytes", tinyodlc_stack_top() - tinyodlc_stack_limit());
  tinyodlc_sh_close(st);
  return 0;
}
