// stream-split (see stream_split.h and docs/streaming.md).
//
// Analysis: every value gets a tag. Time(a): the value holds all T frames along axis a and
// slice t depends only on frame t. Frame(t): the value belongs to frame t alone (an unrolled
// branch). None: frame-independent (constants, trainable parameters). A node whose rule gives no
// tag for its outputs mixes frames: it belongs to the head h. The values that per-frame nodes
// hand to a mixing node are the frontier; it must be one feature map (batched form, after
// walking back over pure data movement) or one per frame feeding a Concat in frame order
// (unrolled form, whose branches must be copies of frame 0's).
//
// Over 500 lines on purpose: the tag analysis and the cut it drives are one algorithm (the cut
// reads every tag rule's result), kept together and tested by tests/lit/stream.
#include "passes/stream_split.h"

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "passes/pass_manager.h"

namespace tinyodlc::passes {
namespace {

using namespace ir;

struct Tag {
  enum Kind { None, Time, Frame };
  Kind kind = None;
  int axis = -1;   // Time: the time axis
  int frame = -1;  // Frame: t
  static Tag time(int a) { return {Time, a, -1}; }
  static Tag of_frame(int t) { return {Frame, -1, t}; }
};

// Ops applied independently to every element (n-ary ones broadcast numpy-style).
const std::set<std::string> kElementwise = {
    "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean", "Where", "Equal", "Less", "LessOrEqual",
    "Greater", "GreaterOrEqual", "And", "Or", "Xor", "Not", "Relu", "LeakyRelu", "PRelu", "Sigmoid", "Tanh",
    "HardSigmoid", "HardSwish", "Elu", "Selu", "Celu", "Softplus", "Softsign", "Exp", "Log", "Sqrt", "Reciprocal",
    "Neg", "Abs", "Clip", "Erf", "Gelu", "Floor", "Ceil", "Round", "Sign", "Cast", "CastLike", "Identity", "IsNaN",
    "IsInf", "Mod", "Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh",
    "Mish", "ThresholdedRelu", "Shrink", "BitShift", "Dropout"};
const std::set<std::string> kElementwiseQ = {"QAdd", "QSub", "QMul", "QRequantize", "QLookup"};
// Ops whose batch axis 0 indexes independent samples (NCHW vision ops).
const std::set<std::string> kPerSample = {"Conv", "ConvTranspose", "MaxPool", "AveragePool", "GlobalAveragePool",
                                          "GlobalMaxPool", "LpPool", "BatchNormalization", "InstanceNormalization",
                                          "LRN", "ConvInteger", "QLinearConv", "DepthToSpace", "SpaceToDepth"};
const std::set<std::string> kPerSampleQ = {"QConv", "QAvgPool", "QGlobalAvgPool"};
// Pure data movement (a reshape of the same bytes, or a permutation).
const std::set<std::string> kMovement = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Identity"};
const std::set<std::string> kReduce = {"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd",
                                       "ReduceL1", "ReduceL2", "ReduceLogSumExp", "ReduceSumSquare", "ReduceLogSum"};

bool onnx_op(const Node& n, const std::set<std::string>& s) { return n.domain.empty() && s.count(n.op); }
bool q_op(const Node& n, const std::set<std::string>& s) { return n.domain == "tinyodlc" && s.count(n.op); }

int64_t prod(const Shape& s, size_t from, size_t to) {
  int64_t p = 1;
  for (size_t i = from; i < to && i < s.size(); ++i) p *= s[i];
  return p;
}

std::optional<std::vector<int64_t>> const_ints(const Value* v) {
  if (!v || !v->is_constant()) return std::nullopt;
  return v->constant->to_i64();
}

int norm(int64_t a, size_t rank) { return static_cast<int>(a < 0 ? a + static_cast<int64_t>(rank) : a); }

class Splitter {
 public:
  Splitter(Graph& g, StreamContext& ctx) : g_(g), ctx_(ctx) {}

  void run() {
    find_input();
    for (const auto& np : g_.nodes()) tag_node(*np);
    collect_frontier();
    if (frame_frontier_.empty()) split_batched();
    else split_unrolled();
  }

