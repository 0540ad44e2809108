#include "compiler/target_run.h"

#include "compiler/output_dir.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <regex>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>

#include "support/embedded.h"
#include "support/process.h"
#include "frontend/tensor_proto.h"
#include "ir/graph.h"

namespace tinyodlc {

namespace fs = std::filesystem;

namespace {

constexpr const char* kModelObject = "tinyodlc_model.o";
// QEMU's MPS2 boards (AN386, AN500): 4 MB of code memory at 0, 4 MB of SRAM at 0x20000000.
constexpr uint64_t kQemuFlashBase = 0x00000000, kQemuFlashSize = 4u << 20;
constexpr uint64_t kQemuRamBase = 0x20000000, kQemuRamSize = 4u << 20;
constexpr uint64_t kStackMin = 8u << 10;  // stack reserved at least, default

std::string ident(const std::string& s) {
  std::string r;
  for (char c : s) r += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return r;
}

std::string tool(const char* env, const std::string& dflt) {
  const char* v = std::getenv(env);
  return v && *v ? std::string(v) : dflt;
}

std::string arm_prefix() { return tool("TINYODLC_ARM_PREFIX", "arm-none-eabi-"); }

std::string cmdline(const std::vector<std::string>& cmd) {
  std::string line;
  for (const auto& a : cmd) line += (line.empty() ? "" : " ") + shell_quote(a);
  return line;
}

ProcessResult run_tool(const std::vector<std::string>& cmd, const RunOptions& ropts, int timeout) {
  if (ropts.verbose) std::cerr << "tinyodlc: " << cmdline(cmd) << "\n";
  return run_process(cmd, timeout);
}

// Build steps get at least kBuildTimeout seconds; ropts.timeout_seconds limits the QEMU run.
constexpr int kBuildTimeout = 600;
int build_timeout(const RunOptions& ropts) { return std::max(ropts.timeout_seconds, kBuildTimeout); }

std::string must_run(const std::vector<std::string>& cmd, const RunOptions& ropts, const std::string& what) {
  ProcessResult r = run_tool(cmd, ropts, build_timeout(ropts));
  if (r.exit_code != 0)
    throw std::runtime_error(fmt::format("{} failed (exit {}): {}\n{}", what, r.exit_code, cmdline(cmd), r.output));
  return r.output;
}

void write_file(const fs::path& p, const std::string& text) {
  std::ofstream f(p, std::ios::binary);
  f << text;
  if (!f) throw std::runtime_error("cannot write " + p.string());
}

std::string read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) throw std::runtime_error("cannot read " + p.string());
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

// Where the target's regions live in QEMU's memory map.
struct Placement {
  const MemoryRegion* region;
  uint64_t origin;
};

struct Layout {
  Placement flash;
  std::vector<Placement> rams;  // rams[0] is the main RAM (.data, .bss, stack)
};

Layout place_regions(const Target& t, const std::string& main_ram) {
  Layout l{{nullptr, 0}, {}};
  std::vector<const MemoryRegion*> rams;
  for (const auto& r : t.regions) {
    if (r.kind == "flash" && (!l.flash.region || r.size > l.flash.region->size)) l.flash.region = &r;
    if (r.kind == "ram" && r.size > 0) rams.push_back(&r);
  }
  if (!l.flash.region) throw ir::CompileError("", fmt::format("target '{}' has no flash region", t.name));
  if (rams.empty()) throw ir::CompileError("", fmt::format("target '{}' has no RAM region", t.name));
  if (l.flash.region->size > kQemuFlashSize)
    throw ir::CompileError("", fmt::format("target '{}': flash region {} ({} bytes) is larger than the {} bytes QEMU's "
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
      throw ir::CompileError("", fmt::format("target '{}': its RAM regions ({} and more) do not fit in the {} bytes of "
                                             "SRAM of QEMU's {} board",
                                             t.name, r->name, kQemuRamSize, t.qemu_machine));
    l.rams.push_back({r, at});
    at += (r->size + 0xFFF) & ~uint64_t{0xFFF};
  }
  return l;
}

std::string model_part(const std::string& sec, const std::string& patterns) {
  return fmt::format("    __tod_model_{0}_start = .;\n    *{1}({2})\n    __tod_model_{0}_end = .;\n", sec, kModelObject,
                     patterns);
}

}  // namespace

std::string target_linker_script(const Target& target, const std::string& main_ram) {
  Layout l = place_regions(target, main_ram);
  const std::string main = ident(l.rams[0].region->name);
  std::string s = fmt::format(
      "/* Generated by tinyodlc {} for target '{}' ({}). Do not edit.\n"
      " * Regions are sized to the board's budget and placed in QEMU's {} memory map\n"
      " * (real addresses in the comments). The first RAM region holds .data, .bss and the stack;\n"
      " * another RAM region R takes the sections .bss.tinyodlc.<model>.R, .tinyodlc.R and .tinyodlc.R.* */\n",
      TINYODLC_VERSION, target.name, target.description, target.qemu_machine);
  s += "MEMORY\n{\n";
  auto mem_line = [&](const Placement& p, const char* attrs) {
    s += fmt::format("  {:<10} ({}) : ORIGIN = 0x{:08x}, LENGTH = {}  /* real: 0x{:08x} */\n", ident(p.region->name),
                     attrs, p.origin, p.region->size, p.region->base);
  };
  mem_line(l.flash, "rx");
  for (const auto& p : l.rams) mem_line(p, "rwx");
  s += "}\n\n";
  s += fmt::format("PROVIDE(__stack_min = {});\nENTRY(Reset_Handler)\n\nSECTIONS\n{{\n", kStackMin);
  const std::string flash = ident(l.flash.region->name);
  s += fmt::format("  .isr_vector : {{ KEEP(*(.isr_vector)) }} > {}\n", flash);
  s += "  .text : {\n    . = ALIGN(4);\n" + model_part("text", ".text .text.*") +
       "    *(.text .text.* .gnu.linkonce.t.*)\n    *(.glue_7) *(.glue_7t) *(.vfp11_veneer) *(.v4_bx)\n"
       "    KEEP(*(.init)) KEEP(*(.fini))\n  } > " + flash + "\n";
  s += "  .rodata : {\n    . = ALIGN(4);\n" + model_part("rodata", ".rodata .rodata.*") +
       "    *(.rodata .rodata.* .gnu.linkonce.r.*)\n    . = ALIGN(4);\n  } > " + flash + "\n";
  s += fmt::format("  .ARM.extab : {{ *(.ARM.extab* .gnu.linkonce.armextab.*) }} > {}\n", flash);
  s += fmt::format("  .ARM.exidx : {{ __exidx_start = .; *(.ARM.exidx* .gnu.linkonce.armexidx.*) __exidx_end = .; }} > {}\n",
                   flash);
  s += "  .init_array : {\n    . = ALIGN(4);\n"
       "    PROVIDE_HIDDEN(__preinit_array_start = .); KEEP(*(.preinit_array)) PROVIDE_HIDDEN(__preinit_array_end = .);\n"
       "    PROVIDE_HIDDEN(__init_array_start = .); KEEP(*(SORT(.init_array.*))) KEEP(*(.init_array))\n"
       "    PROVIDE_HIDDEN(__init_array_end = .);\n"
       "    PROVIDE_HIDDEN(__fini_array_start = .); KEEP(*(SORT(.fini_array.*))) KEEP(*(.fini_array))\n"
       "    PROVIDE_HIDDEN(__fini_array_end = .);\n  } > " + flash + "\n";
  // Table of {start, end} address pairs the startup code zeroes.
  s += "  .zero_table : {\n    . = ALIGN(4);\n    __zero_table_start = .;\n"
       "    LONG(ADDR(.bss)) LONG(ADDR(.bss) + SIZEOF(.bss))\n";
  for (size_t i = 1; i < l.rams.size(); ++i) {
    std::string r = ident(l.rams[i].region->name);
    s += fmt::format("    LONG(ADDR(.tinyodlc_{0})) LONG(ADDR(.tinyodlc_{0}) + SIZEOF(.tinyodlc_{0}))\n", r);
  }
  s += "    __zero_table_end = .;\n  } > " + flash + "\n";
  // Extra RAM regions first: the first matching rule wins, and the generic .bss rule would
  // otherwise take the model's per-region arenas (.bss.tinyodlc.<model>.<REGION>).
  for (size_t i = 1; i < l.rams.size(); ++i) {
    std::string r = ident(l.rams[i].region->name);
    std::string pats = fmt::format(".bss.tinyodlc.*.{0} .tinyodlc.{0} .tinyodlc.{0}.*", r);
    s += fmt::format("  .tinyodlc_{0} (NOLOAD) : {{\n    . = ALIGN(16);\n", r) + model_part("r_" + r, pats) +
         fmt::format("    *({0})\n    . = ALIGN(4);\n  }} > {1}\n", pats, r);
  }
  s += "  .data : {\n    . = ALIGN(4);\n    __data_start = .;\n" + model_part("data", ".data .data.*") +
       "    *(.data .data.* .gnu.linkonce.d.*)\n    . = ALIGN(4);\n    __data_end = .;\n  } > " + main + " AT> " +
       flash + "\n  __data_load = LOADADDR(.data);\n";
  s += "  .bss (NOLOAD) : {\n    . = ALIGN(16);\n    __bss_start__ = .;\n" +
       model_part("bss", fmt::format(".bss .bss.* COMMON .tinyodlc.{0} .tinyodlc.{0}.*", main)) +
       fmt::format("    *(.bss .bss.* COMMON .gnu.linkonce.b.* .tinyodlc.{0} .tinyodlc.{0}.*)\n", main) +
       "    . = ALIGN(4);\n    __bss_end__ = .;\n  } > " + main + "\n";
  s += "  .stack (NOLOAD) : {\n    . = ALIGN(8);\n    __stack_limit = .;\n    PROVIDE(end = .);\n"
       "    . = . + __stack_min;\n  } > " + main + "\n";
  s += fmt::format("  __stack_top = ORIGIN({0}) + LENGTH({0});\n}}\n", main);
  return s;
}

namespace {

// Inserts a call of tinyodlc_perf_layer() before every layer of invoke() (the emitter
// writes "  // NAME (OP)" before each kernel call) and before the output copies.
std::string insert_layer_markers(const std::string& cpp, std::vector<std::string>& layers) {
  std::istringstream in(cpp);
  std::string line, out;
  bool in_invoke = false, outputs_marked = false;
  static const std::regex layer_re(R"(^  // (.*) \(([A-Za-z0-9_.]+)\)$)");
  out += "extern \"C\" void tinyodlc_perf_layer(void);\n";
  while (std::getline(in, line)) {
    if (line.rfind("int invoke(", 0) == 0) in_invoke = true;
    if (in_invoke && line == "}") in_invoke = false;
    std::smatch m;
    if (in_invoke && std::regex_match(line, m, layer_re)) {
      out += "  tinyodlc_perf_layer();\n";
      layers.push_back(m[1].str() + "\t" + m[2].str());
    } else if (in_invoke && !outputs_marked && line.rfind("  memcpy(", 0) == 0 &&
               line.find("// output") != std::string::npos) {
      out += "  tinyodlc_perf_layer();\n";
      layers.push_back("(output copies)\t");
      outputs_marked = true;
    }
    out += line + "\n";
  }
  return out;
}

struct Symbols {
  std::map<std::string, uint64_t> addr;
  uint64_t get(const std::string& n) const {
    auto it = addr.find(n);
    return it == addr.end() ? 0 : it->second;
  }
};

Symbols read_symbols(const std::string& elf, const RunOptions& ropts) {
  std::string out = must_run({arm_prefix() + "nm", elf}, ropts, "reading the symbols of " + elf);
  Symbols s;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string a, type, name;
    if (ls >> a >> type >> name) s.addr[name] = std::stoull(a, nullptr, 16);
  }
  return s;
}

struct ElfSection {
  std::string name;
  uint64_t size, vma, lma;
  bool alloc, load;
};

std::vector<ElfSection> read_sections(const std::string& elf, const RunOptions& ropts) {
  std::string out = must_run({arm_prefix() + "objdump", "-h", "-w", elf}, ropts, "reading the sections of " + elf);
  std::vector<ElfSection> r;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string idx, name, size, vma, lma, off, algn;
    if (!(ls >> idx >> name >> size >> vma >> lma >> off >> algn)) continue;
    if (idx.empty() || !std::isdigit(static_cast<unsigned char>(idx[0]))) continue;
    std::string flags;
    std::getline(ls, flags);
    r.push_back({name, std::stoull(size, nullptr, 16), std::stoull(vma, nullptr, 16), std::stoull(lma, nullptr, 16),
                 flags.find("ALLOC") != std::string::npos, flags.find("LOAD") != std::string::npos});
  }
  return r;
}

