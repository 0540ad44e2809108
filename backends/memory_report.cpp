#include "backends/memory_report.h"

#include <algorithm>
#include <iterator>
#include <numeric>

#include <fmt/format.h>

#include "support/template_engine.h"
#include "support/json.h"

namespace tinyodlc::backends {

using backends::MemoryPlan;

namespace {

bool is_host(const MemoryPlan& plan) { return plan.regions.size() == 1 && plan.regions[0].capacity == 0; }

std::string pct(size_t used, uint64_t cap) {
  return cap ? fmt::format("{:.1f}%", 100.0 * static_cast<double>(used) / static_cast<double>(cap)) : "-";
}

std::string xml_escape(const std::string& s) {
  std::string r;
  for (char c : s) {
    if (c == '&') r += "&amp;";
    else if (c == '<') r += "&lt;";
    else if (c == '>') r += "&gt;";
    else if (c == '"') r += "&quot;";
    else r += c;
  }
  return r;
}

// Steps sorted by live bytes (largest first), at most `k`, each a local maximum region
// representative (ties broken by the earlier step).
std::vector<int> top_steps(const MemoryPlan& plan, size_t k) {
  std::vector<int> s(plan.live_bytes.size());
  std::iota(s.begin(), s.end(), 0);
  std::stable_sort(s.begin(), s.end(), [&](int a, int b) { return plan.live_bytes[a] > plan.live_bytes[b]; });
  if (s.size() > k) s.resize(k);
  return s;
}

// Arena bytes of region r: the larger of the inference and training plans (as emitted).
size_t arena_in(const MemoryPlan& plan, const ReportExtras& x, size_t r) {
  size_t u = plan.regions[r].used;
  if (x.training_plan && r < x.training_plan->regions.size()) u = std::max(u, x.training_plan->regions[r].used);
  return u;
}
size_t persistent_in(const MemoryPlan& plan, const ReportExtras& x, size_t r) {
  size_t b = 0;
  for (const auto& p : x.persistent)
    if (p.region == plan.regions[r].name) b += p.bytes;
  return b;
}

}  // namespace

std::string arena_symbol(const MemoryPlan& plan, int r) {
  if (is_host(plan)) return "g_arena";
  return "g_arena_" + sanitize_identifier(plan.regions[r].name);
}

std::string arena_section(const std::string& model, const MemoryPlan& plan, int r) {
  if (is_host(plan)) return "";
  return fmt::format(".bss.tinyodlc.{}.{}", model, sanitize_identifier(plan.regions[r].name));
}

std::string weights_section(const std::string& model, const MemoryPlan& plan) {
  if (is_host(plan)) return "";
  return fmt::format(".rodata.tinyodlc.{}.weights", model);
}

std::string memory_json(const ir::Graph& g, const MemoryPlan& plan, size_t weight_bytes, const ReportExtras& ex) {
  (void)g;
  std::string o = "{\n";
  o += fmt::format("  \"target\": {},\n", json::quote(plan.target));
  o += fmt::format("  \"build\": \"{}\",\n", ex.training_plan ? "training" : "inference");
  size_t peak = 0, pers = 0;
  for (size_t r = 0; r < plan.regions.size(); ++r) peak += arena_in(plan, ex, r), pers += persistent_in(plan, ex, r);
  o += "  \"persistent\": [";
  for (size_t i = 0; i < ex.persistent.size(); ++i)
    o += fmt::format("{}{{\"name\": {}, \"region\": {}, \"bytes\": {}}}", i ? ", " : "",
                     json::quote(ex.persistent[i].name), json::quote(ex.persistent[i].region), ex.persistent[i].bytes);
  o += "],\n";
  o += fmt::format("  \"persistent_bytes\": {},\n", pers);
  o += fmt::format("  \"inference_arena_bytes\": {},\n", plan.arena_bytes);
  if (ex.training_plan) o += fmt::format("  \"training_arena_bytes\": {},\n", ex.training_plan->arena_bytes);
  o += "  \"regions\": [\n";
  for (size_t r = 0; r < plan.regions.size(); ++r) {
    const auto& x = plan.regions[r];
    const bool unlimited = x.capacity == 0;
    o += fmt::format(
        "    {{\"name\": {}, \"size\": {}, \"used\": {}, \"base\": {}, \"reserved\": {}, \"unlimited\": {}, "
        "\"speed\": {}, \"symbol\": {}, \"arena\": {}, \"persistent\": {}, \"section_bytes\": {}, "
        "\"firmware_reserve\": {}, \"reserved_what\": {}}}{}\n",
        json::quote(x.name), unlimited ? x.used : x.capacity, x.used, x.base, x.reserved, unlimited ? "true" : "false",
        x.speed, json::quote(arena_symbol(plan, static_cast<int>(r))), arena_in(plan, ex, r), persistent_in(plan, ex, r),
        arena_in(plan, ex, r) + persistent_in(plan, ex, r), x.reserved - std::min<uint64_t>(x.reserved, persistent_in(plan, ex, r)),
        json::quote(x.reserved_what), r + 1 < plan.regions.size() ? "," : "");
  }
  o += "  ],\n  \"buffers\": [\n";
  for (size_t i = 0; i < plan.buffers.size(); ++i) {
    const auto& b = plan.buffers[i];
    std::vector<std::string> ts;
    for (const auto* v : b.tensors) ts.push_back(json::quote(v->name));
    o += fmt::format(
        "    {{\"name\": {}, \"region\": {}, \"offset\": {}, \"size\": {}, \"first\": {}, \"last\": {}, "
        "\"kind\": \"{}\", \"tensors\": [{}]}}{}\n",
        json::quote(b.name), json::quote(plan.regions[b.region].name), b.offset, b.size, b.first, b.last,
        b.scratch_of >= 0 ? "scratch" : "tensor", fmt::join(ts, ", "), i + 1 < plan.buffers.size() ? "," : "");
  }
  o += "  ],\n  \"schedule\": [";
  for (size_t i = 0; i < plan.schedule.size(); ++i)
    o += (i ? ", " : "") + json::quote(plan.schedule[i]);
  o += "],\n";
  std::vector<std::string> inplace;
  for (size_t i = 0; i < plan.inplace.size(); ++i)
    if (plan.inplace[i]) inplace.push_back(json::quote(plan.schedule[i]));
  o += fmt::format("  \"inplace_nodes\": [{}],\n", fmt::join(inplace, ", "));
  o += fmt::format("  \"alignment\": {},\n", plan.alignment);
  o += fmt::format("  \"peak_bytes\": {},\n", peak);  // = kArenaBytes (training builds: both plans)
  o += fmt::format("  \"lower_bound_bytes\": {},\n", plan.lower_bound);
  o += fmt::format("  \"single_arena_bytes\": {},\n", plan.single_arena_bytes);
  o += fmt::format("  \"greedy_by_size_bytes\": {},\n", plan.greedy_bytes);
  o += fmt::format("  \"strategy\": {},\n", json::quote(plan.strategy));
  if (const PersistArea* a = ex.persist_area) {
    o += fmt::format(
        "  \"persist_area\": {{\"spec\": {}, \"region\": {}, \"linker_region\": {}, \"address\": {}, \"offset\": {}, "
        "\"bytes\": {}, \"needed_bytes\": {}, \"state_bytes\": {}, \"erase_size\": {}, \"program_size\": {}}},\n",
        json::quote(a->spec), json::quote(a->region), json::quote(a->linker_region), a->base, a->offset, a->size,
        ex.persist_needed, ex.learned_state_bytes, a->erase_size, a->program_size);
  }
  if (!ex.static_state.empty()) {
    o += "  \"static_state\": [";
    for (size_t i = 0; i < ex.static_state.size(); ++i)
      o += fmt::format("{}{{\"name\": {}, \"region\": {}, \"bytes\": {}}}", i ? ", " : "",
                       json::quote(ex.static_state[i].name), json::quote(ex.static_state[i].region),
                       ex.static_state[i].bytes);
    o += "],\n";
  }
  o += fmt::format("  \"placement\": {},\n", json::quote(plan.placement));
  o += fmt::format("  \"split_bytes\": {},\n", plan.split_bytes);
  o += fmt::format("  \"weight_bytes\": {}\n", weight_bytes);
  o += "}\n";
  return o;
}

std::string memory_markdown(const ir::Graph& g, const MemoryPlan& plan, const std::string& model,
                            size_t weight_bytes, const ReportExtras& ex) {
  std::string o = fmt::format("# Memory plan of `{}` for target `{}` ({} build)\n\n", model, plan.target,
                              ex.training_plan ? "training" : "inference");
  o += "| region | base | budget (bytes) | arena (bytes) | persistent (bytes) | used | reserved for firmware |\n"
       "|---|---|---:|---:|---:|---:|---:|\n";
  size_t peak = 0, pers_total = 0;
  for (size_t i = 0; i < plan.regions.size(); ++i) {
    const auto& r = plan.regions[i];
    const size_t a = arena_in(plan, ex, i), p = persistent_in(plan, ex, i);
    peak += a;
    pers_total += p;
    o += fmt::format("| {} | {} | {} | {} | {} | {} | {} |\n", r.name, r.capacity ? fmt::format("0x{:08x}", r.base) : "-",
                     r.capacity ? std::to_string(r.capacity + p) : "unlimited", a, p, pct(a + p, r.capacity ? r.capacity + p : 0),
                     r.reserved - std::min<uint64_t>(r.reserved, p));
  }
  if (ex.training_plan)
    o += fmt::format("\nWeights: {} bytes (flash). Arena (kArenaBytes): {} bytes, the larger of the inference plan ({} "
                     "bytes) and the training step's plan ({} bytes) in each region. Persistent training state: {} bytes.\n\n",
                     weight_bytes, peak, plan.arena_bytes, ex.training_plan->arena_bytes, pers_total);
  else
    o += fmt::format("\nWeights: {} bytes (flash). Activation arena{}: {} bytes in total.\n\n", weight_bytes,
                     plan.regions.size() > 1 ? "s" : "", plan.arena_bytes);
  if (!is_host(plan)) {
    // The fit verdict and what it assumed about the rest of the firmware.
    o += fmt::format("**Fits `{}`**", plan.target);
    for (size_t i = 0; i < plan.regions.size(); ++i) {
      const auto& r = plan.regions[i];
      const size_t a = arena_in(plan, ex, i), p = persistent_in(plan, ex, i);
      const uint64_t fw = r.reserved - std::min<uint64_t>(r.reserved, p);
      o += fmt::format("{} {}: {} of {} bytes ({}), {} bytes left", i ? ";" : ":", r.name, a + p, r.capacity + p,
                       pct(a + p, r.capacity + p), r.capacity - std::min<uint64_t>(r.capacity, a));
      o += fw ? fmt::format(", assuming {} bytes for the rest of the firmware ({})", fw,
                            r.reserved_what.empty() ? "--reserve" : r.reserved_what)
              : " with nothing reserved for the rest of the firmware";
    }
    o += ". Change the assumption with `--reserve REGION=BYTES` (replaces the board's default reserve of that "
         "region).\n\n";
  }
  if (!ex.persistent.empty()) {
    o += "| persistent block | region | bytes |\n|---|---|---:|\n";
    for (const auto& p : ex.persistent) o += fmt::format("| {} | {} | {} |\n", p.name, p.region, p.bytes);
    o += "\n";
  }
  if (const PersistArea* a = ex.persist_area)
    o += fmt::format(
        "Learned-state storage (`--persist-area {}`): {} bytes at 0x{:08X} in {} (offset 0x{:X}), reserved "
        "in the region; two slots take {} bytes for {} bytes of state ({}-byte erase units, {}-byte program "
        "units; docs/persistence.md).\n\n",
        a->spec, a->size, a->base, a->region, a->offset, ex.persist_needed, ex.learned_state_bytes, a->erase_size,
        a->program_size);
  if (ex.training_plan) o += "The tables below are the inference plan; `training.json` details the training step.\n\n";
  o += fmt::format(
      "Single-arena plan: {} bytes (strategy `{}`); liveness lower bound {} bytes ({}); greedy by size (TFLM) "
      "{} bytes.\n\n",
      plan.single_arena_bytes, plan.strategy, plan.lower_bound,
      plan.lower_bound ? fmt::format("{:.3f} x the bound", static_cast<double>(plan.single_arena_bytes) /
                                                                static_cast<double>(plan.lower_bound))
                       : "no buffers",
      plan.greedy_bytes);
  if (plan.split_bytes) {
    const long long extra = static_cast<long long>(plan.split_bytes) - static_cast<long long>(plan.single_arena_bytes);
    o += fmt::format("Placement `{}`: moving small buffers to faster regions gives {} bytes over {} regions, {} the "
                     "single-arena plan ({} bytes){}; {}.\n\n",
                     plan.placement, plan.split_bytes, plan.regions.size(),
                     extra > 0 ? fmt::format("+{} bytes ({:+.1f}%) against", extra,
                                             100.0 * static_cast<double>(extra) / static_cast<double>(plan.single_arena_bytes))
                               : "no more than",
                     plan.single_arena_bytes,
                     extra > 0 && plan.placement == "compact" ? "" : "",
                     extra > 0 && plan.placement == "compact"
                         ? "kept the single arena (`--placement fast` takes the split)"
                         : (extra > 0 ? "took the split (`--placement compact` keeps one arena)" : "took the split"));
  }
  size_t n_inplace = static_cast<size_t>(std::count(plan.inplace.begin(), plan.inplace.end(), true));
  size_t n_views = static_cast<size_t>(std::count(plan.elided.begin(), plan.elided.end(), true));
  o += fmt::format("{} buffers for {} nodes; {} views aliased to their input, {} nodes executed in place.\n\n",
                   plan.buffers.size(), plan.schedule.size(), n_views, n_inplace);
  o += "## Largest live sets\n\n| step | layer | op | live bytes | largest live buffers |\n|---:|---|---|---:|---|\n";
  for (int s : top_steps(plan, 5)) {
    std::vector<int> at;
    for (size_t i = 0; i < plan.buffers.size(); ++i)
      if (plan.buffers[i].first <= s && s <= plan.buffers[i].last) at.push_back(static_cast<int>(i));
    std::sort(at.begin(), at.end(), [&](int a, int b) { return plan.buffers[a].size > plan.buffers[b].size; });
    std::vector<std::string> names;
    for (size_t k = 0; k < at.size() && k < 3; ++k)
      names.push_back(fmt::format("`{}` ({})", plan.buffers[at[k]].name, plan.buffers[at[k]].size));
    const ir::Node& n = **std::next(g.nodes().begin(), s);
    o += fmt::format("| {} | `{}` | {} | {} | {} |\n", s, n.name, n.op, plan.live_bytes[s], fmt::join(names, ", "));
  }
  o += "\n`memory.svg` draws every buffer (x = schedule step, y = offset in its region's arena).\n";
  return o;
}

std::string memory_svg(const MemoryPlan& plan, const std::string& model) {
  const double W = 960, left = 70, right = 20, panel_h = 260, gap = 50, top = 40;
  const int steps = std::max<int>(1, static_cast<int>(plan.schedule.size()));
  const double sx = (W - left - right) / steps;
  const double H = top + plan.regions.size() * (panel_h + gap);
  std::string o = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" font-family=\"sans-serif\" "
      "font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      "<text x=\"{}\" y=\"20\" font-size=\"14\">{}: memory plan for {} (x = schedule step, y = offset)</text>\n",
      W, H, left, xml_escape(model), xml_escape(plan.target));
  int peak_step = plan.live_bytes.empty()
                      ? 0
                      : static_cast<int>(std::max_element(plan.live_bytes.begin(), plan.live_bytes.end()) -
                                         plan.live_bytes.begin());
  for (size_t r = 0; r < plan.regions.size(); ++r) {
    const auto& reg = plan.regions[r];
    const double y0 = top + r * (panel_h + gap) + 20;
    const double scale_bytes = std::max<double>(1.0, static_cast<double>(std::max<size_t>(reg.used, 1)));
    const double sy = panel_h / scale_bytes;
    o += fmt::format("<text x=\"{}\" y=\"{}\">{} ({} of {} bytes)</text>\n", left, y0 - 6, xml_escape(reg.name),
                     reg.used, reg.capacity ? std::to_string(reg.capacity) : "unlimited");
    o += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"#f4f4f4\" stroke=\"#999\"/>\n", left,
                     y0, W - left - right, panel_h);
    o += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">0</text>\n", left - 4, y0 + panel_h);
    o += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n", left - 4, y0 + 10, reg.used);
    for (const auto& b : plan.buffers) {
      if (b.region != static_cast<int>(r) || b.size == 0) continue;
      size_t h = 0;
      for (char c : b.name) h = h * 131 + static_cast<unsigned char>(c);
      std::string fill = b.scratch_of >= 0 ? "#bbbbbb" : fmt::format("hsl({},60%,65%)", h % 360);
      const double x = left + b.first * sx, w = (b.last - b.first + 1) * sx;
      const double y = y0 + panel_h - (b.offset + b.size) * sy, hh = b.size * sy;
      o += fmt::format(
          "<rect x=\"{:.2f}\" y=\"{:.2f}\" width=\"{:.2f}\" height=\"{:.2f}\" fill=\"{}\" stroke=\"#333\" "
          "stroke-width=\"0.3\"><title>{} [{}..{}] offset {} size {}</title></rect>\n",
          x, y, w, std::max(hh, 0.5), fill, xml_escape(b.name), b.first, b.last, b.offset, b.size);
    }
    const double px = left + (peak_step + 0.5) * sx;
    o += fmt::format("<line x1=\"{:.2f}\" y1=\"{}\" x2=\"{:.2f}\" y2=\"{}\" stroke=\"red\" stroke-dasharray=\"4 3\"/>\n",
                     px, y0, px, y0 + panel_h);
  }
  if (!plan.schedule.empty())
    o += fmt::format("<text x=\"{}\" y=\"{}\" fill=\"red\">peak of the live set: step {} ({}), {} bytes</text>\n", left,
                     H - 10, peak_step, xml_escape(plan.schedule[peak_step]), plan.live_bytes[peak_step]);
  o += "</svg>\n";
  return o;
}

