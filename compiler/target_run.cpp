// run_on_target(): the steps of a run on a simulated microcontroller in order (build, link,
// run in QEMU, measure; compiler/target_steps.h names the file of each) and the files the
// harness reads and writes in the run folder (inputs, training sets, outputs).
#include "compiler/target_run.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "compiler/output_dir.h"
#include "compiler/target_steps.h"
#include "frontend/tensor_proto.h"
#include "ir/graph.h"
#include "support/text.h"

namespace tinyodlc {

using namespace target_detail;

namespace {

// Sets of a folder (subfolders holding input_0.pb), in name order: each is (inputs, label).
std::vector<std::pair<std::vector<NamedTensor>, ir::TensorData>> load_labelled_sets(const std::string& dir) {
  std::vector<fs::path> sets;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory() && fs::exists(e.path() / "input_0.pb")) sets.push_back(e.path());
  std::sort(sets.begin(), sets.end());
  if (sets.empty()) throw ir::CompileError(dir, "no sets (subfolders with input_0.pb and label.pb)");
  std::vector<std::pair<std::vector<NamedTensor>, ir::TensorData>> r;
  for (const auto& p : sets) {
    if (!fs::exists(p / "label.pb")) throw ir::CompileError(p.string(), "no label.pb");
    r.push_back({load_tensor_files(p.string(), "input"), frontend::load_tensor_pb((p / "label.pb").string()).second});
  }
  return r;
}

}  // namespace

// input_K.bin / label.bin (and eval_*) for the training harness.
void target_detail::write_training_data(const Compilation& c, const std::vector<NamedTensor>& inputs, const RunOptions& ropts,
                         const fs::path& dir) {
  const ir::Graph& g = *c.graph;
  const ir::Value* lv = c.training_graph->inputs.back();
  auto check = [&](const std::vector<NamedTensor>& ins, const ir::TensorData& label, const std::string& where) {
    if (ins.size() != g.inputs.size())
      throw ir::CompileError(where, fmt::format("{} inputs, the model has {}", ins.size(), g.inputs.size()));
    for (size_t k = 0; k < ins.size(); ++k)
      if (ins[k].data.dtype != g.inputs[k]->dtype || ins[k].data.numel() != g.inputs[k]->numel())
        throw ir::CompileError(where, fmt::format("input {} holds {}{}, the model input is {}", k,
                                                  ir::dtype_name(ins[k].data.dtype), ir::shape_str(ins[k].data.shape),
                                                  g.inputs[k]->type_str()));
    if (label.dtype != lv->dtype || label.numel() != lv->numel())
      throw ir::CompileError(where, fmt::format("the label holds {}{}, the training step's '{}' is {}",
                                                ir::dtype_name(label.dtype), ir::shape_str(label.shape), lv->name,
                                                lv->type_str()));
  };
  auto write_split = [&](const std::vector<std::pair<std::vector<NamedTensor>, ir::TensorData>>& sets,
                         const std::string& prefix, const std::string& where) {
    for (size_t k = 0; k < g.inputs.size(); ++k) {
      std::string all;
      for (const auto& [ins, label] : sets) {
        check(ins, label, where);
        all.append(ins[k].data.bytes.begin(), ins[k].data.bytes.end());
      }
      write_file(dir / fmt::format("{}input_{}.bin", prefix, k), all);
    }
    std::string labels;
    for (const auto& s : sets) labels.append(s.second.bytes.begin(), s.second.bytes.end());
    write_file(dir / (prefix + "label.bin"), labels);
  };
  if (!ropts.train_data_dir.empty()) {
    write_split(load_labelled_sets(ropts.train_data_dir), "", ropts.train_data_dir);
  } else {
    if (ropts.label_file.empty())
      throw ir::CompileError("", fmt::format("a training run needs --label FILE.pb (the '{}' input of the training "
                                             "step: {}) or --train-data DIR", lv->name, lv->type_str()));
    write_split({{inputs, frontend::load_tensor_pb(ropts.label_file).second}}, "", ropts.label_file);
  }
  if (!ropts.eval_data_dir.empty()) write_split(load_labelled_sets(ropts.eval_data_dir), "eval_", ropts.eval_data_dir);
}

