// The `tinyodlc` command-line interface (CLI11).
//
// Exit codes: 0 success; 1 compile error (bad or unsupported model, bad inputs); 2 usage
// error; 3 `check`: outputs differ from the reference; 4 build or run of generated code
// failed; 5 the model does not fit the target's memory.
// Over 500 lines on purpose: every subcommand's options and their cross-checks (the CLI
// contracts of the issues) in one place, so one file answers "which flags exist, what do they
// require"; the work itself is in driver/run/host_run/target_run.
#include "compiler/cli.h"

#include <cmath>
#include <filesystem>
#include <iostream>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "compiler/bench.h"
#include "compiler/output_dir.h"
#include "compiler/run.h"
#include "compiler/inspect.h"
#include "compiler/target_run.h"
#include "compiler/targets.h"
#include "frontend/tensor_proto.h"
#include "ir/graph.h"
#include "backends/memory_plan.h"

namespace tinyodlc {

namespace {

constexpr int kExitCompileError = 1;
constexpr int kExitUsage = 2;
constexpr int kExitMismatch = 3;
constexpr int kExitRunFailure = 4;
constexpr int kExitDoesNotFit = 5;

// Options shared by compile/run/check/inspect.
struct Common {
  CompileOptions copts;
  std::vector<std::string> dims;
  std::vector<std::string> print_after;
  std::string target_file;
  std::vector<std::string> reserve;
  std::string persist_area;  // --persist-area REGION:OFFSET:SIZE[:ERASE:PROGRAM]
  std::vector<std::string> trainable;
  std::string prototypes_file;
  std::string stream;  // --stream [INPUT[:AXIS]]
  std::vector<std::string> quant_ranges;  // --quant-range NAME=LO:HI
  std::vector<std::string> keep_float;    // --int8-keep-float NAME[,NAME...]
  // The model options of every subcommand, to tell which were given (validate_common).
  std::vector<CLI::Option*> options;
  bool given(const std::string& name) const {
    for (const CLI::Option* o : options)
      if (o->get_name() == name && o->count() > 0) return true;
    return false;
  }
};

constexpr int kMaxAppendHead = 65536;  // classes of an appended head
constexpr int kMaxEnrolClasses = 65536;  // --classes

// A float option must be finite and within [lo, hi] (open at lo when lo_open).
void check_float(const char* name, double v, double lo, double hi, bool lo_open, const char* what) {
  if (!std::isfinite(v) || v < lo || v > hi || (lo_open && v == lo))
    throw CLI::ValidationError(name, fmt::format("must be {} (got {})", what, v));
}

// "host, mps2-an386 (also cortex-m4), ..." for --help: the README and the docs use the aliases.
std::string target_list_with_aliases() {
  std::vector<std::string> r;
  for (const auto& n : target_names()) {
    const Target& t = find_target(n);
    r.push_back(t.aliases.empty() ? n : fmt::format("{} (also {})", n, fmt::join(t.aliases, ", ")));
  }
  return fmt::format("{}", fmt::join(r, ", "));
}

void add_model_options(CLI::App* app, Common& c, bool codegen) {
  app->add_option("model", c.copts.model, "ONNX model file (.onnx)")->required()->check(CLI::ExistingFile);
  app->add_option("--dim", c.dims,
                  "fix a symbolic dimension, e.g. --dim batch=1 (repeatable); tinyodlc compiles static shapes")
      ->type_name("NAME=VALUE");
  app->add_option("--print-ir-after", c.print_after, "print the IR (to stderr) after the named pass (repeatable)")
      ->type_name("PASS");
  app->add_flag("--print-ir-after-all", c.copts.print_ir_after_all, "print the IR after every pass");
  if (codegen) {
    app->add_option("--name", c.copts.name,
                    "C++ identifier for the generated namespace and file names (default: from the model file name)");
    app->add_option("--target", c.copts.target,
                    fmt::format("target board/core; its memory map drives the memory plan (available: {}; "
                                "'tinyodlc targets' lists them)",
                                target_list_with_aliases()))
        ->default_val("host");
    app->add_option("--target-file", c.target_file,
                    "target description in JSON (schema: docs/targets.md); overrides --target")
        ->check(CLI::ExistingFile);
    app->add_option("--reserve", c.reserve,
                    "keep BYTES of REGION free for the rest of the firmware (stack, heap, frame buffers); "
                    "BYTES may be 4096, 0x1000, 64K or 1M (repeatable)")
        ->type_name("REGION=BYTES");
    app->add_option("--persist-area", c.persist_area,
                    "where save_state()/load_state() keep the learned state: SIZE bytes at OFFSET in REGION (a "
                    "flash region of the target, erase-unit aligned); reserved in the region, checked against "
                    "the state's two slots, given to the firmware as kPersistArea* constants and linker symbols "
                    "(docs/persistence.md). ERASE/PROGRAM: the flash units when the target does not state them")
        ->type_name("REGION:OFFSET:SIZE[:ERASE:PROGRAM]");
    app->add_option("--placement", c.copts.placement,
                    "arena placement over several RAM regions: compact (default: move small buffers to faster "
                    "regions only when that costs no extra RAM) or fast (always; memory.md states the extra RAM)")
        ->check(CLI::IsMember({"fast", "compact"}))
        ->default_val("compact");
    // int8 post-training quantization (docs/quantization.md)
    app->add_option("--quantize", c.copts.quantize, "quantize the model: int8 (needs --calibration)")
        ->check(CLI::IsMember({"int8"}));
    app->add_option("--calibration", c.copts.calibration_dir,
                    "folder of calibration input sets: every subfolder holding input_K.pb files is one set")
        ->check(CLI::ExistingDirectory);
    app->add_option("--calibration-method", c.copts.calibration_method,
                    "activation clipping: minmax, percentile (99.99%) or mse")
        ->check(CLI::IsMember({"minmax", "percentile", "mse"}))
        ->default_val("minmax");
    app->add_option("--quant-eval", c.copts.quant_eval_dir,
                    "held-out input sets (same layout) for the accuracy part of quantization.md "
                    "(default: the calibration sets)")
        ->check(CLI::ExistingDirectory);
    app->add_flag("--quant-debug", c.copts.quant_debug,
                  "per-tensor int8 error vs float (centered cosine, relative error, clipped share, error added), in "
                  "graph order and worst first: quant_debug.md / quant_debug.json in the output folder");
    app->add_option("--int8-keep-float", c.keep_float,
                    "NAME[,NAME...]: keep these activations in float (mixed precision; RAM/flash cost in "
                    "quantization.md and on stderr)");
    app->add_option("--int8-sensitivity", c.copts.int8_sensitivity,
                    "N: measure which activations hurt the output most (each kept in float alone on the calibration "
                    "sets) and keep up to N of them in float (reported with their RAM/flash cost)")
        ->check(CLI::Range(0, 64));
    app->add_option("--quant-range", c.quant_ranges,
                    "NAME=LO:HI: clipping range of activation NAME instead of the calibrated one (repeatable; names "
                    "as in quant_debug.md)");
    app->add_option("--stream", c.stream,
                    "streaming build for a multi-frame model (docs/streaming.md): the per-frame backbone runs once per "
                    "new frame (push_frame), features stay in a ring, the temporal head runs on it (infer). INPUT "
                    "(default: the rank-5 input) and AXIS (default 1) name the streamed input and its time axis; with "
                    "'run', input_0.pb is a clip of F >= T frames and output_K.pb stacks the F-T+1 windows")
        ->expected(0, 1)
        ->type_name("[INPUT[:AXIS]]");
    app->add_option("--arena-symbol", c.copts.arena_symbol,
                    "do not define the activation arena: use the firmware's extern \"C\" uint8_t NAME[] (at least "
                    "kArenaBytes, 16-byte aligned), so that several models share one buffer sized for the largest; "
                    "models sharing it must not run concurrently (docs/enrolment.md)")
        ->type_name("NAME");
    // enrolment and verification (docs/enrolment.md)
    const std::string enr = "Enrolment and verification (docs/enrolment.md)";
    app->add_option("--enrol-output", c.copts.enrol_output,
                    "emit <name>_enrol.h/.cpp: enrol/prototype/score/verify/identify over this float output (the "
                    "embedding); prototypes are the normalised means of the normalised embeddings, scores are "
                    "cosines. With 'run': needs --enrol DIR")
        ->type_name("TENSOR")
        ->group(enr);
    app->add_option("--classes", c.copts.enrol_classes, "number of enrolment classes (prototypes), K >= 1")
        ->type_name("K")
        ->default_val(1)
        ->group(enr);
    app->add_option("--threshold", c.copts.enrol_threshold, "initial verification threshold: verify() accepts score > F")
        ->type_name("F")
        ->default_val(0.5f)
        ->group(enr);
    // on-device learning (docs/training.md)
    auto& t = c.copts.training;
    auto& o = c.copts.optimizer;
    const std::string odl = "On-device learning (docs/training.md)";
    app->add_option("--trainable", c.trainable,
                    "train these initializers: exact names or regular expressions matching whole names "
                    "(repeatable or comma-separated); 'biases' = all biases, 'norms' = all normalization "
                    "scales/shifts. Adds a training step (accumulate/apply_update/train_step) to the generated code")
        ->type_name("PATTERN")
        ->group(odl);
    app->add_option("--trainable-last", t.trainable_last,
                    "train the last N parametric layers (Conv/ConvTranspose/Gemm/MatMul and the norms between them)")
        ->type_name("N")
        ->group(odl);
    app->add_option("--train-input", t.train_input,
                    "train only the part of the model fed by this tensor (it becomes the input: e.g. cached "
                    "features); default trainable set: all of that part's parameters")
        ->type_name("TENSOR")
        ->group(odl);
    app->add_option("--loss", t.loss, "loss: cross-entropy (softmax CE on logits, int64 label), mse (float target), "
                                      "cosine-prototype (CE on scale * cos(embedding, prototypes))")
        ->check(CLI::IsMember({"cross-entropy", "mse", "cosine-prototype"}))
        ->default_val("cross-entropy")
        ->group(odl);
    app->add_option("--loss-output", t.loss_output, "the output (or tensor) the loss is computed on (default: the only output)")
        ->type_name("TENSOR")
        ->group(odl);
    app->add_option("--append-head", t.append_head,
                    "append a new linear classifier with N classes (zero-initialized, trainable) to the loss output")
        ->type_name("N")
        ->group(odl);
    app->add_option("--prototypes", c.prototypes_file, "cosine-prototype: class prototypes, float [classes, dim] TensorProto")
        ->check(CLI::ExistingFile)
        ->group(odl);
    app->add_option("--scale", t.scale, "cosine-prototype: logit scale s")->default_val(10.0f)->group(odl);
    app->add_option("--recompute", t.recompute,
                    "saved activations of the training step: auto (recompute large ones in the backward pass when "
                    "that lowers the training arena), always, never")
        ->check(CLI::IsMember({"auto", "always", "never"}))
        ->default_val("auto")
        ->group(odl);
    app->add_option("--optimizer", o.kind, "sgd, momentum (SGD with momentum) or adam")
        ->check(CLI::IsMember({"sgd", "momentum", "adam"}))
        ->default_val("sgd")
        ->group(odl);
    app->add_option("--lr", o.lr, "learning rate (also settable at run time)")->default_val(0.01f)->group(odl);
    app->add_option("--momentum", o.momentum, "momentum of --optimizer momentum")->default_val(0.9f)->group(odl);
    app->add_option("--weight-decay", o.weight_decay, "L2 weight decay (also settable at run time)")
        ->default_val(0.0f)
        ->group(odl);
    app->add_option("--batch", o.batch, "train_step() applies the update every B samples (gradient accumulation)")
        ->default_val(1)
        ->check(CLI::PositiveNumber)
        ->group(odl);
    // active learning (docs/active-learning.md)
    auto& a = c.copts.active_learning;
    const std::string alg = "Active learning (docs/active-learning.md)";
    app->add_option("--active-learning", a.strategy,
                    "add al_offer/al_pending/al_label/al_train: score stream samples (least-confidence, margin, "
                    "entropy, hybrid = least-confidence + diversity, random = baseline), keep the best in a buffer, "
                    "train on the few the user labels; needs a training build")
        ->check(CLI::IsMember({"least-confidence", "margin", "entropy", "hybrid", "random"}))
        ->type_name("STRATEGY")
        ->group(alg);
    app->add_option("--al-buffer", a.buffer, "candidates held in RAM (kAlBuffer)")->default_val(8)->type_name("B")->group(alg);
    app->add_option("--al-budget", a.budget, "labels the user may be asked for until al_reset()")
        ->default_val(16)
        ->type_name("N")
        ->group(alg);
    app->add_option("--al-rv", a.rv, "reference-value rule: none (keep the top-B since the last round), info (InfoRV: "
                                     "above the running mean score), dual (DualRV)")
        ->check(CLI::IsMember({"none", "info", "dual"}))
        ->default_val("none")
        ->group(alg);
    app->add_option("--al-store", a.store, "what the buffer keeps: features (the trainable part's input, when only a "
                                           "head trains; al_train() then skips the frozen part), inputs (the raw model "
                                           "inputs), auto (features when possible, else inputs)")
        ->check(CLI::IsMember({"auto", "features", "inputs"}))
        ->default_val("auto")
        ->group(alg);
  }
  for (CLI::Option* o : app->get_options()) c.options.push_back(o);
}

// Appends the non-empty items of a comma-separated list.
void append_comma_list(const std::string& list, std::vector<std::string>& out) {
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    std::string item = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!item.empty()) out.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
}

// Values in range, and options only where the option that enables them is given.
void validate_common(const Common& c) {
  const auto& t = c.copts.training;
  const auto& o = c.copts.optimizer;
  if (!t.enabled())
    for (const char* n : {"--loss", "--loss-output", "--prototypes", "--scale", "--recompute", "--optimizer", "--lr",
                          "--momentum", "--weight-decay", "--batch"})
      if (c.given(n))
        throw CLI::ValidationError(n, "only applies to a training build: add --trainable, --trainable-last, --train-input or --append-head");
  const auto& a = c.copts.active_learning;
  if (!a.enabled())
    for (const char* n : {"--al-buffer", "--al-budget", "--al-rv", "--al-store"})
      if (c.given(n)) throw CLI::ValidationError(n, "only applies with --active-learning");
  if (a.enabled() && !t.enabled())
    throw CLI::ValidationError("--active-learning", "needs a training build: add --trainable, --trainable-last, --train-input or --append-head");
  if (a.enabled() && t.loss != "cross-entropy")
    throw CLI::ValidationError("--active-learning", fmt::format("needs --loss cross-entropy (the scores are computed on class logits), got --loss {}", t.loss));
  if (c.given("--al-buffer") && (a.buffer < 1 || a.buffer > 4096))
    throw CLI::ValidationError("--al-buffer", fmt::format("must be between 1 and 4096 candidates (got {})", a.buffer));
  if (c.given("--al-budget") && a.budget < 0)
    throw CLI::ValidationError("--al-budget", fmt::format("must be at least 0 labels (got {})", a.budget));
  if (c.copts.quantize.empty())
    for (const char* n : {"--calibration", "--calibration-method", "--quant-eval", "--quant-debug", "--quant-range",
                          "--int8-keep-float", "--int8-sensitivity"})
      if (c.given(n)) throw CLI::ValidationError(n, "needs --quantize int8");
  if (c.copts.enrol_output.empty())
    for (const char* n : {"--classes", "--threshold"})
      if (c.given(n)) throw CLI::ValidationError(n, "only applies with --enrol-output TENSOR");
  if (c.given("--classes") && (c.copts.enrol_classes < 1 || c.copts.enrol_classes > kMaxEnrolClasses))
    throw CLI::ValidationError("--classes", fmt::format("must be between 1 and {} (got {})", kMaxEnrolClasses,
                                                        c.copts.enrol_classes));
  check_float("--threshold", c.copts.enrol_threshold, -1, 1, false, "a cosine in [-1, 1]");
  if (!c.copts.enrol_output.empty() && c.given("--stream"))
    throw CLI::ValidationError("--enrol-output", "cannot be combined with --stream yet");
  check_float("--lr", o.lr, 0, 1e6, true, "a finite number > 0");
  check_float("--momentum", o.momentum, 0, 0.9999999, false, "in [0, 1)");
  check_float("--weight-decay", o.weight_decay, 0, 1e6, false, "a finite number >= 0");
  check_float("--scale", t.scale, 0, 1e6, true, "a finite number > 0");
  if (c.given("--momentum") && o.kind != "momentum")
    throw CLI::ValidationError("--momentum", "applies to --optimizer momentum only");
  if (c.given("--trainable-last") && t.trainable_last < 1)
    throw CLI::ValidationError("--trainable-last", fmt::format("must be at least 1 (got {})", t.trainable_last));
  if (c.given("--append-head") && (t.append_head < 1 || t.append_head > kMaxAppendHead))
    throw CLI::ValidationError("--append-head", fmt::format("must be between 1 and {} classes (got {})", kMaxAppendHead, t.append_head));
}

void finish_common(Common& c) {
  for (const auto& list : c.keep_float) {
    std::vector<std::string> names;
    append_comma_list(list, names);
    c.copts.int8_keep_float.insert(names.begin(), names.end());
  }
  for (const auto& r : c.quant_ranges) {
    const auto eq = r.rfind('=');
    const auto colon = eq == std::string::npos ? std::string::npos : r.find(':', eq);
    double lo = NAN, hi = NAN;
    if (eq != std::string::npos && eq > 0 && colon != std::string::npos) {
      try {
        size_t u1 = 0, u2 = 0;
        lo = std::stod(r.substr(eq + 1, colon - eq - 1), &u1);
        hi = std::stod(r.substr(colon + 1), &u2);
        if (u1 != colon - eq - 1 || u2 != r.size() - colon - 1) lo = hi = NAN;
      } catch (const std::exception&) {
        lo = hi = NAN;
      }
    }
    if (!std::isfinite(lo) || !std::isfinite(hi) || lo > hi)
      throw CLI::ValidationError("--quant-range", "expected NAME=LO:HI with finite LO <= HI, got '" + r + "'");
    c.copts.quant_ranges[r.substr(0, eq)] = {lo, hi};
  }
  for (const auto& d : c.dims) {
    auto eq = d.find('=');
    if (eq == std::string::npos || eq == 0) throw CLI::ValidationError("--dim", "expected NAME=VALUE, got '" + d + "'");
    try {
      size_t used = 0;
      long long v = std::stoll(d.substr(eq + 1), &used);
      if (used != d.size() - eq - 1 || v <= 0) throw std::invalid_argument("");
      c.copts.dims[d.substr(0, eq)] = v;
    } catch (const std::exception&) {
      throw CLI::ValidationError("--dim", "expected a positive integer value in '" + d + "'");
    }
  }
  for (const auto& r : c.reserve) {
    auto eq = r.find('=');
    if (eq == std::string::npos || eq == 0)
      throw CLI::ValidationError("--reserve", "expected REGION=BYTES, got '" + r + "'");
    try {
      c.copts.reserve[r.substr(0, eq)] += parse_bytes(r.substr(eq + 1));
    } catch (const std::exception&) {
      throw CLI::ValidationError("--reserve", "expected a byte count (4096, 0x1000, 64K, 1M) in '" + r + "'");
    }
  }
  if (!c.persist_area.empty()) {
    std::vector<std::string> f;
    for (size_t i = 0;;) {
      size_t j = c.persist_area.find(':', i);
      f.push_back(c.persist_area.substr(i, j == std::string::npos ? std::string::npos : j - i));
      if (j == std::string::npos) break;
      i = j + 1;
    }
    if ((f.size() != 3 && f.size() != 5) || f[0].empty())
      throw CLI::ValidationError("--persist-area", "expected REGION:OFFSET:SIZE or REGION:OFFSET:SIZE:ERASE:PROGRAM, got '" +
                                                       c.persist_area + "'");
    auto num = [&](size_t k, const char* what) {
      try {
        return parse_bytes(f[k]);
      } catch (const std::exception&) {
        throw CLI::ValidationError("--persist-area", fmt::format("{} '{}' in '{}' is not a byte count (4096, 0x1000, "
                                                                 "64K, 1M)", what, f[k], c.persist_area));
      }
    };
    backends::PersistArea& a = c.copts.persist_area;
    a.spec = c.persist_area;
    a.region = f[0];
    a.offset = num(1, "OFFSET");
    a.size = num(2, "SIZE");
    if (a.size == 0) throw CLI::ValidationError("--persist-area", "SIZE must be more than 0 bytes in '" + c.persist_area + "'");
    if (f.size() == 5) {
      for (size_t k : {3, 4}) {
        const uint64_t u = num(k, k == 3 ? "ERASE" : "PROGRAM");
        if (u == 0 || (u & (u - 1)) != 0 || u > (1u << 24))
          throw CLI::ValidationError("--persist-area", fmt::format("{} unit {} in '{}' must be a power of two of at "
                                                                   "most 16M", k == 3 ? "ERASE" : "PROGRAM", f[k],
                                                                   c.persist_area));
        (k == 3 ? a.erase_size : a.program_size) = static_cast<uint32_t>(u);
      }
    }
  }
  for (const auto& p : c.trainable) {
    // Comma-separated lists too (a regex with a comma must be given alone: {m,n} is kept whole).
    if (p.find('{') != std::string::npos) c.copts.training.trainable.push_back(p);
    else append_comma_list(p, c.copts.training.trainable);
  }
  if (!c.prototypes_file.empty()) {
    try {
      c.copts.training.prototypes =
          std::make_shared<ir::TensorData>(frontend::load_tensor_pb(c.prototypes_file).second);
    } catch (const std::exception& e) {
      throw CLI::ValidationError("--prototypes", e.what());
    }
  }
  if (c.copts.training.loss == "cosine-prototype" && !c.copts.training.prototypes && c.copts.enrol_output.empty())
    throw CLI::ValidationError("--loss", "cosine-prototype needs --prototypes FILE.pb, or --enrol-output TENSOR (the "
                                         "prototypes of the enrolment store, at run time)");
  if (c.copts.training.prototypes && !c.copts.enrol_output.empty())
    throw CLI::ValidationError("--prototypes", "with --enrol-output the cosine-prototype loss reads the enrolled "
                                               "prototypes at run time: drop --prototypes");
  for (const auto& p : c.print_after) {
    append_comma_list(p, c.copts.print_ir_after);  // comma-separated lists too
  }
  if (c.given("--stream")) {
    c.copts.stream.enabled = true;
    const size_t colon = c.stream.rfind(':');
    c.copts.stream.input = c.stream.substr(0, colon);
    if (colon != std::string::npos) {
      try {
        size_t used = 0;
        c.copts.stream.axis = std::stoi(c.stream.substr(colon + 1), &used);
        if (used != c.stream.size() - colon - 1) throw std::invalid_argument("");
      } catch (const std::exception&) {
        throw CLI::ValidationError("--stream", "expected INPUT[:AXIS] with an integer AXIS, got '" + c.stream + "'");
      }
    }
  }
  validate_common(c);
}

}  // namespace

