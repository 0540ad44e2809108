// RAM StoragePort (tests, or a battery-backed / retained RAM area): behaves like an ideal flash
// with the given erase and program units (erase sets 0xFF, program clears bits).
#ifndef TINYODLC_EXAMPLES_RAM_PORT_H
#define TINYODLC_EXAMPLES_RAM_PORT_H

#include <stdint.h>
#include <string.h>

#include "tinyodlc/runtime/storage.h"

namespace tinyodlc_examples {

struct RamArea {
  uint8_t* bytes;
  uint32_t size;
};

inline int ram_erase(void* ctx, uint32_t off, uint32_t len) {
  RamArea& a = *static_cast<RamArea*>(ctx);
  if (off > a.size || len > a.size - off) return -1;
  memset(a.bytes + off, 0xFF, len);
  return 0;
}
inline int ram_program(void* ctx, uint32_t off, const void* data, uint32_t len) {
  RamArea& a = *static_cast<RamArea*>(ctx);
  if (off > a.size || len > a.size - off) return -1;
  const uint8_t* d = static_cast<const uint8_t*>(data);
  for (uint32_t i = 0; i < len; ++i) a.bytes[off + i] &= d[i];
  return 0;
}
inline int ram_read(void* ctx, uint32_t off, void* data, uint32_t len) {
  RamArea& a = *static_cast<RamArea*>(ctx);
  if (off > a.size || len > a.size - off) return -1;
  memcpy(data, a.bytes + off, len);
  return 0;
}

// The area must outlive the port. erase_size and program_size: powers of two.
inline tinyodlc::StoragePort ram_port(RamArea& a, uint32_t erase_size = 256, uint32_t program_size = 4) {
  return tinyodlc::StoragePort{&a, a.size, erase_size, program_size, ram_erase, ram_program, ram_read};
}

}  // namespace tinyodlc_examples

#endif
