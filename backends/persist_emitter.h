// Learned-state persistence of the generated code (docs/persistence.md): ONE registry of the
// blocks of state a model learns on the device, to which every feature adds its blocks
// (training: parameters, optimizer moments, step count, learning rate, weight decay; later
// enrolment prototypes/counts and active-learning buffers). From it the emitter generates
// save_state() / load_state() / kLearnedStateBytes (templates/persist.*.in), which call the
// runtime's storage engine (runtime/tinyodlc/runtime/storage.h) with the registry as a table.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "backends/cpp_emitter.h"

namespace tinyodlc::backends {

// One block of learned state in the generated .cpp.
struct LearnedBlock {
  std::string name;    // short name, kept in the generated table (diagnostics)
  std::string addr;    // C++ expression of its address in the generated .cpp ("g_params")
  size_t bytes = 0;    // a multiple of 4
  std::string layout;  // what the bytes mean (dtype, shape, parameter names): hashed
};

class LearnedStateRegistry {
 public:
  void add(LearnedBlock b);
  // Code the generated save/load run around the engine call: `prepare` before either (e.g.
  // initialize the state on first use), `after_load` once a state was restored, `reset`
  // when a restore failed half-way (restores the compiled initial state).
  void add_prepare(const std::string& code) { prepare_ += code; }
  void add_after_load(const std::string& code) { after_load_ += code; }
  void add_reset(const std::string& code) { reset_ += code; }

  bool empty() const { return blocks_.empty(); }
  const std::vector<LearnedBlock>& blocks() const { return blocks_; }
  size_t bytes() const;
  // The layout descriptor (one line per block) and its 32-bit FNV-1a hash: changes with the
  // set of blocks, their order, sizes and descriptors (names, shapes, dtypes, optimizer).
  std::string descriptor() const;
  uint32_t layout_hash() const;
  const std::string& prepare() const { return prepare_; }
  const std::string& after_load() const { return after_load_; }
  const std::string& reset() const { return reset_; }

 private:
  std::vector<LearnedBlock> blocks_;
  std::string prepare_, after_load_, reset_;
};

// Training's learned state (names of templates/training_state.cpp.in): the parameter blob
// (layout: every trainable parameter's name, shape, offset), the optimizer's moment blobs,
// the Adam/optimizer step count, learning rate and weight decay. The gradient accumulator is
// not learned state: a restore clears it (and the accumulated-sample count).
void add_training_state(LearnedStateRegistry& r, const std::vector<TrainableSlot>& params, size_t blob_floats,
                        const OptimizerOptions& opt);

// Bytes a two-slot storage area needs for `payload` bytes of learned state on a flash with
// these units (tinyodlc::storage::area_bytes of the runtime, the same formula).
uint64_t persist_area_needed(size_t payload, uint32_t erase_size, uint32_t program_size);

// Checks the area against the build's learned state (FitError when too small; CompileError when
// the build learns nothing) and appends kPersistArea* constants to vars["training_decls"].
void emit_persist_area(const LearnedStateRegistry& r, const PersistArea& a, const std::string& model_name,
                       std::map<std::string, std::string>& vars);

// When the registry is not empty: appends save_state()/load_state()/kLearnedStateBytes to
// vars["training_decls"] (header, namespace scope) and vars["training_defs"] (.cpp, after the
// state definitions), and the runtime header tinyodlc/runtime/storage.h to files.
void emit_persist(const LearnedStateRegistry& r, const std::string& model_name,
                  std::map<std::string, std::string>& vars, std::vector<GeneratedFile>& files);

}  // namespace tinyodlc::backends
