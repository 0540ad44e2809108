#include "compiler/run_io.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "frontend/tensor_proto.h"

namespace tinyodlc {

namespace fs = std::filesystem;
using ir::CompileError;

std::string data_set_hint(const std::string& dir) {
  std::vector<std::string> sets;
  std::error_code ec;
  if (fs::exists(fs::path(dir) / "input_0.pb", ec)) return "";
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_directory() && fs::exists(e.path() / "input_0.pb")) sets.push_back(e.path().filename().string());
  if (sets.empty()) return "";
  std::sort(sets.begin(), sets.end());
  return fmt::format("; its subfolder{} {}{} hold{} them: pass one of those (e.g. {})", sets.size() > 1 ? "s" : "",
                     fmt::join(sets.begin(), sets.begin() + std::min<size_t>(sets.size(), 3), ", "),
                     sets.size() > 3 ? ", ..." : "", sets.size() > 1 ? "" : "s",
                     (fs::path(dir) / sets[0]).string());
}

std::vector<NamedTensor> load_tensor_files(const std::string& dir, const std::string& prefix) {
  std::vector<NamedTensor> r;
  for (int k = 0;; ++k) {
    fs::path p = fs::path(dir) / fmt::format("{}_{}.pb", prefix, k);
    if (!fs::exists(p)) break;
    auto [name, data] = frontend::load_tensor_pb(p.string());
    r.push_back({name, std::move(data)});
  }
  return r;
}

std::vector<std::vector<ir::TensorData>> load_input_sets(const std::string& dir, const ir::Graph& g,
                                                         std::vector<std::string>* names) {
  std::vector<fs::path> folders;
  if (!fs::is_directory(dir)) throw CompileError("", fmt::format("calibration folder '{}' does not exist", dir));
  if (fs::exists(fs::path(dir) / "input_0.pb")) folders.push_back(dir);
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory() && fs::exists(e.path() / "input_0.pb")) folders.push_back(e.path());
  std::sort(folders.begin(), folders.end());
  if (folders.empty())
    throw CompileError("", fmt::format("'{}' holds no input set (a subfolder with input_0.pb)", dir));
  std::vector<std::vector<ir::TensorData>> sets;
  for (const auto& f : folders) {
    std::vector<ir::TensorData> set;
    for (size_t k = 0;; ++k) {
      fs::path p = f / fmt::format("input_{}.pb", k);
      if (!fs::exists(p)) break;
      set.push_back(frontend::load_tensor_pb(p.string()).second);
    }
    if (set.size() != g.inputs.size())
      throw CompileError(f.string(), fmt::format("holds {} input files but the model has {} inputs", set.size(),
                                                 g.inputs.size()));
    for (size_t k = 0; k < set.size(); ++k) {
      const ir::Value* v = g.inputs[k];
      if (set[k].dtype != v->dtype || set[k].shape != v->shape)
        throw CompileError(fmt::format("{}/input_{}.pb", f.string(), k),
                           fmt::format("holds {}{} but model input '{}' is {}", ir::dtype_name(set[k].dtype),
                                       ir::shape_str(set[k].shape), v->name, v->type_str()));
    }
    sets.push_back(std::move(set));
    if (names) names->push_back(f.filename().string());
  }
  return sets;
}

