// canonicalize: local rewrites that simplify the graph for the backend. Runs after shape
// inference (dtypes and shapes are known; every value created here gets both). Rewrites
// match on op names (ONNX domain), so they also work on ops without an OpDef.
//
//  - Identity, and Dropout in inference mode, are removed (a used Dropout mask becomes an
//    all-true constant). Reshape / Flatten / Squeeze / Unsqueeze whose output shape equals
//    the input shape are removed.
//  - view2(view1(x)), both in {Reshape, Flatten, Squeeze, Unsqueeze}, becomes
//    Reshape(x, explicit output shape) (view2 is rewritten in place); view1 is left to dce.
//  - BatchNormalization (inference, constant parameters) is folded into a preceding Conv,
//    ConvTranspose or Gemm with constant weights/bias whose output has no other user.
//  - MatMul(A, B const [K,N]) + Add(const bias broadcastable to [N]) becomes Gemm (A 2-D),
//    or Reshape(A -> [M,K]) + Gemm + Reshape back (A rank > 2).
//  - Gemm without C + Add(const bias) becomes Gemm with C = bias.
//  - IsInf / IsNaN of a widening float Cast (f16/f32 -> f32/f64) read the Cast's input (the
//    widening is exact, so inf/NaN are the same); the Cast is left to dce. PyTorch's attention
//    masks do this in f64, which a single-precision core (Cortex-M4) would emulate in software.
// A value that is a graph output never disappears: its name is kept by moving it to the
// node that now computes it, or the rewrite is skipped. Values that the rewrites leave
// unreferenced are dropped at the end (as Graph::remove_dead_values does); dead nodes are
// left for dce.
#include <cmath>
#include <cstring>
#include <unordered_set>

#include <fmt/format.h>

#include "ir/op_registry.h"
#include "passes/pass_manager.h"

namespace tinyodlc::passes {
namespace {

using namespace ir;

bool is_onnx(const Node& n, const char* op) { return n.op == op && (n.domain.empty() || n.domain == "ai.onnx"); }

const TensorData* const_f32(const Value* v) {
  return v && v->is_constant() && v->constant->dtype == DType::F32 && !v->quant ? v->constant.get() : nullptr;
}

bool same_type(const Value* a, const Value* b) {
  return a->dtype == b->dtype && a->has_shape == b->has_shape && (!a->has_shape || a->shape == b->shape) &&
         a->quant == b->quant;
}

std::shared_ptr<TensorData> i64_tensor(const std::vector<int64_t>& v) {
  auto t = std::make_shared<TensorData>(DType::I64, Shape{static_cast<int64_t>(v.size())});
  if (!v.empty()) std::memcpy(t->bytes.data(), v.data(), v.size() * sizeof(int64_t));
  return t;
}

class Canonicalizer {
 public:
  explicit Canonicalizer(Graph& g) : g_(g) {}

  void run() {
    for (int sweep = 0; sweep < 64; ++sweep) {
      std::vector<Node*> snapshot;
      for (const auto& n : g_.nodes()) snapshot.push_back(n.get());
      removed_.clear();
      bool changed = false;
      for (Node* n : snapshot) {
        if (removed_.count(n)) continue;
        if (rewrite(*n)) {
          changed = true;
          ++changes_;
        }
      }
      if (!changed) break;
    }
    if (changes_) g_.remove_dead_values();
  }

 private:
  bool rewrite(Node& n) {
    if (is_onnx(n, "Identity")) return remove_forwarding(n);
    if (is_onnx(n, "Dropout")) return remove_dropout(n);
    if (is_view_op(n)) return collapse_view_chain(n) || remove_noop_view(n);
    if (is_onnx(n, "BatchNormalization")) return fold_batchnorm(n);
    if (is_onnx(n, "Add")) return fuse_matmul_add(n) || fuse_gemm_add(n);
    if (is_onnx(n, "IsInf") || is_onnx(n, "IsNaN")) return skip_widening_cast(n);
    return false;
  }

  void remove(Node* n) {
    removed_.insert(n);
    g_.remove_node(n);
  }

  // `v` is used only by `user` (once or more) and is not a graph output.
  bool single_use(const Value* v, const Node* user) const {
    if (g_.is_graph_output(v)) return false;
    auto us = g_.users(v);
    return us.size() == 1 && us[0] == user;
  }

