// Enrolment glue (docs/enrolment.md): <name>_enrol.h/.cpp with enrol / prototype / score /
// verify / identify / thresholds over the model's embedding output, on the prototype store of
// runtime/tinyodlc/runtime/prototypes.h.
#pragma once

#include <string>
#include <vector>

#include "backends/cpp_emitter.h"
#include "ir/graph.h"

namespace tinyodlc::backends {

struct EnrolOptions {
  std::string name;    // the model's namespace
  std::string source;  // model file name, for the header comment
  std::string output;  // the embedding: a float graph output
  int classes = 1;
  float threshold = 0.5f;
};

// Throws CompileError naming the tensor if it is not a float graph output.
std::vector<GeneratedFile> emit_enrol_glue(const ir::Graph& g, const EnrolOptions& o);
// Index of the embedding among the graph outputs (checked as above).
size_t embedding_output(const ir::Graph& g, const std::string& name);
// What EmitOptions::enrol needs (classes, dim, embedding, RAM of the store and the glue's output
// buffers); validates the options like emit_enrol_glue.
EmitOptions::Enrol enrol_emit_options(const ir::Graph& g, const EnrolOptions& o);

}  // namespace tinyodlc::backends
