// The learned-state storage fault-injection suite (../fault_suite.h) on a Cortex-M4 in QEMU:
// exits 0 when every check passed (semihosting exit status), 1 otherwise.
#include "fault_suite.h"
#include "tinyodlc_target.h"

namespace {

void print(const char* s) { tinyodlc_sh_puts(s); }

struct Geo {
  const char* name;
  uint32_t area, erase, program;
};
const Geo kGeos[] = {
    {"nor-4k-8", 2 * 4096, 4096, 8},
    {"stm32h7", 2 * 131072, 131072, 32},
    {"psoc6", 2 * 2048, 512, 512},
    {"multi-unit", 2 * 2048, 256, 4},
};
constexpr uint32_t kMaxArea = 2 * 131072;
uint8_t g_mem[kMaxArea], g_a[kMaxArea], g_b[kMaxArea];

}  // namespace

int main(int, char**) {
  faultsuite::Log log{print};
  faultsuite::crc_check_value(log);
  for (const Geo& g : kGeos) {
    faultsuite::power_cut_suite(log, g_mem, g_a, g_b, g.area, g.erase, g.program, 0xC0FFEEu);
    faultsuite::bit_flip_suite(log, g_mem, g.area, g.erase, g.program, 3);
    faultsuite::layout_and_wrap_suite(log, g_mem, g.area, g.erase, g.program);
    faultsuite::unreadable_slot_suite(log, g_mem, g_a, g.area, g.erase, g.program);
  }
  char buf[96];
  char* p = buf;
  for (const char* s = "m4 storage suite: cuts="; *s;) *p++ = *s++;
  p = faultsuite::fmt_u(p, log.cuts);
  for (const char* s = " checks="; *s;) *p++ = *s++;
  p = faultsuite::fmt_u(p, log.checks);
  for (const char* s = " failures="; *s;) *p++ = *s++;
  p = faultsuite::fmt_u(p, log.failures);
  *p++ = '\n';
  *p = 0;
  print(buf);
  return log.failures == 0 && log.cuts > 100 ? 0 : 1;
}
