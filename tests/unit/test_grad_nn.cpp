// Over 500 lines on purpose: one test case per behaviour of one layer (a catalogue read by
// section); splitting it would only scatter the cases of the same OpDefs / importer.
// Gradient rules of the NN family (conv, pooling, normalization, softmax, activations and the
// unary elementwise ops, Clip, Pow), checked against central finite differences in double
// precision (grad_check.h), plus the structure of what the rules emit.
#include "grad_check.h"

#include <filesystem>

#include "compiler/driver.h"
#include "frontend/tensor_proto.h"

#include "ir/op_registry.h"
#include "ir/verifier.h"

using gradcheck::check_gradients;
using namespace tinyodlc;
using namespace tinyodlc::ir;

namespace {

gradcheck::Options range(double lo, double hi) {
  gradcheck::Options o;
  o.lo = lo;
  o.hi = hi;
  return o;
}

// Runs shape-inference + autodiff + dce on `ir` (params trainable, mse loss) and returns the
// training graph, for structural checks.
std::unique_ptr<Graph> backward_graph(const std::string& ir) {
  auto g = parse_graph(ir, "t");
  passes::PassContext ctx;
  passes::TrainingOptions t;
  t.trainable = {"(unused)"};
  t.loss = "mse";
  ctx.training = &t;
  for (const char* p : {"shape-inference", "autodiff", "dce"}) passes::PassRegistry::instance().find(p)->run(*g, ctx);
  verify(*g);
  return g;
}

int count_ops(const Graph& g, const std::string& op) {
  int k = 0;
  for (const auto& n : g.nodes()) k += n->op == op;
  return k;
}

}  // namespace

// ---- unary elementwise ---------------------------------------------------------------------

TEST(GradNN, UnaryActivations) {
  struct Case {
    const char* op;
    const char* attrs;
    double lo, hi;
  };
  const Case cases[] = {
      {"Relu", "", -1, 1},
      {"LeakyRelu", "{alpha = 0.1}", -1, 1},
      {"LeakyRelu", "", -1, 1},
      {"Sigmoid", "", -3, 3},
      {"Tanh", "", -2, 2},
      {"Exp", "", -2, 2},
      {"Log", "", 0.2, 3},
      {"Sqrt", "", 0.2, 3},
      {"Erf", "", -2, 2},
      {"Gelu", "", -3, 3},
      {"Gelu", "{approximate = \"tanh\"}", -3, 3},
      {"Neg", "", -1, 1},
      {"Abs", "", -1, 1},
      {"Reciprocal", "", 0.3, 2},
      {"HardSigmoid", "{alpha = 0.3, beta = 0.4}", -4, 4},
      {"HardSigmoid", "", -4, 4},
      {"HardSwish", "", -5, 5},
      {"Softplus", "", -3, 3},
      {"Elu", "{alpha = 0.7}", -2, 2},
  };
  for (const Case& k : cases) {
    // Many elements so that every branch (e.g. both sides of Relu, all three HardSwish
    // pieces) is probed.
    std::string ir = fmt::format(R"(graph @g () -> (%y) {{
  %p = param f64[4,10] dense<0.0>
  %y = {}(%p) {}
}})", k.op, k.attrs);
    SCOPED_TRACE(ir);
    gradcheck::Options o = range(k.lo, k.hi);
    o.max_probes = 40;
    EXPECT_EQ(check_gradients(ir, o), 40);
  }
}

TEST(GradNN, SiluAsExported) {
  // x * Sigmoid(x): the gradient of a value used twice (Mul and Sigmoid).
  EXPECT_GT(check_gradients(R"(graph @g (%x: f64[2,6]) -> (%y) {
  %w = param f64[6] dense<0.0>
  %h = Mul(%x, %w)
  %s = Sigmoid(%h)
  %y = Mul(%h, %s)
})", range(-3, 3)), 0);
}

