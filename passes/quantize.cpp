// PTQ step 1: float graph + calibrated ranges -> QDQ graph (see quantize.h).
#include "passes/quantize.h"
#include "passes/rms_chain.h"

#include <algorithm>
#include <cmath>
#include <set>

#include <fmt/format.h>

#include "ir/op_registry.h"
#include "passes/pass_manager.h"
#include "passes/quant_utils.h"

namespace tinyodlc::passes {
namespace {

using namespace ir;

const std::set<std::string> kPassThrough = {"MaxPool", "GlobalMaxPool", "Reshape", "Flatten", "Transpose", "Squeeze",
                                            "Unsqueeze", "Identity", "Slice", "Gather", "Pad"};
const std::set<std::string> kFusesActivation = {"Conv", "Gemm", "MatMul", "Add", "Sub", "Mul"};

std::shared_ptr<TensorData> scalar_or_vec_f32(const std::vector<float>& v, bool vec) {
  auto t = std::make_shared<TensorData>(DType::F32, vec ? Shape{static_cast<int64_t>(v.size())} : Shape{});
  std::copy(v.begin(), v.end(), t->data<float>());
  return t;
}

std::shared_ptr<TensorData> zp_i8(const std::vector<int32_t>& v, bool vec) {
  auto t = std::make_shared<TensorData>(DType::I8, vec ? Shape{static_cast<int64_t>(v.size())} : Shape{});
  for (size_t i = 0; i < v.size(); ++i) t->data<int8_t>()[i] = static_cast<int8_t>(v[i]);
  return t;
}

// The first node (in schedule order) reading v.
Node* first_user(const Graph& g, const Value* v, const std::unordered_map<const Node*, int>& idx) {
  Node* best = nullptr;
  for (Node* u : g.users(v))
    if (!best || idx.at(u) < idx.at(best)) best = u;
  return best;
}

// Inserts Q -> DQ on activation v; all former readers of v read the DQ output.
void insert_pair(Graph& g, Value* v, const quant::ActParams& p,
                 const std::unordered_map<const Node*, int>& idx) {
  Node* before = first_user(g, v, idx);
  const bool is_output = g.is_graph_output(v);
  if (!before && !is_output) return;
  const std::string base = v->name;
  Value* s = g.add_constant(g.unique_value_name(base + ".scale"), scalar_or_vec_f32({p.scale}, false));
  Value* z = g.add_constant(g.unique_value_name(base + ".zp"), zp_i8({p.zero_point}, false));
  Value* q = g.add_value(g.unique_value_name(base + ".q"), DType::I8, v->shape);
  q->quant = QuantParams{{p.scale}, {p.zero_point}, 0};
  Value* dq = g.add_value(g.unique_value_name(base + ".dq"), DType::F32, v->shape);
  std::vector<Node*> users = g.users(v);
  g.add_node("QuantizeLinear", {v, s, z}, {q}, {}, g.unique_node_name(base + ".quantize"), before);
  g.add_node("DequantizeLinear", {q, s, z}, {dq}, {}, g.unique_node_name(base + ".dequantize"), before);
  for (Node* u : users)
    for (auto& in : u->inputs)
      if (in == v) in = dq;
  if (is_output) {  // the graph output keeps its name and becomes the dequantized value
    for (auto& o : g.outputs)
      if (o == v) o = dq;
    g.rename(v, g.unique_value_name(base + ".float"));
    g.rename(dq, base);
  }
}

// Asymmetric per-tensor parameters of a constant (as quantize_constant with axis < 0).
quant::ActParams const_params(const TensorData& d) {
  double lo = 0, hi = 0;
  for (int64_t i = 0; i < d.numel(); ++i) {
    lo = std::min(lo, d.get_f64(i));
    hi = std::max(hi, d.get_f64(i));
  }
  return quant::choose_act_params(lo, hi);
}

// Replaces constant input k of n by int8 data + DequantizeLinear: symmetric per `axis`
// (axis >= 0) or asymmetric per tensor (axis < 0).
void quantize_constant(Graph& g, Node& n, size_t k, int64_t axis) {
  Value* w = n.inputs[k];
  const TensorData& d = *w->constant;
  const Shape& sh = d.shape;
  auto q = std::make_shared<TensorData>(DType::I8, sh);
  std::vector<float> scales;
  std::vector<int32_t> zps;
  if (axis >= 0) {
    int64_t outer = 1, inner = 1;
    for (int64_t i = 0; i < axis; ++i) outer *= sh[static_cast<size_t>(i)];
    for (size_t i = static_cast<size_t>(axis) + 1; i < sh.size(); ++i) inner *= sh[i];
    const int64_t A = sh[static_cast<size_t>(axis)];
    std::vector<double> max_abs(static_cast<size_t>(A), 0.0);
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t a = 0; a < A; ++a)
        for (int64_t i = 0; i < inner; ++i)
          max_abs[a] = std::max(max_abs[a], std::fabs(d.get_f64((o * A + a) * inner + i)));
    for (int64_t a = 0; a < A; ++a) scales.push_back(quant::choose_weight_scale(max_abs[a]));
    zps.assign(static_cast<size_t>(A), 0);
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t a = 0; a < A; ++a)
        for (int64_t i = 0; i < inner; ++i) {
          const int64_t e = (o * A + a) * inner + i;
          q->data<int8_t>()[e] = quant::quantize_value(d.get_f64(e), scales[a], 0);
        }
  } else {
    quant::ActParams p = const_params(d);
    scales.push_back(p.scale);
    zps.push_back(p.zero_point);
    for (int64_t i = 0; i < d.numel(); ++i) q->data<int8_t>()[i] = quant::quantize_value(d.get_f64(i), p.scale, p.zero_point);
  }
  const bool vec = axis >= 0;
  Value* qv = g.add_constant(g.unique_value_name(w->name + ".i8"), q);
  qv->quant = QuantParams{scales, zps, static_cast<int>(std::max<int64_t>(axis, 0))};
  Value* s = g.add_constant(g.unique_value_name(w->name + ".scale"), scalar_or_vec_f32(scales, vec));
  Value* z = g.add_constant(g.unique_value_name(w->name + ".zp"), zp_i8(zps, vec));
  Value* f = g.add_value(g.unique_value_name(w->name + ".dq"), DType::F32, sh);
  std::map<std::string, Attribute> attrs;
  if (vec) attrs["axis"] = Attribute::Int(axis);
  g.add_node("DequantizeLinear", {qv, s, z}, {f}, attrs, g.unique_node_name(w->name + ".dequantize"), &n);
  n.inputs[k] = f;
}