 private:
  Graph& g_;
  StreamContext& ctx_;
  Value* x_ = nullptr;
  int64_t T_ = 0;
  std::map<const Value*, Tag> tag_;
  std::set<const Node*> mixers_;
  // Frontier: tagged values read by a mixing node or graph outputs, with the reader.
  std::map<const Value*, const Node*> time_frontier_;
  std::map<int, std::vector<std::pair<const Value*, const Node*>>> frame_frontier_;

  Tag tag(const Value* v) const {
    if (!v) return {};
    auto it = tag_.find(v);
    return it == tag_.end() ? Tag{} : it->second;
  }

  void find_input() {
    if (!ctx_.input.empty()) {
      x_ = g_.find_value(ctx_.input);
      if (!x_ || !g_.is_graph_input(x_))
        throw CompileError("", fmt::format("--stream {}: the model has no input '{}'", ctx_.input, ctx_.input));
    } else {
      for (Value* in : g_.inputs)
        if (in->shape.size() == 5) {
          if (x_) throw CompileError("", fmt::format("--stream: inputs '{}' and '{}' both have rank 5; name the "
                                                     "streamed one (--stream INPUT[:AXIS])", x_->name, in->name));
          x_ = in;
        }
      if (!x_) throw CompileError("", "--stream: no input of rank 5 ([1, T, C, H, W]); name the streamed input "
                                      "(--stream INPUT[:AXIS])");
    }
    const Shape& s = x_->shape;
    const int a = ctx_.axis < 0 ? ctx_.axis + static_cast<int>(s.size()) : ctx_.axis;
    if (a < 0 || a >= static_cast<int>(s.size()))
      throw CompileError(fmt::format("input '{}'", x_->name),
                         fmt::format("time axis {} is out of range for {}", ctx_.axis, x_->type_str()));
    if (prod(s, 0, static_cast<size_t>(a)) != 1)
      throw CompileError(fmt::format("input '{}'", x_->name),
                         fmt::format("{}: the dims before the time axis {} must be 1 (one clip at a time)",
                                     x_->type_str(), a));
    for (Value* in : g_.inputs)
      if (in != x_)
        throw CompileError(fmt::format("input '{}'", in->name),
                           fmt::format("streaming supports one streamed input; the model also reads '{}'", in->name));
    T_ = s[static_cast<size_t>(a)];
    tag_[x_] = Tag::time(a);
    ctx_.axis = a;
  }

  // ---- tagging ----------------------------------------------------------------------------
  void tag_node(const Node& n) {
    bool any_time = false, any_frame = false;
    int frame = -1;
    bool frames_agree = true;
    for (const Value* v : n.inputs) {
      const Tag t = tag(v);
      if (t.kind == Tag::Time) any_time = true;
      if (t.kind == Tag::Frame) {
        if (any_frame && t.frame != frame) frames_agree = false;
        any_frame = true;
        frame = t.frame;
      }
    }
    if (!any_time && !any_frame) return;  // frame-independent
    if (any_frame) {
      if (!any_time && frames_agree) {
        for (const Value* o : n.outputs)
          if (o) tag_[o] = Tag::of_frame(frame);
        return;
      }
      mixers_.insert(&n);
      return;
    }
    // Selections of one frame (unrolled form).
    if (auto sel = selected_frames(n)) {
      for (size_t k = 0; k < n.outputs.size(); ++k)
        if (n.outputs[k]) tag_[n.outputs[k]] = Tag::of_frame((*sel)[k]);
      return;
    }
    std::optional<int> a = time_axis_of_output(n);
    if (!a) {
      mixers_.insert(&n);
      return;
    }
    for (const Value* o : n.outputs)
      if (o) tag_[o] = Tag::time(*a);
  }

