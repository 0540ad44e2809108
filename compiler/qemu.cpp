// Running a linked program in qemu-system-arm (semihosting: it reads its inputs from and
// writes its outputs to the run folder), with the project's instruction-count plugin
// (tools/qemu_insn_plugin.c) when it is found.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <condition_variable>
#include <iostream>
#include <mutex>
#include <optional>
#include <thread>

#include <fmt/format.h>

#include "compiler/target_steps.h"

namespace tinyodlc::target_detail {

namespace {

// The QEMU plugin: $TINYODLC_QEMU_PLUGIN, else next to the tinyodlc binary.
std::string find_plugin() {
  std::string env = tool("TINYODLC_QEMU_PLUGIN", "");
  if (!env.empty()) return env;
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    fs::path p = self.parent_path() / "qemu_insn_plugin.so";
    if (fs::exists(p)) return p.string();
  }
  return "";
}

// A value inside a QEMU option list (',' doubled).
std::string qemu_escape(const std::string& s) {
  std::string r;
  for (char c : s) r += (c == ',') ? std::string(",,") : std::string(1, c);
  return r;
}

std::string exit_reason(int code) {
  switch (code) {
    case 100: return "the CPU faulted";
    case 101: return "an unexpected interrupt was taken";
    case 134:
      return "QEMU aborted (CPU lockup: a fault with no usable handler, or a semihosting call without "
             "-semihosting)";
    case 2: return "the harness could not read its inputs or write its outputs";
    case 3: return "invoke() returned an error";
    default: return "it exited with an error";
  }
}

// Prints "run: still running in QEMU ..." to stderr every kProgressSeconds until stopped.
class ProgressLine {
 public:
  ProgressLine(std::string what, fs::path losses, uint64_t total_steps)
      : what_(std::move(what)), losses_(std::move(losses)), total_(total_steps), thread_([this] { loop(); }) {}
  ~ProgressLine() {
    {
      std::lock_guard<std::mutex> l(m_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  void loop() {
    // $TINYODLC_PROGRESS_SECONDS (tests) overrides the interval.
    double every = kProgressSeconds;
    if (const char* e = std::getenv("TINYODLC_PROGRESS_SECONDS")) every = std::max(0.05, std::atof(e));
    const auto t0 = std::chrono::steady_clock::now();
    std::unique_lock<std::mutex> l(m_);
    for (int k = 1;; ++k) {
      const auto at = t0 + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                               std::chrono::duration<double>(k * every));
      if (cv_.wait_until(l, at, [this] { return stop_; })) return;
      std::string steps;
      std::error_code ec;
      if (total_) {
        const uintmax_t bytes = fs::file_size(losses_, ec);
        if (!ec) steps = fmt::format(", training step {} of {}", bytes / sizeof(float), total_);
      }
      std::cerr << fmt::format("run: {:g} s in QEMU ({}){}\n", k * every, what_, steps) << std::flush;
    }
  }
  std::string what_;
  fs::path losses_;
  uint64_t total_;
  std::mutex m_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;  // last: started once the members above exist
};

}  // namespace

bool run_in_qemu(const Target& target, const RunOptions& ropts, const fs::path& dir, const std::string& elf,
                 bool training, bool profile, TargetReport& rep, uint64_t total_steps) {
  std::vector<std::string> qemu = {tool("TINYODLC_QEMU", "qemu-system-arm"), "-M", target.qemu_machine, "-nographic",
                                   "-monitor", "none", "-serial", "none", "-semihosting-config",
                                   "enable=on,target=native,arg=tinyodlc,arg=" + qemu_escape(dir.string()) +
                                       (training ? fmt::format(",arg={}", ropts.train_steps) : std::string()) +
                                       (ropts.al_window > 0 ? fmt::format(",arg={},arg={}", ropts.al_window, ropts.al_seed)
                                                            : std::string())};
  const std::string plugin = find_plugin();
  if (!plugin.empty()) {
    Symbols sym = read_symbols(elf, ropts);
    std::string arg = fmt::format("{},start=0x{:x},stop=0x{:x},out={}", qemu_escape(plugin),
                                  sym.get("tinyodlc_perf_begin"), sym.get("tinyodlc_perf_end"),
                                  qemu_escape((dir / "insn_counts.txt").string()));
    if (profile) arg += fmt::format(",layer=0x{:x}", sym.get("tinyodlc_perf_layer"));
    qemu.insert(qemu.end(), {"-plugin", arg});
  } else {
    std::cerr << "tinyodlc: warning: qemu_insn_plugin.so not found (set TINYODLC_QEMU_PLUGIN); no instruction counts\n";
  }
  qemu.insert(qemu.end(), {"-kernel", elf});
  {
    struct rlimit no_core {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);  // QEMU aborts on a CPU lockup; no core files
  }
  auto t0 = std::chrono::steady_clock::now();
  ProcessResult ran;
  {
    std::optional<ProgressLine> progress;
    if (!ropts.quiet) progress.emplace(fmt::format("{}, {}", target.name, target.core), dir / "losses.bin", total_steps);
    ran = run_tool(qemu, ropts, ropts.timeout_seconds);
  }
  rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::string where = fmt::format("on {} ({}, qemu-system-arm -M {})", target.name, target.core,
                                        target.qemu_machine);
  if (ran.timed_out)
    throw std::runtime_error(fmt::format("the generated code {} did not finish within {} s (it hangs or is too slow); "
                                         "QEMU was stopped. Output:\n{}",
                                         where, ropts.timeout_seconds, ran.output));
  if (ran.exit_code != 0)
    throw std::runtime_error(fmt::format("the generated code failed {}: {} (exit status {}). Output:\n{}", where,
                                         exit_reason(ran.exit_code), ran.exit_code, ran.output));
  return !plugin.empty();
}

}  // namespace tinyodlc::target_detail
