#include "backends/stream_emitter.h"

#include <fmt/format.h>

#include "support/embedded.h"
#include "support/template_engine.h"

#include "backends/memory_report.h"

namespace tinyodlc::backends {

using ir::Value;

namespace {

// Per region name: the larger of the two plans' arena there (frame's region order).
std::vector<std::pair<const RegionArena*, size_t>> shared_regions(const MemoryPlan& frame, const MemoryPlan& head) {
  std::vector<std::pair<const RegionArena*, size_t>> r;
  for (const auto& f : frame.regions) {
    size_t used = f.used;
    for (const auto& h : head.regions)
      if (h.name == f.name) used = std::max(used, h.used);
    if (used) r.push_back({&f, used});
  }
  return r;
}

}  // namespace

size_t stream_arena_bytes(const MemoryPlan& frame, const MemoryPlan& head) {
  size_t n = 0;
  for (const auto& [reg, used] : shared_regions(frame, head)) n += used;
  return n;
}

std::vector<GeneratedFile> emit_stream_glue(const ir::Graph& frame, const ir::Graph& head, const StreamGlueOptions& o) {
  const Value* in = frame.inputs.at(0);
  const Value* feat = frame.outputs.at(0);
  std::map<std::string, std::string> v;
  v["version"] = TINYODLC_VERSION;
  v["source"] = o.source;
  v["name"] = o.name;
  v["frame_ns"] = o.frame_ns;
  v["head_ns"] = o.head_ns;
  v["frames"] = std::to_string(o.frames);
  v["input"] = o.input;
  v["input_type"] = o.input_type;
  v["feature"] = o.feature;
  v["feature_type"] = feat->type_str();
  ir::Shape frame_dims;  // the streamed input without batch and time axes (leading 1s)
  size_t lead = 0;
  while (lead + 1 < in->shape.size() && in->shape[lead] == 1) ++lead;
  frame_dims.assign(in->shape.begin() + static_cast<long>(lead), in->shape.end());
  v["frame_dims"] = fmt::format("{}", fmt::join(frame_dims, ", "));
  v["frame_ctype"] = std::string(ir::dtype_ctype(in->dtype));
  v["frame_elems"] = std::to_string(in->numel());
  v["frame_bytes"] = std::to_string(in->nbytes());
  v["feature_bytes"] = std::to_string(feat->nbytes());
  v["ring_bytes"] = std::to_string(2 * static_cast<size_t>(o.frames) * feat->nbytes());
  std::vector<std::string> params, names;
  for (size_t i = 0; i < head.outputs.size(); ++i) {
    const std::string n = fmt::format("out_{}", i);
    params.push_back(fmt::format("{}* {}", ir::dtype_ctype(head.outputs[i]->dtype), n));
    names.push_back(n);
  }
  v["infer_params"] = fmt::format("{}", fmt::join(params, ", "));
  v["infer_args_doc"] = fmt::format("{}", fmt::join(names, ", "));
  v["infer_call_args"] = v["infer_args_doc"];
  v["infer_output_list"] = v["infer_args_doc"];
  v["num_outputs_array"] = std::to_string(std::max<size_t>(head.outputs.size(), 1));
  // The shared arenas and the ring's placement.
  std::string defs;
  size_t arena_bytes = 0;
  for (const auto& [reg, used] : shared_regions(*o.frame_plan, *o.head_plan)) {
    const bool host = reg->capacity == 0;
    const std::string sym = shared_arena_symbol(o.arena_symbol, reg->name, !host);
    defs += fmt::format("// {} bytes{}: the larger of the backbone's ({}) and the head's use there.\n"
                        "alignas(16) uint8_t {}[{}]{};\n",
                        used, host ? "" : fmt::format(" in {}", reg->name), reg->used, sym, used,
                        host ? "" : fmt::format(" __attribute__((section(\"{}\")))", region_section(o.name, reg->name)));
    arena_bytes += used;
  }
  v["arena_defs"] = defs.empty() ? "// (no arena)\n" : defs;
  v["arena_bytes"] = std::to_string(arena_bytes);
  v["ring_attr"] = o.ring_region.empty() ? ""
                                         : fmt::format(" __attribute__((section(\"{}\")))", region_section(o.name, o.ring_region));
  v["ring_where"] = o.ring_region.empty() ? "" : fmt::format(" (in {})", o.ring_region);
  v["training_decls"] = v["training_defs"] = "";
  if (o.head_training) {
    const Value* label = o.head_training->inputs.back();
    v["label_ctype"] = std::string(ir::dtype_ctype(label->dtype));
    v["label_type"] = label->type_str();
    v["training_decls"] = render_embedded("templates/stream_training.h.in", v);
    v["training_defs"] = render_embedded("templates/stream_training.cpp.in", v);
  }
  const char* ring = "runtime/tinyodlc/runtime/feature_ring.h";
  return {{o.name + ".h", render_embedded("templates/stream.h.in", v)},
          {o.name + ".cpp", render_embedded("templates/stream.cpp.in", v)},
          {"tinyodlc/runtime/feature_ring.h", std::string(embedded_file(ring))}};
}

}  // namespace tinyodlc::backends
