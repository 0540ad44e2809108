// Over 500 lines on purpose: the four views of one MemoryPlan (memory.json, memory.md,
// memory.svg, the linker fragment) share the per-region accounting (arena_in/persistent_in) that
// must agree between them; memory.svg is the part to split out when it grows further.
#include "backends/memory_report.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iterator>
#include <numeric>

#include <fmt/format.h>

#include "support/text.h"
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
  if (x.training_plan)
    for (const auto& t : x.training_plan->regions)
      if (t.name == plan.regions[r].name) u = std::max(u, t.used);
  return u;
}
const char* build_kind(const ReportExtras& x) {
  return x.stream_head ? "streaming" : x.training_plan ? "training" : "inference";
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

std::string region_section(const std::string& model, const std::string& region) {
  return fmt::format(".bss.tinyodlc.{}.{}", model, sanitize_identifier(region));
}

std::string arena_section(const std::string& model, const MemoryPlan& plan, int r) {
  if (is_host(plan)) return "";
  return region_section(model, plan.regions[r].name);
}

std::string shared_arena_symbol(const std::string& base, const std::string& region, bool per_region) {
  return per_region ? base + "_" + sanitize_identifier(region) : base;
}

std::string weights_section(const std::string& model, const MemoryPlan& plan) {
  if (is_host(plan)) return "";
  return fmt::format(".rodata.tinyodlc.{}.weights", model);
}

std::string memory_json(const ir::Graph& g, const MemoryPlan& plan, size_t weight_bytes, const ReportExtras& ex) {
  (void)g;
  json::Writer w;
  w.begin_object();
  w.field("target", plan.target);
  w.field("build", build_kind(ex));
  size_t peak = 0, pers = 0;
  for (size_t r = 0; r < plan.regions.size(); ++r) peak += arena_in(plan, ex, r), pers += persistent_in(plan, ex, r);
  auto blocks = [&](const char* key, const std::vector<PersistentBlock>& v) {
    w.key(key).begin_array(true);
    for (const auto& p : v) w.begin_object(true).field("name", p.name).field("region", p.region).field("bytes", p.bytes).end_object();
    w.end_array();
  };
  blocks("persistent", ex.persistent);
  w.field("persistent_bytes", pers);
  w.field("inference_arena_bytes", plan.arena_bytes);
  if (ex.training_plan) w.field(ex.stream_head ? "head_arena_bytes" : "training_arena_bytes", ex.training_plan->arena_bytes);
  w.key("regions").begin_array();
  for (size_t r = 0; r < plan.regions.size(); ++r) {
    const auto& x = plan.regions[r];
    const bool unlimited = x.capacity == 0;
    const size_t a = arena_in(plan, ex, r), p = persistent_in(plan, ex, r);
    w.begin_object(true)
        .field("name", x.name)
        .field("size", unlimited ? static_cast<uint64_t>(x.used) : x.capacity)
        .field("used", x.used)
        .field("base", x.base)
        .field("reserved", x.reserved)
        .field("unlimited", unlimited)
        .field("speed", x.speed)
        .field("symbol", arena_symbol(plan, static_cast<int>(r)))
        .field("arena", a)
        .field("persistent", p)
        .field("section_bytes", a + p)
        .field("firmware_reserve", x.reserved - std::min<uint64_t>(x.reserved, p))
        .field("reserved_what", x.reserved_what)
        .end_object();
  }
  w.end_array();
  w.key("buffers").begin_array();
  for (const auto& b : plan.buffers) {
    w.begin_object(true)
        .field("name", b.name)
        .field("region", plan.regions[b.region].name)
        .field("offset", b.offset)
        .field("size", b.size)
        .field("first", b.first)
        .field("last", b.last)
        .field("kind", b.scratch_of >= 0 ? "scratch" : "tensor");
    w.key("tensors").begin_array(true);
    for (const auto* v : b.tensors) w.value(v->name);
    w.end_array().end_object();
  }
  w.end_array();
  w.key("schedule").begin_array(true);
  for (const auto& n : plan.schedule) w.value(n);
  w.end_array();
  w.key("inplace_nodes").begin_array(true);
  for (size_t i = 0; i < plan.inplace.size(); ++i)
    if (plan.inplace[i]) w.value(plan.schedule[i]);
  w.end_array();
  w.field("alignment", plan.alignment);
  w.field("peak_bytes", peak);  // = kArenaBytes (training builds: both plans)
  w.field("lower_bound_bytes", plan.lower_bound);
  w.field("single_arena_bytes", plan.single_arena_bytes);
  w.field("greedy_by_size_bytes", plan.greedy_bytes);
  w.field("strategy", plan.strategy);
  if (const PersistArea* a = ex.persist_area)
    w.key("persist_area")
        .begin_object(true)
        .field("spec", a->spec)
        .field("region", a->region)
        .field("linker_region", a->linker_region)
        .field("address", a->base)
        .field("offset", a->offset)
        .field("bytes", a->size)
        .field("needed_bytes", ex.persist_needed)
        .field("state_bytes", ex.learned_state_bytes)
        .field("erase_size", a->erase_size)
        .field("program_size", a->program_size)
        .end_object();
  if (!ex.static_state.empty()) blocks("static_state", ex.static_state);
  w.field("placement", plan.placement);
  w.field("split_bytes", plan.split_bytes);
  w.key("flash").begin_array(true);
  for (const auto& f : ex.flash)
    w.begin_object(true).field("name", f.name).field("size", f.capacity).field("reserved", f.reserved).field("base", f.base).end_object();
  w.end_array();
  for (const auto& [k, v] : ex.byte_counts) w.field(k, v);
  w.field("weight_bytes", weight_bytes);
  w.end_object();
  return w.str();
}

std::string memory_markdown(const ir::Graph& g, const MemoryPlan& plan, const std::string& model,
                            size_t weight_bytes, const ReportExtras& ex) {
  std::string o = fmt::format("# Memory plan of `{}` for target `{}` ({} build)\n\n", model, plan.target,
                              build_kind(ex));
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
  if (ex.stream_head)
    o += fmt::format("\nWeights: {} bytes (flash, backbone and head). Arena (kArenaBytes): {} bytes, shared by the "
                     "backbone ({} bytes) and the head ({} bytes), which never run at the same time: the larger of the "
                     "two in each region. Persistent (the feature ring, and the head's training state when it learns on the ring): {} bytes.\n\n",
                     weight_bytes, peak, plan.arena_bytes, ex.training_plan->arena_bytes, pers_total);
  else if (ex.training_plan)
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
  if (ex.stream_head)
    o += "The tables below are the backbone's plan; `memory_head.md` details the head's.\n\n";
  else if (ex.training_plan) o += "The tables below are the inference plan; `training.json` details the training step.\n\n";
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

namespace {

std::string num(uint64_t n) { return group_thousands(n); }

// A "nice" tick spacing (1, 2, 5 x 10^k) giving at most `max_ticks` ticks over n.
uint64_t tick_step(uint64_t n, uint64_t max_ticks) {
  uint64_t step = 1;
  for (;;) {
    for (uint64_t m : {1, 2, 5})
      if (n / (step * m) <= max_ticks) return step * m;
    step *= 10;
  }
}

std::string shorten(const std::string& s, size_t max_chars) {
  if (s.size() <= max_chars) return s;
  if (max_chars < 2) return "";
  return s.substr(0, max_chars - 1) + "~";
}

constexpr double kCharW = 6.0;  // approximate width of one character at font-size 10-11
constexpr double kBoldW = 9.0;  // ... of a bold one at font-size 13
// Text readable over coloured rectangles: a white halo under the glyphs.
constexpr const char* kHalo = " stroke=\"white\" stroke-width=\"3\" paint-order=\"stroke\"";

}  // namespace

std::string memory_svg(const MemoryPlan& plan, const std::string& model, size_t weight_bytes, const ReportExtras& ex) {
  const double W = 1000, left = 84, plot_right = W - 200, bar_x = W - 186, bar_w = 26;
  const double panel_h = 230, head = 62, foot = 34, gap = 16;  // head: title line + 3 peak lines
  const int steps = std::max<int>(1, static_cast<int>(plan.schedule.size()));
  const double sx = (plot_right - left) / steps;
  const bool host = is_host(plan);
  std::vector<size_t> shown, collapsed;
  for (size_t r = 0; r < plan.regions.size(); ++r)
    (arena_in(plan, ex, r) || persistent_in(plan, ex, r) || plan.regions.size() == 1 ? shown : collapsed).push_back(r);
  size_t peak_total = 0;
  for (size_t r = 0; r < plan.regions.size(); ++r) peak_total += arena_in(plan, ex, r);
  const double flash_h = 96, legend_h = 26;
  const double top = 50;
  const double H = top + shown.size() * (head + panel_h + foot + gap) + (collapsed.empty() ? 0 : 22) + flash_h + legend_h + 10;
  std::string o = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{:.0f}\" font-family=\"sans-serif\" "
      "font-size=\"11\" data-model=\"{}\" data-target=\"{}\" data-build=\"{}\" data-peak-bytes=\"{}\" "
      "data-weight-bytes=\"{}\">\n"
      "<defs><pattern id=\"hatch\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" "
      "patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" fill=\"#fff3e0\"/>"
      "<line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"#e08a00\" stroke-width=\"2\"/></pattern></defs>\n"
      "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
      W, H, xml_escape(model), xml_escape(plan.target), build_kind(ex), peak_total,
      weight_bytes);
  o += fmt::format("<text x=\"{}\" y=\"20\" font-size=\"15\" font-weight=\"bold\">{}: memory plan for {} ({} build)</text>\n",
                   left, xml_escape(model), xml_escape(plan.target), build_kind(ex));
  o += fmt::format("<text x=\"{}\" y=\"38\" fill=\"#444\">RAM: {} B of arena{}{}; x = schedule step, y = offset in the "
                   "region's arena; hover a buffer for its tensors and live range</text>\n",
                   left, num(peak_total), ex.persistent.empty() ? "" : fmt::format(" + {} B of persistent state", num([&] {
                     size_t t = 0;
                     for (const auto& b : ex.persistent) t += b.bytes;
                     return t;
                   }())),
                   host ? " (host build: no memory map)" : "");
  double y = top;
  for (size_t r : shown) {
    const auto& reg = plan.regions[r];
    const size_t a = arena_in(plan, ex, r), p = persistent_in(plan, ex, r);
    const uint64_t fw = reg.reserved - std::min<uint64_t>(reg.reserved, p);
    const uint64_t budget = reg.capacity + p;  // what tinyodlc may use: arena + state
    const double y0 = y + head, y1 = y0 + panel_h;
    const double ymax = static_cast<double>(std::max<size_t>(1, a + p));
    const double sy = panel_h / ymax;
    o += fmt::format("<g class=\"region\" data-region=\"{}\" data-arena=\"{}\" data-persistent=\"{}\" data-size=\"{}\" "
                     "data-budget=\"{}\" data-firmware-reserve=\"{}\">\n",
                     xml_escape(reg.name), a, p, host ? reg.used : reg.capacity, host ? a + p : budget, fw);
    o += fmt::format("<text x=\"{}\" y=\"{:.1f}\" font-size=\"13\" font-weight=\"bold\">{}</text>", left, y + 16,
                     xml_escape(reg.name));
    o += fmt::format("<text x=\"{}\" y=\"{:.1f}\">arena {} B{}{}</text>\n", left + 10 + kBoldW * reg.name.size(),
                     y + 16, num(a), p ? fmt::format(" + persistent state {} B", num(p)) : "",
                     host ? " (unlimited)"
                          : fmt::format(" = {} of the {} B budget ({} B reserved for the rest of the firmware)",
                                        pct(a + p, budget), num(budget), num(fw)));
    o += fmt::format("<rect x=\"{}\" y=\"{:.1f}\" width=\"{}\" height=\"{}\" fill=\"#f7f7f7\" stroke=\"#999\"/>\n", left,
                     y0, plot_right - left, panel_h);
    // y axis: 0, the arena top, the state top
    o += fmt::format("<text x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\">0</text>\n", left - 4, y1);
    if (a) o += fmt::format("<text x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>\n", left - 4, y1 - a * sy + 4, num(a));
    if (p) o += fmt::format("<text x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>\n", left - 4, y0 + 8, num(a + p));
    // x axis ticks
    const uint64_t ts = tick_step(static_cast<uint64_t>(steps), 12);
    for (uint64_t t = 0; t < static_cast<uint64_t>(steps); t += ts) {
      const double x = left + (t + 0.5) * sx;
      o += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#666\"/>"
                       "<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\" font-size=\"10\">{}</text>\n",
                       x, y1, x, y1 + 4, x, y1 + 15, t);
    }
    o += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\" font-size=\"10\" fill=\"#444\">schedule step "
                     "(one per layer)</text>\n", (left + plot_right) / 2, y1 + 28);
    // buffers; the largest get a visible label
    std::vector<size_t> mine;
    for (size_t i = 0; i < plan.buffers.size(); ++i)
      if (plan.buffers[i].region == static_cast<int>(r) && plan.buffers[i].size) mine.push_back(i);
    for (size_t i : mine) {
      const auto& b = plan.buffers[i];
      size_t hh = 0;
      for (char c : b.name) hh = hh * 131 + static_cast<unsigned char>(c);
      std::string fill = b.scratch_of >= 0 ? "#bbbbbb" : fmt::format("hsl({},60%,70%)", hh % 360);
      const double x = left + b.first * sx, w = (b.last - b.first + 1) * sx;
      const double by = y1 - (b.offset + b.size) * sy, bh = b.size * sy;
      std::vector<std::string> shared;
      for (const auto* v : b.tensors) shared.push_back(v->name);
      o += fmt::format("<rect class=\"buffer\" data-name=\"{}\" data-offset=\"{}\" data-size=\"{}\" data-first=\"{}\" "
                       "data-last=\"{}\" x=\"{:.2f}\" y=\"{:.2f}\" width=\"{:.2f}\" height=\"{:.2f}\" fill=\"{}\" "
                       "stroke=\"#333\" stroke-width=\"0.4\"><title>{} ({}) steps {}..{}, offset {}, {} B{}</title></rect>\n",
                       xml_escape(b.name), b.offset, b.size, b.first, b.last, x, by, w, std::max(bh, 0.5), fill,
                       xml_escape(b.name), b.scratch_of >= 0 ? "kernel scratch" : "tensor", b.first, b.last, b.offset,
                       num(b.size), shared.size() > 1 ? fmt::format("; shared by {}", xml_escape(fmt::format("{}", fmt::join(shared, ", ")))) : "");
    }
    std::vector<size_t> by_size = mine;
    std::stable_sort(by_size.begin(), by_size.end(),
                     [&](size_t i, size_t j) { return plan.buffers[i].size > plan.buffers[j].size; });
    int labelled = 0;
    for (size_t i : by_size) {
      if (labelled >= 8) break;
      const auto& b = plan.buffers[i];
      const double x = left + b.first * sx, w = (b.last - b.first + 1) * sx;
      const double by = y1 - (b.offset + b.size) * sy, bh = b.size * sy;
      if (bh < 12) continue;
      const std::string full = fmt::format("{} ({} B)", b.name, num(b.size));
      const size_t fit = static_cast<size_t>(std::max(0.0, (w - 6) / kCharW));
      std::string text = full.size() <= fit ? full : shorten(b.name, fit);
      if (text.size() < 4) continue;
      o += fmt::format("<text class=\"label\" x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"10\"{}>{}</text>\n", x + 3,
                       by + std::min(bh / 2 + 4, 13.0), kHalo, xml_escape(text));
      ++labelled;
    }
    // persistent blocks above the arena, over the whole schedule
    double off = static_cast<double>(a);
    for (const auto& pb : ex.persistent) {
      if (pb.region != reg.name || !pb.bytes) continue;
      const double by = y1 - (off + pb.bytes) * sy, bh = pb.bytes * sy;
      o += fmt::format("<rect class=\"persistent\" data-name=\"{}\" data-bytes=\"{}\" x=\"{}\" y=\"{:.2f}\" width=\"{}\" "
                       "height=\"{:.2f}\" fill=\"#d9c7f0\" stroke=\"#6a4a9c\" stroke-width=\"0.6\"><title>{}: {} B, "
                       "persistent (lives between calls)</title></rect>\n",
                       xml_escape(pb.name), pb.bytes, left, by, plot_right - left, std::max(bh, 0.5), xml_escape(pb.name),
                       num(pb.bytes));
      if (bh >= 12)
        o += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"10\" fill=\"#3d2466\">{}: {} B (persistent)</text>\n",
                         left + 4, by + std::min(bh / 2 + 4, 13.0), xml_escape(pb.name), num(pb.bytes));
      off += pb.bytes;
    }
    size_t second = plan.regions[r].used;  // the other plan's arena in this region
    if (ex.training_plan)
      for (const auto& t : ex.training_plan->regions)
        if (t.name == plan.regions[r].name) second = t.used;
    if (a && second != plan.regions[r].used) {
      const double ty = y1 - plan.regions[r].used * sy;
      o += fmt::format("<line x1=\"{}\" y1=\"{:.1f}\" x2=\"{}\" y2=\"{:.1f}\" stroke=\"#555\" stroke-dasharray=\"2 2\"/>"
                       "<text x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\" font-size=\"10\" fill=\"#555\">{} plan {} B; "
                       "{} plan {} B</text>\n",
                       left, ty, plot_right, ty, plot_right - 4, ty - 3, ex.stream_head ? "backbone" : "inference",
                       num(plan.regions[r].used), ex.stream_head ? "the head's" : "the training step's", num(second));
    }
    // the peak steps of this region, named
    std::vector<size_t> live(static_cast<size_t>(steps), 0);
    for (size_t i : mine)
      for (int t = plan.buffers[i].first; t <= plan.buffers[i].last && t < steps; ++t) live[t] += plan.buffers[i].size;
    std::vector<int> order(live.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int i, int j) { return live[i] > live[j]; });
    std::vector<int> peaks;
    for (int t : order) {
      if (peaks.size() >= 3 || !live[t]) break;
      bool far = true;
      for (int q : peaks) far = far && std::abs(q - t) * 8 >= steps;
      if (far) peaks.push_back(t);
    }
    for (size_t k = 0; k < peaks.size(); ++k) {
      const int t = peaks[k];
      const double px = left + (t + 0.5) * sx;
      const std::string name = t < static_cast<int>(plan.schedule.size()) ? plan.schedule[t] : "";
      const double ly = y0 - 36 + 10 + 12 * k;  // the strip between the title and the plot
      o += fmt::format("<line class=\"peak\" data-step=\"{}\" data-live-bytes=\"{}\" x1=\"{:.1f}\" y1=\"{:.1f}\" "
                       "x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"red\" stroke-dasharray=\"4 3\"/>\n",
                       t, live[t], px, ly + 2, px, y1);
      const bool right_half = px > (left + plot_right) / 2;
      o += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"10\" fill=\"#b00000\" text-anchor=\"{}\"{}>{}step {}: "
                       "{} ({} B live)</text>\n",
                       px + (right_half ? -3 : 3), ly, right_half ? "end" : "start", kHalo, k == 0 ? "peak at " : "", t,
                       xml_escape(shorten(name, 40)), num(live[t]));
    }
    // the whole region at its own scale: arena, state, free, budget line, hatched reserve
    if (!host) {
      const double total = static_cast<double>(std::max<uint64_t>(1, budget + fw));
      const double k = panel_h / total;
      auto seg = [&](double from, double bytes, const std::string& fill, const std::string& cls) {
        if (bytes <= 0) return;
        o += fmt::format("<rect class=\"{}\" x=\"{}\" y=\"{:.2f}\" width=\"{}\" height=\"{:.2f}\" fill=\"{}\" "
                         "stroke=\"#555\" stroke-width=\"0.4\"/>\n",
                         cls, bar_x, y1 - (from + bytes) * k, bar_w, std::max(bytes * k, 0.5), fill);
      };
      seg(0, static_cast<double>(a), "#7fb3e0", "bar-arena");
      seg(static_cast<double>(a), static_cast<double>(p), "#d9c7f0", "bar-persistent");
      seg(static_cast<double>(budget), static_cast<double>(fw), "url(#hatch)", "bar-reserve");
      o += fmt::format("<rect x=\"{}\" y=\"{:.1f}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#333\"/>\n", bar_x,
                       y0, bar_w, panel_h);
      const double by = y1 - budget * k;
      o += fmt::format("<line class=\"budget\" data-bytes=\"{}\" x1=\"{}\" y1=\"{:.1f}\" x2=\"{}\" y2=\"{:.1f}\" "
                       "stroke=\"#c00\" stroke-width=\"2\"/>\n",
                       budget, bar_x - 4, by, bar_x + bar_w + 4, by);
      const double tx = bar_x + bar_w + 6;
      o += fmt::format("<text x=\"{}\" y=\"{:.1f}\" font-size=\"10\" fill=\"#c00\">budget {} B</text>\n", tx,
                       std::max(by + 4, y0 + 8), num(budget));
      o += fmt::format("<text x=\"{}\" y=\"{:.1f}\" font-size=\"10\">used {} B ({})</text>\n", tx,
                       std::min(std::max(y1 - (a + p) * k + 4, by + 16), y1 - 14), num(a + p), pct(a + p, budget));
      if (fw)
        o += fmt::format("<text x=\"{}\" y=\"{:.1f}\" font-size=\"10\" fill=\"#a05a00\">reserve {} B<title>{}</title></text>\n",
                         tx, std::max(by - 6, y0 + 20) < by - 2 ? std::max(by - 6, y0 + 20) : y0 + 20, num(fw),
                         xml_escape(reg.reserved_what.empty() ? "--reserve" : reg.reserved_what));
      o += fmt::format("<text x=\"{}\" y=\"{:.1f}\" font-size=\"10\" fill=\"#444\">region {} B</text>\n", tx, y1,
                       num(budget + fw));
    }
    o += "</g>\n";
    y += head + panel_h + foot + gap;
  }
  if (!collapsed.empty()) {
    std::vector<std::string> names;
    o += "<g class=\"collapsed\">";
    for (size_t r : collapsed) {
      const auto& reg = plan.regions[r];
      o += fmt::format("<desc class=\"empty-region\" data-region=\"{}\" data-size=\"{}\"/>", xml_escape(reg.name),
                       reg.capacity);
      names.push_back(fmt::format("{} ({} B)", reg.name, num(reg.capacity)));
    }
    o += fmt::format("<text x=\"{}\" y=\"{:.1f}\" fill=\"#444\">Unused RAM regions (collapsed): {}</text></g>\n", left,
                     y + 8, xml_escape(fmt::format("{}", fmt::join(names, ", "))));
    y += 22;
  }
  // flash panel: weights (and code once linked) in the flash region that takes the weights
  {
    const RegionSpec* fr = nullptr;
    for (const auto& f : ex.flash)
      if (!fr || f.capacity >= fr->capacity) fr = &f;
    const double bx = left, bw = plot_right - left, bh = 24, y0 = y + 24;
    const uint64_t code = ex.code_bytes.value_or(0);
    o += fmt::format("<g class=\"flash\" data-region=\"{}\" data-size=\"{}\" data-reserved=\"{}\" data-weights=\"{}\"{}>\n",
                     fr ? xml_escape(fr->name) : "", fr ? fr->capacity : 0, fr ? fr->reserved : 0, weight_bytes,
                     ex.code_bytes ? fmt::format(" data-code=\"{}\"", code) : "");
    if (fr) {
      const double total = static_cast<double>(std::max<uint64_t>(1, fr->capacity + fr->reserved));
      const double k = bw / total;
      o += fmt::format("<text x=\"{}\" y=\"{:.1f}\" font-size=\"13\" font-weight=\"bold\">{} (flash)</text>"
                       "<text x=\"{}\" y=\"{:.1f}\">weights {} B{} = {} of the {} B budget</text>\n",
                       left, y + 16, xml_escape(fr->name), left + 10 + kBoldW * (fr->name.size() + 8), y + 16,
                       num(weight_bytes), ex.code_bytes ? fmt::format(" + code {} B", num(code)) : "",
                       pct(weight_bytes + code, fr->capacity), num(fr->capacity));
      o += fmt::format("<rect x=\"{}\" y=\"{:.1f}\" width=\"{}\" height=\"{}\" fill=\"#f7f7f7\" stroke=\"#333\"/>\n", bx, y0,
                       bw, bh);
      o += fmt::format("<rect class=\"weights\" x=\"{}\" y=\"{:.1f}\" width=\"{:.2f}\" height=\"{}\" fill=\"#8cc68c\" "
                       "stroke=\"#333\" stroke-width=\"0.4\"><title>weights {} B</title></rect>\n",
                       bx, y0, std::max(weight_bytes * k, 0.5), bh, num(weight_bytes));
      if (ex.code_bytes)
        o += fmt::format("<rect class=\"code\" x=\"{:.2f}\" y=\"{:.1f}\" width=\"{:.2f}\" height=\"{}\" fill=\"#f2c46d\" "
                         "stroke=\"#333\" stroke-width=\"0.4\"><title>code and other constants {} B</title></rect>\n",
                         bx + weight_bytes * k, y0, std::max(code * k, 0.5), bh, num(code));
      if (fr->reserved)
        o += fmt::format("<rect class=\"bar-reserve\" x=\"{:.2f}\" y=\"{:.1f}\" width=\"{:.2f}\" height=\"{}\" "
                         "fill=\"url(#hatch)\" stroke=\"#333\" stroke-width=\"0.4\"><title>reserved {} B</title></rect>\n",
                         bx + fr->capacity * k, y0, fr->reserved * k, bh, num(fr->reserved));
      o += fmt::format("<line class=\"budget\" data-bytes=\"{}\" x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" "
                       "stroke=\"#c00\" stroke-width=\"2\"/>\n",
                       fr->capacity, bx + fr->capacity * k, y0 - 4, bx + fr->capacity * k, y0 + bh + 4);
    } else {
      o += fmt::format("<text x=\"{}\" y=\"{:.1f}\" font-size=\"13\" font-weight=\"bold\">Flash</text>"
                       "<text x=\"{}\" y=\"{:.1f}\">weights {} B (host build: no flash region)</text>\n",
                       left, y + 16, left + 50, y + 16, num(weight_bytes));
    }
    o += fmt::format("<text x=\"{}\" y=\"{:.1f}\" font-size=\"10\" fill=\"#444\">{}</text>\n", left, y0 + bh + 16,
                     ex.code_bytes ? "green: weights (const arrays); yellow: the model's code and other read-only data, "
                                     "as linked for the core (run --target)"
                                   : "green: weights (const arrays); the code size is known once linked: "
                                     "'tinyodlc run --target' redraws this panel in its run folder and writes target_run.json");
    o += "</g>\n";
    y += flash_h;
  }
  // legend
  {
    const double ly = y + 8;
    double x = left;
    auto item = [&](const std::string& fill, const std::string& stroke, const std::string& text) {
      o += fmt::format("<rect x=\"{:.0f}\" y=\"{:.0f}\" width=\"12\" height=\"10\" fill=\"{}\" stroke=\"{}\"/>"
                       "<text x=\"{:.0f}\" y=\"{:.0f}\" font-size=\"10\">{}</text>\n",
                       x, ly, fill, stroke, x + 16, ly + 9, text);
      x += 28 + kCharW * text.size();
    };
    item("hsl(200,60%,70%)", "#333", "tensor");
    item("#bbbbbb", "#333", "kernel scratch");
    item("#d9c7f0", "#6a4a9c", "persistent state");
    item("url(#hatch)", "#333", "reserved for the firmware");
    item("none", "#c00", "budget (red line)");
    item("none", "red", "peak steps (dashed)");
  }
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
    std::string secs = arena_section(model, plan, static_cast<int>(r));
    for (const std::string& part : ex.section_parts) secs += " " + arena_section(part, plan, static_cast<int>(r));
    s += fmt::format(
        "  /* {} (0x{:08x}): activation arena {} bytes{} */\n"
        "  .tinyodlc.{}.{} (NOLOAD) : ALIGN(16)\n  {{\n    *({})\n  }} > {}\n\n",
        reg.name, reg.base, a,
        p ? fmt::format(" + persistent {} bytes", ex.stream_head ? "(feature ring, head training state)" : "training state", p) : "",
        model, sanitize_identifier(reg.name), secs, reg.linker_region.empty() ? reg.name : reg.linker_region);
  }
  if (weight_bytes && !flash_linker_region.empty()) {
    std::string secs = weights_section(model, plan);
    for (const std::string& part : ex.section_parts) secs += " " + weights_section(part, plan);
    s += fmt::format("  /* weights: {} bytes */\n  .tinyodlc.{}.weights : ALIGN(16)\n  {{\n    *({})\n  }} > {}\n",
                     weight_bytes, model, secs, flash_linker_region);
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
  ReportExtras exf = ex;
  if (exf.flash.empty())
    for (const auto& r : opts.regions)
      if (r.kind == "flash") exf.flash.push_back(r);
  f.push_back({"memory.json", memory_json(g, plan, weight_bytes, exf)});
  std::string md = memory_markdown(g, plan, model, weight_bytes, ex);
  if (!ex.static_state.empty()) {
    md += "\n## Learned state outside the arenas\n\n| state | region | bytes |\n|---|---|---:|\n";
    for (const auto& s : ex.static_state)
      md += fmt::format("| {} | {} | {} |\n", s.name, s.region.empty() ? "(host)" : s.region, s.bytes);
  }
  f.push_back({"memory.md", md});
  f.push_back({"memory.svg", memory_svg(plan, model, weight_bytes, exf)});
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
