// Gradient rules of the tensor, movement and reduction ops (Transpose, Concat, Split, Slice,
// Gather, Pad, Expand, Tile, Reduce*, CumSum, Cast, Dropout, Identity; Where and the variadic
// Sum/Mean/Max/Min in ir/ops/elementwise.cpp) and their backward kernels (SliceGrad,
// SplitGrad, GatherGrad, PadGrad), checked against central finite differences in double
// precision (grad_check.h) on small shapes covering the attribute variants.
#include <algorithm>
#include <cstring>

#include "grad_check.h"
#include "ir/grad.h"
#include "ir/op_registry.h"

using gradcheck::check_gradients;
using namespace tinyodlc;
using namespace tinyodlc::ir;

namespace {

// One-node graph: %y = <node text> on a single f64 param %x of `shape` (plus extra lines).
std::string unary_graph(const std::string& shape, const std::string& node, const std::string& extra = "") {
  return fmt::format(R"(graph @g () -> (%y) {{
  %x = param f64{} dense<0.0>
{}  %y = {}
}})", shape, extra, node);
}

// Ops of the finished backward graph (after autodiff + dce), for structural checks.
std::vector<std::string> backward_ops(const std::string& text) {
  auto g = parse_graph(text, "t");
  passes::PassContext ctx;
  passes::TrainingOptions t;
  t.trainable = {"(unused)"};
  t.loss = "mse";
  ctx.training = &t;
  for (const char* p : {"shape-inference", "autodiff", "dce"}) passes::PassRegistry::instance().find(p)->run(*g, ctx);
  std::vector<std::string> ops;
  for (const auto& n : g->nodes()) ops.push_back(n->op);
  return ops;
}

gradcheck::Options probes(int n) {
  gradcheck::Options o;
  o.max_probes = n;
  return o;
}

bool has(const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }

}  // namespace

TEST(GradTensor, Transpose) {
  EXPECT_GT(check_gradients(unary_graph("[2,3,4]", "Transpose(%x) {perm = [1, 2, 0]}")), 0);
  EXPECT_GT(check_gradients(unary_graph("[2,3,4]", "Transpose(%x)")), 0);  // default: reversed
  EXPECT_GT(check_gradients(unary_graph("[2,3,1,2]", "Transpose(%x) {perm = [0, 2, 3, 1]}")), 0);
}

TEST(GradTensor, Concat) {
  // All inputs trainable (one Split), negative axis.
  EXPECT_GT(check_gradients(R"(graph @g () -> (%y) {
  %a = param f64[2,1,3] dense<0.0>
  %b = param f64[2,3,3] dense<0.0>
  %c = param f64[2,2,3] dense<0.0>
  %y = Concat(%a, %b, %c) {axis = -2}
})"), 0);
  // Only some inputs need a gradient (Slices), a graph input in between, axis 0 and last.
  for (const char* axis : {"0", "2"}) {
    std::string ir = fmt::format(R"(graph @g (%u: f64[2,2,3]) -> (%y) {{
  %a = param f64[2,2,3] dense<0.0>
  %c = param f64[2,2,3] dense<0.0>
  %y = Concat(%u, %a, %u, %c) {{axis = {}}}
}})", axis);
    SCOPED_TRACE(ir);
    EXPECT_GT(check_gradients(ir), 0);
    EXPECT_TRUE(has(backward_ops(ir), "Slice"));
  }
  // A value concatenated with itself: gradients of both uses add up.
  EXPECT_GT(check_gradients(unary_graph("[3,2]", "Concat(%x, %x) {axis = 1}")), 0);
  EXPECT_GT(check_gradients(unary_graph("[3,2]", "Concat(%x) {axis = 0}")), 0);
}

TEST(GradTensor, Split) {
  // All outputs reach the loss: dx = Concat.
  const char* all = R"(graph @g () -> (%y) {
  %x = param f64[2,6] dense<0.0>
  %s = constant i64[3] dense<[1, 2, 3]>
  %a, %b, %c = Split(%x, %s) {axis = -1}
  %ab = Concat(%c, %a, %b) {axis = 1}
  %y = Mul(%ab, %ab)
})";
  EXPECT_GT(check_gradients(all), 0);
  EXPECT_FALSE(has(backward_ops(all), "SplitGrad"));
  // Outputs without a gradient (unused, or the middle one): tinyodlc::SplitGrad fills zeros.
  // num_outputs = 3 on 5 rows: sizes 2, 2, 1.
  for (const char* used : {"%a, %c", "%b, %b", "%c"}) {
    std::string ir = fmt::format(R"(graph @g () -> (%y) {{
  %x = param f64[5,3,2] dense<0.0>
  %a, %b, %c = Split(%x) {{axis = 0, num_outputs = 3}}
  %y = Concat({}) {{axis = 0}}
}})", used);
    SCOPED_TRACE(ir);
    EXPECT_GT(check_gradients(ir), 0);
    EXPECT_TRUE(has(backward_ops(ir), "SplitGrad"));
  }
}

