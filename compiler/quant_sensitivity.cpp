#include "compiler/quant_sensitivity.h"

#include <algorithm>
#include <cmath>
#include <iostream>

#include <fmt/format.h>

#include "compiler/quant_debug.h"
#include "compiler/quant_report.h"
#include "ir/interpreter.h"

namespace tinyodlc {

double output_score(const ir::Graph& gq, const std::vector<std::vector<const ir::TensorData*>>& fo,
                    const std::vector<std::vector<ir::TensorData>>& sets) {
  double total = 0;
  const size_t nout = gq.outputs.size();
  std::vector<std::vector<std::vector<double>>> q(nout);  // [output][set][element]
  for (size_t s = 0; s < sets.size(); ++s) {
    const ir::Environment e = ir::evaluate_all(gq, sets[s]);
    for (size_t k = 0; k < nout; ++k) {
      const ir::TensorData& t = *e.at(gq.outputs[k]);
      std::vector<double> v(static_cast<size_t>(t.numel()));
      for (int64_t i = 0; i < t.numel(); ++i) v[static_cast<size_t>(i)] = t.get_f64(i);
      q[k].push_back(std::move(v));
    }
  }
  for (size_t k = 0; k < nout; ++k) {
    std::vector<std::vector<double>> f(sets.size());
    for (size_t s = 0; s < sets.size(); ++s)
      for (int64_t i = 0; i < fo[s][k]->numel(); ++i) f[s].push_back(fo[s][k]->get_f64(i));
    const double c = output_cosine(f, q[k], true);
    total += std::isnan(c) ? 0.0 : c;  // one side all zero: no agreement
  }
  return nout ? total / static_cast<double>(nout) : 1.0;
}

std::vector<KeptFloat> choose_float_tensors(const ir::Graph& fref, const SensitivityCosts& fn,
                                            const std::set<std::string>& keep,
                                            const std::vector<std::vector<ir::TensorData>>& sets,
                                            const std::map<std::string, passes::ActRange>& ranges, int count) {
  std::vector<ir::Environment> envs;
  std::vector<std::vector<const ir::TensorData*>> fo;
  for (const auto& s : sets) {
    envs.push_back(ir::evaluate_all(fref, s));
    std::vector<const ir::TensorData*> o;
    for (const ir::Value* v : fref.outputs) o.push_back(envs.back().at(v).get());
    fo.push_back(std::move(o));
  }
  auto op_of = [&](const std::string& name) {
    const ir::Value* v = fref.find_value(name);
    return v && v->producer ? v->producer->op : std::string("input");
  };
  // Costs and scores against the all-int8 build.
  const std::unique_ptr<ir::Graph> all8 = fn.quantize({});
  const double s_all8 = output_score(*all8, fo, sets);
  const long long ram0 = static_cast<long long>(fn.arena_bytes(*all8));
  const long long flash0 = static_cast<long long>(constant_bytes(*all8));
  auto measure = [&](const std::string& name, const char* why) {
    KeptFloat k{name, op_of(name), why, s_all8, 0, 0, 0};
    const std::unique_ptr<ir::Graph> g = fn.quantize({name});
    k.score_with = output_score(*g, fo, sets);
    k.ram_bytes = static_cast<long long>(fn.arena_bytes(*g)) - ram0;
    k.flash_bytes = static_cast<long long>(constant_bytes(*g)) - flash0;
    return k;
  };
  std::vector<KeptFloat> out;
  for (const auto& name : keep) out.push_back(measure(name, "--int8-keep-float"));
  if (count <= 0) return out;
  // Candidates: the tensors adding the most error in the build with the user's choice.
  const std::unique_ptr<ir::Graph> base = fn.quantize(keep);
  std::vector<TensorQuantError> errs = per_tensor_errors(*base, fref, sets, ranges);
  std::stable_sort(errs.begin(), errs.end(), [](const auto& a, const auto& b) { return a.added > b.added; });
  const size_t k_max = std::min(errs.size(), static_cast<size_t>(std::max(8, 3 * count)));
  std::vector<KeptFloat> tried;
  for (size_t i = 0; i < k_max; ++i) {
    if (keep.count(errs[i].name) || ranges.find(errs[i].name) == ranges.end()) continue;  // no own range: not one
    tried.push_back(measure(errs[i].name, "--int8-sensitivity"));
    std::cerr << fmt::format("tinyodlc: int8-sensitivity: {} ({}) in float: output centered cosine {:.4f} -> {:.4f}\n",
                             tried.back().name, tried.back().op, s_all8, tried.back().score_with);
  }
  std::stable_sort(tried.begin(), tried.end(), [](const auto& a, const auto& b) { return a.score_with > b.score_with; });
  for (const KeptFloat& k : tried)
    if (static_cast<int>(out.size() - keep.size()) < count && k.score_with > s_all8 + 1e-6) out.push_back(k);
  return out;
}

}  // namespace tinyodlc
