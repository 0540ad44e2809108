// Linking for a target run in QEMU: the target's memory regions placed in the memory map of
// QEMU's MPS2 boards, the linker script rendered from harness/target/app.ld.in, the link, and
// a precise "does not fit" error when a region overflows.
#include <regex>

#include <fmt/format.h>

#include "compiler/target_steps.h"
#include "support/error.h"
#include "support/template_engine.h"

namespace tinyodlc {

using namespace target_detail;

namespace {
// QEMU's MPS2 boards (AN386, AN500): 4 MB of code memory at 0, 4 MB of SRAM at 0x20000000.
constexpr uint64_t kQemuFlashBase = 0x00000000, kQemuFlashSize = 4u << 20;
constexpr uint64_t kQemuRamBase = 0x20000000, kQemuRamSize = 4u << 20;
}  // namespace

namespace target_detail {

Layout place_regions(const Target& t, const std::string& main_ram) {
  Layout l{{nullptr, 0}, {}};
  std::vector<const MemoryRegion*> rams;
  for (const auto& r : t.regions) {
    if (r.kind == "flash" && (!l.flash.region || r.size > l.flash.region->size)) l.flash.region = &r;
    if (r.kind == "ram" && r.size > 0) rams.push_back(&r);
  }
  if (!l.flash.region) throw CompileError("", fmt::format("target '{}' has no flash region", t.name));
  if (rams.empty()) throw CompileError("", fmt::format("target '{}' has no RAM region", t.name));
  if (l.flash.region->size > kQemuFlashSize)
    throw CompileError("", fmt::format("target '{}': flash region {} ({} bytes) is larger than the {} bytes QEMU's "
                                       "{} board provides",
                                       t.name, l.flash.region->name, l.flash.region->size, kQemuFlashSize,
                                       t.qemu_machine));
  l.flash.origin = kQemuFlashBase;
  // The main RAM region (.data, .bss, stack) first: `main_ram`, else the largest (first one
  // on ties); then the others, largest first.
  std::stable_sort(rams.begin(), rams.end(), [&](const MemoryRegion* a, const MemoryRegion* b) {
    if ((a->name == main_ram) != (b->name == main_ram)) return a->name == main_ram;
    return a->size > b->size;
  });
  uint64_t at = kQemuRamBase;
  for (const MemoryRegion* r : rams) {
    if (at + r->size > kQemuRamBase + kQemuRamSize)
      throw CompileError("", fmt::format("target '{}': its RAM regions ({} and more) do not fit in the {} bytes of "
                                         "SRAM of QEMU's {} board",
                                         t.name, r->name, kQemuRamSize, t.qemu_machine));
    l.rams.push_back({r, at});
    at += (r->size + 0xFFF) & ~uint64_t{0xFFF};
  }
  return l;
}

void link_program(const Compilation& c, const Target& target, const RunOptions& ropts, const fs::path& rt,
                  const std::vector<std::string>& objs, const std::string& main_ram, const std::string& elf) {
  write_file(rt / "target.ld", target_linker_script(target, main_ram));
  std::vector<std::string> link = {arm_prefix() + "g++"};
  link.insert(link.end(), target.cflags.begin(), target.cflags.end());
  for (const char* f : {"-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs", "-Wl,--gc-sections",
                        "-Wl,-z,noexecstack"})
    link.push_back(f);
  link.insert(link.end(), {"-T", (rt / "target.ld").string(), "-Wl,-Map=" + (rt / "app.map").string()});
  link.insert(link.end(), objs.begin(), objs.end());
  link.insert(link.end(), {"-lm", "-o", elf});
  ProcessResult linked = run_tool(link, ropts, build_timeout(ropts));
  if (linked.exit_code == 0) return;
  static const std::regex over_re(R"(region `([^']+)' overflowed by ([0-9]+) bytes)");
  std::string msg;
  for (std::sregex_iterator it(linked.output.begin(), linked.output.end(), over_re), end; it != end; ++it) {
    const MemoryRegion* r = nullptr;
    for (const auto& reg : target.regions)
      if (ident(reg.name) == (*it)[1].str()) r = &reg;
    msg += fmt::format("{}region {} ({} bytes) overflowed by {} bytes", msg.empty() ? "" : "; ", (*it)[1].str(),
                       r ? r->size : 0, (*it)[2].str());
  }
  if (!msg.empty())
    throw TargetDoesNotFit(fmt::format(
        "model '{}' does not fit target '{}': {} (weights {} bytes, arena {} bytes, plus harness and at least {} "
        "bytes of stack); linker output:\n{}",
        c.name, target.name, msg, c.emitted.weight_bytes, c.emitted.plan.arena_bytes, kStackMin, linked.output));
  throw std::runtime_error(fmt::format("linking for {} failed (exit {}):\n{}\n{}", target.name, linked.exit_code,
                                       cmdline(link), linked.output));
}

}  // namespace target_detail

std::string target_linker_script(const Target& target, const std::string& main_ram) {
  Layout l = place_regions(target, main_ram);
  std::map<std::string, std::string> v = {{"version", TINYODLC_VERSION},
                                          {"target", target.name},
                                          {"description", target.description},
                                          {"qemu_machine", target.qemu_machine},
                                          {"stack_min", std::to_string(kStackMin)},
                                          {"model_object", kModelObjects},
                                          {"flash", ident(l.flash.region->name)},
                                          {"main", ident(l.rams[0].region->name)}};
  auto mem_line = [](const Placement& p, const char* attrs) {
    return fmt::format("  {:<10} ({}) : ORIGIN = 0x{:08x}, LENGTH = {}  /* real: 0x{:08x} */\n",
                       ident(p.region->name), attrs, p.origin, p.region->size, p.region->base);
  };
  v["memory"] = mem_line(l.flash, "rx");
  for (const auto& p : l.rams) v["memory"] += mem_line(p, "rwx");
  // Every RAM region but the main one: zeroed by the startup code (.zero_table), and placed
  // before .bss (the first matching rule wins, and the generic .bss rule would otherwise take
  // the model's per-region arenas .bss.tinyodlc.<model>.<REGION>).
  v["zero_table"] = v["extra_rams"] = "";
  for (size_t i = 1; i < l.rams.size(); ++i) {
    const std::string r = ident(l.rams[i].region->name);
    v["zero_table"] += fmt::format("    LONG(ADDR(.tinyodlc_{0})) LONG(ADDR(.tinyodlc_{0}) + SIZEOF(.tinyodlc_{0}))\n", r);
    v["extra_rams"] += render_embedded("harness/target/app_ram_region.ld.in",
                                       {{"region", r}, {"model_object", kModelObjects}});
  }
  return render_embedded("harness/target/app.ld.in", v);
}

}  // namespace tinyodlc