TEST(GradNN, ErfGeluAsExported) {
  // PyTorch (opset < 20) exports Gelu as x * 0.5 * (1 + Erf(x / sqrt 2)).
  EXPECT_GT(check_gradients(R"(graph @g () -> (%y) {
  %x = param f64[3,5] dense<0.0>
  %c = constant f64[] dense<1.4142135623730951>
  %half = constant f64[] dense<0.5>
  %one = constant f64[] dense<1.0>
  %d = Div(%x, %c)
  %e = Erf(%d)
  %a = Add(%e, %one)
  %m = Mul(%x, %a)
  %y = Mul(%m, %half)
})", range(-2, 2)), 0);
}

TEST(GradNN, UnaryGradIsOneFusedKernelOnTheOutput) {
  // Sigmoid's gradient reads the saved output, not the input (which can then be freed).
  auto g = backward_graph(R"(graph @g (%x: f32[2,3]) -> (%y) {
  %w = param f32[2,3] dense<0.5>
  %h = Add(%x, %w)
  %y = Sigmoid(%h)
})");
  int found = 0;
  for (const auto& n : g->nodes())
    if (n->op == "UnaryGrad") {
      ++found;
      EXPECT_EQ(n->attr_string_or("op", ""), "Sigmoid");
      EXPECT_EQ(n->inputs[1]->name, "y");
    }
  EXPECT_EQ(found, 1);
}

TEST(GradNN, ClipInputsAndBounds) {
  // x and both (trainable) bounds; bounds as rank-0 and [1] tensors; absent min.
  EXPECT_GT(check_gradients(R"(graph @g () -> (%y) {
  %x = param f64[2,4] dense<[-0.9, -0.5, -0.3, 0.1, 0.45, 0.6, 0.8, -0.45]>
  %lo = param f64[] dense<-0.4>
  %hi = param f64[1] dense<0.5>
  %y = Clip(%x, %lo, %hi)
})", [] {
    gradcheck::Options o;
    o.randomize_params = false;  // keep lo < hi, with elements beyond each bound
    return o;
  }()), 0);
  gradcheck::Options o = range(-1, 1);
  o.max_probes = 24;
  EXPECT_EQ(check_gradients(R"(graph @g () -> (%y) {
  %x = param f64[3,8] dense<0.0>
  %hi = constant f64[] dense<0.3>
  %y = Clip(%x, _, %hi)
})", o), 24);
  EXPECT_EQ(check_gradients(R"(graph @g () -> (%y) {
  %x = param f64[3,8] dense<0.0>
  %lo = constant f64[] dense<-0.2>
  %hi = constant f64[] dense<0.3>
  %y = Clip(%x, %lo, %hi)
})", o), 24);
}