// ---- exact float simplifications before quantization ----------------------------------------
// torch.nan_to_num exports as Where(IsNaN(x), 0, x) followed by Where(IsInf(x) & x > 0, FLT_MAX, .)
// and Where(IsInf(x) & x < 0, -FLT_MAX, .), on float64 casts. After a Softmax the value can
// be NaN (fully masked rows) but never infinite: the IsInf tests are constant false, and the
// two Where nodes are identities. Removing them leaves Where(IsNaN(softmax), 0, softmax), which
// qdq_fold turns into an integer QSoftmax (and which saves two float64 copies of the scores).

bool finite_constant(const Value* v) {
  if (!v || !v->is_constant() || (v->dtype != DType::F32 && v->dtype != DType::F64)) return false;
  for (int64_t i = 0; i < v->constant->numel(); ++i)
    if (!std::isfinite(v->constant->get_f64(i))) return false;
  return true;
}

// v can never hold +-infinity (NaN allowed).
bool never_inf(const Value* v, int depth = 0) {
  if (!v || depth > 16) return false;
  if (finite_constant(v)) return true;
  const Node* p = v->producer;
  if (!p || !p->domain.empty()) return false;
  if (p->op == "Softmax" || p->op == "Sigmoid" || p->op == "Tanh") return true;
  if (p->op == "Where") return never_inf(p->input(1), depth + 1) && never_inf(p->input(2), depth + 1);
  if (p->op == "Cast" && p->input(0) && p->input(0)->dtype == DType::F32 && (v->dtype == DType::F64 || v->dtype == DType::F32))
    return never_inf(p->input(0), depth + 1);
  return false;
}

