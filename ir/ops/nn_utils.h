// Helpers shared by the NN op definitions (ir/ops/conv.cpp, conv_transpose.cpp, pool.cpp,
// norm.cpp, ...): sliding-window geometry (strides, dilations, pads, auto_pad, ceil_mode)
// with precise errors, output sizes, the 3-D padded parameter arrays the kernels in
// kernels/tinyodlc/ref/nn_common.h expect, and optional-output kernel arguments.
#pragma once

#include <string>
#include <vector>

#include "ir/ops/op_utils.h"

namespace tinyodlc::ir::ops {

struct Window {
  std::vector<int64_t> in, kernel, out, strides, dilations, pads_begin, pads_end;  // one entry per spatial dim
};

// Spatial rank of input 0 ([N, C, spatial...]); fails unless it is 1..3.
inline size_t spatial_rank(const Node& n, const char* what = "input") {
  const Shape& x = shape_of(n, 0);
  if (x.size() < 3 || x.size() > 5)
    fail(n, fmt::format("{} '{}' has shape {}; expected [N, C, D1 (, D2 (, D3))] with 1 to 3 spatial dims", what,
                        n.inputs[0]->name, shape_str(x)));
  return x.size() - 2;
}

// An ints attribute with exactly `count` entries, all >= `min`; `dflt` when absent.
inline std::vector<int64_t> window_attr(const Node& n, const char* name, size_t count, int64_t dflt, int64_t min) {
  std::vector<int64_t> v = n.attr_ints_or(name, std::vector<int64_t>(count, dflt));
  if (v.size() != count)
    fail(n, fmt::format("attribute '{}' has {} values, expected {} (one per spatial dim{})", name, v.size(), count,
                        std::string(name) == "pads" ? ", begins then ends" : ""));
  for (int64_t x : v)
    if (x < min) fail(n, fmt::format("attribute '{}' = [{}] must contain values >= {}", name, fmt::join(v, ","), min));
  return v;
}

inline std::string auto_pad_attr(const Node& n) {
  std::string a = n.attr_string_or("auto_pad", "NOTSET");
  if (a != "NOTSET" && a != "SAME_UPPER" && a != "SAME_LOWER" && a != "VALID")
    fail(n, fmt::format("unsupported auto_pad '{}' (expected NOTSET, SAME_UPPER, SAME_LOWER or VALID)", a));
  return a;
}

// a, b >= 1 in every use (sizes, strides); written so that a + b - 1 cannot overflow.
inline int64_t ceil_div(int64_t a, int64_t b) { return a >= 0 ? a / b + (a % b != 0) : -((-a) / b); }

// Forward sliding window (Conv, pooling). `in`/`kernel`: spatial sizes. ceil_mode only
// applies with explicit pads (as in ONNX: the last window must start inside the input or
// the begin padding).
inline Window forward_window(const Node& n, const Shape& in, const std::vector<int64_t>& kernel, bool ceil_mode) {
  const size_t r = in.size();
  Window w;
  w.in = in;
  w.kernel = kernel;
  w.strides = window_attr(n, "strides", r, 1, 1);
  w.dilations = window_attr(n, "dilations", r, 1, 1);
  std::string ap = auto_pad_attr(n);
  std::vector<int64_t> pads =
      ap == "NOTSET" ? window_attr(n, "pads", 2 * r, 0, 0) : std::vector<int64_t>(2 * r, 0);
  w.pads_begin.assign(pads.begin(), pads.begin() + static_cast<std::ptrdiff_t>(r));
  w.pads_end.assign(pads.begin() + static_cast<std::ptrdiff_t>(r), pads.end());
  w.out.resize(r);
  for (size_t i = 0; i < r; ++i) {
    if (kernel[i] < 1) fail(n, fmt::format("kernel size {} along spatial dim {} must be >= 1", kernel[i], i));
    // Checked arithmetic (support/checked.h): attributes are arbitrary int64 from the file.
    const int64_t ext = add(n, mul(n, kernel[i] - 1, w.dilations[i], "window extent (kernel * attribute 'dilations')"),
                            1, "window extent");
    if (ap == "SAME_UPPER" || ap == "SAME_LOWER") {
      w.out[i] = ceil_div(in[i], w.strides[i]);
      int64_t total = std::max<int64_t>(
          0, sub(n, add(n, mul(n, w.out[i] - 1, w.strides[i], "attribute 'strides'"), ext, "SAME padding"), in[i],
                 "SAME padding"));
      int64_t small = total / 2, big = total - total / 2;
      w.pads_begin[i] = ap == "SAME_UPPER" ? small : big;
      w.pads_end[i] = ap == "SAME_UPPER" ? big : small;
    } else {
      const int64_t padded = add(n, add(n, in[i], w.pads_begin[i], "padded input size (attribute 'pads')"),
                                 w.pads_end[i], "padded input size (attribute 'pads')");
      const int64_t span = padded - ext;  // both in [0, 2^63): no overflow
      if (span < 0)
        fail(n, fmt::format("window extent {} (kernel {}, dilation {}) exceeds the padded input size {} along "
                            "spatial dim {}",
                            ext, kernel[i], w.dilations[i], padded, i));
      if (ceil_mode && ap == "NOTSET") {
        w.out[i] = ceil_div(span, w.strides[i]) + 1;
        if ((w.out[i] - 1) * w.strides[i] >= in[i] + w.pads_begin[i]) --w.out[i];  // <= span + stride: no overflow
      } else {
        w.out[i] = span / w.strides[i] + 1;
      }
    }
  }
  return w;
}

// Pads a per-spatial-dim list to the kernels' 3-D layout (leading `fill` entries).
inline I32s pad3(const Node& n, const std::vector<int64_t>& v, int64_t fill) {
  std::vector<int64_t> r(3 - v.size(), fill);
  r.insert(r.end(), v.begin(), v.end());
  return to_i32s(n, r);
}

// Calls f(arg) with arg = In{k} if input k is present, else Null{} (the kernel receives a
// null pointer). Passing In{k} for an input the node does not have is not safe in
// evaluate_node, which sizes its pointer array by n.inputs.size().
template <typename F>
KernelCall with_opt_input(const Node& n, size_t k, F&& f) {
  if (n.input(k)) return f(In{static_cast<int>(k)});
  return f(Null{});
}

// Calls f(arg) with arg = Out{k} if output k is present, else Null{} (the kernel receives a
// null pointer). Nest calls for several optional outputs.
template <typename F>
KernelCall with_opt_output(const Node& n, size_t k, F&& f) {
  if (n.output(k)) return f(Out{static_cast<int>(k)});
  return f(Null{});
}

}  // namespace tinyodlc::ir::ops
