#include "compiler/output_dir.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

#include <fmt/format.h>

#include "backends/firmware_layout.h"

namespace tinyodlc {

namespace fs = std::filesystem;

namespace {

constexpr const char* kStageSuffix = ".tinyodlc-new";

std::string read_all(const fs::path& p, bool* ok) {
  std::ifstream f(p, std::ios::binary);
  *ok = static_cast<bool>(f);
  if (!f) return {};
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

// Writes `text` to `p` and flushes it to the disk; false (errno set) on any failure.
bool write_all(const fs::path& p, const std::string& text) {
  std::FILE* f = std::fopen(p.c_str(), "wb");
  if (!f) return false;
  bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  ok = std::fflush(f) == 0 && ok;
  ok = fsync(fileno(f)) == 0 && ok;
  const int saved = errno;
  ok = std::fclose(f) == 0 && ok;
  if (!ok && errno == 0) errno = saved ? saved : EIO;
  return ok;
}

// The files a previous compile wrote into `dir` (its manifest), relative paths.
std::set<std::string> previous_files(const fs::path& dir) {
  bool ok = false;
  std::string text = read_all(dir / kManifestName, &ok);
  std::set<std::string> r;
  size_t start = 0;
  while (ok && start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    // Only plain relative paths inside the folder (a hand-edited manifest cannot delete elsewhere).
    if (!line.empty() && line[0] != '#' && line[0] != '/' && line.find("..") == std::string::npos) r.insert(line);
    start = end + 1;
  }
  return r;
}

}  // namespace

void write_output_dir(const std::string& dir_name, const Compilation& c) {
  const fs::path dir(dir_name);
  std::vector<GeneratedFileRef> files;
  for (const auto& f : c.emitted.files) files.push_back({f.path, &f.contents});
  write_files_atomically(dir, files);
}

void add_firmware_layouts(Compilation& c, const std::vector<std::string>& kinds, const CompileOptions& opts) {
  if (kinds.empty()) return;
  const Target& t = find_target(opts.target);
  backends::FirmwareLayoutInput in;
  in.name = c.name;
  in.target = t.name;
  in.core = t.core;
  in.graph = c.graph.get();
  in.training_graph = c.training_graph.get();
  in.weight_bytes = c.emitted.weight_bytes;
  in.ram_bytes = std::max(c.emitted.plan.arena_bytes, c.emitted.training_plan.arena_bytes) + c.emitted.state_bytes;
  const std::vector<backends::GeneratedFile> files = c.emitted.files;  // the layouts copy/list these
  in.files = &files;
  std::set<std::string> done;
  for (const auto& k : kinds) {
    if (!done.insert(k).second) continue;
    for (auto& f : backends::firmware_layout_files(k, in)) c.emitted.files.push_back(std::move(f));
  }
}

void write_files_atomically(const fs::path& dir, const std::vector<GeneratedFileRef>& files_in) {
  std::vector<GeneratedFileRef> files = files_in;
  std::string manifest = fmt::format("# files written by tinyodlc {} (stale ones are removed by the next compile)\n",
                                     TINYODLC_VERSION);
  std::vector<std::string> names;
  for (const auto& f : files) names.push_back(f.path);
  std::sort(names.begin(), names.end());
  for (const auto& n : names) manifest += n + "\n";
  names.push_back(kManifestName);
  files.push_back({kManifestName, &manifest});

  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw std::runtime_error(fmt::format("cannot create folder {}: {}", dir.string(), ec.message()));
  const std::set<std::string> previous = previous_files(dir);

  // 1. Stage every changed file next to its final name. Unchanged files are not rewritten, so
  //    that firmware builds stay incremental. On any failure the staged files are removed and
  //    the folder is as it was.
  std::vector<fs::path> staged;
  auto unstage = [&staged]() {
    std::error_code ignore;
    for (const auto& p : staged) fs::remove(p.string() + kStageSuffix, ignore);
  };
  for (const auto& f : files) {
    const fs::path p = dir / f.path;
    bool had = false;
    if (read_all(p, &had) == *f.contents && had) continue;
    fs::create_directories(p.parent_path(), ec);
    if (ec) {
      unstage();
      throw std::runtime_error(fmt::format("cannot create folder {}: {}", p.parent_path().string(), ec.message()));
    }
    staged.push_back(p);
    if (!write_all(p.string() + kStageSuffix, *f.contents)) {
      const std::string why = std::strerror(errno);
      unstage();
      throw std::runtime_error(fmt::format("cannot write {}: {} (the output folder was left as it was)", p.string(), why));
    }
  }
  // 2. Move them into place (a rename within the folder: atomic per file, no partial file).
  for (const auto& p : staged) {
    if (std::rename((p.string() + kStageSuffix).c_str(), p.c_str()) != 0) {
      const std::string why = std::strerror(errno);
      unstage();
      throw std::runtime_error(fmt::format("cannot replace {}: {}", p.string(), why));
    }
  }
  // 3. Remove what the previous compile wrote and this one did not.
  const std::set<std::string> now(names.begin(), names.end());
  for (const auto& old : previous) {
    if (now.count(old)) continue;
    fs::path p = dir / old;
    fs::remove(p, ec);
    for (fs::path d = p.parent_path(); d != dir && fs::is_empty(d, ec) && !ec; d = d.parent_path()) fs::remove(d, ec);
  }
}

}  // namespace tinyodlc
