// Drop-in firmware layouts of a compilation (`tinyodlc compile --emit cmake|arduino|modustoolbox`,
// issue 17): build files next to the generated sources, rendered from templates/firmware/.
//   cmake         CMakeLists.txt: target tinyodlc::<name> (C++17, -ffp-contract=off) and
//                 tinyodlc_<name>_link_script(TARGET SCRIPT) putting -L before -T;
//   arduino       arduino/tinyodlc_<name>/: an Arduino library (library.properties, src/ with a
//                 copy of the sources, examples/<name>_invoke[, <name>_train], extras/ reports);
//   modustoolbox  <name>.mk: SOURCES/INCLUDES/CXXFLAGS/DEFINES/LDFLAGS for a ModusToolbox app.
#pragma once

#include <string>
#include <vector>

#include "backends/cpp_emitter.h"
#include "ir/graph.h"

namespace tinyodlc::backends {

struct FirmwareLayoutInput {
  std::string name;                          // model identifier (namespace, file names)
  std::string target;                        // target name ("host", "psoc62s2", ...)
  std::string core;                          // "cortex-m4", "cortex-m7", "host"
  const ir::Graph* graph = nullptr;          // inference graph (example buffers)
  const ir::Graph* training_graph = nullptr; // training step or null
  const std::vector<GeneratedFile>* files = nullptr;  // the compilation's files
  size_t weight_bytes = 0;
  size_t ram_bytes = 0;                      // arena(s) + persistent state
};

// The known layout kinds, in the order of --help.
const std::vector<std::string>& firmware_layout_kinds();

// The files of layout `kind` (paths relative to the output folder). Throws CompileError for
// an unknown kind.
std::vector<GeneratedFile> firmware_layout_files(const std::string& kind, const FirmwareLayoutInput& in);

}  // namespace tinyodlc::backends