int cli_main(int argc, char** argv) {
  CLI::App app{
      "tinyodlc: ahead-of-time compiler from ONNX to standalone C++ for microcontrollers.\n"
      "It emits forward kernels, a static memory plan and a small runtime that drop into firmware.",
      "tinyodlc"};
  app.set_version_flag("--version", std::string("tinyodlc ") + TINYODLC_VERSION);
  app.require_subcommand(1);
  app.footer(
      "Exit codes: 0 ok, 1 compile error, 2 usage error, 3 check: outputs differ, 4 building or running the\n"
      "generated code failed, 5 the model does not fit the target's memory.\n"
      "Run 'tinyodlc <command> --help' for the options of a command.");

  Common common;
  std::string outdir;
  auto* compile = app.add_subcommand("compile", "compile MODEL.onnx into C++ sources in OUTDIR");
  add_model_options(compile, common, true);
  compile->add_option("-o,--output", outdir, "output folder (created if missing)")->required();
  std::vector<std::string> emit_layouts;  // --emit (issue 17, backends/firmware_layout.h)
  compile->add_option("--emit", emit_layouts,
                      "also write build files for a firmware project (repeatable): cmake (CMakeLists.txt, target "
                      "tinyodlc::NAME), arduino (library folder arduino/tinyodlc_NAME), modustoolbox (NAME.mk)")
      ->check(CLI::IsMember({"cmake", "arduino", "modustoolbox"}))
      ->type_name("LAYOUT");

  auto* targets_cmd = app.add_subcommand(
      "targets", "list the built-in targets and their memory regions (see docs/targets.md for --target-file)");

  auto* inspect = app.add_subcommand(
      "inspect", "print the ops, shapes, parameters and MACs of each node (after optimization), "
                 "and all unsupported ops at once");
  add_model_options(inspect, common, false);

  RunOptions ropts;
  std::string cxxflags;
  auto* run = app.add_subcommand(
      "run", "compile, build with the host C++ compiler and run on DIR/input_K.pb; write output_K.pb");
  add_model_options(run, common, true);
  run->add_option("--inputs", ropts.inputs_dir,
                  "folder with input_0.pb, input_1.pb, ... (ONNX TensorProto); required except for --active-learning runs")
      ->check(CLI::ExistingDirectory);
  run->add_option("--outputs", ropts.outputs_dir, "folder for output_0.pb, ... (named after the graph outputs)")
      ->required();
  run->add_option("--enrol", ropts.enrol_dir,
                  "with --enrol-output: enrol every sample (one subfolder per sample, sorted by name, each with "
                  "input_K.pb) in class 0, then score the --inputs sample; writes prototype_0.pb and score.pb")
      ->check(CLI::ExistingDirectory)
      ->group("Enrolment and verification (docs/enrolment.md)");
  run->add_option("--label", ropts.label_file,
                  "training runs: the label (int64 [rows]) or, for --loss mse, the target (TensorProto .pb); "
                  "writes loss.pb, losses.pb, grad_<NAME>.pb (first step) and param_<NAME>.pb (after the last)")
      ->check(CLI::ExistingFile)
      ->group("On-device learning (docs/training.md)");
  run->add_option("--train-steps", ropts.train_steps,
                  "training runs: number of steps on the sample (with --train-data: epochs over the sets)")
      ->default_val(1)
      ->group("On-device learning (docs/training.md)");
  run->add_option("--train-data", ropts.train_data_dir,
                  "target training runs: train on every set (subfolder with input_K.pb and label.pb) of DIR")
      ->check(CLI::ExistingDirectory)
      ->group("On-device learning (docs/training.md)");
  run->add_option("--eval-data", ropts.eval_data_dir,
                  "target training runs: held-out sets (same layout); the accuracy (argmax of output 0) before "
                  "and after training goes to target_run.json")
      ->check(CLI::ExistingDirectory)
      ->group("On-device learning (docs/training.md)");

  run->add_option("--seed", ropts.al_seed,
                  "active-learning runs: 0 streams --train-data in folder order, S > 0 in a permutation seeded by S "
                  "(also the random strategy's seed)")
      ->default_val(0)
      ->group("Active learning (docs/active-learning.md)");
  run->add_option("--al-window", ropts.al_window,
                  "active-learning runs: stream samples per round (labels asked, al_train) (default: 4 x --al-buffer)")
      ->group("Active learning (docs/active-learning.md)");

  std::string data_dir;
  double rtol = 1e-3, atol = 1e-7;
  auto* check = app.add_subcommand(
      "check", "'run' on DIR/input_K.pb and compare with DIR/output_K.pb (ONNX backend-test rule: "
               "|actual - expected| <= atol + rtol * |expected|); exit 0 only if all match");
  add_model_options(check, common, true);
  check->add_option("--data", data_dir, "folder with input_K.pb and output_K.pb")
      ->required()
      ->check(CLI::ExistingDirectory);
  check->add_option("--rtol", rtol, "relative tolerance")->default_val(1e-3);
  check->add_option("--atol", atol, "absolute tolerance")->default_val(1e-7);
  check->add_option("--outputs", ropts.outputs_dir, "also write the outputs to this folder");

  BenchOptions bopts;
  auto* bench = app.add_subcommand(
      "bench", "instructions per inference and per MAC, per layer, on a Cortex-M core in QEMU (docs/target.md)");
  add_model_options(bench, common, true);
  bench->add_option("--inputs", bopts.inputs_dir, "folder with input_K.pb (default: deterministic pseudo-random inputs)")
      ->check(CLI::ExistingDirectory);
  bench->add_option("--json", bopts.json_path, "also write the table as JSON to this file");

  for (auto* sub : {run, check, bench}) {
    sub->add_option("--build-dir", ropts.build_dir, "keep the generated code and binary in this folder");
    sub->add_option("--cxx", ropts.cxx,
                    "C++ compiler (default: $CXX, else c++; for Cortex-M targets arm-none-eabi-g++, or e.g. clang++-14)");
    sub->add_option("--timeout", ropts.timeout_seconds, "seconds allowed for running the generated code (host: also for the build)")
        ->default_val(600);
    sub->add_option("--cxxflags", cxxflags,
                    "extra flags for the host build, space-separated (e.g. \"-fsanitize=address,undefined\"); "
                    "the build always uses -std=c++17 -O2 -ffp-contract=off -Wall -Wextra -Werror");
    sub->add_flag("-v,--verbose", ropts.verbose, "print the build command");
    sub->add_flag("-q,--quiet", ropts.quiet,
                  "no progress lines (printed to stderr every 10 s of a long QEMU run) and, for 'run --target', no "
                  "summary of the run (instructions, stack; training: loss, accuracy and instructions per round)");
  }

  try {
    app.parse(argc, argv);
    finish_common(common);
    if (!compile->parsed() && common.given("--arena-symbol"))
      throw CLI::ValidationError("--arena-symbol", "only applies to 'compile' (the firmware defines the shared arena)");
    for (auto* sub : {run, check, bench})
      if (sub->parsed() && ropts.timeout_seconds < 1)
        throw CLI::ValidationError("--timeout", fmt::format("must be at least 1 second (got {})", ropts.timeout_seconds));
    if (run->parsed()) {
      if (ropts.train_steps < 1)
        throw CLI::ValidationError("--train-steps", fmt::format("must be at least 1 (got {})", ropts.train_steps));
      if (!common.copts.training.enabled())
        for (const char* n : {"--label", "--train-steps", "--train-data", "--eval-data"})
          if (run->count(n))
            throw CLI::ValidationError(n, "only applies to a training build: add --trainable, --trainable-last, --train-input or --append-head");
      if (run->count("--eval-data") && !run->count("--train-data"))
        throw CLI::ValidationError("--eval-data", "needs --train-data");
      if (run->count("--enrol") && common.copts.enrol_output.empty())
        throw CLI::ValidationError("--enrol", "needs --enrol-output TENSOR (the embedding output)");
      if (!common.copts.enrol_output.empty() && !run->count("--enrol"))
        throw CLI::ValidationError("--enrol-output", "'run' with --enrol-output needs --enrol DIR (the enrolment samples of class 0)");
      if (!common.copts.enrol_output.empty() && common.copts.training.enabled())
        throw CLI::ValidationError("--enrol-output", "an enrolment run cannot be a training run too");
      if (!common.copts.active_learning.enabled() && !run->count("--inputs"))
        throw CLI::RequiredError("--inputs");
      if (!common.copts.active_learning.enabled())
        for (const char* n : {"--seed", "--al-window"})
          if (run->count(n)) throw CLI::ValidationError(n, "only applies with --active-learning");
      if (common.copts.active_learning.enabled() && !run->count("--train-data"))
        throw CLI::ValidationError("--active-learning", "a run streams --train-data DIR (and measures on --eval-data DIR)");
      if (run->count("--al-window") && ropts.al_window < 1)
        throw CLI::ValidationError("--al-window", fmt::format("must be at least 1 sample (got {})", ropts.al_window));
      if (ropts.al_seed < 0)
        throw CLI::ValidationError("--seed", fmt::format("must be >= 0 (got {})", ropts.al_seed));
    }
    for (size_t i = 0; i < cxxflags.size();) {
      size_t j = cxxflags.find(' ', i);
      if (j == std::string::npos) j = cxxflags.size();
      if (j > i) ropts.cxxflags.push_back(cxxflags.substr(i, j - i));
      i = j + 1;
    }
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : kExitUsage;
  }

  const std::string& model = common.copts.model;
  try {
    if (targets_cmd->parsed()) {
      std::cout << describe_targets();
      return 0;
    }
    if (!common.target_file.empty()) common.copts.target = register_target(load_target_file(common.target_file)).name;
    if (compile->parsed()) {
      Compilation c = compile_model(common.copts);
      add_firmware_layouts(c, emit_layouts, common.copts);
      write_output_dir(outdir, c);
      std::cout << fmt::format("tinyodlc: wrote {} ({} files): weights {} bytes, arena {} bytes\n", outdir,
                               c.emitted.files.size(), c.emitted.weight_bytes, c.emitted.plan.arena_bytes);
      return 0;
    }
    if (inspect->parsed()) return inspect_model(common.copts, std::cout);
    if (run->parsed()) {
      run_model(common.copts, ropts);
      return 0;
    }
    if (bench->parsed()) return bench_model(common.copts, ropts, bopts, std::cout);
    if (check->parsed()) {
      ropts.inputs_dir = data_dir;
      if (!std::filesystem::exists(std::filesystem::path(data_dir) / "output_0.pb"))
        throw ir::CompileError(data_dir, "holds no reference output (output_0.pb, output_1.pb, ...) to check against" +
                                             data_set_hint(data_dir));
      // The model first: an unsupported model is reported as such before its data files
      // (which may hold sequences or optionals) are read.
      std::vector<NamedTensor> actual = run_model(common.copts, ropts);
      std::vector<NamedTensor> expected = load_tensor_files(data_dir, "output");
      Comparison cmp = compare_outputs(actual, expected, rtol, atol);
      std::cout << cmp.report;
      std::cout << (cmp.ok ? "check: PASS\n" : "check: FAIL\n");
      return cmp.ok ? 0 : kExitMismatch;
    }
  } catch (const backends::FitError& e) {
    std::cerr << "tinyodlc: error: " << model << ": does not fit: " << e.what() << "\n";
    return kExitDoesNotFit;
  } catch (const TargetDoesNotFit& e) {
    std::cerr << "tinyodlc: error: " << model << ": does not fit: " << e.what() << "\n";
    return kExitDoesNotFit;
  } catch (const ir::CompileError& e) {
    std::cerr << "tinyodlc: error: " << model << ": " << e.what() << "\n";
    return kExitCompileError;
  } catch (const std::runtime_error& e) {
    std::cerr << "tinyodlc: error: " << model << ": " << e.what() << "\n";
    return kExitRunFailure;
  } catch (const std::exception& e) {
    std::cerr << "tinyodlc: internal error: " << model << ": " << e.what() << "\n";
    return kExitRunFailure;
  }
  return kExitUsage;
}

}  // namespace tinyodlc