  // `to` (a graph output whose defining node is being removed) carries the same data as
  // `from`: move_def makes `from`'s producer output `to` instead, and users of `from` use
  // `to`. Only possible when `from` is a plain node result (can_move_def).
  bool can_move_def(const Value* from) const {
    return from->producer && !g_.is_graph_output(from) && !g_.is_graph_input(from) && !from->is_constant();
  }
  void move_def(Value* from, Value* to) {
    Node* p = from->producer;
    g_.replace_all_uses(from, to);
    for (Value*& o : p->outputs)
      if (o == from) o = to;
    to->producer = p;
    from->producer = nullptr;
  }

  // Removes node `n` whose output `out` carries the same data as `in` (same type).
  bool forward(Node& n, Value* in, Value* out) {
    if (!in || !out || !same_type(in, out)) return false;
    if (!g_.is_graph_output(out)) {
      remove(&n);
      g_.replace_all_uses(out, in);
      return true;
    }
    if (!can_move_def(in)) return false;  // graph input/constant/output to graph output: keep the copy
    remove(&n);
    move_def(in, out);
    return true;
  }

  bool remove_forwarding(Node& n) { return n.outputs.size() == 1 && forward(n, n.input(0), n.output(0)); }

  // ---- Dropout ------------------------------------------------------------------------
  // All elements are zero / false (any dtype; -0.0 counts as zero).
  static bool all_false(const Value* v) {
    if (!v->is_constant()) return false;
    const TensorData& t = *v->constant;
    if (t.dtype == DType::F16) {
      for (int64_t i = 0; i < t.numel(); ++i)
        if ((t.data<uint16_t>()[i] & 0x7FFFu) != 0) return false;
      return true;
    }
    if (t.dtype == DType::Undefined) return false;
    for (int64_t i = 0; i < t.numel(); ++i)
      if (t.get_f64(i) != 0) return false;
    return true;
  }

  bool remove_dropout(Node& n) {
    Value* in = n.input(0);
    Value* out = n.output(0);
    Value* mask = n.output(1);
    if (!in || !out || n.outputs.size() > 2) return false;
    const Value* training = n.input(2);
    const Value* ratio = n.input(1);
    bool identity = !training || all_false(training) || (ratio && ratio->numel() == 1 && all_false(ratio));
    if (!identity) return false;  // a real training-mode dropout is a runtime op
    std::shared_ptr<TensorData> mask_data;
    if (mask && (g_.is_graph_output(mask) || !g_.users(mask).empty())) {
      DType t = mask->dtype == DType::Undefined ? DType::Bool : mask->dtype;
      if (!mask->has_shape && !in->has_shape) return false;
      Shape s = mask->has_shape ? mask->shape : in->shape;
      if (t != DType::Bool && t != DType::F32 && t != DType::F64) return false;
      mask_data = std::make_shared<TensorData>(t, s);
      for (int64_t i = 0; i < mask_data->numel(); ++i) {
        if (t == DType::Bool) mask_data->bytes[static_cast<size_t>(i)] = 1;
        else if (t == DType::F32) mask_data->data<float>()[i] = 1.0f;
        else mask_data->data<double>()[i] = 1.0;
      }
    }
    if (!forward(n, in, out)) return false;
    if (mask_data) {  // the mask value keeps its name, now as a constant
      mask->dtype = mask_data->dtype;
      mask->shape = mask_data->shape;
      mask->has_shape = true;
      mask->producer = nullptr;
      mask->constant = std::move(mask_data);
    }
    return true;
  }

  // ---- views --------------------------------------------------------------------------
  bool remove_noop_view(Node& n) {
    Value* in = n.input(0);
    Value* out = n.output(0);
    if (!in || !out || !in->has_shape || !out->has_shape || in->shape != out->shape) return false;
    for (size_t k = 1; k < n.outputs.size(); ++k)
      if (n.outputs[k]) return false;
    return forward(n, in, out);
  }

  static bool is_view_op(const Node& n) {
    return is_onnx(n, "Reshape") || is_onnx(n, "Flatten") || is_onnx(n, "Squeeze") || is_onnx(n, "Unsqueeze");
  }