TEST(GradTensor, Slice) {
  struct Case { const char* shape; const char* starts; const char* ends; const char* axes; const char* steps; };
  const Case cases[] = {
      {"[4,5]", "[1, 0]", "[3, 4]", "[0, 1]", "[1, 1]"},            // unit steps: Pad
      {"[4,5]", "[-3]", "[100]", "[-1]", "[1]"},                    // negative start/axis, clamped end
      {"[4,5]", "[0, 1]", "[4, 5]", "[0, 1]", "[2, 3]"},            // steps > 1
      {"[4,5]", "[-1, 3]", "[-100, 0]", "[0, 1]", "[-1, -2]"},      // negative steps
      {"[2,3,6]", "[5]", "[0]", "[2]", "[-2]"},                     // negative step, 3-D
      {"[6]", "[1]", "[6]", "[0]", "[2]"},                          // 1-D
  };
  for (const Case& k : cases) {
    std::string ir = fmt::format(R"(graph @g () -> (%y) {{
  %x = param f64{} dense<0.0>
  %st = constant i64[{}] dense<{}>
  %en = constant i64[{}] dense<{}>
  %ax = constant i64[{}] dense<{}>
  %sp = constant i64[{}] dense<{}>
  %y = Slice(%x, %st, %en, %ax, %sp)
}})", k.shape, std::count(k.starts, k.starts + strlen(k.starts), ',') + 1, k.starts,
                                 std::count(k.ends, k.ends + strlen(k.ends), ',') + 1, k.ends,
                                 std::count(k.axes, k.axes + strlen(k.axes), ',') + 1, k.axes,
                                 std::count(k.steps, k.steps + strlen(k.steps), ',') + 1, k.steps);
    SCOPED_TRACE(ir);
    EXPECT_GT(check_gradients(ir), 0);
  }
  // Unit steps go through Pad, other steps through tinyodlc::SliceGrad.
  EXPECT_TRUE(has(backward_ops(unary_graph("[4]", "Slice(%x, %s, %e)",
                                           "  %s = constant i64[1] dense<[1]>\n  %e = constant i64[1] dense<[3]>\n")),
                  "Pad"));
  EXPECT_TRUE(has(backward_ops(unary_graph("[4]", "Slice(%x, %s, %e, %a, %t)",
                                           "  %s = constant i64[1] dense<[3]>\n  %e = constant i64[1] dense<[-9]>\n"
                                           "  %a = constant i64[1] dense<[0]>\n  %t = constant i64[1] dense<[-1]>\n")),
                  "SliceGrad"));
}

TEST(GradTensor, GatherEmbeddingTable) {
  // Embedding lookup: constant indices with repeats and a negative index; the table gradient
  // is a scatter-add.
  EXPECT_GT(check_gradients(R"(graph @g () -> (%y) {
  %t = param f64[5,3] dense<0.0>
  %i = constant i64[2,3] dense<[0, 4, 4, 1, -1, 2]>
  %y = Gather(%t, %i) {axis = 0}
})", probes(15)), 0);
  // Indices as a graph input (token ids), int32, and axis 1 with a scalar index.
  TensorData ids(DType::I32, {4});
  for (int i = 0; i < 4; ++i) ids.data<int32_t>()[i] = (3 * i + 1) % 6;
  gradcheck::Options o;
  o.inputs = {ids};
  o.max_probes = 18;
  EXPECT_GT(check_gradients(R"(graph @g (%ids: i32[4]) -> (%y) {
  %t = param f64[6,3] dense<0.0>
  %y = Gather(%t, %ids)
})", o), 0);
  EXPECT_GT(check_gradients(R"(graph @g () -> (%y) {
  %t = param f64[2,4,3] dense<0.0>
  %i = constant i64[] dense<-2>
  %y = Gather(%t, %i) {axis = 1}
})"), 0);
}