TEST(GradNN, PowConstantAndTensorExponent) {
  // x^2 (RMSNorm exports), x^3, x^0.5, x^1, a broadcast tensor exponent, and both inputs
  // trainable with broadcasting.
  for (const char* e : {"2.0", "3.0", "0.5", "1.0", "-1.5"}) {
    std::string ir = fmt::format(R"(graph @g () -> (%y) {{
  %x = param f64[2,5] dense<0.0>
  %e = constant f64[] dense<{}>
  %y = Pow(%x, %e)
}})", e);
    SCOPED_TRACE(ir);
    EXPECT_GT(check_gradients(ir, range(0.3, 2)), 0);
  }
  EXPECT_GT(check_gradients(R"(graph @g () -> (%y) {
  %x = param f64[2,3] dense<0.0>
  %e = constant f64[3] dense<[2.0, 0.5, 3.0]>
  %y = Pow(%x, %e)
})", range(0.3, 2)), 0);
  EXPECT_GT(check_gradients(R"(graph @g () -> (%y) {
  %x = param f64[2,3] dense<0.0>
  %e = param f64[3] dense<0.0>
  %y = Pow(%x, %e)
})", range(0.3, 2)), 0);
  // Zeros as PyTorch where the formulas give 0 * inf: d/db at a = 0 (b > 0), d/da for a zero
  // exponent (constant, per element, or trainable) at a = 0.
  gradcheck::Options keep;
  keep.randomize_params = false;
  EXPECT_GT(check_gradients(R"(graph @g () -> (%y) {
  %x = constant f64[2,3] dense<[0.0, 0.5, 1.5, 0.0, 2.0, 0.7]>
  %e = param f64[3] dense<[0.5, 1.5, 2.5]>
  %y = Pow(%x, %e)
})", keep), 0);
  for (const char* e : {"constant f64[] dense<0.0>", "constant f64[3] dense<[0.0, 1.0, 2.0]>",
                        "param f64[3] dense<[0.0, 1.5, 2.0]>"}) {
    std::string ir = fmt::format(R"(graph @g () -> (%y) {{
  %x = param f64[2,3] dense<[0.0, 0.5, 1.5, 0.0, 2.0, 0.7]>
  %e = {}
  %y = Pow(%x, %e)
}})", e);
    SCOPED_TRACE(ir);
    // x = 0 only where the exponent is 0 (column 0).
    EXPECT_GT(check_gradients(ir, keep), 0);
  }
  // f32 base with an int64 constant exponent (mixed types).
  EXPECT_GT(check_gradients(R"(graph @g () -> (%y) {
  %x = param f32[2,3] dense<0.0>
  %e = constant i64[] dense<3>
  %y = Pow(%x, %e)
})", range(0.5, 1.5)), 0);
}

TEST(GradNN, PowSquareIsFolded) {
  // Pow(x, 2)'s gradient has no Pow: dy * (x + x).
  auto g = backward_graph(R"(graph @g () -> (%y) {
  %x = param f32[2,3] dense<0.5>
  %e = constant f32[] dense<2.0>
  %y = Pow(%x, %e)
})");
  EXPECT_EQ(count_ops(*g, "Pow"), 1);  // the forward one
}

// ---- Softmax / LogSoftmax ------------------------------------------------------------------

TEST(GradNN, SoftmaxAxes) {
  // opset >= 13: one axis (last, middle, first, negative); opset < 13: coerced to 2-D at axis
  // (default 1), so the normalized extent spans all trailing dims.
  const char* variants[] = {"{axis = -1}", "{axis = 1}", "{axis = 0}", "", "{axis = -2}",
                            "{axis = 1} opset(11)", "opset(11)", "{axis = 2} opset(11)", "{axis = 0} opset(1)"};
  for (const char* op : {"Softmax", "LogSoftmax"})
    for (const char* v : variants) {
      std::string ir = fmt::format(R"(graph @g () -> (%y) {{
  %x = param f64[2,3,4] dense<0.0>
  %y = {}(%x) {}
}})", op, v);
      SCOPED_TRACE(ir);
      EXPECT_GT(check_gradients(ir, range(-2, 2)), 0);
    }
}

TEST(GradNN, AttentionSoftmax) {
  // EmbBERT-Q-style scores: MatMul -> Softmax(-1) -> MatMul, query weights trainable.
  EXPECT_GT(check_gradients(R"(graph @g (%x: f64[1,4,3]) -> (%y) {
  %wq = param f64[3,3] dense<0.0>
  %kt = constant f64[1,3,4] dense<[0.1, -0.2, 0.3, 0.4, 0.5, -0.6, 0.7, 0.2, -0.1, 0.3, 0.2, -0.5]>
  %q = MatMul(%x, %wq)
  %s = MatMul(%q, %kt)
  %p = Softmax(%s) {axis = -1}
  %y = MatMul(%p, %x)
})"), 0);
}

// ---- Conv / ConvTranspose ------------------------------------------------------------------