void measure_sizes(const std::string& elf, const Target& target, const RunOptions& ropts, TargetReport& rep) {
  Layout l = place_regions(target, rep.main_ram);
  Symbols sym = read_symbols(elf, ropts);
  std::vector<ElfSection> secs = read_sections(elf, ropts);
  auto sec_size = [&](const std::string& n) -> uint64_t {
    for (const auto& s : secs)
      if (s.name == n) return s.size;
    return 0;
  };
  auto model = [&](const std::string& k) {
    return sym.get("__tod_model_" + k + "_end") - sym.get("__tod_model_" + k + "_start");
  };
  uint64_t text_all = 0;
  for (const char* n : {".isr_vector", ".text", ".ARM.extab", ".ARM.exidx", ".init_array", ".zero_table"})
    text_all += sec_size(n);
  rep.text = {model("text"), text_all - model("text")};
  rep.rodata = {model("rodata"), sec_size(".rodata") - model("rodata")};
  rep.data = {model("data"), sec_size(".data") - model("data")};
  uint64_t bss_all = sec_size(".bss"), bss_model = model("bss");
  for (size_t i = 1; i < l.rams.size(); ++i) {
    std::string r = ident(l.rams[i].region->name);
    bss_all += sec_size(".tinyodlc_" + r);
    bss_model += model("r_" + r);
  }
  rep.bss = {bss_model, bss_all - bss_model};
  // Region use as linked: loadable contents by load address (flash), allocated sections by
  // run address (RAM); the stack reservation is reported separately.
  std::vector<Placement> all = {l.flash};
  all.insert(all.end(), l.rams.begin(), l.rams.end());
  rep.regions.clear();
  for (const auto& p : all) {
    RegionUse u{p.region->name, p.region->kind, 0, p.region->size};
    for (const auto& s : secs) {
      if (!s.alloc || s.name == ".stack") continue;
      bool is_flash = p.region == l.flash.region;
      uint64_t a = is_flash ? s.lma : s.vma;
      if (is_flash && !s.load) continue;
      if (a >= p.origin && a < p.origin + p.region->size) u.used += s.size;
    }
    rep.regions.push_back(u);
  }
}