  // Gather / Slice / Split along the time axis that pick single frames: the frame per output.
  std::optional<std::vector<int>> selected_frames(const Node& n) const {
    if (!n.domain.empty() || n.inputs.empty()) return std::nullopt;
    const Tag t = tag(n.inputs[0]);
    if (t.kind != Tag::Time) return std::nullopt;
    const size_t rank = n.inputs[0]->shape.size();
    const int64_t extent = n.inputs[0]->shape[static_cast<size_t>(t.axis)];
    if (n.op == "Gather" && norm(n.attr_int_or("axis", 0), rank) == t.axis) {
      auto idx = const_ints(n.input(1));
      if (idx && idx->size() == 1) return std::vector<int>{static_cast<int>((*idx)[0] < 0 ? (*idx)[0] + extent : (*idx)[0])};
    }
    if (n.op == "Slice") {
      auto starts = const_ints(n.input(1)), ends = const_ints(n.input(2));
      auto axes = n.input(3) ? const_ints(n.input(3)) : std::optional<std::vector<int64_t>>(std::vector<int64_t>{});
      auto steps = n.input(4) ? const_ints(n.input(4)) : std::optional<std::vector<int64_t>>(std::vector<int64_t>{});
      if (starts && ends && axes && steps && n.output(0) && n.outputs[0]->has_shape) {
        for (size_t i = 0; i < starts->size(); ++i) {
          const int ax = axes->empty() ? static_cast<int>(i) : norm((*axes)[i], rank);
          const int64_t step = steps->empty() ? 1 : (*steps)[i];
          if (ax == t.axis && step == 1 && n.outputs[0]->shape[static_cast<size_t>(ax)] == 1) {
            int64_t s = (*starts)[i];
            if (s < 0) s += extent;
            return std::vector<int>{static_cast<int>(std::clamp<int64_t>(s, 0, extent - 1))};
          }
        }
      }
    }
    if (n.op == "Split" && norm(n.attr_int_or("axis", 0), rank) == t.axis &&
        static_cast<int64_t>(n.outputs.size()) == extent) {
      std::vector<int> r;
      for (size_t k = 0; k < n.outputs.size(); ++k) r.push_back(static_cast<int>(k));
      return r;
    }
    return std::nullopt;
  }

  // The output's time axis when n keeps frames apart, nullopt when it mixes them.
  std::optional<int> time_axis_of_output(const Node& n) const {
    const Value* out = n.output(0);
    if (!out || !out->has_shape) return std::nullopt;
    const size_t r = out->shape.size();
    const Value* in0 = n.input(0);
    const Tag t0 = tag(in0);
    if (onnx_op(n, {"QuantizeLinear", "DequantizeLinear"})) {
      if (t0.kind != Tag::Time) return std::nullopt;
      const Value* scale = n.input(1);
      if (scale && scale->numel() > 1 && norm(n.attr_int_or("axis", 1), in0->shape.size()) == t0.axis)
        return std::nullopt;  // per-axis parameters along time: per-frame weights
      return t0.axis;
    }
    if (onnx_op(n, kElementwise) || q_op(n, kElementwiseQ) || onnx_op(n, {"Expand"})) return broadcast_axis(n, r);
    if (onnx_op(n, kPerSample) || q_op(n, kPerSampleQ)) {
      if (t0.kind != Tag::Time || t0.axis != 0) return std::nullopt;
      for (size_t k = 1; k < n.inputs.size(); ++k)
        if (tag(n.inputs[k]).kind != Tag::None) return std::nullopt;
      return 0;
    }
    if (onnx_op(n, kMovement)) return reshape_axis(n);
    if (n.domain.empty() && (n.op == "Gemm")) {
      if (t0.kind != Tag::Time || t0.axis != 0 || n.attr_int_or("transA", 0) != 0) return std::nullopt;
      if (tag(n.input(1)).kind != Tag::None || tag(n.input(2)).kind != Tag::None) return std::nullopt;
      if (n.input(2) && n.inputs[2]->shape.size() == 2 && n.inputs[2]->shape[0] != 1) return std::nullopt;
      return 0;
    }
    if (onnx_op(n, {"MatMul", "MatMulInteger", "QLinearMatMul"}) || q_op(n, {"QMatMul"})) return matmul_axis(n, r);
    if (onnx_op(n, {"Softmax", "LogSoftmax", "Hardmax"}) || q_op(n, {"QSoftmax"})) {
      if (t0.kind != Tag::Time) return std::nullopt;
      const bool legacy = n.domain.empty() && n.opset != 0 && n.opset < 13;
      const int k = norm(n.attr_int_or("axis", legacy ? 1 : -1), r);
      if (legacy ? t0.axis < k : t0.axis != k) return t0.axis;
      return std::nullopt;
    }
    if (onnx_op(n, {"LayerNormalization"})) {
      if (t0.kind != Tag::Time) return std::nullopt;
      return t0.axis < norm(n.attr_int_or("axis", -1), r) ? std::optional<int>(t0.axis) : std::nullopt;
    }
    if (onnx_op(n, kReduce) || onnx_op(n, {"ArgMax", "ArgMin"})) return reduce_axis(n);
    if (onnx_op(n, {"Concat"})) {
      const int c = norm(n.attr_int("axis"), r);
      for (const Value* v : n.inputs) {
        const Tag t = tag(v);
        if (t.kind != Tag::Time || t.axis != t0.axis) return std::nullopt;
      }
      return c != t0.axis ? std::optional<int>(t0.axis) : std::nullopt;
    }
    if (onnx_op(n, {"Split"})) {
      if (t0.kind != Tag::Time || norm(n.attr_int_or("axis", 0), r) == t0.axis) return std::nullopt;
      return t0.axis;
    }
    if (onnx_op(n, {"Slice"})) {
      if (t0.kind != Tag::Time) return std::nullopt;
      auto axes = n.input(3) ? const_ints(n.input(3)) : std::optional<std::vector<int64_t>>(std::vector<int64_t>{});
      auto starts = const_ints(n.input(1));
      if (!axes || !starts) return std::nullopt;
      for (size_t i = 0; i < starts->size(); ++i) {
        const int ax = axes->empty() ? static_cast<int>(i) : norm((*axes)[i], r);
        if (ax == t0.axis && out->shape[static_cast<size_t>(ax)] != T_) return std::nullopt;
      }
      return t0.axis;
    }
    if (onnx_op(n, {"Gather"})) {
      const int ga = norm(n.attr_int_or("axis", 0), in0 ? in0->shape.size() : 0);
      const Tag ti = tag(n.input(1));
      if (t0.kind == Tag::Time && ti.kind == Tag::None)
        return t0.axis < ga ? t0.axis : t0.axis + static_cast<int>(n.inputs[1]->shape.size()) - 1;
      if (t0.kind == Tag::None && ti.kind == Tag::Time) return ga + ti.axis;
      return std::nullopt;
    }
    if (onnx_op(n, {"Pad"})) {
      if (t0.kind != Tag::Time) return std::nullopt;
      auto pads = const_ints(n.input(1));
      if (!pads || n.input(3)) return std::nullopt;  // (explicit axes: not handled)
      const size_t rank = in0->shape.size();
      if (pads->size() != 2 * rank || (*pads)[static_cast<size_t>(t0.axis)] != 0 ||
          (*pads)[rank + static_cast<size_t>(t0.axis)] != 0)
        return std::nullopt;
      return t0.axis;
    }
    if (onnx_op(n, {"Tile"})) {
      auto rep = const_ints(n.input(1));
      if (t0.kind != Tag::Time || !rep || (*rep)[static_cast<size_t>(t0.axis)] != 1) return std::nullopt;
      return t0.axis;
    }
    return std::nullopt;
  }

