// Finite-difference check of gradient rules (used by tests/unit/test_grad_*.cpp).
//
// check_gradients(ir) takes a graph in textual IR whose single output is a prediction and
// whose `param` values are trainable, appends an MSE loss against a fixed random target
// (so the output gradient is a generic dense tensor), runs the autodiff pass, and runs the
// training graph with the reference interpreter (the very kernels the generated code uses).
// Every parameter's gradient (first step) is compared with central finite differences of
// the loss, evaluated by interpreting the same graph with the parameter perturbed.
//
// Graphs written in f64 are checked in double precision (eps 1e-6, tolerance 1e-6 relative):
// write the IR in f64 wherever the op's kernels support it. f32 graphs use eps 1e-2 and a 2e-2
// tolerance (only for ops whose kernels are float-only).
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "ir/interpreter.h"
#include "ir/parser.h"
#include "ir/printer.h"
#include "passes/pass_manager.h"
#include "passes/training.h"

namespace gradcheck {

using namespace tinyodlc;
using namespace tinyodlc::ir;

struct Options {
  bool randomize_params = true;   // replace every param's initial data with uniform [-1, 1] values
  double lo = -1.0, hi = 1.0;     // range of random inputs / params
  int max_probes = 12;            // finite-difference probes per parameter (all elements if fewer)
  std::vector<TensorData> inputs; // explicit graph inputs (default: random floats)
  double eps = 0;                 // 0: by dtype
  double rtol = 0;                // 0: by dtype
  uint32_t seed = 1234;
};

inline void fill_random(TensorData& t, std::mt19937& r, double lo, double hi) {
  std::uniform_real_distribution<double> d(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) {
    if (t.dtype == DType::F64) t.data<double>()[i] = d(r);
    else if (t.dtype == DType::F32) t.data<float>()[i] = static_cast<float>(d(r));
  }
}

inline double get(const TensorData& t, int64_t i) { return t.get_f64(i); }

inline void set(TensorData& t, int64_t i, double v) {
  if (t.dtype == DType::F64) t.data<double>()[i] = v;
  else t.data<float>()[i] = static_cast<float>(v);
}

// Returns the number of (parameter element) probes checked.
inline int check_gradients(const std::string& text, Options o = {}) {
  std::mt19937 r(o.seed);
  std::unique_ptr<Graph> g = parse_graph(text, "grad_check");
  passes::PassContext ctx;
  passes::TrainingOptions topts;
  topts.trainable = {"(unused)"};  // autodiff only needs enabled(); params are declared in the IR
  topts.loss = "mse";
  ctx.training = &topts;
  passes::PassRegistry::instance().find("shape-inference")->run(*g, ctx);
  if (o.randomize_params)
    for (const auto& v : g->values())
      if (v->is_param()) {
        auto t = std::make_shared<TensorData>(*v->init);
        fill_random(*t, r, o.lo, o.hi);
        v->init = t;
      }
  std::vector<TensorData> inputs = o.inputs;
  for (size_t k = inputs.size(); k < g->inputs.size(); ++k) {
    TensorData t(g->inputs[k]->dtype, g->inputs[k]->shape);
    fill_random(t, r, o.lo, o.hi);
    inputs.push_back(t);
  }
  EXPECT_EQ(g->outputs.size(), 1u);
  const Value* pred = g->outputs[0];
  const bool f64 = pred->dtype == DType::F64;
  const double eps = o.eps > 0 ? o.eps : (f64 ? 1e-6 : 1e-2);
  const double rtol = o.rtol > 0 ? o.rtol : (f64 ? 1e-6 : 2e-2);
  TensorData target(pred->dtype, pred->shape);
  fill_random(target, r, -1, 1);
  inputs.push_back(target);

  passes::PassRegistry::instance().find("autodiff")->run(*g, ctx);
  passes::PassRegistry::instance().find("dce")->run(*g, ctx);
  std::vector<Value*> params, accs;
  for (const auto& n : g->nodes())
    if (n->op == "AccumulateGrad") {
      accs.push_back(n->outputs[0]);
      params.push_back(g->find_value(n->outputs[0]->state_of));
    }
  EXPECT_FALSE(params.empty()) << "no trainable parameter";
  for (Value* a : accs) g->outputs.push_back(a);
  std::vector<TensorData> res = interpret(*g, inputs);
  auto loss_at = [&]() { return get(interpret(*g, inputs)[0], 0); };
  int probes = 0;
  for (size_t p = 0; p < params.size(); ++p) {
    Value* pv = params[p];
    const TensorData& grad = res[1 + p];
    EXPECT_EQ(grad.shape, pv->shape) << pv->name;
    std::vector<int64_t> idx;
    const int64_t n = pv->numel();
    if (n <= o.max_probes) {
      for (int64_t i = 0; i < n; ++i) idx.push_back(i);
    } else {
      std::uniform_int_distribution<int64_t> d(0, n - 1);
      for (int i = 0; i < o.max_probes; ++i) idx.push_back(d(r));
    }
    const auto original = pv->init;
    for (int64_t i : idx) {
      auto t = std::make_shared<TensorData>(*original);
      const double x = get(*t, i);
      set(*t, i, x + eps);
      pv->init = t;
      const double lp = loss_at();
      set(*t, i, x - eps);
      const double lm = loss_at();
      pv->init = original;
      const double fd = (lp - lm) / (2 * eps);
      const double an = get(grad, i);
      EXPECT_LE(std::abs(an - fd), rtol * std::max({1e-3, std::abs(fd), std::abs(an)}))
          << "d loss / d " << pv->name << "[" << i << "]: autodiff " << an << " vs finite difference " << fd;
      ++probes;
    }
  }
  return probes;
}

}  // namespace gradcheck
