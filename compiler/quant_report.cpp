#include "compiler/quant_report.h"

#include <algorithm>
#include <cmath>
#include <iostream>
#include <map>
#include <set>

#include <fmt/format.h>

#include "compiler/driver.h"
#include "compiler/quant_debug.h"
#include "ir/interpreter.h"
#include "passes/quantize.h"
#include "support/json.h"

namespace tinyodlc {

using ir::CompileError;

namespace {

std::string num(double v) { return std::isfinite(v) ? fmt::format("{:.6g}", v) : "null"; }

struct LayerErr {
  double sig = 0, noise = 0;
  double sqnr_db() const { return noise > 0 ? 10 * std::log10(sig / noise) : INFINITY; }
};

struct OutErr {
  double max_abs = 0;
  std::vector<std::vector<double>> f, q;  // per set, flattened
  int64_t top1_same = 0, top1_total = 0;
};

double cosine(const OutErr& e, bool centered) { return output_cosine(e.f, e.q, centered); }

}  // namespace

double output_cosine(const std::vector<std::vector<double>>& f, const std::vector<std::vector<double>>& q,
                     bool centered) {
  if (f.empty()) return NAN;
  const size_t n = f[0].size();
  std::vector<double> mean(n, 0.0);
  if (centered)
    for (const auto& fs : f)
      for (size_t i = 0; i < n; ++i) mean[i] += fs[i] / static_cast<double>(f.size());
  double dot = 0, nf = 0, nq = 0;
  for (size_t s = 0; s < f.size(); ++s)
    for (size_t i = 0; i < n; ++i) {
      const double a = f[s][i] - mean[i], b = q[s][i] - mean[i];
      dot += a * b;
      nf += a * a;
      nq += b * b;
    }
  if (nf == 0 && nq == 0) return 1.0;
  return dot / std::sqrt(nf * nq);
}

std::vector<backends::GeneratedFile> quantization_report(const ir::Graph& g, const passes::QuantContext& q,
                                                         const QuantReportInputs& in, const CompileOptions& opts) {
  const ir::Graph* fref = in.float_graph.get();
  const auto& ranges = q.ranges;
  const passes::InsertQdqStats& ins = q.inserted;
  const passes::QdqFoldStats& fold = q.folded;
  const auto& evs = in.eval_sets;
  const std::string& eval_dir = in.eval_dir;
  // ---- measurements on the calibration sets ------------------------------------------------
  std::map<std::string, LayerErr> layers;
  std::vector<OutErr> outs(g.outputs.size());
  std::vector<std::pair<const ir::Value*, const ir::Value*>> pairs;  // (int8 value, float value)
  for (const auto& vp : g.values()) {
    const ir::Value* v = vp.get();
    if (v->dtype != ir::DType::I8 || !v->quant || v->is_constant() || v->name.size() < 3 ||
        v->name.compare(v->name.size() - 2, 2, ".q") != 0)
      continue;
    const ir::Value* f = fref->find_value(v->name.substr(0, v->name.size() - 2));
    if (f && f->dtype == ir::DType::F32 && f->shape == v->shape) pairs.push_back({v, f});
  }
  for (const auto& set : evs) {
    const ir::Environment ef = ir::evaluate_all(*fref, set);
    const ir::Environment eq = ir::evaluate_all(g, set);
    for (const auto& [qv, fv] : pairs) {
      auto iq = eq.find(qv);
      auto iff = ef.find(fv);
      if (iq == eq.end() || iff == ef.end()) continue;
      const double s = qv->quant->scale[0];
      const int32_t z = qv->quant->zero_point[0];
      LayerErr& le = layers[fv->name];
      for (int64_t i = 0; i < fv->numel(); ++i) {
        const double a = iff->second->get_f64(i);
        const double b = s * (static_cast<double>(iq->second->data<int8_t>()[i]) - z);
        le.sig += a * a;
        le.noise += (a - b) * (a - b);
      }
    }
    for (size_t k = 0; k < g.outputs.size(); ++k) {
      const ir::TensorData& a = *ef.at(fref->outputs[k]);
      const ir::TensorData& b = *eq.at(g.outputs[k]);
      OutErr& oe = outs[k];
      std::vector<double> fa, qb;
      for (int64_t i = 0; i < a.numel(); ++i) {
        fa.push_back(a.get_f64(i));
        qb.push_back(b.get_f64(i));
        oe.max_abs = std::max(oe.max_abs, std::fabs(fa.back() - qb.back()));
      }
      const int64_t c = a.shape.empty() ? 1 : a.shape.back();
      if (c > 1)
        for (int64_t r = 0; r + c <= a.numel(); r += c) {
          auto fa0 = fa.begin() + r, qb0 = qb.begin() + r;
          oe.top1_same += (std::max_element(fa0, fa0 + c) - fa0) == (std::max_element(qb0, qb0 + c) - qb0);
          ++oe.top1_total;
        }
      oe.f.push_back(std::move(fa));
      oe.q.push_back(std::move(qb));
    }
  }

  // ---- what runs in integer, what in float ---------------------------------------------------
  int int_ops = 0, q_nodes = 0, dq_nodes = 0;
  std::map<std::string, std::vector<std::string>> fallback;  // op -> node names
  for (const auto& n : g.nodes()) {
    if (n->domain == "tinyodlc") {
      ++int_ops;
      continue;
    }
    if (n->op == "QuantizeLinear") { ++q_nodes; continue; }
    if (n->op == "DequantizeLinear") { ++dq_nodes; continue; }
    bool int8_io = true, any_float = false;
    for (const ir::Value* v : n->inputs)
      if (v && !v->is_constant()) {
        int8_io = int8_io && v->dtype == ir::DType::I8;
        any_float = any_float || v->dtype == ir::DType::F32;
      }
    for (const ir::Value* v : n->outputs)
      if (v) int8_io = int8_io && v->dtype == ir::DType::I8;
    if (int8_io) ++int_ops;
    else if (any_float) fallback[n->op].push_back(n->name);
  }
  const size_t flash_before = constant_bytes(*fref), flash_after = constant_bytes(g);

  // ---- quantization.md ---------------------------------------------------------------------
  std::string md = fmt::format("# int8 quantization report: {}\n\n", opts.model);
  md += fmt::format("Scheme: weights int8 symmetric per output channel, activations int8 asymmetric per tensor, "
                    "bias int32, fixed-point requantization (docs/quantization.md).\n\n");
  md += fmt::format("- calibration: {} input sets from `{}`, method `{}`\n", in.calibration_sets, opts.calibration_dir,
                    opts.calibration_method);
  md += fmt::format("- Q/DQ pairs inserted: {}, constants quantized: {}, float ops folded to int8: {}, float "
                    "Q/DQ pairs removed between float ops: {}\n",
                    ins.activations, ins.weights, fold.folded, fold.dropped_pairs);
  md += fmt::format("- integer ops: {}; run-time QuantizeLinear: {}, DequantizeLinear: {}\n", int_ops, q_nodes,
                    dq_nodes);
  md += fmt::format("- flash (constants): {} bytes float -> {} bytes int8 ({:.2f}x smaller)\n\n", flash_before,
                    flash_after, flash_after ? static_cast<double>(flash_before) / flash_after : 0.0);
  md += "## Float fallback\n\n";
  if (fallback.empty()) md += "None: every op runs on int8.\n\n";
  for (const auto& [op, names] : fallback)
    md += fmt::format("- `{}` ({}x, float with explicit Quantize/DequantizeLinear around): {}\n", op, names.size(),
                      fmt::join(names, ", "));
  md += "\n## Kept in float (mixed precision)\n\n";
  if (in.kept_float.empty()) md += "None.\n";
  else
    md += "Costs and scores measured with each tensor kept in float alone, against the all-int8 build; score = "
          "centered cosine of the outputs vs float on the calibration sets.\n\n| tensor | op | chosen by | score int8 "
          "-> with it float | RAM (arena) | flash |\n|---|---|---|---|---|---|\n";
  for (const KeptFloat& k : in.kept_float)
    md += fmt::format("| {} | {} | {} | {:.4f} -> {:.4f} | {:+d} B | {:+d} B |\n", k.name, k.op, k.why, k.score_without,
                      k.score_with, k.ram_bytes, k.flash_bytes);
  md += fmt::format("\n## Output error vs float ({} input sets from `{}`)\n\n", evs.size(), eval_dir);
  md += "| output | max abs err | cosine | centered cosine | top-1 "
        "agreement |\n|---|---|---|---|---|\n";
  for (size_t k = 0; k < outs.size(); ++k) {
    const OutErr& e = outs[k];
    md += fmt::format("| {} | {} | {} | {} | {} |\n", g.outputs[k]->name, num(e.max_abs), num(cosine(e, false)),
                      num(cosine(e, true)),
                      e.top1_total ? fmt::format("{:.1f}% ({}/{})", 100.0 * e.top1_same / e.top1_total, e.top1_same,
                                                 e.top1_total)
                                   : "-");
  }
  md += "\n## Per-layer SQNR vs float (same input sets as above)\n\n| tensor | scale | zero point | range (float) | SQNR dB |\n"
        "|---|---|---|---|---|\n";
  for (const auto& [qv, fv] : pairs) {
    const auto& r = ranges.count(fv->name) ? ranges.at(fv->name) : passes::ActRange{};
    md += fmt::format("| {} | {:.6g} | {} | [{:.4g}, {:.4g}] | {} |\n", fv->name, qv->quant->scale[0],
                      qv->quant->zero_point[0], r.min, r.max,
                      layers.count(fv->name) ? num(layers.at(fv->name).sqnr_db()) : "-");
  }

  // ---- quantization.json -------------------------------------------------------------------
  json::Writer w;
  w.begin_object();
  w.field("model", opts.model).field("calibration_sets", in.calibration_sets);
  w.field("method", opts.calibration_method).field("eval_dir", eval_dir).field("eval_sets", evs.size());
  w.field("flash_bytes_float", flash_before).field("flash_bytes_int8", flash_after).field("integer_ops", int_ops);
  w.key("float_fallback").begin_object();
  for (const auto& [op, names] : fallback) {
    w.key(op).begin_array(true);
    for (const auto& s : names) w.value(s);
    w.end_array();
  }
  w.end_object();
  w.key("kept_float").begin_array();
  for (const KeptFloat& k : in.kept_float) {
    w.begin_object(true).field("name", k.name).field("op", k.op).field("chosen_by", k.why);
    w.field("score_int8", k.score_without).field("score_float", k.score_with);
    w.field("ram_bytes", static_cast<int64_t>(k.ram_bytes)).field("flash_bytes", static_cast<int64_t>(k.flash_bytes));
    w.end_object();
  }
  w.end_array();
  w.key("outputs").begin_array();
  for (size_t k = 0; k < outs.size(); ++k) {
    const OutErr& e = outs[k];
    w.begin_object(true).field("name", g.outputs[k]->name).field("max_abs_err", e.max_abs);
    w.field("cosine", cosine(e, false)).field("centered_cosine", cosine(e, true)).key("top1_agreement");
    if (e.top1_total) w.value(static_cast<double>(e.top1_same) / e.top1_total);
    else w.null();
    w.end_object();
  }
  w.end_array();
  w.key("tensors").begin_array();
  for (const auto& [qv, fv] : pairs) {
    w.begin_object(true).field("name", fv->name).field("scale", static_cast<double>(qv->quant->scale[0]));
    w.field("zero_point", qv->quant->zero_point[0]).key("sqnr_db");
    if (layers.count(fv->name)) w.value(layers.at(fv->name).sqnr_db());
    else w.null();
    w.end_object();
  }
  w.end_array();
  w.end_object();
  const std::string js = w.str();

  std::string fb;
  for (const auto& [op, names] : fallback) fb += fmt::format("{}{} x{}", fb.empty() ? "" : ", ", op, names.size());
  std::cerr << fmt::format("tinyodlc: note: int8: {} integer ops; float fallback: {}; flash {} -> {} bytes\n", int_ops,
                           fb.empty() ? "none" : fb, flash_before, flash_after);
  return {{"quantization.md", md}, {"quantization.json", js}};
}

}  // namespace tinyodlc