  // view2(view1(src)) -> Reshape(src, explicit output shape). An outer Flatten / Squeeze /
  // Unsqueeze is turned into that Reshape in place (same name and result).
  bool collapse_view_chain(Node& n) {
    Value* x = n.input(0);
    Value* out = n.output(0);
    if (!x || !out || !out->has_shape || !x->producer || n.outputs.size() != 1) return false;
    const Node& p = *x->producer;
    if (!is_view_op(p)) return false;
    Value* src = p.input(0);
    if (!src || src->dtype != x->dtype || !(src->quant == x->quant)) return false;
    // An explicit target shape is independent of the (new) input. A 0 would mean "copy
    // this input dimension" (allowzero = 0), so zero-size outputs are left alone.
    for (int64_t d : out->shape)
      if (d <= 0) return false;
    bool reshape = is_onnx(n, "Reshape");
    Value* shape = reshape ? n.input(1) : nullptr;
    bool reuse = shape && shape->is_constant() && shape->constant->dtype == DType::I64 &&
                 shape->constant->to_i64() == out->shape;
    if (!reuse) shape = g_.add_constant(n.name + "_shape", i64_tensor(out->shape));
    if (!reshape) {
      n.op = "Reshape";
      n.domain.clear();
      n.opset = 0;
      n.attrs.clear();
      n.def = OpRegistry::instance().find("", "Reshape");
    }
    n.inputs = {src, shape};
    return true;
  }

  // ---- BatchNormalization folding -----------------------------------------------------
  bool fold_batchnorm(Node& bn) {
    if (bn.attr_int_or("training_mode", 0) != 0 || bn.attr_int_or("spatial", 1) != 1) return false;
    for (size_t k = 1; k < bn.outputs.size(); ++k) {
      const Value* o = bn.outputs[k];
      if (o && (g_.is_graph_output(o) || !g_.users(o).empty())) return false;
    }
    Value* x = bn.input(0);
    Value* y = bn.output(0);
    const TensorData *scale = const_f32(bn.input(1)), *b = const_f32(bn.input(2)), *mean = const_f32(bn.input(3)),
                     *var = const_f32(bn.input(4));
    if (!x || !y || !scale || !b || !mean || !var || !x->producer || !x->has_shape || x->shape.size() < 2) return false;
    if (x->dtype != DType::F32 || !same_type(x, y) || x->quant) return false;
    Node& p = *x->producer;
    bool conv = is_onnx(p, "Conv"), convt = is_onnx(p, "ConvTranspose"), gemm = is_onnx(p, "Gemm");
    if (!(conv || convt || gemm) || p.output(0) != x || !single_use(x, &bn)) return false;
    for (size_t k = 1; k < p.outputs.size(); ++k)
      if (p.outputs[k]) return false;
    const int64_t c = x->shape[1];
    for (const TensorData* t : {scale, b, mean, var})
      if (t->shape != Shape{c}) return false;
    const TensorData* w = const_f32(p.input(1));
    Value* bias_v = p.input(2);
    const TensorData* bias = const_f32(bias_v);
    if (!w || (bias_v && !bias)) return false;

    // y = (x - mean) * s + B with s = scale / sqrt(var + eps) (computed in double).
    double eps = bn.attr_float_or("epsilon", 1e-5f);
    std::vector<double> s(static_cast<size_t>(c)), shift(static_cast<size_t>(c));
    for (int64_t i = 0; i < c; ++i) {
      s[i] = scale->data<float>()[i] / std::sqrt(static_cast<double>(var->data<float>()[i]) + eps);
      shift[i] = b->data<float>()[i] - mean->data<float>()[i] * s[i];
    }

    auto w2 = std::make_shared<TensorData>(*w);
    float* wd = w2->data<float>();
    std::shared_ptr<TensorData> bias2;
    if (conv || convt) {
      // Conv W: [M, C/g, k...], channel = dim 0. ConvTranspose W: [Cin, Cout/g, k...],
      // output channel of W[ci, oc] = (ci / (Cin/g)) * (Cout/g) + oc.
      if (w->shape.size() < 2) return false;
      int64_t group = convt ? p.attr_int_or("group", 1) : 1;
      int64_t d0 = w->shape[0], d1 = w->shape[1];
      int64_t inner = num_elements(Shape(w->shape.begin() + 2, w->shape.end()));
      if (conv && d0 != c) return false;
      if (convt && (group <= 0 || d0 % group != 0 || d1 * group != c)) return false;
      for (int64_t i0 = 0; i0 < d0; ++i0)
        for (int64_t i1 = 0; i1 < d1; ++i1) {
          int64_t ch = conv ? i0 : (i0 / (d0 / group)) * d1 + i1;
          float* row = wd + (i0 * d1 + i1) * inner;
          for (int64_t k = 0; k < inner; ++k) row[k] = static_cast<float>(row[k] * s[ch]);
        }
      if (bias && bias->shape != Shape{c}) return false;
      bias2 = std::make_shared<TensorData>(DType::F32, Shape{c});
      for (int64_t i = 0; i < c; ++i) {
        double b0 = bias ? bias->data<float>()[i] : 0.0;
        bias2->data<float>()[i] = static_cast<float>(b0 * s[i] + shift[i]);
      }
    } else {
      // Gemm: Y [M, N] = alpha * A' B' + beta * C; channel = column n of Y.
      if (x->shape.size() != 2 || w->shape.size() != 2) return false;
      bool trans_b = p.attr_int_or("transB", 0) != 0;
      int64_t rows = w->shape[0], cols = w->shape[1];
      if ((trans_b ? rows : cols) != c) return false;
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t q = 0; q < cols; ++q)
          wd[r * cols + q] = static_cast<float>(wd[r * cols + q] * s[trans_b ? r : q]);
      // C' = (beta * C - mean) * s + B, broadcast to broadcast(shape(C), [N]); then beta = 1.
      double beta = p.attr_float_or("beta", 1.0f);
      Shape cs = bias ? bias->shape : Shape{c};
      if (cs.size() > 2) return false;
      int64_t m = x->shape[0];
      int64_t c_rows = cs.size() == 2 ? cs[0] : 1, c_cols = cs.empty() ? 1 : cs.back();
      if ((c_rows != 1 && c_rows != m) || (c_cols != 1 && c_cols != c)) return false;
      Shape out_shape = cs.size() == 2 ? Shape{c_rows, c} : Shape{c};
      bias2 = std::make_shared<TensorData>(DType::F32, out_shape);
      int64_t out_rows = cs.size() == 2 ? c_rows : 1;
      for (int64_t r = 0; r < out_rows; ++r)
        for (int64_t q = 0; q < c; ++q) {
          double c0 = bias ? bias->data<float>()[(c_rows == 1 ? 0 : r) * c_cols + (c_cols == 1 ? 0 : q)] : 0.0;
          bias2->data<float>()[r * c + q] = static_cast<float>((beta * c0) * s[q] + shift[q]);
        }
      p.attrs.erase("beta");
    }

