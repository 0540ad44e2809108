// Compilation targets: a board/core with its memory map. Targets are data (targets/*.json,
// schema in docs/targets.md); `tinyodlc targets` lists them, `--target NAME` selects one and
// `--target-file FILE` loads a user's own.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tinyodlc {

struct MemoryRegion {
  std::string name;   // "DTCM", "AXISRAM", "FLASH", ...
  std::string kind;   // "flash" or "ram"
  uint64_t base = 0;  // real address on the chip
  uint64_t size = 0;  // bytes available to tinyodlc (after reservations)
  int speed = 0;      // relative access speed; higher is faster (TCM > SRAM > flash)
};

struct Target {
  std::string name;         // "nicla-vision"
  std::string description;
  std::string core;         // "host", "cortex-m4", "cortex-m7"
  std::vector<std::string> cflags;  // arm-none-eabi flags: -mcpu=... -mfpu=... -mfloat-abi=hard
  std::string qemu_machine;         // "mps2-an386" / "mps2-an500" (empty for host)
  std::vector<MemoryRegion> regions;

  bool is_host() const { return core == "host"; }
  const MemoryRegion* region(const std::string& n) const;
};

// Looks up a built-in target; throws ir::CompileError listing the known names.
const Target& find_target(const std::string& name);
std::vector<std::string> target_names();
// Loads a target description from a JSON file (same schema as the built-in ones).
Target load_target_file(const std::string& path);

}  // namespace tinyodlc