// The QEMU plugin: $TINYODLC_QEMU_PLUGIN, else next to the tinyodlc binary.
std::string find_plugin() {
  std::string env = tool("TINYODLC_QEMU_PLUGIN", "");
  if (!env.empty()) return env;
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    fs::path p = self.parent_path() / "qemu_insn_plugin.so";
    if (fs::exists(p)) return p.string();
  }
  return "";
}

std::string qemu_escape(const std::string& s) {
  std::string r;
  for (char c : s) r += (c == ',') ? std::string(",,") : std::string(1, c);
  return r;
}

bool is_clang(const std::string& cxx) { return fs::path(cxx).filename().string().find("clang") != std::string::npos; }

std::string first_line(const std::string& s) {
  std::string r = s.substr(0, s.find('\n'));
  while (!r.empty() && std::isspace(static_cast<unsigned char>(r.back()))) r.pop_back();
  return r;
}

std::string size_line(const char* name, const SectionSizes& s) {
  return fmt::format("\"{}\": {{\"model\": {}, \"harness\": {}}}", name, s.model, s.harness);
}

}  // namespace

std::string target_report_json(const TargetReport& r) {
  std::string segs;
  for (size_t i = 0; i < r.segments.size(); ++i) segs += (i ? ", " : "") + std::to_string(r.segments[i]);
  std::string regions;
  for (size_t i = 0; i < r.regions.size(); ++i)
    regions += fmt::format("{}\n    {{\"name\": \"{}\", \"kind\": \"{}\", \"used\": {}, \"size\": {}}}", i ? "," : "",
                           r.regions[i].name, r.regions[i].kind, r.regions[i].used, r.regions[i].size);
  return fmt::format(
      "{{\n  \"target\": \"{}\",\n  \"core\": \"{}\",\n  \"qemu_machine\": \"{}\",\n  \"compiler\": \"{}\",\n"
      "  \"insns\": {},\n  \"marker_overhead_insns\": {},\n  \"layer_insns\": [{}],\n"
      "  \"stack_peak_bytes\": {},\n  \"model_stack_bytes\": {},\n  \"stack_reserved_bytes\": {},\n"
      "  \"sections\": {{\n    {},\n    {},\n    {},\n    {}\n  }},\n"
      "  \"main_ram\": \"{}\",\n  \"regions\": [{}\n  ],\n  \"qemu_seconds\": {:.3f},\n  \"measured\": \"{}\",\n"
      "  \"harness_stats\": {{{}}}\n}}\n",
      r.target, r.core, r.qemu_machine, r.compiler, r.insns ? std::to_string(*r.insns) : "null", r.marker_overhead,
      segs, r.stack_peak_bytes, r.model_stack_bytes, r.stack_reserved_bytes, size_line("text", r.text),
      size_line("rodata", r.rodata), size_line("data", r.data), size_line("bss", r.bss), r.main_ram, regions,
      r.seconds, r.stats.count("correct_before") ? "first training step (accumulate + apply_update)" : "invoke()",
      [&] {
        std::string o;
        for (const auto& [k, v] : r.stats) o += fmt::format("{}\"{}\": {}", o.empty() ? "" : ", ", k, v);
        return o;
      }());
}

