// Writing a compilation's files into an output folder, all or nothing.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "compiler/driver.h"

namespace tinyodlc {

// Lists the files of the last compile in an output folder; the next compile into the same
// folder removes those it does not write again (files not listed, e.g. the user's, stay).
constexpr const char* kManifestName = ".tinyodlc-files";

// Writes every generated file under `dir` (created if missing). Changed files are first
// written under a temporary name and flushed, then renamed into place once all are written,
// so that an error (e.g. a full disk) leaves the folder as it was and no file is ever
// half-written. Unchanged files are not rewritten (firmware builds stay incremental). Files
// of the previous compile (kManifestName) that this one does not produce are removed.
// Throws std::runtime_error naming the file on failure.
void write_output_dir(const std::string& dir, const Compilation& c);

// Adds the files of the firmware layouts `kinds` (`--emit cmake|arduino|modustoolbox`,
// backends/firmware_layout.h) to the compilation's files.
void add_firmware_layouts(Compilation& c, const std::vector<std::string>& kinds, const CompileOptions& opts);

struct GeneratedFileRef {
  std::string path;              // relative to the folder
  const std::string* contents;   // not owned
};
void write_files_atomically(const std::filesystem::path& dir, const std::vector<GeneratedFileRef>& files);

}  // namespace tinyodlc
