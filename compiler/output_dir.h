// Writing a compilation's files into an output folder.
#pragma once

#include <string>

#include "compiler/driver.h"

namespace tinyodlc {

// Writes every generated file under `dir` (created if missing). Unchanged files are not
// rewritten, so that firmware builds stay incremental.
void write_output_dir(const std::string& dir, const Compilation& c);

}  // namespace tinyodlc