TEST(GradNN, ConvVariants) {
  // X, W and B all trainable: dX (ConvTranspose of dY), dW (ConvGradWeight), dB (ReduceSum).
  struct Case {
    const char* x;
    const char* w;
    const char* attrs;
  };
  const Case cases[] = {
      {"[2,2,5,6]", "[3,2,3,3]", "{pads = [1, 1, 1, 1]}"},
      {"[1,2,7,6]", "[3,2,3,2]", "{strides = [2, 2], pads = [1, 0, 2, 1]}"},  // rows the windows miss
      {"[1,2,7,7]", "[2,2,3,3]", "{dilations = [2, 1], strides = [1, 2], pads = [2, 1, 0, 1]}"},
      {"[1,4,5,5]", "[6,2,3,3]", "{group = 2, pads = [1, 1, 1, 1], strides = [2, 2]}"},
      {"[2,3,5,5]", "[3,1,3,3]", "{group = 3, pads = [1, 1, 1, 1]}"},  // depthwise
      {"[1,2,6,6]", "[4,1,3,3]", "{group = 2, strides = [2, 2], pads = [1, 1, 1, 1]}"},  // depthwise x2
      {"[1,2,6,5]", "[2,2,3,3]", "{auto_pad = \"SAME_UPPER\", strides = [2, 2]}"},
      {"[1,2,6,5]", "[2,2,2,3]", "{auto_pad = \"SAME_LOWER\"}"},
      {"[1,2,6,5]", "[2,2,1,1]", "{}"},  // pointwise
      {"[2,3,9]", "[4,3,3]", "{strides = [2], pads = [1, 2], dilations = [2]}"},  // 1-D
      {"[1,4,16]", "[4,1,8]", "{group = 4, pads = [7, 7]}"},  // EmbBERT-Q's causal depthwise 1-D conv
      {"[1,2,4,4,3]", "[2,1,2,3,2]", "{group = 2, strides = [1, 2, 1], pads = [0, 1, 1, 1, 0, 0]}"},  // 3-D
  };
  for (const Case& k : cases) {
    std::string w = k.w;
    const std::string m = w.substr(1, w.find(',') - 1);
    std::string ir = fmt::format(R"(graph @g () -> (%y) {{
  %x = param f64{} dense<0.0>
  %w = param f64{} dense<0.0>
  %b = param f64[{}] dense<0.0>
  %y = Conv(%x, %w, %b) {}
}})", k.x, k.w, m, k.attrs);
    SCOPED_TRACE(ir);
    EXPECT_GT(check_gradients(ir), 0);
  }
}

TEST(GradNN, ConvWeightOnlyHasNoInputGradient) {
  // A first layer fed by the graph input: only dW and dB are computed.
  auto g = backward_graph(R"(graph @g (%x: f32[1,2,5,5]) -> (%y) {
  %w = param f32[3,2,3,3] dense<0.1>
  %b = param f32[3] dense<0.0>
  %y = Conv(%x, %w, %b) {pads = [1, 1, 1, 1]}
})");
  EXPECT_EQ(count_ops(*g, "ConvGradWeight"), 1);
  EXPECT_EQ(count_ops(*g, "ConvTranspose"), 0);
  EXPECT_EQ(count_ops(*g, "ReduceSum"), 1);
}

TEST(GradNN, ConvTransposeVariants) {
  struct Case {
    const char* x;
    const char* w;
    const char* attrs;
    int m;
  };
  const Case cases[] = {
      {"[1,2,3,3]", "[2,3,3,3]", "{strides = [2, 2], pads = [1, 1, 0, 0], output_padding = [1, 1]}", 3},
      {"[2,4,3,2]", "[4,1,2,2]", "{group = 2, strides = [2, 1], dilations = [1, 2]}", 2},
      {"[1,3,5]", "[3,2,3]", "{strides = [3], pads = [1, 0], output_padding = [2]}", 2},  // 1-D
      {"[1,2,3,3]", "[2,2,3,3]", "{strides = [2, 2], output_shape = [6, 5]}", 2},
  };
  for (const Case& k : cases) {
    std::string ir = fmt::format(R"(graph @g () -> (%y) {{
  %x = param f64{} dense<0.0>
  %w = param f64{} dense<0.0>
  %b = param f64[{}] dense<0.0>
  %y = ConvTranspose(%x, %w, %b) {}
}})", k.x, k.w, k.m, k.attrs);
    SCOPED_TRACE(ir);
    EXPECT_GT(check_gradients(ir), 0);
  }
}

