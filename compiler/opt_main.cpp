// tinyodlc-opt: runs named passes on textual IR and prints the result (for pass
// development and the lit tests in tests/lit).
//
//   tinyodlc-opt [--pass=a,b,...]... [--print-ir-after=P]... [--print-ir-after-all]
//                [--dim N=V]... [--elide-constants-above=N] [--no-verify] [-o OUT]
//                [--calibration DIR] [--act-range NAME=LO:HI]... [--qdq-drop-pairs] INPUT.tir|INPUT.onnx|-
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "compiler/run_io.h"
#include "frontend/onnx_import.h"
#include "ir/parser.h"
#include "ir/printer.h"
#include "ir/verifier.h"
#include "passes/pass_manager.h"
#include "passes/quantize.h"
#include "passes/stream_split.h"
#include "passes/training.h"

namespace {

using namespace tinyodlc;

constexpr const char* kTool = "tinyodlc-opt";

void usage(std::FILE* f) {
  std::fprintf(f,
               "usage: %s [options] INPUT.tir|INPUT.onnx|-\n"
               "\n"
               "Parses textual IR (or imports an ONNX model), runs the given passes in order and\n"
               "prints the resulting IR.\n"
               "\n"
               "options:\n"
               "  --pass=P1,P2,...           append passes to the pipeline (repeatable)\n"
               "  --print-ir-after=P1,...    print the IR to stderr after these passes\n"
               "  --print-ir-after-all       print the IR to stderr after every pass\n"
               "  --trainable P[,P...]       training passes (select-trainable, autodiff, recompute):\n"
               "  --trainable-last N         the options of 'tinyodlc compile' with the same names\n"
               "  --train-input T  --loss K  --loss-output T  --append-head N\n"
               "  --recompute-min-bytes N    recompute: activations of at least N bytes (default 16384)\n"
               "  --calibration DIR          calibrate: input sets (subfolders with input_K.pb)\n"
               "  --calibration-method M     calibrate: minmax (default), percentile or mse\n"
               "  --act-range NAME=LO:HI     insert-qdq: the range of activation NAME (repeatable;\n"
               "                             instead of running calibrate)\n"
               "  --qdq-drop-pairs           qdq-fold: also remove Q->DQ pairs between float ops (PTQ)\n"
               "  --stream[=INPUT[:AXIS]]    stream-split: the streamed input (default: the rank-5 one,\n"
               "                             axis 1); the per-frame graph is printed after the head\n"
               "  --dim NAME=VALUE           value of a symbolic dimension (repeatable; also used\n"
               "                             when importing .onnx input)\n"
               "  --elide-constants-above=N  print constants with more than N elements as dense<...>\n"
               "                             (display only: such output cannot be parsed again)\n"
               "  --no-verify                do not verify the IR after parsing and after each pass\n"
               "  -o FILE                    write the result to FILE instead of stdout\n"
               "  -h, --help                 show this help\n"
               "\n"
               "passes:\n",
               kTool);
  size_t width = 0;
  for (const auto* p : passes::PassRegistry::instance().all()) width = std::max(width, p->name.size());
  for (const auto* p : passes::PassRegistry::instance().all())
    std::fprintf(f, "  %-*s  %s\n", static_cast<int>(width), p->name.c_str(), p->description.c_str());
}

int usage_error(const std::string& msg) {
  std::fprintf(stderr, "%s: error: %s (see --help)\n", kTool, msg.c_str());
  return 1;
}

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> r;
  size_t b = 0;
  for (;;) {
    size_t e = s.find(',', b);
    std::string part = s.substr(b, e == std::string::npos ? std::string::npos : e - b);
    if (!part.empty()) r.push_back(part);
    if (e == std::string::npos) return r;
    b = e + 1;
  }
}