// dx of the node computing %y for a given dy (the rule alone, interpreted).
TensorData rule_dx(const std::string& text, const TensorData& dy, size_t input = 0) {
  auto g = parse_graph(text, "t");
  passes::PassContext ctx;
  passes::PassRegistry::instance().find("shape-inference")->run(*g, ctx);
  Value* dyv = g->add_value("dy", dy.dtype, dy.shape);
  dyv->has_shape = true;
  g->inputs.push_back(dyv);
  const Node* n = g->nodes().back().get();
  std::vector<bool> needs(n->inputs.size(), false);
  needs[input] = true;
  GradContext c(*g, *n, {dyv}, needs);
  n->def->grad(c);
  EXPECT_NE(c.dxs()[input], nullptr);
  g->outputs = {c.dxs()[input]};
  std::vector<TensorData> ins;
  for (const Value* v : g->inputs)
    if (v != dyv) ins.emplace_back(v->dtype, v->shape);
  ins.push_back(dy);
  return interpret(*g, ins)[0];
}

TEST(GradTensor, GatherPaddingRowLikePyTorch) {
  // PyTorch's Embedding(padding_idx = 0) exports a table whose row 0 is zero and never
  // updated: exactly one all-zero row of a trainable table gets no gradient. Two zero rows
  // (e.g. new zero-initialized words) are ordinary rows.
  TensorData dy(DType::F64, {4, 2});
  for (int i = 0; i < 8; ++i) dy.data<double>()[i] = i + 1;
  const char* one = R"(graph @g () -> (%y) {
  %t = param f64[3,2] dense<[0.0, 0.0, 1.0, 2.0, 3.0, 4.0]>
  %i = constant i64[4] dense<[0, 2, 0, 1]>
  %y = Gather(%t, %i)
})";
  TensorData r = rule_dx(one, dy);
  const double want1[] = {0, 0, 7, 8, 3, 4};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(r.get_f64(i), want1[i]) << i;
  const char* two = R"(graph @g () -> (%y) {
  %t = param f64[3,2] dense<[0.0, 0.0, 0.0, 0.0, 3.0, 4.0]>
  %i = constant i64[4] dense<[0, 2, 0, 1]>
  %y = Gather(%t, %i)
})";
  r = rule_dx(two, dy);
  const double want2[] = {6, 8, 7, 8, 3, 4};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(r.get_f64(i), want2[i]) << i;
}

TEST(GradTensor, Pad) {
  // Constant mode: pads, crops (negative pads) and both; the constant value as a parameter.
  for (const char* pads : {"[1, 0, 2, 1]", "[0, -1, -1, 2]", "[-1, -2, 0, 0]"}) {
    std::string ir = fmt::format(R"(graph @g () -> (%y) {{
  %x = param f64[3,4] dense<0.0>
  %v = param f64[] dense<0.0>
  %p = constant i64[4] dense<{}>
  %y = Pad(%x, %p, %v) {{mode = "constant"}}
}})", pads);
    SCOPED_TRACE(ir);
    EXPECT_GT(check_gradients(ir), 0);
  }
  // Reflect, edge and wrap (tinyodlc::PadGrad), with axes and pads wider than the input
  // (reflect and wrap then read elements several times).
  for (const char* mode : {"reflect", "edge", "wrap"}) {
    std::string ir = fmt::format(R"(graph @g () -> (%y) {{
  %x = param f64[2,3,3] dense<0.0>
  %p = constant i64[4] dense<[2, 4, 1, 5]>
  %a = constant i64[2] dense<[-1, 1]>
  %y = Pad(%x, %p, _, %a) {{mode = "{}"}}
}})", mode);
    SCOPED_TRACE(ir);
    EXPECT_GT(check_gradients(ir, probes(18)), 0);
    EXPECT_TRUE(has(backward_ops(ir), "PadGrad"));
  }
}

TEST(GradTensor, ExpandAndTile) {
  EXPECT_GT(check_gradients(unary_graph("[3,1]", "Expand(%x, %s)", "  %s = constant i64[3] dense<[2, 3, 4]>\n")), 0);
  EXPECT_GT(check_gradients(unary_graph("[1,4]", "Expand(%x, %s)", "  %s = constant i64[1] dense<[4]>\n")), 0);
  EXPECT_GT(check_gradients(unary_graph("[2,3]", "Tile(%x, %r)", "  %r = constant i64[2] dense<[2, 3]>\n")), 0);
  EXPECT_GT(check_gradients(unary_graph("[2,1,3]", "Tile(%x, %r)", "  %r = constant i64[3] dense<[1, 4, 2]>\n")), 0);
  EXPECT_GT(check_gradients(unary_graph("[2,3]", "Tile(%x, %r)", "  %r = constant i64[2] dense<[1, 1]>\n")), 0);
}