int simplify_nan_to_num(Graph& g) {
  std::set<const Value*> all_false;
  int removed = 0;
  std::vector<Node*> order;
  for (const auto& np : g.nodes()) order.push_back(np.get());
  for (Node* n : order) {
    if (!n->domain.empty() || !n->output(0)) continue;
    if (n->op == "IsInf" && never_inf(n->input(0))) {
      all_false.insert(n->outputs[0]);
    } else if ((n->op == "And" && (all_false.count(n->input(0)) || all_false.count(n->input(1)))) ||
               (n->op == "Cast" && n->outputs[0]->dtype == DType::Bool && all_false.count(n->input(0)))) {
      all_false.insert(n->outputs[0]);
    } else if (n->op == "Where" && all_false.count(n->input(0)) && n->input(2) &&
               n->inputs[2]->shape == n->outputs[0]->shape && n->inputs[2]->dtype == n->outputs[0]->dtype &&
               !g.is_graph_output(n->outputs[0])) {
      g.replace_all_uses(n->outputs[0], n->inputs[2]);
      ++removed;
    }
  }
  return removed;
}

// Attention masks: torch exports `mask[:, :, None] * mask[:, None, :]` of an int64 mask that
// is a cast of a bool (ids != 0) as an int64 [L, L] product, compared with 0 in every layer
// (masked_fill(score_mask == 0, -inf)). With 0/1 operands the product is a logical And:
//   Mul(Cast(p), Cast(q)) -> Cast(And(p, q))      Equal(Cast(z), 0) -> Not(z)   (z bool)
// which keeps an [L, L] bool (L^2 bytes) instead of an int64 (8 L^2 bytes) live across the
// embedder: 512 kB of the EmbBERT-Q release model's arena. Exact for every input.

const std::set<std::string> kViewOps = {"Unsqueeze", "Squeeze", "Reshape", "Flatten", "Expand", "Transpose"};

// v as a bool tensor if v is a 0/1 integer (a Cast of a bool, through shape ops); the shape ops
// are replayed on the bool before `before`. nullptr otherwise.
Value* bool_source(Graph& g, Value* v, Node* before, int depth = 0) {
  const Node* p = v ? v->producer : nullptr;
  if (!p || !p->domain.empty() || depth > 8 || !dtype_is_integer(v->dtype)) return nullptr;
  if (p->op == "Cast" && p->input(0) && p->inputs[0]->dtype == DType::Bool) return p->inputs[0];
  if (!kViewOps.count(p->op) || p->outputs.size() != 1) return nullptr;
  Value* b = bool_source(g, p->inputs[0], before, depth + 1);
  if (!b) return nullptr;
  std::vector<Value*> ins = p->inputs;
  ins[0] = b;
  Value* o = g.add_value(g.unique_value_name(v->name + ".bool"), DType::Bool, v->shape);
  Node* r = g.add_node(p->op, ins, {o}, p->attrs, g.unique_node_name(p->name + ".bool"), before);
  r->opset = p->opset;
  r->def->infer(*r);
  return o;
}

bool is_zero_constant(const Value* v) {
  if (!v || !v->is_constant()) return false;
  for (int64_t i = 0; i < v->constant->numel(); ++i)
    if (v->constant->get_f64(i) != 0.0) return false;
  return true;
}