    Value* w_new = g_.add_constant(p.input(1)->name + "_bn", w2);
    Value* b_new = g_.add_constant(bias_v ? bias_v->name + "_bn" : p.name + "_bias_bn", bias2);
    p.inputs.resize(std::max<size_t>(p.inputs.size(), 3));
    p.inputs[1] = w_new;
    p.inputs[2] = b_new;
    remove(&bn);
    p.outputs[0] = y;
    y->producer = &p;
    x->producer = nullptr;
    return true;
  }

  // ---- MatMul / Gemm + Add ------------------------------------------------------------
  // The Add's operand produced by an `op` node and its other (constant f32) operand.
  bool add_operands(Node& add, const char* op, Value*& produced, Value*& bias) {
    if (add.inputs.size() != 2 || !add.input(0) || !add.input(1) || !add.output(0)) return false;
    for (int k = 0; k < 2; ++k) {
      Value* a = add.inputs[k];
      Value* other = add.inputs[1 - k];
      if (a->producer && is_onnx(*a->producer, op) && const_f32(other)) {
        produced = a;
        bias = other;
        return true;
      }
    }
    return false;
  }

  bool fuse_matmul_add(Node& add) {
    Value *y = nullptr, *bias = nullptr;
    if (!add_operands(add, "MatMul", y, bias)) return false;
    Node* mm = y->producer;
    Value* a = mm->input(0);
    Value* z = add.output(0);
    const TensorData* w = const_f32(mm->input(1));
    if (!a || !w || mm->output(0) != y || !single_use(y, &add)) return false;
    if (a->dtype != DType::F32 || a->quant || y->quant || z->quant || !a->has_shape || !y->has_shape ||
        !z->has_shape || !same_type(y, z))
      return false;
    if (w->shape.size() != 2 || a->shape.size() < 2 || a->shape.back() != w->shape[0]) return false;
    const int64_t k = w->shape[0], n = w->shape[1];
    Shape expect_y(a->shape.begin(), a->shape.end() - 1);
    expect_y.push_back(n);
    if (y->shape != expect_y) return false;
    for (int64_t d : z->shape)
      if (d <= 0) return false;
    // The bias must broadcast to [N] along the last axis only.
    const TensorData& bt = *bias->constant;
    for (size_t i = 0; i + 1 < bt.shape.size(); ++i)
      if (bt.shape[i] != 1) return false;
    if (!bt.shape.empty() && bt.shape.back() != 1 && bt.shape.back() != n) return false;
    Value* c = bias;
    if (bt.shape != Shape{n}) {
      auto t = std::make_shared<TensorData>(DType::F32, Shape{n});
      for (int64_t i = 0; i < n; ++i) t->data<float>()[i] = bt.data<float>()[bt.numel() == 1 ? 0 : i];
      c = g_.add_constant(bias->name + "_1d", t);
    }
    Value* b = mm->input(1);
    std::string name = mm->name;
    remove(mm);
    if (a->shape.size() == 2) {
      g_.add_node("Gemm", {a, b, c}, {z}, {}, name, &add);
    } else {
      int64_t m = num_elements(Shape(a->shape.begin(), a->shape.end() - 1));
      Value* s_in = g_.add_constant(name + "_shape_in", i64_tensor({m, k}));
      Value* a2 = g_.add_value(a->name + "_2d", DType::F32, {m, k});
      Value* s_out = g_.add_constant(name + "_shape_out", i64_tensor(z->shape));
      Value* z2 = g_.add_value(z->name + "_2d", DType::F32, {m, n});
      g_.add_node("Reshape", {a, s_in}, {a2}, {}, name + "_reshape_in", &add);
      g_.add_node("Gemm", {a2, b, c}, {z2}, {}, name, &add);
      g_.add_node("Reshape", {z2, s_out}, {z}, {}, name + "_reshape_out", &add);
    }
    remove(&add);
    return true;
  }