namespace {

// The harness's input files (removing the outputs of an earlier run in the same folder).
void write_inputs(const Compilation& c, const std::vector<NamedTensor>& inputs, const RunOptions& ropts,
                  const fs::path& dir) {
  for (const char* f : {"losses.bin", "grads.bin", "params.bin", "label.bin", "eval_label.bin", "round_correct.bin"})
    fs::remove(dir / f);
  for (size_t k = 0; k < inputs.size(); ++k) fs::remove(dir / fmt::format("eval_input_{}.bin", k));
  if (c.training_graph) {
    write_training_data(c, inputs, ropts, dir);
  } else {
    for (size_t k = 0; k < inputs.size(); ++k)
      write_file(dir / fmt::format("input_{}.bin", k), std::string(inputs[k].data.bytes.begin(), inputs[k].data.bytes.end()));
  }
  for (size_t k = 0; k < c.graph->outputs.size(); ++k) fs::remove(dir / fmt::format("output_{}.bin", k));
  for (const char* f : {"prototype_0.bin", "score.bin", "clip.bin"}) fs::remove(dir / f);
  fs::remove(dir / "target_stats.txt");
  fs::remove(dir / "insn_counts.txt");
}

std::vector<NamedTensor> read_outputs(const ir::Graph& g, const fs::path& dir) {
  std::vector<NamedTensor> outputs;
  for (size_t k = 0; k < g.outputs.size(); ++k) {
    const ir::Value* v = g.outputs[k];
    NamedTensor t{v->name, ir::TensorData(v->dtype, v->shape)};
    std::string raw = read_file(dir / fmt::format("output_{}.bin", k));
    if (raw.size() != t.data.bytes.size())
      throw std::runtime_error(fmt::format("target output {} has {} bytes, expected {}", k, raw.size(),
                                           t.data.bytes.size()));
    std::copy(raw.begin(), raw.end(), t.data.bytes.begin());
    outputs.push_back(std::move(t));
  }
  return outputs;
}

}  // namespace

std::vector<NamedTensor> run_on_target(const Compilation& c, const Target& target,
                                       const std::vector<NamedTensor>& inputs, const RunOptions& ropts,
                                       const std::string& build_dir) {
  TargetReport rep;
  return run_on_target(c, target, inputs, ropts, build_dir, TargetRunOptions{}, rep);
}