// ---- pooling -------------------------------------------------------------------------------

TEST(GradNN, MaxPoolVariants) {
  const char* cases[][2] = {
      {"[2,2,4,6]", "{kernel_shape = [2, 2], strides = [2, 2]}"},
      {"[1,2,5,5]", "{kernel_shape = [3, 3], strides = [2, 2], pads = [1, 1, 1, 1]}"},
      {"[1,1,5,6]", "{kernel_shape = [3, 2]}"},  // overlapping windows: gradients add up
      {"[1,2,7,7]", "{kernel_shape = [2, 2], dilations = [2, 2], strides = [2, 1]}"},
      {"[1,2,5,5]", "{kernel_shape = [2, 2], strides = [2, 2], ceil_mode = 1}"},
      {"[1,2,6,6]", "{kernel_shape = [3, 3], strides = [3, 3]}"},
      {"[2,3,9]", "{kernel_shape = [3], strides = [2], pads = [1, 1]}"},  // 1-D
      {"[1,1,4,5]", "{kernel_shape = [3, 3], auto_pad = \"SAME_UPPER\", strides = [2, 2]}"},
  };
  for (auto& k : cases) {
    std::string ir = fmt::format(R"(graph @g () -> (%y) {{
  %x = param f64{} dense<0.0>
  %y = MaxPool(%x) {}
}})", k[0], k[1]);
    SCOPED_TRACE(ir);
    gradcheck::Options o;
    o.max_probes = 30;
    EXPECT_GT(check_gradients(ir, o), 0);
  }
}

TEST(GradNN, AveragePoolVariants) {
  const char* cases[][2] = {
      {"[2,2,4,6]", "{kernel_shape = [2, 2], strides = [2, 2]}"},
      {"[1,2,5,5]", "{kernel_shape = [3, 3], strides = [2, 2], pads = [1, 1, 1, 1]}"},
      {"[1,2,5,5]", "{kernel_shape = [3, 3], strides = [2, 2], pads = [1, 1, 1, 1], count_include_pad = 1}"},
      {"[1,2,5,6]", "{kernel_shape = [2, 3], strides = [2, 2], ceil_mode = 1}"},
      {"[1,2,5,6]", "{kernel_shape = [3, 3], strides = [2, 2], pads = [1, 0, 1, 1], ceil_mode = 1, count_include_pad = 1}"},
      {"[1,1,7,7]", "{kernel_shape = [2, 2], dilations = [2, 2], strides = [1, 2]}"},
      {"[2,3,9]", "{kernel_shape = [4], strides = [2], pads = [2, 1], count_include_pad = 1}"},  // 1-D
      {"[1,1,4,5]", "{kernel_shape = [3, 3], auto_pad = \"SAME_LOWER\", strides = [2, 2]}"},
  };
  for (auto& k : cases) {
    std::string ir = fmt::format(R"(graph @g () -> (%y) {{
  %x = param f64{} dense<0.0>
  %y = AveragePool(%x) {}
}})", k[0], k[1]);
    SCOPED_TRACE(ir);
    gradcheck::Options o;
    o.max_probes = 30;
    EXPECT_GT(check_gradients(ir, o), 0);
  }
}

TEST(GradNN, GlobalPools) {
  for (const char* op : {"GlobalAveragePool", "GlobalMaxPool"})
    for (const char* shape : {"[2,3,4,5]", "[1,2,7]", "[1,2,2,3,2]"}) {
      std::string ir = fmt::format(R"(graph @g () -> (%y) {{
  %x = param f64{} dense<0.0>
  %y = {}(%x)
}})", shape, op);
      SCOPED_TRACE(ir);
      gradcheck::Options o;
      o.max_probes = 14;
      EXPECT_EQ(check_gradients(ir, o), 14);
    }
}

