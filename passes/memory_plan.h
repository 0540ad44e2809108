// Static memory planning: assigns every intermediate tensor (and kernel scratch buffer) an
// offset in one arena, reusing memory between tensors whose live ranges do not overlap.
#pragma once

#include <cstddef>
#include <string>
#include <unordered_map>
#include <vector>

#include "ir/graph.h"

namespace tinyodlc::passes {

// How a value is stored in the generated code.
enum class Storage {
  Constant,     // const array in flash
  GraphInput,   // caller's input pointer
  GraphOutput,  // caller's output pointer (written by its producer)
  Arena,        // a buffer in the arena
  Alias,        // a view of another value's storage (elided Reshape/Squeeze/...)
};

struct Buffer {
  std::string name;
  size_t offset = 0;
  size_t size = 0;
  int first = 0, last = 0;  // schedule indices of the live range (inclusive)
  std::vector<const ir::Value*> tensors;  // values sharing this buffer (the root and its aliases)
  int scratch_of = -1;      // schedule index of the node whose scratch this is, or -1
};

struct MemoryPlan {
  size_t arena_bytes = 0;
  size_t alignment = 16;
  std::vector<Buffer> buffers;
  std::unordered_map<const ir::Value*, Storage> storage;
  std::unordered_map<const ir::Value*, int> buffer_of;               // Arena values
  std::unordered_map<const ir::Value*, const ir::Value*> alias_root;  // Alias values -> root
  std::vector<int> scratch_buffer;  // per schedule index: buffer index or -1
  // Nodes that execute no code (views whose output aliases the input).
  std::vector<bool> elided;
};

// True if the node is a view whose output can alias its input (not a graph output).
bool is_elided_view(const ir::Graph& g, const ir::Node& n);

// Plans the arena. `scratch_bytes[i]` is the scratch size of the i-th scheduled node.
MemoryPlan plan_memory(const ir::Graph& g, const std::vector<size_t>& scratch_bytes);

}  // namespace tinyodlc::passes
