// Running generated code on a (simulated) microcontroller: cross-compile with
// arm-none-eabi-g++ for the target's core, link with a semihosting harness and a linker
// script sized to the board, run under qemu-system-arm.
#pragma once

#include <vector>

#include "compiler/driver.h"
#include "compiler/targets.h"

namespace tinyodlc {

// Builds `c` (already compiled for `target`) for the target and runs it on `inputs`
// (graph-input order). Returns the outputs in graph-output order. Throws
// std::runtime_error on build or run failure (with the tool's output).
std::vector<NamedTensor> run_on_target(const Compilation& c, const Target& target,
                                       const std::vector<NamedTensor>& inputs, const RunOptions& ropts,
                                       const std::string& build_dir);

}  // namespace tinyodlc
