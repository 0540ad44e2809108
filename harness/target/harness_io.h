// Helpers shared by the target harnesses (harness.cpp: one inference; train_harness.cpp: on-device
// learning): file names in the run folder, error reporting and the statistics file, over
// semihosting. Header-only; the harnesses are single translation units.
#ifndef TINYODLC_HARNESS_IO_H
#define TINYODLC_HARNESS_IO_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tinyodlc_target.h"

namespace tinyodlc_harness {

// The run folder (from the semihosting command line) and the last path built from it.
inline char g_dir[512];
inline char g_path[640];

// DIR/<stem><k><ext> (k omitted when negative), in g_path.
inline const char* path_of(const char* stem, int k, const char* ext = ".bin") {
  size_t n = strlen(g_dir);
  memcpy(g_path, g_dir, n);
  g_path[n++] = '/';
  size_t s = strlen(stem);
  memcpy(g_path + n, stem, s);
  n += s;
  if (k >= 0) {
    char num[24];
    tinyodlc_fmt_u64(num, static_cast<uint64_t>(k));
    size_t d = strlen(num);
    memcpy(g_path + n, num, d);
    n += d;
  }
  memcpy(g_path + n, ext, strlen(ext) + 1);
  return g_path;
}

// Prints "<who>: <what><detail>" on the debug console; returns the I/O-error exit status 2.
inline int fail(const char* who, const char* what, const char* detail) {
  tinyodlc_sh_puts(who);
  tinyodlc_sh_puts(": ");
  tinyodlc_sh_puts(what);
  tinyodlc_sh_puts(detail);
  tinyodlc_sh_puts("\n");
  return 2;
}

// Reads the semihosting command line "tinyodlc DIR" into g_dir. 0, or fail()'s status.
inline int read_dir_arg(const char* who) {
  char cmd[sizeof g_dir + 16];
  if (tinyodlc_sh_cmdline(cmd, sizeof cmd) != 0) return fail(who, "cannot read the semihosting command line", "");
  const char* sp = strchr(cmd, ' ');
  if (!sp || strlen(sp + 1) >= sizeof g_dir) return fail(who, "expected the command line 'tinyodlc DIR', got: ", cmd);
  strcpy(g_dir, sp + 1);
  return 0;
}

// One "key value" line of target_stats.txt.
inline void put_stat(int h, const char* key, uint64_t v) {
  char num[24];
  tinyodlc_fmt_u64(num, v);
  tinyodlc_sh_write(h, key, strlen(key));
  tinyodlc_sh_write(h, " ", 1);
  tinyodlc_sh_write(h, num, strlen(num));
  tinyodlc_sh_write(h, "\n", 1);
}

inline size_t align16(size_t n) { return (n + 15) & ~static_cast<size_t>(15); }

}  // namespace tinyodlc_harness

#endif
