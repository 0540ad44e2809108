// `tinyodlc bench`: instructions per inference and per MAC on a Cortex-M core (QEMU + the
// project's instruction-count plugin), per layer and in total. See docs/target.md.
#pragma once

#include <iosfwd>
#include <string>

#include "compiler/run.h"

namespace tinyodlc {

struct BenchOptions {
  std::string inputs_dir;  // optional: input_K.pb; default: deterministic pseudo-random inputs
  std::string json_path;   // optional: also write the table as JSON here
};

// Compiles the model for copts.target (a QEMU-backed core; default cortex-m4), runs it
// twice in QEMU (plain, for the exact total; with a marker before every layer, for the
// per-layer split) and prints a table to `out`. Returns 0. Throws like run_model.
int bench_model(const CompileOptions& copts, const RunOptions& ropts, const BenchOptions& bopts, std::ostream& out);

}  // namespace tinyodlc
