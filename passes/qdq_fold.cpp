// qdq-fold: folds QuantizeLinear/DequantizeLinear around float ops into the int8 ops of the
// "tinyodlc" domain (ir/ops/quant_int.cpp), TFLite/CMSIS-NN style:
//
//   DQ(x) -> Conv(DQ(w), bias) [-> Relu|Clip] -> Q   =>  tinyodlc.QConv(x, w, bias_i32)
//   DQ(a) -> Gemm/MatMul(DQ(b)) [-> Relu|Clip] -> Q   =>  tinyodlc.QMatMul(a, b[K,N], bias_i32)
//   DQ(a), DQ(b) -> Add|Sub|Mul [-> Relu|Clip] -> Q    =>  tinyodlc.QAdd | QSub | QMul
//   DQ(x) -> GlobalAveragePool -> Q                    =>  tinyodlc.QGlobalAvgPool
//   DQ(x) -> AveragePool (no padding) [-> Relu|Clip] -> Q => tinyodlc.QAvgPool
//   DQ(x) -> Relu|Clip -> Q                            =>  tinyodlc.QRequantize (clamped)
//   DQ(x) -> Mul|Div by a positive scalar -> Q         =>  tinyodlc.QRequantize
//   DQ(x) [-> Where(m, -inf)] -> Softmax [-> nan_to_num] -> Q  =>  tinyodlc.QSoftmax (last axis)
//   DQ(x) -> Sigmoid|Tanh|Exp|Sqrt|Pow(x, c)|c / x|... -> Q    =>  tinyodlc.QLookup (int8 table)
//   DQ(x) -> Pow(., 2) -> ReduceMean [-> Add(eps)] -> Sqrt [-> Div(c, .)] -> Q  =>  tinyodlc.QRms
//   DQ(x) -> MaxPool|Reshape|Flatten|Transpose|... -> Q => the same op on int8 (+ QRequantize
//                                                         if the scales differ)
//
// Conditions: activations int8 per tensor, weights constant int8 symmetric (zero point 0),
// per tensor or per output channel, scales and zero points constant. Anything else stays as
// DQ -> float op -> Q (explicit float fallback; listed by `qdq-report`). Requantization
// multipliers are computed in double from the float scales and rounded to (mult, shift) by
// passes/quant_utils.h; biases in float are quantized to int32 with scale s_x * s_w[m].
//
// Option (PTQ only, PassContext-free): `qdq_fold(g, drop_float_pairs=true)` also removes
// Q -> DQ pairs whose quantized value is read by no integer op (a float island), so float
// fallback chains keep full float precision between their ops, and folds
// DQ(a) -> Gemm/MatMul(DQ(w)) -> graph output (left unquantized by insert_qdq) into
// tinyodlc.QMatMulDq (the output dequantized from the int32 accumulator).
//
// Over 500 lines on purpose: the twelve patterns share the matchers and the requantization
// helpers at the top; each pattern is one function below them, with one lit test per pattern
// in tests/lit/quant/qdq_fold_*.
#include "passes/qdq_fold.h"
#include "passes/quantize.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "ir/op_registry.h"
#include "passes/pass_manager.h"
#include "tinyodlc/ref/int8.h"
#include "passes/quant_utils.h"
#include "passes/rms_chain.h"

