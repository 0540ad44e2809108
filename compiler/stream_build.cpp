// The streaming build (--stream, docs/streaming.md): stream-split, the backbone and the head
// emitted as two models sharing one arena, the feature ring reserved before planning, learning
// on the ring (the head's training step), the build's memory report and the glue.
#include "compiler/stream_build.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include <fmt/format.h>

#include "backends/memory_plan.h"
#include "backends/memory_report.h"
#include "backends/kernel_variants.h"
#include "backends/stream_emitter.h"

namespace tinyodlc::driver_detail {

namespace fs = std::filesystem;
using ir::CompileError;

Compilation compile_stream(Compilation c, const Target& target, const std::vector<backends::GeneratedFile>& extra,
                           const CompileOptions& opts) {
  passes::StreamContext sc;
  sc.input = opts.stream.input;
  sc.axis = opts.stream.axis;
  c.head_graph = ir::clone_graph(*c.graph);
  const ir::Value* x = nullptr;
  run_pipeline({"stream-split"}, *c.head_graph, opts, "", nullptr, &sc);
  c.frame_graph = std::move(sc.frame_graph);
  c.stream_frames = sc.frames;
  c.stream_axis = sc.axis;
  x = c.graph->find_value(c.frame_graph->inputs.at(0)->name);
  // Learning on the ring (--trainable..., docs/streaming.md): the training step is built on the
  // head, whose input is the ring's window: nothing flows back into the backbone.
  if (opts.training.enabled()) {
    for (const auto& n : c.head_graph->nodes())
      if ((n->domain == "tinyodlc" && n->op.rfind("Q", 0) == 0) || n->op == "QuantizeLinear" || n->op == "DequantizeLinear")
        throw CompileError("--stream", fmt::format("learning on the ring trains a float head; the head of this build is "
                                                   "quantized (node '{}', {}): train a float build", n->name, n->op));
    c.training_graph = build_training_graph(*c.head_graph, opts);
  }
  backends::EmitOptions eo;
  eo.source = fs::path(opts.model).filename().string();
  eo.memory = plan_options(target);
  eo.memory.placement = opts.placement;
  eo.isa = target.isa.empty() ? backends::default_isa_of_core(target.core) : target.isa;
  // The feature ring (2T slots) is persistent RAM next to the arenas: reserved before planning
  // in the largest RAM region, so that plans that fit leave room for it (one fit check for the
  // whole build, as for a training build's state).
  const size_t ring_bytes = 2 * static_cast<size_t>(sc.frames) * c.frame_graph->outputs.at(0)->nbytes();
  const std::string ring_region = backends::reserve_in_largest_ram(
      eo.memory, ring_bytes, "--stream",
      fmt::format("the feature ring ({} bytes: 2 x {} slots of {} bytes)", ring_bytes, sc.frames,
                  ring_bytes / 2 / sc.frames));
  // g and h never run at the same time: they share one arena per RAM region, defined by the
  // glue (<name>_arena[_REGION], the larger of the two plans there).
  eo.arena_symbol = c.name + "_arena";
  eo.arena_symbol_per_region = true;
  std::set<std::string> seen;
  auto add = [&](std::vector<backends::GeneratedFile> files, const std::string& report_suffix) {
    for (auto& f : files) {
      // The two models' memory reports side by side: memory_frame.*, memory_head.*.
      if (!report_suffix.empty() && f.path.rfind("memory.", 0) == 0) f.path = "memory" + report_suffix + f.path.substr(6);
      if (seen.insert(f.path).second) c.emitted.files.push_back(std::move(f));
    }
  };
  // A plan that does not fit says that the ring took its share first.
  const auto emit_part = [&](const ir::Graph& g, const backends::EmitOptions& o, const char* part) {
    try {
      return backends::emit_cpp(g, o);
    } catch (const backends::FitError& e) {
      if (ring_region.empty()) throw;
      throw backends::FitError(e.where(), fmt::format("{} (streaming build, {}: region {} also holds the feature ring, "
                                                      "{} bytes, reserved before planning)",
                                                      e.message(), part, ring_region, ring_bytes));
    }
  };
  // The head first: with a training step, its persistent state (parameters, gradients,
  // optimizer state) is reserved in the largest RAM region (as for any training build), and
  // the backbone is then planned with that reservation too.
  backends::EmitOptions ho = eo;
  ho.name = c.name + "_head";
  ho.training = c.training_graph.get();
  ho.optimizer = opts.optimizer;
  backends::EmitResult head = emit_part(*c.head_graph, ho, "the head");
  // The same reservation for the backbone's plan (it fit the head's plan, which had the same
  // regions and the ring reserved).
  const std::string state_region =
      c.training_graph ? backends::reserve_in_largest_ram(eo.memory, head.state_bytes, "--stream",
                                                          fmt::format("the head's training state ({} bytes)",
                                                                      head.state_bytes))
                       : std::string();
  eo.name = c.name + "_frame";
  backends::EmitResult frame = emit_part(*c.frame_graph, eo, "the backbone");
  // Sharing saves RAM only where both plans are: if the head went to a region the backbone does
  // not use, plan it again in the backbone's regions (kept if it fits there; not for a head
  // with a training step, whose state region must stay the one reserved above).
  std::set<std::string> frame_regions;
  for (const auto& r : frame.plan.regions)
    if (r.used) frame_regions.insert(r.name);
  bool elsewhere = false;
  for (const auto& r : head.plan.regions) elsewhere = elsewhere || (r.used && !frame_regions.count(r.name));
  if (elsewhere && !frame_regions.empty() && !c.training_graph) {
    backends::EmitOptions in_frame = ho;
    in_frame.memory.regions.clear();
    for (const auto& r : ho.memory.regions)
      if (r.kind != "ram" || frame_regions.count(r.name)) in_frame.memory.regions.push_back(r);
    try {
      head = backends::emit_cpp(*c.head_graph, in_frame);
    } catch (const backends::FitError&) {
      // keep the first plan: the arenas are then side by side
    }
  }
  backends::check_weights_fit(frame.weight_bytes + head.weight_bytes, eo.memory);
  backends::StreamGlueOptions so;
  so.name = c.name;
  so.source = eo.source;
  so.frame_ns = c.name + "_frame";
  so.head_ns = c.name + "_head";
  so.input = x ? x->name : c.frame_graph->inputs[0]->name;
  so.input_type = x ? x->type_str() : c.frame_graph->inputs[0]->type_str();
  so.feature = sc.feature;
  so.frames = sc.frames;
  // The head's arena use: the larger of its inference and training-step plans per region.
  backends::MemoryPlan head_max = head.plan;
  if (c.training_graph)
    for (auto& r : head_max.regions)
      for (const auto& t : head.training_plan.regions)
        if (t.name == r.name) r.used = std::max(r.used, t.used);
  head_max.arena_bytes = 0;
  for (const auto& r : head_max.regions) head_max.arena_bytes += r.used;
  so.frame_plan = &frame.plan;
  so.head_plan = &head_max;
  so.head_training = c.training_graph.get();
  so.arena_symbol = eo.arena_symbol;
  so.ring_region = ring_region;
  add(backends::emit_stream_glue(*c.frame_graph, *c.head_graph, so), "");
  c.emitted.weight_bytes = frame.weight_bytes + head.weight_bytes;
  c.emitted.plan = frame.plan;
  c.emitted.plan.arena_bytes = backends::stream_arena_bytes(frame.plan, head_max);
  c.emitted.trainable = head.trainable;
  c.emitted.trainable_count = head.trainable_count;
  c.emitted.state_bytes = head.state_bytes;
  // The build's memory report: the backbone's plan, the head's sharing its arena, the ring as a
  // persistent block, the weights of both (memory_frame.* and memory_head.* detail the parts).
  backends::ReportExtras ex;
  ex.training_plan = &head_max;
  ex.stream_head = true;
  ex.persistent.push_back({"feature ring", ring_region.empty() ? frame.plan.regions.at(0).name : ring_region, ring_bytes});
  if (c.training_graph) {
    // The head's training state, as a training build reports it.
    const std::string reg = state_region.empty() ? frame.plan.regions.at(0).name : state_region;
    const size_t params = head.trainable_count * sizeof(float);
    ex.persistent.push_back({"head parameters", reg, params});
    ex.persistent.push_back({"head gradients", reg, params});
    if (head.state_bytes > 2 * params) ex.persistent.push_back({"head optimizer state", reg, head.state_bytes - 2 * params});
  }
  ex.byte_counts.push_back({"feature_ring_bytes", ring_bytes});
  ex.byte_counts.push_back({"frame_weight_bytes", frame.weight_bytes});
  ex.byte_counts.push_back({"head_weight_bytes", head.weight_bytes});
  // One linker fragment for the build: the shared arenas and the ring (defined by the glue), the
  // two parts' weights and the head's training state (the parts' own fragments are not written).
  ex.section_parts = {c.name + "_frame", c.name + "_head"};
  add(backends::memory_report_files(*c.frame_graph, frame.plan, c.name, c.emitted.weight_bytes, eo.memory, ex), "");
  for (auto* part : {&frame.files, &head.files})
    part->erase(std::remove_if(part->begin(), part->end(),
                               [](const backends::GeneratedFile& f) {
                                 return f.path.size() > 12 && f.path.compare(f.path.size() - 12, 12, "_sections.ld") == 0;
                               }),
                part->end());
  add(std::move(frame.files), "_frame");
  add(std::move(head.files), "_head");
  add(extra, "");
  return c;
}

}  // namespace tinyodlc::driver_detail
