#include "compiler/output_dir.h"

#include <filesystem>
#include <fstream>
#include <iterator>

#include <fmt/format.h>

namespace tinyodlc {

namespace fs = std::filesystem;
using ir::CompileError;

void write_output_dir(const std::string& dir, const Compilation& c) {
  for (const auto& f : c.emitted.files) {
    fs::path p = fs::path(dir) / f.path;
    std::error_code ec;
    fs::create_directories(p.parent_path(), ec);
    if (ec) throw std::runtime_error(fmt::format("cannot create folder {}: {}", p.parent_path().string(), ec.message()));
    // Unchanged files are not rewritten, so that firmware builds stay incremental.
    {
      std::ifstream old(p, std::ios::binary);
      if (old) {
        std::string cur((std::istreambuf_iterator<char>(old)), std::istreambuf_iterator<char>());
        if (cur == f.contents) continue;
      }
    }
    std::ofstream out(p, std::ios::binary);
    out << f.contents;
    if (!out) throw std::runtime_error(fmt::format("cannot write {}", p.string()));
  }
}

}  // namespace tinyodlc
