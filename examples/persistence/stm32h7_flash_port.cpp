// Example StoragePort for the STM32H7 (H743/H747/H753...) internal flash, register level:
// 128 KiB sectors (erase unit), 256-bit flash words (32-byte program unit, programmed once
// after an erase: the word's ECC forbids a second write), bank 1 at 0x08000000, bank 2 at
// 0x08100000. Reads are memory-mapped.
//
// Not run on hardware here (no board, no vendor SDK in CI): it is compiled for the Cortex-M7
// against the register declarations below, written from the STM32H7 reference manual (RM0433,
// "Embedded flash memory"). Check them against your part's manual before use, and:
//   - put the area in sectors no code lives in, and reserve them in the linker script;
//   - this code must not run from the bank it programs (read-while-write only across banks);
//   - with the D-cache on, invalidate the area after erase/program (SCB_InvalidateDCache_by_Addr)
//     so that read() sees the flash and not stale cache lines;
//   - the erase of one 128 KiB sector takes around a second: feed the watchdog in between.
#include <stdint.h>
#include <string.h>

#include "tinyodlc/runtime/storage.h"

namespace stm32h7 {

// Per-bank flash interface registers (bank 1 at FLASH_R_BASE + 0x000, bank 2 at + 0x100).
struct FlashBank {
  volatile uint32_t ACR;      // 0x00
  volatile uint32_t KEYR;     // 0x04
  volatile uint32_t OPTKEYR;  // 0x08
  volatile uint32_t CR;       // 0x0C
  volatile uint32_t SR;       // 0x10
  volatile uint32_t CCR;      // 0x14
};
constexpr uintptr_t kFlashRegs = 0x52002000u;
constexpr uintptr_t kBank1 = 0x08000000u, kBank2 = 0x08100000u, kBankBytes = 0x100000u;
constexpr uint32_t kKey1 = 0x45670123u, kKey2 = 0xCDEF89ABu;
constexpr uint32_t CR_LOCK = 1u << 0, CR_PG = 1u << 1, CR_SER = 1u << 2, CR_PSIZE_X64 = 3u << 4, CR_START = 1u << 7;
constexpr uint32_t CR_SNB_SHIFT = 8, CR_SNB_MASK = 7u << 8;
constexpr uint32_t SR_BSY = 1u << 0, SR_WBNE = 1u << 1, SR_QW = 1u << 2;
constexpr uint32_t SR_ERRORS = (1u << 17) | (1u << 18) | (1u << 19) | (1u << 21) | (1u << 22) | (1u << 23) |
                               (1u << 24) | (1u << 25) | (1u << 26);  // WRP PGS STRB INC OP RDP RDS SNECC DBECC
constexpr uint32_t kSector = 128u * 1024u, kFlashWord = 32u;

inline FlashBank& bank_regs(uintptr_t addr) {
  return *reinterpret_cast<FlashBank*>(kFlashRegs + (addr >= kBank2 ? 0x100u : 0u));
}

inline int wait_idle(FlashBank& b) {
  while (b.SR & (SR_BSY | SR_QW | SR_WBNE)) {
  }
  const uint32_t err = b.SR & SR_ERRORS;
  b.CCR = err | (1u << 16);  // clear errors and EOP
  return err ? -1 : 0;
}

inline void unlock(FlashBank& b) {
  if (b.CR & CR_LOCK) {
    b.KEYR = kKey1;
    b.KEYR = kKey2;
  }
}

// The storage area: `base` (sector-aligned absolute address) and `size` bytes (whole sectors).
struct Area {
  uintptr_t base;
  uint32_t size;
};

int erase(void* ctx, uint32_t off, uint32_t len) {
  const Area& a = *static_cast<const Area*>(ctx);
  for (uint32_t o = 0; o < len; o += kSector) {
    const uintptr_t addr = a.base + off + o;
    FlashBank& b = bank_regs(addr);
    const uint32_t sector = static_cast<uint32_t>((addr - (addr >= kBank2 ? kBank2 : kBank1)) / kSector);
    unlock(b);
    if (wait_idle(b) != 0) return -1;
    b.CR = (b.CR & ~CR_SNB_MASK) | CR_SER | CR_PSIZE_X64 | (sector << CR_SNB_SHIFT);
    b.CR |= CR_START;
    const int rc = wait_idle(b);
    b.CR &= ~(CR_SER | CR_SNB_MASK);
    b.CR |= CR_LOCK;
    if (rc != 0) return -2;
  }
  return 0;
}

int program(void* ctx, uint32_t off, const void* data, uint32_t len) {
  const Area& a = *static_cast<const Area*>(ctx);
  const uint8_t* src = static_cast<const uint8_t*>(data);
  for (uint32_t o = 0; o < len; o += kFlashWord) {
    const uintptr_t addr = a.base + off + o;
    FlashBank& b = bank_regs(addr);
    unlock(b);
    if (wait_idle(b) != 0) return -1;
    b.CR |= CR_PG | CR_PSIZE_X64;
    __asm__ volatile("isb\n\tdsb" ::: "memory");
    volatile uint32_t* dst = reinterpret_cast<volatile uint32_t*>(addr);
    for (uint32_t w = 0; w < kFlashWord / 4; ++w) {  // eight 32-bit writes fill the write buffer
      uint32_t v;
      memcpy(&v, src + o + 4 * w, 4);
      dst[w] = v;
    }
    __asm__ volatile("dsb" ::: "memory");
    const int rc = wait_idle(b);
    b.CR &= ~CR_PG;
    b.CR |= CR_LOCK;
    if (rc != 0) return -2;
  }
  return 0;
}

// A flash word torn by a power cut can fail its ECC. A double error sets DBECCERR (and, unless
// the bus-fault path is masked by the firmware, raises a bus error: give the fault handler a way
// back, or read with the fault masked); report it so that the engine treats the slot as invalid.
constexpr uint32_t SR_SNECCERR = 1u << 25, SR_DBECCERR = 1u << 26;
int read(void* ctx, uint32_t off, void* data, uint32_t len) {
  const Area& a = *static_cast<const Area*>(ctx);
  FlashBank& b = bank_regs(a.base + off);
  b.CCR = SR_SNECCERR | SR_DBECCERR;
  memcpy(data, reinterpret_cast<const void*>(a.base + off), len);
  __asm__ volatile("dsb" ::: "memory");
  if (b.SR & SR_DBECCERR) {
    b.CCR = SR_DBECCERR;
    return -1;
  }
  return 0;
}

}  // namespace stm32h7

// Usage: the last two sectors of bank 2 (2 x 128 KiB; reserve them in the linker script).
static const stm32h7::Area kArea{stm32h7::kBank2 + stm32h7::kBankBytes - 2 * stm32h7::kSector,
                                 2 * stm32h7::kSector};
extern "C" const tinyodlc::StoragePort* stm32h7_learned_state_port() {
  static const tinyodlc::StoragePort port{const_cast<stm32h7::Area*>(&kArea), kArea.size, stm32h7::kSector,
                                          stm32h7::kFlashWord, stm32h7::erase, stm32h7::program, stm32h7::read};
  return &port;
}
