// Memory reports written next to the generated code: memory.json (machine-readable plan,
// schema in docs/memory.md), memory.md (per-region table, largest live sets), memory.svg
// (buffers as rectangles: x = schedule step, y = address) and, for targets with a memory
// map, <name>_sections.ld (linker-script fragment placing the arena sections).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "backends/cpp_emitter.h"
#include "ir/graph.h"
#include "backends/memory_plan.h"

namespace tinyodlc::backends {

// What a build keeps in RAM besides the inference plan (training builds): the training step's
// plan (the arena is sized for the larger of the two per region: kArenaBytes) and persistent
// blocks (parameters, gradients, optimizer state, ...), each in one region.
struct PersistentBlock {
  std::string name;    // "parameters", "gradients", "optimizer state", ...
  std::string region;  // region name ("arena" on host)
  size_t bytes = 0;
};
struct ReportExtras {
  // A second plan sharing the arena (the region's arena is the larger of the two, matched by
  // region name): the training step's plan, or the head of a streaming build (stream_head).
  const backends::MemoryPlan* training_plan = nullptr;
  bool stream_head = false;  // training_plan is a streaming build's head (the main plan: its backbone)
  // Other generated models whose sections this build's linker fragment collects too (a streaming
  // build: "<name>_frame" and "<name>_head": their weights and the head's training state).
  std::vector<std::string> section_parts;
  std::vector<PersistentBlock> persistent;
  // Learned state in plain .bss outside the arena sections (the enrolment prototype store):
  // memory.json "static_state", memory.md "Learned state outside the arenas".
  std::vector<PersistentBlock> static_state;
  // --persist-area: the storage area of save_state()/load_state() (not RAM: reported and given
  // to the linker as symbols + checks; the target's region was reduced by its size).
  const PersistArea* persist_area = nullptr;
  // Further byte counts of a feature, as top-level memory.json fields ("active_learning_bytes", ...).
  std::vector<std::pair<std::string, uint64_t>> byte_counts;
  uint64_t persist_needed = 0;      // bytes the two slots take
  size_t learned_state_bytes = 0;   // kLearnedStateBytes
  // The target's flash regions (weights go to the largest) and, once linked (`run --target`),
  // the bytes of the model's code and other read-only data besides the weights.
  std::vector<RegionSpec> flash;
  std::optional<uint64_t> code_bytes;
};

// C++ symbol of the arena in region `r` ("g_arena" on host).
std::string arena_symbol(const backends::MemoryPlan& plan, int r);
// Section name of that arena (empty on host: no section attribute).
std::string arena_section(const std::string& model, const backends::MemoryPlan& plan, int r);
// ".bss.tinyodlc.<model>.<REGION>": the section of model's RAM data in the named region.
std::string region_section(const std::string& model, const std::string& region);
// The symbol of an arena shared between models (--arena-symbol BASE) in a board region:
// BASE_<REGION> when one buffer per region is shared, else BASE.
std::string shared_arena_symbol(const std::string& base, const std::string& region, bool per_region);
// Section of the weights (empty on host).
std::string weights_section(const std::string& model, const backends::MemoryPlan& plan);

std::string memory_json(const ir::Graph& g, const backends::MemoryPlan& plan, size_t weight_bytes,
                        const ReportExtras& extras = {});
std::string memory_markdown(const ir::Graph& g, const backends::MemoryPlan& plan, const std::string& model,
                            size_t weight_bytes, const ReportExtras& extras = {});
// memory.svg: one panel per RAM region that holds something (x = schedule step with ticks,
// y = offset in the arena; the largest buffers labelled, the peak steps named, persistent
// blocks above the arena, a bar of the whole region with the budget line and the hatched
// firmware reserve), empty regions collapsed into one line, and a flash panel (weights, code).
// Every drawn quantity is also a data-* attribute, so tests compare it with memory.json.
std::string memory_svg(const backends::MemoryPlan& plan, const std::string& model, size_t weight_bytes,
                       const ReportExtras& extras = {});
std::string linker_fragment(const backends::MemoryPlan& plan, const std::string& model, size_t weight_bytes,
                            const std::string& flash_linker_region, const ReportExtras& extras = {});

// All of the above as output files.
std::vector<GeneratedFile> memory_report_files(const ir::Graph& g, const backends::MemoryPlan& plan,
                                               const std::string& model, size_t weight_bytes,
                                               const backends::PlanOptions& opts,
                                               const ReportExtras& extras = {});

}  // namespace tinyodlc::backends