  // Elementwise with numpy broadcasting: the tagged inputs agree on the (right-aligned) time
  // axis, and constants have extent 1 there (a constant varying along time is per-frame weights).
  std::optional<int> broadcast_axis(const Node& n, size_t r) const {
    std::optional<int> a;
    for (const Value* v : n.inputs) {
      const Tag t = tag(v);
      if (t.kind != Tag::Time) continue;
      const int aligned = t.axis + static_cast<int>(r - v->shape.size());
      if (a && *a != aligned) return std::nullopt;
      a = aligned;
    }
    if (!a) return std::nullopt;
    const bool shape_input = n.domain.empty() && n.op == "Expand";
    for (size_t k = 0; k < n.inputs.size(); ++k) {
      const Value* v = n.inputs[k];
      if (!v || tag(v).kind != Tag::None || (shape_input && k == 1)) continue;
      const int p = *a - static_cast<int>(r - v->shape.size());
      if (p >= 0 && v->shape[static_cast<size_t>(p)] != 1) return std::nullopt;
    }
    if (n.output(0)->shape[static_cast<size_t>(*a)] != T_) return std::nullopt;
    return a;
  }

  // A reshape of the same bytes keeps frames apart when the output has a dim of extent T whose
  // preceding dims hold exactly the elements that preceded the time axis.
  std::optional<int> reshape_axis(const Node& n) const {
    const Value* in = n.input(0);
    const Tag t = tag(in);
    if (t.kind != Tag::Time) return std::nullopt;
    if (n.domain.empty() && n.op == "Transpose") {
      std::vector<int64_t> perm = n.attr_ints_or("perm", {});
      if (perm.empty())
        for (size_t i = 0; i < in->shape.size(); ++i) perm.insert(perm.begin(), static_cast<int64_t>(i));
      for (size_t i = 0; i < perm.size(); ++i)
        if (perm[i] == t.axis) return static_cast<int>(i);
      return std::nullopt;
    }
    const Shape& s = in->shape;
    const Shape& o = n.outputs[0]->shape;
    const int64_t before = prod(s, 0, static_cast<size_t>(t.axis));
    for (size_t a = 0; a < o.size(); ++a)
      if (prod(o, 0, a) == before && o[a] == T_) return static_cast<int>(a);
    return std::nullopt;
  }