int simplify_bool_products(Graph& g) {
  int changed = 0;
  std::vector<Node*> order;
  for (const auto& np : g.nodes()) order.push_back(np.get());
  for (Node* n : order) {
    if (!n->domain.empty() || !n->output(0) || g.is_graph_output(n->outputs[0])) continue;
    Value* y = n->outputs[0];
    if (n->op == "Mul" && dtype_is_integer(y->dtype) && n->input(0) && n->input(1)) {
      // only when both operands are 0/1 casts (checked before creating anything)
      auto castable = [](const Value* v) {
        for (int d = 0; v && v->producer && d < 9; ++d, v = v->producer->inputs[0]) {
          const Node* p = v->producer;
          if (!p->domain.empty()) return false;
          if (p->op == "Cast") return p->input(0) && p->inputs[0]->dtype == DType::Bool;
          if (!kViewOps.count(p->op)) return false;
        }
        return false;
      };
      if (!castable(n->inputs[0]) || !castable(n->inputs[1])) continue;
      Value* a = bool_source(g, n->inputs[0], n);
      Value* b = bool_source(g, n->inputs[1], n);
      if (!a || !b) continue;
      Value* z = g.add_value(g.unique_value_name(y->name + ".and"), DType::Bool, y->shape);
      Node* conj = g.add_node("And", {a, b}, {z}, {}, g.unique_node_name(n->name + ".and"), n);
      conj->def->infer(*conj);
      Value* c = g.add_value(g.unique_value_name(y->name + ".cast"), y->dtype, y->shape);
      Node* cast = g.add_node("Cast", {z}, {c}, {{"to", Attribute::Int(dtype_to_onnx(y->dtype))}},
                              g.unique_node_name(n->name + ".cast"), n);
      cast->def->infer(*cast);
      g.replace_all_uses(y, c);
      ++changed;
    } else if (n->op == "Equal" && n->input(0) && n->input(1) && y->dtype == DType::Bool) {
      for (size_t k : {0, 1}) {
        Value* x = n->inputs[k];
        const Node* p = x->producer;
        if (!p || !p->domain.empty() || p->op != "Cast" || !p->input(0) || p->inputs[0]->dtype != DType::Bool ||
            !dtype_is_integer(x->dtype) || !is_zero_constant(n->input(1 - k)) || x->shape != y->shape)
          continue;
        Value* nz = g.add_value(g.unique_value_name(y->name + ".not"), DType::Bool, y->shape);
        g.add_node("Not", {p->inputs[0]}, {nz}, {}, g.unique_node_name(n->name + ".not"), n);
        g.replace_all_uses(y, nz);
        ++changed;
        break;
      }
    }
  }
  return changed;
}

// Removes the nodes whose outputs nobody reads any more (the IsInf/And/Where chains the
// simplifications above leave behind) with the dce pass: insert-qdq decides per value from its
// users, and a dead float user (e.g. IsInf of the softmax) would keep the value in float.
void remove_unused_nodes(Graph& g) {
  PassContext ctx;
  PassRegistry::instance().find("dce")->run(g, ctx);
}

}  // namespace

