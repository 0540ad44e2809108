/* Startup code for Cortex-M4F/M7 under qemu-system-arm (and real boards with the same
 * linker-script symbols): vector table, reset handler (FPU on, .data copy, zeroing of .bss
 * and of the extra RAM regions, stack painting, C++ constructors, main, semihosting exit) and
 * a fault handler that reports the fault and exits with status 100. */
#include <stdint.h>

#include "tinyodlc_target.h"

/* Linker-script symbols (see the generated target.ld). */
extern uint32_t __stack_top[], __stack_limit[];
extern uint32_t __data_load[], __data_start[], __data_end[];
extern const uint32_t __zero_table_start[], __zero_table_end[]; /* {start, end} pairs */

int main(int argc, char** argv);
void __libc_init_array(void);
void Reset_Handler(void);
void Fault_Handler(void);
void Default_Handler(void);
void tinyodlc_fault_report(const uint32_t* frame, uint32_t exc_return);

#define STACK_PATTERN 0xA5A5A5A5u

/* Needed with -nostartfiles: __libc_init_array calls _init, C++ atexit uses __dso_handle. */
void _init(void) {}
void _fini(void) {}
void* __dso_handle = 0;

__attribute__((section(".isr_vector"), used)) void (*const tinyodlc_vectors[16])(void) = {
    (void (*)(void))(uintptr_t)__stack_top,
    Reset_Handler,
    Fault_Handler, /* NMI */
    Fault_Handler, /* HardFault */
    Fault_Handler, /* MemManage */
    Fault_Handler, /* BusFault */
    Fault_Handler, /* UsageFault */
    0, 0, 0, 0,
    Default_Handler, /* SVCall */
    Default_Handler, /* DebugMonitor */
    0,
    Default_Handler, /* PendSV */
    Default_Handler, /* SysTick */
};

static void fill_stack(uintptr_t below) {
  /* volatile: keep this a plain loop (a memset call would write over its own frame). */
  for (volatile uint32_t* p = __stack_limit; (uintptr_t)p < below; ++p) *p = STACK_PATTERN;
}

uintptr_t tinyodlc_stack_sp(void) {
  uintptr_t sp;
  __asm__ volatile("mov %0, sp" : "=r"(sp));
  return sp;
}

__attribute__((noinline)) void tinyodlc_stack_repaint(void) { fill_stack(tinyodlc_stack_sp() - 64); }

uintptr_t tinyodlc_stack_lowest(void) {
  const volatile uint32_t* p = __stack_limit;
  while ((uintptr_t)p < (uintptr_t)__stack_top && *p == STACK_PATTERN) ++p;
  return (uintptr_t)p;
}

uintptr_t tinyodlc_stack_top(void) { return (uintptr_t)__stack_top; }
uintptr_t tinyodlc_stack_limit(void) { return (uintptr_t)__stack_limit; }

void Reset_Handler(void) {
  /* CPACR: full access to CP10/CP11, or the first VFP instruction faults (NOCP). */
  *(volatile uint32_t*)0xE000ED88u |= 0xFu << 20;
  __asm__ volatile("dsb\n\tisb" ::: "memory");
  for (uint32_t *src = __data_load, *dst = __data_start; dst < __data_end;) *dst++ = *src++;
  for (const uint32_t* z = __zero_table_start; z < __zero_table_end; z += 2)
    for (volatile uint32_t* p = (uint32_t*)(uintptr_t)z[0]; (uintptr_t)p < z[1]; ++p) *p = 0;
  fill_stack(tinyodlc_stack_sp() - 256);
  __libc_init_array();
  static char arg0[] = "tinyodlc";
  static char* argv[] = {arg0, 0};
  tinyodlc_sh_exit(main(1, argv));
}

static void put_hex(const char* label, uint32_t v) {
  char buf[20];
  int n = 0;
  buf[n++] = ' ';
  while (*label) buf[n++] = *label++;
  buf[n++] = '=';
  buf[n++] = '0';
  buf[n++] = 'x';
  for (int i = 7; i >= 0; --i) buf[n++] = "0123456789abcdef"[(v >> (4 * i)) & 0xF];
  buf[n] = 0;
  tinyodlc_sh_puts(buf);
}

__attribute__((naked)) void Fault_Handler(void) {
  __asm__ volatile(
      "tst lr, #4\n\t"
      "ite eq\n\t"
      "mrseq r0, msp\n\t"
      "mrsne r0, psp\n\t"
      "mov r1, lr\n\t"
      "b tinyodlc_fault_report\n\t");
}

void tinyodlc_fault_report(const uint32_t* frame, uint32_t exc_return) {
  (void)exc_return;
  uint32_t ipsr;
  __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
  static const char* const names[] = {"?", "Reset", "NMI", "HardFault", "MemManage", "BusFault", "UsageFault"};
  tinyodlc_sh_puts("tinyodlc: FAULT ");
  tinyodlc_sh_puts((ipsr & 0x1FF) < 7 ? names[ipsr & 0x1FF] : "exception");
  put_hex("PC", frame[6]);
  put_hex("LR", frame[5]);
  put_hex("CFSR", *(volatile uint32_t*)0xE000ED28u);
  put_hex("HFSR", *(volatile uint32_t*)0xE000ED2Cu);
  put_hex("MMFAR", *(volatile uint32_t*)0xE000ED34u);
  put_hex("BFAR", *(volatile uint32_t*)0xE000ED38u);
  tinyodlc_sh_puts("\n");
  tinyodlc_sh_exit(100);
}

void Default_Handler(void) {
  tinyodlc_sh_puts("tinyodlc: unexpected interrupt\n");
  tinyodlc_sh_exit(101);
}