namespace {
// The first-step gradient of each parameter of `ir` (mse loss against a zero target).
std::vector<TensorData> gradients(const std::string& ir) {
  auto g = parse_graph(ir, "t");
  passes::PassContext ctx;
  passes::TrainingOptions t;
  t.trainable = {"(unused)"};
  t.loss = "mse";
  ctx.training = &t;
  for (const char* p : {"shape-inference", "autodiff", "dce"}) passes::PassRegistry::instance().find(p)->run(*g, ctx);
  std::vector<TensorData> inputs;
  for (Value* v : g->inputs) inputs.emplace_back(v->dtype, v->shape);  // zeros
  for (const auto& n : g->nodes())
    if (n->op == "AccumulateGrad") g->outputs.push_back(n->outputs[0]);
  std::vector<TensorData> r = interpret(*g, inputs);
  r.erase(r.begin());
  return r;
}
}  // namespace

TEST(GradNN, MaxPoolTiesGoToTheFirstMaximum) {
  // Windows {3, 3 / 3, 0} and {1, 7 / 7, 7} (and a GlobalMaxPool over 3, 7, 7): PyTorch gives
  // the whole gradient to the first maximum in scan order.
  auto g = gradients(R"(graph @g () -> (%y) {
  %x = param f32[1,1,2,4] dense<[3.0, 3.0, 1.0, 7.0, 3.0, 0.0, 7.0, 7.0]>
  %y = MaxPool(%x) {kernel_shape = [2, 2], strides = [2, 2]}
})");
  ASSERT_EQ(g.size(), 1u);
  std::vector<float> dx(g[0].data<float>(), g[0].data<float>() + 8);
  // loss = mean((y - 0)^2) over 2 outputs: dy = y
  EXPECT_EQ(dx, (std::vector<float>{3, 0, 0, 7, 0, 0, 0, 0}));
  auto gg = gradients(R"(graph @g () -> (%y) {
  %x = param f32[1,1,3] dense<[3.0, 7.0, 7.0]>
  %y = GlobalMaxPool(%x)
})");
  std::vector<float> gdx(gg[0].data<float>(), gg[0].data<float>() + 3);
  EXPECT_EQ(gdx, (std::vector<float>{0, 14, 0}));
}

// ---- normalization ---------------------------------------------------------------------------

TEST(GradNN, BatchNormInferenceMode) {
  // dX, dscale, dB with running statistics as constants, for [N, C, H, W], [N, C, L] and [N, C].
  for (const char* x : {"[2,3,2,3]", "[2,3,4]", "[4,3]"}) {
    std::string ir = fmt::format(R"(graph @g () -> (%y) {{
  %x = param f64{} dense<0.0>
  %s = param f64[3] dense<0.0>
  %b = param f64[3] dense<0.0>
  %m = constant f64[3] dense<[0.1, -0.2, 0.3]>
  %v = constant f64[3] dense<[0.5, 1.5, 0.8]>
  %y = BatchNormalization(%x, %s, %b, %m, %v) {{epsilon = 0.01}}
}})", x);
    SCOPED_TRACE(ir);
    EXPECT_GT(check_gradients(ir), 0);
  }
  // Running statistics trainable too (var kept positive).
  EXPECT_GT(check_gradients(R"(graph @g () -> (%y) {
  %x = param f64[2,3,4] dense<0.0>
  %s = param f64[3] dense<0.0>
  %b = constant f64[3] dense<[0.1, 0.2, 0.3]>
  %m = param f64[3] dense<0.0>
  %v = param f64[3] dense<0.0>
  %y = BatchNormalization(%x, %s, %b, %m, %v)
})", range(0.5, 1.5)), 0);
  // Frozen BatchNorm between a trainable conv and the loss: dX only, one Mul by a folded
  // constant (scale / sqrt(var + eps)).
  const char* frozen = R"(graph @g (%in: f64[1,2,4,4]) -> (%y) {
  %w = param f64[3,2,3,3] dense<0.0>
  %x = Conv(%in, %w) {pads = [1, 1, 1, 1]}
  %s = constant f64[3] dense<[0.5, -1.5, 2.0]>
  %b = constant f64[3] dense<[0.1, 0.2, 0.3]>
  %m = constant f64[3] dense<[0.1, -0.2, 0.3]>
  %v = constant f64[3] dense<[0.5, 1.5, 0.8]>
  %y = BatchNormalization(%x, %s, %b, %m, %v)
})";
  EXPECT_GT(check_gradients(frozen), 0);
  auto g = backward_graph(frozen);
  EXPECT_EQ(count_ops(*g, "BatchNormGrad"), 0);
}

