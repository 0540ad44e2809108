// Running external programs (the host C++ compiler, the generated harness).
#pragma once

#include <string>
#include <vector>

namespace tinyodlc {

struct ProcessResult {
  int exit_code = -1;   // exit status, or 128 + signal number
  std::string output;   // stdout and stderr, interleaved
  bool timed_out = false;
};

// Runs argv[0] (looked up in PATH) with the arguments; never throws for a failing program.
ProcessResult run_process(const std::vector<std::string>& argv, int timeout_seconds = 0);

// Quotes an argument for display in a shell-like command line.
std::string shell_quote(const std::string& s);

}  // namespace tinyodlc
