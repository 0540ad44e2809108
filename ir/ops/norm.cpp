// Normalizations: BatchNormalization (inference, and training_mode = 1 from opset 14),
// InstanceNormalization, LayerNormalization (opset 17). float32 (BatchNormalization in
// inference mode and LayerNormalization also float64). Kernels: kernels/tinyodlc/ref/norm.h.
//
// Gradients (on-device learning): inference-mode BatchNormalization (running statistics are
// constants; dX, dscale, dB, and dmean/dvar should they be trainable) and LayerNormalization
// (dX, dscale, dbias) via tinyodlc::BatchNormGrad / tinyodlc::LayerNormGrad; a frozen
// BatchNormalization with constant scale and var passes dX = dY * (scale / sqrt(var + eps)),
// one Mul with a constant folded at compile time.
#include "tinyodlc/ref/norm.h"

#include "ir/grad.h"
#include "ir/ops/nn_utils.h"

namespace tinyodlc::ir::ops {
namespace {

constexpr const char* kHeader = "tinyodlc/ref/norm.h";

// [N, C, inner] view of an [N, C, ...] tensor (rank 1: [N] with C = 1).
struct NCI {
  int64_t n = 1, c = 1, inner = 1;
};

NCI nci(const Node& n, bool allow_rank1) {
  const Shape& x = shape_of(n, 0);
  NCI r;
  if (x.size() == 1 && allow_rank1) {
    r.n = x[0];
    return r;
  }
  if (x.size() < 2)
    fail(n, fmt::format("input '{}' has shape {}; expected [N, C, ...]", n.inputs[0]->name, shape_str(x)));
  r.n = x[0];
  r.c = x[1];
  for (size_t i = 2; i < x.size(); ++i) r.inner *= x[i];
  return r;
}

// Inputs ks must each hold exactly `c` elements (shape [c]).
void check_per_channel(const Node& n, std::initializer_list<size_t> ks, int64_t c) {
  static const char* const names[] = {"X", "scale", "B", "input_mean", "input_var"};
  for (size_t k : ks) {
    const Shape& s = shape_of(n, k);
    if (s != Shape{c})
      fail(n, fmt::format("input {} ('{}', {}) has shape {}, expected [{}] (one value per channel)", k,
                          n.inputs[k]->name, names[k], shape_str(s), c));
  }
}

int32_t i32(const Node& n, int64_t v) { return to_i32s(n, {v})[0]; }

// Appends a gradient node with only the outputs in `want` (the others absent, so nothing
// computes or stores them); returns the outputs (nullptr where absent).
std::vector<Value*> emit_some(GradContext& c, const std::string& op, std::vector<Value*> ins,
                              const std::vector<bool>& want, std::map<std::string, Attribute> attrs) {
  const std::string base = c.node.name + ".grad/" + op;
  std::vector<Value*> outs;
  for (size_t k = 0; k < want.size(); ++k) outs.push_back(want[k] ? c.graph.add_value(fmt::format("{}.{}", base, k)) : nullptr);
  Node* n = c.graph.add_node(op, std::move(ins), outs, std::move(attrs), base, nullptr, kTinyodlcDomain);
  n->def->infer(*n);
  return outs;
}

// ---- BatchNormalization -------------------------------------------------------------------
// Opset >= 14: outputs Y, running_mean?, running_var? (only with training_mode = 1).
// Opset < 14: outputs Y, mean?, var?, saved_mean?, saved_var? where the optional outputs
// mean training; they are rejected. Opset < 9: `spatial` = 0 (per-activation statistics) is
// rejected; `is_test` (opset < 7) and `consumed_inputs` (opset < 6) are ignored.
bool bn_training(const Node& n) { return (n.opset == 0 || n.opset >= 14) && n.attr_int_or("training_mode", 0) != 0; }

OpDef batch_norm_op() {
  OpDef d;
  d.name = "BatchNormalization";
  d.infer = [](Node& n) {
    check_input_count(n, 5, 5);
    const DType t = check_same_dtype(n, {0, 1, 2, 3, 4}, type_mask(FloatTypes{}));
    if (n.outputs.empty()) fail(n, "output Y is missing");
    if (n.opset != 0 && n.opset < 9 && n.attr_int_or("spatial", 1) == 0)
      fail(n, "spatial = 0 (per-activation statistics, opset < 9) is not supported");
    const int64_t tm = n.attr_int_or("training_mode", 0);
    if (tm != 0 && tm != 1) fail(n, fmt::format("training_mode = {} must be 0 or 1", tm));
    size_t extra = 0;
    for (size_t k = 1; k < n.outputs.size(); ++k) extra += n.outputs[k] != nullptr;
    if (n.opset != 0 && n.opset < 14) {
      if (extra) fail(n, fmt::format("training outputs (mean, var, saved_mean, saved_var) of opset-{} "
                                     "BatchNormalization are not supported; only Y",
                                     n.opset));
    } else {
      if (n.outputs.size() > 3) fail(n, fmt::format("expects at most 3 outputs, got {}", n.outputs.size()));
      if (extra && !tm) fail(n, "outputs running_mean / running_var require training_mode = 1");
    }
    if (tm && t != DType::F32) fail(n, fmt::format("training_mode = 1 is supported for float32 only, got {}", dtype_name(t)));
    NCI s = nci(n, true);
    check_per_channel(n, {1, 2, 3, 4}, s.c);
    set_output(n, 0, t, shape_of(n, 0));
    set_output(n, 1, t, {s.c});
    set_output(n, 2, t, {s.c});
  };
  d.lower = [](const Node& n) {
    NCI s = nci(n, true);
    const float eps = n.attr_float_or("epsilon", 1e-5f);
    if (bn_training(n))
      return with_opt_output(n, 1, [&](auto mean) {
        return with_opt_output(n, 2, [&](auto var) {
          return make_call(kHeader, ref_kernel("batch_norm_training"), &ref::batch_norm_training, In{0}, In{1}, In{2},
                           In{3}, In{4}, Out{0}, mean, var, i32(n, s.n), i32(n, s.c), i32(n, s.inner), eps,
                           n.attr_float_or("momentum", 0.9f));
        });
      });
    return dispatch(FloatTypes{}, n.inputs[0]->dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      return make_call(kHeader, ref_kernel("batch_norm", {ctype_of<T>()}), &ref::batch_norm<T>, In{0}, In{1}, In{2},
                       In{3}, In{4}, Out{0}, i32(n, s.n), i32(n, s.c), i32(n, s.inner), eps);
    });
  };
  d.macs = [](const Node& n) { return n.inputs[0]->numel(); };
  d.grad = [](GradContext& c) {
    const Node& n = c.node;
    if (bn_training(n))
      fail(n, "cannot backpropagate through training-mode BatchNormalization (batch statistics); export the model "
              "in eval mode (running statistics)");
    for (size_t k = 1; k < n.outputs.size(); ++k)
      if (c.dy(k)) fail(n, fmt::format("gradient through output {} (running statistics) is not supported", k));
    Value* x = n.inputs[0];
    Value* scale = n.inputs[1];
    Value* var = n.inputs[4];
    const float eps = n.attr_float_or("epsilon", 1e-5f);
    const bool only_dx = !c.needs(1) && !c.needs(2) && !c.needs(3) && !c.needs(4);
    if (only_dx && scale->is_constant() && var->is_constant()) {
      // Frozen: dX = dY * k, k = scale / sqrt(var + eps) per channel, as [C, 1, ...] (rank >= 2).
      const int64_t ch = scale->numel();
      Shape ks{ch};
      if (x->shape.size() >= 2) ks.resize(x->shape.size() - 1, 1);
      auto k = std::make_shared<TensorData>(x->dtype, ks);
      dispatch(FloatTypes{}, x->dtype, [&](auto tag) {
        using T = typename decltype(tag)::type;
        for (int64_t i = 0; i < ch; ++i) {
          const T inv = T(1) / ref::m_sqrt(static_cast<T>(var->constant->get_f64(i)) + static_cast<T>(eps));
          k->data<T>()[i] = static_cast<T>(scale->constant->get_f64(i)) * inv;
        }
      });
      c.set_dx(0, c.emit("Mul", {c.dy(0), c.constant(k, "bn_scale")}));
      return;
    }
    const bool need_x = c.needs(1) || c.needs(4);
    std::vector<Value*> outs =
        emit_some(c, "BatchNormGrad", {c.dy(0), need_x ? x : nullptr, scale, n.inputs[3], var},
                  {c.needs(0), c.needs(1), c.needs(2), c.needs(3), c.needs(4)}, {{"epsilon", Attribute::Float(eps)}});
    for (size_t k = 0; k < 5; ++k)
      if (outs[k]) c.set_dx(k, outs[k]);
  };
  return d;
}

// tinyodlc::BatchNormGrad(dY, X?, scale, mean, var) -> (dX?, dscale?, dB?, dmean?, dvar?) {epsilon}
OpDef batch_norm_grad_op() {
  OpDef d;
  d.domain = kTinyodlcDomain;
  d.name = "BatchNormGrad";
  d.infer = [](Node& n) {
    check_input_count(n, 5, 5);
    const DType t = check_same_dtype(n, {0, 1, 2, 3, 4}, type_mask(FloatTypes{}));
    if (n.input(1) && shape_of(n, 1) != shape_of(n, 0))
      fail(n, fmt::format("X {} and dY {} must have the same shape", shape_str(shape_of(n, 1)), shape_str(shape_of(n, 0))));
    if (!n.input(1) && (n.output(1) || n.output(4))) fail(n, "dscale and dvar need X");
    if (n.outputs.size() > 5) fail(n, fmt::format("expects at most 5 outputs, got {}", n.outputs.size()));
    NCI s = nci(n, true);
    for (size_t k = 2; k < 5; ++k)
      if (shape_of(n, k) != Shape{s.c})
        fail(n, fmt::format("input {} ('{}') has shape {}, expected [{}] (one value per channel)", k, n.inputs[k]->name,
                            shape_str(shape_of(n, k)), s.c));
    set_output(n, 0, t, shape_of(n, 0));
    for (size_t k = 1; k < 5; ++k) set_output(n, k, t, {s.c});
  };
  d.lower = [](const Node& n) {
    NCI s = nci(n, true);
    const float eps = n.attr_float_or("epsilon", 1e-5f);
    return dispatch(FloatTypes{}, n.inputs[0]->dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      return with_opt_input(n, 1, [&](auto x) {
        return with_opt_output(n, 0, [&](auto dx) {
          return with_opt_output(n, 1, [&](auto dscale) {
            return with_opt_output(n, 2, [&](auto dbias) {
              return with_opt_output(n, 3, [&](auto dmean) {
                return with_opt_output(n, 4, [&](auto dvar) {
                  return make_call(kHeader, ref_kernel("batch_norm_grad", {ctype_of<T>()}), &ref::batch_norm_grad<T>,
                                   In{0}, x, In{2}, In{3}, In{4}, dx, dscale, dbias, dmean, dvar, i32(n, s.n),
                                   i32(n, s.c), i32(n, s.inner), eps);
                });
              });
            });
          });
        });
      });
    });
  };
  d.macs = [](const Node& n) { return 2 * n.inputs[0]->numel(); };
  d.inplace_ok = true;
  return d;
}
const OpRegistrar kBatchNormGrad(batch_norm_grad_op());
const OpRegistrar kBatchNorm(batch_norm_op());