  std::optional<int> matmul_axis(const Node& n, size_t r) const {
    const bool qlinear = n.domain.empty() && n.op == "QLinearMatMul";
    const Value* a = n.input(0);
    const Value* b = n.input(qlinear ? 3 : 1);
    for (size_t k = 0; k < n.inputs.size(); ++k)
      if (k != 0 && k != (qlinear ? 3u : 1u) && tag(n.inputs[k]).kind != Tag::None) return std::nullopt;
    const Tag ta = tag(a), tb = tag(b);
    if (!a || !b || a->shape.size() < 2 || r < 2) return std::nullopt;
    std::optional<int> axis;
    if (ta.kind == Tag::Time) {
      if (ta.axis >= static_cast<int>(a->shape.size()) - 1) return std::nullopt;  // K mixes
      axis = ta.axis + static_cast<int>(r - a->shape.size());
    }
    if (tb.kind == Tag::Time) {
      if (b->shape.size() < 2 || tb.axis >= static_cast<int>(b->shape.size()) - 2) return std::nullopt;
      const int ab = tb.axis + static_cast<int>(r - b->shape.size());
      if (axis && *axis != ab) return std::nullopt;
      axis = ab;
    }
    if (!axis) return std::nullopt;
    // A constant operand must not vary along time (it would be per-frame weights).
    for (const Value* v : {a, b})
      if (tag(v).kind == Tag::None && v->shape.size() >= 2) {
        const int p = *axis - static_cast<int>(r - v->shape.size());
        if (p >= 0 && p < static_cast<int>(v->shape.size()) - 2 && v->shape[static_cast<size_t>(p)] != 1)
          return std::nullopt;
      }
    return axis;
  }

  std::optional<int> reduce_axis(const Node& n) const {
    const Value* in = n.input(0);
    const Tag t = tag(in);
    if (t.kind != Tag::Time) return std::nullopt;
    const size_t rank = in->shape.size();
    std::vector<int64_t> axes;
    if (n.has_attr("axes")) axes = n.attr_ints_or("axes", {});
    else if (n.has_attr("axis")) axes = {n.attr_int("axis")};
    else if (n.input(1)) {
      auto c = const_ints(n.input(1));
      if (!c) return std::nullopt;
      axes = *c;
    } else if (n.op == "ArgMax" || n.op == "ArgMin") {
      axes = {0};
    }
    if (axes.empty()) return std::nullopt;  // all axes
    int below = 0;
    for (int64_t ax : axes) {
      const int k = norm(ax, rank);
      if (k == t.axis) return std::nullopt;
      if (k < t.axis) ++below;
    }
    return n.attr_int_or("keepdims", 1) ? t.axis : t.axis - below;
  }

  // ---- frontier ---------------------------------------------------------------------------
  void collect_frontier() {
    for (const Node* m : mixers_)
      for (const Value* v : m->inputs) {
        const Tag t = tag(v);
        if (t.kind == Tag::Time) time_frontier_.emplace(v, m);
        if (t.kind == Tag::Frame) frame_frontier_[t.frame].push_back({v, m});
      }
    for (const Value* v : g_.outputs) {
      const Tag t = tag(v);
      if (t.kind == Tag::Time) time_frontier_.emplace(v, nullptr);
      if (t.kind == Tag::Frame) frame_frontier_[t.frame].push_back({v, nullptr});
    }
    if (time_frontier_.empty() && frame_frontier_.empty())
      throw CompileError("", fmt::format("--stream: no node reads input '{}'", x_->name));
  }

  static std::string reader(const Node* m) { return m ? m->label() : "a graph output"; }

