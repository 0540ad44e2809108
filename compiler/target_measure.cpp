// Measurements of a target run: section sizes split into model and harness (from the linker
// script's __tod_model_* symbols), region use as linked, the harness's stack statistics, the
// QEMU plugin's instruction counts (whole invoke() and per layer), and target_run.json.
#include <sstream>

#include <fmt/format.h>

#include "compiler/target_steps.h"

namespace tinyodlc {

using namespace target_detail;

namespace target_detail {

uint64_t Symbols::get(const std::string& n) const {
  auto it = addr.find(n);
  return it == addr.end() ? 0 : it->second;
}

Symbols read_symbols(const std::string& elf, const RunOptions& ropts) {
  std::string out = must_run({arm_prefix() + "nm", elf}, ropts, "reading the symbols of " + elf);
  Symbols s;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string a, type, name;
    if (ls >> a >> type >> name) s.addr[name] = std::stoull(a, nullptr, 16);
  }
  return s;
}

std::vector<ElfSection> read_sections(const std::string& elf, const RunOptions& ropts) {
  std::string out = must_run({arm_prefix() + "objdump", "-h", "-w", elf}, ropts, "reading the sections of " + elf);
  std::vector<ElfSection> r;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string idx, name, size, vma, lma, off, algn;
    if (!(ls >> idx >> name >> size >> vma >> lma >> off >> algn)) continue;
    if (idx.empty() || !std::isdigit(static_cast<unsigned char>(idx[0]))) continue;
    std::string flags;
    std::getline(ls, flags);
    r.push_back({name, std::stoull(size, nullptr, 16), std::stoull(vma, nullptr, 16), std::stoull(lma, nullptr, 16),
                 flags.find("ALLOC") != std::string::npos, flags.find("LOAD") != std::string::npos});
  }
  return r;
}

void measure_sizes(const std::string& elf, const Target& target, const RunOptions& ropts, TargetReport& rep) {
  Layout l = place_regions(target, rep.main_ram);
  Symbols sym = read_symbols(elf, ropts);
  std::vector<ElfSection> secs = read_sections(elf, ropts);
  auto sec_size = [&](const std::string& n) -> uint64_t {
    for (const auto& s : secs)
      if (s.name == n) return s.size;
    return 0;
  };
  auto model = [&](const std::string& k) {
    return sym.get("__tod_model_" + k + "_end") - sym.get("__tod_model_" + k + "_start");
  };
  uint64_t text_all = 0;
  for (const char* n : {".isr_vector", ".text", ".ARM.extab", ".ARM.exidx", ".init_array", ".zero_table"})
    text_all += sec_size(n);
  rep.text = {model("text"), text_all - model("text")};
  rep.rodata = {model("rodata"), sec_size(".rodata") - model("rodata")};
  rep.data = {model("data"), sec_size(".data") - model("data")};
  uint64_t bss_all = sec_size(".bss"), bss_model = model("bss");
  for (size_t i = 1; i < l.rams.size(); ++i) {
    std::string r = ident(l.rams[i].region->name);
    bss_all += sec_size(".tinyodlc_" + r);
    bss_model += model("r_" + r);
  }
  rep.bss = {bss_model, bss_all - bss_model};
  // Region use as linked: loadable contents by load address (flash), allocated sections by
  // run address (RAM); the stack reservation is reported separately.
  std::vector<Placement> all = {l.flash};
  all.insert(all.end(), l.rams.begin(), l.rams.end());
  rep.regions.clear();
  for (const auto& p : all) {
    RegionUse u{p.region->name, p.region->kind, 0, p.region->size};
    for (const auto& s : secs) {
      if (!s.alloc || s.name == ".stack") continue;
      bool is_flash = p.region == l.flash.region;
      uint64_t a = is_flash ? s.lma : s.vma;
      if (is_flash && !s.load) continue;
      if (a >= p.origin && a < p.origin + p.region->size) u.used += s.size;
    }
    rep.regions.push_back(u);
  }
}