namespace {

std::vector<uint8_t> read_bytes(const fs::path& p) {
  std::string s = read_file(p);
  return std::vector<uint8_t>(s.begin(), s.end());
}

// Sets of a folder (subfolders holding input_0.pb), in name order: each is (inputs, label).
std::vector<std::pair<std::vector<NamedTensor>, ir::TensorData>> load_labelled_sets(const std::string& dir) {
  std::vector<fs::path> sets;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory() && fs::exists(e.path() / "input_0.pb")) sets.push_back(e.path());
  std::sort(sets.begin(), sets.end());
  if (sets.empty()) throw ir::CompileError(dir, "no sets (subfolders with input_0.pb and label.pb)");
  std::vector<std::pair<std::vector<NamedTensor>, ir::TensorData>> r;
  for (const auto& p : sets) {
    if (!fs::exists(p / "label.pb")) throw ir::CompileError(p.string(), "no label.pb");
    r.push_back({load_tensor_files(p.string(), "input"), frontend::load_tensor_pb((p / "label.pb").string()).second});
  }
  return r;
}

// input_K.bin / label.bin (and eval_*) for the training harness.
void write_training_data(const Compilation& c, const std::vector<NamedTensor>& inputs, const RunOptions& ropts,
                         const fs::path& dir) {
  const ir::Graph& g = *c.graph;
  const ir::Value* lv = c.training_graph->inputs.back();
  auto check = [&](const std::vector<NamedTensor>& ins, const ir::TensorData& label, const std::string& where) {
    if (ins.size() != g.inputs.size())
      throw ir::CompileError(where, fmt::format("{} inputs, the model has {}", ins.size(), g.inputs.size()));
    for (size_t k = 0; k < ins.size(); ++k)
      if (ins[k].data.dtype != g.inputs[k]->dtype || ins[k].data.numel() != g.inputs[k]->numel())
        throw ir::CompileError(where, fmt::format("input {} holds {}{}, the model input is {}", k,
                                                  ir::dtype_name(ins[k].data.dtype), ir::shape_str(ins[k].data.shape),
                                                  g.inputs[k]->type_str()));
    if (label.dtype != lv->dtype || label.numel() != lv->numel())
      throw ir::CompileError(where, fmt::format("the label holds {}{}, the training step's '{}' is {}",
                                                ir::dtype_name(label.dtype), ir::shape_str(label.shape), lv->name,
                                                lv->type_str()));
  };
  auto write_split = [&](const std::vector<std::pair<std::vector<NamedTensor>, ir::TensorData>>& sets,
                         const std::string& prefix, const std::string& where) {
    for (size_t k = 0; k < g.inputs.size(); ++k) {
      std::string all;
      for (const auto& [ins, label] : sets) {
        check(ins, label, where);
        all.append(ins[k].data.bytes.begin(), ins[k].data.bytes.end());
      }
      write_file(dir / fmt::format("{}input_{}.bin", prefix, k), all);
    }
    std::string labels;
    for (const auto& s : sets) labels.append(s.second.bytes.begin(), s.second.bytes.end());
    write_file(dir / (prefix + "label.bin"), labels);
  };
  if (!ropts.train_data_dir.empty()) {
    write_split(load_labelled_sets(ropts.train_data_dir), "", ropts.train_data_dir);
  } else {
    if (ropts.label_file.empty())
      throw ir::CompileError("", fmt::format("a training run needs --label FILE.pb (the '{}' input of the training "
                                             "step: {}) or --train-data DIR", lv->name, lv->type_str()));
    write_split({{inputs, frontend::load_tensor_pb(ropts.label_file).second}}, "", ropts.label_file);
  }
  if (!ropts.eval_data_dir.empty()) write_split(load_labelled_sets(ropts.eval_data_dir), "eval_", ropts.eval_data_dir);
}

}  // namespace

