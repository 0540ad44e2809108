#include "compiler/bench.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <ostream>

#include <fmt/format.h>

#include "compiler/target_run.h"
#include "compiler/targets.h"
#include "ir/op_registry.h"

namespace tinyodlc {

namespace fs = std::filesystem;

namespace {

// Deterministic inputs: floats uniform in [-1, 1) from a fixed LCG; other types zero (so
// that index inputs stay in range).
std::vector<NamedTensor> synthetic_inputs(const ir::Graph& g) {
  std::vector<NamedTensor> r;
  uint32_t state = 12345;
  for (const ir::Value* v : g.inputs) {
    NamedTensor t{v->name, ir::TensorData(v->dtype, v->shape)};
    if (v->dtype == ir::DType::F32) {
      float* p = t.data.data<float>();
      for (int64_t i = 0; i < t.data.numel(); ++i) {
        state = state * 1664525u + 1013904223u;
        p[i] = static_cast<float>(state >> 8) / static_cast<float>(1u << 23) - 1.0f;
      }
    }
    r.push_back(std::move(t));
  }
  return r;
}

std::string ratio(uint64_t insns, int64_t macs) {
  return macs > 0 ? fmt::format("{:.2f}", static_cast<double>(insns) / static_cast<double>(macs)) : "-";
}

struct TempBuildDir {
  std::string path;
  bool keep;
  explicit TempBuildDir(const std::string& given) : path(given), keep(!given.empty()) {
    if (path.empty()) {
      std::string tmpl = (fs::temp_directory_path() / "tinyodlc-bench-XXXXXX").string();
      if (!mkdtemp(tmpl.data())) throw std::runtime_error("cannot create a temporary folder");
      path = tmpl;
    }
    fs::create_directories(path);
  }
  ~TempBuildDir() {
    std::error_code ec;
    if (!keep) fs::remove_all(path, ec);
  }
};

}  // namespace

int bench_model(const CompileOptions& copts_in, const RunOptions& ropts, const BenchOptions& bopts, std::ostream& out) {
  CompileOptions copts = copts_in;
  if (copts.target.empty() || copts.target == "host") copts.target = "cortex-m4";
  const Target& target = find_target(copts.target);
  if (target.is_host() || target.qemu_machine.empty())
    throw ir::CompileError("", fmt::format("bench needs a Cortex-M target run in QEMU, not '{}'", target.name));
  Compilation c = compile_model(copts);
  const ir::Graph& g = *c.graph;
  std::vector<NamedTensor> inputs =
      bopts.inputs_dir.empty() ? synthetic_inputs(g) : load_tensor_files(bopts.inputs_dir, "input");
  if (inputs.size() != g.inputs.size())
    throw ir::CompileError("", fmt::format("{}: found {} input files, the model has {} inputs", bopts.inputs_dir,
                                           inputs.size(), g.inputs.size()));

  TempBuildDir dir(ropts.build_dir);
  RunOptions r = ropts;
  r.outputs_dir.clear();
  TargetReport plain, marked;
  run_on_target(c, target, inputs, r, (fs::path(dir.path) / "plain").string(), TargetRunOptions{false}, plain);
  run_on_target(c, target, inputs, r, (fs::path(dir.path) / "layers").string(), TargetRunOptions{true}, marked);
  if (!plain.insns || !marked.insns)
    throw std::runtime_error("bench needs the QEMU instruction-count plugin (qemu_insn_plugin.so next to tinyodlc, "
                             "or TINYODLC_QEMU_PLUGIN)");

  // Segment 0 is the entry of invoke(); segment k+1 starts at profiling marker k, before the
  // node c.emitted.profiled_nodes[k] (-1: the copies of the graph outputs).
  std::vector<const ir::Node*> nodes;
  for (const auto& n : g.nodes()) nodes.push_back(n.get());
  const std::vector<int>& markers = c.emitted.profiled_nodes;
  int64_t total_macs = 0;
  for (const auto& n : g.nodes()) total_macs += n->def && n->def->macs ? n->def->macs(*n) : 0;

  out << fmt::format("model {} on {} ({}, QEMU {}), {} -O2; instructions counted by QEMU (not cycles)\n", c.name,
                     target.name, target.core, target.qemu_machine, plain.compiler);
  out << fmt::format("\n{:>4}  {:<32} {:<18} {:>12} {:>12} {:>10}\n", "#", "layer", "op", "MACs", "insns",
                     "insns/MAC");
  struct Row {
    std::string name, op;
    int64_t macs;
    uint64_t insns;
  };
  std::vector<Row> rows;
  uint64_t seg_sum = 0;
  for (size_t i = 0; i < marked.segments.size(); ++i) {
    uint64_t n = marked.segments[i];
    seg_sum += n;
    std::string name, op;
    int64_t macs = 0;
    if (i == 0) {
      name = "(entry)";
    } else if (i - 1 < markers.size() && markers[i - 1] >= 0) {
      const ir::Node* node = nodes.at(static_cast<size_t>(markers[i - 1]));
      name = node->name;
      op = node->op;
      macs = node->def && node->def->macs ? node->def->macs(*node) : 0;
    } else {
      name = "(output copies)";
    }
    out << fmt::format("{:>4}  {:<32} {:<18} {:>12} {:>12} {:>10}\n", i, name, op, macs, n, ratio(n, macs));
    rows.push_back({name, op, macs, n});
  }
  out << fmt::format("\ntotal per inference: {} instructions, {} MACs, {} instructions/MAC\n", *plain.insns,
                     total_macs, ratio(*plain.insns, total_macs));
  out << fmt::format("(per-layer rows sum to {}: each marker call adds a few instructions)\n", seg_sum);
  out << fmt::format("model: .text {} .rodata {} .data {} .bss {} bytes; stack {} bytes\n", plain.text.model,
                     plain.rodata.model, plain.data.model, plain.bss.model, plain.model_stack_bytes);
  out << fmt::format("as linked with the harness:");
  for (const auto& u : plain.regions) out << fmt::format(" {} {}/{}", u.name, u.used, u.size);
  out << "\n";
  if (!bopts.json_path.empty()) {
    json::Writer w;
    w.begin_object();
    w.field("model", c.name).field("target", target.name).field("core", target.core);
    w.field("insns", *plain.insns).field("macs", total_macs);
    w.key("layers").begin_array();
    for (const Row& r : rows)
      w.begin_object(true).field("layer", r.name).field("op", r.op).field("macs", r.macs).field("insns", r.insns)
          .end_object();
    w.end_array();
    w.key("run");
    write_target_report(w, plain);
    w.end_object();
    std::ofstream j(bopts.json_path);
    j << w.str();
    if (!j) throw std::runtime_error("cannot write " + bopts.json_path);
  }
  return 0;
}

}  // namespace tinyodlc
