// Tools and files for the target runner (compiler/target_steps.h).
#include <cstdlib>
#include <fstream>
#include <iostream>

#include <fmt/format.h>

#include "compiler/target_steps.h"

namespace tinyodlc::target_detail {

std::string ident(const std::string& s) {
  std::string r;
  for (char c : s) r += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return r;
}

std::string tool(const char* env, const std::string& dflt) {
  const char* v = std::getenv(env);
  return v && *v ? std::string(v) : dflt;
}

std::string arm_prefix() { return tool("TINYODLC_ARM_PREFIX", "arm-none-eabi-"); }

std::string cmdline(const std::vector<std::string>& cmd) {
  std::string line;
  for (const auto& a : cmd) line += (line.empty() ? "" : " ") + shell_quote(a);
  return line;
}

ProcessResult run_tool(const std::vector<std::string>& cmd, const RunOptions& ropts, int timeout) {
  if (ropts.verbose) std::cerr << "tinyodlc: " << cmdline(cmd) << "\n";
  return run_process(cmd, timeout);
}

// Build steps get at least kBuildTimeout seconds; ropts.timeout_seconds limits the QEMU run.
constexpr int kBuildTimeout = 600;
int build_timeout(const RunOptions& ropts) { return std::max(ropts.timeout_seconds, kBuildTimeout); }

std::string must_run(const std::vector<std::string>& cmd, const RunOptions& ropts, const std::string& what) {
  ProcessResult r = run_tool(cmd, ropts, build_timeout(ropts));
  if (r.exit_code != 0)
    throw std::runtime_error(fmt::format("{} failed (exit {}): {}\n{}", what, r.exit_code, cmdline(cmd), r.output));
  return r.output;
}

void write_file(const fs::path& p, const std::string& text) {
  std::ofstream f(p, std::ios::binary);
  f << text;
  if (!f) throw std::runtime_error("cannot write " + p.string());
}

std::string read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) throw std::runtime_error("cannot read " + p.string());
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

std::vector<uint8_t> read_bytes(const fs::path& p) {
  std::string s = read_file(p);
  return std::vector<uint8_t>(s.begin(), s.end());
}

std::string first_line(const std::string& s) {
  std::string r = s.substr(0, s.find('\n'));
  while (!r.empty() && std::isspace(static_cast<unsigned char>(r.back()))) r.pop_back();
  return r;
}

}  // namespace tinyodlc::target_detail
