// Running generated code on a (simulated) microcontroller: cross-compile with
// arm-none-eabi-g++ (or clang++ --target=thumbv7em-none-eabihf) for the target's core, link
// with a semihosting harness (harness/target/) and a linker script sized to the board's
// memory regions (harness/target/app.ld.in), run under qemu-system-arm with the project's
// instruction-count plugin (tools/qemu_insn_plugin.c). See docs/target.md; the steps live in
// one file each (compiler/target_steps.h).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "compiler/run.h"
#include "compiler/targets.h"
#include "support/json.h"

namespace tinyodlc {

// Bytes of one kind of section, split into the model (the generated <name>.cpp with its
// inlined kernels) and everything else (harness, startup, libc).
struct SectionSizes {
  uint64_t model = 0;
  uint64_t harness = 0;
};

struct RegionUse {
  std::string name;   // target region name ("FLASH", "AXISRAM", ...)
  std::string kind;   // "flash" / "ram"
  uint64_t used = 0;  // bytes as linked (stack excluded)
  uint64_t size = 0;  // budget
};

struct TargetReport {
  std::string target, core, qemu_machine, compiler;
  // Instructions executed by invoke() (between the perf markers, marker overhead
  // subtracted); nullopt if the QEMU plugin was not available.
  std::optional<uint64_t> insns;
  uint64_t marker_overhead = 0;
  std::vector<uint64_t> segments;  // per-layer instruction counts when built with layer markers
  // Training runs: instructions of each round's training steps (incl. loading the samples and
  // the updates), marker overhead subtracted.
  std::vector<uint64_t> round_insns;
  // Streaming runs (--stream): instructions of every push_frame() and every infer(), in call
  // order, marker overhead subtracted.
  std::vector<uint64_t> push_insns, infer_insns;
  uint64_t stack_peak_bytes = 0;    // whole program, from the top of the stack
  uint64_t model_stack_bytes = 0;   // below the harness frame that calls invoke()
  uint64_t stack_reserved_bytes = 0;
  SectionSizes text, rodata, data, bss;
  std::vector<RegionUse> regions;
  std::string main_ram;  // region holding .data/.bss/stack
  double seconds = 0;    // wall time of the QEMU run
  std::map<std::string, uint64_t> stats;  // everything the harness wrote to target_stats.txt
};

struct TargetRunOptions {
  // Count instructions per layer (bench): the model is compiled with
  // harness/target/profile_layers.h, which turns the emitter's TINYODLC_PROFILE_LAYER markers
  // into tinyodlc_perf_layer() calls; segment k+1 is marker k (Compilation::emitted.profiled_nodes).
  bool layer_markers = false;
};

// Builds `c` (already compiled for `target`) for the target and runs it on `inputs`
// (graph-input order). Returns the outputs in graph-output order. Throws
// std::runtime_error on build or run failure (with the tool's output) and
// TargetDoesNotFit when the link fails for lack of memory. Writes target_run.json into
// ropts.outputs_dir (if set) and build_dir.
std::vector<NamedTensor> run_on_target(const Compilation& c, const Target& target,
                                       const std::vector<NamedTensor>& inputs, const RunOptions& ropts,
                                       const std::string& build_dir);

// The same, also returning the measurements.
std::vector<NamedTensor> run_on_target(const Compilation& c, const Target& target,
                                       const std::vector<NamedTensor>& inputs, const RunOptions& ropts,
                                       const std::string& build_dir, const TargetRunOptions& topts,
                                       TargetReport& report);

// The enrolment build (Compilation::enrol, docs/enrolment.md) on the target: enrols the samples
// `enrol` (each: the graph inputs) in class 0, runs the model on `inputs` and scores them
// against class 0 (harness/target/enrol_harness.cpp).
std::vector<NamedTensor> run_enrol_on_target(const Compilation& c, const Target& target,
                                             const std::vector<std::vector<ir::TensorData>>& enrol,
                                             const std::vector<NamedTensor>& inputs, const RunOptions& ropts,
                                             const std::string& build_dir, EnrolResult& result);

// The streaming build (Compilation::frame_graph, docs/streaming.md) on the target: pushes the
// frames of `clip` ([1, F, ...] along the time axis, F >= T) one by one and runs infer() after
// every frame from the T-th on (harness/target/stream_harness.cpp). Returns each head output of
// the F - T + 1 windows stacked on a new leading axis; `rep` gets the instructions of every
// push_frame() and infer().
std::vector<NamedTensor> run_stream_on_target(const Compilation& c, const Target& target, const ir::TensorData& clip,
                                              const RunOptions& ropts, const std::string& build_dir,
                                              TargetReport& rep);

// The linker script for `target` (regions placed in QEMU's MPS2 memory map; sizes from the
// target's budget). `main_ram` (a RAM region name; empty: the largest) takes .data, .bss and
// the stack; the model's object file is named tinyodlc_model.o.
std::string target_linker_script(const Target& target, const std::string& main_ram);

// What a run did, for the user (stdout of `run --target`; issue 17): inference: instructions of
// invoke(), stack, time; training: a row per round (mean loss, held-out accuracy, instructions
// per step; at most 12 rows) and a "run: done: ... -> ..." line. Reads losses.bin and
// round_correct.bin in build_dir.
void print_run_summary(const Compilation& c, const TargetReport& rep, const std::string& build_dir,
                       const std::string& outputs_dir, std::ostream& out);

// target_run.json text.
std::string target_report_json(const TargetReport& r);
// The same object, written into a larger document.
void write_target_report(json::Writer& w, const TargetReport& r);

class TargetDoesNotFit : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace tinyodlc
