#include "backends/persist_emitter.h"

#include <fmt/format.h>

#include "backends/memory_plan.h"
#include "ir/graph.h"
#include "support/embedded.h"
#include "tinyodlc/runtime/storage.h"
#include "support/template_engine.h"

namespace tinyodlc::backends {

void LearnedStateRegistry::add(LearnedBlock b) { blocks_.push_back(std::move(b)); }

size_t LearnedStateRegistry::bytes() const {
  size_t n = 0;
  for (const auto& b : blocks_) n += b.bytes;
  return n;
}

std::string LearnedStateRegistry::descriptor() const {
  std::string d = "tinyodlc learned state\n";
  for (const auto& b : blocks_) d += fmt::format("{} {} bytes: {}\n", b.name, b.bytes, b.layout);
  return d;
}

uint32_t LearnedStateRegistry::layout_hash() const {
  uint32_t h = 2166136261u;  // FNV-1a, 32 bits
  for (unsigned char c : descriptor()) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

void add_training_state(LearnedStateRegistry& r, const std::vector<TrainableSlot>& params, size_t blob_floats,
                        const OptimizerOptions& opt) {
  const size_t n = std::max<size_t>(blob_floats, 1);  // the generated arrays have at least 1 element
  std::string plist;
  for (const auto& p : params) {
    std::string shape;
    for (size_t i = 0; i < p.shape.size(); ++i) shape += fmt::format("{}{}", i ? "," : "", p.shape[i]);
    plist += fmt::format(" {}:f32[{}]@{}", p.name, shape, p.offset);
  }
  r.add({"params", "g_params", n * 4, fmt::format("f32[{}] trainable parameters{}", n, plist)});
  if (opt.kind == "adam") {
    r.add({"adam.m", "g_moment", n * 4, fmt::format("f32[{}] Adam first moments of params", n)});
    r.add({"adam.v", "g_adam_v", n * 4, fmt::format("f32[{}] Adam second moments of params", n)});
  } else if (opt.kind == "momentum") {
    r.add({"momentum", "g_moment", n * 4, fmt::format("f32[{}] SGD momentum buffer of params", n)});
  }
  r.add({"step", "&g_train.step", 4, fmt::format("i32 optimizer steps ({})", opt.kind)});
  r.add({"lr", "&g_train.lr", 4, "f32 learning rate"});
  r.add({"weight_decay", "&g_train.weight_decay", 4, "f32 weight decay"});
  r.add_prepare("  ensure_trainable();\n");
  r.add_after_load("    memset(g_grads, 0, sizeof(g_grads));\n    g_train.count = 0;\n");
  r.add_reset("    reset_state();\n");
}

void emit_persist(const LearnedStateRegistry& r, const std::string& model_name,
                  std::map<std::string, std::string>& vars, std::vector<GeneratedFile>& files) {
  if (r.empty()) return;
  std::map<std::string, std::string> t;
  t["name"] = model_name;
  t["bytes"] = std::to_string(r.bytes());
  t["count"] = std::to_string(r.blocks().size());
  t["hash"] = fmt::format("0x{:08X}", r.layout_hash());
  std::string entries, comment;
  for (const auto& b : r.blocks()) entries += fmt::format("    {{\"{}\", {}, {}}},\n", b.name, b.addr, b.bytes);
  const std::string d = r.descriptor();
  for (size_t i = 0, j; i < d.size(); i = j + 1) {
    j = d.find('\n', i);
    if (j == std::string::npos) j = d.size();
    comment += "//   " + d.substr(i, j - i) + "\n";
  }
  t["blocks"] = entries;
  t["layout_comment"] = comment;
  t["prepare"] = r.prepare();
  t["after_load"] = r.after_load();
  t["reset"] = r.reset();
  vars["training_decls"] += render_embedded("templates/persist.h.in", t);
  vars["training_defs"] += render_embedded("templates/persist.cpp.in", t);
  const std::string rt = "runtime/tinyodlc/runtime/storage.h";
  files.push_back({rt.substr(std::string("runtime/").size()), std::string(embedded_file(rt))});
}

uint64_t persist_area_needed(size_t payload, uint32_t erase_size, uint32_t program_size) {
  if (payload > 0xFFFFFFFFu) return UINT64_MAX;
  // 64-bit copy of the runtime's 32-bit formula (a real area never nears 4 GiB; the runtime
  // refuses such geometry at run time with kErrGeometry).
  auto up = [](uint64_t v, uint64_t u) { return (v + u - 1) / u * u; };
  const uint64_t slot = up(up(storage::kHeaderBytes, program_size) + up(payload, program_size), erase_size);
  return 2 * slot;
}

void emit_persist_area(const LearnedStateRegistry& r, const PersistArea& a, const std::string& model_name,
                       std::map<std::string, std::string>& vars) {
  if (!a.enabled()) return;
  if (r.empty())
    throw ir::CompileError("--persist-area", "this build has no learned state to keep: add a training option "
                                             "(--trainable, --trainable-last, --append-head), --enrol-output or "
                                             "--active-learning");
  const uint64_t need = persist_area_needed(r.bytes(), a.erase_size, a.program_size);
  if (a.size < need)
    throw FitError("--persist-area",
                   fmt::format("'{}': {} bytes are too few for the learned state of '{}': {} bytes of state need two "
                               "slots of {} bytes ({} B header, {}-byte program units, {}-byte erase units), {} bytes "
                               "in all",
                               a.spec, a.size, model_name, r.bytes(), need / 2, storage::kHeaderBytes, a.program_size,
                               a.erase_size, need));
  vars["training_decls"] += fmt::format(
      "\n// The storage area of the learned state (--persist-area {0}; docs/persistence.md): give these to\n"
      "// the StoragePort of the firmware's flash driver. The linker fragment {1}_sections.ld defines\n"
      "// __tinyodlc_{1}_persist_start/_end at the same addresses and checks them against the region.\n"
      "constexpr uint32_t kPersistAreaAddress = 0x{2:08X}u;  // {3} + 0x{4:X}\n"
      "constexpr uint32_t kPersistAreaBytes = {5}u;\n"
      "constexpr uint32_t kPersistEraseSize = {6}u;\n"
      "constexpr uint32_t kPersistProgramSize = {7}u;\n"
      "static_assert(tinyodlc::storage::area_bytes(kLearnedStateBytes, kPersistEraseSize, kPersistProgramSize) <= "
      "kPersistAreaBytes,\n"
      "              \"the --persist-area is too small for the learned state\");\n",
      a.spec, model_name, a.base, a.region, a.offset, a.size, a.erase_size, a.program_size);
}

}  // namespace tinyodlc::backends
