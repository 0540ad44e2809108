// TinySV pipeline firmware (examples/tinysv_pipeline/README.md): a keyword gate and a speaker
// embedder compiled separately by tinyodlc, sharing one static arena (--arena-symbol
// tinysv_arena), in one program for the PSoC 62S2 (Cortex-M4) in QEMU.
//
// For every utterance of the stream: the gate (kws) runs on its MFCC; if it detects the keyword,
// the first kEnrolUtterances detections enrol the user (class 0), every later one is verified
// against the user's prototype (score > threshold). The two models run one after the other,
// never concurrently, so they can share the arena.
//
// I/O over semihosting (QEMU: -semihosting-config arg=tinysv,arg=DIR): DIR/kws_mfcc.bin and
// DIR/sv_mfcc.bin hold the utterances' features (float32 [N, 1, 49, 40] each); the program writes
// DIR/results.bin: per utterance {int32 keyword detected, int32 action, float32 score} with
// action 0 = none (gate rejected), 1 = enrolled, 2 = accepted, 3 = rejected.
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kws.h"
#include "sv.h"
#include "sv_enrol.h"
#include "tinyodlc_target.h"

#ifndef TINYSV_ENROL_UTTERANCES
#define TINYSV_ENROL_UTTERANCES 4
#endif

// The shared activation arena: sized for the larger of the two models.
constexpr size_t kSharedArenaBytes = kws::kArenaBytes > sv::kArenaBytes ? kws::kArenaBytes : sv::kArenaBytes;
extern "C" {
alignas(16) uint8_t tinysv_arena[kSharedArenaBytes];
}

namespace {

constexpr int kEnrolUtterances = TINYSV_ENROL_UTTERANCES;
constexpr size_t kFeatureFloats = 49 * 40;

alignas(16) float g_kws_in[kFeatureFloats];
alignas(16) float g_sv_in[kFeatureFloats];
alignas(16) float g_logits[3];
alignas(16) float g_probs[3];
char g_dir[400];
char g_path[480];

const char* path(const char* file) {
  size_t n = strlen(g_dir);
  memcpy(g_path, g_dir, n);
  g_path[n] = '/';
  memcpy(g_path + n + 1, file, strlen(file) + 1);
  return g_path;
}

int fail(const char* what) {
  tinyodlc_sh_puts("tinysv: ");
  tinyodlc_sh_puts(what);
  tinyodlc_sh_puts("\n");
  return 2;
}

struct Result {
  int32_t keyword;
  int32_t action;
  float score;
};

}  // namespace

int main(int, char**) {
  char cmd[sizeof g_dir + 16];
  if (tinyodlc_sh_cmdline(cmd, sizeof cmd) != 0) return fail("cannot read the command line");
  const char* sp = strchr(cmd, ' ');
  if (!sp || strlen(sp + 1) >= sizeof g_dir) return fail("expected the command line 'tinysv DIR'");
  strcpy(g_dir, sp + 1);
  const int hk = tinyodlc_sh_open(path("kws_mfcc.bin"), "rb");
  const int hs = tinyodlc_sh_open(path("sv_mfcc.bin"), "rb");
  const int out = tinyodlc_sh_open(path("results.bin"), "wb");
  if (hk < 0 || hs < 0 || out < 0) return fail("cannot open kws_mfcc.bin / sv_mfcc.bin / results.bin");
  const long bytes = static_cast<long>(sizeof g_kws_in);
  const long n = tinyodlc_sh_flen(hk) / bytes;
  if (n <= 0 || tinyodlc_sh_flen(hs) != n * bytes) return fail("the two feature files do not hold the same utterances");

  for (long i = 0; i < n; ++i) {
    if (tinyodlc_sh_read(hk, g_kws_in, sizeof g_kws_in) != sizeof g_kws_in ||
        tinyodlc_sh_read(hs, g_sv_in, sizeof g_sv_in) != sizeof g_sv_in)
      return fail("short read");
    Result r = {0, 0, 0.0f};
    // 1. the keyword gate: classes silence / unknown / keyword
    if (kws::invoke(g_kws_in, g_logits, g_probs) != 0) return fail("kws::invoke failed");
    r.keyword = g_probs[2] > g_probs[0] && g_probs[2] > g_probs[1];
    if (r.keyword) {
      if (sv::enrolled_count(0) < kEnrolUtterances) {
        // 2. enrolment: the first detections are the user's
        if (sv::enrol(0, g_sv_in) < 0) return fail("sv::enrol failed");
        r.action = 1;
      } else {
        // 3. verification against the user's prototype
        r.action = sv::verify(g_sv_in, 0, &r.score) ? 2 : 3;
      }
    }
    if (tinyodlc_sh_write(out, &r, sizeof r) != sizeof r) return fail("short write");
  }
  tinyodlc_sh_close(hk);
  tinyodlc_sh_close(hs);
  tinyodlc_sh_close(out);
  return 0;
}