TEST(GradNN, TrainingModeBatchNormIsAPreciseError) {
  try {
    backward_graph(R"(graph @g () -> (%y) {
  %x = param f32[2,3,4] dense<0.5>
  %s = constant f32[3] dense<1.0>
  %b = constant f32[3] dense<0.0>
  %m = constant f32[3] dense<0.0>
  %v = constant f32[3] dense<1.0>
  %y = BatchNormalization(%x, %s, %b, %m, %v) {training_mode = 1} name("bn")
})");
    FAIL() << "expected an error";
  } catch (const CompileError& e) {
    EXPECT_NE(std::string(e.what()).find("node 'bn' (BatchNormalization): cannot backpropagate through training-mode"),
              std::string::npos)
        << e.what();
  }
}

TEST(GradNN, LayerNormVariants) {
  struct Case {
    const char* x;
    const char* scale;
    const char* bias;  // "" = no bias
    const char* attrs;
  };
  const Case cases[] = {
      {"[2,3,4]", "[4]", "[4]", ""},
      {"[2,3,4]", "[3,4]", "[3,4]", "{axis = 1}"},
      {"[2,3,4]", "[3,4]", "[1]", "{axis = -2, epsilon = 0.1}"},
      {"[2,3,4]", "[1,4]", "", "{axis = 2}"},
      {"[3,5]", "[1]", "[1]", ""},  // single scale / bias value
  };
  for (const Case& k : cases) {
    std::string bias = *k.bias ? fmt::format("  %b = param f64{} dense<0.0>\n", k.bias) : "";
    std::string ir = fmt::format(R"(graph @g () -> (%y) {{
  %x = param f64{} dense<0.0>
  %s = param f64{} dense<0.0>
{}  %y = LayerNormalization(%x, %s{}) {}
}})", k.x, k.scale, bias, *k.bias ? ", %b" : "", k.attrs);
    SCOPED_TRACE(ir);
    EXPECT_GT(check_gradients(ir), 0);
  }
}

TEST(GradNN, RmsNormAsExported) {
  // x / sqrt(mean(x^2) + eps) * w as PyTorch exports it (Pow, ReduceMean, Add, Sqrt, Div, Mul).
  const OpDef* rm = OpRegistry::instance().find("", "ReduceMean");
  if (!rm || !rm->grad) GTEST_SKIP() << "ReduceMean has no gradient rule yet";
  EXPECT_GT(check_gradients(R"(graph @g () -> (%y) {
  %x = param f64[2,3,4] dense<0.0>
  %w = param f64[4] dense<0.0>
  %two = constant f64[] dense<2.0>
  %eps = constant f64[] dense<1e-5>
  %axes = constant i64[1] dense<[-1]>
  %p = Pow(%x, %two)
  %m = ReduceMean(%p, %axes) {keepdims = 1}
  %a = Add(%m, %eps)
  %r = Sqrt(%a)
  %n = Div(%x, %r)
  %y = Mul(%n, %w)
})"), 0);
}

// ---- whole models against PyTorch autograd ----------------------------------------------------

