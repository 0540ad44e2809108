// Internal to the target runner (compiler/target_run.h): the steps of a run on a simulated
// microcontroller, one file each (docs/target.md):
//   target_tools.cpp    tool names, running them, files
//   target_link.cpp     placement of the target's regions in QEMU's memory map, the linker
//                       script (harness/target/app.ld.in), linking
//   target_build.cpp    the harness files, cross-compiling the model and the harness
//   qemu.cpp            running the program in qemu-system-arm with the instruction counter
//   target_measure.cpp  section sizes, region use, stack and instruction counts, target_run.json
//   target_run.cpp      run_on_target(): the steps in order, the run's input and output files
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "compiler/target_run.h"
#include "support/process.h"

namespace tinyodlc::target_detail {

namespace fs = std::filesystem;

constexpr const char* kModelObject = "tinyodlc_model.o";
// The linker script's pattern for the model's objects (a streaming build has three:
// tinyodlc_model.o, tinyodlc_model_frame.o, tinyodlc_model_head.o).
constexpr const char* kModelObjects = "tinyodlc_model*.o";
constexpr uint64_t kStackMin = 8u << 10;  // stack reserved at least, default

// ---- target_run.cpp
// input_K.bin / label.bin (the training sets or --label) and eval_* (--eval-data) in dir.
void write_training_data(const Compilation& c, const std::vector<NamedTensor>& inputs, const RunOptions& ropts,
                         const fs::path& dir);

// ---- target_tools.cpp
std::string ident(const std::string& s);                       // region name as a linker identifier
std::string tool(const char* env, const std::string& dflt);    // $env, else dflt
std::string arm_prefix();                                      // $TINYODLC_ARM_PREFIX or arm-none-eabi-
std::string cmdline(const std::vector<std::string>& cmd);
ProcessResult run_tool(const std::vector<std::string>& cmd, const RunOptions& ropts, int timeout);
int build_timeout(const RunOptions& ropts);  // build steps get at least 600 s
// Runs cmd; throws std::runtime_error with its output when it fails.
std::string must_run(const std::vector<std::string>& cmd, const RunOptions& ropts, const std::string& what);
void write_file(const fs::path& p, const std::string& text);
std::string read_file(const fs::path& p);
std::vector<uint8_t> read_bytes(const fs::path& p);
std::string first_line(const std::string& s);

// ---- target_link.cpp
struct Placement {
  const MemoryRegion* region;
  uint64_t origin;  // in QEMU's memory map
};
struct Layout {
  Placement flash;
  std::vector<Placement> rams;  // rams[0] is the main RAM (.data, .bss, stack)
};
Layout place_regions(const Target& t, const std::string& main_ram);
// Links objs into elf with the target's linker script; TargetDoesNotFit when a region overflows.
void link_program(const Compilation& c, const Target& target, const RunOptions& ropts, const fs::path& rt,
                  const std::vector<std::string>& objs, const std::string& main_ram, const std::string& elf);

// ---- target_build.cpp
// Writes the harness into rt and cross-compiles it and the model (with the per-layer profiling
// markers when `profile`); returns the object files, the model's first.
std::vector<std::string> compile_program(const Compilation& c, const Target& target, const RunOptions& ropts,
                                         const fs::path& dir, const fs::path& rt, bool profile, TargetReport& rep);
// The RAM region for the harness's .data, .bss and stack: the one the model's arenas (in the
// model's objects among objs) leave most room in.
std::string choose_main_ram(const Target& target, const RunOptions& ropts, const std::vector<std::string>& objs);

// ---- qemu.cpp
// Runs elf in QEMU (reading inputs from and writing outputs to dir); returns whether the
// instruction counter plugin was loaded. Throws with the program's output when it fails.
// Unless ropts.quiet, a run that takes longer than kProgressSeconds prints a progress line to
// stderr every kProgressSeconds (elapsed time; for training runs, the steps done of
// `total_steps`, counted from the growth of losses.bin).
constexpr int kProgressSeconds = 10;
bool run_in_qemu(const Target& target, const RunOptions& ropts, const fs::path& dir, const std::string& elf,
                 bool training, bool profile, TargetReport& rep, uint64_t total_steps = 0);

// ---- target_measure.cpp
struct Symbols {
  std::map<std::string, uint64_t> addr;
  uint64_t get(const std::string& n) const;
};
Symbols read_symbols(const std::string& elf, const RunOptions& ropts);
struct ElfSection {
  std::string name;
  uint64_t size, vma, lma;
  bool alloc, load;
};
std::vector<ElfSection> read_sections(const std::string& elf, const RunOptions& ropts);
// Section sizes (model / harness) and region use of the linked program.
void measure_sizes(const std::string& elf, const Target& target, const RunOptions& ropts, TargetReport& rep);
// The harness's target_stats.txt and the plugin's insn_counts.txt from dir; `markers` is the
// number of per-layer markers in the model (when profiled).
void read_measurements(const fs::path& dir, bool counted, bool profile, size_t markers, TargetReport& rep);

}  // namespace tinyodlc::target_detail
