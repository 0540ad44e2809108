#include "passes/pass_manager.h"

#include <fmt/format.h>

#include "ir/verifier.h"

namespace tinyodlc::passes {

PassRegistry& PassRegistry::instance() {
  static PassRegistry r;
  return r;
}
void PassRegistry::add(PassInfo p) {
  std::string n = p.name;
  passes_[n] = std::move(p);
}
const PassInfo* PassRegistry::find(const std::string& name) const {
  auto it = passes_.find(name);
  return it == passes_.end() ? nullptr : &it->second;
}
std::vector<const PassInfo*> PassRegistry::all() const {
  std::vector<const PassInfo*> r;
  for (const auto& [k, v] : passes_) r.push_back(&v);
  return r;
}

void PassManager::add(const std::string& name) {
  const PassInfo* p = PassRegistry::instance().find(name);
  if (!p) {
    std::vector<std::string> names;
    for (const auto* q : PassRegistry::instance().all()) names.push_back(q->name);
    ir::fail(fmt::format("unknown pass '{}' (known: {})", name, fmt::join(names, ", ")));
  }
  pipeline_.push_back(p);
}

void PassManager::run(ir::Graph& g, PassContext& ctx) const {
  for (const PassInfo* p : pipeline_) {
    p->run(g, ctx);
    if (verify_each_) ir::verify(g);
    if (printer_ && (print_after_all_ || print_after_.count(p->name))) printer_(p->name, g);
  }
}

std::vector<std::string> default_pipeline() {
  return {"shape-inference", "canonicalize", "dce", "shape-inference"};
}

}  // namespace tinyodlc::passes