namespace tinyodlc::passes {
namespace {

using namespace ir;

struct QP {
  std::vector<double> scale;
  std::vector<int32_t> zp;
  int64_t axis = 0;
  DType t = DType::Undefined;
  bool per_tensor() const { return scale.size() == 1; }
  bool zp_all_zero() const {
    for (int32_t z : zp)
      if (z != 0) return false;
    return true;
  }
};

// Constant parameters of a Quantize/DequantizeLinear node (nullopt if not constant or blocked).
std::optional<QP> const_qparams(const Node& n) {
  Value* s = n.input(1);
  Value* z = n.input(2);
  if (!s || !s->is_constant() || (z && !z->is_constant()) || n.attr_int_or("block_size", 0) != 0) return std::nullopt;
  QP q;
  q.t = n.op == "QuantizeLinear" ? n.outputs[0]->dtype : n.inputs[0]->dtype;
  for (int64_t i = 0; i < s->constant->numel(); ++i) q.scale.push_back(s->constant->get_f64(i));
  for (int64_t i = 0; i < s->constant->numel(); ++i)
    q.zp.push_back(z ? static_cast<int32_t>(z->constant->get_i64(i)) : 0);
  for (double sc : q.scale)
    if (!(sc > 0) || !std::isfinite(sc)) return std::nullopt;
  const int64_t rank = static_cast<int64_t>(n.inputs[0]->shape.size());
  int64_t axis = n.attr_int_or("axis", 1);
  if (axis < 0) axis += rank;
  q.axis = axis;
  return q;
}

bool is_op(const Node* n, const char* op) { return n && n->domain.empty() && n->op == op; }

// DequantizeLinear producing v, with constant parameters.
Node* dq_of(const Value* v, std::optional<QP>* qp) {
  if (!v || !is_op(v->producer, "DequantizeLinear")) return nullptr;
  *qp = const_qparams(*v->producer);
  return *qp ? v->producer : nullptr;
}

bool act_i8(const std::optional<QP>& q) { return q && q->t == DType::I8 && q->per_tensor(); }

struct Tail {
  Node* act = nullptr;
  Node* q = nullptr;
  QP qp;
  int32_t act_min = -128, act_max = 127;
};

int32_t clampi(double v, int32_t lo, int32_t hi) {
  if (v < lo) return lo;
  if (v > hi) return hi;
  return static_cast<int32_t>(v);
}

// The Q (optionally after a Relu/Clip) that is the only consumer of n's output 0.
std::optional<Tail> find_tail(const Graph& g, const Node& n, bool allow_act) {
  Tail t;
  const Value* y = n.output(0);
  if (!y || g.is_graph_output(y)) return std::nullopt;
  auto us = g.users(y);
  if (us.size() != 1) return std::nullopt;
  Node* u = us[0];
  std::optional<double> lo, hi;
  if (allow_act && (is_op(u, "Relu") || is_op(u, "Clip"))) {
    if (is_op(u, "Relu")) {
      lo = 0.0;
    } else {
      for (int k : {1, 2}) {
        Value* b = u->input(static_cast<size_t>(k));
        if (!b) continue;
        if (!b->is_constant() || b->constant->numel() != 1) return std::nullopt;
        (k == 1 ? lo : hi) = b->constant->get_f64(0);
      }
    }
    t.act = u;
    const Value* y2 = u->output(0);
    if (g.is_graph_output(y2)) return std::nullopt;
    us = g.users(y2);
    if (us.size() != 1) return std::nullopt;
    u = us[0];
  }
  if (!is_op(u, "QuantizeLinear")) return std::nullopt;
  auto qp = const_qparams(*u);
  if (!act_i8(qp)) return std::nullopt;
  t.q = u;
  t.qp = *qp;
  const double s = qp->scale[0];
  const int32_t z = qp->zp[0];
  if (lo) t.act_min = clampi(z + std::nearbyint(*lo / s), -128, 127);
  if (hi) t.act_max = clampi(z + std::nearbyint(*hi / s), -128, 127);
  if (t.act_min > t.act_max) t.act_min = t.act_max;  // Clip with min > max: every value becomes max (ONNX)
  return t;
}

Attribute ints(const std::vector<int32_t>& v) { return Attribute::Ints(std::vector<int64_t>(v.begin(), v.end())); }

// Replaces n (and the tail's act/Q) by `op` writing the tail's Q output.
Node* replace_with(Graph& g, Node& n, const Tail& t, const std::string& op, std::vector<Value*> inputs,
                   std::map<std::string, Attribute> attrs) {
  static const std::set<std::string> kInt8Ops = {"QConv",          "QMatMul",     "QAdd",    "QMul",
                                                 "QGlobalAvgPool", "QRequantize", "QSoftmax", "QLookup", "QSub", "QAvgPool",
                                                 "QRms", "QMatMulDq"};
  Value* out = t.q->outputs[0];
  out->quant = QuantParams{{static_cast<float>(t.qp.scale[0])}, {t.qp.zp[0]}, 0};
  g.remove_node(t.q);
  if (t.act) g.remove_node(t.act);
  Node* r = g.add_node(op, std::move(inputs), {out}, std::move(attrs), g.unique_node_name(n.name + ".q"), &n,
                       kInt8Ops.count(op) ? "tinyodlc" : "");
  g.remove_node(&n);
  r->def->infer(*r);
  return r;
}

void set_requant(std::map<std::string, Attribute>& a, const std::vector<double>& reals, const Tail& t) {
  std::vector<int32_t> mult, shift;
  for (double r : reals) {
    quant::Multiplier m = quant::quantize_multiplier(r);
    mult.push_back(m.mult);
    shift.push_back(m.shift);
  }
  a["mult"] = ints(mult);
  a["shift"] = ints(shift);
  a["y_zp"] = Attribute::Int(t.qp.zp[0]);
  a["act_min"] = Attribute::Int(t.act_min);
  a["act_max"] = Attribute::Int(t.act_max);
}

// Weight DQ: constant int8 data, symmetric; per tensor or per axis `want_axis`.
bool weight_ok(Node* dw, const std::optional<QP>& qp, int64_t want_axis) {
  return dw && qp && qp->t == DType::I8 && dw->inputs[0]->is_constant() && qp->zp_all_zero() &&
         (qp->per_tensor() || qp->axis == want_axis);
}

double wscale(const QP& w, int64_t m) { return w.per_tensor() ? w.scale[0] : w.scale[static_cast<size_t>(m)]; }

// int32 bias for output channel m with scale s_x * s_w[m], from a float constant or a DQ of
// int32; nullopt if the bias has another form.
std::optional<std::vector<int32_t>> quantize_bias(const Value* b, double sx, const QP& w, int64_t count) {
  std::vector<int32_t> r(static_cast<size_t>(count), 0);
  if (!b) return r;
  std::vector<double> real;
  if (b->is_constant() && b->dtype == DType::F32 && b->constant->numel() == count) {
    for (int64_t i = 0; i < count; ++i) real.push_back(b->constant->get_f64(i));
  } else {
    std::optional<QP> bq;
    Node* db = dq_of(b, &bq);
    if (!db || bq->t != DType::I32 || !db->inputs[0]->is_constant() || db->inputs[0]->numel() != count ||
        !bq->zp_all_zero())
      return std::nullopt;
    const TensorData& raw = *db->inputs[0]->constant;
    bool exact = true;
    for (int64_t i = 0; i < count; ++i) {
      const double s = bq->per_tensor() ? bq->scale[0] : bq->scale[static_cast<size_t>(i)];
      if (std::fabs(s - sx * wscale(w, i)) > 1e-6 * s) exact = false;
      real.push_back(static_cast<double>(raw.get_i64(i)) * s);
    }
    if (exact) {
      for (int64_t i = 0; i < count; ++i) r[static_cast<size_t>(i)] = static_cast<int32_t>(raw.get_i64(i));
      return r;
    }
  }
  for (int64_t i = 0; i < count; ++i) {
    const double q = std::nearbyint(real[static_cast<size_t>(i)] / (sx * wscale(w, i)));
    r[static_cast<size_t>(i)] = static_cast<int32_t>(std::max(-2147483648.0, std::min(2147483647.0, q)));
  }
  return r;
}

Value* i32_constant(Graph& g, const std::string& name, const std::vector<int32_t>& v) {
  auto t = std::make_shared<TensorData>(DType::I32, Shape{static_cast<int64_t>(v.size())});
  std::copy(v.begin(), v.end(), t->data<int32_t>());
  return g.add_constant(g.unique_value_name(name), t);
}

void copy_attrs(const Node& n, std::map<std::string, Attribute>& a, std::initializer_list<const char*> names) {
  for (const char* k : names)
    if (n.has_attr(k)) a[k] = *n.attr(k);
}

bool fold_conv(Graph& g, Node& n) {
  std::optional<QP> xq, wq;
  Node* dx = dq_of(n.input(0), &xq);
  Node* dw = dq_of(n.input(1), &wq);
  if (!dx || !act_i8(xq) || !weight_ok(dw, wq, 0)) return false;
  auto t = find_tail(g, n, true);
  if (!t) return false;
  const int64_t m = n.inputs[1]->shape[0];
  auto bias = quantize_bias(n.input(2), xq->scale[0], *wq, m);
  if (!bias) return false;
  std::vector<double> reals;
  for (int64_t i = 0; i < (wq->per_tensor() ? 1 : m); ++i) reals.push_back(xq->scale[0] * wscale(*wq, i) / t->qp.scale[0]);
  std::map<std::string, Attribute> a;
  copy_attrs(n, a, {"group", "strides", "pads", "dilations", "auto_pad", "kernel_shape"});
  a["x_zp"] = Attribute::Int(xq->zp[0]);
  set_requant(a, reals, *t);
  std::vector<Value*> ins{dx->inputs[0], dw->inputs[0]};
  if (n.input(2)) ins.push_back(i32_constant(g, n.name + ".bias_i32", *bias));
  replace_with(g, n, *t, "QConv", ins, a);
  return true;
}

// Constant int8 weights [N, K] -> [K, N] at compile time.
Value* transposed_weights(Graph& g, Value* b) {
  const TensorData& w = *b->constant;
  const int64_t N = w.shape[0], K = w.shape[1];
  auto tw = std::make_shared<TensorData>(DType::I8, Shape{K, N});
  for (int64_t j = 0; j < N; ++j)
    for (int64_t k = 0; k < K; ++k) tw->data<int8_t>()[k * N + j] = w.data<int8_t>()[j * K + k];
  return g.add_constant(g.unique_value_name(b->name + ".kn"), tw);
}

// PTQ only (insert_qdq leaves such outputs unquantized): DQ(a) -> Gemm/MatMul(DQ(w)) writing a
// graph output read by nothing else => QMatMulDq (float output from the int32 accumulator).
bool fold_matmul_dq(Graph& g, Node& n, const QP& aq, const QP& bq, Node* da, Node* db, bool trans_b) {
  Value* y = n.outputs[0];
  if (!g.is_graph_output(y) || !g.users(y).empty() || y->dtype != DType::F32) return false;
  const Shape& bs = n.inputs[1]->shape;
  const int64_t N = trans_b ? bs[0] : bs[1];
  std::optional<std::vector<int32_t>> bias;
  if (n.op == "Gemm" && n.input(2)) {
    if (n.inputs[2]->numel() != N) return false;
    bias = quantize_bias(n.input(2), aq.scale[0], bq, N);
    if (!bias) return false;
  }
  std::vector<float> scale;
  for (int64_t j = 0; j < (bq.per_tensor() ? 1 : N); ++j)
    scale.push_back(static_cast<float>(aq.scale[0] * wscale(bq, j)));
  std::map<std::string, Attribute> a;
  a["a_zp"] = Attribute::Int(aq.zp[0]);
  a["scale"] = Attribute::Floats(scale);
  Value* b = trans_b ? transposed_weights(g, db->inputs[0]) : db->inputs[0];
  std::vector<Value*> ins{da->inputs[0], b};
  if (bias) ins.push_back(i32_constant(g, n.name + ".bias_i32", *bias));
  Node* r = g.add_node("QMatMulDq", std::move(ins), {y}, std::move(a), g.unique_node_name(n.name + ".q"), &n,
                       "tinyodlc");
  g.remove_node(&n);
  r->def->infer(*r);
  return true;
}

// Gemm (2-D, transA 0, alpha = beta = 1) and MatMul.
bool fold_matmul(Graph& g, Node& n, bool dequantize_output) {
  const bool gemm = n.op == "Gemm";
  std::optional<QP> aq, bq;
  Node* da = dq_of(n.input(0), &aq);
  Node* db = dq_of(n.input(1), &bq);
  if (!da || !act_i8(aq) || !db || !bq || bq->t != DType::I8) return false;
  const Shape& as = n.inputs[0]->shape;
  const Shape& bs = n.inputs[1]->shape;
  if (as.size() < 2 || bs.size() < 2) return false;
  const bool trans_b = gemm && n.attr_int_or("transB", 0) != 0;
  if (gemm && (n.attr_int_or("transA", 0) != 0 || n.attr_float_or("alpha", 1.0f) != 1.0f ||
               n.attr_float_or("beta", 1.0f) != 1.0f))
    return false;
  const int64_t rb = static_cast<int64_t>(bs.size());
  const bool weights = weight_ok(db, bq, trans_b ? 0 : rb - 1);
  if (!weights && (!bq->per_tensor() || gemm)) return false;  // activation x activation: per tensor
  auto t = find_tail(g, n, true);
  if (!t) return dequantize_output && weights && rb == 2 && fold_matmul_dq(g, n, *aq, *bq, da, db, trans_b);
  const int64_t N = trans_b ? bs[0] : bs.back();
  const bool per_col = weights && !bq->per_tensor();
  std::optional<std::vector<int32_t>> bias;
  if (gemm && n.input(2)) {
    const Value* c = n.input(2);
    if (c->numel() != N) return false;
    bias = quantize_bias(c, aq->scale[0], *bq, N);
    if (!bias) return false;
  }
  std::vector<double> reals;
  for (int64_t j = 0; j < (per_col ? N : 1); ++j) reals.push_back(aq->scale[0] * wscale(*bq, j) / t->qp.scale[0]);
  std::map<std::string, Attribute> a;
  a["a_zp"] = Attribute::Int(aq->zp[0]);
  a["b_zp"] = Attribute::Int(bq->zp[0]);
  set_requant(a, reals, *t);
  Value* b = trans_b ? transposed_weights(g, db->inputs[0]) : db->inputs[0];
  std::vector<Value*> ins{da->inputs[0], b};
  if (bias) ins.push_back(i32_constant(g, n.name + ".bias_i32", *bias));
  replace_with(g, n, *t, "QMatMul", ins, a);
  return true;
}

bool fold_binary(Graph& g, Node& n) {
  std::optional<QP> aq, bq;
  Node* da = dq_of(n.input(0), &aq);
  Node* db = dq_of(n.input(1), &bq);
  if (!da || !db || !act_i8(aq) || !act_i8(bq)) return false;
  auto t = find_tail(g, n, true);
  if (!t) return false;
  const double sa = aq->scale[0], sb = bq->scale[0], sy = t->qp.scale[0];
  std::map<std::string, Attribute> a;
  a["a_zp"] = Attribute::Int(aq->zp[0]);
  a["b_zp"] = Attribute::Int(bq->zp[0]);
  if (n.op == "Add" || n.op == "Sub") {
    const int left_shift = 20;
    const double twice_max = 2 * std::max(sa, sb);
    set_requant(a, {twice_max / (static_cast<double>(1 << left_shift) * sy)}, *t);
    quant::Multiplier ma = quant::quantize_multiplier(sa / twice_max), mb = quant::quantize_multiplier(sb / twice_max);
    a["a_mult"] = Attribute::Int(ma.mult);
    a["a_shift"] = Attribute::Int(ma.shift);
    a["b_mult"] = Attribute::Int(mb.mult);
    a["b_shift"] = Attribute::Int(mb.shift);
    a["left_shift"] = Attribute::Int(left_shift);
    replace_with(g, n, *t, n.op == "Add" ? "QAdd" : "QSub", {da->inputs[0], db->inputs[0]}, a);
  } else {
    set_requant(a, {sa * sb / sy}, *t);
    replace_with(g, n, *t, "QMul", {da->inputs[0], db->inputs[0]}, a);
  }
  return true;
}

bool fold_unary(Graph& g, Node& n) {
  std::optional<QP> xq;
  Node* dx = dq_of(n.input(0), &xq);
  if (!dx || !act_i8(xq)) return false;
  const bool gap = n.op == "GlobalAveragePool";
  auto t = find_tail(g, n, !gap);
  if (!t) return false;
  std::map<std::string, Attribute> a;
  a["x_zp"] = Attribute::Int(xq->zp[0]);
  if (n.op == "AveragePool") {  // windows inside the input only: one divisor for every output
    const Shape& x = n.inputs[0]->shape;
    std::vector<int64_t> k = n.attr_ints_or("kernel_shape", {});
    const std::string ap = n.attr_string_or("auto_pad", "NOTSET");
    if (x.size() < 3 || k.size() != x.size() - 2 || n.attr_int_or("ceil_mode", 0) != 0 ||
        (ap != "NOTSET" && ap != "VALID"))
      return false;
    for (int64_t p : n.attr_ints_or("pads", {}))
      if (p != 0) return false;
    for (int64_t dl : n.attr_ints_or("dilations", {}))
      if (dl != 1) return false;
    int64_t size = 1;
    for (int64_t v : k) size *= v;
    copy_attrs(n, a, {"kernel_shape", "strides"});
    set_requant(a, {xq->scale[0] / (t->qp.scale[0] * static_cast<double>(size))}, *t);
    replace_with(g, n, *t, "QAvgPool", {dx->inputs[0]}, a);
    return true;
  }
  if (gap) {
    const Shape& x = n.inputs[0]->shape;
    int64_t size = 1;
    for (size_t i = 2; i < x.size(); ++i) size *= x[i];
    if (x.size() < 3 || size < 1) return false;
    set_requant(a, {xq->scale[0] / (t->qp.scale[0] * static_cast<double>(size))}, *t);
    replace_with(g, n, *t, "QGlobalAvgPool", {dx->inputs[0]}, a);
    return true;
  }
  return false;
}

// DQ -> Relu|Clip -> Q (not fused into a producer): a clamped requantization.
bool fold_activation(Graph& g, Node& n) {
  std::optional<QP> xq;
  Node* dx = dq_of(n.input(0), &xq);
  if (!dx || !act_i8(xq)) return false;
  // Build a tail as if n were the activation of an identity op.
  Tail t;
  const Value* y = n.output(0);
  if (g.is_graph_output(y)) return false;
  auto us = g.users(y);
  if (us.size() != 1 || !is_op(us[0], "QuantizeLinear")) return false;
  auto qp = const_qparams(*us[0]);
  if (!act_i8(qp)) return false;
  t.q = us[0];
  t.qp = *qp;
  const double s = qp->scale[0];
  const int32_t z = qp->zp[0];
  if (n.op == "Relu") {
    t.act_min = clampi(z, -128, 127);
  } else {
    for (int k : {1, 2}) {
      Value* b = n.input(static_cast<size_t>(k));
      if (!b) continue;
      if (!b->is_constant() || b->constant->numel() != 1) return false;
      int32_t v = clampi(z + std::nearbyint(b->constant->get_f64(0) / s), -128, 127);
      (k == 1 ? t.act_min : t.act_max) = v;
    }
    if (t.act_min > t.act_max) t.act_min = t.act_max;  // min > max: every value becomes max (ONNX)
  }
  std::map<std::string, Attribute> a;
  a["x_zp"] = Attribute::Int(xq->zp[0]);
  set_requant(a, {xq->scale[0] / s}, t);
  replace_with(g, n, t, "QRequantize", {dx->inputs[0]}, a);
  return true;
}

// Ops that move/select int8 data unchanged: run them on int8 (+ requantize if scales differ).
bool fold_passthrough(Graph& g, Node& n) {
  const bool concat = n.op == "Concat";
  std::vector<Value*> ins = n.inputs;
  std::optional<QP> first;
  const size_t count = concat ? n.inputs.size() : 1;
  for (size_t k = 0; k < count; ++k) {
    std::optional<QP> q;
    Node* d = dq_of(n.input(k), &q);
    if (!d || !act_i8(q)) return false;
    if (first && (q->scale != first->scale || q->zp != first->zp)) return false;
    if (!first) first = q;
    ins[k] = d->inputs[0];
  }
  if (n.outputs.size() != 1 && !(n.op == "MaxPool" && n.outputs.size() == 2 && !n.outputs[1])) return false;
  if (n.op == "Pad") {  // constant padding: the pad value is quantized with the input's parameters
    if (n.attr_string_or("mode", "constant") != "constant") return false;
    double pv = 0;
    if (Value* c = n.input(2)) {
      if (!c->is_constant() || c->constant->numel() != 1) return false;
      pv = c->constant->get_f64(0);
    }
    auto t = std::make_shared<TensorData>(DType::I8, Shape{});
    t->data<int8_t>()[0] = quant::quantize_value(pv, static_cast<float>(first->scale[0]), first->zp[0]);
    ins.resize(std::max<size_t>(ins.size(), 3), nullptr);
    ins[2] = g.add_constant(g.unique_value_name(n.name + ".pad_value_i8"), t);
  }
  auto t = find_tail(g, n, false);
  if (!t) return false;
  const bool same = t->qp.scale == first->scale && t->qp.zp == first->zp;
  Value* qout = t->q->outputs[0];
  if (same) {
    replace_with(g, n, *t, n.op, ins, n.attrs);
    return true;
  }
  // op on int8 into a new value, then QRequantize into the Q output.
  Value* mid = g.add_value(g.unique_value_name(qout->name + ".pre"), DType::I8);
  Node* op = g.add_node(n.op, ins, {mid}, n.attrs, g.unique_node_name(n.name + ".i8"), &n);
  op->def->infer(*op);
  mid->quant = QuantParams{{static_cast<float>(first->scale[0])}, {first->zp[0]}, 0};
  std::map<std::string, Attribute> a;
  a["x_zp"] = Attribute::Int(first->zp[0]);
  set_requant(a, {first->scale[0] / t->qp.scale[0]}, *t);
  Tail t2 = *t;
  replace_with(g, n, t2, "QRequantize", {mid}, a);
  return true;
}

// Scalar float constant value of v (nullopt if v is not a one-element constant).
std::optional<double> scalar_const(const Value* v) {
  if (!v || !v->is_constant() || v->constant->numel() != 1) return std::nullopt;
  if (v->dtype != DType::F32 && v->dtype != DType::F64) return std::nullopt;
  return v->constant->get_f64(0);
}

// DQ(x) -> Mul|Div by a positive scalar constant c -> Q  =>  QRequantize with M = s_x * c / s_y
// (or s_x / (c * s_y)): the scale of attention scores (Q K^T / sqrt(d)).
bool fold_scale(Graph& g, Node& n) {
  const bool div = n.op == "Div";
  std::optional<QP> xq;
  size_t xi = 0;
  Node* dx = dq_of(n.input(0), &xq);
  std::optional<double> c = scalar_const(n.input(1));
  if (!div && !dx) {
    dx = dq_of(n.input(1), &xq);
    c = scalar_const(n.input(0));
    xi = 1;
  }
  if (!dx || !act_i8(xq) || !c || !(*c > 0) || !std::isfinite(*c)) return false;
  if (n.outputs[0]->shape != n.inputs[xi]->shape) return false;
  auto t = find_tail(g, n, true);
  if (!t) return false;
  std::map<std::string, Attribute> a;
  a["x_zp"] = Attribute::Int(xq->zp[0]);
  set_requant(a, {div ? xq->scale[0] / (*c * t->qp.scale[0]) : xq->scale[0] * *c / t->qp.scale[0]}, *t);
  replace_with(g, n, *t, "QRequantize", {dx->inputs[0]}, a);
  return true;
}

// Softmax over the last axis with int8 input and output:
//   DQ(x) [-> Where(mask, -inf, .)] -> Softmax -> [Where(IsNaN(.), 0, .)] -> Q  =>  QSoftmax(x, lut, [mask])
// The optional Where(IsNaN) tail is torch.nan_to_num of the masked softmax (fully masked rows
// are NaN in float and 0 after nan_to_num; QSoftmax gives 0 for them).
bool fold_softmax(Graph& g, Node& n) {
  const int64_t rank = static_cast<int64_t>(n.inputs[0]->shape.size());
  if (rank < 1) return false;
  int64_t axis = n.attr_int_or("axis", (n.opset != 0 && n.opset < 13) ? 1 : -1);
  if (axis < 0) axis += rank;
  if (axis != rank - 1) return false;
  Value* src = n.inputs[0];
  Node* where = nullptr;
  Value* mask = nullptr;
  if (is_op(src->producer, "Where") && !g.is_graph_output(src) && g.users(src).size() == 1) {
    Node* w = src->producer;
    std::optional<double> fill = scalar_const(w->input(1));
    if (!fill || !(std::isinf(*fill) && *fill < 0) || w->inputs[0]->dtype != DType::Bool ||
        w->inputs[0]->shape != src->shape || w->inputs[2]->shape != src->shape)
      return false;
    where = w;
    mask = w->inputs[0];
    src = w->inputs[2];
  }
  std::optional<QP> xq;
  Node* dx = dq_of(src, &xq);
  if (!dx || !act_i8(xq)) return false;
  // tail: [Where(IsNaN(s), 0, s) ->] Q
  Node* nan_where = nullptr;
  Node* isnan = nullptr;
  Value* s = n.outputs[0];
  if (g.is_graph_output(s)) return false;
  auto us = g.users(s);
  if (us.size() == 2) {
    for (Node* u : us) {
      if (is_op(u, "IsNaN")) isnan = u;
      if (is_op(u, "Where")) nan_where = u;
    }
    if (!isnan || !nan_where || g.is_graph_output(isnan->outputs[0]) || g.users(isnan->outputs[0]).size() != 1 ||
        nan_where->inputs[0] != isnan->outputs[0] || nan_where->inputs[2] != s)
      return false;
    std::optional<double> zero = scalar_const(nan_where->input(1));
    if (!zero || *zero != 0.0) return false;
  } else if (us.size() != 1) {
    return false;
  }
  // The Q after the softmax (or after its nan_to_num).
  Node& last = nan_where ? *nan_where : n;
  auto t = find_tail(g, last, false);
  if (!t) return false;
  auto lut = std::make_shared<TensorData>(DType::I32, Shape{256});
  for (int d = 0; d < 256; ++d)
    lut->data<int32_t>()[d] = static_cast<int32_t>(std::nearbyint(1048576.0 * std::exp(-d * xq->scale[0])));
  std::map<std::string, Attribute> a;
  set_requant(a, {1.0 / (t->qp.scale[0] * 1073741824.0)}, *t);
  std::vector<Value*> ins{dx->inputs[0], g.add_constant(g.unique_value_name(n.name + ".exp_lut"), lut)};
  if (mask) ins.push_back(mask);
  if (nan_where) {
    Value* out = t->q->outputs[0];
    out->quant = QuantParams{{static_cast<float>(t->qp.scale[0])}, {t->qp.zp[0]}, 0};
    g.remove_node(t->q);
    g.remove_node(nan_where);
    g.remove_node(isnan);
    Node* r = g.add_node("QSoftmax", ins, {out}, a, g.unique_node_name(n.name + ".q"), &n, "tinyodlc");
    g.remove_node(&n);
    r->def->infer(*r);
  } else {
    replace_with(g, n, *t, "QSoftmax", ins, a);
  }
  if (where) g.remove_node(where);
  return true;
}

// The real function of an elementwise op that can be tabulated over the 256 int8 inputs
// (nullopt if n is not one), and the index of its tensor input.
std::optional<std::pair<std::function<double(double)>, size_t>> unary_function(const Node& n) {
  using F = std::function<double(double)>;
  const std::string& op = n.op;
  if (n.inputs.empty() || !n.inputs[0]) return std::nullopt;
  if (op == "Sigmoid") return std::make_pair(F([](double x) { return 1.0 / (1.0 + std::exp(-x)); }), size_t{0});
  if (op == "Tanh") return std::make_pair(F([](double x) { return std::tanh(x); }), size_t{0});
  if (op == "Exp") return std::make_pair(F([](double x) { return std::exp(x); }), size_t{0});
  if (op == "Erf") return std::make_pair(F([](double x) { return std::erf(x); }), size_t{0});
  if (op == "Sqrt") return std::make_pair(F([](double x) { return std::sqrt(x); }), size_t{0});
  if (op == "Log") return std::make_pair(F([](double x) { return std::log(x); }), size_t{0});
  if (op == "Abs") return std::make_pair(F([](double x) { return std::fabs(x); }), size_t{0});
  if (op == "Neg") return std::make_pair(F([](double x) { return -x; }), size_t{0});
  if (op == "Reciprocal") return std::make_pair(F([](double x) { return 1.0 / x; }), size_t{0});
  if (op == "Softplus") return std::make_pair(F([](double x) { return std::log1p(std::exp(x)); }), size_t{0});
  if (op == "HardSigmoid" || op == "HardSwish") {
    const double a = op == "HardSwish" ? 1.0 / 6 : n.attr_float_or("alpha", 0.2f);
    const double b = op == "HardSwish" ? 0.5 : n.attr_float_or("beta", 0.5f);
    const bool swish = op == "HardSwish";
    return std::make_pair(F([a, b, swish](double x) {
                            const double h = std::max(0.0, std::min(1.0, a * x + b));
                            return swish ? x * h : h;
                          }),
                          size_t{0});
  }
  if (op == "Pow") {
    std::optional<double> e = scalar_const(n.input(1));
    if (!e) return std::nullopt;
    const double p = *e;
    return std::make_pair(F([p](double x) { return std::pow(x, p); }), size_t{0});
  }
  if (op == "Div") {  // constant / x (x / constant is fold_scale)
    std::optional<double> c = scalar_const(n.input(0));
    if (!c || !n.input(1)) return std::nullopt;
    const double cv = *c;
    return std::make_pair(F([cv](double x) { return cv / x; }), size_t{1});
  }
  return std::nullopt;
}

// DQ(x) -> elementwise f [-> Relu|Clip] -> Q  =>  QLookup(x, table) with
// table[q + 128] = clamp(round_half_even(f(s_x (q - z_x)) / s_y) + z_y, act_min, act_max)
// (double precision; +-inf saturates; a NaN anywhere in the table keeps the float op).
bool fold_lut(Graph& g, Node& n) {
  auto uf = unary_function(n);
  if (!uf) return false;
  const size_t xi = uf->second;
  std::optional<QP> xq;
  Node* dx = dq_of(n.input(xi), &xq);
  if (!dx || !act_i8(xq) || n.outputs[0]->shape != n.inputs[xi]->shape) return false;
  auto t = find_tail(g, n, true);
  if (!t) return false;
  auto table = std::make_shared<TensorData>(DType::I8, Shape{256});
  const double sy = t->qp.scale[0];
  for (int q = -128; q < 128; ++q) {
    const double v = uf->first(xq->scale[0] * (q - xq->zp[0]));
    if (std::isnan(v)) return false;
    double r = std::isinf(v) ? (v > 0 ? 1e9 : -1e9) : std::nearbyint(v / sy) + t->qp.zp[0];
    r = std::max<double>(t->act_min, std::min<double>(t->act_max, r));
    table->data<int8_t>()[q + 128] = static_cast<int8_t>(r);
  }
  Value* tv = g.add_constant(g.unique_value_name(n.name + ".table"), table);
  replace_with(g, n, *t, "QLookup", {dx->inputs[0], tv}, {});
  return true;
}

// Q -> DQ pairs whose quantized value only feeds DequantizeLinear nodes: bypassed.
int drop_float_pairs(Graph& g) {
  int dropped = 0;
  std::vector<Node*> qs;
  for (const auto& n : g.nodes())
    if (is_op(n.get(), "QuantizeLinear")) qs.push_back(n.get());
  for (Node* q : qs) {
    Value* qv = q->outputs[0];
    if (g.is_graph_output(qv)) continue;
    auto us = g.users(qv);
    bool all_dq = !us.empty();
    for (Node* u : us) all_dq = all_dq && is_op(u, "DequantizeLinear");
    if (!all_dq) continue;
    Value* src = q->inputs[0];
    for (Node* u : us) {
      Value* f = u->outputs[0];
      if (g.is_graph_output(f) && (g.is_graph_output(src) || g.is_graph_input(src))) continue;
      const bool out = g.is_graph_output(f);
      const std::string name = f->name;
      g.replace_all_uses(f, src);
      g.remove_node(u);
      if (out) {  // the float value becomes the graph output under the output's name
        g.rename(f, g.unique_value_name(name + ".unused"));
        g.rename(src, name);
      }
    }
    if (g.users(qv).empty()) {
      g.remove_node(q);
      ++dropped;
    }
  }
  return dropped;
}


// DQ(x) -> Pow(x, 2) -> ReduceMean [-> Add(eps)] -> Sqrt [-> Div(c, .)] -> Q  =>  QRms(x)
// (passes/rms_chain.h; arithmetic in kernels/tinyodlc/ref/int8.h qrms_s8).
bool fold_rms(Graph& g, Node& n) {
  auto c = match_rms_chain(g, n);
  if (!c) return false;
  std::optional<QP> xq;
  Node* dx = dq_of(c->x, &xq);
  if (!dx || !act_i8(xq)) return false;
  auto t = find_tail(g, n, true);
  if (!t) return false;
  int64_t cnt = 1;
  for (int64_t a : c->axes) cnt *= c->x->shape[static_cast<size_t>(a)];
  if (cnt > (1 << 24)) return false;
  const int f = std::min(15, static_cast<int>(ref::qrms_frac_bits_limit(cnt)));
  const double sx = xq->scale[0], sy = t->qp.scale[0], two_f = std::ldexp(1.0, f);
  auto clamp64 = [](double v, int e) {
    const double m = std::ldexp(1.0, e);
    return static_cast<int64_t>(std::nearbyint(std::min(std::max(v, 0.0), m)));
  };
  std::map<std::string, Attribute> a;
  a["axes"] = Attribute::Ints(c->axes);
  a["keepdims"] = Attribute::Int(c->keepdims ? 1 : 0);
  a["x_zp"] = Attribute::Int(xq->zp[0]);
  a["frac_bits"] = Attribute::Int(f);
  a["eps_q"] = Attribute::Int(clamp64(c->eps * two_f * two_f / (sx * sx), 61));
  a["mode"] = Attribute::Int(c->reciprocal ? 1 : 0);
  a["recip_k"] = Attribute::Int(c->reciprocal ? clamp64(c->c * two_f / (sx * sy), 62) : 0);
  set_requant(a, {c->reciprocal ? 1.0 : sx / (sy * two_f)}, *t);  // (mult, shift) unused in mode 1
  Value* x = dx->inputs[0];
  std::vector<Node*> inner(c->nodes.begin(), c->nodes.end() - 1);
  replace_with(g, n, *t, "QRms", {x}, a);
  for (auto it = inner.rbegin(); it != inner.rend(); ++it) g.remove_node(*it);
  if (g.users(dx->outputs[0]).empty() && !g.is_graph_output(dx->outputs[0])) g.remove_node(dx);
  return true;
}

}  // namespace

QdqFoldStats qdq_fold(ir::Graph& g, bool drop_pairs) {
  QdqFoldStats st;
  std::vector<Node*> order;
  for (const auto& n : g.nodes()) order.push_back(n.get());
  for (Node* n : order) {
    // Nodes removed by an earlier fold (a tail activation) are skipped: check it is still scheduled.
    bool alive = false;
    for (const auto& m : g.nodes())
      if (m.get() == n) alive = true;
    if (!alive || !n->domain.empty()) continue;
    const std::string& op = n->op;
    bool folded = false;
    if ((op == "Sqrt" || op == "Div" || op == "Reciprocal") && fold_rms(g, *n)) folded = true;
    else if (op == "Conv") folded = fold_conv(g, *n);
    else if (op == "Gemm" || op == "MatMul") folded = fold_matmul(g, *n, drop_pairs);
    else if (op == "Mul") folded = fold_binary(g, *n) || fold_scale(g, *n);
    else if (op == "Add") folded = fold_binary(g, *n);  // (a float addend has no integer form)
    else if (op == "Sub") folded = fold_binary(g, *n);
    else if (op == "Div") folded = fold_scale(g, *n) || fold_lut(g, *n);
    else if (unary_function(*n)) folded = fold_lut(g, *n);
    else if (op == "Softmax") folded = fold_softmax(g, *n);
    else if (op == "GlobalAveragePool" || op == "AveragePool") folded = fold_unary(g, *n);
    else if (op == "Relu" || op == "Clip") folded = fold_activation(g, *n);
    else if (op == "MaxPool" || op == "GlobalMaxPool" || op == "Reshape" || op == "Flatten" || op == "Transpose" ||
             op == "Squeeze" || op == "Unsqueeze" || op == "Identity" || op == "Slice" || op == "Gather" ||
             op == "Concat" || op == "Pad")
      folded = fold_passthrough(g, *n);
    if (folded) ++st.folded;
  }
  if (drop_pairs) st.dropped_pairs = drop_float_pairs(g);
  g.remove_dead_values();
  return st;
}

namespace {
const PassRegistrar kQdqFold({"qdq-fold",
                              "fold QuantizeLinear/DequantizeLinear around float ops into int8 tinyodlc.Q* ops",
                              [](ir::Graph& g, PassContext& ctx) {
                                const QdqFoldStats st = qdq_fold(g, ctx.quant && ctx.quant->drop_pairs);
                                if (ctx.quant) {
                                  ctx.quant->folded.folded += st.folded;
                                  ctx.quant->folded.dropped_pairs += st.dropped_pairs;
                                }
                              }});
}  // namespace

}  // namespace tinyodlc::passes
