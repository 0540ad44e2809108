// Targets as data: targets/*.json are embedded in the binary (cmake/embed_files.cmake) and
// parsed on first use; --target-file loads a user's file with the same schema.
#include "compiler/targets.h"

#include <algorithm>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>

#include "support/embedded.h"
#include "support/json.h"
#include "ir/graph.h"
#include "backends/kernel_variants.h"

namespace tinyodlc {

using ir::CompileError;

uint64_t parse_bytes(const std::string& s0) {
  std::string s = s0;
  uint64_t mul = 1;
  if (!s.empty()) {
    char u = s.back();
    if (u == 'K' || u == 'k') mul = 1024;
    if (u == 'M' || u == 'm') mul = 1024 * 1024;
    if (mul != 1) s.pop_back();
  }
  if (s.empty() || s[0] == '-' || s[0] == '+') throw std::invalid_argument("bad byte count '" + s0 + "'");
  size_t used = 0;
  unsigned long long v = std::stoull(s, &used, 0);  // decimal or 0x hex
  if (used != s.size()) throw std::invalid_argument("bad byte count '" + s0 + "'");
  return static_cast<uint64_t>(v) * mul;
}

namespace {

struct Reader {
  const std::string& src;
  [[noreturn]] void error(const json::Value& v, const std::string& what) const {
    throw CompileError(src, fmt::format("line {}, column {}: {}", v.line, v.col, what));
  }
  std::string str(const json::Value& v, const char* key) const {
    if (v.kind != json::Value::Kind::String) error(v, fmt::format("\"{}\" must be a string", key));
    return v.str;
  }
  uint64_t bytes(const json::Value& v, const char* key) const {
    try {
      if (v.kind == json::Value::Kind::String) return parse_bytes(v.str);
      if (v.kind == json::Value::Kind::Number && v.num >= 0 && v.str.find_first_of(".eE") == std::string::npos)
        return parse_bytes(v.str);
    } catch (const std::exception&) {
    }
    error(v, fmt::format("\"{}\" must be a byte count (8192, \"0x2000\", \"8K\" or \"1M\")", key));
  }
  int integer(const json::Value& v, const char* key) const {
    if (v.kind != json::Value::Kind::Number || v.num != static_cast<int>(v.num))
      error(v, fmt::format("\"{}\" must be an integer", key));
    return static_cast<int>(v.num);
  }
  std::vector<std::string> strings(const json::Value& v, const char* key) const {
    if (v.kind != json::Value::Kind::Array) error(v, fmt::format("\"{}\" must be an array of strings", key));
    std::vector<std::string> r;
    for (const auto& e : v.arr) r.push_back(str(e, key));
    return r;
  }

  void region(const json::Value& v, MemoryRegion& r, bool is_new) const {
    if (!v.is_object()) error(v, "a region must be an object");
    bool have_total = false;
    for (const auto& [k, x] : v.obj) {
      if (k == "name") r.name = str(x, "name");
      else if (k == "kind") {
        r.kind = str(x, "kind");
        if (r.kind != "flash" && r.kind != "ram" && r.kind != "code")
          error(x, fmt::format("region kind '{}' must be \"flash\", \"ram\" or \"code\"", r.kind));
      } else if (k == "base") r.base = bytes(x, "base");
      else if (k == "size") r.total = bytes(x, "size"), have_total = true;
      else if (k == "speed") r.speed = integer(x, "speed");
      else if (k == "linker_region") r.linker_region = str(x, "linker_region");
      else if (k == "note") r.note = str(x, "note");
      else if (k == "erase_size" || k == "program_size") {
        const uint64_t u = bytes(x, k.c_str());
        if (u == 0 || (u & (u - 1)) != 0 || u > (1u << 24))
          error(x, fmt::format("\"{}\" must be a power of two of at most 16M bytes", k));
        (k == "erase_size" ? r.erase_size : r.program_size) = static_cast<uint32_t>(u);
      }
      else if (k == "reserved") {
        if (x.kind != json::Value::Kind::Array) error(x, "\"reserved\" must be an array of {\"what\", \"bytes\"}");
        r.reserved.clear();
        for (const auto& e : x.arr) {
          if (!e.is_object() || !e.find("what") || !e.find("bytes"))
            error(e, "a reservation must be {\"what\": str, \"bytes\": size}");
          const json::Value* fw = e.find("firmware");
          if (fw && fw->kind != json::Value::Kind::Bool) error(*fw, "\"firmware\" must be true or false");
          r.reserved.push_back({str(*e.find("what"), "what"), bytes(*e.find("bytes"), "bytes"), fw && fw->b});
        }
      } else {
        error(x, fmt::format("unknown region key \"{}\" (known: name, kind, base, size, speed, linker_region, "
                             "reserved, erase_size, program_size, note)", k));
      }
    }
    if (is_new && (r.name.empty() || r.kind.empty() || !have_total))
      error(v, "a region needs \"name\", \"kind\" and \"size\"");
    if (r.linker_region.empty()) r.linker_region = r.name;
  }