InsertQdqStats insert_qdq(Graph& g, const std::map<std::string, ActRange>& ranges) {
  InsertQdqStats st;
  simplify_nan_to_num(g);  // the replaced Where/IsInf/And nodes: removed by dce below
  simplify_bool_products(g);
  remove_unused_nodes(g);
  // 1. Parameters per activation, propagated through pass-through ops.
  std::map<const Value*, quant::ActParams> params;
  auto range_of = [&](const Value* v) -> const ActRange* {
    auto it = ranges.find(v->name);
    return it == ranges.end() ? nullptr : &it->second;
  };
  for (Value* in : g.inputs)
    if (in->dtype == DType::F32)
      if (const ActRange* r = range_of(in)) params[in] = quant::choose_act_params(r->lo, r->hi);
  for (const auto& np : g.nodes()) {
    const Node& n = *np;
    for (size_t k = 0; k < n.outputs.size(); ++k) {
      const Value* o = n.outputs[k];
      if (!o || o->dtype != DType::F32) continue;
      if (k == 0 && n.domain.empty() && kPassThrough.count(n.op) && n.input(0) && params.count(n.inputs[0])) {
        params[o] = params[n.inputs[0]];
        continue;
      }
      if (k == 0 && n.domain.empty() && n.op == "Gather" && n.input(0) && n.inputs[0]->is_constant() &&
          n.inputs[0]->dtype == DType::F32) {  // embedding table: the output keeps the table's int8 parameters
        params[o] = const_params(*n.inputs[0]->constant);
        continue;
      }
      if (const ActRange* r = range_of(o)) params[o] = quant::choose_act_params(r->lo, r->hi);
    }
  }
  // 2. Activations read only by a fused Relu/Clip are not quantized.
  for (const auto& np : g.nodes()) {
    const Node& n = *np;
    if (!n.domain.empty() || !kFusesActivation.count(n.op) || !n.output(0)) continue;
    auto us = g.users(n.outputs[0]);
    if (us.size() == 1 && us[0]->domain.empty() && (us[0]->op == "Relu" || us[0]->op == "Clip") &&
        !g.is_graph_output(n.outputs[0]))
      params.erase(n.outputs[0]);
  }
  // On-device learning: values that depend on a trainable parameter keep their float value.
  // The trainable part stays float (its parameters, gradients and optimizer state are float32);
  // only its inputs from the frozen int8 part are dequantized at the boundary.
  {
    std::set<const Value*> trainable;
    for (const auto& np : g.nodes()) {
      bool dep = false;
      for (const Value* in : np->inputs) dep |= in && (in->is_param() || trainable.count(in));
      if (dep)
        for (const Value* o : np->outputs)
          if (o) trainable.insert(o);
    }
    for (const Value* v : trainable) params.erase(v);
  }
  // Values tested for NaN/Inf keep their float value (the test must see it), and so do the
  // outputs of Where nodes that fill in +-infinity (masks before a Softmax: qdq_fold folds
  // Where(mask, -inf, x) -> Softmax into a masked integer softmax).
  for (const auto& np : g.nodes()) {
    const Node& n = *np;
    if (!n.domain.empty()) continue;
    if ((n.op == "IsNaN" || n.op == "IsInf") && n.input(0)) params.erase(n.inputs[0]);
    if (n.op == "Where" && n.output(0))
      for (size_t k : {1, 2})
        if (n.input(k) && n.inputs[k]->is_constant() && !finite_constant(n.inputs[k])) params.erase(n.outputs[0]);
  }
  // L2 normalisation's divisor (ReduceL2, and the Clip/Max flooring it at eps) stays float: one
  // value per row, so int8 saves nothing, and its range over a few calibration sets is not the
  // held-out range (tinysv with 8 sets: 34 % of the held-out norms clipped, dvector cosine 0.945).
  for (const auto& np : g.nodes()) {
    const Node& n = *np;
    if (!n.domain.empty() || !n.output(0)) continue;
    const bool floor_of_norm = (n.op == "Clip" || n.op == "Max") && n.input(0) && n.inputs[0]->producer &&
                               n.inputs[0]->producer->domain.empty() && n.inputs[0]->producer->op == "ReduceL2";
    if (n.op == "ReduceL2" || floor_of_norm) params.erase(n.outputs[0]);
  }
  // A graph output written by a Gemm/MatMul with constant 2-D weights and read by nothing else
  // is not requantized to int8: qdq_fold dequantizes it from the int32 accumulator
  // (tinyodlc.QMatMulDq), so classifier logits keep that precision.
  for (const auto& np : g.nodes()) {
    const Node& n = *np;
    if (!n.domain.empty() || (n.op != "Gemm" && n.op != "MatMul") || !n.output(0) || !n.input(0) || !n.input(1))
      continue;
    const Value* y = n.outputs[0];
    const bool plain_gemm = n.op != "Gemm" || (n.attr_int_or("transA", 0) == 0 && n.attr_float_or("alpha", 1.0f) == 1.0f &&
                                               n.attr_float_or("beta", 1.0f) == 1.0f);
    if (g.is_graph_output(y) && g.users(y).empty() && plain_gemm && n.inputs[1]->is_constant() &&
        n.inputs[1]->dtype == DType::F32 && n.inputs[1]->shape.size() == 2 && params.count(n.inputs[0]))
      params.erase(y);
  }
  // Root-mean-square chains (passes/rms_chain.h) fold into one integer op: the values inside
  // stay float (no Q/DQ) and their constants (eps) are not quantized.
  std::set<const Node*> in_rms_chain;
  for (const auto& np : g.nodes())
    if (auto c = match_rms_chain(g, *np); c && params.count(c->x)) {
      for (const Value* v : c->inside) params.erase(v);
      in_rms_chain.insert(c->nodes.begin(), c->nodes.end());
    }
  // 3. Weights and constant operands.
  std::vector<Node*> nodes;
  for (const auto& np : g.nodes()) nodes.push_back(np.get());
  for (Node* n : nodes) {
    if (!n->domain.empty() || in_rms_chain.count(n)) continue;
    auto is_f32_const = [&](size_t k) { return n->input(k) && n->inputs[k]->is_constant() && n->inputs[k]->dtype == DType::F32; };
    if (n->op == "Conv" && is_f32_const(1)) {
      quantize_constant(g, *n, 1, 0);
      ++st.weights;
    } else if (n->op == "Gemm" && is_f32_const(1) && n->inputs[1]->shape.size() == 2) {
      quantize_constant(g, *n, 1, n->attr_int_or("transB", 0) ? 0 : 1);
      ++st.weights;
    } else if (n->op == "MatMul" && is_f32_const(1) && n->inputs[1]->shape.size() >= 2) {
      quantize_constant(g, *n, 1, static_cast<int64_t>(n->inputs[1]->shape.size()) - 1);
      ++st.weights;
      if (is_f32_const(0)) {  // constant left operand (e.g. a folded position embedding): per tensor
        quantize_constant(g, *n, 0, -1);
        ++st.weights;
      }
    } else if (n->op == "Gather" && is_f32_const(0)) {  // embedding table: int8 per tensor
      quantize_constant(g, *n, 0, -1);
      ++st.weights;
    } else if (n->op == "Add" || n->op == "Sub" || n->op == "Mul") {
      for (size_t k : {0, 1})
        if (is_f32_const(k)) {
          quantize_constant(g, *n, k, -1);
          ++st.weights;
        }
    }
  }
  // 4. Q/DQ pairs on activations.
  auto idx = g.schedule_index();
  std::vector<std::pair<Value*, quant::ActParams>> todo;
  for (const auto& [v, p] : params) todo.push_back({const_cast<Value*>(v), p});
  std::sort(todo.begin(), todo.end(), [](const auto& a, const auto& b) { return a.first->name < b.first->name; });
  for (auto& [v, p] : todo) {
    insert_pair(g, v, p, idx);
    idx = g.schedule_index();
    ++st.activations;
  }
  return st;
}

namespace {

void run_insert_qdq(Graph& g, PassContext& ctx) {
  if (!ctx.quant || ctx.quant->ranges.empty())
    throw CompileError("", "insert-qdq: no activation ranges: run 'calibrate' first (tinyodlc: --quantize int8 "
                           "--calibration DIR; tinyodlc-opt: --calibration DIR or --act-range NAME=LO:HI)");
  ctx.quant->inserted = insert_qdq(g, ctx.quant->ranges);
}

const PassRegistrar kInsertQdq({"insert-qdq",
                                "quantize a float graph from calibrated ranges: QuantizeLinear/DequantizeLinear on "
                                "activations, int8 weights (then qdq-fold makes int8 ops)",
                                run_insert_qdq});

}  // namespace

}  // namespace tinyodlc::passes