void read_measurements(const fs::path& dir, bool counted, bool profile, size_t markers, TargetReport& rep) {
  {
    std::istringstream in(read_file(dir / "target_stats.txt"));
    std::string key;
    uint64_t v;
    while (in >> key >> v) {
      rep.stats[key] = v;
      if (key == "stack_peak_bytes") rep.stack_peak_bytes = v;
      if (key == "model_stack_bytes") rep.model_stack_bytes = v;
      if (key == "stack_reserved_bytes") rep.stack_reserved_bytes = v;
    }
  }
  if (!counted) return;
  // "region K insns N" per perf region (0: the markers alone, 1: invoke()), and
  // "region 1 segments N0 N1 ..." split at the per-layer markers.
  std::istringstream in(read_file(dir / "insn_counts.txt"));
  std::string line;
  std::vector<uint64_t> regions;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string w0, w2;
    unsigned k;
    if (!(ls >> w0) || w0 != "region" || !(ls >> k >> w2)) continue;
    if (w2 == "insns") {
      uint64_t n;
      ls >> n;
      regions.push_back(n);
    } else if (w2 == "segments" && k == 1) {
      uint64_t n;
      while (ls >> n) rep.segments.push_back(n);
    }
  }
  // Training runs add one region per round (harness/target/train_harness.cpp); streaming runs
  // have one per push_frame() and one per infer() (harness/target/stream_harness.cpp).
  const auto stat = [&](const char* k) -> size_t { return rep.stats.count(k) ? rep.stats.at(k) : 0; };
  const size_t rounds = stat("rounds"), frames = stat("stream_frames"), windows = stat("stream_windows");
  const size_t expected = frames ? 1 + frames + windows : 2 + rounds;
  if (regions.size() != expected || (frames && (windows == 0 || windows > frames)))
    throw std::runtime_error(fmt::format("the instruction counter saw {} marker regions, expected {}:\n{}",
                                         regions.size(), expected, read_file(dir / "insn_counts.txt")));
  const auto net = [&](uint64_t n) { return n >= regions[0] ? n - regions[0] : 0; };
  rep.marker_overhead = regions[0];
  if (frames) {
    // Frames 0..T-2: a push each; then push, infer for every frame from the T-th on.
    const size_t first_window = frames - windows;
    rep.push_insns.clear();
    rep.infer_insns.clear();
    for (size_t r = 1; r < regions.size();) {
      rep.push_insns.push_back(net(regions[r++]));
      if (rep.push_insns.size() > first_window) rep.infer_insns.push_back(net(regions[r++]));
    }
    rep.insns = rep.push_insns.back() + rep.infer_insns.back();  // the last new frame: push_frame() + infer()
    return;
  }
  rep.insns = net(regions[1]);
  rep.round_insns.clear();
  for (size_t r = 0; r < rounds; ++r) rep.round_insns.push_back(net(regions[2 + r]) + (r == 0 ? *rep.insns : 0));
  if (profile && rep.segments.size() != markers + 1)
    throw std::runtime_error(fmt::format("the instruction counter saw {} layer segments, expected {}",
                                         rep.segments.size(), markers + 1));
}

}  // namespace target_detail

void write_target_report(json::Writer& w, const TargetReport& r) {
  w.begin_object();
  w.field("target", r.target).field("core", r.core).field("qemu_machine", r.qemu_machine);
  w.field("compiler", r.compiler);
  w.key("insns");
  if (r.insns) w.value(*r.insns);
  else w.null();
  w.field("marker_overhead_insns", r.marker_overhead);
  if (!r.round_insns.empty()) {
    w.key("round_insns").begin_array(true);  // training runs: instructions of each round's steps
    for (uint64_t n : r.round_insns) w.value(n);
    w.end_array();
  }
  if (!r.push_insns.empty()) {
    // Streaming runs: per call, and their mean and total.
    const auto calls = [&](const char* key, const std::vector<uint64_t>& v) {
      uint64_t total = 0;
      for (uint64_t n : v) total += n;
      w.key(key).begin_object().field("calls", static_cast<uint64_t>(v.size()));
      w.key("mean").fixed(v.empty() ? 0.0 : static_cast<double>(total) / static_cast<double>(v.size()), 1);
      w.field("total", total).key("each").begin_array(true);
      for (uint64_t n : v) w.value(n);
      w.end_array().end_object();
      return v.empty() ? 0.0 : static_cast<double>(total) / static_cast<double>(v.size());
    };
    w.key("stream").begin_object();
    const double push = calls("push_frame_insns", r.push_insns);
    const double per_frame = push + calls("infer_insns", r.infer_insns);
    w.key("per_new_frame_insns_mean").fixed(per_frame, 1);
    w.end_object();
  }
  w.key("layer_insns").begin_array(true);
  for (uint64_t n : r.segments) w.value(n);
  w.end_array();
  w.field("stack_peak_bytes", r.stack_peak_bytes).field("model_stack_bytes", r.model_stack_bytes);
  w.field("stack_reserved_bytes", r.stack_reserved_bytes);
  w.key("sections").begin_object();
  for (const auto& [name, s] : {std::pair<const char*, const SectionSizes&>{"text", r.text}, {"rodata", r.rodata},
                                {"data", r.data}, {"bss", r.bss}})
    w.key(name).begin_object(true).field("model", s.model).field("harness", s.harness).end_object();
  w.end_object();
  w.field("main_ram", r.main_ram);
  w.key("regions").begin_array();
  for (const auto& u : r.regions)
    w.begin_object(true).field("name", u.name).field("kind", u.kind).field("used", u.used).field("size", u.size)
        .end_object();
  w.end_array();
  w.key("qemu_seconds").fixed(r.seconds, 3);
  w.field("measured", r.stats.count("correct_before")   ? "first training step (accumulate + apply_update)"
                      : !r.push_insns.empty()            ? "the last frame's push_frame() + infer()"
                                                         : "invoke()");
  w.key("harness_stats").begin_object(true);
  for (const auto& [k, v] : r.stats) w.field(k, v);
  w.end_object();
  w.end_object();
}

std::string target_report_json(const TargetReport& r) {
  json::Writer w;
  write_target_report(w, r);
  return w.str();
}

}  // namespace tinyodlc