bool parse_int64(const std::string& s, int64_t& out) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno || *end) return false;
  out = v;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> pass_names;
  std::set<std::string> print_after;
  bool print_after_all = false, verify = true;
  std::map<std::string, int64_t> dims;
  passes::TrainingOptions training;
  passes::QuantContext quant;
  passes::StreamContext stream;
  std::string calibration_dir;
  std::string input, output;
  ir::PrintOptions popts;

  std::vector<std::string> args(argv + 1, argv + argc);
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    // Options taking a value accept both --opt=V and --opt V.
    auto value = [&](const std::string& opt, std::string& v) -> bool {
      if (a == opt) {
        if (i + 1 >= args.size()) throw std::runtime_error(fmt::format("option '{}' needs a value", opt));
        v = args[++i];
        return true;
      }
      if (a.rfind(opt + "=", 0) == 0) {
        v = a.substr(opt.size() + 1);
        return true;
      }
      return false;
    };
    std::string v;
    try {
      if (a == "-h" || a == "--help") {
        usage(stdout);
        return 0;
      } else if (value("--pass", v) || value("--passes", v)) {
        for (auto& p : split_commas(v)) pass_names.push_back(p);
      } else if (value("--print-ir-after", v)) {
        for (auto& p : split_commas(v)) print_after.insert(p);
      } else if (a == "--print-ir-after-all") {
        print_after_all = true;
      } else if (value("--dim", v)) {
        size_t eq = v.find('=');
        int64_t d = 0;
        if (eq == std::string::npos || eq == 0 || !parse_int64(v.substr(eq + 1), d) || d < 0)
          return usage_error(fmt::format("--dim expects NAME=VALUE with a non-negative integer, got '{}'", v));
        dims[v.substr(0, eq)] = d;
      } else if (value("--elide-constants-above", v)) {
        int64_t n = 0;
        if (!parse_int64(v, n) || n < 0)
          return usage_error(fmt::format("--elide-constants-above expects a non-negative integer, got '{}'", v));
        popts.elide_constants_above = n;
      } else if (value("--trainable", v)) {
        for (auto& p : split_commas(v)) training.trainable.push_back(p);
      } else if (value("--trainable-last", v)) {
        int64_t n = 0;
        if (!parse_int64(v, n) || n < 1) return usage_error(fmt::format("--trainable-last expects N >= 1, got '{}'", v));
        training.trainable_last = static_cast<int>(n);
      } else if (value("--train-input", v)) {
        training.train_input = v;
      } else if (value("--loss", v)) {
        training.loss = v;
      } else if (value("--loss-output", v)) {
        training.loss_output = v;
      } else if (value("--append-head", v)) {
        int64_t n = 0;
        if (!parse_int64(v, n) || n < 1) return usage_error(fmt::format("--append-head expects N >= 1, got '{}'", v));
        training.append_head = static_cast<int>(n);
      } else if (value("--recompute-min-bytes", v)) {
        int64_t n = 0;
        if (!parse_int64(v, n) || n < 0) return usage_error(fmt::format("--recompute-min-bytes expects N >= 0, got '{}'", v));
        training.recompute_min_bytes = static_cast<size_t>(n);
      } else if (value("--calibration", v)) {
        calibration_dir = v;
      } else if (value("--calibration-method", v)) {
        try {
          quant.method = passes::parse_clip_method(v);
        } catch (const ir::CompileError& e) {
          return usage_error(fmt::format("--calibration-method: {}", e.message()));
        }
      } else if (value("--act-range", v)) {
        const size_t eq = v.rfind('='), colon = v.rfind(':');
        char* end = nullptr;
        passes::ActRange r;
        bool ok = eq != std::string::npos && eq > 0 && colon != std::string::npos && colon > eq;
        if (ok) {
          const std::string lo = v.substr(eq + 1, colon - eq - 1), hi = v.substr(colon + 1);
          r.lo = r.min = std::strtod(lo.c_str(), &end);
          ok = !lo.empty() && *end == 0;
          r.hi = r.max = std::strtod(hi.c_str(), &end);
          ok = ok && !hi.empty() && *end == 0 && std::isfinite(r.lo) && std::isfinite(r.hi) && r.lo <= r.hi;
        }
        if (!ok) return usage_error(fmt::format("--act-range expects NAME=LO:HI with finite LO <= HI, got '{}'", v));
        quant.ranges[v.substr(0, eq)] = r;
      } else if (a == "--stream" || a.rfind("--stream=", 0) == 0) {
        if (a.size() > 9) {
          const std::string spec = a.substr(9);
          const size_t colon = spec.rfind(':');
          stream.input = spec.substr(0, colon);
          int64_t ax = 0;
          if (colon != std::string::npos && !parse_int64(spec.substr(colon + 1), ax))
            return usage_error(fmt::format("--stream expects INPUT[:AXIS], got '{}'", spec));
          if (colon != std::string::npos) stream.axis = static_cast<int>(ax);
        }
      } else if (a == "--qdq-drop-pairs") {
        quant.drop_pairs = true;
      } else if (a == "--no-verify") {
        verify = false;
      } else if (value("-o", v)) {
        output = v;
      } else if (a.size() > 1 && a[0] == '-') {
        return usage_error(fmt::format("unknown option '{}'", a));
      } else {
        if (!input.empty()) return usage_error(fmt::format("more than one input file ('{}' and '{}')", input, a));
        input = a;
      }
    } catch (const std::runtime_error& e) {
      return usage_error(e.what());
    }
  }
  if (input.empty()) return usage_error("no input file");

  const std::string shown = input == "-" ? "<stdin>" : input;
  passes::PassManager pm;
  try {
    for (const auto& p : pass_names) pm.add(p);
  } catch (const ir::CompileError& e) {
    return usage_error(e.message());
  }
  try {
    for (const auto& p : print_after)
      if (!passes::PassRegistry::instance().find(p))
        return usage_error(fmt::format("--print-ir-after: unknown pass '{}'", p));
    pm.print_after(print_after);
    pm.print_after_all(print_after_all);
    pm.verify_each(verify);
    pm.set_printer([&](const std::string& pass, const ir::Graph& g) {
      std::cerr << "// -----// IR Dump After " << pass << " //----- //\n" << ir::print_graph(g, popts) << std::flush;
    });

    std::unique_ptr<ir::Graph> g;
    if (input.size() > 5 && input.compare(input.size() - 5, 5, ".onnx") == 0) {
      frontend::ImportOptions iopts;
      iopts.dims = dims;
      g = frontend::import_onnx_file(input, iopts);
    } else {
      g = ir::parse_graph_file(input);
    }
    if (verify) ir::verify(*g);
    passes::PassContext ctx;
    ctx.dim_values = dims;
    ctx.log = &std::cerr;
    ctx.training = &training;
    if (!calibration_dir.empty()) quant.calibration_sets = load_input_sets(calibration_dir, *g);
    ctx.quant = &quant;
    ctx.stream = &stream;
    pm.run(*g, ctx);

    std::string text = ir::print_graph(*g, popts);
    if (stream.frame_graph) text += ir::print_graph(*stream.frame_graph, popts);
    if (output.empty() || output == "-") {
      std::cout << text << std::flush;
    } else {
      std::ofstream f(output, std::ios::binary);
      if (!f) throw ir::CompileError(output, fmt::format("cannot write file: {}", std::strerror(errno)));
      f << text;
      if (!f.flush()) throw ir::CompileError(output, "write failed");
    }
    return 0;
  } catch (const ir::ParseError& e) {
    std::cerr << fmt::format("{}: error: {}\n", kTool, e.what());
    std::cerr << e.source_line() << "\n";
    // Caret under the offending column (tabs kept so that it lines up).
    std::string pad;
    for (int c = 1; c < e.column() && static_cast<size_t>(c - 1) < e.source_line().size(); ++c)
      pad += e.source_line()[static_cast<size_t>(c - 1)] == '\t' ? '\t' : ' ';
    std::cerr << pad << "^\n";
    return 1;
  } catch (const ir::CompileError& e) {
    if (!e.where().empty() && (e.where() == input || e.where() == output)) std::cerr << fmt::format("{}: error: {}\n", kTool, e.what());
    else std::cerr << fmt::format("{}: error: {}: {}\n", kTool, shown, e.what());
    return 1;
  } catch (const std::exception& e) {
    std::cerr << fmt::format("{}: error: {}: internal error: {}\n", kTool, shown, e.what());
    return 1;
  }
}
