// Passes: small named graph transformations, registered by name (like MLIR/LLVM passes),
// run in order by a PassManager that can print the IR after any of them.
#pragma once

#include <functional>
#include <iosfwd>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace tinyodlc::passes {

struct TrainingOptions;  // passes/training.h
struct QuantContext;     // passes/quantize.h
struct StreamContext;    // passes/stream_split.h

// Options shared by all passes of one compilation.
struct PassContext {
  std::map<std::string, int64_t> dim_values;  // --dim NAME=VALUE (symbolic dims)
  std::ostream* log = nullptr;                  // diagnostics / remarks (may be null)
  const TrainingOptions* training = nullptr;    // on-device learning (select-trainable, autodiff)
  QuantContext* quant = nullptr;                // int8 (calibrate, insert-qdq, qdq-fold)
  StreamContext* stream = nullptr;              // streaming (stream-split): options in, per-frame graph out
};

struct PassInfo {
  std::string name;         // "shape-inference"
  std::string description;  // one line, shown by `tinyodlc-opt --help`
  std::function<void(ir::Graph&, PassContext&)> run;
};

class PassRegistry {
 public:
  static PassRegistry& instance();
  void add(PassInfo p);
  const PassInfo* find(const std::string& name) const;
  std::vector<const PassInfo*> all() const;

 private:
  std::map<std::string, PassInfo> passes_;
};

struct PassRegistrar {
  explicit PassRegistrar(PassInfo p) { PassRegistry::instance().add(std::move(p)); }
};

class PassManager {
 public:
  // Appends a registered pass; throws CompileError if the name is unknown.
  void add(const std::string& name);
  const std::vector<const PassInfo*>& pipeline() const { return pipeline_; }

  // IR printing: after the named passes, or after all; `printer` receives (pass, graph).
  void print_after(const std::set<std::string>& names) { print_after_ = names; }
  void print_after_all(bool on) { print_after_all_ = on; }
  void set_printer(std::function<void(const std::string&, const ir::Graph&)> p) { printer_ = std::move(p); }
  // Verify the graph after every pass (on by default).
  void verify_each(bool on) { verify_each_ = on; }

  void run(ir::Graph& g, PassContext& ctx) const;

 private:
  std::vector<const PassInfo*> pipeline_;
  std::set<std::string> print_after_;
  bool print_after_all_ = false;
  bool verify_each_ = true;
  std::function<void(const std::string&, const ir::Graph&)> printer_;
};

// The default compilation pipeline (names, in order).
std::vector<std::string> default_pipeline();

}  // namespace tinyodlc::passes
