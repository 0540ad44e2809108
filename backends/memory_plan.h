// Static memory planning: assigns every intermediate tensor (and kernel scratch buffer) an
// offset in an arena, reusing memory between buffers whose live ranges do not intersect.
//
// Steps (docs/memory.md):
//  1. buffers: one per non-aliased tensor; views share their input's buffer; an elementwise
//     node whose input 0 dies at that node writes in place (OpDef::inplace_ok); kernel
//     scratch (im2col, ...) is a buffer live during its node only;
//  2. live ranges over the schedule; the liveness lower bound (largest live set);
//  3. offsets: several strategies (greedy by size as in TFLM, best-fit, greedy by breadth,
//     then a local search over placement orders), keeping the lowest peak;
//  4. placement across the target's RAM regions (fastest region that fits; small buffers to
//     a faster region; splitting over regions when no single region fits). A plan that does
//     not fit throws FitError.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "ir/graph.h"

namespace tinyodlc::backends {

// How a value is stored in the generated code.
enum class Storage {
  Constant,     // const array in flash
  GraphInput,   // caller's input pointer
  GraphOutput,  // caller's output pointer (written by its producer)
  Arena,        // a buffer in the arena
  Alias,        // a view of another value's storage (elided Reshape/Squeeze/...)
  State,        // persistent training state (trainable parameter, gradient accumulator): not in the arena
};

struct Buffer {
  std::string name;
  size_t offset = 0;        // relative to the start of its region's arena
  size_t size = 0;
  int first = 0, last = 0;  // schedule indices of the live range (inclusive)
  std::vector<const ir::Value*> tensors;  // values sharing this buffer (root, aliases, in-place results)
  int scratch_of = -1;      // schedule index of the node whose scratch this is, or -1
  int region = 0;           // index into MemoryPlan::regions
};

// A memory region the planner may use (from the target description).
struct RegionSpec {
  std::string name;           // "DTCM"
  std::string kind = "ram";   // "ram" (arenas), "flash" (weights), "code" (unused)
  uint64_t base = 0;
  uint64_t capacity = 0;      // bytes available to tinyodlc (after reservations)
  uint64_t reserved = 0;      // bytes reserved for the rest of the firmware
  int speed = 0;              // higher is faster
  std::string linker_region;  // MEMORY name in the firmware's linker script
  std::string reserved_what;  // what `reserved` is made of ("Cortex-M0+ share 8192 B, ..."), for reports
};

struct PlanOptions {
  std::string target = "host";
  std::vector<RegionSpec> regions;  // empty: host, one unlimited arena
  bool hot_to_fastest = true;       // move small buffers to a faster region than the main one
  // --placement: "fast" moves small buffers to faster regions even when the split costs more
  // total RAM than the single-arena plan (the report states the cost); "compact" keeps that move
  // only when it costs no extra RAM, else one arena in the main region.
  std::string placement = "compact";
  int search_effort = 1;            // 0: greedy strategies only; 1: plus local search
};

// One arena: the part of a region that holds buffers.
struct RegionArena {
  std::string name;           // region name ("arena" on host)
  uint64_t base = 0;
  uint64_t capacity = 0;      // 0 = unlimited (host)
  uint64_t reserved = 0;
  size_t used = 0;            // arena bytes in this region
  int speed = 0;
  std::string linker_region;
  std::string reserved_what;  // RegionSpec::reserved_what
};

struct MemoryPlan {
  size_t arena_bytes = 0;     // sum of RegionArena::used
  size_t alignment = 16;
  std::vector<Buffer> buffers;
  std::unordered_map<const ir::Value*, Storage> storage;
  std::unordered_map<const ir::Value*, int> buffer_of;               // Arena values (incl. in-place results)
  std::unordered_map<const ir::Value*, const ir::Value*> alias_root;  // Alias values -> root
  std::vector<int> scratch_buffer;  // per schedule index: buffer index or -1
  // Nodes that execute no code (views whose output aliases the input).
  std::vector<bool> elided;
  // Schedule indices of nodes whose output 0 is written in place over input 0.
  std::vector<bool> inplace;

  std::string target = "host";
  std::vector<RegionArena> regions;  // arenas, at least one
  std::vector<std::string> schedule;  // node names in execution order
  size_t lower_bound = 0;   // liveness lower bound of a single arena (largest live set, aligned sizes)
  size_t single_arena_bytes = 0;  // best single-arena peak
  std::string placement;          // PlanOptions::placement used
  size_t split_bytes = 0;         // total of the multi-region split considered (0: none considered)
  size_t greedy_bytes = 0;  // single-arena peak of greedy-by-size (TFLM) for comparison
  std::string strategy;     // strategy that produced the single-arena offsets
  std::vector<size_t> live_bytes;  // per schedule step: bytes of the live buffers
};

// The model does not fit the target's memory (distinct CLI exit code).
class FitError : public ir::CompileError {
 public:
  using ir::CompileError::CompileError;
};

// True if the node is a view whose output can alias its input (not a graph output).
bool is_elided_view(const ir::Graph& g, const ir::Node& n);

// Plans the arena(s). `scratch_bytes[i]` is the scratch size of the i-th scheduled node.
// Throws FitError when the buffers do not fit the RAM regions of `opts`.
MemoryPlan plan_memory(const ir::Graph& g, const std::vector<size_t>& scratch_bytes, const PlanOptions& opts);
MemoryPlan plan_memory(const ir::Graph& g, const std::vector<size_t>& scratch_bytes);  // host

// Throws FitError when the weights do not fit the flash region(s) of `opts`.
void check_weights_fit(size_t weight_bytes, const PlanOptions& opts);

// Reserves `bytes` of persistent RAM (a training state, a streaming build's feature ring) in the
// largest RAM region before planning: that region's capacity for the arenas shrinks by `bytes`.
// Returns the region's name ("" on the host: no RAM region, unlimited). Throws FitError(where,
// "<what> does not fit the largest RAM region R (N bytes free)") when it does not fit.
std::string reserve_in_largest_ram(PlanOptions& mem, uint64_t bytes, const std::string& where,
                                   const std::string& what);

// ---- offset assignment (exposed for tests) ----------------------------------------------
struct Interval {
  size_t size = 0;
  int first = 0, last = 0;  // inclusive
};
struct Assignment {
  std::vector<size_t> offsets;
  size_t peak = 0;  // aligned end of the highest buffer
  std::string strategy;
};
// max over steps of the sum of the aligned sizes of the buffers live at that step.
size_t liveness_lower_bound(const std::vector<Interval>& bufs, size_t alignment);
// TFLM-style: largest first, each at the lowest aligned offset that fits.
Assignment assign_greedy_by_size(const std::vector<Interval>& bufs, size_t alignment);
// Best of all strategies (deterministic).
Assignment assign_offsets(const std::vector<Interval>& bufs, size_t alignment, int effort = 1);

}  // namespace tinyodlc::backends