// ---- InstanceNormalization ----------------------------------------------------------------
OpDef instance_norm_op() {
  OpDef d;
  d.name = "InstanceNormalization";
  d.infer = [](Node& n) {
    check_input_count(n, 3, 3);
    check_same_dtype(n, {0, 1, 2}, type_mask(F32Type{}));
    NCI s = nci(n, false);
    check_per_channel(n, {1, 2}, s.c);
    set_output(n, 0, DType::F32, shape_of(n, 0));
  };
  d.lower = [](const Node& n) {
    NCI s = nci(n, false);
    return make_call(kHeader, ref_kernel("instance_norm"), &ref::instance_norm, In{0}, In{1}, In{2}, Out{0},
                     i32(n, s.n), i32(n, s.c), i32(n, s.inner), n.attr_float_or("epsilon", 1e-5f));
  };
  d.macs = [](const Node& n) { return n.inputs[0]->numel(); };
  return d;
}
const OpRegistrar kInstanceNorm(instance_norm_op());

// ---- LayerNormalization -------------------------------------------------------------------
// X is normalized over dims [axis, rank); Scale and B broadcast to X (in practice they have
// the normalized shape X.shape[axis:], possibly with leading 1s, or hold one value).
// Outputs Mean and InvStdDev have shape X.shape[:axis] + [1] * (rank - axis).
struct LayerNormDims {
  int64_t axis = 0, outer = 1, size = 1;
  int32_t scale_step = 1, bias_step = 1;
};

