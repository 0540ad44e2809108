// Host/QEMU I/O shared by the persistence test programs (persist_main.cpp, al_persist_main.cpp):
// console lines, flash-image files (semihosting on the M4, stdio on the host) and the
// "MODE IMAGE OUT" command line.
#pragma once

#include <stdint.h>
#include <string.h>

#ifdef __arm__
#include "tinyodlc_target.h"
#else
#include <stdio.h>
#endif

namespace persist_test {

inline void say(const char* s) {
#ifdef __arm__
  tinyodlc_sh_puts(s);
#else
  fputs(s, stderr);
#endif
}

inline char* fmt_u(char* buf, uint32_t v) {
  char t[12];
  int n = 0;
  do t[n++] = static_cast<char>('0' + v % 10); while ((v /= 10) != 0);
  int i = 0;
  while (n) buf[i++] = t[--n];
  buf[i] = 0;
  return buf;
}

// Reads a file of exactly n bytes (exact) or of at most n bytes (the rest left erased, 0xFF).
inline bool read_file(const char* path, void* dst, uint32_t n, bool exact = true) {
  memset(dst, 0xFF, n);
#ifdef __arm__
  const int h = tinyodlc_sh_open(path, "rb");
  if (h < 0) return false;
  const long len = tinyodlc_sh_flen(h);
  const uint32_t want = len >= 0 && static_cast<uint32_t>(len) < n ? static_cast<uint32_t>(len) : n;
  const bool ok = (exact ? len == static_cast<long>(n) : len >= 0) && tinyodlc_sh_read(h, dst, want) == want;
  tinyodlc_sh_close(h);
  return ok;
#else
  FILE* f = fopen(path, "rb");
  if (!f) return false;
  const size_t got = fread(dst, 1, n, f);
  fclose(f);
  return exact ? got == n : true;
#endif
}

inline bool write_file(const char* path, const void* src, uint32_t n) {
#ifdef __arm__
  const int h = tinyodlc_sh_open(path, "wb");
  if (h < 0) return false;
  const bool ok = tinyodlc_sh_write(h, src, n) == n;
  tinyodlc_sh_close(h);
  return ok;
#else
  FILE* f = fopen(path, "wb");
  if (!f) return false;
  const bool ok = fwrite(src, 1, n, f) == n;
  return fclose(f) == 0 && ok;
#endif
}

// main(): "PROGRAM MODE IMAGE OUT" (argv on the host, the semihosting command line on the M4);
// prints "<name>: ok" or "<name>: FAILED"; 3 for a bad command line.
inline int main_mode_image_out(int argc, char** argv, int (*run)(const char*, const char*, const char*),
                               const char* name) {
#ifdef __arm__
  static char cmd[1024];
  (void)argc;
  (void)argv;
  if (tinyodlc_sh_cmdline(cmd, sizeof cmd) != 0) return 3;
  char* tok[4] = {nullptr};
  int nt = 0;
  for (char* p = cmd; *p && nt < 4;) {
    while (*p == ' ') *p++ = 0;
    if (!*p) break;
    tok[nt++] = p;
    while (*p && *p != ' ') ++p;
  }
  if (nt != 4) return 3;
  const int rc = run(tok[1], tok[2], tok[3]);
#else
  if (argc != 4) return 3;
  const int rc = run(argv[1], argv[2], argv[3]);
#endif
  say(name);
  say(rc == 0 ? ": ok\n" : ": FAILED\n");
  return rc;
}

}  // namespace persist_test