TEST(GradTensor, Reductions) {
  struct Case { const char* axes; int keepdims; int noop; };
  const Case cases[] = {{"[1]", 1, 0}, {"[-1]", 0, 0}, {"[0, 2]", 1, 0}, {"[2, 0]", 0, 0},
                        {"", 0, 0},    {"", 1, 1}};  // all axes; noop_with_empty_axes
  for (const char* op : {"ReduceSum", "ReduceMean", "ReduceL2", "ReduceSumSquare", "ReduceL1", "ReduceLogSum",
                         "ReduceLogSumExp", "ReduceMax", "ReduceMin"}) {
    for (const Case& k : cases) {
      std::string extra, node;
      const int n_axes = *k.axes ? static_cast<int>(std::count(k.axes, k.axes + strlen(k.axes), ',') + 1) : 0;
      if (n_axes) extra = fmt::format("  %a = constant i64[{}] dense<{}>\n", n_axes, k.axes);
      node = fmt::format("{}(%x{}) {{keepdims = {}, noop_with_empty_axes = {}}}", op, n_axes ? ", %a" : "", k.keepdims,
                         k.noop);
      std::string ir = unary_graph("[2,3,4]", node, extra);
      SCOPED_TRACE(ir);
      gradcheck::Options o;
      // LogSum needs a positive sum; L1 and L2 are not differentiable at 0.
      if (std::string(op) == "ReduceLogSum" || std::string(op) == "ReduceL1") o.lo = 0.2, o.hi = 1.0;
      EXPECT_GT(check_gradients(ir, o), 0);
    }
  }
}

TEST(GradTensor, ReduceMaxTiesShareTheGradient) {
  // Rows [1, 3, 3, 2] and [0, -1, 5, 5]: tied maxima share dy evenly (as torch.amax does).
  auto ops = backward_ops(R"(graph @g () -> (%y) {
  %x = param f64[2,4] dense<[1.0, 3.0, 3.0, 2.0, 0.0, -1.0, 5.0, 5.0]>
  %a = constant i64[1] dense<[1]>
  %y = ReduceMax(%x, %a) {keepdims = 0}
})");
  EXPECT_TRUE(has(ops, "Equal"));
  TensorData dy(DType::F64, {2});
  dy.data<double>()[0] = 1.0;
  dy.data<double>()[1] = 4.0;
  TensorData r = rule_dx(R"(graph @g () -> (%y) {
  %x = param f64[2,4] dense<[1.0, 3.0, 3.0, 2.0, 0.0, -1.0, 5.0, 5.0]>
  %a = constant i64[1] dense<[1]>
  %y = ReduceMax(%x, %a) {keepdims = 0}
})", dy);
  const double want[] = {0, 0.5, 0.5, 0, 0, 0, 2, 2};
  for (int i = 0; i < 8; ++i) EXPECT_EQ(r.get_f64(i), want[i]) << i;
}

TEST(GradTensor, CumSum) {
  for (int exclusive = 0; exclusive < 2; ++exclusive)
    for (int reverse = 0; reverse < 2; ++reverse)
      for (const char* axis : {"1", "-3"}) {
        std::string ir = unary_graph("[3,4,2]",
                                     fmt::format("CumSum(%x, %a) {{exclusive = {}, reverse = {}}}", exclusive, reverse),
                                     fmt::format("  %a = constant i64[] dense<{}>\n", axis));
        SCOPED_TRACE(ir);
        EXPECT_GT(check_gradients(ir), 0);
      }
}

TEST(GradTensor, CastDropoutIdentity) {
  // float -> double -> float round trip (checked in f32: the graph's output is f32).
  EXPECT_GT(check_gradients(R"(graph @g () -> (%y) {
  %x = param f32[2,3] dense<0.0>
  %d = Cast(%x) {to = 11}
  %e = Mul(%d, %d)
  %y = Cast(%e) {to = 1}
})"), 0);
  EXPECT_GT(check_gradients(R"(graph @g () -> (%y) {
  %x = param f64[2,3] dense<0.0>
  %l = constant f64[] dense<0.0>
  %d = Cast(%x) {to = 11}
  %e = CastLike(%d, %l)
  %i = Identity(%e)
  %y, %m = Dropout(%i)
})"), 0);
  // A cast to an integer type carries no gradient: the parameter reaches the loss through the
  // float path only.
  EXPECT_GT(check_gradients(R"(graph @g () -> (%y) {
  %x = param f64[4] dense<0.0>
  %i = Cast(%x) {to = 7}
  %f = Cast(%i) {to = 11}
  %y = Add(%x, %f)
})"), 0);
}