// scale_k / bias_k: the inputs holding Scale and B (LayerNormGrad: scale is input 2, no B).
LayerNormDims layer_norm_dims(const Node& n, size_t scale_k = 1, size_t bias_k = 2) {
  const Shape& x = shape_of(n, 0);
  LayerNormDims d;
  d.axis = norm_axis(n, n.attr_int_or("axis", -1), static_cast<int64_t>(x.size()));
  for (int64_t i = 0; i < static_cast<int64_t>(x.size()); ++i) (i < d.axis ? d.outer : d.size) *= x[static_cast<size_t>(i)];
  const Shape normalized(x.begin() + d.axis, x.end());
  auto step = [&](size_t k) -> int32_t {
    const Value* v = n.inputs[k];
    Shape s = shape_of(n, k);
    if (num_elements(s) == 1) return 0;
    while (!s.empty() && s.front() == 1) s.erase(s.begin());
    Shape norm = normalized;
    while (!norm.empty() && norm.front() == 1) norm.erase(norm.begin());
    if (s != norm)
      fail(n, fmt::format("input {} ('{}') has shape {}; expected the normalized shape {} (axis {}) or a single value",
                          k, v->name, shape_str(v->shape), shape_str(normalized), d.axis));
    return 1;
  };
  d.scale_step = step(scale_k);
  if (bias_k < n.inputs.size() && n.input(bias_k)) d.bias_step = step(bias_k);
  return d;
}