  bool fuse_gemm_add(Node& add) {
    Value *y = nullptr, *bias = nullptr;
    if (!add_operands(add, "Gemm", y, bias)) return false;
    Node* gemm = y->producer;
    Value* z = add.output(0);
    if (gemm->input(2) || gemm->output(0) != y || !single_use(y, &add)) return false;
    if (y->dtype != DType::F32 || !y->has_shape || y->shape.size() != 2 || !same_type(y, z)) return false;
    // Add's output shape equals the Gemm's, so the bias broadcasts to [M, N] (Gemm's C rule).
    gemm->inputs.resize(3);
    gemm->inputs[2] = bias;
    gemm->attrs.erase("beta");
    remove(&add);
    gemm->outputs[0] = z;
    z->producer = gemm;
    y->producer = nullptr;
    return true;
  }

  // ---- IsInf / IsNaN of a widening float Cast ----------------------------------------------
  static int float_bits(DType t) {
    return t == DType::F64 ? 64 : t == DType::F32 ? 32 : t == DType::F16 ? 16 : 0;
  }
  bool skip_widening_cast(Node& n) {
    Value* c = n.inputs.empty() ? nullptr : n.input(0);
    Node* cast = c ? c->producer : nullptr;
    if (!cast || !is_onnx(*cast, "Cast") || cast->inputs.empty() || !cast->input(0) || c->quant) return false;
    Value* src = cast->input(0);
    const int from = float_bits(src->dtype), to = float_bits(c->dtype);
    if (from == 0 || to <= from || src->quant) return false;
    n.inputs[0] = src;
    return true;
  }

  Graph& g_;
  std::unordered_set<const Node*> removed_;
  int changes_ = 0;
};

void run_canonicalize(Graph& g, PassContext&) { Canonicalizer(g).run(); }

const PassRegistrar kCanonicalize({"canonicalize",
                                   "remove Identity/inference Dropout/no-op views, collapse Reshape chains, fold "
                                   "BatchNormalization into Conv/ConvTranspose/Gemm, fuse MatMul/Gemm + Add bias, IsInf/IsNaN "
                                   "look through widening float Casts",
                                   run_canonicalize});

}  // namespace
}  // namespace tinyodlc::passes