  Target target(const json::Value& doc) const {
    if (!doc.is_object()) error(doc, "a target description must be a JSON object");
    Target t;
    if (const json::Value* ext = doc.find("extends")) {
      std::string base = str(*ext, "extends");
      t = find_target(base);
      t.aliases.clear();
    }
    for (const auto& [k, x] : doc.obj) {
      if (k == "extends") continue;
      if (k == "name") t.name = str(x, "name");
      else if (k == "description") t.description = str(x, "description");
      else if (k == "core") {
        t.core = str(x, "core");
        if (t.core != "host" && t.core != "cortex-m4" && t.core != "cortex-m7" && t.core != "cortex-m33" &&
            t.core != "cortex-m55" && t.core != "cortex-m0plus")
          error(x, fmt::format("unknown core '{}' (host, cortex-m0plus, cortex-m4, cortex-m7, cortex-m33, cortex-m55)",
                               t.core));
      } else if (k == "cflags") t.cflags = strings(x, "cflags");
      else if (k == "qemu_machine") t.qemu_machine = str(x, "qemu_machine");
      else if (k == "aliases") t.aliases = strings(x, "aliases");
      else if (k == "isa") {
        t.isa = str(x, "isa");
        if (!backends::is_known_isa(t.isa)) error(x, fmt::format("unknown isa '{}' (armv7em, none)", t.isa));
      }
      else if (k == "regions") {
        if (x.kind != json::Value::Kind::Array) error(x, "\"regions\" must be an array");
        for (const auto& rv : x.arr) {
          const json::Value* nm = rv.is_object() ? rv.find("name") : nullptr;
          if (!nm) error(rv, "a region needs a \"name\"");
          std::string n = str(*nm, "name");
          auto it = std::find_if(t.regions.begin(), t.regions.end(), [&](const MemoryRegion& r) { return r.name == n; });
          if (it != t.regions.end()) {
            region(rv, *it, false);  // override fields of an inherited region
          } else {
            MemoryRegion r;
            region(rv, r, true);
            t.regions.push_back(r);
          }
        }
      } else {
        error(x, fmt::format("unknown key \"{}\" (known: name, extends, description, core, cflags, qemu_machine, "
                             "aliases, isa, regions)", k));
      }
    }
    if (t.name.empty()) error(doc, "the target needs a \"name\"");
    if (t.core.empty()) error(doc, "the target needs a \"core\"");
    for (auto& r : t.regions) {
      uint64_t res = 0;
      for (const auto& x : r.reserved) res += x.bytes;
      if (res > r.total)
        throw CompileError(src, fmt::format("region '{}': reservations ({} bytes) exceed its size ({} bytes)", r.name,
                                            res, r.total));
      r.size = r.total - res;
    }
    for (size_t i = 0; i < t.regions.size(); ++i)
      for (size_t j = i + 1; j < t.regions.size(); ++j) {
        const auto &a = t.regions[i], &b = t.regions[j];
        if (a.name == b.name) throw CompileError(src, fmt::format("region '{}' is listed twice", a.name));
        if (a.total && b.total && a.base < b.base + b.total && b.base < a.base + a.total)
          throw CompileError(src, fmt::format("regions '{}' and '{}' overlap", a.name, b.name));
      }
    return t;
  }
};

std::vector<std::unique_ptr<Target>>& registry() {
  static std::vector<std::unique_ptr<Target>> reg = [] {
    std::vector<std::unique_ptr<Target>> r;
    for (const auto& f : embedded_files()) {
      std::string p(f.path);
      if (p.rfind("targets/", 0) != 0 || p.size() < 5 || p.substr(p.size() - 5) != ".json") continue;
      r.push_back(std::make_unique<Target>(parse_target(std::string(f.data), p)));
    }
    // host first, then by name
    std::sort(r.begin(), r.end(), [](const auto& a, const auto& b) {
      return std::make_pair(!a->is_host(), a->name) < std::make_pair(!b->is_host(), b->name);
    });
    return r;
  }();
  return reg;
}

}  // namespace

Target parse_target(const std::string& text, const std::string& source) {
  json::Value doc = json::parse(text, source);
  Target t = Reader{source}.target(doc);
  t.source = source;
  return t;
}

const MemoryRegion* Target::region(const std::string& n) const {
  for (const auto& r : regions)
    if (r.name == n) return &r;
  return nullptr;
}

const Target& find_target(const std::string& name) {
  for (const auto& t : registry())
    if (t->name == name) return *t;
  for (const auto& t : registry())
    for (const auto& a : t->aliases)
      if (a == name) return *t;
  throw CompileError("", fmt::format("unknown target '{}' (available: {}; or --target-file FILE)", name,
                                     fmt::join(target_names(), ", ")));
}

std::vector<std::string> target_names() {
  std::vector<std::string> r;
  for (const auto& t : registry()) r.push_back(t->name);
  return r;
}

Target load_target_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw CompileError("", fmt::format("--target-file {}: cannot read the file", path));
  std::stringstream ss;
  ss << f.rdbuf();
  return parse_target(ss.str(), path);
}

