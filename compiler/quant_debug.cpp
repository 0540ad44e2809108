#include "compiler/quant_debug.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <set>

#include <fmt/format.h>

#include "ir/interpreter.h"
#include "passes/quant_utils.h"
#include "support/json.h"

namespace tinyodlc {

namespace {

// Running sums over the input sets. Centered cosine subtracts the mean float value of each
// element over the sets (m = sum_s f / S): sum_s (f - m)(q - m) = sum fq - m sum q, so only the
// per-element sums of f and q are kept, the products are summed directly.
struct Acc {
  const ir::Value* q = nullptr;
  const ir::Value* f = nullptr;
  std::vector<double> sum_f, sum_q;
  double fq = 0, ff = 0, qq = 0, noise = 0, grid_noise = 0;
  int64_t clipped = 0, count = 0;
};

std::string num(double v, const char* f = "{:.4f}") { return std::isfinite(v) ? fmt::format(fmt::runtime(f), v) : "-"; }

}  // namespace

size_t constant_bytes(const ir::Graph& g) {
  std::set<const ir::Value*> seen;
  size_t b = 0;
  for (const auto& n : g.nodes())
    for (const ir::Value* v : n->inputs)
      if (v && v->is_constant() && seen.insert(v).second) b += v->nbytes();
  return b;
}

std::vector<TensorQuantError> per_tensor_errors(const ir::Graph& g, const ir::Graph& fref,
                                                const std::vector<std::vector<ir::TensorData>>& sets,
                                                const std::map<std::string, passes::ActRange>& ranges) {
  std::vector<Acc> acc;
  for (const auto& n : fref.nodes())
    for (const ir::Value* f : n->outputs) {
      if (!f || f->dtype != ir::DType::F32) continue;
      const ir::Value* q = g.find_value(f->name + ".q");
      if (!q || q->dtype != ir::DType::I8 || !q->quant || q->is_constant() || q->shape != f->shape) continue;
      acc.push_back({q, f, std::vector<double>(f->numel(), 0.0), std::vector<double>(f->numel(), 0.0)});
    }
  // graph inputs quantized by the input QuantizeLinear come first
  std::vector<Acc> inputs;
  for (const ir::Value* f : fref.inputs) {
    const ir::Value* q = g.find_value(f->name + ".q");
    if (f->dtype == ir::DType::F32 && q && q->dtype == ir::DType::I8 && q->quant && q->shape == f->shape)
      inputs.push_back({q, f, std::vector<double>(f->numel(), 0.0), std::vector<double>(f->numel(), 0.0)});
  }
  acc.insert(acc.begin(), inputs.begin(), inputs.end());

  for (const auto& set : sets) {
    const ir::Environment ef = ir::evaluate_all(fref, set);
    const ir::Environment eq = ir::evaluate_all(g, set);
    for (Acc& a : acc) {
      auto iq = eq.find(a.q);
      auto iff = ef.find(a.f);
      if (iq == eq.end() || iff == ef.end()) continue;
      const double s = a.q->quant->scale[0];
      const int32_t z = a.q->quant->zero_point[0];
      const double top = s * (127 - z) + s / 2, bottom = s * (-128 - z) - s / 2;
      const int8_t* qd = iq->second->data<int8_t>();
      for (int64_t i = 0; i < a.f->numel(); ++i) {
        const double fv = iff->second->get_f64(i);
        const double qv = s * (static_cast<double>(qd[i]) - z);
        if (!std::isfinite(fv)) continue;
        a.sum_f[i] += fv;
        a.sum_q[i] += qv;
        a.fq += fv * qv;
        a.ff += fv * fv;
        a.qq += qv * qv;
        a.noise += (fv - qv) * (fv - qv);
        const double grid = s * (passes::quant::quantize_value(fv, a.q->quant->scale[0], z) - z);  // its own grid alone
        a.grid_noise += (fv - grid) * (fv - grid);
        a.clipped += fv > top || fv < bottom;
        ++a.count;
      }
    }
  }
  const double S = static_cast<double>(sets.size());
  std::vector<TensorQuantError> out;
  std::map<std::string, double> measured;  // float name -> rel_err
  for (const Acc& a : acc) {
    TensorQuantError t;
    t.name = a.f->name;
    t.op = a.f->producer ? a.f->producer->op : "input";
    t.scale = a.q->quant->scale[0];
    t.zero_point = a.q->quant->zero_point[0];
    if (auto r = ranges.find(t.name); r != ranges.end()) {
      t.lo = r->second.lo;
      t.hi = r->second.hi;
    } else {
      t.lo = t.scale * (-128 - t.zero_point);
      t.hi = t.scale * (127 - t.zero_point);
    }
    double num_c = a.fq, ff_c = a.ff, qq_c = a.qq;
    for (size_t i = 0; i < a.sum_f.size(); ++i) {
      const double m = a.sum_f[i] / S;
      num_c -= m * a.sum_q[i];
      ff_c -= m * a.sum_f[i];
      qq_c += -2 * m * a.sum_q[i] + S * m * m;
    }
    // A float tensor that never varies over the sets (ff_c ~ 0) has no centered direction.
    t.centered_cosine = ff_c > 1e-12 * std::max(a.ff, 1e-30) && qq_c > 0 ? num_c / std::sqrt(ff_c * qq_c)
                        : (a.noise == 0 ? 1.0 : NAN);
    t.rel_err = a.ff > 0 ? std::sqrt(a.noise / a.ff) : (a.noise > 0 ? INFINITY : 0.0);
    t.grid_rel_err = a.ff > 0 ? std::sqrt(a.grid_noise / a.ff) : 0.0;
    t.clipped = a.count ? static_cast<double>(a.clipped) / a.count : 0.0;
    t.elements = a.f->numel();
    measured[t.name] = t.rel_err;
    out.push_back(t);
  }
  // Error carried in: the largest rel_err among the nearest measured tensors upstream (through
  // float ops that have no int8 twin).
  std::map<const ir::Value*, double> carried;
  std::function<double(const ir::Value*)> upstream = [&](const ir::Value* v) -> double {
    if (!v || v->is_constant()) return 0.0;
    if (auto m = measured.find(v->name); m != measured.end() && std::isfinite(m->second)) return m->second;
    if (auto c = carried.find(v); c != carried.end()) return c->second;
    double e = 0;
    carried[v] = 0;  // graphs are acyclic; guards against revisiting
    if (v->producer)
      for (const ir::Value* in : v->producer->inputs) e = std::max(e, upstream(in));
    return carried[v] = e;
  };
  for (TensorQuantError& t : out) {
    const ir::Value* f = fref.find_value(t.name);
    double in = 0;
    if (f && f->producer)
      for (const ir::Value* v : f->producer->inputs) in = std::max(in, upstream(v));
    t.added = t.rel_err - in;
  }
  return out;
}

std::vector<backends::GeneratedFile> quant_debug_files(const std::vector<TensorQuantError>& t,
                                                       const std::string& model, const std::string& eval_dir,
                                                       size_t eval_sets) {
  std::vector<size_t> worst(t.size());
  std::iota(worst.begin(), worst.end(), size_t{0});
  auto key = [&](size_t i) { return std::isfinite(t[i].added) ? t[i].added : 1e30; };
  std::stable_sort(worst.begin(), worst.end(), [&](size_t a, size_t b) { return key(a) > key(b); });

  std::string md = fmt::format("# Per-tensor int8 error: {}\n\n", model);
  md += fmt::format(
      "Every int8 activation against the same tensor of the float graph on {} input sets from `{}` (reference "
      "kernels, i.e. the generated code's arithmetic).\n\n"
      "- centered cos: cosine of int8 and float after subtracting the mean float value of each element over the "
      "sets\n- rel err: ||int8 - float|| / ||float|| (errors of everything upstream included)\n"
      "- added: rel err minus the largest rel err of the nearest quantized inputs: the error this step adds\n"
      "- grid err: rel err of the float tensor rounded to this tensor's int8 grid alone (scale, zero point)\n"
      "- clipped: share of float values outside the int8 range (saturated)\n\n",
      eval_sets, eval_dir);
  auto row = [&](const TensorQuantError& e, size_t rank) {
    return fmt::format("| {} | `{}` | {} | {:.4g} | {} | [{:.4g}, {:.4g}] | {} | {} | {} | {} | {} |\n", rank, e.name,
                       e.op, e.scale, e.zero_point, e.lo, e.hi, num(e.centered_cosine), num(e.rel_err),
                       num(e.added, "{:+.4f}"), num(e.grid_rel_err), num(100 * e.clipped, "{:.2f}%"));
  };
  const std::string head =
      "| # | tensor | op | scale | zp | range | centered cos | rel err | added | grid err | clipped |\n"
      "|---|---|---|---|---|---|---|---|---|---|---|\n";
  md += "## Worst first (by the error added)\n\n" + head;
  for (size_t k = 0; k < worst.size() && k < 20; ++k) md += row(t[worst[k]], k + 1);
  if (worst.size() > 20) md += fmt::format("\n({} more in graph order below and in quant_debug.json.)\n", worst.size() - 20);
  md += "\n## Graph order\n\n" + head;
  for (size_t k = 0; k < t.size(); ++k) md += row(t[k], k + 1);

  json::Writer w;
  w.begin_object();
  w.field("model", model).field("eval_dir", eval_dir).field("eval_sets", eval_sets);
  auto jnum = [&](const char* k, double v) {
    w.key(k);
    if (std::isfinite(v)) w.value(v);
    else w.null();
  };
  w.key("tensors").begin_array();
  for (const TensorQuantError& e : t) {
    w.begin_object(true).field("name", e.name).field("op", e.op).field("scale", e.scale);
    w.field("zero_point", e.zero_point).field("lo", e.lo).field("hi", e.hi).field("elements", e.elements);
    jnum("centered_cosine", e.centered_cosine);
    jnum("rel_err", e.rel_err);
    jnum("added", e.added);
    jnum("grid_rel_err", e.grid_rel_err);
    jnum("clipped", e.clipped);
    w.end_object();
  }
  w.end_array();
  w.key("worst_first").begin_array(true);
  for (size_t i : worst) w.value(t[i].name);
  w.end_array();
  w.end_object();
  return {{"quant_debug.md", md}, {"quant_debug.json", w.str()}};
}

}  // namespace tinyodlc