  // Ancestors of v within the tagged region, in schedule order; throws if v depends on a value
  // that is neither tagged nor constant.
  std::vector<const Node*> per_frame_nodes(const Value* v) const {
    std::set<const Node*> seen;
    std::function<void(const Value*)> visit = [&](const Value* u) {
      if (!u || !u->producer || seen.count(u->producer)) return;
      seen.insert(u->producer);
      for (const Value* in : u->producer->inputs) visit(in);
    };
    visit(v);
    std::vector<const Node*> r;
    for (const auto& np : g_.nodes())
      if (seen.count(np.get())) r.push_back(np.get());
    return r;
  }

  // ---- batched form -----------------------------------------------------------------------
  void split_batched() {
    const Value* f = nullptr;
    const Node* first_mixer = nullptr;
    for (const auto& [v, m] : time_frontier_) {
      const Value* u = v;
      while (u->producer && onnx_op(*u->producer, kMovement) && tag(u->producer->input(0)).kind == Tag::Time)
        u = u->producer->inputs[0];
      if (u == x_ || (u->producer && onnx_op(*u->producer, kMovement)))
        throw CompileError(m ? m->label() : fmt::format("output '{}'", v->name),
                           fmt::format("mixes the frames of '{}' before any per-frame computation: the model has no "
                                       "per-frame backbone to stream (a temporal op before the features)",
                                       x_->name));
      if (f && u != f)
        throw CompileError(reader(m), fmt::format("reads per-frame value '{}' while the head also reads '{}' (via {}): "
                                                  "streaming keeps one feature map per frame",
                                                  u->name, f->name, reader(first_mixer)));
      f = u;
      if (!first_mixer) first_mixer = m;
    }
    const int a = tag(f).axis;
    if (prod(f->shape, 0, static_cast<size_t>(a)) != 1)
      throw CompileError(fmt::format("value '{}'", f->name),
                         fmt::format("the per-frame features {} have dims before the time axis {}: cannot be stored "
                                     "as T slots", f->type_str(), a));
    ctx_.form = "batched";
    finish(f, f, per_frame_nodes(f), nullptr);
  }

  // ---- unrolled form ----------------------------------------------------------------------
  void split_unrolled() {
    if (!time_frontier_.empty()) {
      const auto& [v, m] = *time_frontier_.begin();
      throw CompileError(reader(m), fmt::format("reads '{}', which holds all frames, next to per-frame branches: "
                                                "the model is not separable", v->name));
    }
    std::vector<const Value*> f(static_cast<size_t>(T_), nullptr);
    const Node* merge = nullptr;
    for (const auto& [t, list] : frame_frontier_) {
      if (t < 0 || t >= T_) throw CompileError("", fmt::format("--stream: frame {} selected out of {}", t, T_));
      if (list.size() != 1 || (f[static_cast<size_t>(t)] && f[static_cast<size_t>(t)] != list[0].first))
        throw CompileError(reader(list.back().second),
                           fmt::format("frame {} reaches the head through more than one value ('{}', '{}'): streaming "
                                       "keeps one feature map per frame",
                                       t, list.front().first->name, list.back().first->name));
      f[static_cast<size_t>(t)] = list[0].first;
      if (merge && list[0].second != merge)
        throw CompileError(reader(list[0].second), fmt::format("merges frame {} apart from {}", t, reader(merge)));
      merge = list[0].second;
    }
    for (int64_t t = 0; t < T_; ++t)
      if (!f[static_cast<size_t>(t)])
        throw CompileError(reader(merge), fmt::format("frame {} of {} never reaches the head", t, T_));
    if (!merge || !merge->domain.empty() || merge->op != "Concat" || merge->inputs.size() != static_cast<size_t>(T_))
      throw CompileError(reader(merge), fmt::format("merges the per-frame features; tinyodlc streams a Concat of the "
                                                    "T features in frame order"));
    for (int64_t t = 0; t < T_; ++t)
      if (merge->inputs[static_cast<size_t>(t)] != f[static_cast<size_t>(t)])
        throw CompileError(merge->label(), fmt::format("input {} is frame {}'s features, not frame {}'s", t,
                                                       tag(merge->inputs[static_cast<size_t>(t)]).frame, t));
    const Value* cat = merge->outputs[0];
    const int c = norm(merge->attr_int("axis"), cat->shape.size());
    if (prod(cat->shape, 0, static_cast<size_t>(c)) != 1)
      throw CompileError(merge->label(), fmt::format("concatenates along axis {} of {}: the features cannot be stored "
                                                     "as T slots (dims before the axis must be 1)",
                                                     c, cat->type_str()));
    // Every branch must repeat frame 0's computation with the same weights.
    const std::vector<const Node*> b0 = branch(f[0], 0);
    for (int64_t t = 1; t < T_; ++t) compare_branches(b0, branch(f[static_cast<size_t>(t)], static_cast<int>(t)),
                                                      static_cast<int>(t));
    ctx_.form = "unrolled";
    finish(f[0], cat, per_frame_nodes(f[0]), merge);
  }

