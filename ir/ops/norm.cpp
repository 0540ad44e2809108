// Normalizations: BatchNormalization (inference, and training_mode = 1 from opset 14),
// InstanceNormalization, LayerNormalization (opset 17). float32 only.
// Kernels: backends/kernels/tinyodlc/ref/norm.h.
#include "tinyodlc/ref/norm.h"

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
    check_same_dtype(n, {0, 1, 2, 3, 4}, type_mask(F32Type{}));
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
    NCI s = nci(n, true);
    check_per_channel(n, {1, 2, 3, 4}, s.c);
    set_output(n, 0, DType::F32, shape_of(n, 0));
    set_output(n, 1, DType::F32, {s.c});
    set_output(n, 2, DType::F32, {s.c});
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
    return make_call(kHeader, ref_kernel("batch_norm"), &ref::batch_norm, In{0}, In{1}, In{2}, In{3}, In{4}, Out{0},
                     i32(n, s.n), i32(n, s.c), i32(n, s.inner), eps);
  };
  d.macs = [](const Node& n) { return n.inputs[0]->numel(); };
  return d;
}
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

LayerNormDims layer_norm_dims(const Node& n) {
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
  d.scale_step = step(1);
  if (n.input(2)) d.bias_step = step(2);
  return d;
}

OpDef layer_norm_op() {
  OpDef d;
  d.name = "LayerNormalization";
  d.infer = [](Node& n) {
    check_input_count(n, 2, 3);
    check_same_dtype(n, {0, 1, 2}, type_mask(F32Type{}));
    if (n.outputs.size() > 3) fail(n, fmt::format("expects at most 3 outputs, got {}", n.outputs.size()));
    const int64_t stash = n.attr_int_or("stash_type", 1);
    if (stash != 1)
      fail(n, fmt::format("stash_type = {} ({}) is not supported; only 1 (FLOAT)", stash,
                          onnx_type_name(static_cast<int32_t>(stash))));
    LayerNormDims ld = layer_norm_dims(n);
    const Shape& x = shape_of(n, 0);
    Shape stats(x.begin(), x.begin() + ld.axis);
    stats.resize(x.size(), 1);
    set_output(n, 0, DType::F32, x);
    set_output(n, 1, DType::F32, stats);
    set_output(n, 2, DType::F32, stats);
  };
  d.lower = [](const Node& n) {
    LayerNormDims ld = layer_norm_dims(n);
    return with_opt_input(n, 2, [&](auto bias) {
      return with_opt_output(n, 1, [&](auto mean) {
        return with_opt_output(n, 2, [&](auto inv_std) {
          return make_call(kHeader, ref_kernel("layer_norm"), &ref::layer_norm, In{0}, In{1}, bias, Out{0}, mean,
                           inv_std, i32(n, ld.outer), i32(n, ld.size), ld.scale_step, ld.bias_step,
                           n.attr_float_or("epsilon", 1e-5f));
        });
      });
    });
  };
  d.macs = [](const Node& n) { return n.inputs[0]->numel(); };
  return d;
}
const OpRegistrar kLayerNorm(layer_norm_op());

}  // namespace
}  // namespace tinyodlc::ir::ops