std::string linker_fragment(const MemoryPlan& plan, const std::string& model, size_t weight_bytes,
                            const std::string& flash_linker_region, const ReportExtras& ex) {
  std::string s;
  for (size_t r = 0; r < plan.regions.size(); ++r) {
    const auto& reg = plan.regions[r];
    const size_t a = arena_in(plan, ex, r), p = persistent_in(plan, ex, r);
    if (!a && !p) continue;
    const std::string sec = arena_section(model, plan, static_cast<int>(r));
    s += fmt::format(
        "  /* {} (0x{:08x}): activation arena {} bytes{} */\n"
        "  .tinyodlc.{}.{} (NOLOAD) : ALIGN(16)\n  {{\n    *({})\n  }} > {}\n\n",
        reg.name, reg.base, a, p ? fmt::format(" + persistent training state {} bytes", p) : "", model, sanitize_identifier(reg.name), sec,
        reg.linker_region.empty() ? reg.name : reg.linker_region);
  }
  if (weight_bytes && !flash_linker_region.empty()) {
    const std::string sec = weights_section(model, plan);
    s += fmt::format("  /* weights: {} bytes */\n  .tinyodlc.{}.weights : ALIGN(16)\n  {{\n    *({})\n  }} > {}\n",
                     weight_bytes, model, sec, flash_linker_region);
  }
  if (const PersistArea* a = ex.persist_area) {
    // Symbols, not a section: the area holds no linked data (the firmware's flash driver erases
    // and programs it at run time), and an output section at a fixed address would move the
    // region's location counter for the firmware's own sections.
    const std::string p = fmt::format("__tinyodlc_{}_persist", model), mem = a->linker_region;
    s += fmt::format(
        "\n  /* --persist-area {0}: learned-state storage, {1} bytes (two slots of {2}) */\n"
        "  {3}_start = 0x{4:08X};\n  {3}_end = 0x{5:08X};\n"
        "  ASSERT({3}_start >= ORIGIN({6}) && {3}_end <= ORIGIN({6}) + LENGTH({6}),\n"
        "         \"tinyodlc: the --persist-area of {7} is not inside the MEMORY region {6}\")\n",
        a->spec, a->size, ex.persist_needed / 2, p, a->base, a->base + a->size, mem, model);
    if (weight_bytes && !flash_linker_region.empty())
      s += fmt::format(
          "  ASSERT(ADDR(.tinyodlc.{0}.weights) >= {1}_end || ADDR(.tinyodlc.{0}.weights) + SIZEOF(.tinyodlc.{0}.weights) "
          "<= {1}_start,\n         \"tinyodlc: the weights of {0} overlap its --persist-area\")\n",
          model, p);
  }
  return render_embedded("templates/sections.ld.in", {{"version", TINYODLC_VERSION},
                                            {"name", model},
                                            {"target", plan.target},
                                            {"weight_bytes", std::to_string(weight_bytes)},
                                            {"sections", s}});
}

