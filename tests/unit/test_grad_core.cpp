// Gradient rules of Gemm, MatMul, the arithmetic binary ops and views, checked against
// central finite differences in double precision (grad_check.h); and the autodiff pass's
// structure: only needed gradients, precise errors.
#include "grad_check.h"

#include "ir/verifier.h"

using gradcheck::check_gradients;
using namespace tinyodlc;
using namespace tinyodlc::ir;

TEST(GradCore, GemmAllInputsAndTransposes) {
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb) {
      std::string a = ta ? "f64[3,2]" : "f64[2,3]", b = tb ? "f64[4,3]" : "f64[3,4]";
      std::string ir = fmt::format(R"(graph @g () -> (%y) {{
  %a = param {} dense<0.0>
  %b = param {} dense<0.0>
  %c = param f64[4] dense<0.0>
  %y = Gemm(%a, %b, %c) {{alpha = 0.5, beta = 2.0, transA = {}, transB = {}}}
}})", a, b, ta, tb);
      SCOPED_TRACE(ir);
      EXPECT_GT(check_gradients(ir), 0);
    }
}

TEST(GradCore, MatMulLinearAndBatched) {
  // Linear layer on [1, T, K] activations (2-D weight), and attention-like batched products
  // with broadcasting of a batch dim, and 1-D operands.
  EXPECT_GT(check_gradients(R"(graph @g (%x: f64[1,5,3]) -> (%y) {
  %w = param f64[3,4] dense<0.0>
  %y = MatMul(%x, %w)
})"), 0);
  EXPECT_GT(check_gradients(R"(graph @g () -> (%y) {
  %q = param f64[2,5,3] dense<0.0>
  %k = param f64[1,3,5] dense<0.0>
  %y = MatMul(%q, %k)
})"), 0);
  EXPECT_GT(check_gradients(R"(graph @g () -> (%y) {
  %v = param f64[3] dense<0.0>
  %m = param f64[2,3,4] dense<0.0>
  %y = MatMul(%v, %m)
})"), 0);
}

TEST(GradCore, BinaryBroadcast) {
  for (const char* op : {"Add", "Sub", "Mul", "Div"}) {
    std::string ir = fmt::format(R"(graph @g () -> (%y) {{
  %a = param f64[2,3,4] dense<0.0>
  %b = param f64[3,1] dense<0.0>
  %y = {}(%a, %b)
}})", op);
    SCOPED_TRACE(op);
    gradcheck::Options o;
    if (std::string(op) == "Div") o.lo = 0.5, o.hi = 1.5;  // away from 0
    EXPECT_GT(check_gradients(ir, o), 0);
  }
}

TEST(GradCore, ViewsAndSharedUse) {
  // A value used twice (gradients are summed) through views.
  EXPECT_GT(check_gradients(R"(graph @g () -> (%y) {
  %a = param f64[2,6] dense<0.0>
  %s = constant i64[3] dense<[3, 2, 2]>
  %r = Reshape(%a, %s)
  %f = Flatten(%r) {axis = 1}
  %y = Mul(%f, %f)
})"), 0);
}

TEST(GradCore, OnlyNeededGradients) {
  // W1 frozen, W2 trainable: no gradient is computed for W1 nor for x, and the forward
  // nodes feeding only W1's gradient are absent.
  auto g = parse_graph(R"(graph @g (%x: f32[1,4]) -> (%y) {
  %w1 = constant f32[3,4] dense<0.5>
  %w2 = param f32[2,3] dense<0.25>
  %h = Gemm(%x, %w1) {transB = 1}
  %r = Relu(%h)
  %y = Gemm(%r, %w2) {transB = 1}
})", "t");
  passes::PassContext ctx;
  passes::TrainingOptions t;
  t.trainable = {"w2"};
  ctx.training = &t;
  for (const char* p : {"shape-inference", "autodiff", "dce"}) passes::PassRegistry::instance().find(p)->run(*g, ctx);
  verify(*g);
  int gemms = 0, accs = 0;
  for (const auto& n : g->nodes()) {
    gemms += n->op == "Gemm";
    accs += n->op == "AccumulateGrad";
    EXPECT_NE(n->op, "Relu.grad") << n->name;
  }
  EXPECT_EQ(gemms, 3);  // two forward + one for dW2 (no dX through W2 is needed)
  EXPECT_EQ(accs, 1);
  ASSERT_EQ(g->outputs.size(), 1u);
  EXPECT_EQ(g->outputs[0]->name, "loss");
  EXPECT_EQ(g->inputs.back()->name, "label");
}

TEST(GradCore, NoRuleIsAPreciseError) {
  auto g = parse_graph(R"(graph @g (%x: f32[1,4]) -> (%y) {
  %w = param f32[4,4] dense<0.5>
  %h = MatMul(%x, %w)
  %e = Floor(%h) name("the_floor")
  %y = MatMul(%e, %w)
})", "t");
  passes::PassContext ctx;
  passes::TrainingOptions t;
  t.trainable = {"w"};
  ctx.training = &t;
  passes::PassRegistry::instance().find("shape-inference")->run(*g, ctx);
  try {
    passes::PassRegistry::instance().find("autodiff")->run(*g, ctx);
    FAIL() << "expected an error";
  } catch (const CompileError& e) {
    EXPECT_NE(std::string(e.what()).find("node 'the_floor' (Floor): cannot backpropagate"), std::string::npos) << e.what();
  }
}
