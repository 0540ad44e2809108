// Streaming glue (docs/streaming.md): the namespace <name> with push_frame / ready / infer /
// reset_stream / invoke over the feature ring, calling the per-frame backbone <name>_frame and
// the temporal head <name>_head, which are emitted as ordinary models (emit_cpp).
#pragma once

#include <string>
#include <vector>

#include "backends/cpp_emitter.h"
#include "backends/memory_plan.h"
#include "ir/graph.h"

namespace tinyodlc::backends {

struct StreamGlueOptions {
  std::string name;      // namespace of the glue (the model's name)
  std::string source;    // model file name, for the header comment
  std::string frame_ns;  // namespace of the backbone
  std::string head_ns;   // namespace of the head
  std::string input;     // the streamed input's name and type (for the documentation)
  std::string input_type;
  std::string feature;   // the feature value's name
  int frames = 0;
  // The shared arena (docs/streaming.md): the backbone and the head were emitted with
  // EmitOptions::arena_symbol = arena_symbol (per region); the glue defines one buffer per RAM
  // region, the larger of the two plans' use there. The ring goes to ring_region ("" on host).
  const MemoryPlan* frame_plan = nullptr;
  const MemoryPlan* head_plan = nullptr;
  std::string arena_symbol;
  std::string ring_region;
  // The head's training step (learning on the ring), or null.
  const ir::Graph* head_training = nullptr;
};

// Bytes of the shared arenas (the larger of the two plans' use in each region).
size_t stream_arena_bytes(const MemoryPlan& frame, const MemoryPlan& head);

// <name>.h and <name>.cpp, plus runtime/tinyodlc/runtime/feature_ring.h.
std::vector<GeneratedFile> emit_stream_glue(const ir::Graph& frame, const ir::Graph& head, const StreamGlueOptions& o);

}  // namespace tinyodlc::backends
