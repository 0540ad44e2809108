// Compilation targets: a board/core with its memory map. Targets are data (targets/*.json,
// embedded in the binary; schema in docs/targets.md); `tinyodlc targets` lists them,
// `--target NAME` selects one and `--target-file FILE` loads a user's own.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace tinyodlc {

struct Reservation {
  std::string what;   // "Cortex-M0+ share", "--reserve"
  uint64_t bytes = 0;
  // A default firmware reserve of the board ("firmware": true in the JSON): an assumption about
  // the rest of the firmware (stack, the core's data, a frame buffer) that --reserve REGION=BYTES
  // replaces. Hardware reservations (the other core's share) stay.
  bool firmware_default = false;
};

struct MemoryRegion {
  std::string name;   // "DTCM", "AXISRAM", "FLASH", ...
  std::string kind;   // "flash", "ram" (tensors may go here) or "code" (not used for data)
  uint64_t base = 0;  // real address on the chip
  uint64_t size = 0;  // bytes available to tinyodlc (after reservations)
  int speed = 0;      // relative access speed; higher is faster (TCM > SRAM > flash)
  uint64_t total = 0;                     // physical size of the region
  std::vector<Reservation> reserved;      // total - sum(reserved) == size
  std::string linker_region;              // MEMORY name in the firmware's linker script
  uint32_t erase_size = 0;                // flash erase unit in bytes (0: not stated)
  uint32_t program_size = 0;              // flash program unit in bytes (0: not stated)
  std::string note;
};

struct Target {
  std::string name;         // "nicla-vision"
  std::string description;
  std::string core;         // "host", "cortex-m4", "cortex-m7"
  std::vector<std::string> cflags;  // arm-none-eabi flags: -mcpu=... -mfpu=... -mfloat-abi=hard
  std::string qemu_machine;         // "mps2-an386" / "mps2-an500" (empty for host)
  std::string isa;                  // kernel variants ("armv7em", "none"); empty: from the core
  std::vector<MemoryRegion> regions;
  std::vector<std::string> aliases;  // other names find_target accepts
  std::string source;                // "targets/psoc62s2.json" or the --target-file path

  bool is_host() const { return core == "host"; }
  const MemoryRegion* region(const std::string& n) const;
};

// Looks up a built-in (or registered) target by name or alias; throws ir::CompileError
// listing the known names.
const Target& find_target(const std::string& name);
std::vector<std::string> target_names();
// Loads a target description from a JSON file (same schema as the built-in ones; may
// "extends" a built-in target and override some of its fields/regions).
Target load_target_file(const std::string& path);
// Parses a target description; `source` names it in error messages.
Target parse_target(const std::string& json_text, const std::string& source);
// Makes `t` findable by find_target (a --target-file target); replaces one of the same name.
const Target& register_target(Target t);
// Subtracts `--reserve REGION=BYTES` amounts (added to the target's own reservations).
// Throws ir::CompileError for an unknown region or a reservation larger than the region.
void apply_reservations(Target& t, const std::map<std::string, uint64_t>& reserve);
// Parses "512K", "1M", "0x2000", "8192" (bytes); throws std::invalid_argument.
uint64_t parse_bytes(const std::string& s);
// Human-readable listing for `tinyodlc targets`.
std::string describe_targets();

}  // namespace tinyodlc
