// Host implementation of tinyodlc_target.h (semihosting over stdio; markers and stack
// measurement are no-ops), so that a target harness (al_harness.cpp) also runs on the host:
// the active-learning run compiles "#define main tinyodlc_harness_main", the harness, and this
// file, whose main() passes "tinyodlc ARGS..." as the semihosting command line.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinyodlc_target.h"

namespace {
FILE* g_files[32];
char g_cmdline[2048];
}  // namespace

extern "C" {

int tinyodlc_sh_open(const char* path, const char* mode) {
  for (int h = 0; h < 32; ++h)
    if (!g_files[h]) {
      g_files[h] = fopen(path, mode);
      return g_files[h] ? h : -1;
    }
  return -1;
}
int tinyodlc_sh_close(int h) {
  if (h < 0 || h >= 32 || !g_files[h]) return -1;
  const int rc = fclose(g_files[h]);
  g_files[h] = nullptr;
  return rc;
}
int tinyodlc_sh_seek(int h, long pos) { return h >= 0 && h < 32 && g_files[h] ? fseek(g_files[h], pos, SEEK_SET) : -1; }
long tinyodlc_sh_flen(int h) {
  if (h < 0 || h >= 32 || !g_files[h]) return -1;
  const long at = ftell(g_files[h]);
  fseek(g_files[h], 0, SEEK_END);
  const long n = ftell(g_files[h]);
  fseek(g_files[h], at, SEEK_SET);
  return n;
}
size_t tinyodlc_sh_read(int h, void* buf, size_t n) { return h >= 0 && h < 32 && g_files[h] ? fread(buf, 1, n, g_files[h]) : 0; }
size_t tinyodlc_sh_write(int h, const void* buf, size_t n) {
  return h >= 0 && h < 32 && g_files[h] ? fwrite(buf, 1, n, g_files[h]) : 0;
}
void tinyodlc_sh_puts(const char* s) { fputs(s, stderr); }
int tinyodlc_sh_cmdline(char* buf, size_t size) {
  if (strlen(g_cmdline) >= size) return -1;
  strcpy(buf, g_cmdline);
  return 0;
}
void tinyodlc_sh_exit(int status) { exit(status); }
void tinyodlc_perf_begin(void) {}
void tinyodlc_perf_end(void) {}
void tinyodlc_perf_layer(void) {}
uintptr_t tinyodlc_stack_sp(void) { return 0; }
void tinyodlc_stack_repaint(void) {}
uintptr_t tinyodlc_stack_lowest(void) { return 0; }
uintptr_t tinyodlc_stack_top(void) { return 0; }
uintptr_t tinyodlc_stack_limit(void) { return 0; }
char* tinyodlc_fmt_u64(char* buf, uint64_t v) {
  snprintf(buf, 24, "%llu", static_cast<unsigned long long>(v));
  return buf;
}

}  // extern "C"

int tinyodlc_harness_main(int argc, char** argv);

int main(int argc, char** argv) {
  strcpy(g_cmdline, "tinyodlc");
  for (int i = 1; i < argc; ++i) {
    if (strlen(g_cmdline) + strlen(argv[i]) + 2 > sizeof g_cmdline) return 2;
    strcat(g_cmdline, " ");
    strcat(g_cmdline, argv[i]);
  }
  return tinyodlc_harness_main(argc, argv);
}
