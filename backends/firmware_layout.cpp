#include "backends/firmware_layout.h"

#include <algorithm>
#include <cctype>
#include <map>

#include <fmt/format.h>

#include "support/error.h"
#include "support/template_engine.h"

namespace tinyodlc::backends {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Sources that ship with the firmware (the rest -- reports, linker fragment -- are not compiled).
bool is_source(const std::string& path) {
  return ends_with(path, ".h") || ends_with(path, ".cpp") || ends_with(path, ".c");
}

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::map<std::string, std::string> common_vars(const FirmwareLayoutInput& in) {
  std::map<std::string, std::string> v;
  v["version"] = TINYODLC_VERSION;
  v["name"] = in.name;
  v["NAME"] = upper(in.name);
  v["target"] = in.target;
  v["sections_ld"] = in.name + "_sections.ld";
  v["lib_name"] = "tinyodlc_" + in.name;
  v["weight_bytes"] = std::to_string(in.weight_bytes);
  v["ram_bytes"] = std::to_string(in.ram_bytes);
  return v;
}

std::vector<std::string> cpp_sources(const FirmwareLayoutInput& in) {
  std::vector<std::string> r;
  for (const auto& f : *in.files)
    if (ends_with(f.path, ".cpp") || ends_with(f.path, ".c")) r.push_back(f.path);
  std::sort(r.begin(), r.end());
  return r;
}

// Static buffers for the example sketches: one per tensor, aligned, sized from the graph.
void buffer_vars(const std::vector<ir::Value*>& ins, const std::vector<ir::Value*>& outs, const std::string& what,
                 std::map<std::string, std::string>& v) {
  std::string decl;
  std::vector<std::string> in_names, out_names;
  for (size_t i = 0; i < ins.size(); ++i) {
    const std::string n = fmt::format("g_in{}", i);
    decl += fmt::format("alignas(16) static uint8_t {}[{}];  // {} '{}' {}\n", n, std::max<size_t>(ins[i]->nbytes(), 1),
                        what, ins[i]->name, ins[i]->type_str());
    in_names.push_back(n);
  }
  for (size_t i = 0; i < outs.size(); ++i) {
    const std::string n = fmt::format("g_out{}", i);
    decl += fmt::format("alignas(16) static uint8_t {}[{}];  // output '{}' {}\n", n,
                        std::max<size_t>(outs[i]->nbytes(), 1), outs[i]->name, outs[i]->type_str());
    out_names.push_back(n);
  }
  v["buffers"] = decl;
  v["input_list"] = fmt::format("{}", fmt::join(in_names, ", "));
  v["output_list"] = fmt::format("{}", fmt::join(out_names, ", "));
}

std::vector<GeneratedFile> cmake_layout(const FirmwareLayoutInput& in) {
  auto v = common_vars(in);
  std::string src;
  for (const auto& s : cpp_sources(in)) src += fmt::format("  ${{CMAKE_CURRENT_SOURCE_DIR}}/{}\n", s);
  v["sources"] = src;
  return {{"CMakeLists.txt", render_embedded("templates/firmware/CMakeLists.txt.in", v)}};
}

std::vector<GeneratedFile> modustoolbox_layout(const FirmwareLayoutInput& in) {
  auto v = common_vars(in);
  std::vector<std::string> src;
  for (const auto& s : cpp_sources(in)) src.push_back(fmt::format("$(TINYODLC_{}_DIR)/{}", v["NAME"], s));
  v["mk_sources"] = fmt::format("{}", fmt::join(src, " "));
  return {{in.name + ".mk", render_embedded("templates/firmware/modustoolbox.mk.in", v)}};
}

std::vector<GeneratedFile> arduino_layout(const FirmwareLayoutInput& in) {
  auto v = common_vars(in);
  const std::string root = "arduino/" + v["lib_name"] + "/";
  v["architectures"] = "mbed_nicla,mbed_portenta,mbed_giga,mbed_nano";
  v["training_word"] = in.training_graph ? " and on-device training" : "";
  v["training_example_doc"] =
      in.training_graph ? fmt::format(", `examples/{}_train` runs training steps", in.name) : "";
  std::vector<GeneratedFile> r;
  r.push_back({root + "library.properties", render_embedded("templates/firmware/library.properties.in", v)});
  r.push_back({root + "extras/README.md", render_embedded("templates/firmware/arduino_README.md.in", v)});
  for (const auto& f : *in.files) {
    if (f.path.find('/') == std::string::npos && !is_source(f.path)) {
      r.push_back({root + "extras/" + f.path, f.contents});  // reports and the linker fragment
    } else if (is_source(f.path)) {
      r.push_back({root + "src/" + f.path, f.contents});
    }
  }
  auto iv = v;
  buffer_vars(in.graph->inputs, in.graph->outputs, "input", iv);
  const std::string inv = in.name + "_invoke";
  r.push_back({root + "examples/" + inv + "/" + inv + ".ino", render_embedded("templates/firmware/invoke.ino.in", iv)});
  if (in.training_graph) {
    auto tv = v;
    buffer_vars(in.training_graph->inputs, {}, "training input", tv);
    const std::string tr = in.name + "_train";
    r.push_back({root + "examples/" + tr + "/" + tr + ".ino", render_embedded("templates/firmware/train.ino.in", tv)});
  }
  return r;
}

}  // namespace

const std::vector<std::string>& firmware_layout_kinds() {
  static const std::vector<std::string> k = {"cmake", "arduino", "modustoolbox"};
  return k;
}

std::vector<GeneratedFile> firmware_layout_files(const std::string& kind, const FirmwareLayoutInput& in) {
  if (kind == "cmake") return cmake_layout(in);
  if (kind == "arduino") return arduino_layout(in);
  if (kind == "modustoolbox") return modustoolbox_layout(in);
  throw CompileError("--emit", fmt::format("unknown layout '{}' (cmake, arduino or modustoolbox)", kind));
}

}  // namespace tinyodlc::backends