const Target& register_target(Target t) {
  auto& reg = registry();
  for (auto& p : reg)
    if (p->name == t.name) {
      *p = std::move(t);
      return *p;
    }
  reg.push_back(std::make_unique<Target>(std::move(t)));
  return *reg.back();
}

void apply_reservations(Target& t, const std::map<std::string, uint64_t>& reserve) {
  for (const auto& [name, bytes] : reserve) {
    auto it = std::find_if(t.regions.begin(), t.regions.end(), [&, &region = name](const MemoryRegion& r) { return r.name == region; });
    if (it == t.regions.end()) {
      std::vector<std::string> names;
      for (const auto& r : t.regions) names.push_back(r.name);
      throw CompileError("", fmt::format("--reserve {}={}: target '{}' has no region '{}' (regions: {})", name, bytes,
                                         t.name, name, names.empty() ? "none" : fmt::format("{}", fmt::join(names, ", "))));
    }
    // --reserve replaces the board's default firmware reserve of that region (an assumption).
    for (auto r = it->reserved.begin(); r != it->reserved.end();)
      if (r->firmware_default) {
        it->size += r->bytes;
        r = it->reserved.erase(r);
      } else {
        ++r;
      }
    if (bytes > it->size)
      throw CompileError("", fmt::format("--reserve {}={}: region '{}' of target '{}' has only {} bytes left", name,
                                         bytes, name, t.name, it->size));
    it->reserved.push_back({"firmware (--reserve)", bytes});
    it->size -= bytes;
  }
}

std::string describe_targets() {
  std::string out;
  for (const auto& t : registry()) {
    out += fmt::format("{:<14} {}\n", t->name, t->description);
    if (!t->aliases.empty()) out += fmt::format("{:<14}   also known as: {}\n", "", fmt::join(t->aliases, ", "));
    if (t->regions.empty()) out += fmt::format("{:<14}   memory: unlimited (one arena)\n", "");
    for (const auto& r : t->regions) {
      std::string res;
      for (const auto& x : r.reserved)
        res += fmt::format(", {} KiB reserved for {}{}", x.bytes / 1024.0, x.what,
                           x.firmware_default ? " (default; --reserve replaces it)" : "");
      out += fmt::format("{:<14}   {:<8} {:<5} 0x{:08x} {:>7} KiB{}\n", "", r.name, r.kind, r.base, r.total / 1024.0,
                         res);
    }
  }
  return out;
}

}  // namespace tinyodlc