  // Frame t's own nodes (tagged Frame(t)), in schedule order.
  std::vector<const Node*> branch(const Value* ft, int t) const {
    std::vector<const Node*> r;
    for (const Node* n : per_frame_nodes(ft)) {
      bool own = false;
      for (const Value* o : n->outputs) own = own || (tag(o).kind == Tag::Frame && tag(o).frame == t);
      if (own) r.push_back(n);
    }
    return r;
  }

  static bool same_attrs(const Node& a, const Node& b) {
    if (a.attrs.size() != b.attrs.size()) return false;
    for (const auto& [k, x] : a.attrs) {
      auto it = b.attrs.find(k);
      if (it == b.attrs.end()) return false;
      const Attribute& y = it->second;
      if (x.kind != y.kind || x.i != y.i || x.f != y.f || x.s != y.s || x.ints != y.ints || x.floats != y.floats ||
          x.strings != y.strings)
        return false;
      if (x.t != y.t && (!x.t || !y.t || x.t->bytes != y.t->bytes || x.t->shape != y.t->shape)) return false;
    }
    return true;
  }

  void compare_branches(const std::vector<const Node*>& b0, const std::vector<const Node*>& bt, int t) const {
    std::map<const Value*, const Value*> map;  // frame 0's value -> frame t's
    for (size_t i = 0; i < std::max(b0.size(), bt.size()); ++i) {
      if (i >= b0.size() || i >= bt.size())
        throw CompileError(i < bt.size() ? bt[i]->label() : b0[i]->label(),
                           fmt::format("frame {}'s branch has {} nodes, frame 0's {}: the frames are not processed by "
                                       "one shared backbone", t, bt.size(), b0.size()));
      const Node& a = *b0[i];
      const Node& b = *bt[i];
      const bool selector = i == 0;
      bool same = a.op == b.op && a.domain == b.domain && a.inputs.size() == b.inputs.size() &&
                  a.outputs.size() == b.outputs.size() && (selector || same_attrs(a, b));
      for (size_t k = 0; same && k < a.inputs.size(); ++k) {
        const Value* x = a.inputs[k];
        const Value* y = b.inputs[k];
        if (x == y) continue;
        if (!x || !y) { same = false; break; }
        const Tag tx = tag(x), ty = tag(y);
        if (tx.kind == Tag::Frame && ty.kind == Tag::Frame) {
          same = map.count(x) && map.at(x) == y;
        } else if (tx.kind == Tag::None && ty.kind == Tag::None) {
          // the frame index of a selector differs by design; other constants must be equal
          same = selector || (x->is_constant() && y->is_constant() && x->constant->shape == y->constant->shape &&
                              x->constant->bytes == y->constant->bytes);
        } else {
          same = false;
        }
      }
      if (!same)
        throw CompileError(b.label(), fmt::format("frame {} is processed differently from frame 0 (by {}): per-frame "
                                                  "weights or operations differ, so the model is not separable",
                                                  t, a.label()));
      for (size_t k = 0; k < a.outputs.size(); ++k) map[a.outputs[k]] = b.outputs[k];
    }
  }