OpDef layer_norm_op() {
  OpDef d;
  d.name = "LayerNormalization";
  d.infer = [](Node& n) {
    check_input_count(n, 2, 3);
    const DType t = check_same_dtype(n, {0, 1, 2}, type_mask(FloatTypes{}));
    if (n.outputs.size() > 3) fail(n, fmt::format("expects at most 3 outputs, got {}", n.outputs.size()));
    const int64_t stash = n.attr_int_or("stash_type", 1);
    if (stash != 1)
      fail(n, fmt::format("stash_type = {} ({}) is not supported; only 1 (FLOAT)", stash,
                          onnx_type_name(static_cast<int32_t>(stash))));
    LayerNormDims ld = layer_norm_dims(n);
    const Shape& x = shape_of(n, 0);
    Shape stats(x.begin(), x.begin() + ld.axis);
    stats.resize(x.size(), 1);
    set_output(n, 0, t, x);
    set_output(n, 1, t, stats);
    set_output(n, 2, t, stats);
  };
  d.lower = [](const Node& n) {
    LayerNormDims ld = layer_norm_dims(n);
    return dispatch(FloatTypes{}, n.inputs[0]->dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      return with_opt_input(n, 2, [&](auto bias) {
        return with_opt_output(n, 1, [&](auto mean) {
          return with_opt_output(n, 2, [&](auto inv_std) {
            return make_call(kHeader, ref_kernel("layer_norm", {ctype_of<T>()}), &ref::layer_norm<T>, In{0}, In{1},
                             bias, Out{0}, mean, inv_std, i32(n, ld.outer), i32(n, ld.size), ld.scale_step,
                             ld.bias_step, n.attr_float_or("epsilon", 1e-5f));
          });
        });
      });
    });
  };
  d.macs = [](const Node& n) { return n.inputs[0]->numel(); };
  // dX and dscale from tinyodlc::LayerNormGrad (row statistics recomputed from X); dbias is
  // dY summed over the dims the bias is broadcast along.
  d.grad = [](GradContext& c) {
    const Node& n = c.node;
    for (size_t k = 1; k < n.outputs.size(); ++k)
      if (c.dy(k)) fail(n, fmt::format("gradient through output {} (Mean / InvStdDev) is not supported", k));
    if (c.needs(0) || c.needs(1)) {
      std::map<std::string, Attribute> attrs{
          {"axis", Attribute::Int(layer_norm_dims(n).axis)},
          {"epsilon", Attribute::Float(n.attr_float_or("epsilon", 1e-5f))}};
      std::vector<Value*> outs =
          emit_some(c, "LayerNormGrad", {c.dy(0), n.inputs[0], n.inputs[1]}, {c.needs(0), c.needs(1)}, attrs);
      for (size_t k = 0; k < 2; ++k)
        if (outs[k]) c.set_dx(k, outs[k]);
    }
    if (c.needs(2)) c.set_dx(2, c.unbroadcast(c.dy(0), n.inputs[2]->shape));
  };
  return d;
}
const OpRegistrar kLayerNorm(layer_norm_op());