TEST(GradTensor, WhereRoutesToTheSelectedBranch) {
  EXPECT_GT(check_gradients(R"(graph @g () -> (%y) {
  %c = constant bool[3,1] dense<[true, false, true]>
  %a = param f64[3,4] dense<0.0>
  %b = param f64[4] dense<0.0>
  %y = Where(%c, %a, %b)
})"), 0);
  // Condition computed at run time from an input (EmbBERT-Q's segment-id masks).
  EXPECT_GT(check_gradients(R"(graph @g (%u: f64[2,3]) -> (%y) {
  %z = constant f64[] dense<0.0>
  %c = Greater(%u, %z)
  %a = param f64[2,3] dense<0.0>
  %y = Where(%c, %z, %a)
})"), 0);
}

TEST(GradTensor, VariadicSumMeanMaxMin) {
  for (const char* op : {"Sum", "Mean", "Max", "Min"}) {
    std::string ir = fmt::format(R"(graph @g () -> (%y) {{
  %a = param f64[2,3] dense<0.0>
  %b = param f64[3] dense<0.0>
  %c = param f64[2,1] dense<0.0>
  %y = {}(%a, %b, %c)
}})", op);
    SCOPED_TRACE(ir);
    EXPECT_GT(check_gradients(ir), 0);
    EXPECT_GT(check_gradients(unary_graph("[4]", fmt::format("{}(%x)", op))), 0);
  }
}

TEST(GradTensor, EmbeddingRmsNormLikeEmbBert) {
  // EmbBERT-Q's embedder and RMSNorm as exported (Gather on trainable tables, Expand of the
  // positions, Pow/ReduceMean/Add/Sqrt/Div/Mul), then a Transpose and a Slice.
  TensorData ids(DType::I64, {1, 4});
  const int64_t tok[] = {3, 1, 3, 0};
  for (int i = 0; i < 4; ++i) ids.data<int64_t>()[i] = tok[i];
  gradcheck::Options o;
  o.inputs = {ids};
  EXPECT_GT(check_gradients(R"(graph @g (%ids: i64[1,4]) -> (%y) {
  %tok = param f64[5,3] dense<0.0>
  %pos = param f64[4,3] dense<0.0>
  %gain = param f64[3] dense<0.0>
  %r = constant i64[4] dense<[0, 1, 2, 3]>
  %s = constant i64[2] dense<[1, 4]>
  %p = Expand(%r, %s)
  %te = Gather(%tok, %ids)
  %pe = Gather(%pos, %p)
  %e = Add(%te, %pe)
  %two = constant f64[] dense<2.0>
  %sq = Pow(%e, %two)
  %ax = constant i64[1] dense<[-1]>
  %ms = ReduceMean(%sq, %ax) {keepdims = 1}
  %eps = constant f64[] dense<1e-6>
  %v = Add(%ms, %eps)
  %rt = Sqrt(%v)
  %n = Div(%e, %rt)
  %h = Mul(%n, %gain)
  %t = Transpose(%h) {perm = [0, 2, 1]}
  %st = constant i64[1] dense<[1]>
  %en = constant i64[1] dense<[4]>
  %a2 = constant i64[1] dense<[2]>
  %y = Slice(%t, %st, %en, %a2)
})", o), 0);
}

TEST(GradTensor, UnsupportedIsAPreciseError) {
  auto expect_error = [](const std::string& text, const std::string& what) {
    try {
      backward_ops(text);
      ADD_FAILURE() << "expected an error containing: " << what;
    } catch (const CompileError& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  expect_error(unary_graph("[2,3]", "ReduceProd(%x) name(\"prod\")"),
               "node 'prod' (ReduceProd): cannot backpropagate through ReduceProd");
  // Tiling 5 axes of a rank-5 tensor would need a rank-10 reduction.
  expect_error(unary_graph("[1,1,1,1,1]", "Tile(%x, %r) name(\"tile\")",
                           "  %r = constant i64[5] dense<[2, 2, 2, 2, 2]>\n"),
               "node 'tile' (Tile): gradient: tiling 5 axes of a rank-5 tensor needs rank 10 (maximum 8)");
}
