// select-trainable: marks the trainable parameters of on-device learning (docs/training.md).
//
// The selected float32 initializers become Value::State::Param values: no longer constants,
// so no later pass folds them (BatchNormalization is folded only into frozen layers), and
// the backend keeps them in RAM, initialized from their ONNX values. With --train-input the
// graph is first cut at that tensor: it becomes the graph input and everything that only
// computed it is removed (the head is trained on cached features).
//
// Runs right after import, before the default pipeline, so that selection sees the
// initializers under their exported names.
#include <algorithm>
#include <regex>
#include <set>

#include <fmt/format.h>

#include "passes/pass_manager.h"
#include "passes/training.h"

namespace tinyodlc::passes {

using namespace ir;

std::vector<Value*> trainable_params(const Graph& g) {
  std::vector<Value*> r;
  std::set<const Value*> seen;
  for (const auto& n : g.nodes())
    for (Value* in : n->inputs)
      if (in && in->is_param() && seen.insert(in).second) r.push_back(in);
  return r;
}

namespace {

bool is_layer(const Node& n) {
  return n.domain.empty() && (n.op == "Conv" || n.op == "ConvTranspose" || n.op == "Gemm" || n.op == "MatMul");
}
bool is_norm(const Node& n) {
  return n.domain.empty() && (n.op == "BatchNormalization" || n.op == "LayerNormalization" ||
                              n.op == "InstanceNormalization" || n.op == "GroupNormalization");
}

bool is_float_initializer(const Value* v) {
  return v && v->is_constant() && !v->producer && v->dtype == DType::F32 && v->numel() > 0;
}

// Float initializers that feed node n directly or through a chain of single-input views and
// Transpose/Cast (PyTorch exports `x @ W.T` as Transpose(W) -> MatMul without constant folding).
void params_of(const Graph& g, const Node& n, std::set<Value*>& out) {
  for (Value* in : n.inputs) {
    Value* v = in;
    while (v && v->producer && v->producer->inputs.size() >= 1 &&
           (v->producer->op == "Transpose" || v->producer->op == "Identity" || v->producer->op == "Reshape" ||
            v->producer->op == "Unsqueeze" || v->producer->op == "Squeeze"))
      v = v->producer->inputs[0];
    if (is_float_initializer(v)) out.insert(v);
  }
  // A MatMul's bias is a following Add with a float initializer operand.
  if (n.op == "MatMul" && n.outputs[0]) {
    auto users = g.users(n.outputs[0]);
    if (users.size() == 1 && users[0]->op == "Add")
      for (Value* in : users[0]->inputs)
        if (is_float_initializer(in)) out.insert(in);
  }
}

void cut_at_input(Graph& g, const std::string& name, PassContext& outer) {
  Value* t = g.find_value(name);
  if (!t) fail(fmt::format("--train-input '{}': no such tensor in the model", name));
  // The new graph input needs its type: infer the shapes of the whole model first.
  if (!t->has_shape) PassRegistry::instance().find("shape-inference")->run(g, outer);
  if (t->is_constant()) fail(*t, "--train-input: the tensor is a constant");
  if (g.is_graph_input(t)) return;
  Node* p = t->producer;
  if (!p) fail(*t, "--train-input: the tensor has no producer");
  // Detach t from its producer: the producer gets a fresh output, t becomes a graph input.
  for (auto& o : p->outputs)
    if (o == t) {
      o = g.add_value(t->name + ".cut", t->dtype, t->shape);
      o->has_shape = t->has_shape;
      o->producer = p;
    }
  t->producer = nullptr;
  std::vector<Value*> old = g.inputs;
  g.inputs = {t};
  PassContext ctx;
  PassRegistry::instance().find("dce")->run(g, ctx);
  // Keep the original inputs the remaining part still reads (e.g. an attention mask).
  for (Value* in : old)
    if (!g.users(in).empty()) g.inputs.push_back(in);
  if (!g.users(t).empty() || g.is_graph_output(t)) return;
  fail(*t, "--train-input: no graph output depends on this tensor");
}

}  // namespace

std::string trainable_part_input(const Graph& g, std::string* why) {
  std::set<const Node*> part;
  for (const auto& n : g.nodes()) {
    bool in = false;
    for (const Value* v : n->inputs)
      if (v && (v->is_param() || (v->producer && part.count(v->producer)))) in = true;
    if (in) part.insert(n.get());
  }
  std::vector<const Value*> feeds;
  for (const auto& n : g.nodes()) {
    if (!part.count(n.get())) continue;
    for (const Value* v : n->inputs)
      if (v && !v->is_constant() && !v->is_param() && !(v->producer && part.count(v->producer)) &&
          std::find(feeds.begin(), feeds.end(), v) == feeds.end())
        feeds.push_back(v);
  }
  auto say = [&](const std::string& s) {
    if (why) *why = s;
    return std::string();
  };
  if (part.empty()) return say("no node of the inference graph has a trainable parameter");
  if (feeds.size() != 1) {
    std::vector<std::string> names;
    for (const Value* v : feeds) names.push_back("'" + v->name + "'");
    return say(fmt::format("the trainable part reads {} tensors of the frozen part ({}), not one",
                           feeds.size(), fmt::join(names, ", ")));
  }
  const Value* f = feeds[0];
  if (g.is_graph_input(f))
    return say(fmt::format("the trainable part starts at the model input '{}' (nothing frozen to skip)", f->name));
  if (f->dtype != DType::F32)
    return say(fmt::format("the trainable part's input '{}' is {}, not float", f->name, f->type_str()));
  return f->name;
}

void cut_graph_at(Graph& g, const std::string& name) {
  PassContext ctx;
  cut_at_input(g, name, ctx);
}

namespace {

void run_select_trainable(Graph& g, PassContext& ctx) {
  if (!ctx.training || !ctx.training->enabled()) return;
  const TrainingOptions& o = *ctx.training;
  if (!o.train_input.empty()) cut_at_input(g, o.train_input, ctx);

  std::vector<Value*> candidates;  // float initializers used by nodes, in first-use order
  {
    std::set<const Value*> seen;
    for (const auto& n : g.nodes())
      for (Value* in : n->inputs)
        if (is_float_initializer(in) && seen.insert(in).second) candidates.push_back(in);
  }
  std::set<Value*> chosen;
  for (const std::string& pat : o.trainable) {
    size_t before = chosen.size();
    if (pat == "biases" || pat == "norms") {
      for (const auto& n : g.nodes()) {
        if (pat == "biases" && (n->op == "Conv" || n->op == "ConvTranspose" || n->op == "Gemm" || is_norm(*n)) &&
            is_float_initializer(n->input(2)))
          chosen.insert(n->inputs[2]);
        if (pat == "norms" && is_norm(*n))
          for (size_t k : {size_t(1), size_t(2)})
            if (is_float_initializer(n->input(k))) chosen.insert(n->inputs[k]);
      }
      for (Value* v : candidates) {
        const std::string& s = v->name;
        auto ends = [&](const std::string& suf) { return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0; };
        if (pat == "biases" && (ends(".bias") || s == "bias")) chosen.insert(v);
        if (pat == "norms" && (s.find("norm") != std::string::npos || s.find(".bn") != std::string::npos ||
                               s.rfind("bn", 0) == 0) && (ends(".weight") || ends(".bias")))
          chosen.insert(v);
      }
      if (chosen.size() == before)
        fail(fmt::format("--trainable {}: the model has no {} (float initializers)", pat,
                         pat == "biases" ? "biases" : "normalization parameters"));
      continue;
    }
    bool exact = false;
    for (Value* v : candidates)
      if (v->name == pat) {
        chosen.insert(v);
        exact = true;
      }
    if (exact) continue;
    std::regex re;
    try {
      re = std::regex(pat, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      fail(fmt::format("--trainable '{}': neither an initializer name nor a valid regular expression ({})", pat, e.what()));
    }
    for (Value* v : candidates)
      if (std::regex_match(v->name, re)) chosen.insert(v);
    if (chosen.size() == before) {
      std::vector<std::string> names;
      for (size_t i = 0; i < candidates.size() && i < 12; ++i) names.push_back(candidates[i]->name);
      fail(fmt::format("--trainable '{}' matches no float initializer of the model (they are: {}{})", pat,
                       fmt::join(names, ", "), candidates.size() > 12 ? ", ..." : ""));
    }
  }
  if (o.trainable_last > 0) {
    int layers = 0;
    const auto& nodes = g.nodes();
    for (auto it = nodes.rbegin(); it != nodes.rend() && layers < o.trainable_last; ++it) {
      const Node& n = **it;
      if (!is_layer(n) && !is_norm(n)) continue;
      std::set<Value*> ps;
      params_of(g, n, ps);
      if (ps.empty()) continue;  // an activation x activation product (attention)
      chosen.insert(ps.begin(), ps.end());
      if (is_layer(n)) ++layers;
    }
    if (layers < o.trainable_last)
      fail(fmt::format("--trainable-last {}: the model has only {} parametric layers", o.trainable_last, layers));
  }
  if (!o.train_input.empty() && o.trainable.empty() && o.trainable_last == 0)
    chosen.insert(candidates.begin(), candidates.end());  // the whole head
  if (chosen.empty() && o.append_head == 0)
    fail("nothing to train: select parameters with --trainable, --trainable-last or --append-head");
  for (Value* v : chosen) {
    v->state = Value::State::Param;
    v->init = std::move(v->constant);
    v->constant = nullptr;
  }
}

const PassRegistrar kSelectTrainable({"select-trainable",
                                      "mark the trainable parameters (--trainable, --trainable-last, --train-input)",
                                      run_select_trainable});

}  // namespace
}  // namespace tinyodlc::passes