std::vector<NamedTensor> run_on_target(const Compilation& c, const Target& target,
                                       const std::vector<NamedTensor>& inputs, const RunOptions& ropts,
                                       const std::string& build_dir) {
  TargetReport rep;
  return run_on_target(c, target, inputs, ropts, build_dir, TargetRunOptions{}, rep);
}

std::vector<NamedTensor> run_on_target(const Compilation& c, const Target& target,
                                       const std::vector<NamedTensor>& inputs, const RunOptions& ropts,
                                       const std::string& build_dir_in, const TargetRunOptions& topts,
                                       TargetReport& rep) {
  if (target.qemu_machine.empty())
    throw ir::CompileError("", fmt::format("target '{}' names no QEMU machine to run on", target.name));
  const ir::Graph& g = *c.graph;
  const fs::path dir = fs::absolute(build_dir_in);
  write_output_dir(dir.string(), c);
  rep = TargetReport{};
  rep.target = target.name;
  rep.core = target.core;
  rep.qemu_machine = target.qemu_machine;

  // The model source (with per-layer markers for bench).
  std::vector<std::string> layers;
  const fs::path model_cpp = dir / (c.name + ".cpp");
  if (topts.layer_markers) {
    fs::path marked = dir / (c.name + "_markers.cpp");
    write_file(marked, insert_layer_markers(read_file(model_cpp), layers));
  }
  // Runtime files and the per-model glue.
  const fs::path rt = dir / "tinyodlc_target";
  fs::create_directories(rt);
  const bool training = c.training_graph != nullptr;
  const char* harness = training ? "train_harness.cpp" : "harness.cpp";
  for (const char* f : {"tinyodlc_target.h", "harness_io.h", "startup.c", "semihost.c", harness})
    write_file(rt / f, std::string(embedded_file(std::string("harness/target/") + f)));
  uint64_t io_bytes = 0;
  for (const ir::Value* v : g.inputs) io_bytes += (v->nbytes() + 15) / 16 * 16;
  for (const ir::Value* v : g.outputs) io_bytes += (v->nbytes() + 15) / 16 * 16;
  write_file(rt / "tinyodlc_target_model.h",
             fmt::format("// Generated by tinyodlc: model glue for the target harness.\n#pragma once\n"
                         "#include \"{0}.h\"\nnamespace tinyodlc_model = {0};\n#define TINYODLC_IO_BYTES {1}u\n",
                         c.name, io_bytes));

  // Compile.
  const std::string pre = arm_prefix();
  std::string cxx = ropts.cxx.empty() ? pre + "g++" : ropts.cxx;
  rep.compiler = fs::path(cxx).filename().string();
  std::vector<std::string> cxxflags;
  if (is_clang(cxx)) {
    std::vector<std::string> q = {pre + "gcc"};
    q.insert(q.end(), target.cflags.begin(), target.cflags.end());
    q.push_back("-print-multi-directory");
    std::string multi = first_line(must_run(q, ropts, "querying the multilib folder"));
    std::string ver = first_line(must_run({pre + "gcc", "-dumpversion"}, ropts, "querying the GCC version"));
    std::string sysroot = tool("TINYODLC_ARM_SYSROOT", "/usr/lib/arm-none-eabi");
    cxxflags = {"--target=thumbv7em-none-eabihf", "--sysroot=" + sysroot, "-isystem",
                sysroot + "/include/c++/" + ver + "/arm-none-eabi/" + multi, "-fshort-enums"};
  }
  cxxflags.insert(cxxflags.end(), target.cflags.begin(), target.cflags.end());
  for (const char* f : {"-std=c++17", "-O2", "-ffunction-sections", "-fdata-sections", "-ffp-contract=off",
                        "-fno-exceptions", "-fno-rtti", "-fno-threadsafe-statics", "-Wall", "-Wextra", "-Werror"})
    cxxflags.push_back(f);
  if (!is_clang(cxx)) cxxflags.push_back("-Wno-psabi");
  cxxflags.insert(cxxflags.end(), {"-I", dir.string(), "-I", rt.string()});
  cxxflags.insert(cxxflags.end(), ropts.cxxflags.begin(), ropts.cxxflags.end());
  std::vector<std::string> cflags = {pre + "gcc"};
  cflags.insert(cflags.end(), target.cflags.begin(), target.cflags.end());
  for (const char* f : {"-std=c11", "-O2", "-ffunction-sections", "-fdata-sections", "-Wall", "-Wextra", "-Werror"})
    cflags.push_back(f);

  auto compile = [&](std::vector<std::string> cmd, const fs::path& src, const std::string& obj, const char* what) {
    cmd.insert(cmd.end(), {"-c", src.string(), "-o", (rt / obj).string()});
    ProcessResult r = run_tool(cmd, ropts, build_timeout(ropts));
    if (r.exit_code != 0)
      throw std::runtime_error(fmt::format("building {} for {} ({}) failed (exit {}):\n{}\n{}", what, target.name,
                                           target.core, r.exit_code, cmdline(cmd), r.output));
    return (rt / obj).string();
  };
  std::vector<std::string> cxxcmd = {cxx};
  cxxcmd.insert(cxxcmd.end(), cxxflags.begin(), cxxflags.end());
  std::vector<std::string> objs;
  objs.push_back(compile(cxxcmd, topts.layer_markers ? dir / (c.name + "_markers.cpp") : model_cpp, kModelObject,
                         "the generated code"));
  objs.push_back(compile(cxxcmd, rt / harness, "harness.o", "the target harness"));
  objs.push_back(compile(cflags, rt / "startup.c", "startup.o", "the startup code"));
  objs.push_back(compile(cflags, rt / "semihost.c", "semihost.o", "the semihosting runtime"));

  // The harness's RAM (.data, .bss with the I/O buffers, stack) goes to the RAM region with
  // the most room left by the model's arena parts (.bss.tinyodlc.<model>.<REGION>).
  {
    std::map<std::string, uint64_t> model_use;
    for (const auto& sec : read_sections(objs[0], ropts))
      for (const auto& r : target.regions)
        if (sec.name.size() > r.name.size() + 1 && sec.name.rfind(".bss.tinyodlc.", 0) == 0 &&
            sec.name.compare(sec.name.size() - r.name.size() - 1, std::string::npos, "." + ident(r.name)) == 0)
          model_use[r.name] += sec.size;
    uint64_t best = 0;
    rep.main_ram.clear();
    for (const auto& r : target.regions) {
      if (r.kind != "ram") continue;
      uint64_t used = model_use[r.name], free = r.size > used ? r.size - used : 0;
      if (rep.main_ram.empty() || free > best) {
        best = free;
        rep.main_ram = r.name;
      }
    }
  }
  write_file(rt / "target.ld", target_linker_script(target, rep.main_ram));

  // Link.
  const std::string elf = (rt / "app.elf").string();
  std::vector<std::string> link = {pre + "g++"};
  link.insert(link.end(), target.cflags.begin(), target.cflags.end());
  for (const char* f : {"-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs", "-Wl,--gc-sections",
                        "-Wl,-z,noexecstack"})
    link.push_back(f);
  link.insert(link.end(), {"-T", (rt / "target.ld").string(), "-Wl,-Map=" + (rt / "app.map").string()});
  link.insert(link.end(), objs.begin(), objs.end());
  link.insert(link.end(), {"-lm", "-o", elf});
  ProcessResult linked = run_tool(link, ropts, build_timeout(ropts));
  if (linked.exit_code != 0) {
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
  measure_sizes(elf, target, ropts, rep);

  // Inputs.
  for (const char* f : {"losses.bin", "grads.bin", "params.bin", "label.bin", "eval_label.bin"}) fs::remove(dir / f);
  for (size_t k = 0; k < inputs.size(); ++k) fs::remove(dir / fmt::format("eval_input_{}.bin", k));
  if (training) {
    write_training_data(c, inputs, ropts, dir);
  } else {
    for (size_t k = 0; k < inputs.size(); ++k)
      write_file(dir / fmt::format("input_{}.bin", k), std::string(inputs[k].data.bytes.begin(), inputs[k].data.bytes.end()));
  }
  for (size_t k = 0; k < g.outputs.size(); ++k) fs::remove(dir / fmt::format("output_{}.bin", k));
  fs::remove(dir / "target_stats.txt");
  fs::remove(dir / "insn_counts.txt");

  // Run.
  std::vector<std::string> qemu = {tool("TINYODLC_QEMU", "qemu-system-arm"), "-M", target.qemu_machine, "-nographic",
                                   "-monitor", "none", "-serial", "none", "-semihosting-config",
                                   "enable=on,target=native,arg=tinyodlc,arg=" + qemu_escape(dir.string()) +
                                       (training ? fmt::format(",arg={}", ropts.train_steps) : std::string())};
  std::string plugin = find_plugin();
  if (!plugin.empty()) {
    Symbols sym = read_symbols(elf, ropts);
    std::string arg = fmt::format("{},start=0x{:x},stop=0x{:x},out={}", qemu_escape(plugin),
                                  sym.get("tinyodlc_perf_begin"), sym.get("tinyodlc_perf_end"),
                                  qemu_escape((dir / "insn_counts.txt").string()));
    if (topts.layer_markers) arg += fmt::format(",layer=0x{:x}", sym.get("tinyodlc_perf_layer"));
    qemu.insert(qemu.end(), {"-plugin", arg});
  } else {
    std::cerr << "tinyodlc: warning: qemu_insn_plugin.so not found (set TINYODLC_QEMU_PLUGIN); no instruction counts\n";
  }
  qemu.insert(qemu.end(), {"-kernel", elf});
  {
    struct rlimit no_core {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);  // QEMU aborts on a CPU lockup; no core files
  }
  auto t0 = std::chrono::steady_clock::now();
  ProcessResult ran = run_tool(qemu, ropts, ropts.timeout_seconds);
  rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::string where = fmt::format("on {} ({}, qemu-system-arm -M {})", target.name, target.core,
                                        target.qemu_machine);
  if (ran.timed_out)
    throw std::runtime_error(fmt::format("the generated code {} did not finish within {} s (it hangs or is too slow); "
                                         "QEMU was stopped. Output:\n{}",
                                         where, ropts.timeout_seconds, ran.output));
  if (ran.exit_code != 0) {
    std::string why;
    switch (ran.exit_code) {
      case 100: why = "the CPU faulted"; break;
      case 101: why = "an unexpected interrupt was taken"; break;
      case 134: why = "QEMU aborted (CPU lockup: a fault with no usable handler, or a semihosting call without "
                      "-semihosting)"; break;
      case 2: why = "the harness could not read its inputs or write its outputs"; break;
      case 3: why = "invoke() returned an error"; break;
      default: why = "it exited with an error";
    }
    throw std::runtime_error(fmt::format("the generated code failed {}: {} (exit status {}). Output:\n{}", where, why,
                                         ran.exit_code, ran.output));
  }

  // Outputs and measurements.
  std::vector<NamedTensor> outputs;
  for (size_t k = 0; k < g.outputs.size(); ++k) {
    const ir::Value* v = g.outputs[k];
    NamedTensor t{v->name, ir::TensorData(v->dtype, v->shape)};
    std::string raw = read_file(dir / fmt::format("output_{}.bin", k));
    if (raw.size() != t.data.bytes.size())
      throw std::runtime_error(fmt::format("target output {} has {} bytes, expected {}", k, raw.size(),
                                           t.data.bytes.size()));
    std::copy(raw.begin(), raw.end(), t.data.bytes.begin());
    outputs.push_back(std::move(t));
  }
  {
    std::istringstream in(read_file(dir / "target_stats.txt"));
    std::string key;
    uint64_t v;
    while (in >> key >> v) {
      rep.stats[key] = v;
      if (key == "stack_peak_bytes") rep.stack_peak_bytes = v;
      if (key == "model_stack_bytes") rep.model_stack_bytes = v;
      if (key == "stack_reserved_bytes") rep.stack_reserved_bytes = v;
    }
  }
  if (!plugin.empty()) {
    std::istringstream in(read_file(dir / "insn_counts.txt"));
    std::string line;
    std::vector<uint64_t> regions;
    while (std::getline(in, line)) {
      std::istringstream ls(line);
      std::string w0, w2;
      unsigned k;
      if (!(ls >> w0) || w0 != "region" || !(ls >> k >> w2)) continue;
      if (w2 == "insns") {
        uint64_t n;
        ls >> n;
        regions.push_back(n);
      } else if (w2 == "segments" && k == 1) {
        uint64_t n;
        while (ls >> n) rep.segments.push_back(n);
      }
    }
    if (regions.size() != 2)
      throw std::runtime_error(fmt::format("the instruction counter saw {} marker regions, expected 2:\n{}",
                                           regions.size(), read_file(dir / "insn_counts.txt")));
    rep.marker_overhead = regions[0];
    rep.insns = regions[1] >= regions[0] ? regions[1] - regions[0] : 0;
    if (topts.layer_markers && rep.segments.size() != layers.size() + 1)
      throw std::runtime_error(fmt::format("the instruction counter saw {} layer segments, expected {}",
                                           rep.segments.size(), layers.size() + 1));
  }
  if (training && !ropts.outputs_dir.empty())
    write_training_outputs(c, ropts.outputs_dir, read_bytes(dir / "losses.bin"), read_bytes(dir / "grads.bin"),
                           read_bytes(dir / "params.bin"));
  std::string json = target_report_json(rep);
  write_file(dir / "target_run.json", json);
  if (!ropts.outputs_dir.empty()) {
    fs::create_directories(ropts.outputs_dir);
    write_file(fs::path(ropts.outputs_dir) / "target_run.json", json);
  }
  return outputs;
}

}  // namespace tinyodlc
