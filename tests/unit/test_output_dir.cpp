// Output folders are written all or nothing: staged files renamed into place, stale files of
// the previous compile removed, the user's own files kept, and the folder unchanged when a
// write fails (a full disk, simulated with RLIMIT_FSIZE).
#include <gtest/gtest.h>

#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "compiler/output_dir.h"

namespace fs = std::filesystem;
using tinyodlc::GeneratedFileRef;
using tinyodlc::write_files_atomically;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

struct TempFolder {
  fs::path path;
  explicit TempFolder(const std::string& name)
      : path(fs::temp_directory_path() / ("tinyodlc-test-" + name + "-" + std::to_string(getpid()))) {
    fs::remove_all(path);
  }
  ~TempFolder() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// Lists the folder (relative paths, sorted) with each file's contents.
std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> r;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) r[fs::relative(e.path(), dir).string()] = slurp(e.path());
  return r;
}

}  // namespace

TEST(OutputDir, RemovesStaleFilesKeepsUserFiles) {
  TempFolder t("outdir-stale");
  const std::string a = "model a", h = "header", k = "kernel";
  write_files_atomically(t.path, {{"a.cpp", &a}, {"a.h", &h}, {"tinyodlc/ref/conv.h", &k}});
  std::ofstream(t.path / "user_notes.txt") << "mine";
  const std::string b = "model b";
  write_files_atomically(t.path, {{"b.cpp", &b}, {"a.h", &h}});
  auto s = snapshot(t.path);
  EXPECT_EQ(s.count("a.cpp"), 0u) << "stale file of the previous compile kept";
  EXPECT_EQ(s.count("tinyodlc/ref/conv.h"), 0u);
  EXPECT_FALSE(fs::exists(t.path / "tinyodlc")) << "emptied folder kept";
  EXPECT_EQ(s.at("b.cpp"), b);
  EXPECT_EQ(s.at("a.h"), h);
  EXPECT_EQ(s.at("user_notes.txt"), "mine") << "a file tinyodlc did not write was removed";
}

TEST(OutputDir, UnchangedFilesAreNotRewritten) {
  TempFolder t("outdir-mtime");
  const std::string a = "same";
  write_files_atomically(t.path, {{"a.cpp", &a}});
  const auto before = fs::last_write_time(t.path / "a.cpp");
  const auto ino_before = fs::hard_link_count(t.path / "a.cpp");
  usleep(20000);
  write_files_atomically(t.path, {{"a.cpp", &a}});
  EXPECT_EQ(fs::last_write_time(t.path / "a.cpp"), before);
  EXPECT_EQ(fs::hard_link_count(t.path / "a.cpp"), ino_before);
}

TEST(OutputDir, FullDiskLeavesTheFolderAsItWas) {
  TempFolder t("outdir-full");
  const std::string small1 = "old 1", small2 = "old 2";
  write_files_atomically(t.path, {{"a.cpp", &small1}, {"b.h", &small2}});
  const auto before = snapshot(t.path);
  // A new compile whose second file does not fit: writes beyond 4 KiB fail (EFBIG), as on a
  // full disk. The first file's new version must not appear, nor any staged file.
  const std::string new1 = "new 1", big(64 * 1024, 'x');
  struct rlimit old_limit {};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit lim = old_limit;
  lim.rlim_cur = 4096;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &lim), 0);
  std::string error;
  try {
    write_files_atomically(t.path, {{"a.cpp", &new1}, {"b.h", &big}});
  } catch (const std::runtime_error& e) {
    error = e.what();
  }
  setrlimit(RLIMIT_FSIZE, &old_limit);
  std::signal(SIGXFSZ, old_handler);
  EXPECT_NE(error.find("b.h"), std::string::npos) << error;
  EXPECT_NE(error.find("left as it was"), std::string::npos) << error;
  EXPECT_EQ(snapshot(t.path), before);
}

TEST(OutputDir, FolderThatCannotBeCreated) {
  TempFolder t("outdir-file");
  fs::create_directories(t.path);
  std::ofstream(t.path / "plain") << "a file where a folder should go";
  const std::string a = "x";
  EXPECT_THROW(write_files_atomically(t.path / "plain", {{"a.cpp", &a}}), std::runtime_error);
  EXPECT_EQ(slurp(t.path / "plain"), "a file where a folder should go");
}