std::vector<std::vector<ir::TensorData>> load_enrol_sets(const std::string& dir, const ir::Graph& g) {
  if (!fs::is_directory(dir)) throw CompileError("--enrol", fmt::format("'{}' is not a folder", dir));
  std::vector<fs::path> folders;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory()) folders.push_back(e.path());
  std::sort(folders.begin(), folders.end());
  if (folders.empty())
    throw CompileError("--enrol", fmt::format("'{}' holds no enrolment sample (one subfolder per sample, each with "
                                              "input_0.pb{})", dir, g.inputs.size() > 1 ? ", input_1.pb, ..." : ""));
  std::vector<std::vector<ir::TensorData>> sets;
  for (const auto& f : folders) {
    std::vector<ir::TensorData> set;
    for (size_t k = 0; k < g.inputs.size(); ++k) {
      const fs::path p = f / fmt::format("input_{}.pb", k);
      if (!fs::exists(p))
        throw CompileError("--enrol", fmt::format("sample '{}' has no input_{}.pb (model input '{}' {})", f.string(), k,
                                                  g.inputs[k]->name, g.inputs[k]->type_str()));
      ir::TensorData t = frontend::load_tensor_pb(p.string()).second;
      const ir::Value* v = g.inputs[k];
      if (t.dtype != v->dtype || t.shape != v->shape)
        throw CompileError(p.string(), fmt::format("holds {}{} but model input {} ('{}') is {}", ir::dtype_name(t.dtype),
                                                   ir::shape_str(t.shape), k, v->name, v->type_str()));
      set.push_back(std::move(t));
    }
    if (fs::exists(f / fmt::format("input_{}.pb", g.inputs.size())))
      throw CompileError("--enrol", fmt::format("sample '{}' has more input files than the model's {} inputs", f.string(),
                                                g.inputs.size()));
    sets.push_back(std::move(set));
  }
  return sets;
}

void read_enrol_result(const Compilation& c, const std::string& prototype_raw, const std::string& score_raw,
                       EnrolResult& result) {
  int64_t dim = 0;
  for (const ir::Value* v : c.graph->outputs)
    if (v->name == c.enrol_output) dim = v->numel();
  result.prototype = ir::TensorData(ir::DType::F32, {1, dim});
  result.prototype.bytes = read_raw(prototype_raw);
  if (result.prototype.bytes.size() != static_cast<size_t>(dim) * 4)
    throw std::runtime_error(fmt::format("the prototype has {} bytes, expected {}", result.prototype.bytes.size(), dim * 4));
  result.score = ir::TensorData(ir::DType::F32, {1});
  result.score.bytes = read_raw(score_raw);
  if (result.score.bytes.size() != 4)
    throw std::runtime_error(fmt::format("the score has {} bytes, expected 4", result.score.bytes.size()));
}

void write_raw(const std::string& path, const ir::TensorData& t) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(t.bytes.data()), static_cast<std::streamsize>(t.bytes.size()));
  if (!f) throw std::runtime_error("cannot write " + path);
}