// tinyodlc::LayerNormGrad(dY, X, scale) -> (dX?, dscale?) {axis (normalized), epsilon}
OpDef layer_norm_grad_op() {
  OpDef d;
  d.domain = kTinyodlcDomain;
  d.name = "LayerNormGrad";
  d.infer = [](Node& n) {
    check_input_count(n, 3, 3);
    const DType t = check_same_dtype(n, {0, 1, 2}, type_mask(FloatTypes{}));
    if (shape_of(n, 0) != shape_of(n, 1))
      fail(n, fmt::format("dY {} and X {} must have the same shape", shape_str(shape_of(n, 0)), shape_str(shape_of(n, 1))));
    if (n.outputs.size() > 2) fail(n, fmt::format("expects at most 2 outputs, got {}", n.outputs.size()));
    layer_norm_dims(n, 2, 3);
    set_output(n, 0, t, shape_of(n, 0));
    set_output(n, 1, t, shape_of(n, 2));
  };
  d.lower = [](const Node& n) {
    LayerNormDims ld = layer_norm_dims(n, 2, 3);
    return dispatch(FloatTypes{}, n.inputs[0]->dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      return with_opt_output(n, 0, [&](auto dx) {
        return with_opt_output(n, 1, [&](auto dscale) {
          return make_call(kHeader, ref_kernel("layer_norm_grad", {ctype_of<T>()}), &ref::layer_norm_grad<T>, In{0},
                           In{1}, In{2}, dx, dscale, i32(n, ld.outer), i32(n, ld.size), ld.scale_step,
                           n.attr_float_or("epsilon", 1e-5f));
        });
      });
    });
  };
  d.macs = [](const Node& n) { return 3 * n.inputs[0]->numel(); };
  d.inplace_ok = true;
  return d;
}
const OpRegistrar kLayerNormGrad(layer_norm_grad_op());

}  // namespace
}  // namespace tinyodlc::ir::ops
