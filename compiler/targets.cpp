// Built-in targets. (To be replaced by data files in targets/*.json.)
#include "compiler/targets.h"

#include <fmt/format.h>

#include "ir/graph.h"

namespace tinyodlc {

namespace {
const std::vector<std::string> kM4 = {"-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"};
const std::vector<std::string> kM7 = {"-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-d16"};

const std::vector<Target>& builtin() {
  static const std::vector<Target> t = {
      {"host", "the machine running tinyodlc (tests, simulation)", "host", {}, "", {}},
      {"cortex-m4", "generic Cortex-M4F (QEMU mps2-an386)", "cortex-m4", kM4, "mps2-an386",
       {{"FLASH", "flash", 0x00000000, 4u << 20, 0}, {"RAM", "ram", 0x20000000, 4u << 20, 1}}},
      {"cortex-m7", "generic Cortex-M7 with double-precision FPU (QEMU mps2-an500)", "cortex-m7", kM7, "mps2-an500",
       {{"FLASH", "flash", 0x00000000, 4u << 20, 0}, {"RAM", "ram", 0x20000000, 4u << 20, 1}}},
      {"psoc62s2", "Infineon PSoC 62S2 (CY8C624ABZI-S2D44), Cortex-M4F core", "cortex-m4", kM4, "mps2-an386",
       {{"FLASH", "flash", 0x10000000, 2u << 20, 0}, {"SRAM", "ram", 0x08000000, 1u << 20, 1}}},
      {"nicla-vision", "Arduino Nicla Vision (STM32H747), Cortex-M7 core", "cortex-m7", kM7, "mps2-an500",
       {{"FLASH", "flash", 0x08000000, 1u << 20, 0},
        {"DTCM", "ram", 0x20000000, 128u << 10, 3},
        {"AXISRAM", "ram", 0x24000000, 512u << 10, 2},
        {"SRAM123", "ram", 0x30000000, 288u << 10, 1},
        {"SRAM4", "ram", 0x38000000, 64u << 10, 1}}},
  };
  return t;
}
}  // namespace

const MemoryRegion* Target::region(const std::string& n) const {
  for (const auto& r : regions)
    if (r.name == n) return &r;
  return nullptr;
}

const Target& find_target(const std::string& name) {
  for (const auto& t : builtin())
    if (t.name == name) return t;
  throw ir::CompileError("", fmt::format("unknown target '{}' (available: {})", name, fmt::join(target_names(), ", ")));
}

std::vector<std::string> target_names() {
  std::vector<std::string> r;
  for (const auto& t : builtin()) r.push_back(t.name);
  return r;
}

Target load_target_file(const std::string& path) {
  throw ir::CompileError("", fmt::format("--target-file {}: not implemented yet", path));
}

}  // namespace tinyodlc