std::vector<uint8_t> read_raw(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot read " + path);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

std::vector<NamedTensor> read_window_outputs(const Compilation& c, const ir::TensorData& clip,
                                             const std::vector<std::string>& files) {
  const ir::Graph& head = *c.head_graph;
  const int64_t windows = clip.numel() / c.frame_graph->inputs.at(0)->numel() - c.stream_frames + 1;
  std::vector<NamedTensor> outputs;
  for (size_t k = 0; k < head.outputs.size(); ++k) {
    const ir::Value* v = head.outputs[k];
    ir::Shape shape = v->shape;
    shape.insert(shape.begin(), windows);
    NamedTensor t{v->name, ir::TensorData(v->dtype, shape)};
    t.data.bytes = read_raw(files.at(k));
    if (t.data.bytes.size() != t.data.numel() * ir::dtype_size(v->dtype))
      throw std::runtime_error(fmt::format("output {} has {} bytes, expected {} ({} windows)", k, t.data.bytes.size(),
                                           t.data.numel() * ir::dtype_size(v->dtype), windows));
    outputs.push_back(std::move(t));
  }
  return outputs;
}


std::string file_safe_name(const std::string& s) {
  std::string r;
  for (char ch : s)
    r += (std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '_' || ch == '-') ? ch : '_';
  return r;
}

void write_training_outputs(const Compilation& c, const std::string& dir_name, const std::vector<uint8_t>& losses_raw,
                            const std::vector<uint8_t>& grads, const std::vector<uint8_t>& params) {
  const fs::path dir(dir_name);
  fs::create_directories(dir);
  const size_t blob = c.emitted.trainable_count * sizeof(float);
  if (losses_raw.empty() || losses_raw.size() % 4 || grads.size() != blob || params.size() != blob)
    throw std::runtime_error(fmt::format("the training harness wrote {} loss bytes, {} gradient and {} parameter bytes "
                                         "(expected {} each)", losses_raw.size(), grads.size(), params.size(), blob));
  ir::TensorData losses(ir::DType::F32, {static_cast<int64_t>(losses_raw.size() / 4)});
  losses.bytes = losses_raw;
  ir::TensorData loss(ir::DType::F32, {});
  std::memcpy(loss.bytes.data(), losses.bytes.data(), 4);
  frontend::save_tensor_pb((dir / "loss.pb").string(), "loss", loss);
  frontend::save_tensor_pb((dir / "losses.pb").string(), "losses", losses);
  for (const auto& s : c.emitted.trainable) {
    ir::TensorData t(ir::DType::F32, s.shape);
    std::memcpy(t.bytes.data(), grads.data() + s.offset * 4, s.count * 4);
    frontend::save_tensor_pb((dir / ("grad_" + file_safe_name(s.name) + ".pb")).string(), s.name, t);
    std::memcpy(t.bytes.data(), params.data() + s.offset * 4, s.count * 4);
    frontend::save_tensor_pb((dir / ("param_" + file_safe_name(s.name) + ".pb")).string(), s.name, t);
  }
}

Comparison compare_outputs(const std::vector<NamedTensor>& actual, const std::vector<NamedTensor>& expected,
                           double rtol, double atol) {
  Comparison c;
  if (actual.size() != expected.size()) {
    c.ok = false;
    c.report = fmt::format("the model has {} outputs but {} reference outputs were given\n", actual.size(),
                           expected.size());
    return c;
  }
  for (size_t k = 0; k < actual.size(); ++k) {
    const ir::TensorData& a = actual[k].data;
    const ir::TensorData& e = expected[k].data;
    std::string head = fmt::format("output {} '{}'", k, actual[k].name);
    if (a.dtype != e.dtype || a.shape != e.shape) {
      c.ok = false;
      c.report += fmt::format("{}: got {}{}, expected {}{}: MISMATCH\n", head, ir::dtype_name(a.dtype),
                              ir::shape_str(a.shape), ir::dtype_name(e.dtype), ir::shape_str(e.shape));
      continue;
    }
    double max_abs = 0, max_rel = 0;
    int64_t bad = 0, first_bad = -1;
    for (int64_t i = 0; i < a.numel(); ++i) {
      double x = a.get_f64(i), y = e.get_f64(i);
      if (std::isnan(x) || std::isnan(y)) {
        if (std::isnan(x) != std::isnan(y)) {
          if (first_bad < 0) first_bad = i;
          ++bad;
        }
        continue;
      }
      if (x == y) continue;  // also equal infinities
      double d = std::fabs(x - y);
      max_abs = std::max(max_abs, d);
      if (y != 0) max_rel = std::max(max_rel, d / std::fabs(y));
      if (!(d <= atol + rtol * std::fabs(y))) {
        if (first_bad < 0) first_bad = i;
        ++bad;
      }
    }
    std::string verdict = bad ? fmt::format("MISMATCH ({} of {} elements; first at {}: got {}, expected {})", bad,
                                            a.numel(), first_bad, a.get_f64(first_bad), e.get_f64(first_bad))
                              : "ok";
    if (bad) c.ok = false;
    c.report += fmt::format("{}: {}{} max abs err {:.3g}, max rel err {:.3g}: {}\n", head, ir::dtype_name(a.dtype),
                            ir::shape_str(a.shape), max_abs, max_rel, verdict);
  }
  return c;
}


}  // namespace tinyodlc
