/* tinyodlc bare-metal runtime for Cortex-M under qemu-system-arm (mps2-an386 / mps2-an500):
 * semihosting I/O, exit status, performance markers and stack measurement. Used by the test
 * harness that `tinyodlc run --target ...` links with the generated code; not needed by the
 * generated code itself (a real firmware calls the model from its own main()). */
#ifndef TINYODLC_TARGET_H
#define TINYODLC_TARGET_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- semihosting (ARM "Semihosting for AArch32 and AArch64", BKPT 0xAB) ---------------- */
/* Opens a host file; mode is "rb" or "wb". Returns a handle >= 0, or -1. */
int tinyodlc_sh_open(const char* path, const char* mode);
int tinyodlc_sh_close(int handle);
/* Moves the file position to pos (bytes from the start); returns 0 on success. */
int tinyodlc_sh_seek(int handle, long pos);
/* Length of an open file in bytes, or -1. */
long tinyodlc_sh_flen(int handle);
/* Read/write n bytes; return the number of bytes transferred. */
size_t tinyodlc_sh_read(int handle, void* buf, size_t n);
size_t tinyodlc_sh_write(int handle, const void* buf, size_t n);
/* Writes a NUL-terminated string to the debug console (QEMU's stderr). */
void tinyodlc_sh_puts(const char* s);
/* The command line given with -semihosting-config arg=...; returns 0 on success. */
int tinyodlc_sh_cmdline(char* buf, size_t size);
/* Ends the simulation with an exit status (SYS_EXIT_EXTENDED, 0..255 reach the host). */
void tinyodlc_sh_exit(int status) __attribute__((noreturn));

/* ---- performance markers: the QEMU plugin counts instructions between them -------------- */
void tinyodlc_perf_begin(void);
void tinyodlc_perf_end(void);
void tinyodlc_perf_layer(void);

/* ---- stack measurement ------------------------------------------------------------------ */
/* The startup code fills the free stack with a pattern. tinyodlc_stack_repaint() refills
 * everything below the caller's frame; tinyodlc_stack_lowest() returns the lowest address
 * that was written since (the high-water mark). */
uintptr_t tinyodlc_stack_sp(void);
void tinyodlc_stack_repaint(void);
uintptr_t tinyodlc_stack_lowest(void);
uintptr_t tinyodlc_stack_top(void);
uintptr_t tinyodlc_stack_limit(void);

/* Formats v as decimal into buf (at least 24 bytes); returns buf. */
char* tinyodlc_fmt_u64(char* buf, uint64_t v);

#ifdef __cplusplus
}
#endif

#endif
