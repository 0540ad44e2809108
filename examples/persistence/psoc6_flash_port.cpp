// Example StoragePort for the PSoC 6 (CY8C62x) internal flash through the PDL flash driver:
// 512-byte rows are both the erase and the program unit (Cy_Flash_EraseRow, then
// Cy_Flash_ProgramRow of a whole, erased row; the data pointer must be 32-bit aligned, which
// the storage engine's buffer is). Reads are memory-mapped.
//
// Not run on hardware here (no board, no PDL in CI): it is compiled for the Cortex-M4 against
// the few PDL declarations below (their names and signatures follow the PDL's cy_flash.h;
// include the real cy_flash.h instead in a firmware). To check on your part:
//   - the value a row reads after Cy_Flash_EraseRow. The storage format needs an erased byte
//     to read 0xFF; if your device erases to 0x00, set kErasedByte to 0x00 and the port
//     inverts every byte (erase then reads as 0xFF, program writes the inverted data);
//   - the area must be rows no code lives in (reserve them in the linker script), e.g. the
//     device's auxiliary flash or the top of the application flash;
//   - on a dual-core part the CM0+ performs the flash operation (IPC): keep the PDL's rules on
//     what may run from flash during the call.
#include <stdint.h>
#include <string.h>

#include "tinyodlc/runtime/storage.h"

// ---- the PDL declarations this port uses (from cy_flash.h) ---------------------------------
extern "C" {
typedef enum { CY_FLASH_DRV_SUCCESS = 0x00 } cy_en_flashdrv_status_t;
cy_en_flashdrv_status_t Cy_Flash_EraseRow(uint32_t rowAddr);
cy_en_flashdrv_status_t Cy_Flash_ProgramRow(uint32_t rowAddr, const uint32_t* data);
}
#define CY_FLASH_SIZEOF_ROW 512u

namespace psoc6 {

constexpr uint8_t kErasedByte = 0xFF;  // see above: 0x00 makes the port invert the data
constexpr uint32_t kRow = CY_FLASH_SIZEOF_ROW;

struct Area {
  uintptr_t base;  // row-aligned absolute address
  uint32_t size;   // whole rows
};

int erase(void* ctx, uint32_t off, uint32_t len) {
  const Area& a = *static_cast<const Area*>(ctx);
  for (uint32_t o = 0; o < len; o += kRow)
    if (Cy_Flash_EraseRow(static_cast<uint32_t>(a.base + off + o)) != CY_FLASH_DRV_SUCCESS) return -1;
  return 0;
}

int program(void* ctx, uint32_t off, const void* data, uint32_t len) {
  const Area& a = *static_cast<const Area*>(ctx);
  static uint32_t row[kRow / 4];  // aligned copy (and inversion, for an erased value of 0x00)
  for (uint32_t o = 0; o < len; o += kRow) {
    memcpy(row, static_cast<const uint8_t*>(data) + o, kRow);
    if (kErasedByte != 0xFF)
      for (uint32_t& w : row) w = ~w;
    if (Cy_Flash_ProgramRow(static_cast<uint32_t>(a.base + off + o), row) != CY_FLASH_DRV_SUCCESS) return -1;
  }
  return 0;
}

int read(void* ctx, uint32_t off, void* data, uint32_t len) {
  const Area& a = *static_cast<const Area*>(ctx);
  memcpy(data, reinterpret_cast<const void*>(a.base + off), len);
  if (kErasedByte != 0xFF)
    for (uint32_t i = 0; i < len; ++i) static_cast<uint8_t*>(data)[i] ^= 0xFF;
  return 0;
}

}  // namespace psoc6

// Usage: 16 rows (8 KiB: two slots of 4 KiB) at the top of a 2 MiB application flash
// (CY8C624ABZI: 0x10000000..0x101FFFFF); reserve them in the linker script.
static const psoc6::Area kArea{0x10000000u + 0x200000u - 16u * psoc6::kRow, 16u * psoc6::kRow};
extern "C" const tinyodlc::StoragePort* psoc6_learned_state_port() {
  static const tinyodlc::StoragePort port{const_cast<psoc6::Area*>(&kArea), kArea.size, psoc6::kRow, psoc6::kRow,
                                          psoc6::erase, psoc6::program, psoc6::read};
  return &port;
}
