#include "compiler/run.h"

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <filesystem>
#include <iostream>

#include <fmt/format.h>

#include "compiler/host_run.h"
#include "compiler/target_run.h"
#include "compiler/target_steps.h"
#include "compiler/targets.h"
#include "support/json.h"
#include "frontend/tensor_proto.h"

namespace tinyodlc {

namespace fs = std::filesystem;
using ir::CompileError;

namespace {

struct TempDir {
  std::string path;
  bool keep;
  explicit TempDir(std::string given) : path(std::move(given)), keep(!path.empty()) {
    if (path.empty()) {
      std::string tmpl = (fs::temp_directory_path() / "tinyodlc-run-XXXXXX").string();
      if (!mkdtemp(tmpl.data())) throw std::runtime_error("cannot create a temporary folder");
      path = tmpl;
    } else {
      fs::create_directories(path);
    }
  }
  ~TempDir() {
    if (!keep) {
      std::error_code ec;
      fs::remove_all(path, ec);
    }
  }
};

void write_outputs(const RunOptions& ropts, const std::vector<NamedTensor>& outputs) {
  if (ropts.outputs_dir.empty()) return;
  fs::create_directories(ropts.outputs_dir);
  for (size_t k = 0; k < outputs.size(); ++k)
    frontend::save_tensor_pb((fs::path(ropts.outputs_dir) / fmt::format("output_{}.pb", k)).string(), outputs[k].name,
                             outputs[k].data);
}

// run --stream: input_0.pb is a clip [1, F, ...] with F >= T along the time axis.
std::vector<NamedTensor> run_stream(const Compilation& c, const CompileOptions& copts,
                                    const std::vector<NamedTensor>& inputs, const RunOptions& ropts) {
  const ir::Value* x = c.graph->inputs.at(0);
  if (inputs.size() != 1)
    throw CompileError("", fmt::format("{}: a streaming run reads one clip (input_0.pb), found {} input files",
                                       ropts.inputs_dir, inputs.size()));
  const ir::TensorData& clip = inputs[0].data;
  const size_t a = static_cast<size_t>(c.stream_axis);
  bool ok = clip.dtype == x->dtype && clip.shape.size() == x->shape.size() && clip.shape[a] >= x->shape[a];
  for (size_t i = 0; ok && i < x->shape.size(); ++i) ok = i == a || clip.shape[i] == x->shape[i];
  if (!ok)
    throw CompileError("input_0.pb", fmt::format("holds {}{} but a clip for '{}' {} needs the same type with at least "
                                                 "{} frames along axis {}", ir::dtype_name(clip.dtype),
                                                 ir::shape_str(clip.shape), x->name, x->type_str(), x->shape[a], a));
  TempDir build(ropts.build_dir);
  const Target& target = find_target(copts.target);
  std::vector<NamedTensor> outputs;
  if (target.is_host()) {
    outputs = run_stream_on_host(c, clip, ropts, build.path);
  } else {
    TargetReport rep;
    outputs = run_stream_on_target(c, target, clip, ropts, build.path, rep);
    if (!ropts.quiet) print_run_summary(c, rep, build.path, ropts.outputs_dir, std::cout);
  }
  write_outputs(ropts, outputs);
  return outputs;
}

// One line of al_log.txt: "key value key value ...".
std::map<std::string, uint64_t> log_fields(const std::string& line) {
  std::map<std::string, uint64_t> f;
  std::istringstream in(line);
  std::string k;
  uint64_t v;
  while (in >> k >> v) f[k] = v;
  return f;
}

// run --active-learning: stream --train-data through al_offer(), answer the label requests from
// its labels, train, measure on --eval-data (harness/target/al_harness.cpp; host or QEMU).
void run_active_learning(const CompileOptions& copts, RunOptions ropts) {
  if (ropts.train_data_dir.empty())
    throw CompileError("--active-learning", "a run streams --train-data DIR (and measures on --eval-data DIR)");
  Compilation c = compile_model(copts);
  if (ropts.al_window <= 0) ropts.al_window = 4 * copts.active_learning.buffer;
  const Target& target = find_target(copts.target);
  TempDir build(ropts.build_dir);
  const fs::path dir = fs::absolute(build.path);
  std::string report;
  if (target.is_host()) {
    fs::create_directories(dir);
    target_detail::write_training_data(c, {}, ropts, dir);
    run_al_on_host(c, ropts, dir.string());
    json::Writer w;
    w.begin_object().field("target", std::string("host")).end_object();
    report = w.str();
  } else {
    TargetReport rep;
    run_on_target(c, target, {}, ropts, dir.string(), TargetRunOptions{}, rep);
    report = target_report_json(rep);
  }
  // al_log.txt -> rounds and selections
  std::ifstream log(dir / "al_log.txt");
  if (!log) throw std::runtime_error(fmt::format("the active-learning harness wrote no {}", (dir / "al_log.txt").string()));
  json::Writer a;
  a.begin_object();
  a.field("strategy", copts.active_learning.strategy).field("rv", copts.active_learning.rv);
  a.field("buffer", copts.active_learning.buffer).field("budget", copts.active_learning.budget);
  a.field("window", ropts.al_window).field("epochs", ropts.train_steps).field("seed", static_cast<int64_t>(ropts.al_seed));
  a.field("buffer_ram_bytes", c.emitted.al_ram_bytes).field("buffer_state_bytes", c.emitted.al_state_bytes);
  std::vector<std::map<std::string, uint64_t>> rounds, picks;
  for (std::string line; std::getline(log, line);) {
    if (line.rfind("round ", 0) == 0) rounds.push_back(log_fields(line));
    else if (line.rfind("select ", 0) == 0) picks.push_back(log_fields(line));
  }
  if (rounds.empty()) throw std::runtime_error("al_log.txt holds no round");
  std::ostringstream say;  // the per-round lines (silenced by --quiet)
  say << fmt::format("active learning ({}, rv {}, buffer {}, budget {}, window {}, seed {}) on {}:\n",
                           copts.active_learning.strategy, copts.active_learning.rv, copts.active_learning.buffer,
                           copts.active_learning.budget, ropts.al_window, ropts.al_seed, target.name);
  a.key("rounds").begin_array();
  uint64_t prev = rounds[0]["correct"];
  for (auto& r : rounds) {
    const uint64_t eval = r["eval"];
    const double before = eval ? 100.0 * static_cast<double>(prev) / static_cast<double>(eval) : 0.0;
    const double after = eval ? 100.0 * static_cast<double>(r["correct"]) / static_cast<double>(eval) : 0.0;
    float loss;
    const uint32_t bits = static_cast<uint32_t>(r["loss_bits"]);
    std::memcpy(&loss, &bits, sizeof loss);
    a.begin_object(true).field("round", r["round"]).field("offered", r["offered"]).field("labels_asked", r["asked"]);
    a.field("labels_total", r["labels"]).field("accuracy_before", before).field("accuracy_after", after);
    a.field("correct_after", r["correct"]).field("eval_samples", eval).field("mean_loss", static_cast<double>(loss));
    a.key("selected").begin_array(true);
    for (auto& p : picks)
      if (p["select"] == r["round"]) a.value(p["stream"]);
    a.end_array().end_object();
    if (r["round"] == 0)
      say << fmt::format("  round 0 (initial model): accuracy {:.1f} % ({}/{})\n", after, r["correct"], eval);
    else
      say << fmt::format("  round {}: offered {}, labels asked {} (total {}), accuracy {:.1f} % -> {:.1f} %, "
                               "mean loss {:.4f}\n", r["round"], r["offered"], r["asked"], r["labels"], before, after, loss);
    prev = r["correct"];
  }
  a.end_array();
  a.field("labels_asked", rounds.back()["labels"]);
  if (!ropts.quiet) std::cout << say.str();
  a.end_object();
  // target_run.json: the run's report with the "active_learning" object appended
  const size_t close = report.rfind('}');
  std::string json = report.substr(0, close);
  while (!json.empty() && (json.back() == '\n' || json.back() == ' ')) json.pop_back();
  json += ",\n  \"active_learning\": " + a.str() + "\n}\n";
  std::ofstream(dir / "target_run.json") << json;
  if (!ropts.outputs_dir.empty()) {
    fs::create_directories(ropts.outputs_dir);
    std::ofstream(fs::path(ropts.outputs_dir) / "target_run.json") << json;
    std::error_code ec;
    fs::copy_file(dir / "al_log.txt", fs::path(ropts.outputs_dir) / "al_log.txt", fs::copy_options::overwrite_existing, ec);
  }
}

}  // namespace

std::vector<NamedTensor> run_model(const CompileOptions& copts_in, const RunOptions& ropts) {
  // Import first (once), so that an unsupported model is reported as such before its data
  // files (which may hold sequences or optionals) are read.
  if (copts_in.active_learning.enabled()) {
    run_active_learning(copts_in, ropts);
    return {};
  }
  const std::unique_ptr<ir::Graph> imported = import_model(copts_in);
  std::vector<NamedTensor> inputs = load_tensor_files(ropts.inputs_dir, "input");
  CompileOptions copts = copts_in;
  Compilation c;
  while (true) {
    try {
      c = compile_graph(*imported, copts);
      break;
    } catch (const ir::ConstantRequired& e) {
      // Specialize the graph input the error names, if it is one and we have its data.
      int k = -1;
      for (size_t i = 0; i < imported->inputs.size(); ++i)
        if (imported->inputs[i]->name == e.value_name()) k = static_cast<int>(i);
      if (k < 0 || k >= static_cast<int>(inputs.size()) || copts.constant_inputs.count(e.value_name())) throw;
      std::cerr << fmt::format("tinyodlc: note: input '{}' determines a shape; compiling with its value from input_{}.pb\n",
                               e.value_name(), k);
      copts.constant_inputs[e.value_name()] = inputs[k].data;
    }
  }
  const ir::Graph& g = *c.graph;

  if (c.frame_graph && !c.training_graph) return run_stream(c, copts, inputs, ropts);
  if (c.frame_graph) {
    // Learning on the ring: the training harness with one clip of T frames per sample
    // (--train-data, --eval-data), in QEMU.
    const Target& target = find_target(copts.target);
    if (target.is_host() || ropts.train_data_dir.empty())
      throw CompileError("--stream", "learning on the ring runs on a --target (QEMU) with --train-data DIR (sets of "
                                     "input_0.pb: a clip of T frames, label.pb) [--eval-data DIR]");
    TempDir build(ropts.build_dir);
    TargetReport rep;
    std::vector<NamedTensor> outputs = run_on_target(c, target, {}, ropts, build.path, TargetRunOptions{}, rep);
    if (!ropts.quiet) print_run_summary(c, rep, build.path, ropts.outputs_dir, std::cout);
    write_outputs(ropts, outputs);
    return outputs;
  }

  // Inputs: one file per graph input, matching dtype and shape.
  if (inputs.size() != g.inputs.size())
    throw CompileError("", fmt::format("{}: found {} input_K.pb files but the model has {} inputs{}", ropts.inputs_dir,
                                       inputs.size(), g.inputs.size(), data_set_hint(ropts.inputs_dir)));
  for (size_t k = 0; k < inputs.size(); ++k) {
    const ir::Value* v = g.inputs[k];
    const ir::TensorData& t = inputs[k].data;
    if (t.dtype != v->dtype || t.shape != v->shape)
      throw CompileError(fmt::format("input_{}.pb", k),
                         fmt::format("holds {}{} but model input {} ('{}') is {}", ir::dtype_name(t.dtype),
                                     ir::shape_str(t.shape), k, v->name, v->type_str()));
  }

  TempDir build(ropts.build_dir);
  const Target& target = find_target(copts.target);
  std::vector<NamedTensor> outputs;
  if (c.enrol) {
    if (c.training_graph) throw CompileError("--enrol-output", "an enrolment run cannot be a training run too");
    if (ropts.enrol_dir.empty())
      throw CompileError("--enrol-output", "'run' with --enrol-output needs --enrol DIR (the enrolment samples of class 0)");
    const std::vector<std::vector<ir::TensorData>> enrol = load_enrol_sets(ropts.enrol_dir, g);
    EnrolResult er;
    outputs = target.is_host() ? run_enrol_on_host(c, enrol, inputs, ropts, build.path, er)
                               : run_enrol_on_target(c, target, enrol, inputs, ropts, build.path, er);
    write_outputs(ropts, outputs);
    if (!ropts.outputs_dir.empty()) {
      frontend::save_tensor_pb((fs::path(ropts.outputs_dir) / "prototype_0.pb").string(), "prototype_0", er.prototype);
      frontend::save_tensor_pb((fs::path(ropts.outputs_dir) / "score.pb").string(), "score", er.score);
    }
    return outputs;
  }
  if (c.training_graph && target.is_host()) {
    if (!ropts.train_data_dir.empty())
      throw CompileError("", "--train-data runs on a --target (QEMU); on the host use --label with --inputs");
    outputs = run_training_on_host(c, inputs, ropts, build.path);
  } else if (!target.is_host()) {
    TargetReport rep;
    outputs = run_on_target(c, target, inputs, ropts, build.path, TargetRunOptions{}, rep);
    if (!ropts.quiet) print_run_summary(c, rep, build.path, ropts.outputs_dir, std::cout);
  } else {
    outputs = run_on_host(c, inputs, ropts, build.path);
  }
  write_outputs(ropts, outputs);
  return outputs;
}

}  // namespace tinyodlc
