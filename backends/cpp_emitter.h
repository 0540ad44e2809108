// The C++ backend: turns a compiled graph (after the pass pipeline) into standalone C++17
// sources: <name>.h (API), <name>.cpp (weights, kernel calls, arena) and the kernel headers
// the code includes (tinyodlc/ref/*.h: only those). The implementation is split by job, see
// backends/emitter_state.h and docs/design.md "Backend".
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ir/graph.h"
#include "backends/memory_plan.h"

namespace tinyodlc::backends {

// Optimizer of the generated training step (docs/training.md).
struct OptimizerOptions {
  std::string kind = "sgd";  // sgd | momentum | adam
  float lr = 0.01f;
  float momentum = 0.9f;
  float weight_decay = 0.0f;
  float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;
  int batch = 1;             // train_step() applies the update every `batch` samples
};

// Active learning (docs/active-learning.md): candidate buffer, scores, budget over the training step.
struct ActiveLearningOptions {
  std::string strategy;      // "" = off; least-confidence | margin | entropy | hybrid | random
  int buffer = 8;            // candidates held (kAlBuffer)
  int budget = 16;           // labels until al_reset() (kAlBudget)
  std::string rv = "none";   // none | info | dual
  std::string store = "auto";  // auto | features | inputs
  uint32_t seed = 1;         // initial seed of the random strategy
  // Resolved by the driver: the trainable part's input when the buffer stores features (then
  // it is the last output of the inference graph, hidden from invoke(), and the training graph
  // starts at it); empty when the buffer stores the raw inputs.
  std::string feature;
  bool enabled() const { return !strategy.empty(); }
};

// --persist-area REGION:OFFSET:SIZE[:ERASE:PROGRAM] resolved against the target (compiler/driver):
// the flash (or RAM) area the firmware's StoragePort gives to save_state()/load_state().
struct PersistArea {
  std::string spec;            // as given on the command line (for messages and comments)
  std::string region;          // target region name ("FLASH")
  std::string linker_region;   // its MEMORY name in the firmware's linker script ("flash")
  uint64_t base = 0;           // absolute address of the area (region base + offset)
  uint64_t offset = 0, size = 0;
  uint32_t erase_size = 0, program_size = 0;  // flash units (target JSON or the spec)
  bool enabled() const { return size > 0; }
};

struct EmitOptions {
  std::string name = "model";  // C++ namespace and file stem; must be an identifier
  std::string source;          // model file name, for the header comment
  backends::PlanOptions memory;  // target memory regions for the memory plan (default: host)
  std::string isa;  // kernel variants to call (backends/kernel_variants.h); "" = reference kernels
  // On-device learning: the training-step graph (passes/autodiff.cpp) emitted next to the
  // inference graph; both share the trainable parameters (Value::State::Param, by name).
  const ir::Graph* training = nullptr;
  OptimizerOptions optimizer;
  ActiveLearningOptions active_learning;  // needs `training`
  std::string active_learning_output;     // the scored output (--loss-output; "" = the only output)
  // Per-layer profiling hooks: invoke() calls TINYODLC_PROFILE_LAYER(index, "node name")
  // before every kernel call (and before the output copies). The macro compiles to nothing
  // unless the including code defines it (the QEMU bench does: harness/target/profile.h);
  // EmitResult::profiled_nodes maps the indices to nodes.
  bool profile_layers = true;
  // Shared arena (--arena-symbol NAME, docs/enrolment.md "Several models in one firmware"): the
  // model does not define its arena; it uses the firmware's `extern "C" uint8_t NAME[]`, which
  // must hold kArenaBytes (of every model sharing it) and be 16-byte aligned. Models sharing an
  // arena must not run concurrently. The plan must use one RAM region.
  std::string arena_symbol;
  // With arena_symbol: one shared buffer per RAM region the plan uses, `NAME_<REGION>` (host:
  // NAME), so that a plan over several regions can be shared too (the streaming glue defines
  // them for its backbone and head, docs/streaming.md).
  bool arena_symbol_per_region = false;
  // --persist-area (backends/persist_emitter.h): checked against the learned state, reported,
  // and given to the firmware as kPersistArea* constants and linker symbols.
  PersistArea persist_area;
  // Enrolment (backends/enrol_emitter.h, --enrol-output): when classes > 0, the prototype store
  // of <name>_enrol.cpp (g_enrol_store) is registered as a learned-state block (saved by
  // save_state()), and its RAM plus the glue's output buffers are reserved in the plan.
  struct Enrol {
    int classes = 0;
    int64_t dim = 0;
    std::string embedding;  // the graph output, with its type, for the layout descriptor
    size_t ram_bytes = 0;   // store + output buffers of the glue
    float threshold = 0.5f;  // the compiled verify() threshold (learned state: reset_trainable() restores it)
    // > 0 (a training build with --loss cosine-prototype): the training graph's constant
    // 'loss.prototypes' ([D, K], scale * prototypes^T) is a RAM array filled from the store
    // before every training step, with this scale; classes without a sample give zero logits.
    float prototype_scale = 0.0f;
  } enrol;
};

struct GeneratedFile {
  std::string path;  // relative to the output folder
  std::string contents;
};

// One trainable parameter in the parameter / gradient blobs of the generated code.
struct TrainableSlot {
  std::string name;
  ir::Shape shape;
  size_t offset = 0;  // in floats
  size_t count = 0;
};

struct EmitResult {
  std::vector<GeneratedFile> files;
  backends::MemoryPlan plan;           // inference
  size_t weight_bytes = 0;
  // Training (when EmitOptions::training is set).
  backends::MemoryPlan training_plan;
  std::vector<TrainableSlot> trainable;
  size_t trainable_count = 0;        // floats per blob
  size_t state_bytes = 0;            // parameters + gradient accumulator + optimizer state
  size_t al_ram_bytes = 0;           // active learning: candidate buffer + offer output buffers
  size_t al_state_bytes = 0;         // of which the candidate buffer (learned state)
  // Per-layer profiling (EmitOptions::profile_layers): for marker index k, the index of its
  // node in the inference graph's nodes(), or -1 for the copies of the graph outputs.
  std::vector<int> profiled_nodes;
  // Enrolment builds: the RAM region the prototype store was reserved in ("" on host).
  std::string enrol_region;
  // memory.svg again with the bytes of the linked code in its flash panel (run --target); reads
  // the graph the plan was made for, so it is valid while that graph lives.
  std::function<std::string(std::optional<uint64_t> code_bytes)> memory_svg;
};

// Throws CompileError when the graph contains a node that cannot be lowered.
EmitResult emit_cpp(const ir::Graph& g, const EmitOptions& opts);

// The host test harness (reads raw inputs, runs invoke, writes raw outputs).
std::string emit_host_harness(const EmitOptions& opts);
// The host harness of a training build (runs invoke, then K training steps; see the template).
std::string emit_train_harness(const EmitOptions& opts);

// A C++ identifier derived from a tensor/model name ("conv1.weight" -> "conv1_weight").
std::string sanitize_identifier(const std::string& s);

}  // namespace tinyodlc::backends