// The zoo's reference gradients (examples/models/README.md, "Reference gradients"): PyTorch
// autograd of the cross-entropy loss for the last_layer / biases / head2 scenarios. The
// biases scenarios backpropagate through every layer of the model (Conv incl. depthwise and
// 1-D, BatchNorm, Relu, MaxPool, AveragePool, GlobalAveragePool, Softmax, Sigmoid, Pow, Sqrt,
// and the tensor ops of the other families). The training graph is interpreted in float32.
TEST(GradNN, ZooMatchesPyTorchAutograd) {
  namespace fs = std::filesystem;
  struct M {
    const char* path;
    const char* loss_output;
  };
  const M models[] = {{"streamtinynet/stn_t4_gray64_train_op13/stn_t4_gray64_train_op13.onnx", ""},
                      {"streamtinynet/stn_t4_gray64_h_train_op13/stn_t4_gray64_h_train_op13.onnx", ""},
                      {"streamtinynet/stn_t8_rgb48_h_train_op13/stn_t8_rgb48_h_train_op13.onnx", ""},
                      {"tinysv/dscnn_kws_train_op13/dscnn_kws_train_op13.onnx", ""},
                      {"tinysv/kws_train_op13/kws_train_op13.onnx", "logits"},
                      {"embbert_q/embbert_q_small_train_op13/embbert_q_small_train_op13.onnx", ""}};
  int checked = 0;
  for (const M& m : models) {
    const fs::path model = fs::path(TINYODLC_SOURCE_DIR) / "examples/models" / m.path;
    const fs::path ref = model.parent_path() / "grad_ref";
    if (!fs::exists(ref)) continue;
    for (const char* sc : {"last_layer", "biases", "head2"}) {
      SCOPED_TRACE(fmt::format("{} {}", m.path, sc));
      CompileOptions o;
      o.model = model.string();
      o.training.loss_output = m.loss_output;
      std::map<std::string, TensorData> want;
      for (const auto& e : fs::directory_iterator(ref / sc)) {
        auto [name, t] = frontend::load_tensor_pb(e.path().string());
        o.training.trainable.push_back(name);
        want.emplace(name, t);
      }
      std::unique_ptr<Graph> g = import_and_optimize(o);
      std::unique_ptr<Graph> t = build_training_graph(*g, o);
      std::vector<TensorData> inputs;
      for (size_t k = 0; k + 1 < t->inputs.size(); ++k)
        inputs.push_back(frontend::load_tensor_pb((ref / fmt::format("input_{}.pb", k)).string()).second);
      inputs.push_back(frontend::load_tensor_pb((ref / "label.pb").string()).second);
      std::vector<std::string> names;
      for (const auto& n : t->nodes())
        if (n->op == "AccumulateGrad") {
          t->outputs.push_back(n->outputs[0]);
          names.push_back(n->outputs[0]->state_of);
        }
      std::vector<TensorData> res = interpret(*t, inputs);
      const double loss = frontend::load_tensor_pb((ref / "loss.pb").string()).second.get_f64(0);
      EXPECT_NEAR(res[0].get_f64(0), loss, 1e-5 * std::abs(loss));
      ASSERT_EQ(names.size(), want.size());
      for (size_t k = 0; k < names.size(); ++k) {
        const TensorData& w = want.at(names[k]);
        ASSERT_EQ(res[k + 1].shape, w.shape) << names[k];
        double mx = 0, d = 0;
        for (int64_t i = 0; i < w.numel(); ++i) {
          mx = std::max(mx, std::abs(w.get_f64(i)));
          d = std::max(d, std::abs(w.get_f64(i) - res[k + 1].get_f64(i)));
        }
        // Measured: at most 3.7e-6 (EmbBERT-Q biases); the issue asks for 1e-4.
        EXPECT_LE(d, 1e-4 * mx) << names[k] << ": max |autodiff - PyTorch| " << d << ", max |PyTorch| " << mx;
        ++checked;
      }
    }
  }
  if (checked == 0) GTEST_SKIP() << "no reference gradients in examples/models";
}
