#include "compiler/inspect.h"

#include <iostream>
#include <set>

#include <fmt/format.h>

#include "frontend/onnx_import.h"
#include "ir/op_registry.h"

namespace tinyodlc {

int inspect_model(const CompileOptions& opts, std::ostream& out) {
  {
    // Report every unsupported operator at once, before anything else can fail.
    frontend::ImportOptions io;
    io.dims = opts.dims;
    auto raw = frontend::import_onnx_file(opts.model, io);
    auto bad = frontend::unsupported_ops(*raw);
    if (!bad.empty()) {
      std::set<std::string> ops;
      for (const auto& n : raw->nodes())
        if (!n->def) ops.insert(n->op);
      out << fmt::format("{}: {} unsupported node(s), operators: {}\n", opts.model, bad.size(), fmt::join(ops, ", "));
      for (const auto& b : bad) out << "  " << b << "\n";
      return 1;
    }
  }
  auto g = import_and_optimize(opts);
  out << fmt::format("model {}: {} nodes after optimization\n", opts.model, g->nodes().size());
  for (const ir::Value* v : g->inputs) out << fmt::format("  input  {} {}\n", v->name, v->type_str());
  for (const ir::Value* v : g->outputs) out << fmt::format("  output {} {}\n", v->name, v->type_str());
  out << fmt::format("\n{:>4}  {:<32} {:<20} {:<24} {:>10} {:>12}\n", "#", "node", "op", "output shape", "params",
                     "MACs");
  int64_t total_params = 0, total_macs = 0;
  std::set<const ir::Value*> counted;
  int i = 0;
  for (const auto& n : g->nodes()) {
    int64_t params = 0;
    for (const ir::Value* in : n->inputs)
      if (in && in->is_constant() && counted.insert(in).second) params += in->numel();
    int64_t macs = n->def && n->def->macs ? n->def->macs(*n) : 0;
    std::vector<std::string> shapes;
    for (const ir::Value* o : n->outputs)
      if (o) shapes.push_back(o->type_str());
    out << fmt::format("{:>4}  {:<32} {:<20} {:<24} {:>10} {:>12}\n", i++, n->name, n->op, fmt::join(shapes, " "),
                       params, macs);
    total_params += params;
    total_macs += macs;
  }
  out << fmt::format("\ntotal: {} parameters, {} MACs\n", total_params, total_macs);
  return 0;
}

}  // namespace tinyodlc