std::vector<GeneratedFile> memory_report_files(const ir::Graph& g, const MemoryPlan& plan, const std::string& model,
                                               size_t weight_bytes, const backends::PlanOptions& opts,
                                               const ReportExtras& ex) {
  std::vector<GeneratedFile> f;
  f.push_back({"memory.json", memory_json(g, plan, weight_bytes, ex)});
  std::string md = memory_markdown(g, plan, model, weight_bytes, ex);
  if (!ex.static_state.empty()) {
    md += "\n## Learned state outside the arenas\n\n| state | region | bytes |\n|---|---|---:|\n";
    for (const auto& s : ex.static_state)
      md += fmt::format("| {} | {} | {} |\n", s.name, s.region.empty() ? "(host)" : s.region, s.bytes);
  }
  f.push_back({"memory.md", md});
  f.push_back({"memory.svg", memory_svg(plan, model)});
  if (!is_host(plan)) {
    std::string flash;
    uint64_t best = 0;
    for (const auto& r : opts.regions)
      if (r.kind == "flash" && r.capacity >= best) best = r.capacity, flash = r.linker_region.empty() ? r.name : r.linker_region;
    f.push_back({model + "_sections.ld", linker_fragment(plan, model, weight_bytes, flash, ex)});
  }
  return f;
}

}  // namespace tinyodlc::backends
