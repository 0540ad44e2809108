#include "compiler/bench.h"

#include <cstdlib>
#include <filesystem>
#include <map>
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

  // Layers in the order of the markers: every node with a kernel call, then the output copies.
  std::vector<const ir::Node*> layer_nodes;
  {
    std::ifstream f(fs::path(dir.path) / "layers" / (c.name + "_markers.cpp"));
    std::string line;
    std::map<std::string, const ir::Node*> by_name;
    for (const auto& n : g.nodes()) by_name[n->name] = n.get();
    bool next_is_layer = false;
    while (std::getline(f, line)) {
      if (line == "  tinyodlc_perf_layer();") {
        next_is_layer = true;
        continue;
      }
      if (!next_is_layer) continue;
      next_is_layer = false;
      const ir::Node* node = nullptr;
      if (line.rfind("  // ", 0) == 0) {
        std::string text = line.substr(5);
        size_t paren = text.rfind(" (");
        auto it = by_name.find(text.substr(0, paren));
        if (it != by_name.end()) node = it->second;
      }
      layer_nodes.push_back(node);
    }
  }
  int64_t total_macs = 0;
  for (const auto& n : g.nodes()) total_macs += n->def && n->def->macs ? n->def->macs(*n) : 0;

  out << fmt::format("model {} on {} ({}, QEMU {}), {} -O2; instructions counted by QEMU (not cycles)\n", c.name,
                     target.name, target.core, target.qemu_machine, plain.compiler);
  out << fmt::format("\n{:>4}  {:<32} {:<18} {:>12} {:>12} {:>10}\n", "#", "layer", "op", "MACs", "insns",
                     "insns/MAC");
  std::string json_layers;
  uint64_t seg_sum = 0;
  for (size_t i = 0; i < marked.segments.size(); ++i) {
    uint64_t n = marked.segments[i];
    seg_sum += n;
    std::string name, op;
    int64_t macs = 0;
    if (i == 0) {
      name = "(entry)";
    } else if (i - 1 < layer_nodes.size() && layer_nodes[i - 1]) {
      const ir::Node* node = layer_nodes[i - 1];
      name = node->name;
      op = node->op;
      macs = node->def && node->def->macs ? node->def->macs(*node) : 0;
    } else {
      name = "(output copies)";
    }
    out << fmt::format("{:>4}  {:<32} {:<18} {:>12} {:>12} {:>10}\n", i, name, op, macs, n, ratio(n, macs));
    json_layers += fmt::format("{}\n    {{\"layer\": \"{}\", \"op\": \"{}\", \"macs\": {}, \"insns\": {}}}",
                               i ? "," : "", name, op, macs, n);
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
    std::ofstream j(bopts.json_path);
    j << fmt::format("{{\n  \"model\": \"{}\",\n  \"target\": \"{}\",\n  \"core\": \"{}\",\n  \"insns\": {},\n"
                     "  \"macs\": {},\n  \"layers\": [{}\n  ],\n  \"run\": {}}}\n",
                     c.name, target.name, target.core, *plain.insns, total_macs, json_layers,
                     target_report_json(plain));
    if (!j) throw std::runtime_error("cannot write " + bopts.json_path);
  }
  return 0;
}

}  // namespace tinyodlc