  // ---- the cut ----------------------------------------------------------------------------
  // f: g's output (one frame); ring: the value h reads (all frames); nodes: g's nodes in the full
  // graph; merge: the Concat removed from h (unrolled form), or null.
  void finish(const Value* f, const Value* ring, const std::vector<const Node*>& nodes, const Node* merge) {
    std::set<std::string> keep;
    for (const Node* n : nodes) {
      for (const Value* v : n->inputs)
        if (v && tag(v).kind == Tag::None && !v->is_constant() && !v->is_param() && v != x_)
          throw CompileError(n->label(), fmt::format("the per-frame part reads '{}', which does not come from the "
                                                     "streamed input", v->name));
      keep.insert(n->name);
    }
    if (nodes.empty())
      throw CompileError("", fmt::format("--stream: no per-frame computation on '{}'", x_->name));
    // g: a copy reduced to the per-frame nodes, every time axis of extent 1.
    std::unique_ptr<Graph> g = clone_graph(g_);
    std::vector<Node*> drop;
    for (const auto& np : g->nodes())
      if (!keep.count(np->name)) drop.push_back(np.get());
    for (auto it = drop.rbegin(); it != drop.rend(); ++it) g->remove_node(*it);
    Value* gx = g->find_value(x_->name);
    Value* gf = g->find_value(f->name);
    g->inputs = {gx};
    g->outputs = {gf};
    for (const auto& [v, t] : tag_) {
      if (t.kind != Tag::Time) continue;
      Value* gv = g->find_value(v->name);
      if (gv && gv->has_shape && static_cast<size_t>(t.axis) < gv->shape.size() && gv->shape[static_cast<size_t>(t.axis)] == T_)
        gv->shape[static_cast<size_t>(t.axis)] = 1;
    }
    for (const auto& np : g->nodes()) {
      Node& n = *np;
      const Value* orig_out = g_.find_value(n.outputs[0] ? n.outputs[0]->name : "");
      const Tag t = tag(orig_out);
      if (t.kind != Tag::Time || !n.domain.empty() || (n.op != "Reshape" && n.op != "Expand")) continue;
      auto target = const_ints(n.input(1));
      if (!target || static_cast<size_t>(t.axis) >= target->size() || (*target)[static_cast<size_t>(t.axis)] != T_)
        continue;
      auto data = std::make_shared<TensorData>(*n.inputs[1]->constant);
      if (data->dtype != DType::I64) continue;
      data->data<int64_t>()[t.axis] = 1;
      n.inputs[1] = g->add_constant(g->unique_value_name(n.inputs[1]->name + ".frame"), data);
    }
    g->remove_dead_values();
    g->name = g_.name + "_frame";
    PassManager pm;
    pm.add("shape-inference");
    PassContext pc;
    pm.run(*g, pc);

    ctx_.frames = static_cast<int>(T_);
    ctx_.frame_shape = gx->shape;
    ctx_.feature_shape = gf->shape;
    ctx_.feature = ring->name;
    ctx_.frame_graph = std::move(g);

    // h: the full graph reading the ring instead of the frames.
    Value* r = g_.add_value(g_.unique_value_name(ring->name + ".ring"), ring->dtype, ring->shape);
    r->has_shape = true;
    r->quant = ring->quant;
    const std::string ring_name = ring->name;
    g_.replace_all_uses(const_cast<Value*>(ring), r);
    if (merge) g_.remove_node(const_cast<Node*>(merge));
    g_.inputs = {r};
    for (bool changed = true; changed;) {  // remove the per-frame part (now dead)
      changed = false;
      std::vector<Node*> dead;
      for (const auto& np : g_.nodes()) {
        bool used = false;
        for (const Value* o : np->outputs) used = used || (o && (!g_.users(o).empty() || g_.is_graph_output(o)));
        if (!used) dead.push_back(np.get());
      }
      for (Node* n : dead) g_.remove_node(n);
      changed = !dead.empty();
    }
    g_.remove_dead_values();
    if (!g_.find_value(ring_name)) g_.rename(r, ring_name);
  }
};

void run_stream_split(Graph& g, PassContext& ctx) {
  if (!ctx.stream) throw CompileError("", "stream-split needs the streamed input (tinyodlc compile --stream; "
                                          "tinyodlc-opt --stream [INPUT[:AXIS]])");
  stream_split(g, *ctx.stream);
}

const PassRegistrar kStreamSplit({"stream-split",
                                  "cut a multi-frame model into a per-frame backbone (one pass per new frame) and a "
                                  "temporal head on the T feature maps (--stream)",
                                  run_stream_split});

}  // namespace

void stream_split(ir::Graph& g, StreamContext& ctx) { Splitter(g, ctx).run(); }

}  // namespace tinyodlc::passes