namespace {

std::vector<NamedTensor> run_steps(const Compilation& c, const Target& target, const std::vector<NamedTensor>& inputs,
                                   const RunOptions& ropts, const std::string& build_dir_in,
                                   const TargetRunOptions& topts, TargetReport& rep,
                                   const std::vector<std::vector<ir::TensorData>>* enrol, EnrolResult* enrol_result,
                                   const ir::TensorData* clip = nullptr) {
  if (target.qemu_machine.empty())
    throw CompileError("", fmt::format("target '{}' names no QEMU machine to run on", target.name));
  const bool profile = topts.layer_markers;
  const fs::path dir = fs::absolute(build_dir_in);
  write_output_dir(dir.string(), c);
  rep = TargetReport{};
  rep.target = target.name;
  rep.core = target.core;
  rep.qemu_machine = target.qemu_machine;

  const fs::path rt = dir / "tinyodlc_target";
  const std::vector<std::string> objs = compile_program(c, target, ropts, dir, rt, profile, rep);
  rep.main_ram = choose_main_ram(target, ropts, objs);
  const std::string elf = (rt / "app.elf").string();
  link_program(c, target, ropts, rt, objs, rep.main_ram, elf);
  measure_sizes(elf, target, ropts, rep);
  if (c.emitted.memory_svg) {
    // memory.svg of the run folder with the linked code in its flash panel: the model's
    // .text/.rodata/.data less the weights (which are in its .rodata).
    const uint64_t model_flash = rep.text.model + rep.rodata.model + rep.data.model;
    write_file(dir / "memory.svg", c.emitted.memory_svg(model_flash - std::min<uint64_t>(model_flash, c.emitted.weight_bytes)));
  }

  write_inputs(c, inputs, ropts, dir);
  if (clip) write_raw((dir / "clip.bin").string(), *clip);
  if (enrol) {
    for (size_t k = 0; k < c.graph->inputs.size(); ++k) {
      std::string all;
      for (const auto& set : *enrol) all.append(set[k].bytes.begin(), set[k].bytes.end());
      write_file(dir / fmt::format("enrol_input_{}.bin", k), all);
    }
  }
  uint64_t total_steps = 0;  // for the progress line of a long training run
  if (c.training_graph && !c.emitted.al_ram_bytes && !c.graph->inputs.empty() && c.graph->inputs[0]->nbytes() > 0) {
    std::error_code ec;
    const uintmax_t bytes = fs::file_size(dir / "input_0.bin", ec);
    if (!ec) total_steps = bytes / c.graph->inputs[0]->nbytes() * static_cast<uint64_t>(ropts.train_steps);
  }
  const bool counted =
      run_in_qemu(target, ropts, dir, elf, c.training_graph != nullptr, profile, rep, total_steps);
  std::vector<NamedTensor> outputs;
  if (clip) {
    std::vector<std::string> files;
    for (size_t k = 0; k < c.head_graph->outputs.size(); ++k) files.push_back((dir / fmt::format("output_{}.bin", k)).string());
    outputs = read_window_outputs(c, *clip, files);
  } else {
    outputs = read_outputs(*c.graph, dir);
  }
  if (enrol) read_enrol_result(c, (dir / "prototype_0.bin").string(), (dir / "score.bin").string(), *enrol_result);
  read_measurements(dir, counted, profile, c.emitted.profiled_nodes.size(), rep);
  if (c.training_graph && !c.emitted.al_ram_bytes && !ropts.outputs_dir.empty())
    write_training_outputs(c, ropts.outputs_dir, read_bytes(dir / "losses.bin"), read_bytes(dir / "grads.bin"),
                           read_bytes(dir / "params.bin"));
  const std::string json = target_report_json(rep);
  write_file(dir / "target_run.json", json);
  if (!ropts.outputs_dir.empty()) {
    fs::create_directories(ropts.outputs_dir);
    write_file(fs::path(ropts.outputs_dir) / "target_run.json", json);
  }
  return outputs;
}

}  // namespace

std::vector<NamedTensor> run_on_target(const Compilation& c, const Target& target,
                                       const std::vector<NamedTensor>& inputs, const RunOptions& ropts,
                                       const std::string& build_dir, const TargetRunOptions& topts,
                                       TargetReport& rep) {
  return run_steps(c, target, inputs, ropts, build_dir, topts, rep, nullptr, nullptr);
}

namespace {

std::string count_str(uint64_t n) { return group_thousands(n); }

std::string accuracy_str(uint64_t hits, uint64_t n) {
  return n ? fmt::format("{:.1f}% ({}/{})", 100.0 * static_cast<double>(hits) / static_cast<double>(n), hits, n) : "-";
}

template <typename T>
std::vector<T> read_array(const fs::path& p) {
  std::vector<T> v;
  std::error_code ec;
  if (!fs::exists(p, ec)) return v;
  const std::vector<uint8_t> b = read_bytes(p);
  v.resize(b.size() / sizeof(T));
  if (!v.empty()) std::memcpy(v.data(), b.data(), v.size() * sizeof(T));
  return v;
}

}  // namespace

