// The C++ backend: turns a compiled graph (after the pass pipeline) into standalone C++17
// sources: <name>.h (API), <name>.cpp (weights, kernel calls, arena) and the kernel headers
// the code includes (tinyodlc/ref/*.h).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "ir/graph.h"
#include "passes/memory_plan.h"

namespace tinyodlc::backends {

struct EmitOptions {
  std::string name = "model";  // C++ namespace and file stem; must be an identifier
  std::string source;          // model file name, for the header comment
  passes::PlanOptions memory;  // target memory regions for the memory plan (default: host)
};

struct GeneratedFile {
  std::string path;  // relative to the output folder
  std::string contents;
};

struct EmitResult {
  std::vector<GeneratedFile> files;
  passes::MemoryPlan plan;
  size_t weight_bytes = 0;
};

// Throws CompileError when the graph contains a node that cannot be lowered.
EmitResult emit_cpp(const ir::Graph& g, const EmitOptions& opts);

// The host test harness (reads raw inputs, runs invoke, writes raw outputs).
std::string emit_host_harness(const EmitOptions& opts);

// A C++ identifier derived from a tensor/model name ("conv1.weight" -> "conv1_weight").
std::string sanitize_identifier(const std::string& s);

}  // namespace tinyodlc::backends