void print_run_summary(const Compilation& c, const TargetReport& rep, const std::string& build_dir,
                       const std::string& outputs_dir, std::ostream& o) {
  const auto stat = [&](const char* k) -> uint64_t {
    auto it = rep.stats.find(k);
    return it == rep.stats.end() ? 0 : it->second;
  };
  const std::string where = fmt::format("{} ({}, QEMU {})", rep.target, rep.core, rep.qemu_machine);
  const std::string stack = fmt::format("stack {} B (model {} B)", count_str(rep.stack_peak_bytes),
                                        count_str(rep.model_stack_bytes));
  const std::string wrote = outputs_dir.empty() ? "" : fmt::format("; outputs in {}", outputs_dir);
  if (!rep.push_insns.empty()) {
    const auto mean = [](const std::vector<uint64_t>& v) {
      uint64_t t = 0;
      for (uint64_t n : v) t += n;
      return v.empty() ? uint64_t{0} : (t + v.size() / 2) / v.size();
    };
    o << fmt::format("run: {}: {} frames, {} windows; push_frame() {} and infer() {} instructions (mean), {}, "
                     "{:.1f} s{}\n", where, rep.push_insns.size(), rep.infer_insns.size(), count_str(mean(rep.push_insns)),
                     count_str(mean(rep.infer_insns)), stack, rep.seconds, wrote);
    return;
  }
  if (!c.training_graph) {
    o << fmt::format("run: {}: invoke() {}, {}, {:.1f} s{}\n", where,
                     rep.insns ? count_str(*rep.insns) + " instructions" : "instructions not counted", stack,
                     rep.seconds, wrote);
    return;
  }
  const fs::path dir = fs::absolute(build_dir);
  const std::vector<float> losses = read_array<float>(dir / "losses.bin");
  const std::vector<int32_t> hits = read_array<int32_t>(dir / "round_correct.bin");
  const uint64_t per_round = stat("train_samples"), eval = stat("eval_samples");
  const size_t rounds = per_round ? losses.size() / per_round : 0;
  o << fmt::format("run: {}: training, {} round(s) x {} sample(s), {:.1f} s\n", where, rounds, per_round,
                   rep.seconds);
  // At most 12 rows: every k-th round, always the first and the last.
  const size_t every = rounds > 12 ? (rounds + 10) / 11 : 1;
  o << fmt::format("  {:>5}  {:>10}  {:<18}  {:>18}\n", "round", "mean loss", "accuracy", "instructions/step");
  if (eval) o << fmt::format("  {:>5}  {:>10}  {:<18}  {:>18}\n", "start", "-", accuracy_str(stat("correct_before"), eval), "-");
  std::vector<double> mean(rounds, 0.0);
  for (size_t r = 0; r < rounds; ++r) {
    double sum = 0;
    for (uint64_t k = 0; k < per_round; ++k) sum += losses[r * per_round + k];
    mean[r] = sum / static_cast<double>(per_round);
  }
  for (size_t r = 0; r < rounds; ++r) {
    if (r % every != 0 && r + 1 != rounds) continue;
    const std::string ips = r < rep.round_insns.size() ? count_str(rep.round_insns[r] / per_round) : "-";
    o << fmt::format("  {:>5}  {:>10.4f}  {:<18}  {:>18}\n", r + 1, mean[r],
                     eval && r < hits.size() ? accuracy_str(static_cast<uint64_t>(hits[r]), eval) : "-", ips);
  }
  if (every > 1) o << fmt::format("  (every {}th round and the last of {})\n", every, rounds);
  std::string sum = "run: done:";
  if (rounds) sum += fmt::format(" mean loss {:.4f} -> {:.4f}", mean.front(), mean.back());
  if (eval)
    sum += fmt::format(", accuracy {} -> {}", accuracy_str(stat("correct_before"), eval),
                       accuracy_str(stat("correct_after"), eval));
  sum += fmt::format("; first step {}; {}{}", rep.insns ? count_str(*rep.insns) + " instructions" : "not counted", stack,
                     wrote);
  o << sum << "\n";
}

std::vector<NamedTensor> run_enrol_on_target(const Compilation& c, const Target& target,
                                             const std::vector<std::vector<ir::TensorData>>& enrol,
                                             const std::vector<NamedTensor>& inputs, const RunOptions& ropts,
                                             const std::string& build_dir, EnrolResult& result) {
  TargetReport rep;
  return run_steps(c, target, inputs, ropts, build_dir, TargetRunOptions{}, rep, &enrol, &result);
}

std::vector<NamedTensor> run_stream_on_target(const Compilation& c, const Target& target, const ir::TensorData& clip,
                                              const RunOptions& ropts, const std::string& build_dir,
                                              TargetReport& rep) {
  return run_steps(c, target, {}, ropts, build_dir, TargetRunOptions{}, rep, nullptr, nullptr, &clip);
}

}  // namespace tinyodlc
